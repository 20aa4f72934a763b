use super::formatter::Formatter;
use super::policy::{Policy, RepoContext};
use crate::error::StageError;
use crate::model::{SearchRecord, Trajectory};

/// What a search may use besides its own scorer.
#[derive(Clone, Copy)]
pub struct SearchContext<'a> {
    /// The repository the trajectory reconstructs.
    pub repo: RepoContext<'a>,
    /// The run's policy, which proposes rewrites.
    pub policy: &'a dyn Policy,
    /// The run's formatter, so scored contexts are what the trained model sees.
    pub formatter: &'a dyn Formatter,
    /// Seed for this repository.
    pub seed: u64,
}

impl std::fmt::Debug for SearchContext<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SearchContext")
            .field("repo", &self.repo.snapshot.name)
            .field("seed", &self.seed)
            .finish()
    }
}

/// At most how a search asks the policy for rewrites ([`SearchStrategy::rewrite_bound`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RewriteBound {
    /// `propose_rewrites` calls per searched thought (rounds).
    pub calls_per_thought: u32,
    /// Rewrites asked per call.
    pub candidates: usize,
    /// Every thought of an episode is searched, not only the one before its Write.
    pub all_thoughts: bool,
    /// Calls per repository at most (0: no cap).
    pub max_calls: u64,
}

/// Improves the Think steps of a trajectory under a scorer (docs/method.md step 5).
///
/// Contract: only Think texts change; every Read observation and Write body stays
/// byte-identical. Returns the record of what was tried (every candidate, its
/// score, the decision), or `None` when the strategy does nothing (`none`).
#[async_trait::async_trait]
pub trait SearchStrategy: Send + Sync {
    /// Whether the strategy rewrites thoughts (and so needs a policy to
    /// propose and an agent format to score what the model sees). Default true.
    fn rewrites_thoughts(&self) -> bool {
        true
    }

    /// At most how the strategy asks the policy for rewrites, for
    /// `run --estimate`; `None` (the default) when it never does.
    fn rewrite_bound(&self) -> Option<RewriteBound> {
        None
    }

    /// Rewrites `trajectory` in place.
    async fn search(
        &self,
        trajectory: &mut Trajectory,
        context: SearchContext<'_>,
    ) -> Result<Option<SearchRecord>, StageError>;
}
