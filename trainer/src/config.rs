//! `TRAIN.toml`: what `repo2agent train` reads. Every problem is reported with
//! its line before any work starts (unknown keys, wrong types, out-of-range
//! values, missing paths, conflicting choices).

use std::ops::Range;
use std::path::{Path, PathBuf};

use repo2agent_core::config::{ConfigError, Problem, Section, SourceText, parse_document};
use serde::de::DeserializeOwned;
use toml::de::DeValue;

use crate::optim::AdamWConfig;
use crate::weights::SaveDtype;

/// `[model]`: a preset shape with seeded random weights, or a pretrained model.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ModelSection {
    /// `tiny` or `llama3-8b` (random init).
    pub preset: Option<String>,
    /// A Hugging Face `config.json` giving the shape (random init).
    pub config: Option<PathBuf>,
    /// A `.gguf` file, or a directory with `config.json` + safetensors (HF).
    pub from: Option<PathBuf>,
    /// Vocabulary of a preset model (default: the shards' tokenizer's).
    pub vocab_size: Option<usize>,
    /// Standard deviation of the random init.
    pub init_std: f64,
}

impl Default for ModelSection {
    fn default() -> Self {
        Self {
            preset: None,
            config: None,
            from: None,
            vocab_size: None,
            init_std: 0.02,
        }
    }
}

/// `[data]`.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataSection {
    /// Training shards (a directory with `index.json`, as `repo2agent run` writes to `OUT/shards`).
    pub train: PathBuf,
    /// Held-out shards for evaluation.
    #[serde(default)]
    pub eval: Option<PathBuf>,
}

/// Numeric precision of the forward/backward pass.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    /// 32-bit floats throughout.
    #[default]
    F32,
    /// Weights and activations cast to bfloat16 for the forward/backward pass;
    /// master weights, gradients and optimizer state stay f32.
    Bf16,
}

pub use crate::attention::AttentionKind;

/// `[train]`.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrainSection {
    /// Where metrics, checkpoints and the final model go.
    pub output: PathBuf,
    /// `flex` (CPU), `wgpu`, `cuda` (the latter two need the cargo feature).
    pub device: String,
    /// Seed of the init and the data order.
    pub seed: u64,
    /// Optimizer steps.
    pub steps: u64,
    /// Sequences per forward/backward pass.
    pub micro_batch: usize,
    /// Micro-batches per optimizer step (the global batch is their product).
    pub grad_accum: usize,
    /// Forward/backward precision.
    pub precision: Precision,
    /// Attention implementation.
    pub attention: AttentionKind,
    /// Tile size of the chunked attention.
    pub attention_chunk: usize,
    /// Positions whose logits are computed at a time by the loss (the output
    /// head and the cross-entropy in tiles, with their own backward pass);
    /// 0 computes the whole `[batch, seq, vocab]` logits at once.
    pub loss_chunk: usize,
}

impl Default for TrainSection {
    fn default() -> Self {
        Self {
            output: PathBuf::from("train-out"),
            device: "flex".into(),
            seed: 0,
            steps: 100,
            micro_batch: 1,
            grad_accum: 1,
            precision: Precision::F32,
            attention: AttentionKind::Chunked,
            attention_chunk: 512,
            loss_chunk: 4096,
        }
    }
}

/// `[optimizer]`: the learning-rate schedule and AdamW's settings (same table).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct OptimizerSection {
    /// Peak learning rate.
    pub lr: f64,
    /// Final learning rate of the cosine decay.
    pub min_lr: f64,
    /// Linear warmup steps.
    pub warmup_steps: u64,
    /// `beta1`, `beta2`, `eps`, `weight_decay`, `no_decay`, `clip_norm`.
    #[serde(flatten)]
    pub adamw: AdamWConfig,
}

/// The keys `[optimizer]` accepts (a flattened table cannot deny unknown keys itself).
const OPTIMIZER_KEYS: &[&str] = &[
    "lr",
    "min_lr",
    "warmup_steps",
    "beta1",
    "beta2",
    "eps",
    "weight_decay",
    "no_decay",
    "clip_norm",
];

impl Default for OptimizerSection {
    fn default() -> Self {
        Self {
            lr: 3e-4,
            min_lr: 3e-5,
            warmup_steps: 0,
            adamw: AdamWConfig::default(),
        }
    }
}

/// `[checkpoint]`.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CheckpointSection {
    /// Save every N optimizer steps (0: only at the end).
    pub every: u64,
    /// Checkpoints kept (the oldest are deleted).
    pub keep: usize,
    /// Element type of the saved model weights (the optimizer state is always f32).
    pub dtype: SaveDtype,
}

impl Default for CheckpointSection {
    fn default() -> Self {
        Self {
            every: 0,
            keep: 2,
            dtype: SaveDtype::F32,
        }
    }
}

/// `[eval]`.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EvalSection {
    /// Evaluate every N optimizer steps (0: only before the first and after the last).
    pub every: u64,
    /// Held-out sequences evaluated (0: all).
    pub max_sequences: u64,
}

/// A whole `TRAIN.toml`, paths resolved against its directory.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TrainConfig {
    /// `[model]`.
    pub model: ModelSection,
    /// `[data]`.
    pub data: DataSection,
    /// `[train]`.
    pub train: TrainSection,
    /// `[optimizer]`.
    pub optimizer: OptimizerSection,
    /// `[checkpoint]`.
    pub checkpoint: CheckpointSection,
    /// `[eval]`.
    pub eval: EvalSection,
}

const SECTIONS: &[&str] = &["model", "data", "train", "optimizer", "checkpoint", "eval"];

/// Reads and checks `path`.
pub fn load(path: &Path) -> Result<TrainConfig, ConfigError> {
    load_with(path, Data::Required)
}

/// Reads `path` and checks it with the data requirement given.
fn load_with(path: &Path, data: Data) -> Result<TrainConfig, ConfigError> {
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
        file: name.clone(),
        problems: vec![Problem::new(format!("cannot read the config: {e}"))],
    })?;
    parse_with(&text, &name, &repo2agent_core::config::config_dir(path), data)
}

/// Parses and checks a config's text; relative paths are taken from `base`.
pub fn parse(text: &str, name: &str, base: &Path) -> Result<TrainConfig, ConfigError> {
    parse_with(text, name, base, Data::Required)
}

/// Whether a config names its shards.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Data {
    /// `[data] train` is required and must hold shards.
    Required,
    /// The caller sets the data (`repo2agent ablate`, per corpus): `[data]` must be left out.
    SetByCaller,
}

/// [`load`] of a config whose data the caller sets (see [`Data::SetByCaller`]).
pub fn load_recipe(path: &Path) -> Result<TrainConfig, ConfigError> {
    load_with(path, Data::SetByCaller)
}

/// The checks of values, each reported at its key (`at`).
fn check_values(cfg: &TrainConfig, data: Data, seen_data: bool, at: &mut dyn FnMut(&str, String)) {
    if data == Data::SetByCaller {
        if seen_data {
            at(
                "data",
                "leave `[data]` out: the shards are set per corpus by the caller (`repo2agent ablate`)".into(),
            );
        }
    } else if !seen_data {
        at(
            "data",
            "a `[data]` section with `train = \"SHARD_DIR\"` is required".into(),
        );
    } else if !cfg.data.train.join("index.json").is_file() {
        at(
            "data.train",
            format!(
                "`{}` has no index.json (shards are written by `repo2agent run` to OUT/shards)",
                cfg.data.train.display()
            ),
        );
    }
    if let Some(eval) = &cfg.data.eval
        && !eval.join("index.json").is_file()
    {
        at("data.eval", format!("`{}` has no index.json", eval.display()));
    }
    let m = &cfg.model;
    let chosen = [m.preset.is_some(), m.config.is_some(), m.from.is_some()];
    match chosen.iter().filter(|c| **c).count() {
        0 => at(
            "model",
            "give `preset = \"tiny\"` or `config = \"config.json\"` (random init), or `from = PATH` (pretrained)"
                .into(),
        ),
        1 => {}
        _ => at("model", "`preset`, `config` and `from` exclude each other".into()),
    }
    if let Some(p) = m.preset.as_deref().filter(|p| !["tiny", "llama3-8b"].contains(p)) {
        at(
            "model.preset",
            format!("unknown preset `{p}`; presets: tiny, llama3-8b"),
        );
    }
    if let Some(path) = &m.config {
        match std::fs::read_to_string(path) {
            Err(e) => at("model.config", format!("cannot read `{}`: {e}", path.display())),
            Ok(text) => {
                if let Err(e) = crate::model::LlamaConfig::from_hf_json(&text) {
                    at("model.config", format!("`{}`: {}", path.display(), e.0));
                }
            }
        }
    }
    if let Some(missing) = m
        .from
        .as_deref()
        .and_then(|f| repo2agent_core::config::missing_file("model", f))
    {
        at("model.from", missing);
    }
    if !(cfg.model.init_std > 0.0 && cfg.model.init_std.is_finite()) {
        at(
            "model.init_std",
            format!("init_std = {} must be > 0", cfg.model.init_std),
        );
    }
    if !crate::device::known(&cfg.train.device) {
        at(
            "train.device",
            format!(
                "unknown device `{}`; devices: {}",
                cfg.train.device,
                crate::device::NAMES.join(", ")
            ),
        );
    } else if let Err(e) = crate::device::check(&cfg.train.device) {
        at("train.device", e);
    }
    for (key, v) in [
        ("train.steps", cfg.train.steps),
        ("train.micro_batch", cfg.train.micro_batch as u64),
        ("train.grad_accum", cfg.train.grad_accum as u64),
        ("train.attention_chunk", cfg.train.attention_chunk as u64),
        ("checkpoint.keep", cfg.checkpoint.keep as u64),
    ] {
        if v == 0 {
            at(
                key,
                format!("{} must be at least 1", key.split('.').nth(1).unwrap_or(key)),
            );
        }
    }
    let o = &cfg.optimizer;
    if !(o.lr > 0.0 && o.lr.is_finite()) {
        at("optimizer.lr", format!("lr = {} must be > 0", o.lr));
    }
    if !(o.min_lr >= 0.0 && o.min_lr <= o.lr) {
        at("optimizer.min_lr", format!("min_lr = {} must be in [0, lr]", o.min_lr));
    }
    if o.warmup_steps > cfg.train.steps {
        at(
            "optimizer.warmup_steps",
            format!("warmup_steps = {} exceeds steps = {}", o.warmup_steps, cfg.train.steps),
        );
    }
    for message in o.adamw.check() {
        let key = format!("optimizer.{}", message.split(' ').next().unwrap_or(""));
        at(&key, message);
    }
}

/// [`parse`], with the data requirement given.
pub fn parse_with(text: &str, name: &str, base: &Path, data: Data) -> Result<TrainConfig, ConfigError> {
    let source = SourceText { name, text };
    let fail = |problems: Vec<Problem>| ConfigError::sorted(name, problems);
    let doc = parse_document(&source).map_err(fail)?;
    let doc = doc.into_inner();
    let mut problems = Vec::new();
    let mut cfg = TrainConfig::default();
    let mut spans: std::collections::BTreeMap<String, Range<usize>> = Default::default();
    let mut seen_data = false;
    for (key, value) in doc {
        let k = key.get_ref().to_string();
        spans.insert(k.clone(), key.span());
        if let DeValue::Table(t) = value.get_ref() {
            for (kk, _) in t.iter() {
                spans.insert(format!("{k}.{}", kk.get_ref()), kk.span());
                if k == "optimizer" && !OPTIMIZER_KEYS.contains(&kk.get_ref().as_ref()) {
                    problems.push(source.problem(
                        Some(kk.span()),
                        &k,
                        format!(
                            "unknown field `{}`, expected one of {}",
                            kk.get_ref(),
                            OPTIMIZER_KEYS.join(", ")
                        ),
                    ));
                }
            }
        }
        fn section<T: DeserializeOwned>(
            source: &SourceText<'_>,
            path: &str,
            anchor: Range<usize>,
            value: toml::Spanned<DeValue<'_>>,
            problems: &mut Vec<Problem>,
        ) -> Option<T> {
            Section::table(path, value, anchor, *source)
                .map_err(|p| vec![p])
                .and_then(|s| s.deserialize())
                .map_err(|p| problems.extend(p))
                .ok()
        }
        let anchor = key.span();
        let p = &mut problems;
        match k.as_str() {
            "model" => cfg.model = section(&source, &k, anchor, value, p).unwrap_or_default(),
            "data" => {
                seen_data = true;
                cfg.data = section(&source, &k, anchor, value, p).unwrap_or_default();
            }
            "train" => cfg.train = section(&source, &k, anchor, value, p).unwrap_or_default(),
            "optimizer" => cfg.optimizer = section(&source, &k, anchor, value, p).unwrap_or_default(),
            "checkpoint" => cfg.checkpoint = section(&source, &k, anchor, value, p).unwrap_or_default(),
            "eval" => cfg.eval = section(&source, &k, anchor, value, p).unwrap_or_default(),
            _ => problems.push(source.problem(
                Some(anchor),
                &k,
                format!("unknown section `{k}`; known sections: {}", SECTIONS.join(", ")),
            )),
        }
    }
    let resolve = |p: &Path| repo2agent_core::config::resolve_path(base, p);
    cfg.data.train = resolve(&cfg.data.train);
    cfg.data.eval = cfg.data.eval.as_deref().map(resolve);
    cfg.model.from = cfg.model.from.as_deref().map(resolve);
    cfg.model.config = cfg.model.config.as_deref().map(resolve);
    cfg.train.output = resolve(&cfg.train.output);
    // Value checks, each placed at its key (or its section).
    let mut at = |key: &str, message: String| {
        let section = key.split('.').next().unwrap_or(key);
        let span = spans.get(key).or_else(|| spans.get(section)).cloned();
        problems.push(source.problem(span, section, message));
    };
    check_values(&cfg, data, seen_data, &mut at);
    if problems.is_empty() {
        Ok(cfg)
    } else {
        Err(fail(problems))
    }
}
