//! The retry loop shared by every model call of this crate (chat and
//! completions): exponential backoff with deterministic jitter, a retry budget,
//! and the classification of HTTP statuses into worth-retrying or not.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Why a call gave no usable answer after every retry.
#[derive(Debug, Clone)]
pub struct CallFailed(pub String);

/// The outcome of one failed attempt.
pub(crate) enum Attempt {
    /// Worth retrying (429, 5xx, timeout, connection, garbage, empty or malformed answer).
    Transient(String),
    /// Not worth retrying (400, 401, 404 …).
    Fatal(String),
}

/// Whether an HTTP error status is worth retrying: 408, 429 and 5xx.
pub(crate) fn retryable_status(status: u16) -> bool {
    status == 429 || status == 408 || status >= 500
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
    /// the error names the last reason.
    pub async fn run<T, F, Fut>(&self, seed: u64, counters: RetryCounters<'_>, mut call: F) -> Result<T, CallFailed>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, Attempt>>,
    {
        let mut last = String::new();
        for attempt in 0..=self.max_retries {
            if attempt > 0 {
                counters.retries.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(self.delay(attempt, seed)).await;
            }
            match call().await {
                Ok(v) => return Ok(v),
                Err(Attempt::Transient(why)) => last = why,
                Err(Attempt::Fatal(why)) => {
                    counters.failures.fetch_add(1, Ordering::Relaxed);
                    return Err(CallFailed(why));
                }
            }
            tracing::debug!("model call attempt {} failed: {last}", attempt + 1);
        }
        counters.failures.fetch_add(1, Ordering::Relaxed);
        Err(CallFailed(format!(
            "gave up after {} attempts: {last}",
            self.max_retries + 1
        )))
    }
}
