//! Built-in scorers (docs/method.md step 5: the model whose log p(x | z) the search
//! maximises). So far: `burn`, the trainer's Llama.

pub mod burn_scorer;

use std::sync::Arc;

use repo2agent_core::registry::{Origin, Registry, RegistryError};
use repo2agent_core::stage::Scorer;

pub use burn_scorer::{BurnScorer, BurnScorerConfig};

/// Registers the built-in scorers.
pub fn register(registry: &mut Registry) -> Result<(), RegistryError> {
    registry.register::<dyn Scorer, BurnScorerConfig, _>(
        "burn",
        Origin::BuiltIn("repo2agent-scorers"),
        "the trainer's Llama (GGUF, HF safetensors or a checkpoint) scores targets offline",
        |mut cfg, ctx| {
            cfg.model = ctx.resolve_path(&cfg.model);
            cfg.tokenizer = cfg.tokenizer.map(|t| ctx.resolve_path(t));
            let scorer = BurnScorer::load(cfg).map_err(repo2agent_core::config::Problem::new)?;
            Ok(Arc::new(scorer) as Arc<dyn Scorer>)
        },
    )
}
