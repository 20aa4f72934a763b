//! Counters written to `stats.json`. Every skipped or failed item is counted
//! under a stable reason key, so nothing is lost silently.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Counters of the ingestion stage.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IngestStats {
    /// Repositories found in the inputs (after de-duplication).
    pub repos_seen: u64,
    /// Repositories left to other workers (`--shard K/N`).
    #[serde(default)]
    pub repos_other_shards: u64,
    /// Repositories with at least one file kept.
    pub repos_ingested: u64,
    /// Repositories with no file kept.
    pub repos_empty: u64,
    /// Inputs or repositories that could not be read, by reason.
    pub repos_failed: BTreeMap<String, u64>,
    /// Files kept.
    pub files_kept: u64,
    /// Bytes of text kept.
    pub bytes_kept: u64,
    /// Files kept, by detected language (`other` when none).
    pub files_by_language: BTreeMap<String, u64>,
    /// Files or directories skipped, by reason (a skipped directory counts once).
    pub skipped: BTreeMap<String, u64>,
}

impl IngestStats {
    /// Adds one skip.
    pub fn skip(&mut self, reason: &str) {
        *self.skipped.entry(reason.to_owned()).or_default() += 1;
    }

    /// Adds one failed repository or input.
    pub fn fail_repo(&mut self, reason: &str) {
        *self.repos_failed.entry(reason.to_owned()).or_default() += 1;
    }
}

/// Counters of one language in the analysis stage.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LanguageStats {
    /// Files outlined.
    pub files: u64,
    /// Symbols found, nested ones included.
    pub symbols: u64,
    /// Raw imports found.
    pub imports: u64,
    /// Imports resolved to files of the same repository.
    pub imports_resolved: u64,
    /// Imports of outside code (no edge).
    pub imports_external: u64,
    /// Local-looking imports that matched no file.
    pub imports_unresolved: u64,
}

/// Counters of the analysis stage.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnalysisStats {
    /// Per language.
    pub by_language: BTreeMap<String, LanguageStats>,
    /// Dependency edges across all repositories.
    pub edges: u64,
    /// Files whose outline failed, by reason.
    pub failed: BTreeMap<String, u64>,
}

/// Counters of the simulation (trajectory synthesis) stage.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimulationStats {
    /// Trajectories written.
    pub trajectories: u64,
    /// Sub-agent episodes (files implemented).
    pub sub_agents: u64,
    /// Read actions.
    pub reads: u64,
    /// Plan steps naming a file the repository does not have (dropped).
    pub plan_invented: u64,
    /// Plan steps naming a file twice (dropped).
    pub plan_duplicated: u64,
    /// Files the plan left out (appended in dependency order).
    pub plan_missing: u64,
    /// Reads of files not written yet or not real (dropped).
    pub reads_repaired: u64,
    /// Trajectories that failed the grounding check (not written), by reason.
    pub grounding_failures: BTreeMap<String, u64>,
    /// Repositories whose simulation failed, by reason.
    pub failed: BTreeMap<String, u64>,
    /// The policy's own counters (model calls, tokens, cache hits, fallbacks …).
    #[serde(default)]
    pub policy: BTreeMap<String, u64>,
}

/// Counters of the search stage (PAPER.md step 5), summed over repositories.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SearchStats {
    /// Strategy type.
    pub strategy: String,
    /// Repositories searched.
    pub repos: u64,
    /// Think steps eligible for search.
    pub thinks_eligible: u64,
    /// Think steps searched (scored, candidates proposed).
    pub thinks_searched: u64,
    /// Think steps whose thought was replaced.
    pub thinks_accepted: u64,
    /// `thinks_accepted / thinks_searched`.
    pub acceptance_rate: f64,
    /// Candidate thoughts scored.
    pub candidates: u64,
    /// Scorer requests answered by the model.
    pub scorer_calls: u64,
    /// Scorer requests answered from the cache.
    pub scorer_cache_hits: u64,
    /// Tokens scored (context + target), cached answers included.
    pub scorer_tokens: u64,
    /// Policy `propose_rewrites` calls.
    pub policy_calls: u64,
    /// Repositories where a budget stopped the search early.
    pub budget_exhausted: u64,
    /// Target tokens over the searched thoughts.
    pub target_tokens: u64,
    /// Mean target NLL per token with the initial thoughts (nats).
    pub initial_nll_per_token: f64,
    /// Mean target NLL per token with the kept thoughts (nats).
    pub final_nll_per_token: f64,
    /// `initial_nll_per_token - final_nll_per_token`: what search gained.
    pub mean_nll_gain: f64,
    /// Repositories whose search failed (trajectory not written), by reason.
    pub failed: BTreeMap<String, u64>,
    #[serde(skip)]
    pub(crate) initial_sum: f64,
    #[serde(skip)]
    pub(crate) final_sum: f64,
}

impl SearchStats {
    /// Adds one repository's search record.
    pub fn add(&mut self, record: &crate::model::SearchRecord) {
        let u = &record.usage;
        self.strategy.clone_from(&record.strategy);
        self.repos += 1;
        self.thinks_eligible += u.thinks_eligible;
        self.scorer_calls += u.scorer_calls;
        self.scorer_cache_hits += u.scorer_cache_hits;
        self.scorer_tokens += u.scorer_tokens;
        self.policy_calls += u.policy_calls;
        self.budget_exhausted += u64::from(u.budget_exhausted);
        for t in &record.thinks {
            self.thinks_searched += 1;
            self.candidates += t.candidates.len() as u64;
            let kept = match t.accepted.and_then(|i| t.candidates.get(i)) {
                Some(c) => {
                    self.thinks_accepted += 1;
                    c.nll
                }
                None => t.initial_nll,
            };
            self.target_tokens += t.target_tokens;
            self.initial_sum += t.initial_nll;
            self.final_sum += kept;
        }
        let per = |x: f64| {
            if self.target_tokens == 0 {
                0.0
            } else {
                x / self.target_tokens as f64
            }
        };
        self.initial_nll_per_token = per(self.initial_sum);
        self.final_nll_per_token = per(self.final_sum);
        self.mean_nll_gain = self.initial_nll_per_token - self.final_nll_per_token;
        self.acceptance_rate = if self.thinks_searched == 0 {
            0.0
        } else {
            self.thinks_accepted as f64 / self.thinks_searched as f64
        };
    }
}

/// Counters of the formatting stage.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FormatStats {
    /// Documents formatted.
    pub documents: u64,
    /// Characters per role.
    pub chars_by_role: BTreeMap<String, u64>,
    /// Repositories whose formatting failed, by reason.
    pub failed: BTreeMap<String, u64>,
}

/// Counters of the token stage (tokenize → mask → pack → shards).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TokenStats {
    /// The tokenizer's type (`hf`, `bpe`).
    pub tokenizer: String,
    /// Its vocabulary size, special tokens included.
    pub vocab_size: u32,
    /// Tokens per sequence.
    pub seq_len: u32,
    /// Documents, splits, sequences, tokens per role, padding …
    #[serde(flatten)]
    pub pack: crate::shard::PackStats,
    /// Share of real tokens with loss weight 0.
    pub masked_share: f64,
    /// Share of written tokens that are padding.
    pub padding_share: f64,
    /// Shard files written.
    pub shard_files: u64,
    /// Bytes of shard files.
    pub shard_bytes: u64,
    /// Documents that could not be tokenized or masked (skipped), by reason.
    pub failed: BTreeMap<String, u64>,
}

/// Everything `stats.json` holds.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RunStats {
    /// Ingestion.
    pub ingest: IngestStats,
    /// Analysis.
    pub analysis: AnalysisStats,
    /// Simulation.
    #[serde(default)]
    pub simulation: SimulationStats,
    /// Search (absent when no search ran).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub search: Option<SearchStats>,
    /// Formatting.
    #[serde(default)]
    pub format: FormatStats,
    /// Tokens and shards (absent when no shards were written).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens: Option<TokenStats>,
    /// Wall time per stage, seconds.
    pub seconds: BTreeMap<String, f64>,
}
