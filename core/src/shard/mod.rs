//! The token side of a run (docs/method.md steps 6–7, docs/architecture.md "On disk"):
//! segments → tokens with a role each ([`tokens`]), packed into fixed-length
//! sequences with document boundaries ([`pack`]), written as MosaicML MDS shards
//! in ProLong's column layout ([`mds`]) with a `repo2agent.json` beside them
//! ([`meta`]); [`megatron`] exports them as Megatron `.bin/.idx`.
//!
//! Columns of every sample (one packed sequence):
//!
//! | column | MDS encoding | what |
//! |---|---|---|
//! | `input_ids` | `ndarray:uint32` | the tokens, `seq_len` of them (fewer only for a final `short` sequence) |
//! | `indices` | `ndarray:uint32`, shape (n, 2) | `[start, end)` of each document (or document chunk) |
//! | `mask` | `ndarray:uint8` | 1 where the loss weight is > 0, else 0 (padding 0) |
//! | `roles` | `ndarray:uint8` | the [`Role`](crate::model::Role) id of each token; [`PAD_ROLE`] for padding |
//! | `length` | `int` | real (non-padding) tokens; padding fills `[length, len(input_ids))` |
//! | `weight` | `ndarray:float32` | per-token loss weight; only when the masker gives weights other than 0 and 1 |

pub mod mds;
pub mod megatron;
pub mod meta;
pub mod pack;
pub mod sink;
pub mod tokens;

pub use mds::{Compression, MdsReader, MdsWriter};
pub use meta::DatasetMeta;
pub use pack::{LastSequence, PackConfig, PackStats, Packer, Piece, Sequence, Weights};
pub use sink::{Prepared, Preparer, Preparing, ShardReport, ShardSink, SinkConfig, SinkError};
pub use tokens::{DocTokenizer, TokenRun, TokenizedDoc, tokenize};

/// The `roles` value of padding tokens (never a [`Role`](crate::model::Role) id).
pub const PAD_ROLE: u8 = 255;

/// The file beside `index.json` that describes the dataset.
pub const META_FILE: &str = "repo2agent.json";

/// The tokenizer saved beside the shards.
pub const TOKENIZER_FILE: &str = "tokenizer.json";

/// A shard could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum ShardError {
    /// An I/O error on a path.
    #[error("{path}: {source}")]
    Io {
        /// Which file.
        path: std::path::PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A file is not what the format says it should be.
    #[error("{path}: {message}")]
    Format {
        /// Which file.
        path: std::path::PathBuf,
        /// What is wrong.
        message: String,
    },
}

impl ShardError {
    pub(crate) fn io(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> ShardError + '_ {
        move |source| ShardError::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    pub(crate) fn format(path: &std::path::Path, message: impl Into<String>) -> ShardError {
        ShardError::Format {
            path: path.to_path_buf(),
            message: message.into(),
        }
    }
}
