use crate::error::StageError;
pub use repo2agent_plugin_types::{ScoreRequest, TargetScore};

/// Measures how likely a target is after a context, under some model
/// (docs/method.md step 5: the scorer of log p(x | z)).
///
/// Contract: `score` returns exactly one [`TargetScore`] per request, in order,
/// counting only the target's tokens (the context is conditioned on, not scored).
/// It is batched so a model can score many pairs per call; an error fails the
/// whole batch and the caller decides whether to retry. A model served over
/// HTTP awaits its answers; a model in process computes inline.
#[async_trait::async_trait]
pub trait Scorer: Send + Sync {
    /// Scores a batch of requests.
    async fn score(&self, batch: &[ScoreRequest]) -> Result<Vec<TargetScore>, StageError>;

    /// What identifies this scorer's numbers (model file, tokenizer,
    /// truncation …), so scores can be cached by content across runs. `None`
    /// (the default) means scores are not cached.
    fn fingerprint(&self) -> Option<String> {
        None
    }
}
