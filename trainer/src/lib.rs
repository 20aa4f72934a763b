//! repo2agent-trainer: the burn trainer that continues pretraining a
//! Llama-architecture model on repo2agent's shards (PAPER.md step 8).
//!
//! Built so far (burn 0.22, CPU `flex` backend with autodiff):
//! - [`data`]: training examples from the MDS shards (targets inside documents,
//!   loss weights of predicted tokens, positions restarting per document, the
//!   block-diagonal causal mask) and a seeded, resumable epoch order;
//! - [`model`]: the Llama architecture (RMSNorm, HF rotate-half RoPE with
//!   per-token positions, grouped-query attention under the block-diagonal
//!   mask, SwiGLU, tied or untied output) with plain attention;
//! - [`loss`]: cross-entropy weighted per token and normalised by the global
//!   batch's total weight;
//! - [`hf_config`]: shapes from presets (`tiny`, `llama3-8b`) or a Hugging Face
//!   `config.json`; [`schedule`]: warmup + cosine learning rate.
//!
//! Still to come with the trainer issue: weight loading (HF safetensors, GGUF)
//! and the check against llama.cpp, GGUF metadata shapes, the optimiser and loop,
//! checkpoints and resume, evaluation, the wgpu/cuda features, memory-efficient
//! attention for 64k, benchmarks and `repo2agent train`. Nothing in the CLI
//! calls this crate yet. It depends on the core only for the shard reader.

pub mod attention;
pub mod data;
pub mod hf_config;
pub mod loss;
pub mod model;
pub mod schedule;
