//! repo2agent-plugin-types: the data a plugin exchanges with repo2agent, as
//! the host itself defines it (the host's `repo2agent_core` re-exports these
//! types; there is no second copy to drift).
//!
//! Light on purpose (serde only), so a plugin built as a shared library with
//! `repo2agent-plugin-abi` can use the same types the host does:
//!
//! - every plugin: the [`Manifest`] its `manifest` entry returns;
//! - analyzer: `describe` → [`LanguageSpec`]; `outline` ([`SourceFile`] in) →
//!   [`FileOutline`] ([`Symbol`], [`SymbolKind`], [`TextSpan`], [`Import`],
//!   [`Reference`]);
//! - scorer: `score` (`[ScoreRequest]` in) → `[TargetScore]`;
//! - formatter: `format` → `[Segment]`, each with its [`Role`];
//! - masker: the `mask` entry gets [`Role`] ids (`Role::id`, frozen) and
//!   returns a weight per token.
//!
//! Everything crosses the boundary as JSON (serde) except the masker's ids and
//! weights.

mod file;
mod manifest;
mod outline;
mod role;
mod score;

pub use file::{FileId, LanguageSpec, SourceFile};
pub use manifest::{Manifest, ManifestComponent};
pub use outline::{FileOutline, Import, Reference, ReferenceKind, Symbol, SymbolKind, TextSpan};
pub use role::{Role, Segment};
pub use score::{ScoreRequest, TargetScore};
