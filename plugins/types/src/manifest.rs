//! The manifest a plugin library returns from its `manifest` entry:
//!
//! ```json
//! {"name": "shell-analyzer", "version": "0.1.0",
//!  "components": [{"kind": "analyzer", "type": "shell", "summary": "…"}]}
//! ```
//!
//! `kind` is one of `analyzer`, `scorer`, `formatter`, `masker`.

use serde::{Deserialize, Serialize};

/// One component a plugin offers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManifestComponent {
    /// Kind name.
    pub kind: String,
    /// The `type` string that selects it.
    #[serde(rename = "type")]
    pub type_name: String,
    /// One line saying what it does.
    #[serde(default)]
    pub summary: String,
}

/// A plugin's manifest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Plugin name.
    pub name: String,
    /// Plugin version.
    #[serde(default)]
    pub version: String,
    /// Components offered.
    pub components: Vec<ManifestComponent>,
}
