//! Attention over packed sequences: causal, and blocked between documents.
//!
//! The mask is never passed around as a `[seq, seq]` tensor: each token carries
//! a document id (padding tokens get ids of their own, so a pad token sees only
//! itself) and the attention derives "same document and not in the future"
//! from the ids. [`naive_attention`] materialises the full score matrix; it is
//! the reference for the memory-efficient attention.

use burn::tensor::activation::softmax;
use burn::tensor::{Bool, Int, Tensor};

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
    let [b, h, t, d] = q.dims();
    let group = h / k.dims()[1];
    let (k, v) = (repeat_kv(k, group), repeat_kv(v, group));
    let mask = blocked(docs.clone(), docs, 0, 0).reshape([b, 1, t, t]).repeat_dim(1, h);
    let scores = q.matmul(k.swap_dims(2, 3)) / (d as f64).sqrt();
    softmax(scores.mask_fill(mask, f32::NEG_INFINITY), 3).matmul(v)
}
