//! Thought value (`[evaluate]`, docs/method.md "Thought value"): what the
//! sub-agents' thoughts tell a scorer model about the real code they lead to.
//!
//! Every written file's code (its first `target_chars`) is scored after the
//! flattened trajectory before its Write (the last `context_chars`), once as
//! the policy wrote the thoughts, once with every sub-agent thought removed,
//! and, when a search ran, once with the thoughts it kept. The contexts are
//! the run's own format, so the figure is about what the trained model sees.

use super::document::{Scope, ScoredDocument};
use super::meter::{Budget, Meter};
use crate::StageError;
use crate::cache::CallCache;
use crate::model::{AgentId, EvaluationRecord, EvaluationUsage, FileValue, StepKind, Trajectory};
use crate::plugin::{BuildContext, Problem};
use crate::stage::{Formatter, RepoContext, ScoreRequest, Scorer, TargetScore};
use serde::Deserialize;
use std::sync::Arc;
use toml::Spanned;

/// `[evaluate]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvaluateConfig {
    /// Name of the `[scorers.NAME]` that scores the real code. Required.
    pub scorer: Spanned<String>,
    /// Characters of flattened trajectory kept before the code (the last ones).
    #[serde(default = "default_context_chars")]
    pub context_chars: usize,
    /// Characters of real code scored (the first ones of each file).
    #[serde(default = "default_target_chars")]
    pub target_chars: usize,
    /// Per repository: stop once this many tokens were scored (context +
    /// target, cached answers included). 0: no cap.
    #[serde(default)]
    pub max_scorer_tokens: u64,
    /// Files scored per scorer call.
    #[serde(default = "default_batch_files")]
    pub batch_files: usize,
    /// Directory of the score cache, relative to the config file; `""`
    /// disables it. Default `~/.cache/repo2agent/calls` (shared with the
    /// search's, so a score the search made is not made again).
    #[serde(default)]
    pub cache_dir: Option<String>,
}

fn default_context_chars() -> usize {
    8192
}

fn default_target_chars() -> usize {
    4096
}

fn default_batch_files() -> usize {
    4
}

/// `[evaluate]`, resolved.
pub struct Evaluation {
    /// The `[scorers.NAME]` it scores with.
    pub scorer_name: String,
    scorer: Arc<dyn Scorer>,
    context_chars: usize,
    target_chars: usize,
    batch_files: usize,
    budget: Budget,
    cache: CallCache,
}

impl std::fmt::Debug for Evaluation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Evaluation")
            .field("scorer", &self.scorer_name)
            .field("context_chars", &self.context_chars)
            .field("target_chars", &self.target_chars)
            .field("budget", &self.budget)
            .finish()
    }
}

impl Evaluation {
    /// Resolves `[evaluate]` against the built scorers.
    pub fn build(c: EvaluateConfig, ctx: &BuildContext<'_>) -> Result<Self, Problem> {
        let scorer = ctx.scorer(&c.scorer)?;
        super::check_windows(c.context_chars, c.target_chars)?;
        if c.batch_files == 0 {
            return Err(Problem::new("batch_files must be at least 1"));
        }
        Ok(Self {
            scorer_name: c.scorer.into_inner(),
            scorer,
            context_chars: c.context_chars,
            target_chars: c.target_chars,
            batch_files: c.batch_files,
            budget: Budget {
                scorer_tokens: c.max_scorer_tokens,
                policy_calls: 0,
            },
            cache: super::score_cache(c.cache_dir.as_deref(), ctx),
        })
    }

    /// The thought value of `initial` (the policy's trajectory) file by file,
    /// and of `searched` (the same trajectory after search) when given.
    pub async fn evaluate(
        &self,
        initial: &Trajectory,
        searched: Option<&Trajectory>,
        repo: RepoContext<'_>,
        formatter: &dyn Formatter,
    ) -> Result<EvaluationRecord, StageError> {
        let doc = |t: &Trajectory| {
            ScoredDocument::new(
                t,
                repo,
                formatter,
                Scope::BeforeWrite,
                self.context_chars,
                self.target_chars,
            )
        };
        let with = doc(initial)?;
        let without = doc(&without_thoughts(initial))?;
        let after = searched.map(doc).transpose()?;
        let mut meter = Meter::new(self.scorer.as_ref(), &self.cache, self.budget);
        let mut files = Vec::new();
        let mut eligible = Vec::new();
        for (write, agent, path) in with.written() {
            // The same Write in every document (thoughts do not change the Writes).
            let (Some(w), Some(wo)) = (with.code_request(write), without.code_request(write)) else {
                continue;
            };
            // After search: the same window start as with the policy's
            // thoughts (the search's own), so the kept thought is compared
            // after the same prefix.
            let a = after
                .as_ref()
                .and_then(|d| d.code_request_from(write, with.window_start(write)));
            eligible.push((agent.clone(), path.to_owned(), w, wo, a));
        }
        let usage_eligible = eligible.len() as u64;
        for chunk in eligible.chunks(self.batch_files) {
            if !meter.can_spend() {
                break;
            }
            let mut batch: Vec<ScoreRequest> = Vec::new();
            for (_, _, w, wo, a) in chunk {
                batch.push(w.clone());
                batch.push(wo.clone());
                batch.extend(a.iter().cloned());
            }
            let scores = meter.score(&batch).await?;
            let mut scores = scores.into_iter();
            for (agent, path, _, _, a) in chunk {
                let (Some(w), Some(wo)) = (scores.next(), scores.next()) else {
                    return Err(StageError::Failed("the scorer returned too few scores".into()));
                };
                let after_score = match a {
                    Some(_) => Some(
                        scores
                            .next()
                            .ok_or_else(|| StageError::Failed("the scorer returned too few scores".into()))?,
                    ),
                    None => None,
                };
                files.push(file_value(agent, path, repo, &w, &wo, after_score.as_ref()));
            }
        }
        let u = meter.usage;
        Ok(EvaluationRecord {
            scorer: self.scorer_name.clone(),
            files,
            usage: EvaluationUsage {
                files_eligible: usage_eligible,
                scorer_calls: u.scorer_calls,
                scorer_cache_hits: u.scorer_cache_hits,
                scorer_tokens: u.scorer_tokens,
                budget_exhausted: u.budget_exhausted,
            },
        })
    }
}

fn file_value(
    agent: &AgentId,
    path: &str,
    repo: RepoContext<'_>,
    with: &TargetScore,
    without: &TargetScore,
    after: Option<&TargetScore>,
) -> FileValue {
    FileValue {
        agent: agent.clone(),
        path: path.to_owned(),
        language: repo
            .snapshot
            .by_path(path)
            .and_then(|f| f.language.clone())
            .unwrap_or_else(|| "other".into()),
        code_tokens: with.token_nll.len() as u64,
        nll_without: without.sum(),
        nll_with: with.sum(),
        nll_after_search: after.map(TargetScore::sum),
    }
}

/// `t` with every thought of its sub-agents removed (the main agent's
/// planning stays): the baseline thought value is measured against.
pub fn without_thoughts(t: &Trajectory) -> Trajectory {
    fn strip(e: &mut crate::model::Episode, sub: bool) {
        if sub {
            e.steps.retain(|s| !matches!(s.kind, StepKind::Think { .. }));
        }
        for s in &mut e.steps {
            if let StepKind::Delegate { episode } = &mut s.kind {
                strip(episode, true);
            }
        }
    }
    let mut t = t.clone();
    strip(&mut t.main, false);
    t.search = None;
    t.evaluation = None;
    t
}
