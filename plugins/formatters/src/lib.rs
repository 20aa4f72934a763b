//! Built-in formatters (docs/method.md step 6): `agent` flattens a trajectory into
//! one sequence of (text, role) segments following the serialization spec in
//! `docs/serialization.md`; `raw-repos` renders the Raw-Repos baseline, the
//! repository's files in dependency order with path headers.

mod agent;
mod raw_repos;

pub use agent::{AgentFormatter, AgentFormatterConfig, SPECIAL_TOKENS};
pub use raw_repos::{RawReposConfig, RawReposFormatter, RawStyle};

use repo2agent_core::registry::{Origin, Registry, RegistryError};
use repo2agent_core::stage::Formatter;
use std::sync::Arc;

const CRATE: &str = "repo2agent-formatters";

/// Registers `agent` and `raw-repos`.
pub fn register(registry: &mut Registry) -> Result<(), RegistryError> {
    registry.register::<dyn Formatter, AgentFormatterConfig, _>(
        "agent",
        Origin::BuiltIn(CRATE),
        "a trajectory as one sequence (docs/serialization.md)",
        |c, _| Ok(Arc::new(AgentFormatter::new(c)) as Arc<dyn Formatter>),
    )?;
    registry.register::<dyn Formatter, RawReposConfig, _>(
        "raw-repos",
        Origin::BuiltIn(CRATE),
        "the Raw-Repos baseline: files in dependency order with path headers",
        |c, _| Ok(Arc::new(RawReposFormatter::new(c)) as Arc<dyn Formatter>),
    )
}
