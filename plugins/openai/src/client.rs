//! Calls to an OpenAI-compatible chat endpoint: bounded concurrency, a request
//! timeout, retries with exponential backoff and jitter on 429 / 5xx / timeouts /
//! dropped connections / malformed answers, a call cache and usage counters.

use crate::retry::{Attempt, Backoff, RetryCounters, status_attempt};
pub use crate::retry::{CallFailed, reason};
use async_openai::Client;
use async_openai::config::OpenAIConfig;
use async_openai::error::OpenAIError;
use async_openai::types::chat::{
    ChatCompletionRequestMessage, ChatCompletionRequestSystemMessage, ChatCompletionRequestUserMessage,
    CreateChatCompletionRequest,
};
use repo2agent_core::cache::CallCache;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::Semaphore;

/// Counters of model use: the policy's are reported in `stats.json`; the
/// `openai-logprobs` scorer keeps the same ones (its cache hits, fallbacks and
/// completion tokens stay 0).
#[derive(Debug, Default)]
pub struct Usage {
    /// Requests sent (retries included).
    pub calls: AtomicU64,
    /// Answers taken from the call cache.
    pub cache_hits: AtomicU64,
    /// Retries after a failed attempt.
    pub retries: AtomicU64,
    /// Calls that gave up (after every retry, or on a non-retryable error).
    pub failures: AtomicU64,
    /// Answers that were not usable (retried).
    pub malformed: AtomicU64,
    /// Steps that fell back to the template policy.
    pub fallbacks: AtomicU64,
    /// Prompt tokens the server reported.
    pub prompt_tokens: AtomicU64,
    /// Generated tokens the server reported.
    pub completion_tokens: AtomicU64,
}

impl Usage {
    /// Every counter by name.
    pub fn snapshot(&self) -> Vec<(&'static str, u64)> {
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        vec![
            ("calls", g(&self.calls)),
            ("cache_hits", g(&self.cache_hits)),
            ("retries", g(&self.retries)),
            ("failed_calls", g(&self.failures)),
            ("malformed_answers", g(&self.malformed)),
            ("template_fallbacks", g(&self.fallbacks)),
            ("prompt_tokens", g(&self.prompt_tokens)),
            ("completion_tokens", g(&self.completion_tokens)),
        ]
    }
}

/// How calls are made.
#[derive(Clone, Debug)]
pub struct CallSettings {
    pub model: String,
    pub temperature: f32,
    pub max_tokens: u32,
    pub timeout: Duration,
    pub max_retries: u32,
    pub backoff_initial: Duration,
    pub backoff_max: Duration,
}

/// A shared client.
pub struct ChatClient {
    client: Client<OpenAIConfig>,
    settings: CallSettings,
    permits: Arc<Semaphore>,
    cache: CallCache,
    pub usage: Usage,
}

impl std::fmt::Debug for ChatClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChatClient")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl ChatClient {
    /// A client for `base_url` with `api_key`.
    pub fn new(base_url: &str, api_key: &str, settings: CallSettings, concurrency: usize, cache: CallCache) -> Self {
        let config = OpenAIConfig::new()
            .with_api_base(base_url.trim_end_matches('/'))
            .with_api_key(api_key);
        // async-openai's default stack retries 429 / 5xx on its own; we want our
        // own retries (counted, jittered, with a fallback), so no retry layer.
        let service = async_openai::middleware::ReqwestService::new(reqwest::Client::new());
        Self {
            client: Client::with_config(config).with_http_service(service),
            settings,
            permits: Arc::new(Semaphore::new(concurrency.max(1))),
            cache,
            usage: Usage::default(),
        }
    }

    /// One chat call (system + user), validated by `accept` (return `Err` to
    /// retry a malformed answer). Cached by content.
    pub async fn chat<T>(
        &self,
        system: &str,
        user: &str,
        seed: u64,
        accept: impl Fn(&str) -> Result<T, String>,
    ) -> Result<T, CallFailed> {
        let s = &self.settings;
        let key_json = serde_json::json!({
            "model": s.model, "system": system, "user": user,
            "temperature": s.temperature, "max_tokens": s.max_tokens, "seed": seed,
        });
        let key = CallCache::key(&key_json);
        if let Some(answer) = self.cache.get(&key)
            && let Ok(v) = accept(&answer)
        {
            self.usage.cache_hits.fetch_add(1, Ordering::Relaxed);
            return Ok(v);
        }
        let counters = RetryCounters {
            retries: &self.usage.retries,
            failures: &self.usage.failures,
        };
        let (answer, v) = self
            .backoff()
            .run(seed, counters, || async {
                let answer = self.once(system, user, seed).await?;
                match accept(&answer) {
                    Ok(v) => Ok((answer, v)),
                    Err(why) => {
                        self.usage.malformed.fetch_add(1, Ordering::Relaxed);
                        Err(Attempt::Transient(
                            reason::BAD_ANSWER,
                            format!("malformed answer: {why}"),
                        ))
                    }
                }
            })
            .await?;
        self.cache.put(&key, &key_json, &answer);
        Ok(v)
    }

    fn backoff(&self) -> Backoff {
        let s = &self.settings;
        Backoff {
            max_retries: s.max_retries,
            initial: s.backoff_initial,
            max: s.backoff_max,
        }
    }

    async fn once(&self, system: &str, user: &str, seed: u64) -> Result<String, Attempt> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|e| Attempt::Fatal(reason::CLOSED, e.to_string()))?;
        self.usage.calls.fetch_add(1, Ordering::Relaxed);
        let s = &self.settings;
        #[allow(deprecated)]
        let request = CreateChatCompletionRequest {
            model: s.model.clone(),
            messages: vec![
                ChatCompletionRequestMessage::System(ChatCompletionRequestSystemMessage::from(system)),
                ChatCompletionRequestMessage::User(ChatCompletionRequestUserMessage::from(user)),
            ],
            temperature: Some(s.temperature),
            max_tokens: Some(s.max_tokens),
            seed: Some(seed as i64 & i64::MAX),
            ..Default::default()
        };
        let response = match tokio::time::timeout(s.timeout, self.client.chat().create(request)).await {
            Err(_) => {
                return Err(Attempt::Transient(
                    reason::TIMEOUT,
                    format!("no answer within {:?}", s.timeout),
                ));
            }
            Ok(Err(e)) => return Err(classify(e)),
            Ok(Ok(r)) => r,
        };
        if let Some(u) = &response.usage {
            self.usage
                .prompt_tokens
                .fetch_add(u64::from(u.prompt_tokens), Ordering::Relaxed);
            self.usage
                .completion_tokens
                .fetch_add(u64::from(u.completion_tokens), Ordering::Relaxed);
        }
        let text = response
            .choices
            .first()
            .and_then(|c| c.message.content.clone())
            .unwrap_or_default();
        if text.trim().is_empty() {
            self.usage.malformed.fetch_add(1, Ordering::Relaxed);
            return Err(Attempt::Transient(reason::BAD_ANSWER, "empty answer".into()));
        }
        Ok(text)
    }
}

/// The attempt a failed async-openai call makes: retried or not, with its reason.
fn classify(e: OpenAIError) -> Attempt {
    let message = e.to_string();
    match &e {
        OpenAIError::ApiError(r) => status_attempt(r.status_code.as_u16(), message),
        OpenAIError::Reqwest(e) => Attempt::Transient(transport_reason(e), message),
        // A body that is not the API's shape (a 2xx, or a 4xx without an error object).
        OpenAIError::JSONDeserialize(..) => Attempt::Transient(reason::BAD_ANSWER, message),
        OpenAIError::StreamError(s) => match **s {
            async_openai::error::StreamError::UnknownEvent(_) => Attempt::Transient(reason::BAD_ANSWER, message),
            async_openai::error::StreamError::EventStream(_) => Attempt::Transient(reason::CONNECTION, message),
        },
        OpenAIError::InvalidArgument(_) => Attempt::Fatal(reason::INVALID_REQUEST, message),
        // Errors of the HTTP service (tower's boxed errors): a transport error
        // unless it is one of async-openai's own.
        OpenAIError::Boxed(b) => {
            if let Some(e) = b.downcast_ref::<reqwest::Error>() {
                Attempt::Transient(transport_reason(e), message)
            } else {
                Attempt::Transient(reason::CONNECTION, message)
            }
        }
        // Client-side file errors: not produced by chat calls.
        OpenAIError::FileSaveError(_) | OpenAIError::FileReadError(_) => {
            Attempt::Fatal(reason::INVALID_REQUEST, message)
        }
    }
}

/// `timeout` or `connection` for a transport error.
fn transport_reason(e: &reqwest::Error) -> &'static str {
    if e.is_timeout() {
        reason::TIMEOUT
    } else {
        reason::CONNECTION
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_openai::error::{ApiError, ApiErrorResponse};

    fn api_error(status: u16) -> OpenAIError {
        OpenAIError::ApiError(ApiErrorResponse {
            status_code: reqwest::StatusCode::from_u16(status).unwrap(),
            api_error: ApiError {
                message: "nope".into(),
                ..Default::default()
            },
        })
    }

    fn reason_of(a: &Attempt) -> (&'static str, bool) {
        match a {
            Attempt::Transient(r, _) => (r, true),
            Attempt::Fatal(r, _) => (r, false),
        }
    }

    #[test]
    fn async_openai_errors_are_classified() {
        let cases = [
            (api_error(503), ("http_5xx", true)),
            (api_error(500), ("http_5xx", true)),
            (api_error(429), ("http_429", true)),
            (api_error(408), ("http_408", true)),
            (api_error(400), ("http_4xx", false)),
            (api_error(404), ("http_4xx", false)),
            (OpenAIError::InvalidArgument("bad".into()), ("invalid_request", false)),
        ];
        for (e, want) in cases {
            let why = e.to_string();
            assert_eq!(reason_of(&classify(e)), want, "{why}");
        }
        let json = serde_json::from_str::<serde_json::Value>("<html>").unwrap_err();
        let e = OpenAIError::JSONDeserialize(json, "<html>".into());
        assert_eq!(reason_of(&classify(e)), ("bad_answer", true));
    }
}
