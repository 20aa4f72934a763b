//! Built-in search strategies (PAPER.md step 5). So far: `none`, which leaves
//! the trajectory as the policy wrote it (the Repo2Agent variant). The scored
//! strategies (`greedy-rewrite`, `best-of-n`, `importance`) arrive with the
//! scorers.

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
    registry.register::<dyn SearchStrategy, NoSearchConfig, _>(
        "none",
        Origin::BuiltIn("repo2agent-search"),
        "no search: thoughts stay as the policy wrote them",
        |_, _| Ok(Arc::new(NoSearch) as Arc<dyn SearchStrategy>),
    )
}
