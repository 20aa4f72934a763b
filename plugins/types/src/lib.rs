//! repo2agent-plugin-types: the data a plugin exchanges with repo2agent, as
//! the host itself defines it (the host's `repo2agent_core` re-exports these
//! types; there is no second copy to drift).
//!
//! Light on purpose (serde and serde_json only), so a plugin built as a shared library with
//! `repo2agent-plugin-abi` can use the same types the host does:
//!
//! - every plugin: the [`Manifest`] its `manifest` entry returns;
//! - analyzer: `describe` → [`LanguageSpec`]; `outline` ([`SourceFile`] in) →
//!   [`FileOutline`] ([`Symbol`], [`SymbolKind`], [`TextSpan`], [`Import`],
//!   [`Reference`]);
//! - scorer: `score` (`[ScoreRequest]` in) → `[TargetScore]`;
//! - formatter: `describe` → `{"needs_trajectory": bool}`; `format`
//!   ([`FormatDocument`] in: the [`RepoSnapshot`], the order, the
//!   [`Trajectory`] for agent formats) → `[Segment]`, each with its [`Role`];
//! - masker: the `mask` entry gets [`Role`] ids (`Role::id`, frozen) and
//!   returns a weight per token.
//!
//! Everything crosses the boundary as JSON (serde) except the masker's ids and
//! weights.

mod evaluation;
mod file;
mod format;
mod manifest;
mod outline;
mod plan;
mod role;
mod score;
mod snapshot;
mod trajectory;

pub use evaluation::{EvaluationRecord, EvaluationUsage, FileValue};
pub use file::{FileId, LanguageSpec, SourceFile};
pub use format::FormatDocument;
pub use manifest::{Manifest, ManifestComponent};
pub use outline::{FileOutline, Import, Reference, ReferenceKind, Symbol, SymbolKind, TextSpan};
pub use plan::{Plan, PlanStep};
pub use role::{Role, Segment};
pub use score::{ScoreRequest, TargetScore};
pub use snapshot::{RepoSnapshot, Sibling, Workspace};
pub use trajectory::{
    AgentId, Candidate, Episode, SearchRecord, SearchUsage, Step, StepKind, ThinkSearch, ToolCall, Trajectory,
};
