//! `repo2agent ablate -c ABLATION.toml`: the paper's ablation in one command.
//!
//! From one set of repositories: a few are held out (chosen by a seeded hash
//! of their names, never trained on); the rest become one corpus per run
//! config (`[[corpus]]`: Raw-Repos, Repo2Agent, Repo2Agent-Search), each made
//! by the pipeline; the same model (`[train] config`, a TRAIN.toml) is
//! continued-pretrained from the same initialisation and seed on each, for the
//! same number of training tokens; the initial model and every trained one are
//! evaluated on the held-out repositories (code NLL in dependency order,
//! cross-file NLL with and without the dependencies in context, a Ruler-style
//! retrieval probe at several context lengths). Written to `OUT/`:
//! `ablation.md` (the table), `ablation.json` (every number), `ablation.png`
//! (the retrieval probe's value NLL by context length, one line per model).
//!
//! Interrupted, it resumes: a corpus whose run finished, a model whose
//! training finished and an evaluation already written are reused; an
//! unfinished corpus run or training resumes from its units / checkpoint.

use anyhow::{Context, bail, ensure};
use repo2agent_core::config::{self, ConfigError, Problem, RunConfig, SourceText};
use repo2agent_core::ingest;
use repo2agent_core::shard::DatasetMeta;
use repo2agent_core::{Registry, output, pipeline};
use repo2agent_trainer::heldout::{HeldoutFile, HeldoutRepo, HeldoutReport, HeldoutSettings};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The ablation file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AblationFile {
    ablation: AblationSection,
    corpus: Vec<CorpusEntry>,
    train: TrainRef,
    #[serde(default)]
    eval: EvalSection,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AblationSection {
    /// Where everything goes.
    out: PathBuf,
    /// Seed of the held-out choice and of the probes.
    #[serde(default)]
    seed: u64,
    /// The one set of repositories (directories, globs, list files).
    repos: Vec<String>,
    /// How many of them are held out.
    heldout: usize,
    /// Training tokens (sequence positions) per corpus, the same for every corpus.
    token_budget: u64,
    /// A GGUF model whose tokenizer the corpora share: rebuilt into
    /// `tokenizer_json` (when that file is missing) before the corpus configs
    /// are read.
    #[serde(default)]
    tokenizer_from_gguf: Option<PathBuf>,
    /// Where that tokenizer goes (the corpus configs' `[tokenizer] path`).
    #[serde(default)]
    tokenizer_json: Option<PathBuf>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CorpusEntry {
    /// The corpus's name in the table.
    name: String,
    /// A run config (its inputs and output directory are set by the ablation).
    config: PathBuf,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TrainRef {
    /// A TRAIN.toml without `[data]`: model, optimizer, batch; the shards,
    /// `train.output` and `train.steps` are set per corpus.
    config: PathBuf,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct EvalSection {
    context: usize,
    max_tokens_per_repo: usize,
    max_cross_files: usize,
    retrieval_lengths: Vec<usize>,
    probes: usize,
}

impl Default for EvalSection {
    fn default() -> Self {
        Self {
            context: 1024,
            max_tokens_per_repo: 4096,
            max_cross_files: 8,
            retrieval_lengths: vec![256, 512, 1024],
            probes: 8,
        }
    }
}

/// One corpus's numbers.
#[derive(Debug, Serialize, Deserialize)]
struct CorpusResult {
    name: String,
    repos: u64,
    documents: u64,
    /// Tokens in the corpus's shards (real, not padding).
    tokens: u64,
    /// Of them with loss weight > 0.
    trained_tokens: u64,
    sequences: u64,
    steps: u64,
    /// How many times the training went over the corpus.
    epochs: f64,
    /// Sequence positions trained on (`steps × batch × seq_len`).
    positions: u64,
    train_seconds: f64,
    final_loss: Option<f64>,
}

/// `OUT/models/NAME/done.json`: a finished training and what it was made from.
#[derive(Debug, Serialize, Deserialize)]
struct Trained {
    /// Digest of the corpus's manifest and the training recipe.
    key: String,
    train_seconds: f64,
    final_loss: Option<f64>,
}

/// `OUT/eval/NAME.json`: an evaluation and what it was made from.
#[derive(Debug, Serialize, Deserialize)]
struct Evaluated {
    /// Digest of the model's key, the settings and the held-out set.
    key: String,
    report: HeldoutReport,
}

/// Runs the ablation; `log` gets a line per step.
/// With `check_only`, stops after checking every config (the ablation file,
/// each corpus config, the training recipe, the shared tokenizer and the probe
/// lengths), before any work.
pub fn run(
    path: &Path,
    registry: &mut Registry,
    check_only: bool,
    log: &mut dyn FnMut(&str),
) -> anyhow::Result<PathBuf> {
    let name = path.display().to_string();
    // A config problem is a `ConfigError` (the binary exits 3 and prints it).
    let invalid = |problems: Vec<Problem>| ConfigError {
        file: name.clone(),
        problems,
    };
    let text = std::fs::read_to_string(path)
        .map_err(|e| invalid(vec![Problem::new(format!("cannot read the config: {e}"))]))?;
    let source = SourceText {
        name: &name,
        text: &text,
    };
    let file: AblationFile = config::deserialize_document(&source).map_err(invalid)?;
    let base = config::config_dir(path);
    let rel = |p: &Path| config::resolve_path(&base, p);
    let a = &file.ablation;
    let out = rel(&a.out);
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
    if !problems.is_empty() {
        return Err(invalid(problems).into());
    }

    if let (Some(gguf), Some(json)) = (&a.tokenizer_from_gguf, &a.tokenizer_json) {
        let json = rel(json);
        if !json.exists() {
            let gguf = rel(gguf);
            if let Some(missing) = config::missing_file("model", &gguf) {
                return Err(invalid(vec![Problem::new(missing)]).into());
            }
            log(&format!(
                "ablate: the tokenizer of {} -> {}",
                gguf.display(),
                json.display()
            ));
            let file = repo2agent_trainer::gguf::GgufFile::open(&gguf)?;
            let text = repo2agent_trainer::gguf_tokenizer::tokenizer_json(&file)?;
            std::fs::write(&json, text).with_context(|| format!("cannot write {}", json.display()))?;
        }
    }

    // Every config first: a bad one fails before any work.
    let mut runs: Vec<(String, RunConfig)> = Vec::new();
    for c in &file.corpus {
        let cfg = config::load(&rel(&c.config), registry)?;
        runs.push((c.name.clone(), cfg));
    }
    let train_path = rel(&file.train.config);
    let train_cfg = repo2agent_trainer::config::load_recipe(&train_path)?;
    let encoder = shared_tokenizer(&runs).map_err(|e| invalid(vec![Problem::new(e.to_string())]))?;

    // The split.
    let mut stats = repo2agent_core::stats::IngestStats::default();
    // Globs and list files alike: relative to the ablation file, `~/` under $HOME.
    let entries: Vec<String> = a
        .repos
        .iter()
        .map(|r| rel(Path::new(r)).display().to_string())
        .collect();
    let mut repos = ingest::expand(&entries, &mut stats);
    ensure!(
        repos.len() > a.heldout,
        "{}: {} repositories found; {} held out leaves none to train on",
        path.display(),
        repos.len(),
        a.heldout
    );
    repos.sort_by_cached_key(|r| (repo2agent_core::order::seeded_hash(a.seed, &r.name), r.name.clone()));
    let (heldout, training) = repos.split_at(a.heldout);
    log(&format!(
        "ablate: {} repositories: {} to train on, held out: {}",
        repos.len(),
        training.len(),
        heldout.iter().map(|r| r.name.as_str()).collect::<Vec<_>>().join(", ")
    ));
    // The evaluation's settings are checked before any work (a probe length
    // too short for its needle and query is an error).
    let held = heldout_repos(&runs[0].1, heldout)?;
    let settings = HeldoutSettings {
        context: file.eval.context,
        max_tokens_per_repo: file.eval.max_tokens_per_repo,
        max_cross_files: file.eval.max_cross_files,
        retrieval_lengths: file.eval.retrieval_lengths.clone(),
        probes: file.eval.probes,
        seed: a.seed,
    };
    for &length in &settings.retrieval_lengths {
        repo2agent_trainer::heldout::retrieval_probe(encoder.as_ref(), &held, length, a.seed, 0)
            .map_err(|e| invalid(vec![Problem::new(format!("[eval] retrieval_lengths: {e}"))]))?;
    }
    if check_only {
        return Ok(out);
    }
    std::fs::create_dir_all(&out).with_context(|| format!("cannot create {}", out.display()))?;
    let list = out.join("training-repos.txt");
    let lines: String = training.iter().map(|r| format!("{}\n", r.root.display())).collect();
    std::fs::write(&list, lines).with_context(|| format!("cannot write {}", list.display()))?;

    // The corpora. Each step's result carries a key of what it was made from,
    // so a changed corpus retrains its model and a changed model re-evaluates.
    let mut metas = Vec::new();
    let mut corpus_keys = Vec::new();
    for (name, cfg) in &mut runs {
        let dir = out.join("corpora").join(name.as_str());
        cfg.input.repos = vec![list.display().to_string()];
        cfg.output.dir = dir.clone();
        // An interrupted run of the same config resumes; another config starts over.
        cfg.resume = same_inputs(&dir, cfg);
        if cfg.resume && dir.join("manifest.jsonl").exists() && dir.join("shards/index.json").exists() {
            log(&format!("ablate: corpus {name}: reused ({})", dir.display()));
        } else {
            log(&format!("ablate: corpus {name}: building"));
            let report = pipeline::run(cfg).with_context(|| format!("the {name} corpus"))?;
            ensure!(
                report.shards_dir.is_some(),
                "the {name} run config writes no shards (it needs [format] and output.shards)"
            );
        }
        metas.push(DatasetMeta::read(&dir.join(output::SHARD_DIR))?);
        let manifest = std::fs::read(dir.join(repo2agent_core::units::MANIFEST_FILE))?;
        corpus_keys.push(digest(&[&manifest]));
    }

    // Training: the same model, init and seed; the same positions per corpus.
    let vocab = metas.iter().map(|m| m.tokenizer.vocab_size as usize).max().unwrap_or(0);
    let seq_len = metas[0].seq_len;
    ensure!(
        metas.iter().all(|m| m.seq_len == seq_len),
        "every corpus must be packed to the same output.seq_len"
    );
    let batch = (train_cfg.train.micro_batch * train_cfg.train.grad_accum) as u64;
    let steps = a.token_budget.div_ceil(batch * u64::from(seq_len));
    // A model initialised from scratch gets the largest corpus vocabulary, so
    // every corpus's tokens have rows (pretrained weights grow theirs).
    let mut train_cfg = train_cfg;
    if train_cfg.model.from.is_none() {
        train_cfg.model.vocab_size = Some(vocab);
    }
    let train_key = digest(&[
        &std::fs::read(&train_path)?,
        steps.to_string().as_bytes(),
        vocab.to_string().as_bytes(),
    ]);
    let mut model_keys = vec![train_key.clone()];
    let mut results = Vec::new();
    for (((name, _), meta), corpus_key) in runs.iter().zip(&metas).zip(&corpus_keys) {
        let dir = out.join("models").join(name.as_str());
        let mut cfg = train_cfg.clone();
        cfg.data.train = out.join("corpora").join(name.as_str()).join(output::SHARD_DIR);
        cfg.data.eval = None;
        cfg.train.output = dir.clone();
        cfg.train.steps = steps;
        cfg.eval.every = 0;
        let key = digest(&[corpus_key.as_bytes(), train_key.as_bytes()]);
        model_keys.push(key.clone());
        let done = dir.join("done.json");
        let started_key = dir.join("key");
        if std::fs::read_to_string(&started_key).is_ok_and(|k| k != key) {
            log(&format!(
                "ablate: model {name}: its corpus or recipe changed; training again"
            ));
            std::fs::remove_dir_all(&dir).with_context(|| format!("cannot remove {}", dir.display()))?;
        }
        let trained = match read_json::<Trained>(&done).filter(|d| d.key == key) {
            Some(t) => {
                log(&format!("ablate: model {name}: reused ({})", dir.display()));
                t
            }
            None => {
                log(&format!("ablate: model {name}: training {steps} steps"));
                std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
                output::write_atomic(&started_key, key.as_bytes())?;
                let started = std::time::Instant::now();
                let opts = repo2agent_trainer::train::RunOptions {
                    resume: true,
                    stop_after: None,
                };
                let s = repo2agent_trainer::train::run(&cfg, &opts, &mut |l| log(&format!("  {name}: {l}")))
                    .with_context(|| format!("training on {name}"))?;
                let t = Trained {
                    key,
                    train_seconds: started.elapsed().as_secs_f64(),
                    final_loss: s.losses.last().copied(),
                };
                output::write_json(&done, &t)?;
                // Finished: `final/` is what the evaluation reads; the
                // checkpoints (with the optimizer's moments, ~3× the model)
                // were only for resuming.
                let checkpoints = dir.join("checkpoints");
                if checkpoints.exists() {
                    std::fs::remove_dir_all(&checkpoints)
                        .with_context(|| format!("cannot remove {}", checkpoints.display()))?;
                }
                t
            }
        };
        let p = &meta.stats;
        results.push(CorpusResult {
            name: name.clone(),
            repos: training.len() as u64,
            documents: p.documents,
            tokens: p.tokens,
            trained_tokens: p.tokens.saturating_sub(p.tokens_masked),
            sequences: meta.samples,
            steps,
            epochs: (steps * batch) as f64 / meta.samples.max(1) as f64,
            positions: steps * batch * u64::from(seq_len),
            train_seconds: trained.train_seconds,
            final_loss: trained.final_loss,
        });
    }

    // Evaluation: the initial model and each trained one, on the held-out repositories.
    let device = repo2agent_trainer::device::device(&train_cfg.train.device).map_err(anyhow::Error::msg)?;
    let mut evals: Vec<(String, HeldoutReport)> = Vec::new();
    let eval_dir = out.join("eval");
    std::fs::create_dir_all(&eval_dir).with_context(|| format!("cannot create {}", eval_dir.display()))?;
    let names: Vec<String> = std::iter::once("initial".to_owned())
        .chain(runs.iter().map(|(n, _)| n.clone()))
        .collect();
    let settings_json = serde_json::to_vec(&settings)?;
    let held_names: Vec<&str> = heldout.iter().map(|r| r.name.as_str()).collect();
    for (name, model_key) in names.iter().zip(&model_keys) {
        let path = eval_dir.join(format!("{name}.json"));
        let key = digest(&[model_key.as_bytes(), &settings_json, held_names.join("\n").as_bytes()]);
        if let Some(e) = read_json::<Evaluated>(&path).filter(|e| e.key == key) {
            log(&format!("ablate: evaluation of {name}: reused"));
            evals.push((name.clone(), e.report));
            continue;
        }
        log(&format!("ablate: evaluating {name}"));
        let model = if name == "initial" {
            repo2agent_trainer::train::initial_model(&train_cfg, Some(&metas[0]), &device)?.0
        } else {
            let dir = out.join("models").join(name).join("final");
            let (shape, tensors) = repo2agent_trainer::weights::read_pretrained(&dir)?;
            repo2agent_trainer::weights::load_tensors(shape.init(&device), &tensors)?.0
        };
        // The recipe's attention (chunked: memory linear in the context length).
        let model = model.with_attention(train_cfg.train.attention, train_cfg.train.attention_chunk);
        let report =
            repo2agent_trainer::heldout::evaluate_heldout(&model, encoder.as_ref(), &held, &settings, &device)?;
        let e = Evaluated { key, report };
        output::write_json(&path, &e)?;
        evals.push((name.clone(), e.report));
    }

    let summary = serde_json::json!({
        "settings": {
            "seed": a.seed,
            "token_budget": a.token_budget,
            "steps": steps,
            "seq_len": seq_len,
            "batch": batch,
            "train_config": train_path,
            "heldout": heldout.iter().map(|r| &r.name).collect::<Vec<_>>(),
            "training_repos": training.len(),
            "eval": {
                "context": settings.context,
                "max_tokens_per_repo": settings.max_tokens_per_repo,
                "max_cross_files": settings.max_cross_files,
                "retrieval_lengths": settings.retrieval_lengths,
                "probes": settings.probes,
            },
        },
        "corpora": results,
        "eval": evals.iter().map(|(n, r)| serde_json::json!({"model": n, "report": r})).collect::<Vec<_>>(),
    });
    output::write_json(&out.join("ablation.json"), &summary)?;
    let table = markdown(&results, &evals, &settings);
    std::fs::write(out.join("ablation.md"), &table).with_context(|| format!("cannot write {}", out.display()))?;
    let series: Vec<(String, Vec<(f64, f64)>)> = evals
        .iter()
        .map(|(n, r)| {
            (
                n.clone(),
                r.retrieval.iter().map(|p| (p.length as f64, p.value_nll)).collect(),
            )
        })
        .collect();
    repo2agent_trainer::plot::lines_png(&series, &out.join("ablation.png"))
        .with_context(|| format!("cannot write {}", out.join("ablation.png").display()))?;
    print!("{table}");
    Ok(out)
}

/// The corpora must share one tokenizer (the models are compared token for
/// token); returns it (without any format's special tokens) for the evaluation.
fn shared_tokenizer(runs: &[(String, RunConfig)]) -> anyhow::Result<Box<dyn repo2agent_core::stage::TokenEncoder>> {
    let mut first: Option<(String, String, Box<dyn repo2agent_core::stage::TokenEncoder>)> = None;
    for (name, cfg) in runs {
        let Some(t) = &cfg.tokenizer else {
            bail!("{}: the {name} corpus has no [tokenizer]", cfg.source)
        };
        if t.component.needs_corpus() {
            bail!(
                "{}: the {name} corpus trains its tokenizer on its own documents; an ablation needs one fixed tokenizer shared by every corpus ([tokenizer] path = \"tokenizer.json\")",
                cfg.source
            );
        }
        let encoder = t
            .component
            .prepare(&[], None)
            .map_err(|e| anyhow::anyhow!("{name}: tokenizer: {e}"))?;
        let json = encoder
            .to_json()
            .map_err(|e| anyhow::anyhow!("{name}: tokenizer: {e}"))?;
        match &first {
            Some((other, j, _)) if *j != json => {
                bail!(
                    "the {name} and {other} corpora use different tokenizers; an ablation needs one shared by every corpus"
                )
            }
            Some(_) => {}
            None => first = Some((name.clone(), json, encoder)),
        }
    }
    first.map(|(_, _, e)| e).context("no corpus")
}

/// Whether an earlier corpus run in `dir` read the same inputs with the same config.
fn same_inputs(dir: &Path, cfg: &RunConfig) -> bool {
    let Ok(head) = repo2agent_core::units::RunHead::read(dir) else {
        return false;
    };
    head.fingerprint == cfg.fingerprint && head.inputs == cfg.input.repos
}

/// The held-out repositories as the evaluation wants them: files in
/// dependency order, each with the earlier files it imports.
fn heldout_repos(cfg: &RunConfig, repos: &[ingest::RepoInput]) -> anyhow::Result<Vec<HeldoutRepo>> {
    let (ingestor, analyzers) = pipeline::ingestor(cfg);
    let mut out = Vec::new();
    for repo in repos {
        let mut ingest_stats = repo2agent_core::stats::IngestStats::default();
        let snapshot = ingestor.snapshot(repo, &mut ingest_stats);
        let mut stats = repo2agent_core::stats::AnalysisStats::default();
        let analysis = repo2agent_core::analyze::analyze(&snapshot, &analyzers, cfg.run.seed, &mut stats);
        let place: std::collections::BTreeMap<_, usize> =
            analysis.order.iter().enumerate().map(|(i, id)| (*id, i)).collect();
        let files = analysis
            .order
            .iter()
            .enumerate()
            .map(|(i, id)| {
                let f = &snapshot.files[id.index()];
                let mut deps: Vec<usize> = analysis
                    .graph
                    .dependencies(*id)
                    .iter()
                    .filter_map(|d| place.get(d).copied())
                    .filter(|&j| j < i)
                    .collect();
                deps.sort_unstable();
                HeldoutFile {
                    path: f.path.clone(),
                    text: f.text.clone(),
                    deps,
                }
            })
            .filter(|f| !f.text.is_empty())
            .collect::<Vec<_>>();
        out.push(HeldoutRepo {
            name: repo.name.clone(),
            files,
        });
    }
    Ok(out)
}

fn markdown(corpora: &[CorpusResult], evals: &[(String, HeldoutReport)], s: &HeldoutSettings) -> String {
    let mut t = String::new();
    t.push_str("| corpus | documents | tokens (trained) | steps | epochs | final loss |\n|---|---|---|---|---|---|\n");
    for c in corpora {
        t.push_str(&format!(
            "| {} | {} | {} ({}) | {} | {:.2} | {} |\n",
            c.name,
            c.documents,
            c.tokens,
            c.trained_tokens,
            c.steps,
            c.epochs,
            c.final_loss.map_or("–".into(), |l| format!("{l:.4}"))
        ));
    }
    t.push('\n');
    t.push_str("| model | code NLL | cross-file NLL with deps | without | gain |");
    for l in &s.retrieval_lengths {
        t.push_str(&format!(" retrieval @{l} |"));
    }
    t.push_str("\n|---|---|---|---|---|");
    for _ in &s.retrieval_lengths {
        t.push_str("---|");
    }
    t.push('\n');
    for (name, r) in evals {
        t.push_str(&format!(
            "| {name} | {:.4} | {:.4} | {:.4} | {:+.4} |",
            r.code.nll, r.cross_file.with_deps, r.cross_file.without_deps, r.cross_file.gain
        ));
        for p in &r.retrieval {
            t.push_str(&format!(" {:.2} ({:.2}) |", p.accuracy, p.value_nll));
        }
        t.push('\n');
    }
    t.push_str(
        "\nNLL in nats per token on the held-out repositories; retrieval: exact-match accuracy of the needle's value (its NLL in parentheses).\n",
    );
    t
}

/// Hex SHA-256 of the parts (each length-prefixed).
fn digest(parts: &[&[u8]]) -> String {
    let mut bytes = Vec::new();
    for p in parts {
        bytes.extend_from_slice(&(p.len() as u64).to_le_bytes());
        bytes.extend_from_slice(p);
    }
    repo2agent_core::cache::CallCache::digest(&bytes)
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Option<T> {
    serde_json::from_slice(&std::fs::read(path).ok()?).ok()
}
