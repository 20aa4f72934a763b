//! The `openai` policy: requirements, plans and thoughts from any
//! OpenAI-compatible server (vLLM, SGLang, llama.cpp, OpenAI) through
//! async-openai.
//!
//! Prompts inject the real structure; answers are validated (a plan must be
//! JSON, a thought prose), and a call that keeps failing — 429 / 5xx, timeouts,
//! dropped connections, garbage, empty or malformed answers — is retried with
//! exponential backoff and jitter, then that step falls back to the `template`
//! policy and is counted (or, with `on_failure = "fail"`, fails with
//! [`StageError::Unavailable`] and a reason key such as `http_5xx`, so the
//! repository is marked failed and `run --resume` retries it). Every answer is cached by content on disk, so re-runs
//! and resumed runs repeat no call.
//!
//! Also the `openai-logprobs` scorer ([`logprobs`]): target NLLs from the
//! prompt logprobs of a completions endpoint (vLLM, SGLang, llama-cpp-python),
//! with the same retries.

mod client;
mod gate;
pub mod logprobs;
mod prompts;
mod retry;

pub use client::{Answered, Ask, CallFailed, CallSettings, ChatClient, Usage, reason};
pub use logprobs::{OpenAiLogprobsConfig, OpenAiLogprobsScorer};
pub use repo2agent_core::cache::CallCache;

use repo2agent_core::StageError;
use repo2agent_core::config::Problem;
use repo2agent_core::model::Plan;
use repo2agent_core::registry::{Origin, Registry, RegistryError};
use repo2agent_core::stage::{Policy, RepoContext, Scorer, ThinkRequest};
use repo2agent_template::TemplatePolicy;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Config of the `openai` policy.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpenAiPolicyConfig {
    /// Server base URL, e.g. `http://127.0.0.1:8000/v1`. Required.
    pub base_url: String,
    /// Model name the server knows. Required.
    pub model: String,
    /// Environment variable holding the API key. Default: none (local servers).
    #[serde(default)]
    pub api_key_env: Option<String>,
    /// Sampling temperature. Default 0.7.
    #[serde(default = "defaults::temperature")]
    pub temperature: f32,
    /// Most tokens per answer. Default 768.
    #[serde(default = "defaults::max_tokens")]
    pub max_tokens: u32,
    /// Requests in flight at most. Default 8.
    #[serde(default = "defaults::max_concurrency")]
    pub max_concurrency: usize,
    /// Seconds to wait for one answer. Default 120.
    #[serde(default = "defaults::timeout_s")]
    pub timeout_s: f64,
    /// Retries after a failed or malformed answer. Default 4.
    #[serde(default = "defaults::max_retries")]
    pub max_retries: u32,
    /// First backoff, milliseconds (doubled each retry, jittered, capped by
    /// `backoff_max_ms`). Default 500.
    #[serde(default = "defaults::backoff_initial_ms")]
    pub backoff_initial_ms: u64,
    /// Longest backoff, milliseconds. Default 20000.
    #[serde(default = "defaults::backoff_max_ms")]
    pub backoff_max_ms: u64,
    /// Directory of the call cache, relative to the config file; `""` disables
    /// it. Default `~/.cache/repo2agent/calls`.
    #[serde(default)]
    pub cache_dir: Option<String>,
    /// What a step does when the model gave no usable answer after its
    /// retries: `"fallback"` (default) uses the template policy for that step
    /// (counted as `template_fallbacks`); `"fail"` returns
    /// [`StageError::Unavailable`] with the last attempt's reason key, so the
    /// repository is marked failed and `run --resume` retries it.
    #[serde(default)]
    pub on_failure: OnFailure,
    /// How structured answers (plans, rewrites) are asked: `"json_schema"`
    /// (default) sends the answer's JSON schema as `response_format` (a server
    /// that rejects it is detected once and asked in free text); `"none"`
    /// asks in free text and parses.
    #[serde(default)]
    pub structured_output: StructuredOutput,
    /// Characters of the repository context every call starts with (files,
    /// dependency edges, outlines, README). Default 8000.
    #[serde(default = "defaults::context_chars")]
    pub context_chars: usize,
    /// Files a structured plan lists at most (in implementation order; the
    /// rest are appended by the plan repair). Default 64.
    #[serde(default = "defaults::plan_max_files")]
    pub plan_max_files: usize,
    /// The served model's `tokenizer.json` (relative to the config file), so
    /// that `run --estimate` counts prompt tokens exactly. Default: none
    /// (bytes / 4).
    #[serde(default)]
    pub tokenizer: Option<String>,
}

/// How the `openai` policy asks for structured answers (`structured_output`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StructuredOutput {
    /// `response_format: {"type": "json_schema", …}`.
    #[default]
    JsonSchema,
    /// Free text, parsed.
    None,
}

/// What the `openai` policy does when a call gives up (`on_failure`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnFailure {
    /// Use the template policy for that step, and count it.
    #[default]
    Fallback,
    /// Fail the step with [`StageError::Unavailable`].
    Fail,
}

mod defaults {
    pub fn temperature() -> f32 {
        0.7
    }
    pub fn max_tokens() -> u32 {
        768
    }
    pub fn max_concurrency() -> usize {
        8
    }
    pub fn timeout_s() -> f64 {
        120.0
    }
    pub fn max_retries() -> u32 {
        4
    }
    pub fn backoff_initial_ms() -> u64 {
        500
    }
    pub fn backoff_max_ms() -> u64 {
        20_000
    }
    pub fn context_chars() -> usize {
        8000
    }
    pub fn plan_max_files() -> usize {
        64
    }
}

/// The policy.
#[derive(Debug)]
pub struct OpenAiPolicy {
    client: ChatClient,
    fallback: TemplatePolicy,
    on_failure: OnFailure,
    limits: prompts::Limits,
    plans: PlanCounters,
    /// A dry run's copy ([`Policy::dry_run`]).
    dry: bool,
    /// The contexts of the repositories asked about last (each call of a
    /// repository starts with the same one; building it reads every edge).
    contexts: std::sync::Mutex<std::collections::VecDeque<(u64, Arc<prompts::Context>)>>,
}

/// Contexts kept ([`OpenAiPolicy::context`]): more than the repositories in
/// flight at once.
const CONTEXTS_KEPT: usize = 64;

/// How the plans went.
#[derive(Debug, Default)]
struct PlanCounters {
    /// Plans asked for (cache hits included).
    asked: AtomicU64,
    /// Plans the model's first answer gave (not from the cache).
    first_attempt: AtomicU64,
    /// Plans that fell back to the template policy.
    fallbacks: AtomicU64,
}

impl OpenAiPolicy {
    /// A policy talking to `client` that falls back to the template policy
    /// when a call gives up.
    pub fn new(client: ChatClient) -> Self {
        Self {
            client,
            fallback: TemplatePolicy::default(),
            on_failure: OnFailure::Fallback,
            limits: prompts::Limits {
                context_chars: defaults::context_chars(),
                plan_max_files: defaults::plan_max_files(),
                thought_chars: 1500,
            },
            plans: PlanCounters::default(),
            dry: false,
            contexts: Default::default(),
        }
    }

    /// The shared context of `repo`'s calls, built once per repository.
    fn context(&self, repo: RepoContext<'_>) -> Arc<prompts::Context> {
        // The same repository read with other files (a held-out split) is another.
        let key = group(repo) ^ repo.snapshot.files.len() as u64;
        let lock = || self.contexts.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((_, c)) = lock().iter().find(|(k, _)| *k == key) {
            return Arc::clone(c);
        }
        let built = Arc::new(prompts::repo_context(repo, self.limits.context_chars));
        let mut kept = lock();
        if kept.len() >= CONTEXTS_KEPT {
            kept.pop_front();
        }
        kept.push_back((key, Arc::clone(&built)));
        built
    }

    /// The same policy with other context and plan limits.
    pub fn with_limits(mut self, context_chars: usize, plan_max_files: usize) -> Self {
        self.limits.context_chars = context_chars;
        self.limits.plan_max_files = plan_max_files.max(1);
        self
    }

    /// The same policy, doing `on_failure` when a call gives up.
    pub fn with_on_failure(mut self, on_failure: OnFailure) -> Self {
        self.on_failure = on_failure;
        self
    }

    /// Model-use counters.
    pub fn usage(&self) -> &client::Usage {
        &self.client.usage
    }

    /// After a call gave up: `Ok(())` to fall back (counted), or the error to return.
    fn fall_back(&self, what: &str, e: CallFailed) -> Result<(), StageError> {
        if e.reason == reason::DRY_RUN {
            return Ok(());
        }
        match self.on_failure {
            OnFailure::Fallback => {
                self.client.usage.fallbacks.fetch_add(1, Ordering::Relaxed);
                tracing::warn!("{what}: the model gave no usable answer ({e}); using the template policy");
                Ok(())
            }
            OnFailure::Fail => Err(StageError::Unavailable {
                reason: e.reason,
                message: format!("{what}: the model gave no usable answer: {e}"),
            }),
        }
    }
}

/// The group of a repository's calls (they share its context as a prefix).
fn group(repo: RepoContext<'_>) -> u64 {
    let s = repo.snapshot;
    repo2agent_core::order::seeded_hash(0, &format!("{}\0{}", s.name, s.root.display()))
}

/// Registers the `openai` policy and the `openai-logprobs` scorer.
pub fn register(registry: &mut Registry) -> Result<(), RegistryError> {
    registry.register::<dyn Scorer, OpenAiLogprobsConfig, _>(
        "openai-logprobs",
        Origin::BuiltIn("repo2agent-openai"),
        "target NLLs from the prompt logprobs of an OpenAI-compatible completions endpoint (echo + logprobs)",
        |c, _| {
            let scorer = OpenAiLogprobsScorer::new(c).map_err(Problem::new)?;
            Ok(Arc::new(scorer) as Arc<dyn Scorer>)
        },
    )?;
    registry.register::<dyn Policy, OpenAiPolicyConfig, _>(
        "openai",
        Origin::BuiltIn("repo2agent-openai"),
        "plans and thoughts from an OpenAI-compatible server (cached, retried, template fallback)",
        |c, ctx| {
            let api_key = match &c.api_key_env {
                Some(var) => std::env::var(var).map_err(|_| {
                    Problem::new(format!(
                        "api_key_env names `{var}`, which is not set in the environment"
                    ))
                })?,
                None => "no-key".to_owned(),
            };
            if !(c.timeout_s > 0.0 && c.timeout_s.is_finite()) {
                return Err(Problem::new("timeout_s must be a positive number of seconds"));
            }
            let cache_dir: Option<PathBuf> = match c.cache_dir.as_deref() {
                Some("") => None,
                Some(d) => Some(ctx.resolve_path(d)),
                None => CallCache::default_dir(),
            };
            let settings = CallSettings {
                model: c.model.clone(),
                temperature: c.temperature,
                max_tokens: c.max_tokens,
                timeout: Duration::from_secs_f64(c.timeout_s),
                max_retries: c.max_retries,
                backoff_initial: Duration::from_millis(c.backoff_initial_ms),
                backoff_max: Duration::from_millis(c.backoff_max_ms),
                structured: c.structured_output == StructuredOutput::JsonSchema,
            };
            if c.plan_max_files == 0 {
                return Err(Problem::new("plan_max_files must be at least 1"));
            }
            let tokenizer = match &c.tokenizer {
                Some(t) => {
                    let path = ctx.resolve_path(t);
                    Some(
                        tokenizers::Tokenizer::from_file(&path)
                            .map_err(|e| Problem::new(format!("tokenizer `{}` cannot be read: {e}", path.display())))?,
                    )
                }
                None => None,
            };
            let client = ChatClient::new(
                &c.base_url,
                &api_key,
                settings,
                c.max_concurrency,
                CallCache::new(cache_dir),
            )
            .with_tokenizer(tokenizer);
            let policy = OpenAiPolicy::new(client)
                .with_on_failure(c.on_failure)
                .with_limits(c.context_chars, c.plan_max_files);
            Ok(Arc::new(policy) as Arc<dyn Policy>)
        },
    )
}

#[async_trait::async_trait]
impl Policy for OpenAiPolicy {
    async fn plan(&self, repo: RepoContext<'_>, seed: u64) -> Result<Plan, StageError> {
        let context = self.context(repo);
        let prompt = prompts::plan_prompt(&context);
        let paths = prompts::planned_paths(repo, self.limits.plan_max_files);
        let schema = prompts::plan_schema(&paths);
        let ask = Ask {
            system: prompts::SYSTEM,
            user: &prompt,
            seed,
            schema: Some(("plan", &schema)),
            max_tokens: Some(prompts::plan_token_bound(&paths).max(self.client.settings().max_tokens)),
            group: group(repo),
        };
        self.plans.asked.fetch_add(1, Ordering::Relaxed);
        match self.client.chat(ask, |a| prompts::parse_plan(a, repo)).await {
            Ok(answer) => {
                if answer.attempts == 1 {
                    self.plans.first_attempt.fetch_add(1, Ordering::Relaxed);
                }
                Ok(answer.value)
            }
            Err(e) => {
                let dry = e.reason == reason::DRY_RUN;
                self.fall_back(&format!("{}: plan", repo.snapshot.name), e)?;
                if !dry {
                    self.plans.fallbacks.fetch_add(1, Ordering::Relaxed);
                }
                self.fallback.plan(repo, seed).await
            }
        }
    }

    async fn think(&self, request: ThinkRequest<'_>) -> Result<String, StageError> {
        let context = self.context(request.repo);
        let prompt = prompts::think_prompt(&context, request);
        let ask = Ask {
            system: prompts::SYSTEM,
            user: &prompt,
            seed: request.seed,
            schema: None,
            max_tokens: None,
            group: group(request.repo),
        };
        match self.client.chat(ask, prompts::parse_thought).await {
            Ok(t) => Ok(t.value),
            Err(e) => {
                self.fall_back(&format!("{}: thought", request.step.path), e)?;
                self.fallback.think(request).await
            }
        }
    }

    async fn propose_rewrites(
        &self,
        request: ThinkRequest<'_>,
        current: &str,
        n: usize,
    ) -> Result<Vec<String>, StageError> {
        let context = self.context(request.repo);
        let prompt = prompts::rewrite_prompt(&context, request, current, n);
        let schema = prompts::rewrites_schema(n, self.limits.thought_chars);
        let parse = |a: &str| prompts::parse_rewrites(a, current);
        let ask = Ask {
            system: prompts::SYSTEM,
            user: &prompt,
            seed: request.seed,
            schema: Some(("thoughts", &schema)),
            max_tokens: None,
            group: group(request.repo),
        };
        match self.client.chat(ask, parse).await {
            Ok(v) => {
                let mut v = v.value;
                v.truncate(n);
                Ok(v)
            }
            Err(e) => {
                self.fall_back(&format!("{}: rewrites", request.step.path), e)?;
                self.fallback.propose_rewrites(request, current, n).await
            }
        }
    }

    fn counters(&self) -> BTreeMap<String, u64> {
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let mut c: BTreeMap<String, u64> = self
            .usage()
            .snapshot()
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
        c.insert("plans".into(), g(&self.plans.asked));
        c.insert("plans_first_attempt".into(), g(&self.plans.first_attempt));
        c.insert("plan_fallbacks".into(), g(&self.plans.fallbacks));
        if self.dry {
            c.insert("exact_token_counts".into(), u64::from(self.client.counts_exactly()));
        }
        c
    }

    fn dry_run(&self) -> Option<Arc<dyn Policy>> {
        Some(Arc::new(OpenAiPolicy {
            client: self.client.dry_copy(),
            fallback: self.fallback.clone(),
            on_failure: OnFailure::Fallback,
            limits: self.limits,
            plans: PlanCounters::default(),
            dry: true,
            contexts: Default::default(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn parse(text: &str) -> Result<(), Vec<(Option<usize>, String)>> {
        let mut r = Registry::new();
        register(&mut r).unwrap();
        repo2agent_core::config::parse(text, "test.toml", Path::new("/base"), &mut r)
            .map(|_| ())
            .map_err(|e| e.problems.into_iter().map(|p| (p.line, p.message)).collect())
    }

    /// A repository's context is built once for all its calls; another
    /// repository (or the same name with other files) gets its own.
    #[test]
    fn a_repositorys_context_is_built_once() {
        use repo2agent_core::model::{Analysis, RepoSnapshot};
        let settings = CallSettings {
            model: "m".into(),
            temperature: 0.0,
            max_tokens: 8,
            timeout: Duration::from_secs(1),
            max_retries: 0,
            backoff_initial: Duration::from_millis(1),
            backoff_max: Duration::from_millis(1),
            structured: true,
        };
        let policy = OpenAiPolicy::new(ChatClient::new(
            "http://127.0.0.1:9/v1",
            "k",
            settings,
            1,
            CallCache::new(None),
        ));
        let analysis = Analysis::default();
        let snap = |files: &[&str]| {
            RepoSnapshot::new(
                "r",
                "/r",
                files.iter().map(|f| (f.to_string(), None, String::new())).collect(),
            )
        };
        let (a, b) = (snap(&["a.py"]), snap(&["a.py", "b.py"]));
        let ctx = |s| RepoContext {
            snapshot: s,
            analysis: &analysis,
            order: &[],
        };
        let first = policy.context(ctx(&a));
        assert!(Arc::ptr_eq(&first, &policy.context(ctx(&a))));
        let other = policy.context(ctx(&b));
        assert!(!Arc::ptr_eq(&first, &other));
        assert!(other.text.contains("- b.py") && !first.text.contains("- b.py"));
    }

    #[test]
    fn on_failure_is_fallback_or_fail() {
        let section = "[policies.t]\ntype = \"openai\"\nbase_url = \"http://x/v1\"\nmodel = \"m\"\ncache_dir = \"\"\n";
        parse(section).unwrap();
        parse(&format!("{section}on_failure = \"fallback\"\n")).unwrap();
        parse(&format!("{section}on_failure = \"fail\"\n")).unwrap();
        let e = parse(&format!("[run]\nseed = 1\n\n{section}on_failure = \"explode\"\n")).unwrap_err();
        assert_eq!(e.len(), 1, "{e:?}");
        assert_eq!(e[0].0, Some(9), "{e:?}");
        assert!(e[0].1.contains("explode") && e[0].1.contains("fallback"), "{e:?}");

        let c: OpenAiPolicyConfig = serde_json::from_value(serde_json::json!({"base_url": "u", "model": "m"})).unwrap();
        assert_eq!(c.on_failure, OnFailure::Fallback);
    }
}
