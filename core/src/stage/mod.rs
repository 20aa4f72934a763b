//! The stage traits: one per plugin kind (see docs/architecture.md, "Stage plugins").
//!
//! Synchronous kinds (analyzer, scorer, formatter, masker; not the tokenizer) can also come from a
//! dynamic library (see [`crate::dylib`]); the async kinds (policy, search) are
//! built in only, because nothing async crosses the plugin boundary.

mod analyzer;
mod formatter;
mod masker;
mod policy;
mod scorer;
mod search;
mod tokenizer;

pub use analyzer::{Analyzer, ImportResolver, LanguageSpec, PathResolver, normalize_join, resolve_path_import};
pub use formatter::{FormatInput, Formatter};
pub use masker::Masker;
pub use policy::{Policy, RepoContext, ThinkPhase, ThinkRequest};
pub use scorer::{ScoreRequest, Scorer, TargetScore};
pub use search::{RewriteBound, SearchContext, SearchStrategy};
pub use tokenizer::{TextPiece, TokenEncoder, Tokenizer, TokenizerInfo};

macro_rules! opaque_debug {
    ($($t:ident),*) => {$(
        impl std::fmt::Debug for dyn $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(concat!("dyn ", stringify!($t)))
            }
        }
    )*};
}

opaque_debug!(
    Analyzer,
    Formatter,
    Masker,
    Policy,
    Scorer,
    SearchStrategy,
    Tokenizer,
    TokenEncoder
);
