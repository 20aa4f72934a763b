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
    /// Repositories over `input.max_repo_bytes`, split into packages.
    #[serde(default)]
    pub repos_split: u64,
    /// Pieces those repositories were split into (each its own unit of work,
    /// counted in `repos` like a repository).
    #[serde(default)]
    pub packages: u64,
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

/// Counters of the search stage (docs/method.md step 5), summed over repositories.
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
    /// Tokens the scorer's model computed (cache misses, less the prefixes it
    /// reused); divided by `thinks_searched`, the cost of a searched thought.
    #[serde(default)]
    pub scorer_tokens_computed: u64,
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
    /// Target NLL summed over the searched thoughts with the initial thoughts
    /// (nats; what `initial_nll_per_token` divides, kept so that runs merge).
    #[serde(default)]
    pub initial_nll_sum: f64,
    /// The same with the kept thoughts.
    #[serde(default)]
    pub final_nll_sum: f64,
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
        self.scorer_tokens_computed += u.scorer_tokens_computed;
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
            self.initial_nll_sum += t.initial_nll;
            self.final_nll_sum += kept;
        }
        self.derive();
    }

    /// Adds another run's (or repository's) counters.
    pub fn absorb(&mut self, o: &SearchStats) {
        if self.strategy.is_empty() {
            self.strategy.clone_from(&o.strategy);
        }
        self.repos += o.repos;
        self.thinks_eligible += o.thinks_eligible;
        self.thinks_searched += o.thinks_searched;
        self.thinks_accepted += o.thinks_accepted;
        self.candidates += o.candidates;
        self.scorer_calls += o.scorer_calls;
        self.scorer_cache_hits += o.scorer_cache_hits;
        self.scorer_tokens += o.scorer_tokens;
        self.scorer_tokens_computed += o.scorer_tokens_computed;
        self.policy_calls += o.policy_calls;
        self.budget_exhausted += o.budget_exhausted;
        self.target_tokens += o.target_tokens;
        self.initial_nll_sum += o.initial_nll_sum;
        self.final_nll_sum += o.final_nll_sum;
        add_counts(&mut self.failed, &o.failed);
        self.derive();
    }

    /// The ratios from the sums.
    fn derive(&mut self) {
        let per = |x: f64| {
            if self.target_tokens == 0 {
                0.0
            } else {
                x / self.target_tokens as f64
            }
        };
        self.initial_nll_per_token = per(self.initial_nll_sum);
        self.final_nll_per_token = per(self.final_nll_sum);
        self.mean_nll_gain = self.initial_nll_per_token - self.final_nll_per_token;
        self.acceptance_rate = if self.thinks_searched == 0 {
            0.0
        } else {
            self.thinks_accepted as f64 / self.thinks_searched as f64
        };
    }
}

/// Thought value (docs/method.md, "Thought value"), summed over repositories:
/// nats per code token the sub-agents' thoughts save the scorer on the real code.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct EvaluationStats {
    /// The scorer that judged.
    pub scorer: String,
    /// Repositories evaluated.
    pub repos: u64,
    /// Written files with code to score.
    pub files_eligible: u64,
    /// Files scored (fewer than eligible when a budget stopped it).
    pub files: u64,
    /// Code tokens scored.
    pub code_tokens: u64,
    /// Mean NLL per code token after the trajectory without thoughts (nats).
    pub nll_without_per_token: f64,
    /// Mean NLL per code token after the policy's thoughts.
    pub nll_with_per_token: f64,
    /// `nll_without_per_token - nll_with_per_token`: what the policy's thoughts
    /// are worth (negative: they make the real code less likely).
    pub value_per_token: f64,
    /// The same with the thoughts the search kept (the policy's when no search ran).
    pub value_after_search_per_token: f64,
    /// `value_after_search_per_token - value_per_token`: what the search added.
    pub search_gain_per_token: f64,
    /// Files whose thoughts made their code more likely.
    pub files_helped: u64,
    /// Per language: the same sums and value.
    pub by_language: BTreeMap<String, ValueSums>,
    /// Per policy type.
    pub by_policy: BTreeMap<String, ValueSums>,
    /// Scorer requests answered by the model.
    pub scorer_calls: u64,
    /// Scorer requests answered from the cache.
    pub scorer_cache_hits: u64,
    /// Tokens scored (context + target), cached answers included.
    pub scorer_tokens: u64,
    /// Repositories where the budget stopped the evaluation early.
    pub budget_exhausted: u64,
    /// Repositories whose evaluation failed (the trajectory is still written), by reason.
    pub failed: BTreeMap<String, u64>,
    /// The overall sums the ratios divide (kept so that runs merge).
    #[serde(default)]
    pub sums: ValueSums,
}

/// Summed code NLLs of a set of files, and the value they give.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ValueSums {
    /// Files scored.
    pub files: u64,
    /// Code tokens scored.
    pub code_tokens: u64,
    /// NLL (nats) after the trajectory without thoughts.
    pub nll_without: f64,
    /// NLL after the policy's thoughts.
    pub nll_with: f64,
    /// NLL after the thoughts kept by search (the policy's when none ran).
    pub nll_after_search: f64,
    /// `(nll_without - nll_with) / code_tokens`.
    #[serde(default)]
    pub value_per_token: f64,
    /// `(nll_without - nll_after_search) / code_tokens`.
    #[serde(default)]
    pub value_after_search_per_token: f64,
}

impl ValueSums {
    /// The sums and values of these files.
    pub fn of(files: &[crate::model::FileValue]) -> Self {
        let mut sums = Self::default();
        for f in files {
            sums.add_file(f);
        }
        sums
    }

    fn add_file(&mut self, f: &crate::model::FileValue) {
        self.files += 1;
        self.code_tokens += f.code_tokens;
        self.nll_without += f.nll_without;
        self.nll_with += f.nll_with;
        self.nll_after_search += f.nll_after_search.unwrap_or(f.nll_with);
        self.derive();
    }

    fn absorb(&mut self, o: &ValueSums) {
        self.files += o.files;
        self.code_tokens += o.code_tokens;
        self.nll_without += o.nll_without;
        self.nll_with += o.nll_with;
        self.nll_after_search += o.nll_after_search;
        self.derive();
    }

    fn derive(&mut self) {
        let per = |x: f64| {
            if self.code_tokens == 0 {
                0.0
            } else {
                x / self.code_tokens as f64
            }
        };
        self.value_per_token = per(self.nll_without - self.nll_with);
        self.value_after_search_per_token = per(self.nll_without - self.nll_after_search);
    }
}

impl EvaluationStats {
    /// Adds one repository's evaluation, made of trajectories of `policy` (a type name).
    pub fn add(&mut self, record: &crate::model::EvaluationRecord, policy: &str) {
        let u = &record.usage;
        self.scorer.clone_from(&record.scorer);
        self.repos += 1;
        self.files_eligible += u.files_eligible;
        self.scorer_calls += u.scorer_calls;
        self.scorer_cache_hits += u.scorer_cache_hits;
        self.scorer_tokens += u.scorer_tokens;
        self.budget_exhausted += u64::from(u.budget_exhausted);
        for f in &record.files {
            self.sums.add_file(f);
            self.by_language.entry(f.language.clone()).or_default().add_file(f);
            self.by_policy.entry(policy.to_owned()).or_default().add_file(f);
            self.files_helped += u64::from(f.nll_with < f.nll_without);
        }
        self.derive();
    }

    /// Adds another run's (or repository's) counters.
    pub fn absorb(&mut self, o: &EvaluationStats) {
        if self.scorer.is_empty() {
            self.scorer.clone_from(&o.scorer);
        }
        self.repos += o.repos;
        self.files_eligible += o.files_eligible;
        self.files_helped += o.files_helped;
        self.scorer_calls += o.scorer_calls;
        self.scorer_cache_hits += o.scorer_cache_hits;
        self.scorer_tokens += o.scorer_tokens;
        self.budget_exhausted += o.budget_exhausted;
        self.sums.absorb(&o.sums);
        for (k, v) in &o.by_language {
            self.by_language.entry(k.clone()).or_default().absorb(v);
        }
        for (k, v) in &o.by_policy {
            self.by_policy.entry(k.clone()).or_default().absorb(v);
        }
        add_counts(&mut self.failed, &o.failed);
        self.derive();
    }

    fn derive(&mut self) {
        let s = &self.sums;
        self.files = s.files;
        self.code_tokens = s.code_tokens;
        let per = |x: f64| {
            if s.code_tokens == 0 {
                0.0
            } else {
                x / s.code_tokens as f64
            }
        };
        self.nll_without_per_token = per(s.nll_without);
        self.nll_with_per_token = per(s.nll_with);
        self.value_per_token = s.value_per_token;
        self.value_after_search_per_token = s.value_after_search_per_token;
        self.search_gain_per_token = self.value_after_search_per_token - self.value_per_token;
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
    /// How its ids were computed when not by running the tokenizer on every
    /// segment (the `hf`/`bpe` fast path: same ids, docs/shards.md).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fast_path: Option<String>,
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
    /// How each repository ended.
    #[serde(default)]
    pub repos: RepoOutcomes,
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
    /// Thought value (absent when `[evaluate]` is not configured).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evaluation: Option<EvaluationStats>,
    /// Formatting.
    #[serde(default)]
    pub format: FormatStats,
    /// Tokens and shards (absent when no shards were written).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens: Option<TokenStats>,
    /// Wall time per stage, seconds.
    pub seconds: BTreeMap<String, f64>,
}

/// How the repositories of a run ended (one count per repository).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepoOutcomes {
    /// Repositories this run (or merge) took.
    pub total: u64,
    /// Went through every stage.
    pub done: u64,
    /// No file kept.
    pub empty: u64,
    /// A model-calling stage (simulation, search) failed after its retries,
    /// or a component panicked; by reason. `run --resume` retries them.
    pub failed: BTreeMap<String, u64>,
    /// Not taken on, by reason (`repo_too_large`).
    #[serde(default)]
    pub skipped: BTreeMap<String, u64>,
}

/// Adds counts by key.
pub fn add_counts(into: &mut BTreeMap<String, u64>, from: &BTreeMap<String, u64>) {
    for (k, v) in from {
        *into.entry(k.clone()).or_default() += v;
    }
}

impl IngestStats {
    /// Adds another part's counters.
    pub fn absorb(&mut self, o: &IngestStats) {
        self.repos_seen += o.repos_seen;
        self.repos_other_shards += o.repos_other_shards;
        self.repos_ingested += o.repos_ingested;
        self.repos_empty += o.repos_empty;
        add_counts(&mut self.repos_failed, &o.repos_failed);
        self.files_kept += o.files_kept;
        self.bytes_kept += o.bytes_kept;
        add_counts(&mut self.files_by_language, &o.files_by_language);
        add_counts(&mut self.skipped, &o.skipped);
        self.repos_split += o.repos_split;
        self.packages += o.packages;
    }
}

impl AnalysisStats {
    /// Adds another part's counters.
    pub fn absorb(&mut self, o: &AnalysisStats) {
        for (lang, l) in &o.by_language {
            let m = self.by_language.entry(lang.clone()).or_default();
            m.files += l.files;
            m.symbols += l.symbols;
            m.imports += l.imports;
            m.imports_resolved += l.imports_resolved;
            m.imports_external += l.imports_external;
            m.imports_unresolved += l.imports_unresolved;
        }
        self.edges += o.edges;
        add_counts(&mut self.failed, &o.failed);
    }
}

impl SimulationStats {
    /// Adds another part's counters.
    pub fn absorb(&mut self, o: &SimulationStats) {
        self.trajectories += o.trajectories;
        self.sub_agents += o.sub_agents;
        self.reads += o.reads;
        self.plan_invented += o.plan_invented;
        self.plan_duplicated += o.plan_duplicated;
        self.plan_missing += o.plan_missing;
        self.reads_repaired += o.reads_repaired;
        add_counts(&mut self.grounding_failures, &o.grounding_failures);
        add_counts(&mut self.failed, &o.failed);
        add_counts(&mut self.policy, &o.policy);
    }
}

impl FormatStats {
    /// Adds another part's counters.
    pub fn absorb(&mut self, o: &FormatStats) {
        self.documents += o.documents;
        add_counts(&mut self.chars_by_role, &o.chars_by_role);
        add_counts(&mut self.failed, &o.failed);
    }
}

impl RepoOutcomes {
    /// Adds another part's counts.
    pub fn absorb(&mut self, o: &RepoOutcomes) {
        self.total += o.total;
        self.done += o.done;
        self.empty += o.empty;
        add_counts(&mut self.failed, &o.failed);
        add_counts(&mut self.skipped, &o.skipped);
    }
}

impl RunStats {
    /// Adds the per-repository counters of another part (a repository's own
    /// stats, or another run's): every stage but the token stage, whose
    /// counters belong to the shards actually written. Seconds add up.
    pub fn absorb(&mut self, o: &RunStats) {
        self.repos.absorb(&o.repos);
        self.ingest.absorb(&o.ingest);
        self.analysis.absorb(&o.analysis);
        self.simulation.absorb(&o.simulation);
        if let Some(s) = &o.search {
            self.search.get_or_insert_with(Default::default).absorb(s);
        }
        if let Some(e) = &o.evaluation {
            self.evaluation.get_or_insert_with(Default::default).absorb(e);
        }
        self.format.absorb(&o.format);
        for (k, v) in &o.seconds {
            *self.seconds.entry(k.clone()).or_default() += v;
        }
    }
}
