//! Every scorer and policy call a search makes goes through the meter: a
//! request is scored once per repository (a candidate proposed again is
//! answered from memory) and cached on disk by content (the scorer's
//! fingerprint, the context, the target), so a re-run or resumed run repeats
//! no scorer call; calls and tokens are counted against the per-repository
//! budgets.

use crate::StageError;
use crate::cache::CallCache;
use crate::model::SearchUsage;
use crate::stage::{Policy, ScoreRequest, Scorer, TargetScore, ThinkRequest};

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
    /// Every score of this repository's search, by key.
    memo: std::collections::HashMap<String, TargetScore>,
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
            memo: std::collections::HashMap::new(),
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

    /// Whether scores go to (and come from) the disk cache: only for a
    /// scorer that says what its numbers depend on.
    fn on_disk(&self) -> bool {
        self.fingerprint.is_some() && self.cache.is_enabled()
    }

    fn key(&self, r: &ScoreRequest) -> String {
        let fp = self.fingerprint.as_deref().unwrap_or_default();
        CallCache::key(&serde_json::json!({"scorer": fp, "context": r.context, "target": r.target}))
    }

    /// Scores a batch: answers already known (this repository's earlier
    /// requests, then the disk cache) first, each other distinct request once,
    /// in one scorer call.
    pub async fn score(&mut self, batch: &[ScoreRequest]) -> Result<Vec<TargetScore>, StageError> {
        let keys: Vec<String> = batch.iter().map(|r| self.key(r)).collect();
        let mut asked: Vec<usize> = Vec::new();
        for (i, key) in keys.iter().enumerate() {
            if self.memo.contains_key(key) || asked.iter().any(|&j| keys[j] == *key) {
                continue;
            }
            let cached = self.on_disk().then(|| self.cache.get(key)).flatten();
            match cached.and_then(|json| serde_json::from_str::<TargetScore>(&json).ok()) {
                Some(s) => {
                    self.memo.insert(key.clone(), s);
                }
                None => asked.push(i),
            }
        }
        self.usage.scorer_cache_hits += (batch.len() - asked.len()) as u64;
        if !asked.is_empty() {
            let requests: Vec<ScoreRequest> = asked.iter().map(|&i| batch[i].clone()).collect();
            let scores = self.scorer.score(&requests).await?;
            if scores.len() != requests.len() {
                return Err(StageError::Failed(format!(
                    "the scorer returned {} scores for {} requests",
                    scores.len(),
                    requests.len()
                )));
            }
            self.usage.scorer_calls += requests.len() as u64;
            self.usage.scorer_tokens_computed += scores.iter().map(TargetScore::computed_tokens).sum::<u64>();
            for (&i, s) in asked.iter().zip(scores) {
                if s.token_nll.iter().any(|x| !x.is_finite()) {
                    return Err(StageError::Failed("the scorer returned a non-finite NLL".into()));
                }
                if self.on_disk()
                    && let Ok(json) = serde_json::to_string(&s)
                {
                    // The stored request stays small: the key commits to the texts.
                    let about = serde_json::json!({
                        "scorer": self.fingerprint,
                        "context_chars": batch[i].context.chars().count(),
                        "target_chars": batch[i].target.chars().count(),
                    });
                    self.cache.put(&keys[i], &about, &json);
                }
                self.memo.insert(keys[i].clone(), s);
            }
        }
        let out: Vec<TargetScore> = keys.iter().filter_map(|k| self.memo.get(k).cloned()).collect();
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
