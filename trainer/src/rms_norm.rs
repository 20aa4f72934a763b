//! RMSNorm, `x / sqrt(mean(x²) + eps) · gamma` over the last dimension, as one
//! op with its own backward step.
//!
//! burn's `RmsNorm` composes it from a square, a mean, a square root, a
//! division and a product, and autodiff differentiates each. On the `flex`
//! backend this op makes one pass over the rows each way; the gain's gradient
//! is summed over fixed blocks of rows, then the blocks in order, so the result
//! does not depend on the thread count. Other backends compose the same
//! formulas from tensor ops (burn's, for the forward pass).

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::{BalancedCheckpointing, CheckpointStrategy, NoCheckpointing};
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::{Autodiff, Backend, DispatchKindConversion, DispatchTensor, Flex};
use burn::nn::RmsNorm;
use burn::tensor::{DType, GradientCheckpointingStrategy, Tensor};
use rayon::prelude::*;

use crate::attention::primitive;
use crate::host;

/// `norm` applied to `x` (`[.., d]`), as [`RmsNorm::forward`].
pub fn rms_norm<const D: usize>(norm: &RmsNorm, x: Tensor<D>) -> Tensor<D> {
    let gamma = norm.gamma.val();
    let eps = norm.epsilon;
    if !x.is_autodiff() && !gamma.is_autodiff() {
        return forward(x, gamma, eps);
    }
    let strategy = x.gradient_checkpointing_strategy().unwrap_or_default();
    let lift = |g: Tensor<1>| {
        if g.is_autodiff() {
            g
        } else {
            g.autodiff().with_gradient_checkpointing_strategy(strategy)
        }
    };
    let gamma = lift(gamma);
    own_backward(x, gamma, eps, strategy).unwrap_or_else(|inputs| {
        let (x, gamma) = *inputs;
        composed(x, gamma, eps)
    })
}

/// burn's formula (any backend, any precision).
fn composed<const D: usize>(x: Tensor<D>, gamma: Tensor<1>, eps: f64) -> Tensor<D> {
    let dtype = x.dtype();
    let rms = (x.clone().cast(DType::F32).square().mean_dim(D - 1) + eps).sqrt();
    (x / rms.cast(dtype)) * gamma.unsqueeze()
}

/// The forward pass on the inner backend.
fn forward<const D: usize>(x: Tensor<D>, gamma: Tensor<1>, eps: f64) -> Tensor<D> {
    if let (Some(xv), Some(g)) = (host::values(&x), host::values(&gamma)) {
        let d = g.len();
        let mut out = vec![0.0f32; xv.len()];
        out.par_chunks_mut(d * ROWS)
            .zip(xv.par_chunks(d * ROWS))
            .for_each(|(out, x)| {
                for (o, x) in out.chunks_mut(d).zip(x.chunks(d)) {
                    let inv = inv_rms(x, eps);
                    o.iter_mut()
                        .zip(x)
                        .zip(g.iter())
                        .for_each(|((o, x), g)| *o = x * inv * g);
                }
            });
        return host::tensor(out, x.dims());
    }
    composed(x, gamma, eps)
}

/// Rows per rayon task (and per block of the gain's gradient).
const ROWS: usize = 64;

/// `1 / sqrt(mean(x²) + eps)` of one row, accumulated in f64.
fn inv_rms(x: &[f32], eps: f64) -> f32 {
    let ms = x.iter().map(|v| f64::from(*v) * f64::from(*v)).sum::<f64>() / x.len().max(1) as f64;
    (1.0 / (ms + eps).sqrt()) as f32
}

/// `(dx, d gamma)` from the inputs and the output's gradient.
fn backward<const D: usize>(x: Tensor<D>, gamma: Tensor<1>, eps: f64, dy: Tensor<D>) -> (Tensor<D>, Tensor<1>) {
    if let (Some(xv), Some(g), Some(dyv)) = (host::values(&x), host::values(&gamma), host::values(&dy)) {
        let d = g.len();
        let mut dx = vec![0.0f32; xv.len()];
        // dx = inv · g ∘ dy − x · inv³ · mean(g ∘ dy ∘ x); d gamma = Σ_rows dy ∘ x · inv.
        let blocks: Vec<Vec<f64>> = dx
            .par_chunks_mut(d * ROWS)
            .zip(xv.par_chunks(d * ROWS).zip(dyv.par_chunks(d * ROWS)))
            .map(|(dx, (x, dy))| {
                let mut dg = vec![0.0f64; d];
                for ((dx, x), dy) in dx.chunks_mut(d).zip(x.chunks(d)).zip(dy.chunks(d)) {
                    let inv = inv_rms(x, eps);
                    let dot: f64 = x
                        .iter()
                        .zip(dy)
                        .zip(g.iter())
                        .map(|((x, dy), g)| f64::from(x * dy * g))
                        .sum();
                    let k = (dot / d as f64) as f32 * inv * inv * inv;
                    for j in 0..d {
                        dx[j] = inv * g[j] * dy[j] - x[j] * k;
                        dg[j] += f64::from(dy[j] * x[j] * inv);
                    }
                }
                dg
            })
            .collect();
        let dg: Vec<f32> = (0..d)
            .map(|j| blocks.iter().map(|b| b[j]).sum::<f64>() as f32)
            .collect();
        return (host::tensor(dx, x.dims()), host::tensor(dg, [d]));
    }
    // The same formulas from tensor ops.
    let inv = (x.clone().square().mean_dim(D - 1) + eps).sqrt().recip();
    let gdy = dy.clone() * gamma.clone().unsqueeze();
    let mean = (gdy.clone() * x.clone()).mean_dim(D - 1);
    let dx = gdy * inv.clone() - x.clone() * inv.clone().powi_scalar(3) * mean;
    let d = gamma.dims()[0];
    let n = x.shape().num_elements() / d.max(1);
    let dg = (dy * x * inv).reshape([n, d]).sum_dim(0).reshape([d]);
    (dx, dg)
}

/// The autodiff step of [`rms_norm`].
#[derive(Debug)]
struct RmsNormBackward<const D: usize>;

impl<B: Backend, const D: usize> Backward<B, 2> for RmsNormBackward<D>
where
    DispatchTensor: DispatchKindConversion<B>,
{
    /// `x`, `gamma` on the inner backend, and `eps`.
    type State = (Tensor<D>, Tensor<1>, f64);

    fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, _checkpointer: &mut Checkpointer) {
        let (x, gamma, eps) = ops.state;
        let dy = Tensor::<D>::from_primitive::<B>(grads.consume::<B>(&ops.node));
        let (dx, dg) = backward(x, gamma, eps, dy);
        let [px, pg] = ops.parents;
        if let Some(parent) = px {
            grads.register::<B>(parent.id, primitive::<B, D>(dx));
        }
        if let Some(parent) = pg {
            grads.register::<B>(parent.id, primitive::<B, 1>(dg));
        }
    }
}

/// The inputs given back when no backend of this build holds them.
type Inputs<const D: usize> = Box<(Tensor<D>, Tensor<1>)>;

/// [`with_own_backward`] on each backend of this build.
fn own_backward<const D: usize>(
    x: Tensor<D>,
    gamma: Tensor<1>,
    eps: f64,
    strategy: GradientCheckpointingStrategy,
) -> Result<Tensor<D>, Inputs<D>> {
    use GradientCheckpointingStrategy::{Balanced, Disabled};
    let done = match strategy {
        Balanced => with_own_backward::<Flex, BalancedCheckpointing, D>(x, gamma, eps),
        Disabled => with_own_backward::<Flex, NoCheckpointing, D>(x, gamma, eps),
    };
    #[cfg(any(feature = "wgpu", feature = "cuda"))]
    let done = done.or_else(|inputs| {
        use burn::backend::Cube;
        let (x, gamma) = *inputs;
        match strategy {
            Balanced => with_own_backward::<Cube, BalancedCheckpointing, D>(x, gamma, eps),
            Disabled => with_own_backward::<Cube, NoCheckpointing, D>(x, gamma, eps),
        }
    });
    done
}

/// [`rms_norm`] on `Autodiff<B, C>` with its own backward step; gives the
/// inputs back if they do not live on that backend.
fn with_own_backward<B, C, const D: usize>(x: Tensor<D>, gamma: Tensor<1>, eps: f64) -> Result<Tensor<D>, Inputs<D>>
where
    B: Backend,
    C: CheckpointStrategy,
    DispatchTensor: DispatchKindConversion<B> + DispatchKindConversion<Autodiff<B, C>>,
{
    let (Ok(xa), Ok(ga)) = (
        x.clone().try_into_primitive::<Autodiff<B, C>>(),
        gamma.clone().try_into_primitive::<Autodiff<B, C>>(),
    ) else {
        return Err(Box::new((x, gamma)));
    };
    drop((x, gamma));
    // Guards first: they keep the input nodes alive until the step is registered.
    let ((xp, xn), (gp, gn)) = (xa.into_parts(), ga.into_parts());
    let (x, gamma) = (
        Tensor::<D>::from_primitive::<B>(xp),
        Tensor::<1>::from_primitive::<B>(gp),
    );
    let out_primitive = primitive::<B, D>(forward(x.clone(), gamma.clone(), eps));
    let prep = <RmsNormBackward<D> as Backward<B, 2>>::prepare::<C>(RmsNormBackward, [xn, gn]);
    let output = match prep.compute_bound().stateful() {
        OpsKind::Tracked(prep) => prep.finish((x, gamma, eps), out_primitive),
        OpsKind::UnTracked(prep) => prep.finish(out_primitive),
    };
    Ok(Tensor::from_primitive::<Autodiff<B, C>>(output))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::SplitMix64;
    use crate::test_util::{max_diff, random};
    use burn::nn::RmsNormConfig;
    use burn::tensor::Device;

    /// `(y, dx, d gamma)` of `sum(f(x) ∘ w)` for a norm with a random gain.
    fn run(f: impl Fn(&RmsNorm, Tensor<3>) -> Tensor<3>, device: &Device) -> (Tensor<3>, Tensor<3>, Tensor<1>) {
        let mut rng = SplitMix64(4);
        // 130 rows: more than two of the host kernel's blocks.
        let (x, w) = (
            random(&mut rng, [2, 65, 12], 2.0, device),
            random(&mut rng, [2, 65, 12], 2.0, device),
        );
        let mut norm = RmsNormConfig::new(12).init(device);
        norm.gamma = burn::module::Param::from_tensor(random(&mut rng, [12], 2.0, device));
        let x = x.require_grad();
        let y = f(&norm, x.clone());
        let g = (y.clone() * w).sum().backward();
        (
            y.inner(),
            x.grad(&g).expect("dx"),
            norm.gamma.val().grad(&g).expect("d gamma"),
        )
    }

    #[test]
    fn rms_norm_and_its_gradients_equal_burns() {
        for device in [
            Device::flex().autodiff(),
            Device::flex().autodiff().gradient_checkpointing(),
        ] {
            let want = run(|n, x| n.forward(x), &device);
            let got = run(rms_norm, &device);
            assert!(max_diff(want.0, got.0) < 1e-5, "output");
            assert!(max_diff(want.1, got.1) < 1e-4, "dx");
            assert!(max_diff(want.2, got.2) < 1e-4, "d gamma");
        }
    }

    #[test]
    fn the_composed_backward_equals_the_host_one() {
        let device = Device::flex();
        let mut rng = SplitMix64(6);
        let (x, dy, gamma) = (
            random(&mut rng, [3, 70, 10], 2.0, &device),
            random(&mut rng, [3, 70, 10], 2.0, &device),
            random(&mut rng, [10], 2.0, &device),
        );
        let host = backward(x.clone(), gamma.clone(), 1e-5, dy.clone());
        // The host path is skipped for a non-f32 tensor: compose by hand instead.
        let inv = (x.clone().square().mean_dim(2) + 1e-5).sqrt().recip();
        let gdy = dy.clone() * gamma.clone().unsqueeze();
        let mean = (gdy.clone() * x.clone()).mean_dim(2);
        let dx = gdy * inv.clone() - x.clone() * inv.clone().powi_scalar(3) * mean;
        let dg = (dy * x.clone() * inv).reshape([210, 10]).sum_dim(0).reshape([10]);
        assert!(max_diff(host.0, dx) < 1e-4);
        assert!(max_diff(host.1, dg) < 1e-4);
        assert!(max_diff(forward(x.clone(), gamma.clone(), 1e-5), composed(x, gamma, 1e-5)) < 1e-5);
    }
}
