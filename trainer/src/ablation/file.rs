//! The ablation file (`ABLATION.toml`): read with core's config reader, so a
//! bad file names every problem with its line before any work.

use repo2agent_core::config::{self, ConfigError, Problem, SourceText};
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// The ablation file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AblationFile {
    /// `[ablation]`.
    pub ablation: AblationSection,
    /// `[[corpus]]`: one per variant.
    pub corpus: Vec<CorpusEntry>,
    /// `[train]`.
    pub train: TrainRef,
    /// `[eval]`.
    #[serde(default)]
    pub eval: EvalSection,
}

/// `[ablation]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AblationSection {
    /// Where everything goes.
    pub out: PathBuf,
    /// Seed of the held-out choice and of the probes.
    #[serde(default)]
    pub seed: u64,
    /// The one set of repositories (directories, globs, list files).
    pub repos: Vec<String>,
    /// How many of them are held out.
    pub heldout: usize,
    /// Training tokens (sequence positions) per corpus, the same for every corpus.
    pub token_budget: u64,
    /// A GGUF model whose tokenizer the corpora share: rebuilt into
    /// `tokenizer_json` (when that file is missing) before the corpus configs
    /// are read.
    #[serde(default)]
    pub tokenizer_from_gguf: Option<PathBuf>,
    /// Where that tokenizer goes (the corpus configs' `[tokenizer] path`).
    #[serde(default)]
    pub tokenizer_json: Option<PathBuf>,
    /// Training seeds: each corpus's model trained once per seed (its data
    /// order, and its init when it starts from random weights), the tables
    /// made from each corpus's mean over its seeds with the spread beside
    /// them. Empty: the recipe's `[train] seed` alone.
    #[serde(default)]
    pub train_seeds: Vec<u64>,
}

/// The most training seeds an ablation takes.
pub const MAX_TRAIN_SEEDS: usize = 16;

/// One `[[corpus]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CorpusEntry {
    /// The corpus's name in the table.
    pub name: String,
    /// A run config (its inputs and output directory are set by the ablation).
    pub config: PathBuf,
}

/// `[train]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainRef {
    /// A TRAIN.toml without `[data]`: model, optimizer, batch; the shards,
    /// `train.output` and `train.steps` are set per corpus.
    pub config: PathBuf,
}

/// `[eval]`: the held-out evaluation's settings.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EvalSection {
    /// Context tokens of the code NLL windows.
    pub context: usize,
    /// Tokens scored per held-out repository.
    pub max_tokens_per_repo: usize,
    /// Files per repository in the cross-file NLL.
    pub max_cross_files: usize,
    /// Context lengths of the retrieval probe.
    pub retrieval_lengths: Vec<usize>,
    /// Probes per length.
    pub probes: usize,
    /// Other key–value needles in each retrieval probe (0: one needle).
    pub retrieval_distractors: usize,
}

impl Default for EvalSection {
    fn default() -> Self {
        Self {
            context: 1024,
            max_tokens_per_repo: 4096,
            max_cross_files: 8,
            retrieval_lengths: vec![256, 512, 1024],
            probes: 8,
            retrieval_distractors: 0,
        }
    }
}

/// The file at `path`, or every problem of it (syntax and type errors with
/// their lines, then the checks across fields).
pub fn read(path: &Path) -> Result<AblationFile, ConfigError> {
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
        file: name.clone(),
        problems: vec![Problem::new(format!("cannot read the config: {e}"))],
    })?;
    parse(&text, &name)
}

/// [`read`] of a file's text.
pub fn parse(text: &str, name: &str) -> Result<AblationFile, ConfigError> {
    let invalid = |problems: Vec<Problem>| ConfigError {
        file: name.to_owned(),
        problems,
    };
    let file: AblationFile = config::deserialize_document(&SourceText { name, text }).map_err(invalid)?;
    let a = &file.ablation;
    let mut problems = Vec::new();
    if file.corpus.len() < 2 {
        problems.push(Problem::new(
            "name at least two [[corpus]] entries (e.g. raw-repos and repo2agent)",
        ));
    }
    if a.token_budget == 0 {
        problems.push(Problem::new("ablation.token_budget must be positive"));
    }
    if a.tokenizer_from_gguf.is_some() != a.tokenizer_json.is_some() {
        problems.push(Problem::new(
            "ablation.tokenizer_from_gguf and tokenizer_json go together",
        ));
    }
    let mut seeds = a.train_seeds.clone();
    seeds.sort_unstable();
    if seeds.windows(2).any(|w| w[0] == w[1]) {
        problems.push(Problem::new(format!(
            "ablation.train_seeds names a seed twice: {:?}",
            a.train_seeds
        )));
    }
    if seeds.len() > MAX_TRAIN_SEEDS {
        problems.push(Problem::new(format!(
            "ablation.train_seeds: {} seeds, at most {MAX_TRAIN_SEEDS}",
            seeds.len()
        )));
    }
    let mut names: Vec<&str> = file.corpus.iter().map(|c| c.name.as_str()).collect();
    names.sort_unstable();
    if let Some(w) = names.windows(2).find(|w| w[0] == w[1]) {
        problems.push(Problem::new(format!("two [[corpus]] entries are named `{}`", w[0])));
    }
    if names.contains(&"initial") {
        problems.push(Problem::new(
            "a [[corpus]] cannot be named `initial` (the untrained model's row)",
        ));
    }
    if problems.is_empty() {
        Ok(file)
    } else {
        Err(invalid(problems))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
[ablation]
out = "out"
repos = ["repos/*"]
heldout = 1
token_budget = 4096

[[corpus]]
name = "raw-repos"
config = "raw.toml"

[[corpus]]
name = "repo2agent"
config = "agent.toml"

[train]
config = "TRAIN.toml"
"#;

    #[test]
    fn a_good_file_reads_with_the_default_evaluation() {
        let f = parse(GOOD, "a.toml").unwrap();
        assert_eq!(f.corpus.len(), 2);
        assert_eq!(f.ablation.seed, 0);
        assert_eq!(f.eval.retrieval_lengths, vec![256, 512, 1024]);
        assert!(f.ablation.train_seeds.is_empty(), "the recipe's seed alone");
        let f = parse(
            &GOOD.replace("heldout = 1", "heldout = 1\ntrain_seeds = [0, 7]"),
            "a.toml",
        )
        .unwrap();
        assert_eq!(f.ablation.train_seeds, [0, 7]);
    }

    #[test]
    fn every_problem_is_listed_at_once() {
        let text = GOOD
            .replace(
                "token_budget = 4096",
                "token_budget = 0\ntokenizer_json = \"t.json\"\ntrain_seeds = [1, 2, 1]",
            )
            .replace("name = \"repo2agent\"", "name = \"raw-repos\"");
        let e = parse(&text, "a.toml").unwrap_err();
        let all = e.to_string();
        assert_eq!(e.problems.len(), 4, "{all}");
        assert!(all.contains("names a seed twice: [1, 2, 1]"), "{all}");
        assert!(all.contains("token_budget must be positive"), "{all}");
        assert!(all.contains("go together"), "{all}");
        assert!(all.contains("two [[corpus]] entries are named `raw-repos`"), "{all}");
    }

    #[test]
    fn type_errors_and_unknown_keys_have_their_lines() {
        let text = GOOD.replace("heldout = 1", "heldout = \"one\"\nextra = 2");
        let e = parse(&text, "a.toml").unwrap_err();
        let all = e.to_string();
        assert!(e.problems.iter().all(|p| p.line.is_some()), "{all}");
        assert!(all.contains("heldout") || all.contains("extra"), "{all}");
        let one = GOOD.replace("[[corpus]]\nname = \"repo2agent\"\nconfig = \"agent.toml\"\n", "");
        let e = parse(&one, "a.toml").unwrap_err();
        assert!(e.to_string().contains("at least two"), "{e}");
    }
}
