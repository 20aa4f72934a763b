//! Every scorer and policy call a search makes goes through the meter: scores
//! are cached by content (the scorer's fingerprint, the context, the target),
//! so a re-run or resumed run repeats no scorer call; calls and tokens are
//! counted against the per-repository budgets.

use repo2agent_core::StageError;
use repo2agent_core::cache::CallCache;
use repo2agent_core::model::SearchUsage;
use repo2agent_core::stage::{Policy, ScoreRequest, Scorer, TargetScore, ThinkRequest};

/// Per-repository caps (0 = no cap).
#[derive(Clone, Copy, Debug, Default)]
pub struct Budget {
    /// Scored tokens (context + target), cached answers included.
    pub scorer_tokens: u64,
    /// `propose_rewrites` calls.
    pub policy_calls: u64,
}

/// The calls of one repository's search.
pub struct Meter<'a> {
    scorer: &'a dyn Scorer,
    fingerprint: Option<String>,
    cache: &'a CallCache,
    budget: Budget,
    /// What was spent.
    pub usage: SearchUsage,
}

impl std::fmt::Debug for Meter<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Meter")
            .field("fingerprint", &self.fingerprint)
            .field("budget", &self.budget)
            .field("usage", &self.usage)
            .finish()
    }
}

impl<'a> Meter<'a> {
    /// A meter with nothing spent.
    pub fn new(scorer: &'a dyn Scorer, cache: &'a CallCache, budget: Budget) -> Self {
        Self {
            fingerprint: scorer.fingerprint(),
            scorer,
            cache,
            budget,
            usage: SearchUsage::default(),
        }
    }

    /// Whether another step may start; marks the usage when it may not.
    pub fn can_spend(&mut self) -> bool {
        let over = |cap: u64, used: u64| cap > 0 && used >= cap;
        let stop = over(self.budget.scorer_tokens, self.usage.scorer_tokens)
            || over(self.budget.policy_calls, self.usage.policy_calls);
        if stop {
            self.usage.budget_exhausted = true;
        }
        !stop
    }

    fn key(&self, r: &ScoreRequest) -> Option<(String, serde_json::Value)> {
        let fp = self.fingerprint.as_ref()?;
        let key = CallCache::key(&serde_json::json!({"scorer": fp, "context": r.context, "target": r.target}));
        // The stored request stays small: the key already commits to the texts.
        let about = serde_json::json!({
            "scorer": fp,
            "context_chars": r.context.chars().count(),
            "target_chars": r.target.chars().count(),
        });
        Some((key, about))
    }

    /// Scores a batch: cached answers first, the rest in one scorer call.
    pub async fn score(&mut self, batch: &[ScoreRequest]) -> Result<Vec<TargetScore>, StageError> {
        let keys: Vec<_> = batch.iter().map(|r| self.key(r)).collect();
        let mut out: Vec<Option<TargetScore>> = keys
            .iter()
            .map(|k| {
                let (key, _) = k.as_ref()?;
                serde_json::from_str(&self.cache.get(key)?).ok()
            })
            .collect();
        let missing: Vec<usize> = (0..batch.len()).filter(|&i| out[i].is_none()).collect();
        self.usage.scorer_cache_hits += (batch.len() - missing.len()) as u64;
        if !missing.is_empty() {
            let asked: Vec<ScoreRequest> = missing.iter().map(|&i| batch[i].clone()).collect();
            let scores = self.scorer.score(&asked).await?;
            if scores.len() != asked.len() {
                return Err(StageError::Failed(format!(
                    "the scorer returned {} scores for {} requests",
                    scores.len(),
                    asked.len()
                )));
            }
            self.usage.scorer_calls += asked.len() as u64;
            for (&i, s) in missing.iter().zip(scores) {
                if s.token_nll.iter().any(|x| !x.is_finite()) {
                    return Err(StageError::Failed("the scorer returned a non-finite NLL".into()));
                }
                if let Some((key, about)) = &keys[i]
                    && let Ok(json) = serde_json::to_string(&s)
                {
                    self.cache.put(key, about, &json);
                }
                out[i] = Some(s);
            }
        }
        let out: Vec<TargetScore> = out.into_iter().flatten().collect();
        self.usage.scorer_tokens += out
            .iter()
            .map(|s| s.context_tokens + s.token_nll.len() as u64)
            .sum::<u64>();
        Ok(out)
    }

    /// Asks the policy for up to `n` rewrites of `current`.
    pub async fn propose(
        &mut self,
        policy: &dyn Policy,
        request: ThinkRequest<'_>,
        current: &str,
        n: usize,
    ) -> Result<Vec<String>, StageError> {
        self.usage.policy_calls += 1;
        let mut v = policy.propose_rewrites(request, current, n).await?;
        v.retain(|c| c != current && !c.trim().is_empty());
        v.dedup();
        v.truncate(n);
        Ok(v)
    }
}
