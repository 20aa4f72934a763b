//! repo2agent-trainer: the burn trainer that continues pretraining a
//! Llama-architecture model on repo2agent's shards (docs/method.md step 8).
//!
//! - [`data`]: training examples from the MDS shards (targets inside documents,
//!   loss weights of predicted tokens, positions restarting per document,
//!   document ids for the block-diagonal causal mask) and a seeded, resumable
//!   epoch order;
//! - [`model`]: the Llama architecture (RMSNorm, HF rotate-half RoPE with
//!   Llama-3 scaling, grouped-query attention, SwiGLU, tied or untied output);
//!   [`attention`]: the naive reference and the memory-efficient chunked
//!   attention with its own backward pass; [`rms_norm`], [`rope`] and
//!   [`swiglu`]: RMSNorm, the rotary embedding and the MLP's gating as ops of
//!   their own; on the `flex` (CPU) backend these and the tiled loss run as
//!   kernels on host memory (vectorised `exp`, `gemm` on slices);
//! - [`params`], [`weights`], [`gguf`]: parameters by HF name, safetensors in and
//!   out, GGUF reading and dequantization, seeded init;
//! - [`loss`], [`optim`], [`schedule`]: weighted cross-entropy normalised by the
//!   global batch, AdamW with decay exclusions and global-norm clipping,
//!   warmup + cosine;
//! - [`config`], [`device`], [`train`], [`plot`]: `TRAIN.toml`, the device by
//!   name, the loop with checkpoints/resume/eval/metrics, `loss.png`;
//! - [`hf_config`]: shapes from presets or a Hugging Face `config.json`;
//! - [`heldout`]: evaluation on held-out repositories (code NLL in dependency
//!   order, cross-file NLL, retrieval probes) for the paper's ablations;
//!   [`ablation`]: the ablation itself (held-out split, one corpus per
//!   variant, the same training on each, the evaluation, the table).
//!
//! See docs/training.md.

pub mod ablation;
pub mod attention;
pub mod config;
pub mod data;
pub mod device;
pub mod gguf;
pub mod gguf_tokenizer;
pub mod heldout;
pub mod hf_config;
mod host;
pub mod loss;
pub mod model;
pub mod optim;
pub mod params;
pub mod plot;
pub mod rms_norm;
pub mod rope;
pub mod schedule;
pub mod swiglu;
#[cfg(test)]
mod test_util;
pub mod train;
pub mod weights;
