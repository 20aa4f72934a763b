//! repo2agent-core: the light centre of repo2agent.
//!
//! Owns the data model ([`model`]), the stage traits ([`stage`]), the plugin
//! machinery ([`plugin`]: the component [`registry`], the dynamic plugin host
//! [`dylib`], config sections and problems), run configuration ([`config`]),
//! ingestion ([`ingest`]), the analysis stage ([`analyze`]) and the pipeline
//! runner ([`pipeline`]).
//!
//! It does not own any concrete analyzer, policy, scorer, formatter or masker
//! (those are plugin crates), and pulls no tree-sitter, HTTP client or burn.
//! See docs/architecture.md for the architecture.

pub mod analyze;
mod assemble;
pub mod cache;
pub mod config;
pub mod error;
pub mod estimate;
pub mod grounding;
pub mod ingest;
pub mod merge;
pub mod model;
pub mod order;
pub mod output;
pub mod partition;
pub mod pipeline;
pub mod plugin;
pub mod progress;
pub mod render;
pub mod report;
pub mod score;
pub mod shard;
pub mod simulate;
pub mod stage;
pub mod stats;
pub mod units;
mod worker;

pub use error::StageError;
pub use plugin::{dylib, registry};
pub use registry::{Kind, Origin, Registry};
