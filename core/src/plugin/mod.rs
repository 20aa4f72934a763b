//! The plugin machinery: the [`registry`] of components by kind and name, the
//! host of dynamic plugins ([`dylib`]), and what a factory reads and reports —
//! a config [`Section`] with its spans, [`Problem`]s with their lines, the
//! [`BuildContext`]. Config reading ([`crate::config`]) builds on it; nothing
//! here reads a run config.

mod document;
pub mod dylib;
mod problem;
pub mod registry;
mod section;

pub use document::{deserialize_document, parse_document};
pub use problem::{ConfigError, Problem, SourceText};
pub use section::{BuildContext, Section, config_dir, current_dir, missing_file, resolve_path};
