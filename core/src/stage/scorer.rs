use crate::error::StageError;
use serde::{Deserialize, Serialize};

/// One (context, target) pair to score.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScoreRequest {
    /// Text the model conditions on.
    pub context: String,
    /// Text whose likelihood is measured (the real code).
    pub target: String,
}

/// The negative log-likelihood of a target's tokens, in nats.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TargetScore {
    /// NLL of each target token, in order.
    pub token_nll: Vec<f64>,
    /// Context tokens the model conditioned on (after any truncation), so
    /// callers can account for the cost of a call.
    #[serde(default)]
    pub context_tokens: u64,
}

impl TargetScore {
    /// Summed NLL.
    pub fn sum(&self) -> f64 {
        self.token_nll.iter().sum()
    }

    /// Mean NLL per token (0 for an empty target).
    pub fn mean(&self) -> f64 {
        if self.token_nll.is_empty() {
            0.0
        } else {
            self.sum() / self.token_nll.len() as f64
        }
    }
}

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
