//! The data that flows through the pipeline (see docs/architecture.md, "What flows
//! through it"): snapshot → analysis → plan → trajectory → segments.
//!
//! Everything here is plain data with serde; collections that reach disk are
//! ordered (vectors or `BTreeMap`) so output is deterministic.

mod analysis;
mod evaluation;
mod plan;
mod snapshot;
mod trajectory;

pub use analysis::{Analysis, DependencyGraph, FileTree, ImportSite, ImportTarget};
pub use evaluation::{EvaluationRecord, EvaluationUsage, FileValue};
pub use plan::{Plan, PlanStep};
pub use snapshot::{RepoSnapshot, Sibling, Workspace};
// The types a plugin exchanges with the host live in the plugin types crate,
// so plugin authors use the same definitions.
pub use repo2agent_plugin_types::{
    FileId, FileOutline, Import, Reference, ReferenceKind, Role, Segment, SourceFile, Symbol, SymbolKind, TextSpan,
};
pub use trajectory::{
    AgentId, Candidate, Episode, SearchRecord, SearchUsage, Step, StepKind, ThinkSearch, ToolCall, Trajectory,
};
