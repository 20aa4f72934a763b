//! The retry loop shared by every model call of this crate (chat and
//! completions): exponential backoff with deterministic jitter, a retry budget,
//! and the classification of failed attempts into worth-retrying or not, each
//! with a short stable reason key ([`reason`]).

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// The reason keys a failed call carries ([`CallFailed::reason`]), stable names
/// for counters and for the reason a repository is marked failed with.
pub mod reason {
    /// HTTP 429 (rate limited); retried.
    pub const HTTP_429: &str = "http_429";
    /// HTTP 408 (request timeout); retried.
    pub const HTTP_408: &str = "http_408";
    /// Any HTTP 5xx; retried.
    pub const HTTP_5XX: &str = "http_5xx";
    /// Any other HTTP 4xx (400, 401, 404 …); not retried.
    pub const HTTP_4XX: &str = "http_4xx";
    /// No answer within the request timeout; retried.
    pub const TIMEOUT: &str = "timeout";
    /// Connection refused or reset, dropped stream, other transport error; retried.
    pub const CONNECTION: &str = "connection";
    /// A garbage body, JSON that is not the API's shape, an empty or malformed answer; retried.
    pub const BAD_ANSWER: &str = "bad_answer";
    /// The request itself is unusable (rejected before sending, or unanswerable); not retried.
    pub const INVALID_REQUEST: &str = "invalid_request";
    /// The client was shut down (its request semaphore closed); not retried.
    pub const CLOSED: &str = "closed";
    /// A dry run's call (`run --estimate`): counted, never sent.
    pub const DRY_RUN: &str = "dry_run";
}

/// Why a call gave no usable answer after every retry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallFailed {
    /// The last attempt's reason key (one of [`reason`]).
    pub reason: &'static str,
    /// What went wrong, for people.
    pub message: String,
}

impl std::fmt::Display for CallFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for CallFailed {}

/// The outcome of one failed attempt: a reason key (one of [`reason`]) and a message.
#[derive(Debug)]
pub(crate) enum Attempt {
    /// Worth retrying (429, 408, 5xx, timeout, connection, garbage, empty or malformed answer).
    Transient(&'static str, String),
    /// Not worth retrying (other 4xx, invalid request, closed client).
    Fatal(&'static str, String),
}

/// Whether an HTTP error status is worth retrying: 408, 429 and 5xx.
pub(crate) fn retryable_status(status: u16) -> bool {
    status == 429 || status == 408 || status >= 500
}

/// The reason key of an HTTP error status.
pub(crate) fn status_reason(status: u16) -> &'static str {
    match status {
        429 => reason::HTTP_429,
        408 => reason::HTTP_408,
        400..=499 => reason::HTTP_4XX,
        500..=599 => reason::HTTP_5XX,
        // Not an error status an API answers with (a redirect not followed …).
        _ => reason::BAD_ANSWER,
    }
}

/// The attempt an HTTP error status makes: retried or not, with its reason.
pub(crate) fn status_attempt(status: u16, message: String) -> Attempt {
    let why = status_reason(status);
    if retryable_status(status) {
        Attempt::Transient(why, message)
    } else {
        Attempt::Fatal(why, message)
    }
}

/// How often and how patiently a call is retried.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Backoff {
    /// Retries after the first attempt.
    pub max_retries: u32,
    /// First wait (doubled each retry).
    pub initial: Duration,
    /// Longest wait.
    pub max: Duration,
}

/// Counters a retry loop updates.
pub(crate) struct RetryCounters<'a> {
    pub retries: &'a AtomicU64,
    pub failures: &'a AtomicU64,
}

impl Backoff {
    /// The wait before retry `attempt` (1-based): exponential, capped, with a
    /// jitter in [0.5, 1.5) derived from `seed` (deterministic per call).
    pub fn delay(&self, attempt: u32, seed: u64) -> Duration {
        let base = self.initial.saturating_mul(1u32 << attempt.min(16).saturating_sub(1));
        let base = base.min(self.max);
        let mut z = seed ^ u64::from(attempt).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z ^= z >> 31;
        let jitter = 0.5 + (z % 1000) as f64 / 1000.0;
        base.mul_f64(jitter)
    }

    /// Runs `call` until it succeeds, fails fatally, or the retries are spent;
    /// the error carries the last attempt's reason.
    pub async fn run<T, F, Fut>(&self, seed: u64, counters: RetryCounters<'_>, mut call: F) -> Result<T, CallFailed>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, Attempt>>,
    {
        let mut last = (reason::BAD_ANSWER, String::new());
        for attempt in 0..=self.max_retries {
            if attempt > 0 {
                counters.retries.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(self.delay(attempt, seed)).await;
            }
            match call().await {
                Ok(v) => return Ok(v),
                Err(Attempt::Transient(reason, message)) => last = (reason, message),
                Err(Attempt::Fatal(reason, message)) => {
                    counters.failures.fetch_add(1, Ordering::Relaxed);
                    return Err(CallFailed { reason, message });
                }
            }
            tracing::debug!("model call attempt {} failed ({}): {}", attempt + 1, last.0, last.1);
        }
        counters.failures.fetch_add(1, Ordering::Relaxed);
        let (reason, last) = last;
        Err(CallFailed {
            reason,
            message: format!("gave up after {} attempts: {last}", self.max_retries + 1),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn backoff(max_retries: u32) -> Backoff {
        Backoff {
            max_retries,
            initial: Duration::from_millis(1),
            max: Duration::from_millis(2),
        }
    }

    async fn run(max_retries: u32, attempts: Vec<Attempt>) -> (Result<(), CallFailed>, u64, u64) {
        let (retries, failures) = (AtomicU64::new(0), AtomicU64::new(0));
        let counters = RetryCounters {
            retries: &retries,
            failures: &failures,
        };
        let attempts = std::sync::Mutex::new(attempts.into_iter());
        let out = backoff(max_retries)
            .run(7, counters, || {
                let next = attempts.lock().unwrap().next();
                async move { next.map_or(Ok(()), Err) }
            })
            .await;
        (out, retries.into_inner(), failures.into_inner())
    }

    #[test]
    fn statuses_have_their_reason_keys() {
        let keys: Vec<_> = [429, 408, 500, 503, 599, 400, 401, 404, 302].map(status_reason).into();
        assert_eq!(
            keys,
            [
                "http_429",
                "http_408",
                "http_5xx",
                "http_5xx",
                "http_5xx",
                "http_4xx",
                "http_4xx",
                "http_4xx",
                "bad_answer"
            ]
        );
        assert!(matches!(
            status_attempt(503, String::new()),
            Attempt::Transient("http_5xx", _)
        ));
        assert!(matches!(
            status_attempt(429, String::new()),
            Attempt::Transient("http_429", _)
        ));
        assert!(matches!(
            status_attempt(408, String::new()),
            Attempt::Transient("http_408", _)
        ));
        assert!(matches!(
            status_attempt(400, String::new()),
            Attempt::Fatal("http_4xx", _)
        ));
    }

    #[tokio::test]
    async fn a_call_that_gives_up_carries_the_last_attempts_reason() {
        let (out, retries, failures) = run(
            2,
            vec![
                Attempt::Transient(reason::HTTP_429, "429 slow down".into()),
                Attempt::Transient(reason::CONNECTION, "reset".into()),
                Attempt::Transient(reason::HTTP_5XX, "503 busy".into()),
            ],
        )
        .await;
        let e = out.unwrap_err();
        assert_eq!(e.reason, "http_5xx");
        assert_eq!(e.to_string(), "gave up after 3 attempts: 503 busy");
        assert_eq!((retries, failures), (2, 1));
    }

    #[tokio::test]
    async fn a_fatal_attempt_stops_the_retries_with_its_reason() {
        let (out, retries, failures) = run(
            4,
            vec![
                Attempt::Transient(reason::TIMEOUT, "slow".into()),
                Attempt::Fatal(reason::HTTP_4XX, "401 who are you".into()),
            ],
        )
        .await;
        assert_eq!(
            out.unwrap_err(),
            CallFailed {
                reason: "http_4xx",
                message: "401 who are you".into()
            }
        );
        assert_eq!((retries, failures), (1, 1));
        // A success after failures is a success.
        let (out, retries, failures) = run(4, vec![Attempt::Transient(reason::BAD_ANSWER, "junk".into())]).await;
        assert!(out.is_ok());
        assert_eq!((retries, failures), (1, 0));
    }
}
