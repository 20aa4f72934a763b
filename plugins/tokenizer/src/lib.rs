//! Tokenizers of repo2agent (docs/method.md step 6): `hf` loads a Hugging Face
//! `tokenizer.json` (the Llama 3 one, SmolLM2's, any byte-level BPE), `bpe`
//! trains a byte-level BPE on the run's own corpus when no tokenizer is given.
//!
//! Both add the serialization spec's special tokens as indivisible special
//! tokens. Packing and shards live in the core; this crate only turns text into
//! ids and back.

mod bpe;
mod encoder;
mod fast;
mod hf;
mod pretokenize;

pub use bpe::{BpeTokenizer, BpeTokenizerConfig};
pub use encoder::HfEncoder;
pub use hf::{HfTokenizer, HfTokenizerConfig};

use repo2agent_core::registry::{Origin, Registry, RegistryError};
use repo2agent_core::stage::Tokenizer;
use std::sync::Arc;

const CRATE: &str = "repo2agent-tokenizer";

/// Registers `hf` and `bpe`.
pub fn register(registry: &mut Registry) -> Result<(), RegistryError> {
    registry.register::<dyn Tokenizer, HfTokenizerConfig, _>(
        "hf",
        Origin::BuiltIn(CRATE),
        "a Hugging Face tokenizer.json (Llama 3, Qwen, SmolLM2 …) with the spec's special tokens added",
        |mut c, ctx| {
            c.path = ctx.resolve_path(&c.path);
            HfTokenizer::new(c).map(|t| Arc::new(t) as Arc<dyn Tokenizer>)
        },
    )?;
    registry.register::<dyn Tokenizer, BpeTokenizerConfig, _>(
        "bpe",
        Origin::BuiltIn(CRATE),
        "a byte-level BPE trained on the run's own corpus (the default when no tokenizer is configured)",
        |c, _| BpeTokenizer::new(c).map(|t| Arc::new(t) as Arc<dyn Tokenizer>),
    )
}

/// Loads a `tokenizer.json` saved beside shards (by [`repo2agent_core::stage::TokenEncoder::to_json`])
/// for decoding; special ids are read from the shards' `repo2agent.json`.
pub fn load_saved(path: &std::path::Path, info: repo2agent_core::stage::TokenizerInfo) -> Result<HfEncoder, String> {
    let t = tokenizers::Tokenizer::from_file(path).map_err(|e| format!("cannot load {}: {e}", path.display()))?;
    Ok(HfEncoder::new(t, info))
}

/// [`load_saved`], encoding through the fast path where the tokenizer allows
/// it (the same ids, docs/shards.md).
pub fn load_saved_fast(
    path: &std::path::Path,
    info: repo2agent_core::stage::TokenizerInfo,
) -> Result<HfEncoder, String> {
    let t = tokenizers::Tokenizer::from_file(path).map_err(|e| format!("cannot load {}: {e}", path.display()))?;
    Ok(HfEncoder::with_fast_path(t, info))
}
