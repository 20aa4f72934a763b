//! Attention over packed sequences: causal, and blocked between documents.
//!
//! The mask is never passed around as a `[seq, seq]` tensor: each token carries
//! a document id (padding tokens get ids of their own, so a pad token sees only
//! itself) and the attention derives "same document and not in the future"
//! from the ids. [`naive_attention`] materialises the full score matrix; it is
//! the reference for [`chunked_attention`], the memory-efficient attention.
//!
//! [`chunked_attention`] is FlashAttention-2 written with burn tensor ops: the
//! forward pass walks `[chunk, chunk]` tiles with an online softmax and keeps
//! only the output and the row log-sum-exp; its backward pass is its own
//! autodiff step (burn-autodiff's `Backward` trait, reached through burn's
//! `extension` feature) that recomputes the probabilities tile by tile. Under
//! autodiff, memory therefore stays linear in the sequence length instead of
//! holding every score tile for the backward pass.

use std::ops::Range;
use std::sync::Arc;

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::{BalancedCheckpointing, CheckpointStrategy, NoCheckpointing};
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::{Autodiff, Backend, DispatchKindConversion, DispatchTensor, Flex};
use burn::tensor::activation::softmax;
use burn::tensor::{Bool, GradientCheckpointingStrategy, Int, Tensor, TensorData};

use crate::host::tensor;

/// Which attention implementation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AttentionKind {
    /// The full score matrix (short sequences).
    Naive,
    /// Tiled with online softmax and its own backward: memory linear in length.
    #[default]
    Chunked,
}

/// Repeats each of the `[b, kv, t, d]` key/value heads `group` times → `[b, kv·group, t, d]`.
pub fn repeat_kv(x: Tensor<4>, group: usize) -> Tensor<4> {
    if group == 1 {
        return x;
    }
    let [b, kv, t, d] = x.dims();
    x.reshape([b, kv, 1, t, d])
        .repeat_dim(2, group)
        .reshape([b, kv * group, t, d])
}

/// `[b, tq, tk]`: true where query `q` (document `dq`, index `q0 + q`) may *not*
/// attend key `k` (document `dk`, index `k0 + k`).
pub fn blocked(docs_q: Tensor<2, Int>, docs_k: Tensor<2, Int>, q0: usize, k0: usize) -> Tensor<3, Bool> {
    let device = docs_q.device();
    let [b, tq] = docs_q.dims();
    let [_, tk] = docs_k.dims();
    let dq = docs_q.reshape([b, tq, 1]).expand([b, tq, tk]);
    let dk = docs_k.reshape([b, 1, tk]).expand([b, tq, tk]);
    let qi = Tensor::<1, Int>::arange(q0 as i64..(q0 + tq) as i64, &device)
        .reshape([1, tq, 1])
        .expand([b, tq, tk]);
    let ki = Tensor::<1, Int>::arange(k0 as i64..(k0 + tk) as i64, &device)
        .reshape([1, 1, tk])
        .expand([b, tq, tk]);
    dq.not_equal(dk).bool_or(ki.greater(qi))
}

/// Softmax attention with the full score matrix. `q`: `[b, h, t, d]`; `k`, `v`:
/// `[b, kv, t, d]` with `kv` dividing `h`; `docs`: `[b, t]` document ids.
pub fn naive_attention(q: Tensor<4>, k: Tensor<4>, v: Tensor<4>, docs: Tensor<2, Int>) -> Tensor<4> {
    let [b, h, t, _] = q.dims();
    let mask = blocked(docs.clone(), docs, 0, 0).reshape([b, 1, t, t]).repeat_dim(1, h);
    masked_attention(q, k, v, mask)
}

/// Softmax attention of queries `[b, h, tq, d]` over keys and values `[b, kv,
/// tk, d]` (`kv` dividing `h`), the scores where `hidden` (`[b, h, tq, tk]`)
/// is true left out: [`naive_attention`]'s, and `Llama::extend`'s over a
/// cached prefix.
pub(crate) fn masked_attention(q: Tensor<4>, k: Tensor<4>, v: Tensor<4>, hidden: Tensor<4, Bool>) -> Tensor<4> {
    let [_, h, _, d] = q.dims();
    let group = h / k.dims()[1];
    let (k, v) = (repeat_kv(k, group), repeat_kv(v, group));
    let scores = q.matmul(k.swap_dims(2, 3)) / (d as f64).sqrt();
    softmax(scores.mask_fill(hidden, f32::NEG_INFINITY), 3).matmul(v)
}

/// Memory-efficient attention: same result as [`naive_attention`], memory linear in `t`.
///
/// Shapes as for [`naive_attention`]; `chunk` is the tile edge (clamped to `1..=t`).
/// No more than one `[b, h, chunk, chunk]` score tile lives at a time. Tiles in
/// the future of their query chunk are skipped, and so are tiles whose query and
/// key chunks share no document (read from `docs` on the host, once per call);
/// tiles inside one document need no mask.
///
/// Inputs without autodiff get the forward pass alone. With autodiff (on the
/// `flex` backend, or the cubecl one of the `wgpu`/`cuda` features; with or
/// without gradient checkpointing) the op registers its own backward step, which keeps `q`, `k`, `v`, the output and the `[b, h, t]`
/// log-sum-exp, and recomputes the probabilities tile by tile (FlashAttention-2).
/// On any other autodiff backend it falls back to the same tiled forward pass
/// composed of differentiable ops: correct gradients, but autodiff then keeps
/// every tile (quadratic memory).
pub fn chunked_attention(q: Tensor<4>, k: Tensor<4>, v: Tensor<4>, docs: Tensor<2, Int>, chunk: usize) -> Tensor<4> {
    let plan = AttentionPlan::new(&docs, chunk);
    chunked_attention_planned(q, k, v, &plan)
}

/// The host-side tiling of one batch's document ids: built once per forward
/// pass (one read of the ids from the device) and shared by every layer.
#[derive(Clone, Debug)]
pub struct AttentionPlan(Arc<Tiling>);

impl AttentionPlan {
    /// Tiles of `chunk` tokens over `docs` (`[b, t]` document ids).
    pub fn new(docs: &Tensor<2, Int>, chunk: usize) -> Self {
        let [b, t] = docs.dims();
        Self(Arc::new(Tiling::new(
            docs.to_data().iter::<i64>().collect(),
            b,
            t,
            chunk,
        )))
    }
}

/// [`chunked_attention`] with a plan made beforehand.
pub fn chunked_attention_planned(q: Tensor<4>, k: Tensor<4>, v: Tensor<4>, plan: &AttentionPlan) -> Tensor<4> {
    let [b, h, t, d] = q.dims();
    let [bk, kv, tk, dk] = k.dims();
    assert!(
        bk == b && tk == t && dk == d && v.dims() == k.dims(),
        "chunked_attention: q {:?}, k {:?}, v {:?} disagree",
        q.dims(),
        k.dims(),
        v.dims()
    );
    assert!(
        kv > 0 && h % kv == 0,
        "chunked_attention: {kv} key/value heads do not divide {h} query heads"
    );
    let tiling = &plan.0;
    assert_eq!(
        (tiling.b, tiling.t),
        (b, t),
        "chunked_attention: docs must be [batch, seq]"
    );
    if b == 0 || t == 0 || h == 0 {
        return q;
    }
    if ![&q, &k, &v].iter().any(|x| x.is_autodiff()) {
        return forward_tiles(q, k, v, tiling).0;
    }
    let strategy = [&q, &k, &v]
        .iter()
        .find_map(|x| x.gradient_checkpointing_strategy())
        .unwrap_or_default();
    // A constant input next to autodiff ones joins them (untracked).
    let lift = |x: Tensor<4>| {
        if x.is_autodiff() {
            x
        } else {
            x.autodiff().with_gradient_checkpointing_strategy(strategy)
        }
    };
    let (q, k, v) = (lift(q), lift(k), lift(v));
    let done = own_backward(q, k, v, tiling, strategy);
    done.unwrap_or_else(|inputs| {
        let [q, k, v] = *inputs;
        forward_tiles(q, k, v, tiling).0
    })
}

/// The document ids on the host, cut into chunks: which tiles to skip, and
/// which need a mask.
#[derive(Debug)]
struct Tiling {
    b: usize,
    t: usize,
    chunk: usize,
    /// `[b, t]` document ids.
    docs: Vec<i64>,
    /// `[chunks, b]`: the distinct document ids of each chunk of each row, sorted.
    ids: Vec<Vec<i64>>,
}

/// What a `[query chunk, key chunk]` tile needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Tile {
    /// No query of the tile may attend any of its keys.
    Skip,
    /// Every query may attend every key (one document, keys all in the past).
    Full,
    /// Some may, some may not.
    Masked,
}

impl Tiling {
    fn new(docs: Vec<i64>, b: usize, t: usize, chunk: usize) -> Tiling {
        let chunk = chunk.clamp(1, t.max(1));
        let mut tiling = Tiling {
            b,
            t,
            chunk,
            docs,
            ids: Vec::new(),
        };
        for c in 0..tiling.chunks() {
            let r = tiling.range(c);
            for row in 0..b {
                let mut ids = tiling.docs[row * t + r.start..row * t + r.end].to_vec();
                ids.sort_unstable();
                ids.dedup();
                tiling.ids.push(ids);
            }
        }
        tiling
    }

    fn chunks(&self) -> usize {
        self.t.div_ceil(self.chunk)
    }

    fn range(&self, c: usize) -> Range<usize> {
        c * self.chunk..((c + 1) * self.chunk).min(self.t)
    }

    /// Query chunk `i` against key chunk `j`.
    fn tile(&self, i: usize, j: usize) -> Tile {
        if j > i {
            return Tile::Skip;
        }
        if j == i {
            // Causal within the tile; never empty (every token sees itself).
            return Tile::Masked;
        }
        let (mut any, mut full) = (false, true);
        for row in 0..self.b {
            let (a, c) = (&self.ids[i * self.b + row], &self.ids[j * self.b + row]);
            if a.len() == 1 && a == c {
                any = true;
            } else {
                full = false;
                any |= intersects(a, c);
            }
        }
        match (any, full) {
            (false, _) => Tile::Skip,
            (true, true) => Tile::Full,
            (true, false) => Tile::Masked,
        }
    }

    /// `[b, 1, 1, cq, ck]`: 0 where query chunk `i` may attend key chunk `j`,
    /// -inf where [`blocked`] says it may not.
    fn bias(&self, i: usize, j: usize, device: &burn::tensor::Device) -> Tensor<5> {
        let (rq, rk) = (self.range(i), self.range(j));
        let mut bias = Vec::with_capacity(self.b * rq.len() * rk.len());
        for row in 0..self.b {
            let docs = &self.docs[row * self.t..(row + 1) * self.t];
            for q in rq.clone() {
                bias.extend(rk.clone().map(|k| {
                    if k <= q && docs[k] == docs[q] {
                        0.0f32
                    } else {
                        f32::NEG_INFINITY
                    }
                }));
            }
        }
        Tensor::from_data(TensorData::new(bias, [self.b, 1, 1, rq.len(), rk.len()]), device)
    }
}

/// Whether two sorted slices share an element.
fn intersects(a: &[i64], b: &[i64]) -> bool {
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => return true,
        }
    }
    false
}

/// `[b, h, t, d]` query-side tensor → one `[b, kv, group·c, d]` tensor per chunk:
/// the `group` query heads sharing a key/value head stacked along the rows.
fn query_chunks(x: &Tensor<4>, kv: usize, tiling: &Tiling) -> Vec<Tensor<4>> {
    let [b, h, _, d] = x.dims();
    (0..tiling.chunks())
        .map(|c| {
            let r = tiling.range(c);
            x.clone()
                .narrow(2, r.start, r.len())
                .reshape([b, kv, h / kv * r.len(), d])
        })
        .collect()
}

/// `[b, kv, t, d]` → one `[b, kv, c, d]` view per chunk.
fn key_chunks(x: &Tensor<4>, tiling: &Tiling) -> Vec<Tensor<4>> {
    (0..tiling.chunks())
        .map(|c| {
            let r = tiling.range(c);
            x.clone().narrow(2, r.start, r.len())
        })
        .collect()
}

/// `[b, kv, group·c, x]` → `[b, h, c, x]`.
fn merge_heads(x: Tensor<4>, h: usize) -> Tensor<4> {
    let [b, kv, gc, d] = x.dims();
    x.reshape([b, h, gc * kv / h, d])
}

/// Scaled scores of tile (`i`, `j`), `[b, kv, group·cq, ck]`, masked if the tile needs it.
fn tile_scores(q: &Tensor<4>, k: &Tensor<4>, tile: Tile, tiling: &Tiling, i: usize, j: usize) -> Tensor<4> {
    let s = q.clone().matmul(k.clone().transpose());
    if tile != Tile::Masked {
        return s;
    }
    let [b, kv, gc, ck] = s.dims();
    let cq = tiling.range(i).len();
    let bias = tiling.bias(i, j, &s.device());
    (s.reshape([b, kv, gc / cq, cq, ck]) + bias).reshape([b, kv, gc, ck])
}

/// `x` with -inf replaced by 0 (the running max of a row that has seen no key yet).
fn finite(x: Tensor<4>) -> Tensor<4> {
    let none = x.clone().equal_elem(f32::NEG_INFINITY);
    x.mask_fill(none, 0.0)
}

fn accumulate(sum: Option<Tensor<4>>, x: Tensor<4>) -> Tensor<4> {
    match sum {
        Some(sum) => sum + x,
        None => x,
    }
}

/// Online-softmax state of one query chunk.
struct Running {
    /// Row max so far (-inf while no key was seen), `[b, kv, group·c, 1]`.
    m: Tensor<4>,
    /// Sum of `exp(s - m)`, `[b, kv, group·c, 1]`.
    l: Tensor<4>,
    /// Sum of `exp(s - m) v`, `[b, kv, group·c, d]`.
    acc: Tensor<4>,
}

/// The sizes of `q` `[b, h, t, d]` and `k` `[b, kv, t, d]`.
fn dims(q: &Tensor<4>, k: &Tensor<4>) -> cpu::Dims {
    let [b, h, t, d] = q.dims();
    cpu::Dims {
        b,
        h,
        kv: k.dims()[1],
        t,
        d,
    }
}

/// Tiled forward pass: the output `[b, h, t, d]` and the row log-sum-exp `[b,
/// h, t]`. On the `flex` backend the host kernel computes it; elsewhere
/// [`forward_ops`].
fn forward_tiles(q: Tensor<4>, k: Tensor<4>, v: Tensor<4>, tiling: &Tiling) -> (Tensor<4>, Tensor<3>) {
    if let (Some(qh), Some(kh), Some(vh)) = (
        crate::host::values(&q),
        crate::host::values(&k),
        crate::host::values(&v),
    ) {
        let dims = dims(&q, &k);
        let (out, lse) = cpu::forward(&qh, &kh, &vh, dims, tiling);
        let cpu::Dims { b, h, t, d, .. } = dims;
        return (tensor(out, [b, h, t, d]), tensor(lse, [b, h, t]));
    }
    forward_ops(q, k, v, tiling)
}

/// [`forward_tiles`] composed of tensor ops (any backend).
fn forward_ops(q: Tensor<4>, k: Tensor<4>, v: Tensor<4>, tiling: &Tiling) -> (Tensor<4>, Tensor<3>) {
    let [b, h, t, d] = q.dims();
    let kv = k.dims()[1];
    let qs = query_chunks(&(q / (d as f64).sqrt()), kv, tiling);
    let (ks, vs) = (key_chunks(&k, tiling), key_chunks(&v, tiling));
    let (mut outs, mut lses) = (Vec::new(), Vec::new());
    for (i, qi) in qs.iter().enumerate() {
        let mut run: Option<Running> = None;
        // Diagonal tile first: every row then has a finite max from the start.
        for j in (0..=i).rev() {
            let tile = tiling.tile(i, j);
            if tile == Tile::Skip {
                continue;
            }
            let s = tile_scores(qi, &ks[j], tile, tiling, i, j);
            let m_tile = s.clone().max_dim(3);
            let m = match &run {
                Some(run) => run.m.clone().max_pair(m_tile),
                None => m_tile,
            };
            let m_safe = finite(m.clone());
            let p = (s - m_safe.clone()).exp();
            let l_tile = p.clone().sum_dim(3);
            let pv = p.matmul(vs[j].clone());
            run = Some(match run {
                Some(old) => {
                    // exp(-inf - finite) = 0 wipes a row that had seen nothing.
                    let alpha = (old.m - m_safe).exp();
                    Running {
                        m,
                        l: old.l * alpha.clone() + l_tile,
                        acc: old.acc * alpha + pv,
                    }
                }
                None => Running { m, l: l_tile, acc: pv },
            });
        }
        let Some(run) = run else {
            unreachable!("the diagonal tile is never skipped")
        };
        // A row that saw no key would have l = 0: output 0 rather than NaN.
        let l = run.l.clamp_min(f32::MIN_POSITIVE);
        outs.push(merge_heads(run.acc / l.clone(), h));
        lses.push(merge_heads(finite(run.m) + l.log(), h));
    }
    let out = Tensor::cat(outs, 2);
    let lse = Tensor::cat(lses, 2).reshape([b, h, t]);
    (out, lse)
}

/// Tiled FlashAttention-2 backward pass: `(dq, dk, dv)` from the saved inputs,
/// output, log-sum-exp and the output's gradient. Key/value gradients sum over
/// the query heads of their group. On the `flex` backend the host kernel
/// computes it; elsewhere [`backward_ops`].
fn backward_tiles(
    [q, k, v]: [Tensor<4>; 3],
    out: Tensor<4>,
    lse: Tensor<3>,
    d_out: Tensor<4>,
    tiling: &Tiling,
) -> [Tensor<4>; 3] {
    let host = [&q, &k, &v, &out, &d_out].map(crate::host::values);
    if let ([Some(qh), Some(kh), Some(vh), Some(oh), Some(doh)], Some(lh)) = (host, crate::host::values(&lse)) {
        let dims = dims(&q, &k);
        let saved = cpu::Saved {
            q: &qh,
            k: &kh,
            v: &vh,
            out: &oh,
            lse: &lh,
            d_out: &doh,
        };
        let [dq, dk, dv] = cpu::backward(saved, dims, tiling);
        return [tensor(dq, q.dims()), tensor(dk, k.dims()), tensor(dv, v.dims())];
    }
    backward_ops([q, k, v], out, lse, d_out, tiling)
}

/// [`backward_tiles`] composed of tensor ops (any backend); the matmuls
/// contract over the stacked rows of a group.
fn backward_ops(
    [q, k, v]: [Tensor<4>; 3],
    out: Tensor<4>,
    lse: Tensor<3>,
    d_out: Tensor<4>,
    tiling: &Tiling,
) -> [Tensor<4>; 3] {
    let [b, h, t, d] = q.dims();
    let kv = k.dims()[1];
    let scale = 1.0 / (d as f64).sqrt();
    let qs = query_chunks(&(q * scale), kv, tiling);
    let (ks, vs) = (key_chunks(&k, tiling), key_chunks(&v, tiling));
    let dos = query_chunks(&d_out, kv, tiling);
    // D = rowsum(dO ∘ O), and L, as `[b, kv, group·c, 1]` per chunk.
    let rows = query_chunks(&(d_out * out).sum_dim(3), kv, tiling);
    let lses = query_chunks(&lse.reshape([b, h, t, 1]), kv, tiling);
    let n = tiling.chunks();
    let mut dqs: Vec<Option<Tensor<4>>> = vec![None; n];
    let (mut dks, mut dvs) = (Vec::with_capacity(n), Vec::with_capacity(n));
    for j in 0..n {
        let (mut dk, mut dv) = (None, None);
        for i in j..n {
            let tile = tiling.tile(i, j);
            if tile == Tile::Skip {
                continue;
            }
            // Masked scores are -inf, so P is exactly 0 there (L is always finite).
            let p = (tile_scores(&qs[i], &ks[j], tile, tiling, i, j) - lses[i].clone()).exp();
            dv = Some(accumulate(dv, p.clone().transpose().matmul(dos[i].clone())));
            let dp = dos[i].clone().matmul(vs[j].clone().transpose());
            let ds = p * (dp - rows[i].clone());
            dqs[i] = Some(accumulate(dqs[i].take(), ds.clone().matmul(ks[j].clone())));
            dk = Some(accumulate(dk, ds.transpose().matmul(qs[i].clone())));
        }
        let (Some(dk), Some(dv)) = (dk, dv) else {
            unreachable!("the diagonal tile is never skipped")
        };
        dks.push(dk);
        dvs.push(dv);
    }
    let dq = dqs
        .into_iter()
        .map(|dq| match dq {
            Some(dq) => merge_heads(dq, h),
            None => unreachable!("the diagonal tile is never skipped"),
        })
        .collect();
    [Tensor::cat(dq, 2) * scale, Tensor::cat(dks, 2), Tensor::cat(dvs, 2)]
}

/// The autodiff step of [`chunked_attention`].
#[derive(Debug)]
struct ChunkedAttentionBackward;

/// What the backward pass keeps: linear in `t`.
#[derive(Clone, Debug)]
struct Saved {
    /// `q`, `k`, `v` on the inner backend.
    inputs: [Tensor<4>; 3],
    out: Tensor<4>,
    lse: Tensor<3>,
    tiling: Arc<Tiling>,
}

impl<B: Backend> Backward<B, 3> for ChunkedAttentionBackward
where
    DispatchTensor: DispatchKindConversion<B>,
{
    type State = Saved;

    fn backward(self, ops: Ops<Saved, 3>, grads: &mut Gradients, _checkpointer: &mut Checkpointer) {
        let Saved {
            inputs,
            out,
            lse,
            tiling,
        } = ops.state;
        let d_out = Tensor::<4>::from_primitive::<B>(grads.consume::<B>(&ops.node));
        let input_grads = backward_tiles(inputs, out, lse, d_out, &tiling);
        for (parent, grad) in ops.parents.into_iter().zip(input_grads) {
            if let Some(parent) = parent {
                grads.register::<B>(parent.id, primitive::<B, 4>(grad));
            }
        }
    }
}

/// `x` as backend `B`'s primitive, inside a custom op's own backward step
/// (shared with the tiled loss, `crate::loss`).
pub(crate) fn primitive<B: Backend, const D: usize>(x: Tensor<D>) -> B::FloatTensorPrimitive
where
    DispatchTensor: DispatchKindConversion<B>,
{
    x.try_into_primitive::<B>()
        .unwrap_or_else(|e| panic!("custom op: tensor left its backend: {e:?}"))
}

/// [`with_own_backward`] on each backend of this build (`flex`, and the cubecl
/// backend behind the `wgpu` and `cuda` features); the inputs back if none holds them.
fn own_backward(
    q: Tensor<4>,
    k: Tensor<4>,
    v: Tensor<4>,
    tiling: &Arc<Tiling>,
    strategy: GradientCheckpointingStrategy,
) -> Result<Tensor<4>, Box<[Tensor<4>; 3]>> {
    use GradientCheckpointingStrategy::{Balanced, Disabled};
    let done = match strategy {
        Balanced => with_own_backward::<Flex, BalancedCheckpointing>(q, k, v, tiling.clone()),
        Disabled => with_own_backward::<Flex, NoCheckpointing>(q, k, v, tiling.clone()),
    };
    #[cfg(any(feature = "wgpu", feature = "cuda"))]
    let done = done.or_else(|inputs| {
        use burn::backend::Cube;
        let [q, k, v] = *inputs;
        match strategy {
            Balanced => with_own_backward::<Cube, BalancedCheckpointing>(q, k, v, tiling.clone()),
            Disabled => with_own_backward::<Cube, NoCheckpointing>(q, k, v, tiling.clone()),
        }
    });
    done
}

/// [`chunked_attention`] on `Autodiff<B, C>` with its own backward step; gives
/// the inputs back if they do not live on that backend.
fn with_own_backward<B, C>(
    q: Tensor<4>,
    k: Tensor<4>,
    v: Tensor<4>,
    tiling: Arc<Tiling>,
) -> Result<Tensor<4>, Box<[Tensor<4>; 3]>>
where
    B: Backend,
    C: CheckpointStrategy,
    DispatchTensor: DispatchKindConversion<B> + DispatchKindConversion<Autodiff<B, C>>,
{
    let primitives = [&q, &k, &v].map(|x| x.clone().try_into_primitive::<Autodiff<B, C>>().ok());
    let [Some(qa), Some(ka), Some(va)] = primitives else {
        return Err(Box::new([q, k, v]));
    };
    drop((q, k, v));
    // Guards first: they keep the input nodes alive until the step is registered.
    let ((qp, qn), (kp, kn), (vp, vn)) = (qa.into_parts(), ka.into_parts(), va.into_parts());
    let inputs = [qp, kp, vp].map(Tensor::<4>::from_primitive::<B>);
    let [q, k, v] = inputs.clone();
    let (out, lse) = forward_tiles(q, k, v, &tiling);
    let out_primitive = primitive::<B, 4>(out.clone());
    let prep = <ChunkedAttentionBackward as Backward<B, 3>>::prepare::<C>(ChunkedAttentionBackward, [qn, kn, vn]);
    let output = match prep.compute_bound().stateful() {
        OpsKind::Tracked(prep) => prep.finish(
            Saved {
                inputs,
                out,
                lse,
                tiling,
            },
            out_primitive,
        ),
        OpsKind::UnTracked(prep) => prep.finish(out_primitive),
    };
    Ok(Tensor::from_primitive::<Autodiff<B, C>>(output))
}

#[path = "attention_cpu.rs"]
mod cpu;

#[cfg(test)]
#[path = "attention_tests.rs"]
mod tests;
