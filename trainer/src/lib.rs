//! repo2agent-trainer: the burn trainer that continues pretraining a
//! Llama-architecture model on repo2agent's shards (PAPER.md step 8).
//!
//! Built so far: [`data`], the training examples read from the MDS shards
//! (targets inside documents, positions restarting per document, the
//! block-diagonal causal mask, loss weights of predicted tokens) and a seeded,
//! resumable epoch order. The model, loop, checkpoints and evaluation (burn,
//! backends behind features) are the rest of the trainer issue; nothing in the
//! CLI calls this crate yet. It depends on the core only for the shard reader.

pub mod data;
