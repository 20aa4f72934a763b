use crate::error::StageError;
use crate::model::{Analysis, FileId, Plan, PlanStep, RepoSnapshot};

/// What an agent knows about the repository: the ground truth injected into
/// every prompt (docs/method.md step 4).
#[derive(Clone, Copy, Debug)]
pub struct RepoContext<'a> {
    /// The files.
    pub snapshot: &'a RepoSnapshot,
    /// Tree, dependency graph and outlines.
    pub analysis: &'a Analysis,
    /// Implementation order, dependencies first.
    pub order: &'a [FileId],
}

/// Which of a sub-agent's two thoughts is asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ThinkPhase {
    /// Before reading dependencies: why this file, what it needs.
    BeforeReading,
    /// Before writing: how to implement it.
    BeforeWriting,
}

/// A request for one sub-agent thought.
#[derive(Clone, Copy, Debug)]
pub struct ThinkRequest<'a> {
    /// The repository.
    pub repo: RepoContext<'a>,
    /// The plan step being implemented.
    pub step: &'a PlanStep,
    /// Which thought.
    pub phase: ThinkPhase,
    /// Seed for this thought (derived from the run seed, repository and step).
    pub seed: u64,
    /// The search round that asks for rewrites (0 for the first, and for
    /// every request outside search): a policy with a fixed list of
    /// alternatives offers round `r` another part of it.
    pub round: u32,
}

/// Writes the natural-language parts of a trajectory: the main agent's
/// requirements and plan, and the sub-agents' thoughts (docs/method.md steps 2–3).
///
/// Contract:
/// - A policy never decides file *content*: the simulation writes the real bytes
///   (grounding). What it returns is prose and a plan over real files; the
///   simulation repairs a plan that names invented, missing or duplicate files.
/// - For a given seed a deterministic policy returns the same text; a
///   model-backed policy caches its calls by content so a resumed run repeats none.
/// - An error fails the repository's simulation: the runner marks the
///   repository failed with the error's reason (`StageError::Unavailable`
///   carries the model server's, e.g. `http_5xx`, `timeout`), goes on with the
///   others, and `run --resume` tries it again.
#[async_trait::async_trait]
pub trait Policy: Send + Sync {
    /// Requirements and a file-level plan for the repository.
    async fn plan(&self, repo: RepoContext<'_>, seed: u64) -> Result<Plan, StageError>;

    /// One sub-agent thought.
    async fn think(&self, request: ThinkRequest<'_>) -> Result<String, StageError>;

    /// Up to `n` alternative versions of `current` (used by search). Fewer than `n`
    /// is allowed; an empty vector means the policy has no alternatives to offer.
    async fn propose_rewrites(
        &self,
        request: ThinkRequest<'_>,
        current: &str,
        n: usize,
    ) -> Result<Vec<String>, StageError>;

    /// Counters of the policy's own work (model calls, tokens, cache hits,
    /// fallbacks …), added to `stats.json` under `simulation.policy`.
    fn counters(&self) -> std::collections::BTreeMap<String, u64> {
        std::collections::BTreeMap::new()
    }

    /// For `run --estimate`: a copy of this policy that makes no model call.
    /// Each call it would make is only counted in its [`counters`](Policy::counters)
    /// (`calls`, `prompt_tokens`, and `completion_tokens` as the most the
    /// call may generate) and answered as an offline policy would, so the
    /// simulation goes on with the real prompts. `None` (the default): the
    /// policy makes no model calls.
    fn dry_run(&self) -> Option<std::sync::Arc<dyn Policy>> {
        None
    }
}
