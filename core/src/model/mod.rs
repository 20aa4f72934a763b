//! The data that flows through the pipeline (see docs/architecture.md, "What flows
//! through it"): snapshot → analysis → plan → trajectory → segments.
//!
//! Everything here is plain data with serde; collections that reach disk are
//! ordered (vectors or `BTreeMap`) so output is deterministic.

mod analysis;
mod evaluation;
mod plan;
mod segment;
mod snapshot;
mod trajectory;

pub use analysis::{
    Analysis, DependencyGraph, FileOutline, FileTree, Import, ImportSite, ImportTarget, Reference, ReferenceKind,
    Symbol, SymbolKind, TextSpan,
};
pub use evaluation::{EvaluationRecord, EvaluationUsage, FileValue};
pub use plan::{Plan, PlanStep};
pub use segment::{Role, Segment};
pub use snapshot::{FileId, RepoSnapshot, Sibling, SourceFile, Workspace};
pub use trajectory::{
    AgentId, Candidate, Episode, SearchRecord, SearchUsage, Step, StepKind, ThinkSearch, ToolCall, Trajectory,
};
