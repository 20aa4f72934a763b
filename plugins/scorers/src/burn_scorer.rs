//! The `burn` scorer: target NLLs from the trainer's Llama, offline.
//!
//! Each (context, target) pair is tokenized as two pieces (context, then
//! target, each without special tokens) so the target's tokens are exactly its
//! own tokenization; the context keeps its last `max_context_tokens` tokens.
//! An empty context is replaced by the tokenizer's start token (BOS, or
//! `<|endoftext|>` for models without one) so the first target token is
//! predicted from something. Pairs are packed into sequences of up to
//! `batch_tokens` tokens as separate documents (block-diagonal attention,
//! positions restarting per pair), so one forward pass scores many pairs and
//! the packing never changes a score.

use std::path::PathBuf;
use std::sync::Mutex;

use burn::tensor::{Device, Int, Tensor, TensorData};
use repo2agent_core::StageError;
use repo2agent_core::shard::mds::Sample;
use repo2agent_core::stage::{ScoreRequest, Scorer, TargetScore};
use repo2agent_trainer::config::AttentionKind;
use repo2agent_trainer::data::Example;
use repo2agent_trainer::loss::target_logprobs;
use repo2agent_trainer::model::{Inputs, Llama};
use serde::Deserialize;

/// Options of `[scorers.NAME] type = "burn"`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BurnScorerConfig {
    /// The model: a `.gguf` file, or a directory with `config.json` and
    /// safetensors (an HF model, or one of the trainer's checkpoints / `final/`).
    pub model: PathBuf,
    /// `tokenizer.json`; default: `tokenizer.json` beside the model, or, for a
    /// GGUF file, the tokenizer rebuilt from its metadata.
    #[serde(default)]
    pub tokenizer: Option<PathBuf>,
    /// Trainer device: `flex` (CPU), `wgpu`, `cuda`.
    #[serde(default = "default_device")]
    pub device: String,
    /// Context tokens kept (the last ones).
    #[serde(default = "default_context")]
    pub max_context_tokens: usize,
    /// Tokens per packed forward pass.
    #[serde(default = "default_batch")]
    pub batch_tokens: usize,
    /// Tile size of the chunked attention.
    #[serde(default = "default_chunk")]
    pub attention_chunk: usize,
}

fn default_device() -> String {
    "flex".into()
}

fn default_context() -> usize {
    2048
}

fn default_batch() -> usize {
    4096
}

fn default_chunk() -> usize {
    256
}

/// The loaded scorer.
pub struct BurnScorer {
    model: Mutex<Llama>,
    tokenizer: tokenizers::Tokenizer,
    start: u32,
    device: Device,
    config: BurnScorerConfig,
}

impl std::fmt::Debug for BurnScorer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BurnScorer").field("config", &self.config).finish()
    }
}

impl BurnScorer {
    /// Loads the model and the tokenizer (errors say which file and why).
    pub fn load(config: BurnScorerConfig) -> Result<Self, String> {
        if config.max_context_tokens == 0 || config.batch_tokens == 0 || config.attention_chunk == 0 {
            return Err("max_context_tokens, batch_tokens and attention_chunk must be at least 1".into());
        }
        for (what, path) in
            std::iter::once(("model", &config.model)).chain(config.tokenizer.iter().map(|t| ("tokenizer", t)))
        {
            if let Some(missing) = repo2agent_core::config::missing_file(what, path) {
                return Err(missing);
            }
        }
        let device = repo2agent_trainer::device::device(&config.device)?;
        let (shape, tensors) =
            repo2agent_trainer::weights::read_pretrained(&config.model).map_err(|e| e.to_string())?;
        let (model, _) =
            repo2agent_trainer::weights::load_tensors(shape.init(&device), &tensors).map_err(|e| e.to_string())?;
        let model = model.with_attention(AttentionKind::Chunked, config.attention_chunk);
        let is_gguf = config.model.extension().is_some_and(|e| e == "gguf");
        let tokenizer = match &config.tokenizer {
            Some(path) => tokenizers::Tokenizer::from_file(path).map_err(|e| format!("{}: {e}", path.display()))?,
            None if is_gguf => {
                let file = repo2agent_trainer::gguf::GgufFile::open(&config.model).map_err(|e| e.to_string())?;
                let json = repo2agent_trainer::gguf_tokenizer::tokenizer_json(&file).map_err(|e| e.to_string())?;
                json.parse::<tokenizers::Tokenizer>()
                    .map_err(|e| format!("{}: rebuilt tokenizer: {e}", config.model.display()))?
            }
            None => {
                let dir = if config.model.is_dir() {
                    config.model.clone()
                } else {
                    config.model.parent().map(PathBuf::from).unwrap_or_default()
                };
                let path = dir.join("tokenizer.json");
                tokenizers::Tokenizer::from_file(&path).map_err(|e| {
                    format!(
                        "{}: {e} (set `tokenizer` to the model's tokenizer.json)",
                        path.display()
                    )
                })?
            }
        };
        let vocab = tokenizer.get_vocab_size(true);
        if vocab > shape.vocab_size {
            return Err(format!(
                "the tokenizer has {vocab} tokens but the model's vocabulary is {}",
                shape.vocab_size
            ));
        }
        let start = ["<|begin_of_text|>", "<s>", "<|endoftext|>", "<|im_start|>"]
            .iter()
            .find_map(|t| tokenizer.token_to_id(t))
            .unwrap_or(0);
        Ok(Self {
            model: Mutex::new(model),
            tokenizer,
            start,
            device,
            config,
        })
    }

    fn encode(&self, text: &str) -> Result<Vec<u32>, StageError> {
        if text.is_empty() {
            return Ok(Vec::new());
        }
        self.tokenizer
            .encode(text, false)
            .map(|e| e.get_ids().to_vec())
            .map_err(|e| StageError::Invalid(format!("tokenizing: {e}")))
    }

    /// The token ids of one pair: context (truncated, or the start token) and target.
    pub fn pair_ids(&self, r: &ScoreRequest) -> Result<(Vec<u32>, Vec<u32>), StageError> {
        let mut context = self.encode(&r.context)?;
        if context.len() > self.config.max_context_tokens {
            context.drain(..context.len() - self.config.max_context_tokens);
        }
        if context.is_empty() {
            context.push(self.start);
        }
        Ok((context, self.encode(&r.target)?))
    }

    /// Scores pairs already tokenized; each document is `context ++ target`.
    fn score_packed(&self, docs: &[(Vec<u32>, Vec<u32>)]) -> Result<Vec<TargetScore>, StageError> {
        let model = self
            .model
            .lock()
            .map_err(|_| StageError::Failed("scorer model lock poisoned".into()))?;
        let mut out = Vec::with_capacity(docs.len());
        let mut i = 0;
        while i < docs.len() {
            // Greedy packing in request order.
            let mut j = i;
            let mut len = 0;
            while j < docs.len() && (j == i || len + docs[j].0.len() + docs[j].1.len() <= self.config.batch_tokens) {
                len += docs[j].0.len() + docs[j].1.len();
                j += 1;
            }
            // One packed example: each pair its own document (positions restart,
            // attention stays inside), as the trainer packs shards.
            let (mut ids, mut indices, mut rows, mut targets) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
            for (c, t) in &docs[i..j] {
                let base = ids.len();
                ids.extend(c.iter().chain(t));
                indices.push([base as u32, ids.len() as u32]);
                // Target token k is predicted at position base + |c| - 1 + k.
                rows.extend((0..t.len()).map(|k| (base + c.len() - 1 + k) as i64));
                targets.extend_from_slice(t);
            }
            let n = ids.len();
            let example = Example::from_sample(&Sample {
                input_ids: ids,
                indices,
                mask: vec![1; n],
                roles: vec![0; n],
                length: n as u64,
                weight: None,
            });
            let hidden = model.hidden(&Inputs::from_examples(&[example], &self.device));
            let [_, _, d] = hidden.dims();
            let nll: Vec<f32> = if rows.is_empty() {
                Vec::new()
            } else {
                // Only the positions that predict a target token go through the
                // output head (the context's logits are never needed).
                let idx = Tensor::<1, Int>::from_data(TensorData::new(rows, [targets.len()]), &self.device);
                target_logprobs(model.logits(hidden.reshape([n, d]).select(0, idx)), &targets)
                    .neg()
                    .into_data()
                    .convert::<f32>()
                    .try_to_vec::<f32>()
                    .map_err(|e| StageError::Failed(format!("reading scores: {e:?}")))?
            };
            let mut at = 0;
            for (c, t) in &docs[i..j] {
                out.push(TargetScore {
                    token_nll: nll[at..at + t.len()].iter().map(|x| f64::from(*x)).collect(),
                    context_tokens: c.len() as u64,
                });
                at += t.len();
            }
            i = j;
        }
        Ok(out)
    }
}

#[async_trait::async_trait]
impl Scorer for BurnScorer {
    /// Computes inline: the model runs on the calling thread (or its device).
    async fn score(&self, batch: &[ScoreRequest]) -> Result<Vec<TargetScore>, StageError> {
        let docs = batch.iter().map(|r| self.pair_ids(r)).collect::<Result<Vec<_>, _>>()?;
        self.score_packed(&docs)
    }

    /// The model file (path, size, modification time), the tokenizer and the
    /// context truncation: what the numbers depend on.
    fn fingerprint(&self) -> Option<String> {
        let stamp = |p: &std::path::Path| {
            std::fs::metadata(p)
                .ok()
                .map(|m| {
                    let t = m
                        .modified()
                        .ok()
                        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok());
                    format!("{}:{}", m.len(), t.map_or(0, |d| d.as_secs()))
                })
                .unwrap_or_default()
        };
        let model = if self.config.model.is_dir() {
            let c = self.config.model.join("config.json");
            stamp(&c)
        } else {
            stamp(&self.config.model)
        };
        Some(format!(
            "burn|{}|{model}|{}|{}|{}",
            self.config.model.display(),
            self.config
                .tokenizer
                .as_ref()
                .map(|t| t.display().to_string())
                .unwrap_or_default(),
            self.config.max_context_tokens,
            self.tokenizer.get_vocab_size(true)
        ))
    }
}
