//! Cross-entropy weighted per token and normalised by the total weight of the
//! whole global batch, so that gradient accumulation over micro-batches gives
//! the same gradient as one large batch.
//!
//! [`chunked_head_nll`] is the memory-efficient form: the output head and the
//! cross-entropy computed a tile of rows at a time, with their own backward
//! pass, so no `[tokens, vocab]` logits tensor lives through the backward pass.

use std::ops::Range;
use std::sync::Arc;

use rayon::prelude::*;

use crate::attention::primitive;
use crate::host;

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::{BalancedCheckpointing, CheckpointStrategy, NoCheckpointing};
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::{Autodiff, Backend, DispatchKindConversion, DispatchTensor, Flex};
use burn::tensor::activation::log_softmax;
use burn::tensor::{Device, GradientCheckpointingStrategy, IndexingUpdateOp, Int, Tensor, TensorData};

/// `sum_i w_i · (−log p(target_i)) / total_weight` for one micro-batch.
///
/// `logits` is `[batch, seq, vocab]`; `targets` and `weights` are `[batch, seq]`
/// flattened row-major; `total_weight` is the weight of the whole global batch
/// (all micro-batches of one optimizer step), not of this micro-batch.
pub fn weighted_nll(logits: Tensor<3>, targets: &[u32], weights: &[f32], total_weight: f64) -> Tensor<1> {
    let [b, t, v] = logits.dims();
    weighted_sum(
        target_logprobs(logits.reshape([b * t, v]), targets).neg(),
        weights,
        total_weight,
    )
}

/// `sum_i w_i · nll_i / total_weight`: the loss of [`weighted_nll`] from
/// per-token NLLs (`[n]`, e.g. from [`chunked_head_nll`]).
pub fn weighted_sum(nll: Tensor<1>, weights: &[f32], total_weight: f64) -> Tensor<1> {
    let w = Tensor::<1>::from_data(TensorData::new(weights.to_vec(), [weights.len()]), &nll.device());
    let denom = if total_weight > 0.0 { total_weight } else { 1.0 };
    (nll * w).sum() / denom
}

/// `log p(target_i)` for each row `i` of `[n, vocab]` logits.
pub fn target_logprobs(logits: Tensor<2>, targets: &[u32]) -> Tensor<1> {
    let device: Device = logits.device();
    let [n, _] = logits.dims();
    let idx: Vec<i64> = targets.iter().map(|x| i64::from(*x)).collect();
    let idx = Tensor::<2, Int>::from_data(TensorData::new(idx, [n, 1]), &device);
    log_softmax(logits, 1).gather(1, idx).reshape([n])
}

/// `−log p(target_i)` for each row `i` of `h · w` (`h`: `[n, d]` final hidden
/// states, `w`: `[d, vocab]` output head), computed `chunk` rows at a time.
///
/// The same values as `target_logprobs(h.matmul(w), targets).neg()`, but no
/// `[n, vocab]` logits tensor is ever alive: the forward pass keeps one
/// `[chunk, vocab]` tile at a time and only the row log-sum-exp (`[n]`). Under
/// autodiff (on `flex`, and on the cubecl backend of the `wgpu`/`cuda`
/// features) the op registers its own backward step, which recomputes each
/// tile's probabilities from `h`, `w` and the log-sum-exp (`softmax − one-hot`,
/// scaled by the incoming gradient) and accumulates `dh` and `dw` tile by tile,
/// so the backward pass holds no logits either. On other autodiff backends it
/// falls back to the same tiles composed of differentiable ops (correct
/// gradients, every tile kept).
pub fn chunked_head_nll(h: Tensor<2>, w: Tensor<2>, targets: &[u32], chunk: usize) -> Tensor<1> {
    let [n, d] = h.dims();
    let [dw, _] = w.dims();
    assert_eq!(
        d, dw,
        "chunked_head_nll: hidden [{n}, {d}] and head [{dw}, ..] disagree"
    );
    assert_eq!(
        targets.len(),
        n,
        "chunked_head_nll: {} targets for {n} rows",
        targets.len()
    );
    let head = Head {
        targets: Arc::new(targets.to_vec()),
        chunk: chunk.clamp(1, n.max(1)),
    };
    if n == 0 {
        return Tensor::zeros([0], &h.device());
    }
    if !h.is_autodiff() && !w.is_autodiff() {
        return head.forward(h, w).0;
    }
    let strategy = [&h, &w]
        .iter()
        .find_map(|x| x.gradient_checkpointing_strategy())
        .unwrap_or_default();
    let lift = |x: Tensor<2>| {
        if x.is_autodiff() {
            x
        } else {
            x.autodiff().with_gradient_checkpointing_strategy(strategy)
        }
    };
    let (h, w) = (lift(h), lift(w));
    own_backward(h, w, &head, strategy).unwrap_or_else(|inputs| {
        let [h, w] = *inputs;
        head.forward(h, w).0
    })
}

/// The targets and the tile height of one [`chunked_head_nll`].
#[derive(Clone, Debug)]
struct Head {
    targets: Arc<Vec<u32>>,
    chunk: usize,
}

impl Head {
    fn ranges(&self) -> impl Iterator<Item = Range<usize>> + '_ {
        let n = self.targets.len();
        (0..n.div_ceil(self.chunk)).map(move |c| c * self.chunk..((c + 1) * self.chunk).min(n))
    }

    /// `[rows, 1]` target ids of `rows`.
    fn ids(&self, rows: &Range<usize>, device: &Device) -> Tensor<2, Int> {
        let idx: Vec<i64> = self.targets[rows.clone()].iter().map(|x| i64::from(*x)).collect();
        Tensor::from_data(TensorData::new(idx, [rows.len(), 1]), device)
    }

    /// The NLL of every row `[n]` and the row log-sum-exp `[n]`: on the
    /// host on `flex` ([`Head::forward_host`]), else from tensor ops.
    fn forward(&self, h: Tensor<2>, w: Tensor<2>) -> (Tensor<1>, Tensor<1>) {
        let device = h.device();
        if let (Some(hv), Some(wm)) = (host::values(&h), host::strided(&w)) {
            let [n, d] = h.dims();
            let (nll, lse) = self.forward_host(&hv, wm.view(), [d, w.dims()[1]]);
            return (host::tensor(nll, [n]), host::tensor(lse, [n]));
        }
        let (mut nll, mut lse) = (Vec::new(), Vec::new());
        for rows in self.ranges() {
            let n = rows.len();
            let logits = h.clone().narrow(0, rows.start, n).matmul(w.clone());
            let max = logits.clone().max_dim(1).detach();
            let row_lse = (logits.clone() - max.clone()).exp().sum_dim(1).log() + max;
            let picked = logits.gather(1, self.ids(&rows, &device));
            nll.push((row_lse.clone() - picked).reshape([n]));
            lse.push(row_lse.reshape([n]));
        }
        (Tensor::cat(nll, 0), Tensor::cat(lse, 0))
    }

    /// [`Head::forward`] on slices: `h` `[n, d]`, `w` `[d, vocab]`.
    fn forward_host(&self, h: &[f32], w: host::View<'_>, [d, vocab]: [usize; 2]) -> (Vec<f32>, Vec<f32>) {
        let n = self.targets.len();
        let (mut nll, mut lse) = (vec![0.0f32; n], vec![0.0f32; n]);
        let mut logits = vec![0.0f32; self.chunk.min(n) * vocab];
        for rows in self.ranges() {
            let logits = &mut logits[..rows.len() * vocab];
            let hc = &h[rows.start * d..rows.end * d];
            host::matmul(
                logits,
                vocab,
                (rows.len(), vocab, d),
                host::rows(hc, d),
                w,
                1.0,
                false,
                true,
            );
            logits
                .par_chunks_mut(vocab)
                .zip(nll[rows.clone()].par_iter_mut())
                .zip(lse[rows.clone()].par_iter_mut())
                .zip(self.targets[rows].par_iter())
                .for_each(|(((row, nll), lse), &target)| {
                    // A target outside the vocabulary gets a NaN loss (reported by the trainer), not a panic.
                    let picked = row.get(target as usize).copied().unwrap_or(f32::NAN);
                    let max = host::max_of(row);
                    *lse = max + host::exp_shifted(row, max).ln();
                    *nll = *lse - picked;
                });
        }
        (nll, lse)
    }

    /// `(dh, dw)` from the inputs, the row log-sum-exp and the gradient of
    /// the NLLs: on the host on `flex` ([`Head::backward_host`]), else from tensor ops.
    fn backward(&self, h: Tensor<2>, w: Tensor<2>, lse: Tensor<1>, d_nll: Tensor<1>) -> [Tensor<2>; 2] {
        let device = h.device();
        let host = (
            host::values(&h),
            host::strided(&w),
            host::values(&lse),
            host::values(&d_nll),
        );
        if let (Some(hv), Some(wm), Some(lv), Some(gv)) = host {
            let [n, d] = h.dims();
            let (dh, dw) = self.backward_host(&hv, wm.view(), &lv, &gv, [d, w.dims()[1]]);
            return [host::tensor(dh, [n, d]), host::tensor(dw, w.dims())];
        }
        let w_t = w.clone().transpose();
        let mut dh = Vec::new();
        let mut dw: Option<Tensor<2>> = None;
        for rows in self.ranges() {
            let n = rows.len();
            let hc = h.clone().narrow(0, rows.start, n);
            let g = d_nll.clone().narrow(0, rows.start, n).reshape([n, 1]);
            let l = lse.clone().narrow(0, rows.start, n).reshape([n, 1]);
            // d nll_i / d logit_ij = softmax_ij − [j = target_i].
            let p = (hc.clone().matmul(w.clone()) - l).exp() * g.clone();
            let dl = p.scatter(1, self.ids(&rows, &device), g.neg(), IndexingUpdateOp::Add);
            dh.push(dl.clone().matmul(w_t.clone()));
            let part = hc.transpose().matmul(dl);
            dw = Some(match dw {
                Some(sum) => sum + part,
                None => part,
            });
        }
        let dw = dw.unwrap_or_else(|| w.zeros_like());
        [Tensor::cat(dh, 0), dw]
    }

    /// [`Head::backward`] on slices: `(dh [n, d], dw [d, vocab])`.
    fn backward_host(
        &self,
        h: &[f32],
        w: host::View<'_>,
        lse: &[f32],
        d_nll: &[f32],
        [d, vocab]: [usize; 2],
    ) -> (Vec<f32>, Vec<f32>) {
        let n = self.targets.len();
        let (mut dh, mut dw) = (vec![0.0f32; n * d], vec![0.0f32; d * vocab]);
        let mut p = vec![0.0f32; self.chunk.min(n) * vocab];
        for rows in self.ranges() {
            let r = rows.len();
            let p = &mut p[..r * vocab];
            let hc = &h[rows.start * d..rows.end * d];
            host::matmul(p, vocab, (r, vocab, d), host::rows(hc, d), w, 1.0, false, true);
            // d nll_i / d logit_ij = softmax_ij − [j = target_i], times the incoming gradient.
            p.par_chunks_mut(vocab)
                .zip(rows.clone().into_par_iter())
                .for_each(|(row, i)| {
                    let g = d_nll[i];
                    host::exp_shifted(row, lse[i]);
                    row.iter_mut().for_each(|x| *x *= g);
                    if let Some(x) = row.get_mut(self.targets[i] as usize) {
                        *x -= g;
                    }
                });
            let dhc = &mut dh[rows.start * d..rows.end * d];
            host::matmul(dhc, d, (r, d, vocab), host::rows(p, vocab), w.t(), 1.0, false, true);
            host::matmul(
                &mut dw,
                vocab,
                (d, vocab, r),
                host::transposed(hc, d),
                host::rows(p, vocab),
                1.0,
                true,
                true,
            );
        }
        (dh, dw)
    }
}

/// The autodiff step of [`chunked_head_nll`].
#[derive(Debug)]
struct ChunkedHeadBackward;

/// What the backward pass keeps: the inputs and `[n]` log-sum-exps, no logits.
#[derive(Clone, Debug)]
struct Saved {
    /// `h`, `w` on the inner backend.
    inputs: [Tensor<2>; 2],
    lse: Tensor<1>,
    head: Head,
}

impl<B: Backend> Backward<B, 2> for ChunkedHeadBackward
where
    DispatchTensor: DispatchKindConversion<B>,
{
    type State = Saved;

    fn backward(self, ops: Ops<Saved, 2>, grads: &mut Gradients, _checkpointer: &mut Checkpointer) {
        let Saved { inputs, lse, head } = ops.state;
        let d_nll = Tensor::<1>::from_primitive::<B>(grads.consume::<B>(&ops.node));
        let [h, w] = inputs;
        let input_grads = head.backward(h, w, lse, d_nll);
        for (parent, grad) in ops.parents.into_iter().zip(input_grads) {
            if let Some(parent) = parent {
                grads.register::<B>(parent.id, primitive::<B, 2>(grad));
            }
        }
    }
}

/// [`with_own_backward`] on each backend of this build; the inputs back if none holds them.
fn own_backward(
    h: Tensor<2>,
    w: Tensor<2>,
    head: &Head,
    strategy: GradientCheckpointingStrategy,
) -> Result<Tensor<1>, Box<[Tensor<2>; 2]>> {
    use GradientCheckpointingStrategy::{Balanced, Disabled};
    let done = match strategy {
        Balanced => with_own_backward::<Flex, BalancedCheckpointing>(h, w, head.clone()),
        Disabled => with_own_backward::<Flex, NoCheckpointing>(h, w, head.clone()),
    };
    #[cfg(any(feature = "wgpu", feature = "cuda"))]
    let done = done.or_else(|inputs| {
        use burn::backend::Cube;
        let [h, w] = *inputs;
        match strategy {
            Balanced => with_own_backward::<Cube, BalancedCheckpointing>(h, w, head.clone()),
            Disabled => with_own_backward::<Cube, NoCheckpointing>(h, w, head.clone()),
        }
    });
    done
}

/// [`chunked_head_nll`] on `Autodiff<B, C>` with its own backward step; gives
/// the inputs back if they do not live on that backend.
fn with_own_backward<B, C>(h: Tensor<2>, w: Tensor<2>, head: Head) -> Result<Tensor<1>, Box<[Tensor<2>; 2]>>
where
    B: Backend,
    C: CheckpointStrategy,
    DispatchTensor: DispatchKindConversion<B> + DispatchKindConversion<Autodiff<B, C>>,
{
    let primitives = [&h, &w].map(|x| x.clone().try_into_primitive::<Autodiff<B, C>>().ok());
    let [Some(ha), Some(wa)] = primitives else {
        return Err(Box::new([h, w]));
    };
    drop((h, w));
    // Guards first: they keep the input nodes alive until the step is registered.
    let ((hp, hn), (wp, wn)) = (ha.into_parts(), wa.into_parts());
    let inputs = [hp, wp].map(Tensor::<2>::from_primitive::<B>);
    let [h, w] = inputs.clone();
    let (nll, lse) = head.forward(h, w);
    let out_primitive = primitive::<B, 1>(nll);
    let prep = <ChunkedHeadBackward as Backward<B, 2>>::prepare::<C>(ChunkedHeadBackward, [hn, wn]);
    let output = match prep.compute_bound().stateful() {
        OpsKind::Tracked(prep) => prep.finish(Saved { inputs, lse, head }, out_primitive),
        OpsKind::UnTracked(prep) => prep.finish(out_primitive),
    };
    Ok(Tensor::from_primitive::<Autodiff<B, C>>(output))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::random;

    fn logits(v: Vec<f32>, b: usize, t: usize, n: usize) -> Tensor<3> {
        Tensor::from_data(TensorData::new(v, [b, t, n]), &Device::flex())
    }

    fn value(x: Tensor<1>) -> f64 {
        f64::from(x.into_data().try_to_vec::<f32>().unwrap()[0])
    }

    #[test]
    fn matches_a_hand_computation() {
        // Two positions over a vocabulary of 3.
        let l = vec![1.0, 2.0, 3.0, 0.5, 0.5, 2.0];
        let lse = |a: f64, b: f64, c: f64| (a.exp() + b.exp() + c.exp()).ln();
        let nll0 = lse(1.0, 2.0, 3.0) - 2.0; // target 1
        let nll1 = lse(0.5, 0.5, 2.0) - 0.5; // target 0
        let want = (1.0 * nll0 + 0.25 * nll1) / 1.25;
        let got = value(weighted_nll(logits(l, 1, 2, 3), &[1, 0], &[1.0, 0.25], 1.25));
        assert!((got - want).abs() < 1e-5, "{got} vs {want}");
        // A zero weight removes a position entirely.
        let got = value(weighted_nll(
            logits(vec![1.0, 2.0, 3.0, 9.0, -9.0, 0.0], 1, 2, 3),
            &[1, 1],
            &[1.0, 0.0],
            1.0,
        ));
        assert!((got - nll0).abs() < 1e-5);
    }

    #[test]
    fn micro_batches_normalised_by_the_global_weight_sum_to_the_full_batch() {
        let l: Vec<f32> = (0..24).map(|i| ((i * 7) % 5) as f32 * 0.3).collect();
        let targets = [0, 1, 2, 1, 0, 2, 2, 1];
        let weights = [1.0, 0.0, 1.0, 1.0, 0.5, 1.0, 0.0, 1.0];
        let total: f64 = weights.iter().map(|w| f64::from(*w)).sum();
        let full = value(weighted_nll(logits(l.clone(), 2, 4, 3), &targets, &weights, total));
        let a = value(weighted_nll(
            logits(l[..12].to_vec(), 1, 4, 3),
            &targets[..4],
            &weights[..4],
            total,
        ));
        let b = value(weighted_nll(
            logits(l[12..].to_vec(), 1, 4, 3),
            &targets[4..],
            &weights[4..],
            total,
        ));
        assert!((a + b - full).abs() < 1e-5, "{a} + {b} vs {full}");
    }

    fn host<const D: usize>(x: Tensor<D>) -> Vec<f32> {
        x.into_data().convert::<f32>().try_to_vec::<f32>().unwrap()
    }

    fn max_diff(a: &[f32], b: &[f32]) -> f32 {
        assert_eq!(a.len(), b.len());
        a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
    }

    /// `(loss, dh, dw)` of the weighted loss, by the full logits or by tiles.
    fn loss_and_grads(
        device: &Device,
        seed: u64,
        [n, d, v]: [usize; 3],
        chunk: Option<usize>,
    ) -> (f32, Vec<f32>, Vec<f32>) {
        let mut rng = crate::data::SplitMix64(seed);
        let h = random(&mut rng, [n, d], 1.5, device).require_grad();
        let w = random(&mut rng, [d, v], 1.5, device).require_grad();
        let targets: Vec<u32> = (0..n).map(|_| (rng.next_u64() % v as u64) as u32).collect();
        let weights: Vec<f32> = (0..n).map(|i| [1.0, 0.0, 0.5][i % 3]).collect();
        let total = 7.5;
        let loss = match chunk {
            Some(c) => weighted_sum(chunked_head_nll(h.clone(), w.clone(), &targets, c), &weights, total),
            None => weighted_nll(
                h.clone().matmul(w.clone()).reshape([1, n, v]),
                &targets,
                &weights,
                total,
            ),
        };
        let grads = loss.backward();
        let (dh, dw) = (h.grad(&grads).unwrap(), w.grad(&grads).unwrap());
        (host(loss)[0], host(dh), host(dw))
    }

    #[test]
    fn chunked_head_nll_equals_the_full_logits() {
        let device = Device::flex();
        let mut rng = crate::data::SplitMix64(3);
        let (n, d, v) = (29, 8, 50);
        let h = random(&mut rng, [n, d], 1.5, &device);
        let w = random(&mut rng, [d, v], 1.5, &device);
        let targets: Vec<u32> = (0..n).map(|i| (i * 17 % v) as u32).collect();
        let want = host(target_logprobs(h.clone().matmul(w.clone()), &targets).neg());
        for chunk in [1, 4, 29, 64] {
            let got = host(chunked_head_nll(h.clone(), w.clone(), &targets, chunk));
            assert!(max_diff(&got, &want) < 1e-5, "chunk {chunk}: {got:?} vs {want:?}");
        }
        assert!(want.iter().all(|x| *x > 0.0));
    }

    #[test]
    fn chunked_head_nll_gradients_equal_the_full_logits() {
        let plain = Device::flex().autodiff();
        let checkpointed = Device::flex().autodiff().gradient_checkpointing();
        for (seed, shape) in [[23, 8, 40], [64, 16, 33], [5, 4, 7]].into_iter().enumerate() {
            for device in [&plain, &checkpointed] {
                let (loss, dh, dw) = loss_and_grads(device, seed as u64, shape, None);
                for chunk in [1, 6, 64] {
                    let (l, h, w) = loss_and_grads(device, seed as u64, shape, Some(chunk));
                    assert!((l - loss).abs() < 1e-5, "{shape:?} chunk {chunk}: loss {l} vs {loss}");
                    let (eh, ew) = (max_diff(&h, &dh), max_diff(&w, &dw));
                    assert!(eh < 1e-5 && ew < 1e-5, "{shape:?} chunk {chunk}: dh {eh}, dw {ew}");
                }
                // Not a zero gradient that matches trivially.
                assert!(dh.iter().any(|x| x.abs() > 1e-3) && dw.iter().any(|x| x.abs() > 1e-3));
            }
        }
    }

    #[test]
    fn chunked_head_nll_registers_its_own_backward_on_flex() {
        let mut rng = crate::data::SplitMix64(9);
        let head = Head {
            targets: Arc::new(vec![1, 2, 3]),
            chunk: 2,
        };
        let device = Device::flex().autodiff();
        let (h, w) = (
            random(&mut rng, [3, 4], 1.5, &device),
            random(&mut rng, [4, 5], 1.5, &device),
        );
        assert!(with_own_backward::<Flex, NoCheckpointing>(h.require_grad(), w.require_grad(), head.clone()).is_ok());
        let device = Device::flex().autodiff().gradient_checkpointing();
        let (h, w) = (
            random(&mut rng, [3, 4], 1.5, &device),
            random(&mut rng, [4, 5], 1.5, &device),
        );
        assert!(with_own_backward::<Flex, BalancedCheckpointing>(h.require_grad(), w, head).is_ok());
    }

    #[test]
    fn chunked_head_nll_with_a_constant_head_gives_the_hidden_gradient() {
        // A frozen head (no gradient asked) next to tracked hidden states.
        let device = Device::flex().autodiff();
        let mut rng = crate::data::SplitMix64(4);
        let h = random(&mut rng, [10, 6], 1.5, &device).require_grad();
        let w = random(&mut rng, [6, 12], 1.5, &Device::flex());
        let targets: Vec<u32> = (0..10).map(|i| i as u32).collect();
        let full = target_logprobs(h.clone().matmul(w.clone().autodiff()), &targets)
            .neg()
            .sum();
        let want = host(h.grad(&full.backward()).unwrap());
        let tiled = chunked_head_nll(h.clone(), w, &targets, 3).sum();
        let got = host(h.grad(&tiled.backward()).unwrap());
        assert!(max_diff(&got, &want) < 1e-5);
    }
}
