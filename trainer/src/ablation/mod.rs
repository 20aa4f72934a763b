//! The paper's ablation in one call ([`run`]; `repo2agent ablate -c
//! ABLATION.toml` is a thin caller).
//!
//! From one set of repositories: a few are held out (chosen by a seeded hash
//! of their names, never trained on; [`split`]); the rest become one corpus
//! per run config (`[[corpus]]`: Raw-Repos, Repo2Agent, Repo2Agent-Search),
//! each made by the pipeline; the same model (`[train] config`, a TRAIN.toml)
//! is continued-pretrained from the same initialisation and seed on each, for
//! the same number of training tokens; the initial model and every trained
//! one are evaluated on the held-out repositories (code NLL in dependency
//! order, cross-file NLL and probe with and without the dependencies in
//! context, a Ruler-style retrieval probe at several context lengths). Written
//! to `OUT/`: `ablation.md` (the [table]), `ablation.json` (every number),
//! `ablation.png` (the retrieval probe's value NLL by context length, one
//! line per model, each point with its 95 % bootstrap interval).
//!
//! Interrupted, it resumes ([`resume`]): a corpus whose run finished, a model
//! whose training finished and an evaluation already written are reused; an
//! unfinished corpus run or training resumes from its units / checkpoint.

pub mod file;
pub mod resume;
pub mod split;
pub mod table;

use crate::config::TrainConfig;
use crate::heldout::{HeldoutRepo, HeldoutReport, HeldoutSettings};
use crate::train::TrainError;
use file::AblationFile;
use repo2agent_core::Registry;
use repo2agent_core::config::{self, ConfigError, Problem, RunConfig};
use repo2agent_core::ingest::{self, RepoInput};
use repo2agent_core::output::{self, OutputError};
use repo2agent_core::run::report::PipelineError;
use repo2agent_core::run::{pipeline, units};
use repo2agent_core::shard::{DatasetMeta, ShardError};
use repo2agent_core::stage::TokenEncoder;
use repo2agent_core::stats::RunStats;
use resume::{Evaluated, Trained, digest, read_json, same_inputs};
use std::path::{Path, PathBuf};
use table::{CorpusResult, ThoughtValue};

/// Why an ablation stopped.
#[derive(Debug, thiserror::Error)]
pub enum AblationError {
    /// The ablation file, a corpus config or the training recipe is invalid
    /// (every problem listed; nothing was done).
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A corpus's run failed.
    #[error("the {name} corpus: {source}")]
    Corpus {
        /// The corpus.
        name: String,
        /// The cause.
        source: PipelineError,
    },
    /// Training or evaluating a model failed.
    #[error("{what}: {source}")]
    Model {
        /// Which model and step.
        what: String,
        /// The cause.
        source: TrainError,
    },
    /// A corpus's shards could not be read.
    #[error(transparent)]
    Shards(#[from] ShardError),
    /// A file or directory could not be read, written or removed.
    #[error(transparent)]
    Output(#[from] OutputError),
    /// The inputs do not allow the ablation (too few repositories, corpora
    /// that cannot be compared).
    #[error("{0}")]
    Invalid(String),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> AblationError + '_ {
    move |source| {
        AblationError::Output(OutputError {
            path: path.to_path_buf(),
            source,
        })
    }
}

fn model_error(what: String) -> impl FnOnce(TrainError) -> AblationError {
    move |source| AblationError::Model { what, source }
}

/// Everything read and checked before any work.
struct Prepared {
    file: AblationFile,
    out: PathBuf,
    runs: Vec<(String, RunConfig)>,
    train_path: PathBuf,
    train: TrainConfig,
    encoder: Box<dyn TokenEncoder>,
    heldout: Vec<RepoInput>,
    training: Vec<RepoInput>,
    held: Vec<HeldoutRepo>,
    settings: HeldoutSettings,
}

/// What a finished ablation gives its caller.
#[derive(Debug)]
pub struct Finished {
    /// The output directory.
    pub out: PathBuf,
    /// `ablation.md`'s text (`None` after a check only).
    pub table: Option<String>,
}

/// Runs the ablation described by the file at `path`; `log` gets a line per
/// step. With `check_only`, stops after checking every config (the ablation
/// file, each corpus config, the training recipe, the shared tokenizer and the
/// probe lengths), before any work.
/// Corpus configs are built with `registry`'s components.
pub fn run(
    path: &Path,
    registry: &mut Registry,
    check_only: bool,
    log: &mut dyn FnMut(&str),
) -> Result<Finished, AblationError> {
    let p = prepare(path, registry, log)?;
    if check_only {
        return Ok(Finished {
            out: p.out,
            table: None,
        });
    }
    std::fs::create_dir_all(&p.out).map_err(io(&p.out))?;
    let list = p.out.join("training-repos.txt");
    let lines: String = p.training.iter().map(|r| format!("{}\n", r.root.display())).collect();
    std::fs::write(&list, lines).map_err(io(&list))?;
    let mut runs = p.runs;
    let (metas, corpus_keys) = build_corpora(&p.out, &list, &mut runs, log)?;
    let a = &p.file.ablation;
    let trained = train_models(
        &p.out,
        &p.train_path,
        a.token_budget,
        p.training.len() as u64,
        p.train,
        &a.train_seeds,
        &runs,
        &metas,
        &corpus_keys,
        log,
    )?;
    let Training {
        train,
        steps,
        batch,
        seq_len,
        models,
        several,
        results,
    } = trained;
    let evaluated = Models {
        out: &p.out,
        train: &train,
        meta: &metas[0],
        models: &models,
    };
    let each = evaluate_models(&evaluated, p.encoder.as_ref(), &p.held, &p.heldout, &p.settings, log)?;
    let (evals, seed_groups) = by_corpus(&models, &each, &runs, several);
    let mut summary = serde_json::json!({
        "settings": {
            "seed": a.seed,
            "token_budget": a.token_budget,
            "steps": steps,
            "seq_len": seq_len,
            "batch": batch,
            "train_config": p.train_path,
            "heldout": p.heldout.iter().map(|r| &r.name).collect::<Vec<_>>(),
            "training_repos": p.training.len(),
            "eval": {
                "context": p.settings.context,
                "max_tokens_per_repo": p.settings.max_tokens_per_repo,
                "max_cross_files": p.settings.max_cross_files,
                "retrieval_lengths": p.settings.retrieval_lengths,
                "probes": p.settings.probes,
                "retrieval_distractors": p.settings.retrieval_distractors,
            },
        },
        "corpora": results,
        "eval": evals.iter().map(|(n, r)| serde_json::json!({"model": n, "report": r})).collect::<Vec<_>>(),
    });
    if !seed_groups.is_empty() {
        summary["settings"]["train_seeds"] = serde_json::json!(a.train_seeds);
        summary["seeds"] = serde_json::json!(seed_groups);
        summary["eval_per_seed"] = each
            .iter()
            .skip(1)
            .map(|(n, r)| serde_json::json!({"model": n, "report": r}))
            .collect();
    }
    output::write_json(&p.out.join("ablation.json"), &summary)?;
    let table = table::markdown(&results, &evals, &p.settings, &seed_groups);
    let md = p.out.join("ablation.md");
    std::fs::write(&md, &table).map_err(io(&md))?;
    // Each point with its 95 % bootstrap interval over the probes.
    let seed = p.settings.seed;
    let series: Vec<(String, Vec<crate::plot::Point>)> = evals
        .iter()
        .map(|(n, r)| {
            let points = r.retrieval.iter().enumerate().map(|(k, at)| {
                let bar = table::interval(&r.units, seed, table::Measure::Retrieval(k));
                (at.length as f64, at.value_nll, bar)
            });
            (n.clone(), points.collect())
        })
        .collect();
    let png = p.out.join("ablation.png");
    crate::plot::lines_png(&series, &png).map_err(io(&png))?;
    Ok(Finished {
        out: p.out,
        table: Some(table),
    })
}

/// The models of the tables: `initial`, then one per corpus — with several
/// training seeds, the mean of its seeds' models ([`table::seed_mean`]) —
/// and each such corpus's spread over its seeds.
fn by_corpus(
    models: &[Model],
    each: &[(String, HeldoutReport)],
    runs: &[(String, RunConfig)],
    several: bool,
) -> (Vec<(String, HeldoutReport)>, Vec<table::SeedGroup>) {
    let mut evals: Vec<(String, HeldoutReport)> = Vec::new();
    let mut groups = Vec::new();
    if let Some(first) = each.first() {
        evals.push(first.clone());
    }
    for (corpus, _) in runs {
        let mine: Vec<(u64, &HeldoutReport)> = models
            .iter()
            .zip(each)
            .filter_map(|(m, (_, r))| match &m.corpus {
                Some((c, seed)) if c == corpus => Some((*seed, r)),
                _ => None,
            })
            .collect();
        match mine.as_slice() {
            [] => {}
            [(_, r)] if !several => evals.push((corpus.clone(), (*r).clone())),
            _ => {
                let reports: Vec<&HeldoutReport> = mine.iter().map(|(_, r)| *r).collect();
                evals.push((corpus.clone(), table::seed_mean(&reports)));
                groups.push(table::SeedGroup {
                    corpus: corpus.clone(),
                    seeds: mine.iter().map(|(s, _)| *s).collect(),
                    code_nll: reports.iter().map(|r| r.code.nll).collect(),
                    cross_file_nll: reports.iter().map(|r| r.cross_file.with_deps).collect(),
                });
            }
        }
    }
    (evals, groups)
}

/// Reads and checks everything: the ablation file, the shared tokenizer (rebuilt
/// from a GGUF when asked), every corpus config, the recipe, the split and the
/// probe lengths.
fn prepare(path: &Path, registry: &mut Registry, log: &mut dyn FnMut(&str)) -> Result<Prepared, AblationError> {
    let name = path.display().to_string();
    let invalid = |message: String| ConfigError {
        file: name.clone(),
        problems: vec![Problem::new(message)],
    };
    let file = file::read(path)?;
    let base = config::config_dir(path);
    let rel = |p: &Path| config::resolve_path(&base, p);
    let a = &file.ablation;
    let out = rel(&a.out);
    if let (Some(gguf), Some(json)) = (&a.tokenizer_from_gguf, &a.tokenizer_json) {
        let json = rel(json);
        if !json.exists() {
            let gguf = rel(gguf);
            if let Some(missing) = config::missing_file("model", &gguf) {
                return Err(invalid(missing).into());
            }
            log(&format!(
                "ablate: the tokenizer of {} -> {}",
                gguf.display(),
                json.display()
            ));
            let text = crate::gguf::GgufFile::open(&gguf)
                .and_then(|f| crate::gguf_tokenizer::tokenizer_json(&f))
                .map_err(|e| invalid(format!("{}: {e}", gguf.display())))?;
            std::fs::write(&json, text).map_err(io(&json))?;
        }
    }

    // Every config first: a bad one fails before any work.
    let mut runs: Vec<(String, RunConfig)> = Vec::new();
    for c in &file.corpus {
        let cfg = config::load(&rel(&c.config), registry)?;
        runs.push((c.name.clone(), cfg));
    }
    let train_path = rel(&file.train.config);
    let train = crate::config::load_recipe(&train_path)?;
    let encoder = shared_tokenizer(&runs).map_err(invalid)?;

    // Globs and list files alike: relative to the ablation file, `~/` under $HOME.
    let entries: Vec<String> = a
        .repos
        .iter()
        .map(|r| rel(Path::new(r)).display().to_string())
        .collect();
    let repos = ingest::expand(&entries, &mut repo2agent_core::stats::IngestStats::default());
    if repos.len() <= a.heldout {
        return Err(AblationError::Invalid(format!(
            "{}: {} repositories found; {} held out leaves none to train on",
            path.display(),
            repos.len(),
            a.heldout
        )));
    }
    let total = repos.len();
    let (heldout, training) = split::split(repos, a.seed, a.heldout);
    log(&format!(
        "ablate: {total} repositories: {} to train on, held out: {}",
        training.len(),
        heldout.iter().map(|r| r.name.as_str()).collect::<Vec<_>>().join(", ")
    ));
    // The evaluation's settings are checked before any work (a probe length
    // too short for its needle and query is an error).
    let held = split::heldout_repos(&runs[0].1, &heldout);
    let e = &file.eval;
    let settings = HeldoutSettings {
        context: e.context,
        max_tokens_per_repo: e.max_tokens_per_repo,
        max_cross_files: e.max_cross_files,
        retrieval_lengths: e.retrieval_lengths.clone(),
        probes: e.probes,
        retrieval_distractors: e.retrieval_distractors,
        seed: a.seed,
    };
    crate::heldout::check_retrieval(encoder.as_ref(), &held, &settings)
        .map_err(|e| invalid(format!("[eval] retrieval_lengths: {e}")))?;
    Ok(Prepared {
        file,
        out,
        runs,
        train_path,
        train,
        encoder,
        heldout,
        training,
        held,
        settings,
    })
}

/// Makes (or reuses) each corpus from the training repositories listed in
/// `list`; returns each one's shard metadata and key (a digest of its
/// manifest), so a changed corpus retrains its model.
fn build_corpora(
    out: &Path,
    list: &Path,
    runs: &mut [(String, RunConfig)],
    log: &mut dyn FnMut(&str),
) -> Result<(Vec<DatasetMeta>, Vec<String>), AblationError> {
    let mut metas = Vec::new();
    let mut keys = Vec::new();
    for (name, cfg) in runs {
        let dir = out.join("corpora").join(name.as_str());
        cfg.input.repos = vec![list.display().to_string()];
        cfg.output.dir = dir.clone();
        // An interrupted run of the same config resumes; another config starts over.
        cfg.resume = same_inputs(&dir, cfg);
        if cfg.resume && dir.join(units::MANIFEST_FILE).exists() && dir.join("shards/index.json").exists() {
            log(&format!("ablate: corpus {name}: reused ({})", dir.display()));
        } else {
            log(&format!("ablate: corpus {name}: building"));
            let report = pipeline::run(cfg).map_err(|source| AblationError::Corpus {
                name: name.clone(),
                source,
            })?;
            if report.shards_dir.is_none() {
                return Err(AblationError::Invalid(format!(
                    "the {name} run config writes no shards (it needs [format] and output.shards)"
                )));
            }
        }
        metas.push(DatasetMeta::read(&dir.join(output::SHARD_DIR))?);
        let manifest_path = dir.join(units::MANIFEST_FILE);
        let manifest = std::fs::read(&manifest_path).map_err(io(&manifest_path))?;
        keys.push(digest(&[&manifest]));
    }
    Ok((metas, keys))
}

/// One model to evaluate.
struct Model {
    /// Its name in the tables (`initial`, a corpus, or `CORPUS@SEED` with
    /// several training seeds).
    name: String,
    /// What it was made from (see [`resume`]).
    key: String,
    /// Its training's directory (`None` for the initial model).
    dir: Option<PathBuf>,
    /// The corpus it was trained on, and with which seed.
    corpus: Option<(String, u64)>,
}

/// What the trainings give the evaluation and the table.
struct Training {
    train: TrainConfig,
    steps: u64,
    batch: u64,
    seq_len: u32,
    /// The initial model, then each trained one (corpus by corpus, seed by seed).
    models: Vec<Model>,
    /// Whether each corpus has a model per training seed (`train_seeds`).
    several: bool,
    results: Vec<CorpusResult>,
}

/// Trains (or reuses) one model per corpus and training seed: the same
/// model and init (for a given seed); the same positions per corpus
/// (`token_budget`). With one seed, the recipe's own, a model lives in
/// `models/CORPUS`; with several, in `models/CORPUS/seed-S`.
#[allow(clippy::too_many_arguments)]
fn train_models(
    out: &Path,
    train_path: &Path,
    token_budget: u64,
    training_repos: u64,
    mut train: TrainConfig,
    seeds: &[u64],
    runs: &[(String, RunConfig)],
    metas: &[DatasetMeta],
    corpus_keys: &[String],
    log: &mut dyn FnMut(&str),
) -> Result<Training, AblationError> {
    let vocab = metas.iter().map(|m| m.tokenizer.vocab_size as usize).max().unwrap_or(0);
    let seq_len = metas[0].seq_len;
    if !metas.iter().all(|m| m.seq_len == seq_len) {
        return Err(AblationError::Invalid(
            "every corpus must be packed to the same output.seq_len".into(),
        ));
    }
    let batch = (train.train.micro_batch * train.train.grad_accum) as u64;
    let steps = token_budget.div_ceil(batch * u64::from(seq_len));
    // A model initialised from scratch gets the largest corpus vocabulary, so
    // every corpus's tokens have rows (pretrained weights grow theirs).
    if train.model.from.is_none() {
        train.model.vocab_size = Some(vocab);
    }
    let recipe = std::fs::read(train_path).map_err(io(train_path))?;
    let train_key = digest(&[&recipe, steps.to_string().as_bytes(), vocab.to_string().as_bytes()]);
    let mut models = vec![Model {
        name: "initial".into(),
        key: train_key.clone(),
        dir: None,
        corpus: None,
    }];
    let own_seed = [train.train.seed];
    let several = !(seeds.is_empty() || seeds == own_seed);
    let seeds = if seeds.is_empty() { &own_seed[..] } else { seeds };
    let mut results = Vec::new();
    for (((name, _), meta), corpus_key) in runs.iter().zip(metas).zip(corpus_keys) {
        let mut runs_of_corpus = Vec::new();
        for &seed in seeds {
            let (label, dir, key) = if several {
                (
                    format!("{name}@{seed}"),
                    out.join("models").join(name.as_str()).join(format!("seed-{seed}")),
                    digest(&[
                        corpus_key.as_bytes(),
                        train_key.as_bytes(),
                        format!("seed={seed}").as_bytes(),
                    ]),
                )
            } else {
                (
                    name.clone(),
                    out.join("models").join(name.as_str()),
                    digest(&[corpus_key.as_bytes(), train_key.as_bytes()]),
                )
            };
            let mut cfg = train.clone();
            cfg.data.train = out.join("corpora").join(name.as_str()).join(output::SHARD_DIR);
            cfg.data.eval = None;
            cfg.train.output = dir.clone();
            cfg.train.steps = steps;
            cfg.train.seed = seed;
            cfg.eval.every = 0;
            runs_of_corpus.push(train_one(&label, &cfg, &dir, key.clone(), log)?);
            models.push(Model {
                name: label,
                key,
                dir: Some(dir),
                corpus: Some((name.clone(), seed)),
            });
        }
        let losses: Vec<f64> = runs_of_corpus.iter().filter_map(|t| t.final_loss).collect();
        let final_loss = (losses.len() == runs_of_corpus.len()).then(|| table::mean_sd(&losses).0);
        let p = &meta.stats;
        results.push(CorpusResult {
            name: name.clone(),
            repos: training_repos,
            documents: p.documents,
            tokens: p.tokens,
            trained_tokens: p.tokens.saturating_sub(p.tokens_masked),
            sequences: meta.samples,
            steps,
            epochs: (steps * batch) as f64 / meta.samples.max(1) as f64,
            positions: steps * batch * u64::from(seq_len),
            train_seconds: runs_of_corpus.iter().map(|t| t.train_seconds).sum(),
            final_loss,
            final_losses: if several { losses } else { Vec::new() },
            thought_value: thought_value(&out.join("corpora").join(name.as_str()))?,
        });
    }
    Ok(Training {
        train,
        steps,
        batch,
        seq_len,
        models,
        several,
        results,
    })
}

/// One model: reused when `dir` holds a finished training of the same `key`,
/// resumed from its checkpoint when it holds an unfinished one, else trained.
fn train_one(
    name: &str,
    cfg: &TrainConfig,
    dir: &Path,
    key: String,
    log: &mut dyn FnMut(&str),
) -> Result<Trained, AblationError> {
    let done = dir.join("done.json");
    let started_key = dir.join("key");
    if std::fs::read_to_string(&started_key).is_ok_and(|k| k != key) {
        log(&format!(
            "ablate: model {name}: its corpus or recipe changed; training again"
        ));
        std::fs::remove_dir_all(dir).map_err(io(dir))?;
    }
    if let Some(t) = read_json::<Trained>(&done).filter(|d| d.key == key) {
        log(&format!("ablate: model {name}: reused ({})", dir.display()));
        return Ok(t);
    }
    log(&format!("ablate: model {name}: training {} steps", cfg.train.steps));
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    output::write_atomic(&started_key, key.as_bytes())?;
    let started = std::time::Instant::now();
    let opts = crate::train::RunOptions {
        resume: true,
        stop_after: None,
    };
    let s = crate::train::run(cfg, &opts, &mut |l| log(&format!("  {name}: {l}")))
        .map_err(model_error(format!("training on {name}")))?;
    let t = Trained {
        key,
        train_seconds: started.elapsed().as_secs_f64(),
        final_loss: s.losses.last().copied(),
    };
    output::write_json(&done, &t)?;
    // Finished: `final/` is what the evaluation reads; the checkpoints (with
    // the optimizer's moments, ~3× the model) were only for resuming.
    let checkpoints = dir.join("checkpoints");
    if checkpoints.exists() {
        std::fs::remove_dir_all(&checkpoints).map_err(io(&checkpoints))?;
    }
    Ok(t)
}

/// The models to evaluate: `initial`, then one per corpus and seed.
struct Models<'a> {
    out: &'a Path,
    train: &'a TrainConfig,
    meta: &'a DatasetMeta,
    models: &'a [Model],
}

/// The thought value a corpus's run measured (`stats.json` `evaluation`), if
/// its config has an `[evaluate]` section.
fn thought_value(corpus: &Path) -> Result<Option<ThoughtValue>, AblationError> {
    let path = corpus.join("stats.json");
    let text = std::fs::read(&path).map_err(io(&path))?;
    let stats: RunStats = serde_json::from_slice(&text)
        .map_err(|e| AblationError::Invalid(format!("{}: not a run's stats.json: {e}", path.display())))?;
    Ok(stats.evaluation.filter(|e| e.files > 0).map(|e| ThoughtValue {
        files: e.files,
        initial: e.value_per_token,
        trained: e.value_after_search_per_token,
    }))
}

/// Evaluates (or reuses the evaluation of) each model on the held-out repositories.
fn evaluate_models(
    models: &Models<'_>,
    encoder: &dyn TokenEncoder,
    held: &[HeldoutRepo],
    heldout: &[RepoInput],
    settings: &HeldoutSettings,
    log: &mut dyn FnMut(&str),
) -> Result<Vec<(String, HeldoutReport)>, AblationError> {
    let train = models.train;
    let device = crate::device::device(&train.train.device).map_err(AblationError::Invalid)?;
    let eval_dir = models.out.join("eval");
    std::fs::create_dir_all(&eval_dir).map_err(io(&eval_dir))?;
    let settings_json = serde_json::to_vec(settings).map_err(|e| AblationError::Invalid(e.to_string()))?;
    let held_names: Vec<&str> = heldout.iter().map(|r| r.name.as_str()).collect();
    let mut evals = Vec::new();
    for Model {
        name,
        key: model_key,
        dir,
        ..
    } in models.models
    {
        let path = eval_dir.join(format!("{name}.json"));
        // `units`: evaluations written before they carried their units (for
        // the intervals) are made again.
        let key = digest(&[
            model_key.as_bytes(),
            &settings_json,
            held_names.join("\n").as_bytes(),
            b"units",
        ]);
        if let Some(e) = read_json::<Evaluated>(&path).filter(|e| e.key == key) {
            log(&format!("ablate: evaluation of {name}: reused"));
            evals.push((name.clone(), e.report));
            continue;
        }
        log(&format!("ablate: evaluating {name}"));
        let what = || format!("evaluating {name}");
        let model = if let Some(dir) = dir {
            crate::weights::read_pretrained(&dir.join("final"))
                .and_then(|(shape, tensors)| crate::weights::load_tensors(shape.init(&device), &tensors))
                .map_err(|e| model_error(what())(TrainError::from(e)))?
                .0
        } else {
            crate::train::initial_model(train, Some(models.meta), &device)
                .map_err(model_error(what()))?
                .0
        };
        // The recipe's attention (chunked: memory linear in the context length).
        let model = model.with_attention(train.train.attention, train.train.attention_chunk);
        let report =
            crate::heldout::evaluate_heldout(&model, encoder, held, settings, &device).map_err(model_error(what()))?;
        let e = Evaluated { key, report };
        output::write_json(&path, &e)?;
        evals.push((name.clone(), e.report));
    }
    Ok(evals)
}

/// The corpora must share one tokenizer (the models are compared token for
/// token); returns it (without any format's special tokens) for the evaluation.
fn shared_tokenizer(runs: &[(String, RunConfig)]) -> Result<Box<dyn TokenEncoder>, String> {
    let mut first: Option<(String, String, Box<dyn TokenEncoder>)> = None;
    for (name, cfg) in runs {
        let Some(t) = &cfg.tokenizer else {
            return Err(format!("{}: the {name} corpus has no [tokenizer]", cfg.source));
        };
        if t.component.needs_corpus() {
            return Err(format!(
                "{}: the {name} corpus trains its tokenizer on its own documents; an ablation needs one fixed tokenizer shared by every corpus ([tokenizer] path = \"tokenizer.json\")",
                cfg.source
            ));
        }
        let encoder = t
            .component
            .prepare(&[], None)
            .map_err(|e| format!("{name}: tokenizer: {e}"))?;
        let json = encoder.to_json().map_err(|e| format!("{name}: tokenizer: {e}"))?;
        match &first {
            Some((other, j, _)) if *j != json => {
                return Err(format!(
                    "the {name} and {other} corpora use different tokenizers; an ablation needs one shared by every corpus"
                ));
            }
            Some(_) => {}
            None => first = Some((name.clone(), json, encoder)),
        }
    }
    first.map(|(_, _, e)| e).ok_or_else(|| "no corpus".to_owned())
}
