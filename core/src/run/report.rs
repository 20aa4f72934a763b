//! How a run ends: what it produced ([`RunReport`]) or why it stopped
//! ([`PipelineError`]); shared by the runner, the assembler and `merge`.

use crate::output::OutputError;
use crate::stats::RunStats;
use std::path::{Path, PathBuf};

/// The run could not write its outputs.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// An output file or directory could not be written.
    #[error("cannot write {path}: {source}")]
    Write {
        /// What.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Shards could not be written.
    #[error("{0}")]
    Shard(#[from] crate::shard::ShardError),
    /// The tokenizer could not be prepared (trained or given its special tokens).
    #[error("tokenizer: {0}")]
    Tokenizer(crate::StageError),
    /// A unit of an earlier run or of a part to merge cannot be read.
    #[error("{0}")]
    Unit(#[from] crate::run::units::UnitError),
    /// The output directory holds work this run cannot reuse, or parts do not fit together.
    #[error("{0}")]
    Mismatch(String),
    /// The workers ended before every repository was processed (a bug).
    #[error("the workers stopped before every repository was processed")]
    WorkersStopped,
}

impl PipelineError {
    /// For `map_err`: an I/O (or serialization) error on `path`.
    pub(crate) fn io<E: Into<std::io::Error>>(path: &Path) -> impl FnOnce(E) -> PipelineError + '_ {
        move |e| PipelineError::Write {
            path: path.to_path_buf(),
            source: e.into(),
        }
    }
}

/// What a finished run produced.
#[derive(Debug)]
pub struct RunReport {
    /// The counters (also in `stats.json`).
    pub stats: RunStats,
    /// Where `stats.json` was written.
    pub stats_path: PathBuf,
    /// Where `trajectories.jsonl` was written, when a policy ran.
    pub trajectories_path: Option<PathBuf>,
    /// The shard directory, when shards were written.
    pub shards_dir: Option<PathBuf>,
    /// Where `manifest.jsonl` was written.
    pub manifest_path: PathBuf,
    /// Repositories reused from an interrupted run (`resume`).
    pub resumed: u64,
}

impl From<OutputError> for PipelineError {
    fn from(e: OutputError) -> Self {
        PipelineError::Write {
            path: e.path,
            source: e.source,
        }
    }
}
