//! The Llama architecture in burn: token embedding, RMSNorm, rotary position
//! embeddings (Hugging Face's rotate-half convention, positions given per
//! token so they restart per document), grouped-query attention restricted to
//! a block-diagonal causal mask, SwiGLU MLP, tied or untied output.
//!
//! Attention here is the plain one (the full score matrix); the memory-efficient
//! attention for 64k sequences is part of the trainer issue still to come.

use burn::module::Module;
use burn::nn::{Embedding, EmbeddingConfig, Linear, LinearConfig, RmsNorm, RmsNormConfig};
use burn::tensor::{DType, Device, Int, Tensor, TensorData};

use crate::attention::{AttentionPlan, chunked_attention_planned, naive_attention};
use crate::data::PAD_DOC;
use crate::rms_norm::rms_norm;
use crate::rope::rope;
use crate::swiglu::swiglu;

/// Llama-3's RoPE frequency scaling: long wavelengths divided by `factor`,
/// short ones kept, a smooth blend between.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RopeScaling {
    /// `factor` (8 for Llama 3.1).
    pub factor: f64,
    /// `low_freq_factor` (1).
    pub low_freq_factor: f64,
    /// `high_freq_factor` (4).
    pub high_freq_factor: f64,
    /// `original_max_position_embeddings` (8192).
    pub original_max_position_embeddings: f64,
}

impl RopeScaling {
    /// The scaled inverse frequency.
    pub fn scale(&self, inv_freq: f64) -> f64 {
        let old = self.original_max_position_embeddings;
        let low_wavelen = old / self.low_freq_factor;
        let high_wavelen = old / self.high_freq_factor;
        let wavelen = 2.0 * std::f64::consts::PI / inv_freq;
        if wavelen < high_wavelen {
            inv_freq
        } else if wavelen > low_wavelen {
            inv_freq / self.factor
        } else {
            let smooth = (old / wavelen - self.low_freq_factor) / (self.high_freq_factor - self.low_freq_factor);
            (1.0 - smooth) * inv_freq / self.factor + smooth * inv_freq
        }
    }
}

/// The shape of a Llama model.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LlamaConfig {
    /// Vocabulary size (embedding rows).
    pub vocab_size: usize,
    /// Hidden size.
    pub d_model: usize,
    /// Decoder layers.
    pub n_layers: usize,
    /// Query heads.
    pub n_heads: usize,
    /// Key/value heads (grouped-query attention; divides `n_heads`).
    pub n_kv_heads: usize,
    /// MLP inner size.
    pub ffn_dim: usize,
    /// RoPE base.
    pub rope_theta: f64,
    /// Llama-3 RoPE frequency scaling (`rope_scaling` with `rope_type: llama3`).
    #[serde(default)]
    pub rope_scaling: Option<RopeScaling>,
    /// RMSNorm epsilon.
    pub rms_eps: f64,
    /// Output projection shares the embedding matrix.
    pub tie_embeddings: bool,
}

impl LlamaConfig {
    /// A tiny model for tests.
    pub fn tiny(vocab_size: usize) -> Self {
        Self {
            vocab_size,
            d_model: 32,
            n_layers: 2,
            n_heads: 4,
            n_kv_heads: 2,
            ffn_dim: 64,
            rope_theta: 10_000.0,
            rope_scaling: None,
            rms_eps: 1e-5,
            tie_embeddings: true,
        }
    }

    /// RoPE inverse frequencies (`head_dim / 2` of them), with Llama-3 scaling
    /// applied as in HF's `_compute_llama3_parameters`.
    pub fn inv_freq(&self) -> Vec<f32> {
        let hd = self.head_dim();
        (0..hd / 2)
            .map(|i| {
                let f = self.rope_theta.powf(-(2.0 * i as f64) / hd as f64);
                match &self.rope_scaling {
                    Some(s) => s.scale(f) as f32,
                    None => f as f32,
                }
            })
            .collect()
    }

    /// Per-head size.
    pub fn head_dim(&self) -> usize {
        self.d_model / self.n_heads
    }

    /// Builds a randomly initialised model.
    pub fn init(&self, device: &Device) -> Llama {
        let lin = |i, o| LinearConfig::new(i, o).with_bias(false).init(device);
        let hd = self.head_dim();
        let layers = (0..self.n_layers)
            .map(|_| Block {
                attn_norm: RmsNormConfig::new(self.d_model).with_epsilon(self.rms_eps).init(device),
                wq: lin(self.d_model, self.n_heads * hd),
                wk: lin(self.d_model, self.n_kv_heads * hd),
                wv: lin(self.d_model, self.n_kv_heads * hd),
                wo: lin(self.n_heads * hd, self.d_model),
                mlp_norm: RmsNormConfig::new(self.d_model).with_epsilon(self.rms_eps).init(device),
                w_gate: lin(self.d_model, self.ffn_dim),
                w_up: lin(self.d_model, self.ffn_dim),
                w_down: lin(self.ffn_dim, self.d_model),
            })
            .collect();
        Llama {
            embed: EmbeddingConfig::new(self.vocab_size, self.d_model).init(device),
            layers,
            norm: RmsNormConfig::new(self.d_model).with_epsilon(self.rms_eps).init(device),
            lm_head: (!self.tie_embeddings).then(|| lin(self.d_model, self.vocab_size)),
            n_heads: self.n_heads,
            n_kv_heads: self.n_kv_heads,
            inv_freq: self.inv_freq(),
            attn_chunk: 0,
        }
    }
}

/// One decoder layer.
#[derive(Module, Debug)]
pub struct Block {
    attn_norm: RmsNorm,
    wq: Linear,
    wk: Linear,
    wv: Linear,
    wo: Linear,
    mlp_norm: RmsNorm,
    w_gate: Linear,
    w_up: Linear,
    w_down: Linear,
}

impl Block {
    /// Queries `[b, heads, t, hd]`, keys and values `[b, kv_heads, t, hd]` of
    /// hidden states `[b, t, d]`, RoPE applied to the queries and keys.
    fn qkv(
        &self,
        h: Tensor<3>,
        n_heads: usize,
        n_kv_heads: usize,
        (cos, sin): (&Tensor<4>, &Tensor<4>),
    ) -> (Tensor<4>, Tensor<4>, Tensor<4>) {
        let [b, t, d] = h.dims();
        let hd = d / n_heads;
        let x = rms_norm(&self.attn_norm, h);
        let q = self.wq.forward(x.clone()).reshape([b, t, n_heads, hd]).swap_dims(1, 2);
        let k = self
            .wk
            .forward(x.clone())
            .reshape([b, t, n_kv_heads, hd])
            .swap_dims(1, 2);
        let v = self.wv.forward(x).reshape([b, t, n_kv_heads, hd]).swap_dims(1, 2);
        (rope(q, cos.clone(), sin.clone()), rope(k, cos.clone(), sin.clone()), v)
    }

    /// The rest of the layer after attention (`[b, heads, t, hd]`): output
    /// projection, residual, SwiGLU MLP, residual.
    fn finish(&self, h: Tensor<3>, attn: Tensor<4>) -> Tensor<3> {
        let [b, heads, t, hd] = attn.dims();
        let h = h + self.wo.forward(attn.swap_dims(1, 2).reshape([b, t, heads * hd]));
        let x = rms_norm(&self.mlp_norm, h.clone());
        h + self
            .w_down
            .forward(swiglu(self.w_gate.forward(x.clone()), self.w_up.forward(x)))
    }
}

/// The keys and values of a token prefix at every layer (`[1, kv_heads, len,
/// head_dim]` each, RoPE applied): what [`Llama::extend`] continues from, so
/// a prefix shared by several continuations is computed once.
#[derive(Clone, Debug, Default)]
pub struct KvCache {
    layers: Vec<(Tensor<4>, Tensor<4>)>,
    len: usize,
}

impl KvCache {
    /// Tokens cached.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The cache of the first `n` tokens (the keys and values of a position
    /// depend only on the tokens up to it).
    pub fn truncate(&self, n: usize) -> KvCache {
        let n = n.min(self.len);
        KvCache {
            layers: self
                .layers
                .iter()
                .map(|(k, v)| (k.clone().narrow(2, 0, n), v.clone().narrow(2, 0, n)))
                .collect(),
            len: n,
        }
    }
}

/// Query rows attended at a time by [`Llama::extend`] (bounds its score tile
/// to `heads × ROWS × (prefix + new)` values).
const EXTEND_ROWS: usize = 512;

/// A Llama decoder.
#[derive(Module, Debug)]
pub struct Llama {
    embed: Embedding,
    layers: Vec<Block>,
    norm: RmsNorm,
    lm_head: Option<Linear>,
    n_heads: usize,
    n_kv_heads: usize,
    inv_freq: Vec<f32>,
    /// Tile size of the memory-efficient attention (0: the naive attention).
    attn_chunk: usize,
}

/// Model inputs for a batch: tokens, per-token positions and the attention mask.
#[derive(Debug)]
pub struct Inputs {
    /// `[batch, seq]` token ids.
    pub tokens: Tensor<2, Int>,
    /// `[batch, seq]` positions (restarting per document).
    pub positions: Tensor<2, Int>,
    /// `[batch, seq]` document of each token; a token attends only to earlier
    /// tokens of its own document (padding tokens each get an id of their own,
    /// see [`crate::attention`]).
    pub documents: Tensor<2, Int>,
}

impl Inputs {
    /// Builds the tensors of a batch of examples of equal length.
    pub fn from_examples(examples: &[crate::data::Example], device: &Device) -> Inputs {
        let b = examples.len();
        let t = examples.first().map_or(0, |e| e.inputs.len());
        let tokens: Vec<i64> = examples
            .iter()
            .flat_map(|e| e.inputs.iter().map(|x| i64::from(*x)))
            .collect();
        let positions: Vec<i64> = examples
            .iter()
            .flat_map(|e| e.positions.iter().map(|x| i64::from(*x)))
            .collect();
        // Padding tokens get negative ids of their own: they see only themselves.
        let documents: Vec<i64> = examples
            .iter()
            .flat_map(|e| {
                e.documents
                    .iter()
                    .enumerate()
                    .map(|(i, d)| if *d == PAD_DOC { -1 - i as i64 } else { i64::from(*d) })
            })
            .collect();
        Inputs {
            tokens: Tensor::from_data(TensorData::new(tokens, [b, t]), device),
            positions: Tensor::from_data(TensorData::new(positions, [b, t]), device),
            documents: Tensor::from_data(TensorData::new(documents, [b, t]), device),
        }
    }
}

impl Llama {
    /// Chooses the attention implementation.
    pub fn with_attention(mut self, kind: crate::attention::AttentionKind, chunk: usize) -> Self {
        self.attn_chunk = match kind {
            crate::attention::AttentionKind::Naive => 0,
            crate::attention::AttentionKind::Chunked => chunk.max(1),
        };
        self
    }

    /// Logits computed in bfloat16 (every weight cast for this pass; the
    /// gradient flows back through the casts to the f32 master weights), returned as f32.
    pub fn forward_bf16(&self, inputs: &Inputs) -> Tensor<3> {
        self.bf16().forward(inputs).cast(DType::F32)
    }

    /// A copy with every weight cast to bfloat16 (the gradient flows back
    /// through the casts to these f32 weights).
    pub fn bf16(&self) -> Llama {
        struct Cast;
        impl burn::module::ModuleMapper for Cast {
            fn map_float<const D: usize>(
                &mut self,
                p: burn::module::Param<Tensor<D>>,
            ) -> burn::module::Param<Tensor<D>> {
                p.map(|t| t.cast(DType::BF16))
            }
        }
        self.clone().map(&mut Cast)
    }

    /// `−log p(target)` at every position (`[batch·seq]`) from final hidden
    /// states `[batch, seq, d_model]`, the output head applied `chunk`
    /// positions at a time ([`crate::loss::chunked_head_nll`]): no `[batch,
    /// seq, vocab]` logits exist, in the forward or the backward pass. Computed
    /// in f32 whatever the precision of `h` and the weights.
    pub fn head_nll(&self, h: Tensor<3>, targets: &[u32], chunk: usize) -> Tensor<1> {
        let [b, t, d] = h.dims();
        let f32 = |x: Tensor<2>| {
            if x.dtype() == DType::F32 { x } else { x.cast(DType::F32) }
        };
        let w = match &self.lm_head {
            Some(head) => head.weight.val(),
            None => self.embed.weight.val().transpose(),
        };
        crate::loss::chunked_head_nll(f32(h.reshape([b * t, d])), f32(w), targets, chunk)
    }

    /// `[batch, seq, vocab]` logits.
    pub fn forward(&self, inputs: &Inputs) -> Tensor<3> {
        self.logits(self.hidden(inputs))
    }

    /// The output head on final hidden states `[.., d_model]` (any rank): a
    /// scorer that needs a few positions projects only those.
    pub fn logits<const D: usize>(&self, h: Tensor<D>) -> Tensor<D> {
        match &self.lm_head {
            Some(head) => head.forward(h),
            None => {
                let w = self.embed.weight.val().transpose();
                let mut dims = [1usize; D];
                let [d, v] = w.dims();
                dims[D - 2] = d;
                dims[D - 1] = v;
                h.matmul(w.reshape(dims))
            }
        }
    }

    /// `[batch, seq, d_model]` final hidden states (after the last norm).
    pub fn hidden(&self, inputs: &Inputs) -> Tensor<3> {
        let mut h = self.embed.forward(inputs.tokens.clone());
        let [_, _, d_model] = h.dims();
        let hd = d_model / self.n_heads;
        // cos/sin: [b, 1, t, hd], the frequencies repeated for both halves.
        let dtype = h.dtype();
        let (cos, sin) = self.rope_tables(inputs.positions.clone(), hd, dtype);
        // The chunked attention's tiling: once for all layers.
        let plan = (self.attn_chunk > 0).then(|| AttentionPlan::new(&inputs.documents, self.attn_chunk));
        for layer in &self.layers {
            let (q, k, v) = layer.qkv(h.clone(), self.n_heads, self.n_kv_heads, (&cos, &sin));
            let attn = match &plan {
                None => naive_attention(q, k, v, inputs.documents.clone()),
                Some(plan) => {
                    // The tiled kernel computes in f32 (bf16 runs cast around it).
                    let (q, k, v) = (q.cast(DType::F32), k.cast(DType::F32), v.cast(DType::F32));
                    chunked_attention_planned(q, k, v, plan).cast(dtype)
                }
            };
            h = layer.finish(h, attn);
        }
        rms_norm(&self.norm, h)
    }

    /// RoPE's cos and sin tables `[b, 1, t, head_dim]` for positions `[b, t]`
    /// (the frequencies repeated for both halves).
    fn rope_tables(&self, positions: Tensor<2, Int>, hd: usize, dtype: DType) -> (Tensor<4>, Tensor<4>) {
        let [b, t] = positions.dims();
        let device = positions.device();
        let inv =
            Tensor::<1>::from_data(TensorData::new(self.inv_freq.clone(), [hd / 2]), &device).reshape([1, 1, hd / 2]);
        let angles = positions.float().reshape([b, t, 1]) * inv;
        let angles = Tensor::cat(vec![angles.clone(), angles], 2).reshape([b, 1, t, hd]);
        (angles.clone().cos().cast(dtype), angles.sin().cast(dtype))
    }

    /// Continues one sequence: `tokens` placed after the cached prefix
    /// (positions `cache.len()..`), each attending to the whole prefix and
    /// causally to the new tokens. Returns their final hidden states
    /// `[tokens, d_model]` and the cache extended by them. An empty cache makes
    /// this a plain forward pass of one document; the hidden states equal
    /// [`Llama::hidden`]'s on the whole sequence (to float rounding).
    pub fn extend(&self, cache: &KvCache, tokens: &[u32], device: &Device) -> (Tensor<2>, KvCache) {
        self.extend_tiled(cache, tokens, device, EXTEND_ROWS)
    }

    /// [`Llama::extend`] attending `tile` query rows at a time.
    fn extend_tiled(&self, cache: &KvCache, tokens: &[u32], device: &Device, tile: usize) -> (Tensor<2>, KvCache) {
        let (p, s) = (cache.len, tokens.len());
        let ids: Vec<i64> = tokens.iter().map(|&x| i64::from(x)).collect();
        let mut h = self
            .embed
            .forward(Tensor::from_data(TensorData::new(ids, [1, s]), device));
        let [_, _, d_model] = h.dims();
        let hd = d_model / self.n_heads;
        let positions: Vec<i64> = (p..p + s).map(|x| x as i64).collect();
        let (cos, sin) = self.rope_tables(
            Tensor::from_data(TensorData::new(positions, [1, s]), device),
            hd,
            h.dtype(),
        );
        // Row tiles and their masks (key j is hidden from query p + i when j > p + i), once for all layers.
        let tiles: Vec<(usize, usize, Tensor<4, burn::tensor::Bool>)> = (0..s)
            .step_by(tile.max(1))
            .map(|r0| {
                let rows = tile.max(1).min(s - r0);
                let mask: Vec<bool> = (0..rows)
                    .flat_map(|i| (0..p + s).map(move |j| j > p + r0 + i))
                    .collect();
                let mask = Tensor::<2, burn::tensor::Bool>::from_data(TensorData::new(mask, [rows, p + s]), device);
                (r0, rows, mask.reshape([1, 1, rows, p + s]).repeat_dim(1, self.n_heads))
            })
            .collect();
        let mut layers = Vec::with_capacity(self.layers.len());
        for (i, layer) in self.layers.iter().enumerate() {
            let (q, k, v) = layer.qkv(h.clone(), self.n_heads, self.n_kv_heads, (&cos, &sin));
            let (k, v) = match cache.layers.get(i) {
                Some((ck, cv)) => (Tensor::cat(vec![ck.clone(), k], 2), Tensor::cat(vec![cv.clone(), v], 2)),
                None => (k, v),
            };
            let parts: Vec<Tensor<4>> = tiles
                .iter()
                .map(|(r0, rows, mask)| {
                    let q = q.clone().narrow(2, *r0, *rows);
                    crate::attention::masked_attention(q, k.clone(), v.clone(), mask.clone())
                })
                .collect();
            h = layer.finish(h, Tensor::cat(parts, 2));
            layers.push((k, v));
        }
        let h = rms_norm(&self.norm, h).reshape([s, d_model]);
        (h, KvCache { layers, len: p + s })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Example;
    use repo2agent_core::shard::mds::Sample;

    fn example(ids: &[u32], docs: &[[u32; 2]]) -> Example {
        let n = ids.len();
        Example::from_sample(&Sample {
            input_ids: ids.to_vec(),
            indices: docs.to_vec(),
            mask: vec![1; n],
            roles: vec![5; n],
            length: docs.last().map_or(0, |d| u64::from(d[1])),
            weight: None,
        })
    }

    fn logits(m: &Llama, e: &Example) -> Vec<Vec<f32>> {
        let device = Device::flex();
        let out = m.forward(&Inputs::from_examples(std::slice::from_ref(e), &device));
        let [_, t, v] = out.dims();
        let flat = out.into_data().try_to_vec::<f32>().unwrap();
        (0..t).map(|i| flat[i * v..(i + 1) * v].to_vec()).collect()
    }

    fn close(a: &[f32], b: &[f32]) -> bool {
        a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-4)
    }

    #[test]
    fn documents_in_a_packed_sequence_do_not_see_each_other() {
        let device = Device::flex();
        for tie in [true, false] {
            let cfg = LlamaConfig {
                tie_embeddings: tie,
                ..LlamaConfig::tiny(50)
            };
            let m = cfg.init(&device);
            // Doc A = 3 tokens, doc B = 4 tokens, packed; and B alone.
            let packed = logits(&m, &example(&[5, 6, 7, 20, 21, 22, 23], &[[0, 3], [3, 7]]));
            assert_eq!(packed.len(), 7);
            assert_eq!(packed[0].len(), 50);
            let alone = logits(&m, &example(&[20, 21, 22, 23], &[[0, 4]]));
            for i in 0..4 {
                assert!(close(&packed[3 + i], &alone[i]), "position restarts and no leak at {i}");
            }
            // Changing doc A changes none of doc B's logits; changing a later
            // token of A leaves A's earlier logits alone (causal).
            let other = logits(&m, &example(&[9, 6, 8, 20, 21, 22, 23], &[[0, 3], [3, 7]]));
            for i in 3..7 {
                assert!(close(&packed[i], &other[i]));
            }
            assert!(!close(&packed[0], &other[0]));
            let later = logits(&m, &example(&[5, 6, 9, 20, 21, 22, 23], &[[0, 3], [3, 7]]));
            assert!(close(&packed[0], &later[0]) && close(&packed[1], &later[1]));
            assert!(!close(&packed[2], &later[2]));
        }
    }

    #[test]
    fn gradients_flow_from_the_weighted_loss_to_the_embedding() {
        let device = Device::flex().autodiff();
        let m = LlamaConfig::tiny(30).init(&device);
        let e = example(&[1, 2, 3, 4, 5, 6], &[[0, 4], [4, 6]]);
        let out = m.forward(&Inputs::from_examples(std::slice::from_ref(&e), &device));
        let loss = crate::loss::weighted_nll(out, &e.targets, &e.weights, e.total_weight());
        let value = loss.to_data().try_to_vec::<f32>().unwrap()[0];
        assert!(value.is_finite() && value > 0.0);
        let grads = loss.backward();
        let g = m.embed.weight.val().grad(&grads).expect("embedding gradient");
        let g = g.into_data().try_to_vec::<f32>().unwrap();
        assert!(g.iter().all(|x| x.is_finite()));
        assert!(g.iter().any(|x| *x != 0.0));
        // Row 29 (a token absent from input and targets) only gets gradient
        // through the tied output projection, which is still non-zero.
        assert!(g[29 * 32..30 * 32].iter().any(|x| *x != 0.0));
    }

    #[test]
    fn rope_scores_depend_only_on_relative_position() {
        let device = Device::flex();
        let hd = 8;
        let q: Vec<f32> = (0..hd).map(|i| (i as f32 * 0.37).sin()).collect();
        let k: Vec<f32> = (0..hd).map(|i| (i as f32 * 0.91).cos()).collect();
        let score = |pq: f32, pk: f32| {
            let rot = |x: &[f32], p: f32| {
                let inv: Vec<f32> = (0..hd / 2)
                    .map(|i| 10_000f32.powf(-(2.0 * i as f32) / hd as f32))
                    .collect();
                let ang: Vec<f32> = inv.iter().chain(inv.iter()).map(|f| f * p).collect();
                let t = |v: Vec<f32>| Tensor::<1>::from_data(TensorData::new(v, [hd]), &device).reshape([1, 1, 1, hd]);
                let cos = t(ang.iter().map(|a| a.cos()).collect());
                let sin = t(ang.iter().map(|a| a.sin()).collect());
                rope(t(x.to_vec()), cos, sin)
            };
            (rot(&q, pq) * rot(&k, pk))
                .sum()
                .into_data()
                .try_to_vec::<f32>()
                .unwrap()[0]
        };
        assert!((score(3.0, 1.0) - score(13.0, 11.0)).abs() < 1e-4);
        assert!((score(3.0, 1.0) - score(3.0, 2.0)).abs() > 1e-4);
        // rotate-half convention: position 0 is the identity.
        let plain: f32 = q.iter().zip(&k).map(|(a, b)| a * b).sum();
        assert!((score(0.0, 0.0) - plain).abs() < 1e-5);
    }

    #[test]
    fn extending_a_cached_prefix_gives_the_hidden_states_of_the_whole_sequence() {
        let device = Device::flex();
        let m = LlamaConfig::tiny(60).init(&device);
        let ids: Vec<u32> = (0..23).map(|i| (i * 7 + 3) % 60).collect();
        let whole = m.hidden(&Inputs::from_examples(&[example(&ids, &[[0, 23]])], &device));
        let whole = whole.reshape([23, 32]).into_data().try_to_vec::<f32>().unwrap();
        let rows = |t: Tensor<2>| t.into_data().try_to_vec::<f32>().unwrap();
        // In one piece from nothing, and as prefix + continuation (the cache
        // also cut back from a longer prefix), for several split points.
        let (all, cache) = m.extend(&KvCache::default(), &ids, &device);
        assert_eq!(cache.len(), 23);
        assert!(close(&rows(all), &whole));
        for (split, tile) in [(1, 512), (9, 5), (22, 1), (9, 14)] {
            let (_, longer) = m.extend(&KvCache::default(), &ids[..split + 1], &device);
            let prefix = longer.truncate(split);
            assert_eq!(prefix.len(), split);
            let (rest, extended) = m.extend_tiled(&prefix, &ids[split..], &device, tile);
            assert_eq!(extended.len(), 23);
            assert!(close(&rows(rest), &whole[split * 32..]), "split at {split}");
        }
        // Another continuation of the same prefix differs only after it.
        let (_, prefix) = m.extend(&KvCache::default(), &ids[..9], &device);
        let other: Vec<u32> = ids[9..].iter().map(|x| (x + 1) % 60).collect();
        let (rest, _) = m.extend(&prefix, &other, &device);
        assert!(!close(&rows(rest).as_slice()[..32], &whole[9 * 32..10 * 32]));
    }
}
