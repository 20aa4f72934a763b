//! The training loop of `repo2agent train`: model from a preset or pretrained
//! weights, the shard loader, weighted loss with gradient accumulation, AdamW
//! with global-norm clipping on a warmup + cosine schedule, held-out
//! evaluation, metrics as JSONL, checkpoints that resume exactly.
//!
//! Output directory layout:
//! - `metrics.jsonl`: one line per optimizer step (`loss`, `lr`, `grad_norm`,
//!   `tokens`, `tokens_per_s`) and one per evaluation (`eval`);
//! - `loss.png`: the training loss curve with the held-out NLL;
//! - `checkpoints/step-NNNNNNNN/`: `model.safetensors` + `config.json` (a valid
//!   HF Llama checkpoint), `optimizer.safetensors` (AdamW moments by HF name),
//!   `state.json` (step, data position, seed, tokens); written to a temporary
//!   directory and renamed, the oldest beyond `keep` deleted;
//! - `final/`: the last model as HF safetensors + `config.json`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::module::Module;
use burn::tensor::{Device, Tensor};
use repo2agent_core::shard::meta::DatasetMeta;

use crate::config::{Precision, TrainConfig};
use crate::data::{DataPosition, Example, NO_TARGET, ShardDataset};
use crate::loss::{weighted_nll, weighted_sum};
use crate::model::{Inputs, Llama, LlamaConfig};
use crate::optim::{AdamW, GradAccumulator};
use crate::schedule::CosineSchedule;
use crate::weights::{self, HostTensors, SaveDtype};

/// Why training stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// Reading the shards failed.
    #[error(transparent)]
    Shards(#[from] repo2agent_core::shard::ShardError),
    /// Reading or writing weights failed.
    #[error(transparent)]
    Weights(#[from] weights::WeightsError),
    /// A file of the run could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The run cannot go on as configured.
    #[error("{0}")]
    Invalid(String),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> TrainError + '_ {
    move |source| TrainError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// How this invocation runs.
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    /// Continue from the newest checkpoint in the output directory.
    pub resume: bool,
    /// Stop (after checkpointing) once this many optimizer steps have been
    /// taken in total, even if the config asks for more (a job's time slice).
    pub stop_after: Option<u64>,
}

/// What a run did.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct TrainSummary {
    /// Optimizer step reached.
    pub step: u64,
    /// Step the run started from (0, or the checkpoint resumed).
    pub resumed_from: u64,
    /// Loss of each step taken in this invocation.
    pub losses: Vec<f64>,
    /// Trained (weight > 0) tokens seen in total.
    pub tokens: u64,
    /// Training throughput of this invocation (all input tokens / s).
    pub tokens_per_s: f64,
    /// The last evaluation, if any.
    pub eval: Option<EvalResult>,
    /// Parameters of the model.
    pub parameters: u64,
}

/// Held-out negative log-likelihood.
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct EvalResult {
    /// Mean NLL (nats) of trained tokens, weighted by their loss weight.
    pub nll: f64,
    /// `exp(nll)`.
    pub ppl: f64,
    /// Trained tokens evaluated.
    pub tokens: u64,
    /// Mean NLL of code tokens (role `code`: the files' real bytes).
    pub code_nll: f64,
    /// `exp(code_nll)`.
    pub code_ppl: f64,
    /// Code tokens evaluated.
    pub code_tokens: u64,
}

/// What `state.json` of a checkpoint holds.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct CheckpointState {
    /// Optimizer steps taken.
    pub step: u64,
    /// Where the data loader is.
    pub data: DataPosition,
    /// The run's seed (the init and every epoch's order derive from it; no other
    /// random state is consumed during training).
    pub seed: u64,
    /// Trained tokens seen.
    pub tokens: u64,
    /// The model's shape.
    pub model: LlamaConfig,
}

/// The initial model of `cfg` and its shape: pretrained weights (`from`), or a
/// shape (`config`, `preset`) with the seeded init.
pub fn initial_model(
    cfg: &TrainConfig,
    meta: Option<&DatasetMeta>,
    device: &Device,
) -> Result<(Llama, LlamaConfig), TrainError> {
    if let Some(from) = &cfg.model.from {
        let (mut shape, mut tensors) = weights::read_pretrained(from)?;
        // Tokens the shards' tokenizer added (e.g. the agent format's markers)
        // get new embedding rows.
        if let Some(m) = meta {
            weights::grow_vocab(&mut shape, &mut tensors, m.tokenizer.vocab_size as usize);
        }
        let (model, unused) = weights::load_tensors(shape.init(device), &tensors)?;
        let unexpected: Vec<&String> = unused.iter().filter(|n| !n.contains("rotary_emb")).collect();
        if !unexpected.is_empty() {
            return Err(TrainError::Invalid(format!(
                "{}: tensors the model has no place for: {unexpected:?}",
                from.display()
            )));
        }
        return Ok((model, shape));
    }
    let shape = match &cfg.model.config {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(io(path))?;
            LlamaConfig::from_hf_json(&text).map_err(|e| TrainError::Invalid(format!("{}: {}", path.display(), e.0)))?
        }
        None => {
            let vocab = cfg
                .model
                .vocab_size
                .or(meta.map(|m| m.tokenizer.vocab_size as usize))
                .ok_or_else(|| {
                    TrainError::Invalid("model.vocab_size is needed (the shards have no repo2agent.json)".into())
                })?;
            let preset = cfg.model.preset.as_deref().unwrap_or("tiny");
            LlamaConfig::preset(preset, vocab).map_err(|e| TrainError::Invalid(e.0))?
        }
    };
    let model = weights::init_seeded(shape.init(device), cfg.train.seed, cfg.model.init_std);
    Ok((model, shape))
}

/// HF `config.json` text for a model shape.
pub fn hf_config_json(c: &LlamaConfig) -> String {
    let mut v = serde_json::json!({
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "vocab_size": c.vocab_size,
        "hidden_size": c.d_model,
        "intermediate_size": c.ffn_dim,
        "num_hidden_layers": c.n_layers,
        "num_attention_heads": c.n_heads,
        "num_key_value_heads": c.n_kv_heads,
        "head_dim": c.head_dim(),
        "rope_theta": c.rope_theta,
        "rms_norm_eps": c.rms_eps,
        "tie_word_embeddings": c.tie_embeddings,
        "hidden_act": "silu",
        "torch_dtype": "float32",
    });
    if let Some(s) = &c.rope_scaling {
        v["rope_scaling"] = serde_json::json!({
            "rope_type": "llama3", "factor": s.factor, "low_freq_factor": s.low_freq_factor,
            "high_freq_factor": s.high_freq_factor,
            // transformers insists on an integer here.
            "original_max_position_embeddings": s.original_max_position_embeddings.round() as u64,
        });
    }
    serde_json::to_string_pretty(&v).unwrap_or_default()
}

/// [`repo2agent_core::output::write_atomic`], its error as the trainer's.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), TrainError> {
    repo2agent_core::output::write_atomic(path, bytes).map_err(|e| TrainError::Io {
        path: e.path,
        source: e.source,
    })
}

/// Saves `model` as an HF directory (`model.safetensors` + `config.json`).
pub fn save_hf(model: &Llama, shape: &LlamaConfig, dir: &Path, dtype: SaveDtype) -> Result<(), TrainError> {
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    weights::save_model(model, &dir.join("model.safetensors"), dtype)?;
    write_atomic(&dir.join("config.json"), hf_config_json(shape).as_bytes())
}

/// Checkpoint directories of `out`, oldest first, as (step, path).
pub fn checkpoints(out: &Path) -> Vec<(u64, PathBuf)> {
    let mut v: Vec<(u64, PathBuf)> = std::fs::read_dir(out.join("checkpoints"))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let step = name.strip_prefix("step-")?.parse().ok()?;
            e.path().join("state.json").is_file().then(|| (step, e.path()))
        })
        .collect();
    v.sort();
    v
}

fn save_checkpoint(
    out: &Path,
    model: &Llama,
    opt: &AdamW,
    state: &CheckpointState,
    dtype: SaveDtype,
    keep: usize,
) -> Result<(), TrainError> {
    let root = out.join("checkpoints");
    let dir = root.join(format!("step-{:08}", state.step));
    let tmp = root.join(format!(".step-{:08}.tmp", state.step));
    let _ = std::fs::remove_dir_all(&tmp);
    save_hf(model, &state.model, &tmp, dtype)?;
    weights::write_safetensors(
        &tmp.join("optimizer.safetensors"),
        &opt.state_tensors(),
        SaveDtype::F32,
        None,
    )?;
    let json = serde_json::to_vec_pretty(state).map_err(|e| TrainError::Invalid(e.to_string()))?;
    write_atomic(&tmp.join("state.json"), &json)?;
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::rename(&tmp, &dir).map_err(io(&dir))?;
    let all = checkpoints(out);
    for (_, old) in all.iter().take(all.len().saturating_sub(keep)) {
        std::fs::remove_dir_all(old).map_err(io(old))?;
    }
    Ok(())
}

/// Evaluates `model` (no autodiff) on the first `max` (0: all) sequences of
/// `data` in file order.
pub fn evaluate(
    model: &Llama,
    data: &mut ShardDataset,
    max: u64,
    code_role: u8,
    device: &Device,
) -> Result<EvalResult, TrainError> {
    let model = model.valid();
    let n = if max == 0 { data.len() } else { data.len().min(max) };
    let (mut wsum, mut wnll, mut csum, mut cn, mut tokens) = (0f64, 0f64, 0f64, 0u64, 0u64);
    for i in 0..n {
        let e = data.example(i)?;
        let logits = model.forward(&Inputs::from_examples(std::slice::from_ref(&e), device));
        let nll = token_nll(logits, &e.targets);
        for (k, l) in nll.iter().enumerate() {
            let w = f64::from(e.weights[k]);
            if w > 0.0 {
                wsum += w;
                wnll += w * f64::from(*l);
                tokens += 1;
            }
            if e.target_roles[k] == code_role && e.target_roles[k] != NO_TARGET {
                csum += f64::from(*l);
                cn += 1;
            }
        }
    }
    let nll = if wsum > 0.0 { wnll / wsum } else { f64::NAN };
    let code_nll = if cn > 0 { csum / cn as f64 } else { f64::NAN };
    Ok(EvalResult {
        nll,
        ppl: nll.exp(),
        tokens,
        code_nll,
        code_ppl: code_nll.exp(),
        code_tokens: cn,
    })
}

/// `−log p(target)` at every position of a `[b, t, vocab]` logits tensor.
pub fn token_nll(logits: Tensor<3>, targets: &[u32]) -> Vec<f32> {
    let [b, t, v] = logits.dims();
    crate::loss::target_logprobs(logits.reshape([b * t, v]), targets)
        .neg()
        .into_data()
        .convert::<f32>()
        .try_to_vec::<f32>()
        .unwrap_or_default()
}

struct Metrics {
    path: PathBuf,
    file: std::fs::File,
}

impl Metrics {
    /// Opens `metrics.jsonl`: empty for a fresh run; for a run resumed at
    /// `resumed`, without the lines after that step (the run writes them again).
    fn open(out: &Path, resumed: Option<u64>) -> Result<Self, TrainError> {
        let step = resumed.unwrap_or(0);
        let path = out.join("metrics.jsonl");
        let kept: Vec<String> = std::fs::read_to_string(&path)
            .unwrap_or_default()
            .lines()
            .filter(|l| {
                serde_json::from_str::<serde_json::Value>(l)
                    .ok()
                    .and_then(|v| v["step"].as_u64())
                    .is_some_and(|s| resumed.is_some() && s <= step)
            })
            .map(str::to_owned)
            .collect();
        let mut text = kept.join("\n");
        if !text.is_empty() {
            text.push('\n');
        }
        write_atomic(&path, text.as_bytes())?;
        let file = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .map_err(io(&path))?;
        Ok(Self { path, file })
    }

    fn write(&mut self, v: &serde_json::Value) -> Result<(), TrainError> {
        writeln!(self.file, "{v}").map_err(io(&self.path))?;
        self.file.flush().map_err(io(&self.path))
    }
}

/// Where a run starts: the newest checkpoint's model, optimizer moments (into
/// `opt`), data position, step and token count when resuming, else the
/// initial model at step 0.
struct Start {
    model: Llama,
    shape: LlamaConfig,
    data: DataPosition,
    step: u64,
    tokens: u64,
    /// Whether it resumed from a checkpoint.
    resumed: bool,
}

fn start(
    cfg: &TrainConfig,
    opts: &RunOptions,
    meta: Option<&DatasetMeta>,
    device: &Device,
    opt: &mut AdamW,
    log: &mut dyn FnMut(&str),
) -> Result<Start, TrainError> {
    let out = &cfg.train.output;
    let existing = checkpoints(out);
    if !opts.resume && !existing.is_empty() {
        return Err(TrainError::Invalid(format!(
            "{} already has checkpoints (the newest at step {}): pass --resume to continue, or choose another train.output",
            out.display(),
            existing.last().map_or(0, |c| c.0)
        )));
    }
    let latest = if opts.resume { existing.last().cloned() } else { None };
    let (model, shape, data, step, tokens) = match &latest {
        Some((_, dir)) => {
            let state: CheckpointState = serde_json::from_str(
                &std::fs::read_to_string(dir.join("state.json")).map_err(io(&dir.join("state.json")))?,
            )
            .map_err(|e| TrainError::Invalid(format!("{}: {e}", dir.join("state.json").display())))?;
            if state.seed != cfg.train.seed {
                return Err(TrainError::Invalid(format!(
                    "the checkpoint was made with seed {} but the config says {}",
                    state.seed, cfg.train.seed
                )));
            }
            let tensors = weights::read_safetensors(&dir.join("model.safetensors"))?;
            let (model, _) = weights::load_tensors(state.model.init(device), &tensors)?;
            let moments: HostTensors = weights::read_safetensors(&dir.join("optimizer.safetensors"))?;
            opt.load_state(state.step, &moments, device);
            log(&format!("resuming from {} (step {})", dir.display(), state.step));
            (model, state.model.clone(), state.data, state.step, state.tokens)
        }
        None => {
            let (model, shape) = initial_model(cfg, meta, device)?;
            (model, shape, DataPosition::default(), 0, 0)
        }
    };
    Ok(Start {
        model,
        shape,
        data,
        step,
        tokens,
        resumed: latest.is_some(),
    })
}

/// One optimizer step's gradients, accumulated over its micro-batches: the
/// gradients, the summed loss and the input positions computed.
fn accumulate(
    model: &Llama,
    global: &[Example],
    total_weight: f64,
    cfg: &TrainConfig,
    device: &Device,
) -> (GradAccumulator, f64, u64) {
    let mut input_tokens = 0u64;
    let mut acc = GradAccumulator::default();
    let mut loss_sum = 0f64;
    for micro in global.chunks(cfg.train.micro_batch) {
        let len = micro.iter().map(|e| e.inputs.len()).max().unwrap_or(0);
        let micro: Vec<Example> = micro
            .iter()
            .cloned()
            .map(|mut e| {
                e.pad_to(len);
                e
            })
            .collect();
        let inputs = Inputs::from_examples(&micro, device);
        let targets: Vec<u32> = micro.iter().flat_map(|e| e.targets.iter().copied()).collect();
        let w: Vec<f32> = micro.iter().flat_map(|e| e.weights.iter().copied()).collect();
        let chunk = cfg.train.loss_chunk;
        let loss = match (cfg.train.precision, chunk) {
            (Precision::F32, 0) => weighted_nll(model.forward(&inputs), &targets, &w, total_weight),
            (Precision::Bf16, 0) => weighted_nll(model.forward_bf16(&inputs), &targets, &w, total_weight),
            (Precision::F32, _) => {
                weighted_sum(model.head_nll(model.hidden(&inputs), &targets, chunk), &w, total_weight)
            }
            (Precision::Bf16, _) => {
                let cast = model.bf16();
                weighted_sum(cast.head_nll(cast.hidden(&inputs), &targets, chunk), &w, total_weight)
            }
        };
        loss_sum += f64::from(
            loss.clone()
                .into_data()
                .convert::<f32>()
                .try_to_vec::<f32>()
                .unwrap_or_default()[0],
        );
        let grads = loss.backward();
        acc.add(model, &grads);
        input_tokens += (micro.len() * len) as u64;
    }
    (acc, loss_sum, input_tokens)
}

/// Runs (or resumes) training as `cfg` says; `log` gets one human line per step.
pub fn run(cfg: &TrainConfig, opts: &RunOptions, log: &mut dyn FnMut(&str)) -> Result<TrainSummary, TrainError> {
    let out = &cfg.train.output;
    std::fs::create_dir_all(out).map_err(io(out))?;
    let base = crate::device::device(&cfg.train.device).map_err(TrainError::Invalid)?;
    let device = base.clone().autodiff();
    let meta = DatasetMeta::read(&cfg.data.train).ok();
    let code_role = meta
        .as_ref()
        .and_then(|m| m.roles.get("code").copied())
        .unwrap_or(repo2agent_core::model::Role::Code.id());
    let mut data = ShardDataset::open(&cfg.data.train, cfg.train.seed)?;
    if data.is_empty() {
        return Err(TrainError::Invalid(format!(
            "{}: no sequences to train on",
            cfg.data.train.display()
        )));
    }
    let mut eval_data = match &cfg.data.eval {
        Some(dir) => Some(ShardDataset::open(dir, cfg.train.seed)?),
        None => None,
    };

    // Start: fresh, or the newest checkpoint.
    let mut opt = AdamW::new(cfg.optimizer.adamw.clone());
    let Start {
        mut model,
        shape,
        data: mut pos,
        mut step,
        mut tokens,
        resumed,
    } = start(cfg, opts, meta.as_ref(), &device, &mut opt, log)?;
    if let Some(m) = &meta
        && m.tokenizer.vocab_size as usize > shape.vocab_size
    {
        return Err(TrainError::Invalid(format!(
            "the shards' tokenizer has {} tokens but the model's vocabulary is {}",
            m.tokenizer.vocab_size, shape.vocab_size
        )));
    }
    model = model.with_attention(cfg.train.attention, cfg.train.attention_chunk);
    let resumed_from = step;
    let schedule = CosineSchedule {
        peak: cfg.optimizer.lr,
        min: cfg.optimizer.min_lr,
        warmup_steps: cfg.optimizer.warmup_steps,
        total_steps: cfg.train.steps,
    };
    let mut metrics = Metrics::open(out, resumed.then_some(step))?;
    let parameters = shape.parameter_count();
    let mut summary = TrainSummary {
        resumed_from,
        parameters,
        ..TrainSummary::default()
    };
    let eval_every = cfg.eval.every;
    let mut do_eval = |model: &Llama, step: u64, metrics: &mut Metrics| -> Result<Option<EvalResult>, TrainError> {
        let Some(d) = eval_data.as_mut() else { return Ok(None) };
        let r = evaluate(model, d, cfg.eval.max_sequences, code_role, &base)?;
        metrics.write(&serde_json::json!({"step": step, "eval": r}))?;
        Ok(Some(r))
    };
    if step == 0 {
        summary.eval = do_eval(&model, 0, &mut metrics)?;
        if let Some(e) = &summary.eval {
            log(&format!("step 0: held-out nll {:.4} (code {:.4})", e.nll, e.code_nll));
        }
    }
    let last = opts.stop_after.map_or(cfg.train.steps, |s| s.min(cfg.train.steps));
    let started = Instant::now();
    let mut input_tokens = 0u64;
    while step < last {
        let t0 = Instant::now();
        let global = data.next_batch(&mut pos, cfg.train.micro_batch * cfg.train.grad_accum)?;
        let total_weight: f64 = global.iter().map(Example::total_weight).sum();
        let (acc, loss_sum, micro_tokens) = accumulate(&model, &global, total_weight, cfg, &device);
        input_tokens += micro_tokens;
        tokens += global
            .iter()
            .map(|e| e.weights.iter().filter(|w| **w > 0.0).count() as u64)
            .sum::<u64>();
        let lr = schedule.lr(step);
        let (next, report) = opt.step(model, &acc, lr);
        model = next;
        step += 1;
        let dt = t0.elapsed().as_secs_f64();
        let tps = global.iter().map(|e| e.inputs.len()).sum::<usize>() as f64 / dt.max(1e-9);
        if !loss_sum.is_finite() {
            return Err(TrainError::Invalid(format!(
                "the loss became {loss_sum} at step {step}"
            )));
        }
        metrics.write(&serde_json::json!({
            "step": step, "loss": loss_sum, "lr": lr, "grad_norm": report.grad_norm,
            "clipped": report.clipped, "tokens": tokens, "tokens_per_s": tps, "step_s": dt,
        }))?;
        log(&format!(
            "step {step}/{}: loss {loss_sum:.4}  lr {lr:.2e}  grad-norm {:.3}  {tps:.0} tok/s",
            cfg.train.steps, report.grad_norm
        ));
        summary.losses.push(loss_sum);
        let at_end = step == last;
        if eval_every > 0 && step % eval_every == 0 || step == cfg.train.steps {
            summary.eval = do_eval(&model, step, &mut metrics)?;
            if let Some(e) = &summary.eval {
                log(&format!(
                    "step {step}: held-out nll {:.4} (code {:.4})",
                    e.nll, e.code_nll
                ));
            }
        }
        let every = cfg.checkpoint.every;
        if every > 0 && step % every == 0 || at_end {
            let state = CheckpointState {
                step,
                data: pos,
                seed: cfg.train.seed,
                tokens,
                model: shape.clone(),
            };
            save_checkpoint(out, &model, &opt, &state, cfg.checkpoint.dtype, cfg.checkpoint.keep)?;
        }
    }
    if step == cfg.train.steps {
        save_hf(&model, &shape, &out.join("final"), cfg.checkpoint.dtype)?;
    }
    let _ = crate::plot::loss_png(&metrics.path, &out.join("loss.png"));
    summary.step = step;
    summary.tokens = tokens;
    summary.tokens_per_s = input_tokens as f64 / started.elapsed().as_secs_f64().max(1e-9);
    Ok(summary)
}
