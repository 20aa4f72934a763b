//! Rotary position embeddings as one op with its own backward step:
//! `x · cos + rotate_half(x) · sin` with Hugging Face's `rotate_half([a, b]) =
//! [-b, a]`.
//!
//! Composed of burn ops that is two slices, a negation, a concatenation, two
//! products and a sum, each a pass over the queries or keys and a new tensor.
//! On the `flex` backend this op reads `x` in place through its strides (the
//! heads-first view of a projection is not copied first) and writes the
//! contiguous result in one pass; the backward step is the inverse rotation,
//! one pass again. Other backends compose the same formulas from tensor ops.
//! `cos` and `sin` are constants (no gradient).

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::{BalancedCheckpointing, CheckpointStrategy, NoCheckpointing};
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::{Autodiff, Backend, DispatchKindConversion, DispatchTensor, Flex};
use burn::tensor::{GradientCheckpointingStrategy, Tensor};
use rayon::prelude::*;

use crate::attention::primitive;
use crate::host;

/// RoPE of `x` (`[b, heads, t, head_dim]`) with `cos` and `sin` tables
/// (`[b, 1, t, head_dim]`, the frequencies repeated for both halves).
pub fn rope(x: Tensor<4>, cos: Tensor<4>, sin: Tensor<4>) -> Tensor<4> {
    let ([b, _, t, d], [cb, one, ct, cd]) = (x.dims(), cos.dims());
    assert!(
        cb == b && one == 1 && ct == t && cd == d && d % 2 == 0 && sin.dims() == cos.dims(),
        "rope: x {:?}, cos {:?}, sin {:?} disagree",
        x.dims(),
        cos.dims(),
        sin.dims()
    );
    let constant = |c: Tensor<4>| if c.is_autodiff() { c.inner() } else { c };
    let (cos, sin) = (constant(cos), constant(sin));
    if !x.is_autodiff() {
        return rotate(x, &cos, &sin, false);
    }
    let strategy = x.gradient_checkpointing_strategy().unwrap_or_default();
    own_backward(x, &cos, &sin, strategy).unwrap_or_else(|x| {
        let x = *x;
        // Another autodiff backend: composed ops, differentiated by autodiff.
        composed(x, cos.autodiff(), sin.autodiff(), false)
    })
}

/// The rotation (`inverse`: its transpose, the backward pass) on the inner backend.
fn rotate(x: Tensor<4>, cos: &Tensor<4>, sin: &Tensor<4>, inverse: bool) -> Tensor<4> {
    if let (Some(xs), Some(c), Some(s)) = (host::strided(&x), host::values(cos), host::values(sin)) {
        let dims = x.dims();
        return host::tensor(rotate_host(&xs, &c, &s, dims, inverse), dims);
    }
    composed(x, cos.clone(), sin.clone(), inverse)
}

/// The rotation from tensor ops (any backend).
fn composed(x: Tensor<4>, cos: Tensor<4>, sin: Tensor<4>, inverse: bool) -> Tensor<4> {
    let [_, _, _, d] = x.dims();
    let half = d / 2;
    let a = x.clone().narrow(3, 0, half);
    let b = x.clone().narrow(3, half, half);
    if inverse {
        // dx = dy · cos + rotate_halfᵀ(dy · sin), rotate_halfᵀ([a, b]) = [b, -a].
        let ys = x.clone() * sin;
        let (ya, yb) = (ys.clone().narrow(3, 0, half), ys.narrow(3, half, half));
        return x * cos + Tensor::cat(vec![yb, ya.neg()], 3);
    }
    let rotated = Tensor::cat(vec![b.neg(), a], 3);
    x * cos + rotated * sin
}

/// One pass over `x` (read through its strides): the contiguous `[b, h, t, d]` result.
fn rotate_host(x: &host::Strided<4>, cos: &[f32], sin: &[f32], [b, h, t, d]: [usize; 4], inverse: bool) -> Vec<f32> {
    let (data, [sb, sh, st, sd]) = x.parts();
    let half = d / 2;
    let mut out = vec![0.0f32; b * h * t * d];
    out.par_chunks_mut(t * d).enumerate().for_each(|(bh, out)| {
        let (row, head) = (bh / h, bh % h);
        for (p, o) in out.chunks_mut(d).enumerate() {
            let at = row * sb + head * sh + p * st;
            let table = (row * t + p) * d;
            let (c, s) = (&cos[table..table + d], &sin[table..table + d]);
            let xv = |j: usize| data[at + j * sd];
            for j in 0..half {
                let (lo, hi) = (xv(j), xv(j + half));
                if inverse {
                    o[j] = lo * c[j] + hi * s[j + half];
                    o[j + half] = hi * c[j + half] - lo * s[j];
                } else {
                    o[j] = lo * c[j] - hi * s[j];
                    o[j + half] = hi * c[j + half] + lo * s[j + half];
                }
            }
        }
    });
    out
}

/// The autodiff step of [`rope`].
#[derive(Debug)]
struct RopeBackward;

impl<B: Backend> Backward<B, 1> for RopeBackward
where
    DispatchTensor: DispatchKindConversion<B>,
{
    /// `cos` and `sin` on the inner backend.
    type State = (Tensor<4>, Tensor<4>);

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _checkpointer: &mut Checkpointer) {
        let (cos, sin) = ops.state;
        let d_out = Tensor::<4>::from_primitive::<B>(grads.consume::<B>(&ops.node));
        let [parent] = ops.parents;
        if let Some(parent) = parent {
            grads.register::<B>(parent.id, primitive::<B, 4>(rotate(d_out, &cos, &sin, true)));
        }
    }
}

/// [`with_own_backward`] on each backend of this build; `x` back if none holds it.
fn own_backward(
    x: Tensor<4>,
    cos: &Tensor<4>,
    sin: &Tensor<4>,
    strategy: GradientCheckpointingStrategy,
) -> Result<Tensor<4>, Box<Tensor<4>>> {
    use GradientCheckpointingStrategy::{Balanced, Disabled};
    let done = match strategy {
        Balanced => with_own_backward::<Flex, BalancedCheckpointing>(x, cos, sin),
        Disabled => with_own_backward::<Flex, NoCheckpointing>(x, cos, sin),
    };
    #[cfg(any(feature = "wgpu", feature = "cuda"))]
    let done = done.or_else(|x| {
        use burn::backend::Cube;
        let x = *x;
        match strategy {
            Balanced => with_own_backward::<Cube, BalancedCheckpointing>(x, cos, sin),
            Disabled => with_own_backward::<Cube, NoCheckpointing>(x, cos, sin),
        }
    });
    done
}

/// [`rope`] on `Autodiff<B, C>` with its own backward step; gives `x` back
/// if it does not live on that backend.
fn with_own_backward<B, C>(x: Tensor<4>, cos: &Tensor<4>, sin: &Tensor<4>) -> Result<Tensor<4>, Box<Tensor<4>>>
where
    B: Backend,
    C: CheckpointStrategy,
    DispatchTensor: DispatchKindConversion<B> + DispatchKindConversion<Autodiff<B, C>>,
{
    let Ok(xa) = x.clone().try_into_primitive::<Autodiff<B, C>>() else {
        return Err(Box::new(x));
    };
    drop(x);
    let (xp, xn) = xa.into_parts();
    let inner = Tensor::<4>::from_primitive::<B>(xp);
    let out_primitive = primitive::<B, 4>(rotate(inner, cos, sin, false));
    let prep = <RopeBackward as Backward<B, 1>>::prepare::<C>(RopeBackward, [xn]);
    let output = match prep.compute_bound().stateful() {
        OpsKind::Tracked(prep) => prep.finish((cos.clone(), sin.clone()), out_primitive),
        OpsKind::UnTracked(prep) => prep.finish(out_primitive),
    };
    Ok(Tensor::from_primitive::<Autodiff<B, C>>(output))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::SplitMix64;
    use crate::test_util::{max_diff, random};
    use burn::tensor::Device;

    /// A `[b, h, t, d]` input as the model makes it: `[b, t, h, d]` swapped (a strided view).
    fn inputs(device: &Device) -> [Tensor<4>; 4] {
        let mut rng = SplitMix64(3);
        let (b, h, t, d) = (2, 3, 5, 8);
        let x = random(&mut rng, [b, t, h, d], 2.0, device).swap_dims(1, 2);
        let angles = random(&mut rng, [b, 1, t, d / 2], 2.0, device);
        let angles = Tensor::cat(vec![angles.clone(), angles], 3);
        let w = random(&mut rng, [b, h, t, d], 2.0, device);
        [x, angles.clone().cos(), angles.sin(), w]
    }

    #[test]
    fn the_host_rotation_equals_the_composed_one_both_ways() {
        let device = Device::flex();
        let [x, cos, sin, _] = inputs(&device);
        for inverse in [false, true] {
            let host = rotate(x.clone(), &cos, &sin, inverse);
            let ops = composed(x.clone(), cos.clone(), sin.clone(), inverse);
            assert!(max_diff(host, ops) < 1e-6, "inverse: {inverse}");
        }
        // The inverse undoes the rotation (cos² + sin² = 1).
        let back = rotate(rotate(x.clone(), &cos, &sin, false), &cos, &sin, true);
        assert!(max_diff(back, x) < 1e-5);
    }

    #[test]
    fn rope_gradients_equal_the_composed_ops() {
        for device in [
            Device::flex().autodiff(),
            Device::flex().autodiff().gradient_checkpointing(),
        ] {
            let grad = |f: &dyn Fn(Tensor<4>, Tensor<4>, Tensor<4>) -> Tensor<4>| {
                let [x, cos, sin, w] = inputs(&device);
                let x = x.require_grad();
                let out = f(x.clone(), cos, sin);
                let g = (out.clone() * w).sum().backward();
                (out.inner(), x.grad(&g).expect("gradient"))
            };
            let (out, dx) = grad(&rope);
            let (want_out, want_dx) = grad(&|x, c, s| composed(x, c, s, false));
            assert!(max_diff(out, want_out) < 1e-6);
            assert!(max_diff(dx, want_dx) < 1e-5);
        }
    }

    #[test]
    fn rope_registers_its_own_backward_on_flex() {
        let device = Device::flex().autodiff();
        let [x, cos, sin, _] = inputs(&device);
        let (cos, sin) = (cos.inner(), sin.inner());
        assert!(with_own_backward::<Flex, NoCheckpointing>(x.clone().require_grad(), &cos, &sin).is_ok());
        assert!(with_own_backward::<Flex, BalancedCheckpointing>(x.require_grad(), &cos, &sin).is_err());
    }
}
