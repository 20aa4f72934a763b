//! The plain (non-component) sections of a run config.

use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use toml::Spanned;

/// `[run]`: settings of the whole run.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunSection {
    /// Seed for every random choice (document order, template wording …). Default 0.
    #[serde(default)]
    pub seed: u64,
    /// Which `[policies.NAME]` drives the agents. Default: the only one declared.
    #[serde(default)]
    pub policy: Option<Spanned<String>>,
    /// Process repositories (hence documents) in an order shuffled with `seed`
    /// instead of input order. Default true.
    #[serde(default = "default_true")]
    pub shuffle: bool,
    /// Repositories processed at once, each on its own thread (ingest →
    /// format); `0` (the default): one per CPU core. Output is the same for
    /// any value.
    #[serde(default)]
    pub workers: usize,
}

impl Default for RunSection {
    fn default() -> Self {
        Self {
            seed: 0,
            policy: None,
            shuffle: true,
            workers: 0,
        }
    }
}

/// `[output]`: where results go.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutputConfig {
    /// Output directory (created if missing). Relative to the config file. Default `out`.
    #[serde(default = "OutputConfig::default_dir")]
    pub dir: PathBuf,
    /// Tokenize, mask, pack and write MDS shards to `DIR/shards` (when a
    /// formatter is configured). Default true.
    #[serde(default = "default_true")]
    pub shards: bool,
    /// Tokens per packed sequence. Default 65,536.
    #[serde(default = "OutputConfig::default_seq_len")]
    pub seq_len: u32,
    /// Size limit of one shard file in bytes (MDS's `size_limit`). Default 67,108,864.
    #[serde(default = "OutputConfig::default_shard_size_limit")]
    pub shard_size_limit: u64,
    /// How shard files are stored: `none`, `zstd` or `zstd:LEVEL` (MDS's
    /// `compression`). Default `zstd` (level 3).
    #[serde(default = "OutputConfig::default_compression")]
    pub shard_compression: crate::shard::Compression,
    /// `trajectories.jsonl` as is (`none`), or `trajectories.jsonl.zst`
    /// (`zstd`, `zstd:LEVEL`). Default `zstd` (level 3).
    #[serde(default = "OutputConfig::default_compression")]
    pub trajectories_compression: crate::shard::Compression,
    /// Sequences kept open and filled best-fit; memory is this many × `seq_len`
    /// tokens. Default 8.
    #[serde(default = "OutputConfig::default_pack_window")]
    pub pack_window: usize,
    /// The sequences still open at the end: `pad` (to `seq_len` with zero-weight
    /// pad tokens) or `short` (written shorter). Default `pad`.
    #[serde(default)]
    pub last_sequence: crate::shard::LastSequence,
}

impl OutputConfig {
    fn default_dir() -> PathBuf {
        PathBuf::from("out")
    }
    fn default_seq_len() -> u32 {
        65_536
    }
    fn default_shard_size_limit() -> u64 {
        crate::shard::mds::DEFAULT_SIZE_LIMIT
    }
    fn default_pack_window() -> usize {
        8
    }
    fn default_compression() -> crate::shard::Compression {
        crate::shard::Compression::Zstd(None)
    }

    /// Problems with the values (ranges).
    pub fn check(&self) -> Vec<String> {
        let mut p = Vec::new();
        if self.seq_len < 2 {
            p.push(format!("output.seq_len must be at least 2, got {}", self.seq_len));
        }
        if self.pack_window == 0 {
            p.push("output.pack_window must be at least 1".to_owned());
        }
        if self.shard_size_limit < 1024 {
            p.push(format!(
                "output.shard_size_limit must be at least 1024 bytes, got {}",
                self.shard_size_limit
            ));
        }
        p
    }
}

impl Default for OutputConfig {
    fn default() -> Self {
        OutputConfig {
            dir: Self::default_dir(),
            shards: true,
            seq_len: Self::default_seq_len(),
            shard_size_limit: Self::default_shard_size_limit(),
            shard_compression: Self::default_compression(),
            trajectories_compression: Self::default_compression(),
            pack_window: Self::default_pack_window(),
            last_sequence: Default::default(),
        }
    }
}

/// `[plugins]`: shared libraries to load before components are resolved.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PluginsSection {
    /// Paths of plugin libraries (`.so` / `.dylib` / `.dll`), relative to the config file.
    #[serde(default)]
    pub libraries: Vec<Spanned<String>>,
}

fn default_true() -> bool {
    true
}
