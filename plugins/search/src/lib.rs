//! Built-in search strategies (docs/method.md step 5): `none` leaves the trajectory
//! as the policy wrote it (the Repo2Agent variant); `greedy-rewrite` (the
//! paper's Repo2Agent-Search), `best-of-n` and `importance` rewrite thoughts
//! under a scorer. Every scored strategy scores what the trained model will see
//! (the run's own format of the trajectory, `repo2agent_core::score::document`),
//! caches every score by content and stops at its per-repository budgets
//! (`repo2agent_core::score::meter`).

mod best_of_n;
mod greedy;
mod importance;
mod options;

pub use best_of_n::BestOfN;
pub use greedy::GreedyRewrite;
pub use importance::{Importance, resample};
pub use options::{Options, ScoredSearchConfig};

use repo2agent_core::StageError;
use repo2agent_core::model::{SearchRecord, Trajectory};
use repo2agent_core::registry::{Origin, Registry, RegistryError};
use repo2agent_core::stage::{SearchContext, SearchStrategy};
use serde::Deserialize;
use std::sync::Arc;

/// Config of the `none` strategy: it has no options.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoSearchConfig {}

/// Leaves every Think step unchanged and records nothing.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoSearch;

#[async_trait::async_trait]
impl SearchStrategy for NoSearch {
    fn rewrites_thoughts(&self) -> bool {
        false
    }

    async fn search(
        &self,
        _trajectory: &mut Trajectory,
        _context: SearchContext<'_>,
    ) -> Result<Option<SearchRecord>, StageError> {
        Ok(None)
    }
}

/// Registers the built-in strategies.
pub fn register(registry: &mut Registry) -> Result<(), RegistryError> {
    let origin = Origin::BuiltIn("repo2agent-search");
    registry.register::<dyn SearchStrategy, NoSearchConfig, _>(
        "none",
        origin.clone(),
        "no search: thoughts stay as the policy wrote them",
        |_, _| Ok(Arc::new(NoSearch) as Arc<dyn SearchStrategy>),
    )?;
    registry.register::<dyn SearchStrategy, ScoredSearchConfig, _>(
        "greedy-rewrite",
        origin.clone(),
        "the paper's search: R rounds of K rewrites per thought, kept only if the real code gets likelier",
        |c, ctx| {
            let options = Options::build(c, ctx, 2, Some(3))?;
            Ok(Arc::new(GreedyRewrite { options }) as Arc<dyn SearchStrategy>)
        },
    )?;
    registry.register::<dyn SearchStrategy, ScoredSearchConfig, _>(
        "best-of-n",
        origin.clone(),
        "N rewrites once per thought; the best kept if it beats the initial thought",
        |c, ctx| {
            let options = Options::build(c, ctx, 4, None)?;
            Ok(Arc::new(BestOfN { options }) as Arc<dyn SearchStrategy>)
        },
    )?;
    registry.register::<dyn SearchStrategy, ScoredSearchConfig, _>(
        "importance",
        origin,
        "BoLT-style: N rewrites weighted by p(thought, code), one resampled",
        |c, ctx| {
            let options = Options::build(c, ctx, 4, None)?;
            Ok(Arc::new(Importance { options }) as Arc<dyn SearchStrategy>)
        },
    )
}
