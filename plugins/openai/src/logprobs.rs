//! The `openai-logprobs` scorer: target NLLs from any server that returns
//! prompt-token logprobs on the legacy completions endpoint (vLLM, SGLang,
//! llama-cpp-python).
//!
//! Each (context, target) pair is one `POST {base_url}/completions` with
//! `prompt = prompt_prefix + context + target`, `echo: true`, `logprobs: 1`,
//! `max_tokens: 1`, `temperature: 0`. The answer's
//! `choices[0].logprobs.{token_logprobs, text_offset}` cover the prompt's tokens
//! (the first one's logprob is null) followed by the generated token
//! (`usage.completion_tokens` says how many; they are dropped). The target's
//! tokens are located by text offsets, which these servers count in characters
//! (Unicode scalar values, Python's `len`), not bytes:
//!
//! * a prompt token belongs to the target when its span (its offset up to the
//!   next token's) ends after the end of `prompt_prefix + context`, or starts
//!   at or after it. A token straddling the boundary is thus scored as part of
//!   the target; a token that carries only part of a multi-byte character has
//!   an empty span and goes with the token that completes it;
//! * the server's offsets and the prompt are aligned at the prompt's end: a
//!   server may leave text out before the target (llama-cpp-python strips a
//!   leading BOS and renders special tokens as empty text) or add some (a BOS
//!   rendered as text), never inside the target. The last echoed prompt token
//!   must end the prompt, which catches answers shifted by a token.
//!
//! Requests of a batch run concurrently (at most `max_concurrency` in flight
//! per scorer), ordered for a server's prefix cache (vLLM's automatic prefix
//! caching, llama.cpp's slots): requests whose prompts begin with the same
//! [`SHARED_CHARS`] characters or more (the candidates of one search round)
//! form a group whose first request is sent alone, the others once it is
//! answered, so the server has the common prefix cached when they arrive;
//! groups run concurrently with each other. Each request is retried on 429 /
//! 5xx, timeouts, dropped connections, garbage JSON and malformed logprobs
//! with exponential backoff and jitter, then the whole batch fails naming the
//! reason.

use crate::client::Usage;
use crate::retry::{Attempt, Backoff, RetryCounters, reason, status_attempt};
use repo2agent_core::StageError;
use repo2agent_core::stage::{ScoreRequest, Scorer, TargetScore};
use serde::Deserialize;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::sync::Semaphore;

/// Options of `[scorers.NAME] type = "openai-logprobs"`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpenAiLogprobsConfig {
    /// Server base URL, e.g. `http://127.0.0.1:8000/v1` (the scorer posts to
    /// `{base_url}/completions`). Required.
    pub base_url: String,
    /// Model name the server knows. Required.
    pub model: String,
    /// Environment variable holding the API key. Default: none (local servers).
    #[serde(default)]
    pub api_key_env: Option<String>,
    /// Requests in flight at most (the requests of a batch are sent
    /// concurrently). Default 8.
    #[serde(default = "crate::defaults::max_concurrency")]
    pub max_concurrency: usize,
    /// Seconds to wait for one answer. Default 120.
    #[serde(default = "crate::defaults::timeout_s")]
    pub timeout_s: f64,
    /// Retries after a failed or malformed answer. Default 4.
    #[serde(default = "crate::defaults::max_retries")]
    pub max_retries: u32,
    /// First backoff, milliseconds (doubled each retry, jittered, capped by
    /// `backoff_max_ms`). Default 500.
    #[serde(default = "crate::defaults::backoff_initial_ms")]
    pub backoff_initial_ms: u64,
    /// Longest backoff, milliseconds. Default 20000.
    #[serde(default = "crate::defaults::backoff_max_ms")]
    pub backoff_max_ms: u64,
    /// Text put before every context (conditioned on, never scored). Default
    /// `""`. With llama-cpp-python and a model that adds no BOS token (SmolLM2)
    /// set it to the model's BOS text (`"<|im_start|>"`): that server pairs
    /// each prompt token with the logprobs of the position before it unless
    /// the prompt starts with BOS, so without it every logprob is shifted by
    /// one token. It is also how to score a target with an empty context: the
    /// first prompt token has no logprob.
    #[serde(default)]
    pub prompt_prefix: String,
}

/// The scorer.
pub struct OpenAiLogprobsScorer {
    http: reqwest::Client,
    url: String,
    api_key: Option<String>,
    config: OpenAiLogprobsConfig,
    timeout: Duration,
    backoff: Backoff,
    permits: Semaphore,
    usage: Usage,
}

impl std::fmt::Debug for OpenAiLogprobsScorer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenAiLogprobsScorer")
            .field("url", &self.url)
            .field("model", &self.config.model)
            .finish_non_exhaustive()
    }
}

impl OpenAiLogprobsScorer {
    /// A scorer for `config`; reads the API key from `api_key_env` if set.
    /// Errors say which option is wrong.
    pub fn new(config: OpenAiLogprobsConfig) -> Result<Self, String> {
        let api_key = match &config.api_key_env {
            Some(var) => Some(
                std::env::var(var)
                    .map_err(|_| format!("api_key_env names `{var}`, which is not set in the environment"))?,
            ),
            None => None,
        };
        if !(config.timeout_s > 0.0 && config.timeout_s.is_finite()) {
            return Err("timeout_s must be a positive number of seconds".into());
        }
        if config.base_url.trim().is_empty() {
            return Err("base_url must not be empty".into());
        }
        Ok(Self {
            http: reqwest::Client::new(),
            url: format!("{}/completions", config.base_url.trim_end_matches('/')),
            api_key,
            timeout: Duration::from_secs_f64(config.timeout_s),
            backoff: Backoff {
                max_retries: config.max_retries,
                initial: Duration::from_millis(config.backoff_initial_ms),
                max: Duration::from_millis(config.backoff_max_ms),
            },
            permits: Semaphore::new(config.max_concurrency.max(1)),
            usage: Usage::default(),
            config,
        })
    }

    /// Model-use counters.
    pub fn usage(&self) -> &Usage {
        &self.usage
    }

    /// Scores one pair (retried).
    async fn score_one(&self, r: &ScoreRequest) -> Result<TargetScore, ScoreFailed> {
        if r.target.is_empty() {
            // Nothing to score and nothing to pay for: no call.
            return Ok(TargetScore::default());
        }
        let head = format!("{}{}", self.config.prompt_prefix, r.context);
        if head.is_empty() {
            return Err(ScoreFailed::Input(
                "the context and prompt_prefix are both empty: the first prompt token has no logprob, \
                 so the target's first token cannot be scored (set prompt_prefix, e.g. to the model's BOS text)"
                    .into(),
            ));
        }
        let prompt = format!("{head}{}", r.target);
        let span = Span {
            prompt: &prompt,
            boundary: head.chars().count() as u64,
        };
        let body = serde_json::json!({
            "model": self.config.model,
            "prompt": prompt,
            "echo": true,
            "logprobs": 1,
            "max_tokens": 1,
            "temperature": 0,
        })
        .to_string();
        let seed = fnv1a(prompt.as_bytes());
        let counters = RetryCounters {
            retries: &self.usage.retries,
            failures: &self.usage.failures,
        };
        let (score, tokens) = self
            .backoff
            .run(seed, counters, || async {
                let answer = self.once(&body).await?;
                parse_answer(&answer, span).inspect_err(|_| {
                    self.usage.malformed.fetch_add(1, Ordering::Relaxed);
                })
            })
            .await
            .map_err(ScoreFailed::Call)?;
        self.usage.prompt_tokens.fetch_add(tokens, Ordering::Relaxed);
        Ok(score)
    }

    /// One HTTP request; the answer's body on a 2xx status.
    async fn once(&self, body: &str) -> Result<Vec<u8>, Attempt> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|e| Attempt::Fatal(reason::CLOSED, e.to_string()))?;
        self.usage.calls.fetch_add(1, Ordering::Relaxed);
        let mut request = self
            .http
            .post(&self.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.to_owned());
        if let Some(key) = &self.api_key {
            request = request.bearer_auth(key);
        }
        let exchange = async {
            let response = request.send().await?;
            let status = response.status();
            let bytes = response.bytes().await?;
            Ok::<_, reqwest::Error>((status, bytes))
        };
        let (status, bytes) = match tokio::time::timeout(self.timeout, exchange).await {
            Err(_) => {
                return Err(Attempt::Transient(
                    reason::TIMEOUT,
                    format!("no answer within {:?}", self.timeout),
                ));
            }
            Ok(Err(e)) => {
                let why = if e.is_timeout() {
                    reason::TIMEOUT
                } else {
                    reason::CONNECTION
                };
                return Err(Attempt::Transient(why, format!("{}: {e}", self.url)));
            }
            Ok(Ok(x)) => x,
        };
        if !status.is_success() {
            let text = String::from_utf8_lossy(&bytes);
            let excerpt: String = text.chars().take(300).collect();
            let why = format!("{}: HTTP {status}: {excerpt}", self.url);
            return Err(status_attempt(status.as_u16(), why));
        }
        Ok(bytes.to_vec())
    }
}

#[async_trait::async_trait]
impl Scorer for OpenAiLogprobsScorer {
    /// Sends the batch's requests concurrently (bounded by `max_concurrency`),
    /// a group sharing a prefix its first request first ([`prefix_groups`]);
    /// the first request that gives up fails the batch.
    async fn score(&self, batch: &[ScoreRequest]) -> Result<Vec<TargetScore>, StageError> {
        let one = |i: usize| async move {
            let r = &batch[i];
            self.score_one(r)
                .await
                .map_err(|e| {
                    let what = format!(
                        "openai-logprobs ({}): request {} of {}",
                        self.config.model,
                        i + 1,
                        batch.len()
                    );
                    match e {
                        ScoreFailed::Input(why) => StageError::Failed(format!("{what}: {why}")),
                        ScoreFailed::Call(e) => StageError::Unavailable {
                            reason: e.reason,
                            message: format!("{what}: {e}"),
                        },
                    }
                })
                .map(|s| (i, s))
        };
        let groups = futures_util::future::try_join_all(prefix_groups(batch).into_iter().map(|group| async move {
            // The first alone (the server caches its prompt), then the rest.
            let first = one(group[0]).await?;
            let mut rest = futures_util::future::try_join_all(group[1..].iter().map(|&i| one(i))).await?;
            rest.insert(0, first);
            Ok::<_, StageError>(rest)
        }))
        .await?;
        let mut out = vec![TargetScore::default(); batch.len()];
        for (i, s) in groups.into_iter().flatten() {
            out[i] = s;
        }
        Ok(out)
    }

    /// `openai-logprobs|{base_url}|{model}|{prompt_prefix}`.
    fn fingerprint(&self) -> Option<String> {
        Some(format!(
            "openai-logprobs|{}|{}|{}",
            self.config.base_url.trim_end_matches('/'),
            self.config.model,
            self.config.prompt_prefix
        ))
    }
}

/// Prompts sharing at least this many leading characters are sent as a group
/// (the first, then the rest), so a server's prefix cache serves the rest.
pub const SHARED_CHARS: usize = 256;

/// The batch's requests (indices) in groups whose contexts share at least
/// [`SHARED_CHARS`] leading characters (the scorers' shared grouping,
/// [`repo2agent_core::score::prefix_groups`], over characters): each group in
/// request order, groups in the order of their first request.
fn prefix_groups(batch: &[ScoreRequest]) -> Vec<Vec<usize>> {
    let contexts: Vec<Vec<char>> = batch.iter().map(|r| r.context.chars().collect()).collect();
    let refs: Vec<&[char]> = contexts.iter().map(Vec::as_slice).collect();
    repo2agent_core::score::prefix_groups(&refs, SHARED_CHARS)
        .into_iter()
        .map(|(members, _)| members)
        .collect()
}

/// Why one pair got no score.
enum ScoreFailed {
    /// The pair cannot be scored (no call was made).
    Input(String),
    /// The call gave no usable answer after its retries.
    Call(crate::retry::CallFailed),
}

/// The prompt of one request and where its target starts, in characters.
#[derive(Clone, Copy, Debug)]
struct Span<'a> {
    /// `prompt_prefix + context + target`.
    prompt: &'a str,
    /// Length of `prompt_prefix + context`.
    boundary: u64,
}

#[derive(Deserialize)]
struct Completion {
    choices: Vec<Choice>,
    #[serde(default)]
    usage: Option<CompletionUsage>,
}

#[derive(Deserialize)]
struct Choice {
    #[serde(default)]
    logprobs: Option<Logprobs>,
}

#[derive(Deserialize)]
struct Logprobs {
    #[serde(default)]
    tokens: Option<Vec<String>>,
    token_logprobs: Vec<Option<f64>>,
    text_offset: Vec<u64>,
}

#[derive(Deserialize)]
struct CompletionUsage {
    #[serde(default)]
    prompt_tokens: Option<u64>,
    #[serde(default)]
    completion_tokens: Option<u64>,
}

/// The echoed logprobs of one answer.
struct Echo<'a> {
    offsets: &'a [u64],
    logprobs: &'a [Option<f64>],
    tokens: Option<&'a [String]>,
    /// Generated tokens at the end of the lists, as `usage` reports them.
    generated: Option<u64>,
}

/// The target's score and the prompt tokens of one answer body.
fn parse_answer(body: &[u8], span: Span<'_>) -> Result<(TargetScore, u64), Attempt> {
    let answer: Completion =
        serde_json::from_slice(body).map_err(|e| malformed(format!("not a completions answer ({e})")))?;
    let choice = answer.choices.first().ok_or_else(|| malformed("no choices".into()))?;
    let lp = choice
        .logprobs
        .as_ref()
        .ok_or_else(|| malformed("no logprobs (does the server support `echo` with `logprobs`?)".into()))?;
    let usage = answer.usage.as_ref();
    let echo = Echo {
        offsets: &lp.text_offset,
        logprobs: &lp.token_logprobs,
        tokens: lp.tokens.as_deref(),
        generated: usage.and_then(|u| u.completion_tokens),
    };
    let (score, prompt_tokens) = target_score(&echo, span)?;
    let reported = usage.and_then(|u| u.prompt_tokens).unwrap_or(prompt_tokens);
    Ok((score, reported))
}

fn malformed(why: String) -> Attempt {
    Attempt::Transient(reason::BAD_ANSWER, format!("malformed answer: {why}"))
}

/// Picks the target's tokens out of the echoed prompt; see the module doc.
/// Returns the score and the number of echoed prompt tokens.
fn target_score(echo: &Echo<'_>, span: Span<'_>) -> Result<(TargetScore, u64), Attempt> {
    let Echo { offsets, logprobs, .. } = *echo;
    let n = offsets.len();
    if logprobs.len() != n || echo.tokens.is_some_and(|t| t.len() != n) {
        return Err(malformed(format!(
            "{} text_offset, {} token_logprobs, {} tokens",
            n,
            logprobs.len(),
            echo.tokens.map_or("no".into(), |t| t.len().to_string())
        )));
    }
    if let Some(i) = offsets.windows(2).position(|w| w[1] < w[0]) {
        return Err(malformed(format!("text_offset decreases at token {}", i + 1)));
    }
    let prompt_len = span.prompt.chars().count() as u64;
    // The prompt's tokens (the first `prompt`) and where the prompt ends in
    // the server's offsets (`end_of_prompt`).
    let (prompt, end_of_prompt) = match echo.generated {
        Some(g) if g <= n as u64 => {
            let p = n - g as usize;
            let end = match (offsets.get(p), echo.tokens) {
                (Some(&o), _) => o,
                // Nothing generated (end of text): the last token's own text ends it.
                (None, Some(t)) if p > 0 => offsets[p - 1].saturating_add(t[p - 1].chars().count() as u64),
                (None, _) => prompt_len,
            };
            (p, end)
        }
        // No usage: take the offsets as the prompt's own.
        _ => (offsets.partition_point(|&o| o < prompt_len), prompt_len),
    };
    if prompt == 0 {
        return Err(malformed("no prompt tokens echoed".into()));
    }
    if let Some(last) = echo.tokens.map(|t| t[prompt - 1].as_str())
        && !last.is_empty()
        && !last.contains('\u{FFFD}')
        && !last.starts_with("token_id:")
        && !last.starts_with("bytes:")
        && !span.prompt.ends_with(last)
    {
        return Err(malformed(format!(
            "the last echoed prompt token {last:?} does not end the prompt (with llama-cpp-python and a model \
             that adds no BOS token, set prompt_prefix to the BOS text)"
        )));
    }
    // Texts the server leaves out of its offsets (a BOS it strips, special
    // tokens rendered empty) or adds (a BOS rendered as text) come before the
    // target: align the two texts at the prompt's end.
    let boundary = (span.boundary.saturating_add(end_of_prompt))
        .checked_sub(prompt_len)
        .ok_or_else(|| {
            malformed(format!(
                "the offsets cover {end_of_prompt} characters, fewer than the prompt's target ({} of {prompt_len})",
                prompt_len - span.boundary
            ))
        })?;
    if offsets[prompt - 1] > end_of_prompt {
        return Err(malformed("a prompt token starts after the end of the prompt".into()));
    }
    let end = |i: usize| if i + 1 < prompt { offsets[i + 1] } else { end_of_prompt };
    let first = (0..prompt)
        .find(|&i| end(i) > boundary || offsets[i] >= boundary)
        .unwrap_or(prompt);
    if first == prompt {
        return Err(malformed(format!(
            "no prompt token covers the target (characters {boundary}..{end_of_prompt} of the server's text; \
             {prompt} prompt tokens)"
        )));
    }
    let mut token_nll = Vec::with_capacity(prompt - first);
    for (i, lp) in logprobs.iter().enumerate().take(prompt).skip(first) {
        match lp {
            Some(v) if v.is_finite() && *v <= 1e-3 => token_nll.push(-v),
            Some(v) => {
                return Err(malformed(format!(
                    "logprob {v} of prompt token {i} is not a log-probability"
                )));
            }
            // The first prompt token never has one: the context gave the model
            // nothing to condition on, and asking again will not change that.
            None if i == 0 => {
                return Err(Attempt::Fatal(
                    reason::INVALID_REQUEST,
                    "the target starts in the prompt's first token, which has no logprob \
                     (the context is empty or shorter than a token: set prompt_prefix)"
                        .into(),
                ));
            }
            None => {
                return Err(malformed(format!(
                    "null logprob for prompt token {i}, inside the target"
                )));
            }
        }
    }
    Ok((
        TargetScore {
            token_nll,
            context_tokens: first as u64,
            reused_tokens: 0,
        },
        prompt as u64,
    ))
}

/// FNV-1a, for a per-request jitter seed.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn score(
        offsets: &[u64],
        lps: &[Option<f64>],
        tokens: Option<&[&str]>,
        prompt: &str,
        boundary: u64,
    ) -> Result<TargetScore, String> {
        let tokens: Option<Vec<String>> = tokens.map(|t| t.iter().map(|s| s.to_string()).collect());
        let echo = Echo {
            offsets,
            logprobs: lps,
            tokens: tokens.as_deref(),
            generated: tokens.as_ref().map(|_| 1),
        };
        match target_score(&echo, Span { prompt, boundary }) {
            Ok((t, _)) => Ok(t),
            Err(Attempt::Transient(_, w) | Attempt::Fatal(_, w)) => Err(w),
        }
    }

    #[test]
    fn target_tokens_are_those_ending_after_the_context_and_generated_ones_are_dropped() {
        // "ab|cd|ef" + generated "g"; context "abc" (boundary inside "cd").
        let lps = [None, Some(-1.0), Some(-2.0), Some(-3.0)];
        for tokens in [None, Some(&["ab", "cd", "ef", "g"][..])] {
            let t = score(&[0, 2, 4, 6], &lps, tokens, "abcdef", 3).unwrap();
            assert_eq!(t.token_nll, [1.0, 2.0]);
            assert_eq!(t.context_tokens, 1);
            // Boundary on a token edge.
            let t = score(&[0, 2, 4, 6], &lps, tokens, "abcdef", 4).unwrap();
            assert_eq!(t.token_nll, [2.0]);
            assert_eq!(t.context_tokens, 2);
        }
    }

    #[test]
    fn offsets_that_leave_out_a_stripped_bos_are_aligned_at_the_prompts_end() {
        // llama-cpp-python: "<s>" stripped, offsets count from after it.
        let lps = [None, Some(-1.0), Some(-2.0), Some(-3.0)];
        let t = score(&[0, 2, 4, 6], &lps, Some(&["ab", "cd", "ef", "g"]), "<s>abcdef", 7).unwrap();
        assert_eq!(t.token_nll, [2.0]);
        assert_eq!(t.context_tokens, 2);
        // vLLM with a BOS rendered as text in front.
        let lps = [None, Some(-0.5), Some(-1.0), Some(-2.0), Some(-3.0)];
        let t = score(
            &[0, 3, 5, 7, 9],
            &lps,
            Some(&["<s>", "ab", "cd", "ef", "g"]),
            "abcdef",
            4,
        )
        .unwrap();
        assert_eq!(t.token_nll, [2.0]);
        assert_eq!(t.context_tokens, 3);
        // A shifted answer (the generated token missing) is caught.
        let e = score(&[0, 2, 4], &lps[..3], Some(&["ab", "cd", "ef"]), "abcdef", 4).unwrap_err();
        assert!(e.contains("does not end the prompt"), "{e}");
    }

    #[test]
    fn a_partial_character_token_goes_with_the_token_completing_it() {
        // "a" | (first bytes of "é", empty span) | (rest of "é" + "b") ; context "a".
        let lps = [None, Some(-1.0), Some(-2.0)];
        let t = score(&[0, 1, 1], &lps, None, "aéb", 1).unwrap();
        assert_eq!(t.token_nll, [1.0, 2.0]);
    }

    #[test]
    fn nulls_bad_numbers_and_inconsistent_lists_are_errors() {
        let bad = |o: &[u64], l: &[Option<f64>], b: u64| score(o, l, None, "abcd", b).is_err();
        assert!(bad(&[0, 2], &[None, None], 2));
        assert!(bad(&[0, 2], &[None, Some(0.5)], 2));
        assert!(bad(&[0, 2, 1], &[None, Some(-1.0), Some(-1.0)], 1));
        assert!(bad(&[0, 2], &[None], 1));
        assert!(bad(&[0, 2], &[None, Some(-1.0)], 4));
        assert!(bad(&[], &[], 1));
        assert!(bad(&[0, u64::MAX], &[None, Some(-1.0)], 1));
        assert!(score(&[0, u64::MAX], &[None, Some(-1.0)], Some(&["ab", "cd"]), "abcd", 2).is_err());
        let echo = Echo {
            offsets: &[0, 2],
            logprobs: &[None, Some(-1.0)],
            tokens: None,
            generated: None,
        };
        let span = Span {
            prompt: "abcd",
            boundary: 1,
        };
        assert!(matches!(
            target_score(&echo, span),
            Err(Attempt::Fatal(reason::INVALID_REQUEST, _))
        ));
        // Generated count larger than the lists: offsets taken as the prompt's own.
        let echo = Echo {
            generated: Some(9),
            ..echo
        };
        assert!(matches!(
            target_score(&echo, span),
            Err(Attempt::Fatal(reason::INVALID_REQUEST, _))
        ));
    }
}
