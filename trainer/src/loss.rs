//! Cross-entropy weighted per token and normalised by the total weight of the
//! whole global batch, so that gradient accumulation over micro-batches gives
//! the same gradient as one large batch.

use burn::tensor::activation::log_softmax;
use burn::tensor::{Device, Int, Tensor, TensorData};

/// `sum_i w_i · (−log p(target_i)) / total_weight` for one micro-batch.
///
/// `logits` is `[batch, seq, vocab]`; `targets` and `weights` are `[batch, seq]`
/// flattened row-major; `total_weight` is the weight of the whole global batch
/// (all micro-batches of one optimizer step), not of this micro-batch.
pub fn weighted_nll(logits: Tensor<3>, targets: &[u32], weights: &[f32], total_weight: f64) -> Tensor<1> {
    let device: Device = logits.device();
    let [b, t, v] = logits.dims();
    let picked = target_logprobs(logits.reshape([b * t, v]), targets);
    let w = Tensor::<1>::from_data(TensorData::new(weights.to_vec(), [b * t]), &device);
    let denom = if total_weight > 0.0 { total_weight } else { 1.0 };
    (picked * w).sum().neg() / denom
}

/// `log p(target_i)` for each row `i` of `[n, vocab]` logits.
pub fn target_logprobs(logits: Tensor<2>, targets: &[u32]) -> Tensor<1> {
    let device: Device = logits.device();
    let [n, _] = logits.dims();
    let idx: Vec<i64> = targets.iter().map(|x| i64::from(*x)).collect();
    let idx = Tensor::<2, Int>::from_data(TensorData::new(idx, [n, 1]), &device);
    log_softmax(logits, 1).gather(1, idx).reshape([n])
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
