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
//!
//! Requests whose contexts begin with the same tokens (the candidates of one
//! search round: the same trajectory before the thought, another thought) are
//! scored from one computation of that prefix: its keys and values are
//! computed once ([`Llama::extend`]) and each request's rest (the rest of its
//! context, then its target) continues from them. The last prefixes are kept
//! for the next call too, so the next round of the same thought reuses them.
//! `share_prefix = false` turns this off; the scores are the same either way
//! (to float rounding), only the work differs.

use std::path::PathBuf;
use std::sync::Mutex;

use burn::tensor::{Device, Int, Tensor, TensorData};
use repo2agent_core::StageError;
use repo2agent_core::score::{common_prefix, prefix_groups};
use repo2agent_core::shard::mds::Sample;
use repo2agent_core::stage::{ScoreRequest, Scorer, TargetScore};
use repo2agent_trainer::config::AttentionKind;
use repo2agent_trainer::data::Example;
use repo2agent_trainer::model::{Inputs, KvCache, Llama};
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
    /// Compute a context prefix shared by several requests once (this call's
    /// and the last calls'); the scores are the same either way.
    #[serde(default = "default_share_prefix")]
    pub share_prefix: bool,
}

fn default_share_prefix() -> bool {
    true
}

/// Requests share a prefix when their contexts begin with at least this many
/// equal tokens (below that, packing them is cheaper than a separate pass).
const MIN_SHARED: usize = 32;

/// Prefixes whose keys and values are kept across calls.
const KEPT_PREFIXES: usize = 2;

/// Target rows whose logits are computed at a time (a tile of `HEAD_ROWS ×
/// vocab` f32: 100 MB at SmolLM2's 49,152, 263 MB at Llama 3's 128,256).
const HEAD_ROWS: usize = 512;

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
    /// The last shared prefixes (tokens, their keys and values), newest first.
    prefixes: Mutex<Vec<(Vec<u32>, KvCache)>>,
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
            prefixes: Mutex::new(Vec::new()),
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
    fn score_packed(&self, model: &Llama, docs: &[&(Vec<u32>, Vec<u32>)]) -> Result<Vec<TargetScore>, StageError> {
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
            let nll = self.target_nll(model, hidden.reshape([n, d]), rows, &targets)?;
            let mut at = 0;
            for (c, t) in &docs[i..j] {
                out.push(TargetScore {
                    token_nll: nll[at..at + t.len()].iter().map(|x| f64::from(*x)).collect(),
                    context_tokens: c.len() as u64,
                    reused_tokens: 0,
                });
                at += t.len();
            }
            i = j;
        }
        Ok(out)
    }

    /// `−log p(target)` of each target token, predicted at hidden-state row
    /// `rows[k]` of `hidden` (`[n, d]`): only those rows go through the output
    /// head (the context's logits are never needed).
    fn target_nll(
        &self,
        model: &Llama,
        hidden: Tensor<2>,
        rows: Vec<i64>,
        targets: &[u32],
    ) -> Result<Vec<f32>, StageError> {
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let idx = Tensor::<1, Int>::from_data(TensorData::new(rows, [targets.len()]), &self.device);
        let picked = hidden.select(0, idx);
        let [n, d] = picked.dims();
        // The tiled head: no [n, vocab] log-softmax, HEAD_ROWS rows of logits at a time.
        model
            .head_nll(picked.reshape([1, n, d]), targets, HEAD_ROWS)
            .into_data()
            .convert::<f32>()
            .try_to_vec::<f32>()
            .map_err(|e| StageError::Failed(format!("reading scores: {e:?}")))
    }

    /// The keys and values of `prefix`: continued from the longest kept
    /// prefix it begins with (when that shares [`MIN_SHARED`] tokens or more),
    /// then kept in its place. Also returns how many tokens were reused.
    fn prefix_cache(&self, model: &Llama, prefix: &[u32]) -> Result<(KvCache, usize), StageError> {
        let mut kept = self
            .prefixes
            .lock()
            .map_err(|_| StageError::Failed("scorer prefix lock poisoned".into()))?;
        let best = kept
            .iter()
            .enumerate()
            .map(|(i, (tokens, _))| (i, common_prefix(tokens, prefix)))
            .filter(|&(_, n)| n >= MIN_SHARED)
            .max_by_key(|&(_, n)| n);
        let (base, reused) = match best {
            Some((i, n)) => (kept[i].1.truncate(n), n),
            None => (KvCache::default(), 0),
        };
        let cache = if reused < prefix.len() {
            model.extend(&base, &prefix[reused..], &self.device).1
        } else {
            base
        };
        // Newest first; an entry this prefix extends (or repeats) is replaced.
        kept.retain(|(tokens, _)| common_prefix(tokens, prefix) < tokens.len());
        kept.insert(0, (prefix.to_vec(), cache.clone()));
        kept.truncate(KEPT_PREFIXES);
        Ok((cache, reused))
    }

    /// Scores requests that share their first `shared` context tokens (each
    /// context longer than that): the prefix once, then each request's rest.
    fn score_shared(
        &self,
        model: &Llama,
        docs: &[&(Vec<u32>, Vec<u32>)],
        shared: usize,
    ) -> Result<Vec<TargetScore>, StageError> {
        let (cache, reused) = self.prefix_cache(model, &docs[0].0[..shared])?;
        let mut out = Vec::with_capacity(docs.len());
        for (n, (c, t)) in docs.iter().map(|d| (&d.0, &d.1)).enumerate() {
            let rest: Vec<u32> = c[shared..].iter().chain(t).copied().collect();
            let (hidden, _) = model.extend(&cache, &rest, &self.device);
            // Target token k is predicted at row |c| - shared - 1 + k of the rest.
            let rows = (0..t.len()).map(|k| (c.len() - shared - 1 + k) as i64).collect();
            let nll = self.target_nll(model, hidden, rows, t)?;
            out.push(TargetScore {
                token_nll: nll.iter().map(|x| f64::from(*x)).collect(),
                context_tokens: c.len() as u64,
                // The first request paid for the part of the prefix not kept from before.
                reused_tokens: if n == 0 { reused } else { shared } as u64,
            });
        }
        Ok(out)
    }

    /// Scores tokenized pairs, sharing the prefixes they have in common.
    fn score_docs(&self, docs: &[(Vec<u32>, Vec<u32>)]) -> Result<Vec<TargetScore>, StageError> {
        let model = self
            .model
            .lock()
            .map_err(|_| StageError::Failed("scorer model lock poisoned".into()))?;
        if !self.config.share_prefix {
            return self.score_packed(&model, &docs.iter().collect::<Vec<_>>());
        }
        let kept: Vec<Vec<u32>> = self
            .prefixes
            .lock()
            .map_err(|_| StageError::Failed("scorer prefix lock poisoned".into()))?
            .iter()
            .map(|(t, _)| t.clone())
            .collect();
        let mut out: Vec<Option<TargetScore>> = vec![None; docs.len()];
        let mut alone = Vec::new();
        for (members, shared) in share_groups(docs, &kept) {
            if shared == 0 {
                alone.extend(members);
                continue;
            }
            let group: Vec<&(Vec<u32>, Vec<u32>)> = members.iter().map(|&i| &docs[i]).collect();
            for (i, s) in members.into_iter().zip(self.score_shared(&model, &group, shared)?) {
                out[i] = Some(s);
            }
        }
        let packed: Vec<&(Vec<u32>, Vec<u32>)> = alone.iter().map(|&i| &docs[i]).collect();
        for (i, s) in alone.into_iter().zip(self.score_packed(&model, &packed)?) {
            out[i] = Some(s);
        }
        Ok(out.into_iter().map(Option::unwrap_or_default).collect())
    }
}

/// Groups requests by shared context prefix (`(members, shared tokens)`,
/// [`prefix_groups`] with [`MIN_SHARED`]); a request alone forms a group
/// with a kept prefix it begins with; `shared = 0` means none.
fn share_groups(docs: &[(Vec<u32>, Vec<u32>)], kept: &[Vec<u32>]) -> Vec<(Vec<usize>, usize)> {
    let contexts: Vec<&[u32]> = docs.iter().map(|d| d.0.as_slice()).collect();
    let mut groups = prefix_groups(&contexts, MIN_SHARED);
    for (members, shared) in &mut groups {
        if let [i] = members[..] {
            let own = contexts[i].len().saturating_sub(1);
            let k = kept
                .iter()
                .map(|k| common_prefix(k, contexts[i]))
                .max()
                .unwrap_or(0)
                .min(own);
            *shared = if k >= MIN_SHARED { k } else { 0 };
        }
    }
    groups
}

#[async_trait::async_trait]
impl Scorer for BurnScorer {
    /// Computes inline: the model runs on the calling thread (or its device).
    async fn score(&self, batch: &[ScoreRequest]) -> Result<Vec<TargetScore>, StageError> {
        let docs = batch.iter().map(|r| self.pair_ids(r)).collect::<Result<Vec<_>, _>>()?;
        self.score_docs(&docs)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(context: &[u32]) -> (Vec<u32>, Vec<u32>) {
        (context.to_vec(), vec![7, 8])
    }

    #[test]
    fn requests_group_by_their_common_context_prefix() {
        let base: Vec<u32> = (0..100).collect();
        let with = |tail: &[u32]| -> Vec<u32> { base.iter().chain(tail).copied().collect() };
        let docs = vec![
            doc(&with(&[1, 2])),
            doc(&(500..600).collect::<Vec<_>>()),
            doc(&with(&[1, 3, 4])),
            doc(&base[..40]),
            doc(&with(&[9])),
        ];
        let groups = share_groups(&docs, &[]);
        // The three long ones share 100 (+1) tokens; the 40-token context
        // shares 39 but would cut the group's shared part below half, so it
        // stays alone, like the unrelated one.
        assert!(groups.contains(&(vec![0, 2, 4], 100)), "{groups:?}");
        assert!(groups.contains(&(vec![1], 0)), "{groups:?}");
        assert!(groups.contains(&(vec![3], 0)), "{groups:?}");
        // Identical contexts share all but their last token.
        let same = vec![doc(&base), doc(&base)];
        assert_eq!(share_groups(&same, &[]), vec![(vec![0, 1], 99)]);
        // Short common prefixes are not shared.
        let short = vec![doc(&with(&[1])[75..]), doc(&base[75..])];
        assert!(share_groups(&short, &[]).iter().all(|(_, n)| *n == 0));
        // A request alone reuses a kept prefix it begins with.
        let kept = vec![base[..80].to_vec()];
        assert_eq!(share_groups(&[doc(&with(&[5]))], &kept), vec![(vec![0], 80)]);
        assert_eq!(share_groups(&[doc(&base[..50])], &kept), vec![(vec![0], 49)]);
    }
}
