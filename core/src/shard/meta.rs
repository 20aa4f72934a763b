//! `repo2agent.json`: what a reader of the shards needs besides `index.json`
//! (vocabulary size for the trainer's embedding, special ids, roles, packing).

use super::ShardError;
use super::pack::{LastSequence, PackStats};
use crate::model::Role;
use crate::stage::TokenizerInfo;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// The description written beside `index.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DatasetMeta {
    /// `"repo2agent-mds"`.
    pub format: String,
    /// Layout version (1).
    pub version: u32,
    /// Tokens per sequence.
    pub seq_len: u32,
    /// The end-of-input packing policy used.
    pub last: LastSequence,
    /// Open sequences the packer filled best-fit.
    pub pack_window: usize,
    /// The tokenizer (saved beside as `tokenizer.json`).
    pub tokenizer: TokenizerInfo,
    /// Role name → id in the `roles` column (`pad` is padding).
    pub roles: BTreeMap<String, u8>,
    /// The masker's `type` and its weight per role (probed with one token of each role).
    pub masker: String,
    /// Loss weight per role name as the masker gave it.
    pub role_weights: BTreeMap<String, f32>,
    /// Whether samples carry a `weight` column (weights other than 0 and 1).
    pub weight_column: bool,
    /// The run's seed (document order).
    pub seed: u64,
    /// Samples (sequences) written.
    pub samples: u64,
    /// The packing counters.
    pub stats: PackStats,
}

impl DatasetMeta {
    /// Role name → id, with `pad`.
    pub fn role_table() -> BTreeMap<String, u8> {
        let mut m: BTreeMap<String, u8> = Role::ALL.iter().map(|r| (r.name().to_owned(), r.id())).collect();
        m.insert("pad".into(), super::PAD_ROLE);
        m
    }

    /// Reads `dir/repo2agent.json`.
    pub fn read(dir: &Path) -> Result<Self, ShardError> {
        let path = dir.join(super::META_FILE);
        let text = std::fs::read_to_string(&path).map_err(ShardError::io(&path))?;
        serde_json::from_str(&text).map_err(|e| ShardError::format(&path, e.to_string()))
    }

    /// Writes `dir/repo2agent.json` atomically.
    pub fn write(&self, dir: &Path) -> Result<(), ShardError> {
        let path = dir.join(super::META_FILE);
        let json = serde_json::to_vec_pretty(self).map_err(|e| ShardError::format(&path, e.to_string()))?;
        crate::output::write_atomic(&path, &json).map_err(|e| ShardError::format(&path, e.to_string()))
    }
}
