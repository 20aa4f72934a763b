//! The data that flows through the pipeline (see docs/architecture.md, "What flows
//! through it"): snapshot → analysis → plan → trajectory → segments.
//!
//! Everything here is plain data with serde; collections that reach disk are
//! ordered (vectors or `BTreeMap`) so output is deterministic.

mod analysis;

pub use analysis::{Analysis, DependencyGraph, FileTree, ImportSite, ImportTarget};
// The data a plugin can see (a file, its outline, a snapshot, a trajectory,
// segments) lives in the plugin types crate, so plugin authors use the same
// definitions; the analysis's graph (petgraph) stays here.
pub use repo2agent_plugin_types::{
    AgentId, Candidate, Episode, EvaluationRecord, EvaluationUsage, FileId, FileOutline, FileValue, Import, Plan,
    PlanStep, Reference, ReferenceKind, RepoSnapshot, Role, SearchRecord, SearchUsage, Segment, Sibling, SourceFile,
    Step, StepKind, Symbol, SymbolKind, TextSpan, ThinkSearch, ToolCall, Trajectory, Workspace,
};
