//! Helpers shared by the unit tests of the ops: seeded random tensors and the
//! largest difference between two.

use burn::tensor::{Device, Tensor, TensorData};

use crate::data::SplitMix64;

/// Uniform in [-scale, scale), from `rng`.
pub(crate) fn random<const D: usize>(
    rng: &mut SplitMix64,
    shape: [usize; D],
    scale: f32,
    device: &Device,
) -> Tensor<D> {
    let n = shape.iter().product::<usize>();
    let v: Vec<f32> = (0..n)
        .map(|_| ((rng.next_u64() >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0) * scale)
        .collect();
    Tensor::from_data(TensorData::new(v, shape), device)
}

/// The values of `x`, row-major.
pub(crate) fn values<const D: usize>(x: Tensor<D>) -> Vec<f32> {
    x.into_data().iter::<f32>().collect()
}

/// The largest |a − b| over two tensors of the same shape, all of whose values are finite.
pub(crate) fn max_diff<const D: usize>(a: Tensor<D>, b: Tensor<D>) -> f32 {
    assert_eq!(a.dims(), b.dims());
    let (a, b) = (values(a), values(b));
    assert!(a.iter().chain(&b).all(|x| x.is_finite()));
    a.iter().zip(&b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}
