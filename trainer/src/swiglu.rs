//! SwiGLU's gating, `silu(gate) ∘ up`, as one op with its own backward step.
//!
//! Composed of burn ops, the gating is four elementwise passes forward (and
//! `exp` one value at a time) and more backward, each allocating a tensor of
//! the MLP's inner size. On the `flex` backend this op computes it in one
//! vectorised pass over slices each way ([`crate::host::silu_mul`]); on every
//! other backend it composes the same formulas from tensor ops. Under autodiff
//! (on `flex`, and on the cubecl backend of the `wgpu`/`cuda` features) it
//! registers its own backward step, which keeps `gate` and `up` only.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::{BalancedCheckpointing, CheckpointStrategy, NoCheckpointing};
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::{Autodiff, Backend, DispatchKindConversion, DispatchTensor, Flex};
use burn::tensor::activation::{sigmoid, silu};
use burn::tensor::{GradientCheckpointingStrategy, Tensor};

use crate::attention::primitive;
use crate::host;

/// `silu(gate) ∘ up` (same shapes).
pub fn swiglu<const D: usize>(gate: Tensor<D>, up: Tensor<D>) -> Tensor<D> {
    assert_eq!(gate.dims(), up.dims(), "swiglu: gate and up disagree");
    if !gate.is_autodiff() && !up.is_autodiff() {
        return forward(gate, up);
    }
    let strategy = [&gate, &up]
        .iter()
        .find_map(|x| x.gradient_checkpointing_strategy())
        .unwrap_or_default();
    let lift = |x: Tensor<D>| {
        if x.is_autodiff() {
            x
        } else {
            x.autodiff().with_gradient_checkpointing_strategy(strategy)
        }
    };
    let (gate, up) = (lift(gate), lift(up));
    own_backward(gate, up, strategy).unwrap_or_else(|inputs| {
        let [gate, up] = *inputs;
        silu(gate) * up
    })
}

/// The forward pass on the inner backend.
fn forward<const D: usize>(gate: Tensor<D>, up: Tensor<D>) -> Tensor<D> {
    if let (Some(g), Some(u)) = (host::values(&gate), host::values(&up)) {
        return host::tensor(host::silu_mul(&g, &u), gate.dims());
    }
    silu(gate) * up
}

/// `(d gate, d up)` from the inputs and the output's gradient.
fn backward<const D: usize>(gate: Tensor<D>, up: Tensor<D>, d_out: Tensor<D>) -> [Tensor<D>; 2] {
    if let [Some(g), Some(u), Some(d)] = [&gate, &up, &d_out].map(host::values) {
        let (dg, du) = host::silu_mul_backward(&g, &u, &d);
        return [host::tensor(dg, gate.dims()), host::tensor(du, gate.dims())];
    }
    let s = sigmoid(gate.clone());
    let d_up = d_out.clone() * gate.clone() * s.clone();
    // silu'(x) = s (1 + x (1 - s)).
    let d_gate = d_out * up * s.clone() * (gate * (s.neg() + 1.0) + 1.0);
    [d_gate, d_up]
}

/// The autodiff step of [`swiglu`].
#[derive(Debug)]
struct SwigluBackward<const D: usize>;

impl<B: Backend, const D: usize> Backward<B, 2> for SwigluBackward<D>
where
    DispatchTensor: DispatchKindConversion<B>,
{
    /// `gate` and `up` on the inner backend.
    type State = [Tensor<D>; 2];

    fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, _checkpointer: &mut Checkpointer) {
        let [gate, up] = ops.state;
        let d_out = Tensor::<D>::from_primitive::<B>(grads.consume::<B>(&ops.node));
        for (parent, grad) in ops.parents.into_iter().zip(backward(gate, up, d_out)) {
            if let Some(parent) = parent {
                grads.register::<B>(parent.id, primitive::<B, D>(grad));
            }
        }
    }
}

/// [`with_own_backward`] on each backend of this build; the inputs back if none holds them.
fn own_backward<const D: usize>(
    gate: Tensor<D>,
    up: Tensor<D>,
    strategy: GradientCheckpointingStrategy,
) -> Result<Tensor<D>, Box<[Tensor<D>; 2]>> {
    use GradientCheckpointingStrategy::{Balanced, Disabled};
    let done = match strategy {
        Balanced => with_own_backward::<Flex, BalancedCheckpointing, D>(gate, up),
        Disabled => with_own_backward::<Flex, NoCheckpointing, D>(gate, up),
    };
    #[cfg(any(feature = "wgpu", feature = "cuda"))]
    let done = done.or_else(|inputs| {
        use burn::backend::Cube;
        let [gate, up] = *inputs;
        match strategy {
            Balanced => with_own_backward::<Cube, BalancedCheckpointing, D>(gate, up),
            Disabled => with_own_backward::<Cube, NoCheckpointing, D>(gate, up),
        }
    });
    done
}

/// [`swiglu`] on `Autodiff<B, C>` with its own backward step; gives the
/// inputs back if they do not live on that backend.
fn with_own_backward<B, C, const D: usize>(gate: Tensor<D>, up: Tensor<D>) -> Result<Tensor<D>, Box<[Tensor<D>; 2]>>
where
    B: Backend,
    C: CheckpointStrategy,
    DispatchTensor: DispatchKindConversion<B> + DispatchKindConversion<Autodiff<B, C>>,
{
    let primitives = [&gate, &up].map(|x| x.clone().try_into_primitive::<Autodiff<B, C>>().ok());
    let [Some(ga), Some(ua)] = primitives else {
        return Err(Box::new([gate, up]));
    };
    drop((gate, up));
    // Guards first: they keep the input nodes alive until the step is registered.
    let ((gp, gn), (up_, un)) = (ga.into_parts(), ua.into_parts());
    let inputs = [gp, up_].map(Tensor::<D>::from_primitive::<B>);
    let [gate, up] = inputs.clone();
    let out_primitive = primitive::<B, D>(forward(gate, up));
    let prep = <SwigluBackward<D> as Backward<B, 2>>::prepare::<C>(SwigluBackward, [gn, un]);
    let output = match prep.compute_bound().stateful() {
        OpsKind::Tracked(prep) => prep.finish(inputs, out_primitive),
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

    /// `(output, d gate, d up)` of `sum(f(gate, up) ∘ w)`.
    fn run(f: impl Fn(Tensor<3>, Tensor<3>) -> Tensor<3>, device: &Device) -> [Tensor<3>; 3] {
        let mut rng = SplitMix64(5);
        let shape = [2, 7, 9];
        let gate = random(&mut rng, shape, 12.0, device).require_grad();
        let up = random(&mut rng, shape, 2.0, device).require_grad();
        let w = random(&mut rng, shape, 1.0, device);
        let out = f(gate.clone(), up.clone());
        let grads = (out.clone() * w).sum().backward();
        let grad = |x: &Tensor<3>| x.grad(&grads).expect("gradient");
        [out.inner(), grad(&gate), grad(&up)]
    }

    #[test]
    fn swiglu_equals_silu_times_up_with_its_gradients() {
        for device in [
            Device::flex().autodiff(),
            Device::flex().autodiff().gradient_checkpointing(),
        ] {
            let want = run(|g, u| silu(g) * u, &device);
            let got = run(swiglu, &device);
            for (name, (w, g)) in ["output", "d gate", "d up"].iter().zip(want.into_iter().zip(got)) {
                let diff = max_diff(w, g);
                assert!(diff < 1e-5, "{name} differs by {diff}");
            }
        }
    }

    #[test]
    fn the_composed_backward_equals_the_host_one() {
        // What a backend other than `flex` runs, against the host kernel.
        let device = Device::flex();
        let mut rng = SplitMix64(9);
        let [gate, up, d] = [12.0, 2.0, 1.0].map(|s| random(&mut rng, [3, 5, 11], s, &device));
        let host = backward(gate.clone(), up.clone(), d.clone());
        let s = sigmoid(gate.clone());
        let composed = [
            d.clone() * up.clone() * s.clone() * (gate.clone() * (s.clone().neg() + 1.0) + 1.0),
            d * gate.clone() * s,
        ];
        for (h, c) in host.into_iter().zip(composed) {
            assert!(max_diff(h, c) < 1e-5);
        }
        assert!(max_diff(forward(gate.clone(), up.clone()), silu(gate) * up) < 1e-5);
    }

    #[test]
    fn swiglu_registers_its_own_backward_on_flex() {
        let device = Device::flex().autodiff();
        let mut rng = SplitMix64(1);
        let [gate, up] = [1.0, 1.0].map(|s| random(&mut rng, [1, 2, 3], s, &device).require_grad());
        assert!(with_own_backward::<Flex, NoCheckpointing, 3>(gate.clone(), up.clone()).is_ok());
        assert!(with_own_backward::<Flex, BalancedCheckpointing, 3>(gate, up).is_err());
    }
}
