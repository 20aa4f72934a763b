use crate::trajectory::AgentId;
use serde::{Deserialize, Serialize};

/// What the thoughts before one written file are worth (docs/method.md,
/// "Thought value"): the real code's NLL after the trajectory with its
/// thoughts, and after the same trajectory with every thought removed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FileValue {
    /// The sub-agent that wrote the file.
    pub agent: AgentId,
    /// The file.
    pub path: String,
    /// Its language (`other` when none was detected).
    pub language: String,
    /// Tokens of the code scored (the first `target_chars` of the file).
    pub code_tokens: u64,
    /// NLL of the code (nats, summed) after the trajectory without thoughts.
    pub nll_without: f64,
    /// NLL of the code after the policy's thoughts (before any search).
    pub nll_with: f64,
    /// NLL of the code after the thoughts the search kept (when a search ran).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nll_after_search: Option<f64>,
}

impl FileValue {
    /// Thought value of the policy's thoughts, nats per code token
    /// (positive: the thoughts make the real code more likely).
    pub fn value_per_token(&self) -> f64 {
        per_token(self.nll_without - self.nll_with, self.code_tokens)
    }

    /// Thought value after search, nats per code token (the policy's
    /// thoughts when no search ran).
    pub fn value_after_search_per_token(&self) -> f64 {
        per_token(
            self.nll_without - self.nll_after_search.unwrap_or(self.nll_with),
            self.code_tokens,
        )
    }
}

fn per_token(nats: f64, tokens: u64) -> f64 {
    if tokens == 0 { 0.0 } else { nats / tokens as f64 }
}

/// What an evaluation cost for one repository.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EvaluationUsage {
    /// Written files with code to score.
    pub files_eligible: u64,
    /// Scorer requests answered by the model.
    pub scorer_calls: u64,
    /// Scorer requests answered from the cache (this repository's or on disk).
    pub scorer_cache_hits: u64,
    /// Tokens scored (context + target), cached answers included: the budget's unit.
    pub scorer_tokens: u64,
    /// Whether the budget stopped the evaluation before every file was scored.
    pub budget_exhausted: bool,
}

/// The thought value of one trajectory, file by file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EvaluationRecord {
    /// The `[scorers.NAME]` that scored.
    pub scorer: String,
    /// One entry per file scored, in trajectory order.
    pub files: Vec<FileValue>,
    /// Calls, tokens and budget.
    #[serde(default)]
    pub usage: EvaluationUsage,
}
