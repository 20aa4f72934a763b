//! repo2agent-trainer: the burn trainer that continues pretraining a
//! Llama-architecture model on repo2agent's shards (PAPER.md step 8).
//!
//! Not built yet: this crate is deliberately empty and exports nothing. It will
//! own the model, the shard data loader, the training loop, checkpoints and
//! evaluation, with burn backends behind cargo features, and depend on the core
//! only for the shard reader. Nothing in the CLI calls it until then.
