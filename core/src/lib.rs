//! repo2agent-core: the light centre of repo2agent.
//!
//! Owns the data model ([`model`]), the stage traits ([`stage`]), the plugin
//! machinery ([`plugin`]: the component [`registry`], the dynamic plugin host
//! [`dylib`], config sections and problems), run configuration ([`config`]),
//! ingestion ([`ingest`]), the analysis stage ([`analyze`]), the
//! implementation order ([`order`]), the main agent's plan ([`plan`]), the
//! simulated development ([`simulate`]), the grounding check ([`grounding`]),
//! and the run machinery ([`run`]: pipeline, workers, units, merge).
//!
//! It does not own any concrete analyzer, policy, scorer, formatter or masker
//! (those are plugin crates), and pulls no tree-sitter, HTTP client or burn.
//! See docs/architecture.md for the architecture.

pub mod analyze;
pub mod cache;
pub mod config;
pub mod error;
pub mod grounding;
pub mod ingest;
pub mod model;
pub mod order;
pub mod output;
pub mod plan;
pub mod plugin;
pub mod render;
pub mod run;
pub mod score;
pub mod shard;
pub mod simulate;
pub mod stage;
pub mod stats;

pub use error::StageError;
pub use plugin::{dylib, registry};
pub use registry::{Kind, Origin, Registry};
