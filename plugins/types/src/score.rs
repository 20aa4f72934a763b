//! What a scorer is asked (`score`'s input) and answers.

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
    /// Of those, the tokens whose keys and values the scorer did not compute
    /// for this request: a prefix shared with an earlier request (of the same
    /// batch or a recent one) was computed once and reused. `context_tokens +
    /// target tokens − reused_tokens` is what this request cost the model.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub reused_tokens: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl TargetScore {
    /// Tokens the model computed for this request (context and target, less
    /// the reused prefix).
    pub fn computed_tokens(&self) -> u64 {
        (self.context_tokens + self.token_nll.len() as u64).saturating_sub(self.reused_tokens)
    }

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
