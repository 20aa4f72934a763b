//! Calls to an OpenAI-compatible chat endpoint: bounded concurrency, a request
//! timeout, retries with exponential backoff and jitter on 429 / 5xx / timeouts /
//! dropped connections / malformed answers, a call cache and usage counters.
//!
//! A structured answer (a plan, a list of rewrites) is requested with the
//! `response_format` JSON schema that vLLM, SGLang, llama.cpp's server and
//! OpenAI accept. A server that rejects the parameter (a 4xx that goes away
//! without it) is detected once: from then on the client asks in free text
//! and the answer is parsed, counted as `structured_rejected`.

use crate::gate::AffineGate;
use crate::retry::{Attempt, Backoff, RetryCounters, status_attempt};
pub use crate::retry::{CallFailed, reason};
use async_openai::Client;
use async_openai::config::OpenAIConfig;
use async_openai::error::OpenAIError;
use repo2agent_core::cache::CallCache;
use serde::Deserialize;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

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
    /// Prompt tokens the server served from its prefix cache
    /// (`usage.prompt_tokens_details.cached_tokens`, or llama.cpp's `timings.cache_n`).
    pub cached_prompt_tokens: AtomicU64,
    /// Requests sent with a `response_format` JSON schema.
    pub structured_requests: AtomicU64,
    /// Requests that asked for a structured answer in free text, because the
    /// server rejected `response_format` (or `structured_output = "none"`).
    pub unstructured_requests: AtomicU64,
    /// 1 when the server was found to reject `response_format`.
    pub structured_rejected: AtomicU64,
    /// In flight now (a gauge, not in the snapshot).
    pub in_flight: AtomicU64,
    /// The most requests that were in flight at once.
    pub max_in_flight: AtomicU64,
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
            ("cached_prompt_tokens", g(&self.cached_prompt_tokens)),
            ("structured_requests", g(&self.structured_requests)),
            ("unstructured_requests", g(&self.unstructured_requests)),
            ("structured_rejected", g(&self.structured_rejected)),
            ("max_in_flight", g(&self.max_in_flight)),
        ]
    }
}

/// One call: its messages, seed, and what kind of answer it wants.
#[derive(Clone, Copy, Debug)]
pub struct Ask<'a> {
    /// The system message (the same for every call of a run, so the server's
    /// prefix cache shares it).
    pub system: &'a str,
    /// The user message (the repository's shared context first, the call's own part last).
    pub user: &'a str,
    /// Sampling seed of the first attempt (each retry adds its attempt number).
    pub seed: u64,
    /// The JSON schema of a structured answer, with its name.
    pub schema: Option<(&'a str, &'a serde_json::Value)>,
    /// Most tokens of this answer (`None`: the settings' `max_tokens`).
    pub max_tokens: Option<u32>,
    /// Which calls share a prefix (one repository's): a freed request slot
    /// goes to a waiting call of the same group first, so a server's prefix
    /// cache stays warm.
    pub group: u64,
}

/// A usable answer and how it came.
#[derive(Debug)]
pub struct Answered<T> {
    /// The parsed answer.
    pub value: T,
    /// Attempts it took (0: from the call cache).
    pub attempts: u32,
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
    /// Ask structured answers with a `response_format` JSON schema (`structured_output = "json_schema"`).
    pub structured: bool,
}

/// A shared client.
pub struct ChatClient {
    client: Client<OpenAIConfig>,
    /// Counts the tokens of a dry run's prompts (the served model's tokenizer).
    tokenizer: Option<Arc<tokenizers::Tokenizer>>,
    /// A dry run (`run --estimate`): calls are counted, never sent.
    dry: bool,
    settings: CallSettings,
    permits: Arc<AffineGate>,
    cache: CallCache,
    /// Cleared when the server rejects `response_format`.
    structured: AtomicBool,
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
            tokenizer: None,
            dry: false,
            permits: Arc::new(AffineGate::new(concurrency)),
            structured: AtomicBool::new(settings.structured),
            settings,
            cache,
            usage: Usage::default(),
        }
    }

    /// The same client, counting a dry run's prompt tokens with `tokenizer`
    /// (without one: bytes / 4, rounded up).
    pub fn with_tokenizer(mut self, tokenizer: Option<tokenizers::Tokenizer>) -> Self {
        self.tokenizer = tokenizer.map(Arc::new);
        self
    }

    /// A client for a dry run: the same settings, cache and tokenizer, fresh
    /// counters; a call whose answer is not cached is counted (`calls`,
    /// `prompt_tokens`, and its `max_tokens` as `completion_tokens`) and fails
    /// with [`reason::DRY_RUN`] without being sent.
    pub fn dry_copy(&self) -> Self {
        Self {
            client: self.client.clone(),
            tokenizer: self.tokenizer.clone(),
            dry: true,
            settings: self.settings.clone(),
            permits: Arc::new(AffineGate::new(1)),
            cache: self.cache.clone(),
            structured: AtomicBool::new(self.structured.load(Ordering::Relaxed)),
            usage: Usage::default(),
        }
    }

    /// Whether dry-run prompt tokens are counted with the model's tokenizer.
    pub fn counts_exactly(&self) -> bool {
        self.tokenizer.is_some()
    }

    /// The tokens a chat server counts for a call: each message's, plus the
    /// chat template's markers (ChatML: 5 per message, 3 to open the answer).
    pub fn prompt_tokens(&self, system: &str, user: &str) -> u64 {
        let count = |text: &str| -> u64 {
            match &self.tokenizer {
                Some(t) => t.encode_fast(text, false).map_or(0, |e| e.len() as u64),
                None => (text.len() as u64).div_ceil(4),
            }
        };
        count(system) + count(user) + 2 * 5 + 3
    }

    /// How calls are made.
    pub fn settings(&self) -> &CallSettings {
        &self.settings
    }

    /// One chat call, validated by `accept` (return `Err` to retry a
    /// malformed answer). Cached by content.
    pub async fn chat<T>(
        &self,
        ask: Ask<'_>,
        accept: impl Fn(&str) -> Result<T, String>,
    ) -> Result<Answered<T>, CallFailed> {
        let s = &self.settings;
        let max_tokens = ask.max_tokens.unwrap_or(s.max_tokens);
        let mut key_json = serde_json::json!({
            "model": s.model, "system": ask.system, "user": ask.user,
            "temperature": s.temperature, "max_tokens": max_tokens, "seed": ask.seed,
        });
        if let Some((name, schema)) = ask.schema {
            key_json["schema"] = serde_json::json!({ "name": name, "schema": schema });
        }
        let key = CallCache::key(&key_json);
        if let Some(answer) = self.cache.get(&key)
            && let Ok(value) = accept(&answer)
        {
            self.usage.cache_hits.fetch_add(1, Ordering::Relaxed);
            return Ok(Answered { value, attempts: 0 });
        }
        if self.dry {
            self.usage.calls.fetch_add(1, Ordering::Relaxed);
            self.usage
                .prompt_tokens
                .fetch_add(self.prompt_tokens(ask.system, ask.user), Ordering::Relaxed);
            self.usage
                .completion_tokens
                .fetch_add(u64::from(max_tokens), Ordering::Relaxed);
            return Err(CallFailed {
                reason: reason::DRY_RUN,
                message: "a dry run sends no request".into(),
            });
        }
        let counters = RetryCounters {
            retries: &self.usage.retries,
            failures: &self.usage.failures,
        };
        let attempt = AtomicU64::new(0);
        let (answer, value, attempts) = self
            .backoff()
            .run(ask.seed, counters, || async {
                // Another seed per attempt: a sampled answer that was malformed
                // would come back the same with the same seed.
                let n = attempt.fetch_add(1, Ordering::Relaxed);
                let answer = self.once(ask, ask.seed.wrapping_add(n), max_tokens).await?;
                match accept(&answer) {
                    Ok(v) => Ok((answer, v, n as u32 + 1)),
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
        Ok(Answered { value, attempts })
    }

    fn backoff(&self) -> Backoff {
        let s = &self.settings;
        Backoff {
            max_retries: s.max_retries,
            initial: s.backoff_initial,
            max: s.backoff_max,
        }
    }

    /// One attempt. A structured request the server rejects with a 4xx that
    /// names the parameter is sent again in free text; if that one is not
    /// rejected too, the server does not take `response_format` and every
    /// later call asks in free text.
    async fn once(&self, ask: Ask<'_>, seed: u64, max_tokens: u32) -> Result<String, Attempt> {
        let structured = ask.schema.filter(|_| self.structured.load(Ordering::Relaxed));
        if ask.schema.is_some() && structured.is_none() {
            self.usage.unstructured_requests.fetch_add(1, Ordering::Relaxed);
        }
        let Some(schema) = structured else {
            return self.send(ask, None, seed, max_tokens).await;
        };
        self.usage.structured_requests.fetch_add(1, Ordering::Relaxed);
        match self.send(ask, Some(schema), seed, max_tokens).await {
            Err(Attempt::Fatal(reason::HTTP_4XX, why)) if names_the_schema(&why) => {
                self.usage.unstructured_requests.fetch_add(1, Ordering::Relaxed);
                let plain = self.send(ask, None, seed, max_tokens).await;
                if !matches!(plain, Err(Attempt::Fatal(reason::HTTP_4XX, _)))
                    && self.structured.swap(false, Ordering::Relaxed)
                {
                    self.usage.structured_rejected.store(1, Ordering::Relaxed);
                    tracing::warn!(
                        "the server rejects `response_format` ({why}); structured answers are asked in free text from now on"
                    );
                }
                plain
            }
            other => other,
        }
    }

    /// Sends one request (with `schema` as its `response_format`) and reads the answer's text.
    async fn send(
        &self,
        ask: Ask<'_>,
        schema: Option<(&str, &serde_json::Value)>,
        seed: u64,
        max_tokens: u32,
    ) -> Result<String, Attempt> {
        let _permit = self.permits.acquire(ask.group).await;
        let _flight = InFlight::enter(&self.usage);
        self.usage.calls.fetch_add(1, Ordering::Relaxed);
        let s = &self.settings;
        let mut request = serde_json::json!({
            "model": s.model,
            "messages": [
                {"role": "system", "content": ask.system},
                {"role": "user", "content": ask.user},
            ],
            "temperature": s.temperature,
            "max_tokens": max_tokens,
            "seed": seed & (i64::MAX as u64),
            "stream": false,
        });
        if let Some((name, schema)) = schema {
            request["response_format"] = serde_json::json!({
                "type": "json_schema",
                "json_schema": {"name": name, "schema": schema, "strict": true},
            });
        }
        let chat = self.client.chat();
        let call = chat.create_byot::<_, ChatResponse>(request);
        let response = match tokio::time::timeout(s.timeout, call).await {
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
            self.usage.prompt_tokens.fetch_add(u.prompt_tokens, Ordering::Relaxed);
            self.usage
                .completion_tokens
                .fetch_add(u.completion_tokens, Ordering::Relaxed);
        }
        let cached = response
            .usage
            .as_ref()
            .and_then(|u| u.prompt_tokens_details.as_ref())
            .and_then(|d| d.cached_tokens)
            .or_else(|| response.timings.as_ref().and_then(|t| t.cache_n));
        if let Some(n) = cached {
            self.usage.cached_prompt_tokens.fetch_add(n, Ordering::Relaxed);
        }
        let text = response
            .choices
            .into_iter()
            .next()
            .and_then(|c| c.message.content)
            .unwrap_or_default();
        if text.trim().is_empty() {
            self.usage.malformed.fetch_add(1, Ordering::Relaxed);
            return Err(Attempt::Transient(reason::BAD_ANSWER, "empty answer".into()));
        }
        Ok(text)
    }
}

/// Whether a client error is about structured output (vLLM, SGLang, OpenAI
/// and pydantic-based servers name the parameter or the schema).
fn names_the_schema(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    ["response_format", "json_schema", "schema", "grammar"]
        .iter()
        .any(|k| m.contains(k))
}

/// Counts a request in flight while alive.
struct InFlight<'a>(&'a Usage);

impl<'a> InFlight<'a> {
    fn enter(usage: &'a Usage) -> Self {
        let now = usage.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        usage.max_in_flight.fetch_max(now, Ordering::SeqCst);
        Self(usage)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The parts of a chat completion read here (servers add their own fields).
#[derive(Deserialize)]
struct ChatResponse {
    #[serde(default)]
    choices: Vec<ChatChoice>,
    #[serde(default)]
    usage: Option<ChatUsage>,
    /// llama.cpp's server: `cache_n` prompt tokens taken from the slot's cache.
    #[serde(default)]
    timings: Option<Timings>,
}

#[derive(Deserialize)]
struct ChatChoice {
    message: ChatMessage,
}

#[derive(Deserialize)]
struct ChatMessage {
    #[serde(default)]
    content: Option<String>,
}

#[derive(Deserialize)]
struct ChatUsage {
    #[serde(default)]
    prompt_tokens: u64,
    #[serde(default)]
    completion_tokens: u64,
    #[serde(default)]
    prompt_tokens_details: Option<PromptDetails>,
}

#[derive(Deserialize)]
struct PromptDetails {
    #[serde(default)]
    cached_tokens: Option<u64>,
}

#[derive(Deserialize)]
struct Timings {
    #[serde(default)]
    cache_n: Option<u64>,
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
