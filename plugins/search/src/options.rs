//! What the scored strategies share: their options (`[search]`), and a run
//! over one trajectory (the scored document, the meter, the records).

use repo2agent_core::StageError;
use repo2agent_core::cache::CallCache;
use repo2agent_core::config::{BuildContext, Problem};
use repo2agent_core::model::{SearchRecord, ThinkSearch, Trajectory};
use repo2agent_core::score::document::{Scope, ScoredDocument, ThinkSlot, apply};
use repo2agent_core::score::meter::{Budget, Meter};
use repo2agent_core::stage::{RewriteBound, ScoreRequest, Scorer, SearchContext, TargetScore, ThinkRequest};
use serde::Deserialize;
use std::sync::Arc;
use toml::Spanned;

/// `[search]` of `greedy-rewrite`, `best-of-n` and `importance`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScoredSearchConfig {
    /// Name of the `[scorers.NAME]` that scores the real code. Required.
    pub scorer: Spanned<String>,
    /// Candidates per proposal: K per round (`greedy-rewrite`, default 2) or N
    /// (`best-of-n`, `importance`, default 4).
    #[serde(default)]
    pub candidates: Option<usize>,
    /// Rounds of `greedy-rewrite` (default 3); not an option of the others.
    #[serde(default)]
    pub rounds: Option<u32>,
    /// Which thoughts: `"before-write"` (default; the thought right before a
    /// Write) or `"all"` (every thought of an episode, scored on the file it writes).
    #[serde(default = "default_scope")]
    pub scope: Scope,
    /// Characters of flattened trajectory kept before the code (the last ones).
    #[serde(default = "default_context_chars")]
    pub context_chars: usize,
    /// Characters of real code scored (the first ones of the file).
    #[serde(default = "default_target_chars")]
    pub target_chars: usize,
    /// Per repository: stop searching once this many tokens were scored
    /// (context + target, cached answers included). 0: no cap.
    #[serde(default)]
    pub max_scorer_tokens: u64,
    /// Per repository: stop once the policy was asked this many times. 0: no cap.
    #[serde(default)]
    pub max_policy_calls: u64,
    /// Directory of the score cache, relative to the config file; `""` disables
    /// it. Default `~/.cache/repo2agent/calls` (shared with the policy's cache).
    #[serde(default)]
    pub cache_dir: Option<String>,
}

fn default_scope() -> Scope {
    Scope::BeforeWrite
}

fn default_context_chars() -> usize {
    8192
}

fn default_target_chars() -> usize {
    4096
}

/// A scored strategy's options, resolved.
pub struct Options {
    /// Its scorer.
    pub scorer: Arc<dyn Scorer>,
    /// Candidates per proposal.
    pub candidates: usize,
    /// Rounds (`greedy-rewrite`; 1 for the others).
    pub rounds: u32,
    scope: Scope,
    context_chars: usize,
    target_chars: usize,
    budget: Budget,
    cache: CallCache,
}

impl std::fmt::Debug for Options {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Options")
            .field("candidates", &self.candidates)
            .field("rounds", &self.rounds)
            .field("scope", &self.scope)
            .finish()
    }
}

impl Options {
    /// At most how these options ask the policy for rewrites (`run --estimate`).
    pub fn rewrite_bound(&self) -> RewriteBound {
        RewriteBound {
            calls_per_thought: self.rounds,
            candidates: self.candidates,
            all_thoughts: self.scope == Scope::All,
            max_calls: self.budget.policy_calls,
        }
    }

    /// Resolves a config; `default_candidates` and `rounds` (`None`: the
    /// strategy has no rounds) are the strategy's.
    pub fn build(
        c: ScoredSearchConfig,
        ctx: &BuildContext<'_>,
        default_candidates: usize,
        rounds: Option<u32>,
    ) -> Result<Self, Problem> {
        let scorer = ctx.scorer(&c.scorer)?;
        let candidates = c.candidates.unwrap_or(default_candidates);
        if candidates == 0 {
            return Err(Problem::new("candidates must be at least 1"));
        }
        let rounds = match (rounds, c.rounds) {
            (Some(_), Some(0)) => return Err(Problem::new("rounds must be at least 1")),
            (Some(d), r) => r.unwrap_or(d),
            (None, Some(_)) => return Err(Problem::new("`rounds` applies to `greedy-rewrite` only")),
            (None, None) => 1,
        };
        repo2agent_core::score::check_windows(c.context_chars, c.target_chars)?;
        Ok(Self {
            scorer,
            candidates,
            rounds,
            scope: c.scope,
            context_chars: c.context_chars,
            target_chars: c.target_chars,
            budget: Budget {
                scorer_tokens: c.max_scorer_tokens,
                policy_calls: c.max_policy_calls,
            },
            cache: repo2agent_core::score::score_cache(c.cache_dir.as_deref(), ctx),
        })
    }
}

/// One repository's search in progress.
pub struct Run<'a> {
    /// The flattened trajectory with its searchable thoughts.
    pub doc: ScoredDocument,
    /// Calls and budget.
    pub meter: Meter<'a>,
    /// Policy, formatter, seed.
    pub ctx: SearchContext<'a>,
    records: Vec<ThinkSearch>,
    next: usize,
}

impl<'a> Run<'a> {
    /// Flattens the trajectory with the run's formatter.
    pub fn start(options: &'a Options, trajectory: &Trajectory, ctx: SearchContext<'a>) -> Result<Self, StageError> {
        let doc = ScoredDocument::new(
            trajectory,
            ctx.repo,
            ctx.formatter,
            options.scope,
            options.context_chars,
            options.target_chars,
        )?;
        let mut meter = Meter::new(options.scorer.as_ref(), &options.cache, options.budget);
        meter.usage.thinks_eligible = doc.slots.len() as u64;
        Ok(Self {
            doc,
            meter,
            ctx,
            records: Vec::new(),
            next: 0,
        })
    }

    /// The next thought to search and its current text, while the budgets
    /// allow (`None` when every slot was searched or a budget is spent).
    pub fn next_slot(&mut self) -> Option<(ThinkSlot, String)> {
        let slot = self.doc.slots.get(self.next)?.clone();
        if !self.meter.can_spend() {
            return None;
        }
        self.next += 1;
        let text = self.doc.thinks[slot.think].clone();
        Some((slot, text))
    }

    /// The thought and up to `n` rewrites of it, proposed once (round 0).
    pub async fn particles(&mut self, slot: &ThinkSlot, initial: String, n: usize) -> Result<Vec<String>, StageError> {
        let proposed = self.propose(slot, 0, &initial, n).await?;
        Ok(std::iter::once(initial).chain(proposed).collect())
    }

    /// Asks the policy for up to `n` rewrites of `current` for `slot` in
    /// `round` (each round its own seed).
    pub async fn propose(
        &mut self,
        slot: &ThinkSlot,
        round: u32,
        current: &str,
        n: usize,
    ) -> Result<Vec<String>, StageError> {
        let seed = repo2agent_core::order::seeded_hash(
            self.ctx.seed,
            &format!("search/{}/{}/{round}", slot.agent.0, slot.step),
        );
        let request = ThinkRequest {
            repo: self.ctx.repo,
            step: &self.doc.plan.steps[slot.plan_step],
            phase: slot.phase,
            seed,
            round,
        };
        self.meter.propose(self.ctx.policy, request, current, n).await
    }

    /// Scores `candidates` as the thought of `slot`.
    pub async fn score(&mut self, slot: &ThinkSlot, candidates: &[&str]) -> Result<Vec<TargetScore>, StageError> {
        let batch: Vec<ScoreRequest> = candidates.iter().map(|c| self.doc.request(slot, c)).collect();
        self.meter.score(&batch).await
    }

    /// Keeps what was tried on one thought; `kept` becomes its text.
    pub fn record(&mut self, slot: &ThinkSlot, record: ThinkSearch, kept: String) {
        self.doc.thinks[slot.think] = kept;
        self.records.push(record);
    }

    /// Writes the kept thoughts into the trajectory; the search's record.
    pub fn finish(self, trajectory: &mut Trajectory, strategy: &str) -> SearchRecord {
        apply(trajectory, &self.doc.thinks);
        SearchRecord {
            strategy: strategy.to_owned(),
            thinks: self.records,
            usage: self.meter.usage,
        }
    }
}
