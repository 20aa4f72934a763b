//! Kernels on host memory, for what the `flex` (CPU) backend would otherwise
//! compose from many tensor ops (the tiled attention, the tiled loss, SwiGLU):
//! the values of a `flex` tensor as a slice, a strided matmul on slices
//! (`gemm`, the crate `flex`'s own matmul uses) and a vectorised `exp`.

use burn::backend::{BackendTypes, Flex};
use burn::tensor::{DType, Tensor, TensorData};
use rayon::prelude::*;

/// The `flex` backend's tensor primitive.
type FlexTensor = <Flex as BackendTypes>::FloatTensorPrimitive;

/// A `flex` f32 tensor's values in row-major order: its own storage when it is
/// contiguous (no copy), else a contiguous copy.
#[derive(Debug)]
pub(crate) struct Values(FlexTensor);

impl std::ops::Deref for Values {
    type Target = [f32];

    fn deref(&self) -> &[f32] {
        self.0.as_slice::<f32>().unwrap_or_default()
    }
}

/// `x`'s values when it lives on the `flex` backend in f32: what the host
/// kernels take. `None` on any other backend or precision (and for autodiff
/// tensors: a custom op's own backward step unwraps them first).
pub(crate) fn values<const D: usize>(x: &Tensor<D>) -> Option<Values> {
    if x.dtype() != DType::F32 {
        return None;
    }
    let p = x.clone().try_into_primitive::<Flex>().ok()?;
    let p = if p.as_slice::<f32>().is_some() {
        p
    } else {
        p.to_contiguous()
    };
    p.as_slice::<f32>().is_some().then_some(Values(p))
}

/// A `flex` f32 tensor read in place through its strides (a swapped or
/// narrowed view is not copied).
#[derive(Debug)]
pub(crate) struct Strided<const D: usize>(FlexTensor);

impl<const D: usize> Strided<D> {
    /// The storage from the first element, and the stride of each dimension.
    pub(crate) fn parts(&self) -> (&[f32], [usize; D]) {
        let layout = self.0.layout();
        let storage: &[f32] = self.0.storage();
        let mut strides = [0usize; D];
        for (s, l) in strides.iter_mut().zip(layout.strides()) {
            *s = l.unsigned_abs();
        }
        (&storage[layout.start_offset()..], strides)
    }
}

impl Strided<2> {
    /// The matrix as a [`View`] (a transposed weight stays a transposed view).
    pub(crate) fn view(&self) -> View<'_> {
        let (data, [rs, cs]) = self.parts();
        View { data, rs, cs }
    }
}

/// `x` as a [`Strided`] when it lives on the `flex` backend in f32 (copied
/// only if a stride is negative).
pub(crate) fn strided<const D: usize>(x: &Tensor<D>) -> Option<Strided<D>> {
    if x.dtype() != DType::F32 {
        return None;
    }
    let p = x.clone().try_into_primitive::<Flex>().ok()?;
    let plain = p.layout().strides().iter().all(|s| *s >= 0);
    Some(Strided(if plain { p } else { p.to_contiguous() }))
}

/// A `flex` tensor of `shape` holding `values` (row-major), without a copy.
pub(crate) fn tensor<const D: usize>(values: Vec<f32>, shape: [usize; D]) -> Tensor<D> {
    Tensor::from_primitive::<Flex>(FlexTensor::from_data(TensorData::new(values, shape)))
}

/// A matrix inside a slice: `rows × cols`, element `(r, c)` at `r * rs + c * cs`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct View<'a> {
    data: &'a [f32],
    rs: usize,
    cs: usize,
}

/// Row-major `rs`-strided matrix.
pub(crate) fn rows(data: &[f32], rs: usize) -> View<'_> {
    View { data, rs, cs: 1 }
}

/// The transpose of a row-major `rs`-strided matrix.
pub(crate) fn transposed(data: &[f32], rs: usize) -> View<'_> {
    View { data, rs: 1, cs: rs }
}

impl View<'_> {
    /// The transpose (the same elements).
    pub(crate) fn t(self) -> Self {
        View {
            rs: self.cs,
            cs: self.rs,
            ..self
        }
    }
}

/// Whether `m × n` elements with strides (`rs`, `cs`) fit in `len`.
fn fits(m: usize, n: usize, rs: usize, cs: usize, len: usize) -> bool {
    m == 0 || n == 0 || (m - 1) * rs + (n - 1) * cs < len
}

/// `dst (m × n, row-major with stride dst_rs) = [dst +] beta · lhs (m × k) · rhs (k × n)`,
/// on the calling thread, or on all of rayon's with `threads`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn matmul(
    dst: &mut [f32],
    dst_rs: usize,
    (m, n, k): (usize, usize, usize),
    lhs: View<'_>,
    rhs: View<'_>,
    beta: f32,
    accumulate: bool,
    threads: bool,
) {
    assert!(
        fits(m, n, dst_rs, 1, dst.len())
            && fits(m, k, lhs.rs, lhs.cs, lhs.data.len())
            && fits(k, n, rhs.rs, rhs.cs, rhs.data.len()),
        "attention kernel: a matmul operand is out of bounds"
    );
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            for r in 0..m {
                dst[r * dst_rs..r * dst_rs + n].fill(0.0);
            }
        }
        return;
    }
    // SAFETY: every element gemm reads or writes lies inside its slice (the
    // assertion above), `dst` is borrowed mutably and does not alias the
    // operands; gemm's threads write disjoint blocks of `dst`.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            dst_rs as isize,
            accumulate,
            lhs.data.as_ptr(),
            lhs.cs as isize,
            lhs.rs as isize,
            rhs.data.as_ptr(),
            rhs.cs as isize,
            rhs.rs as isize,
            1.0,
            beta,
            false,
            false,
            false,
            if threads {
                gemm::Parallelism::Rayon(0)
            } else {
                gemm::Parallelism::None
            },
        );
    }
}

/// `exp(x)` of one value, as [`exp_shifted`] computes it.
pub(crate) fn exp1(x: f32) -> f32 {
    let mut one = [x];
    exp_shifted(&mut one, 0.0);
    one[0]
}

/// Whether the CPU runs the AVX2 + FMA copies of the loops below.
fn avx2() -> bool {
    #[cfg(target_arch = "x86_64")]
    return std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma");
    #[cfg(not(target_arch = "x86_64"))]
    false
}

/// `x ← exp(x - shift)` for every element, returning their sum (relative
/// error about 2e-7; `exp` of anything below -87.3, `-inf` included, is
/// exactly 0; above 88 it stays `exp(88)`): vectorised with AVX2 and FMA where the CPU has them. The
/// kernels take `exp` of values at most 0 (shifted by a row's max or
/// log-sum-exp) or of sigmoid's `-|x|`.
pub(crate) fn exp_shifted(xs: &mut [f32], shift: f32) -> f32 {
    #[cfg(target_arch = "x86_64")]
    if avx2() {
        // SAFETY: the CPU supports the features the function is compiled for.
        return unsafe { exp_shifted_avx2(xs, shift) };
    }
    exp_shifted_portable(xs, shift)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn exp_shifted_avx2(xs: &mut [f32], shift: f32) -> f32 {
    exp_shifted_portable(xs, shift)
}

/// Eight lanes, so that reductions vectorise (floating-point sums are not
/// reassociated otherwise).
const LANES: usize = 8;

#[inline(always)]
fn exp_shifted_portable(xs: &mut [f32], shift: f32) -> f32 {
    for x in xs.iter_mut() {
        *x = exp_one(*x - shift);
    }
    let mut sums = [0.0f32; LANES];
    let mut chunks = xs.chunks_exact(LANES);
    for c in &mut chunks {
        for i in 0..LANES {
            sums[i] += c[i];
        }
    }
    chunks.remainder().iter().chain(&sums).sum()
}

/// The largest element (`-inf` for none).
pub(crate) fn max_of(xs: &[f32]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    if avx2() {
        // SAFETY: the CPU supports the features the function is compiled for.
        return unsafe { max_of_avx2(xs) };
    }
    max_of_portable(xs)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn max_of_avx2(xs: &[f32]) -> f32 {
    max_of_portable(xs)
}

#[inline(always)]
fn max_of_portable(xs: &[f32]) -> f32 {
    let mut maxes = [f32::NEG_INFINITY; LANES];
    let mut chunks = xs.chunks_exact(LANES);
    for c in &mut chunks {
        for i in 0..LANES {
            maxes[i] = if c[i] > maxes[i] { c[i] } else { maxes[i] };
        }
    }
    chunks
        .remainder()
        .iter()
        .chain(&maxes)
        .copied()
        .fold(f32::NEG_INFINITY, f32::max)
}

/// `out = silu(gate) ∘ up` elementwise (`silu(x) = x · sigmoid(x)`), split over rayon's threads.
pub(crate) fn silu_mul(gate: &[f32], up: &[f32]) -> Vec<f32> {
    assert_eq!(gate.len(), up.len());
    let mut out = vec![0.0f32; gate.len()];
    out.par_chunks_mut(BLOCK)
        .zip(gate.par_chunks(BLOCK).zip(up.par_chunks(BLOCK)))
        .for_each(|(o, (g, u))| {
            #[cfg(target_arch = "x86_64")]
            if avx2() {
                // SAFETY: the CPU supports the features the function is compiled for.
                return unsafe { silu_mul_avx2(g, u, o) };
            }
            silu_mul_portable(g, u, o);
        });
    out
}

/// The gradients `(d gate, d up)` of [`silu_mul`] given the output's `d_out`.
pub(crate) fn silu_mul_backward(gate: &[f32], up: &[f32], d_out: &[f32]) -> (Vec<f32>, Vec<f32>) {
    assert!(gate.len() == up.len() && up.len() == d_out.len());
    let (mut dg, mut du) = (vec![0.0f32; gate.len()], vec![0.0f32; gate.len()]);
    dg.par_chunks_mut(BLOCK)
        .zip(du.par_chunks_mut(BLOCK))
        .zip(
            gate.par_chunks(BLOCK)
                .zip(up.par_chunks(BLOCK))
                .zip(d_out.par_chunks(BLOCK)),
        )
        .for_each(|((dg, du), ((g, u), d))| {
            #[cfg(target_arch = "x86_64")]
            if avx2() {
                // SAFETY: the CPU supports the features the function is compiled for.
                return unsafe { silu_mul_backward_avx2(g, u, d, dg, du) };
            }
            silu_mul_backward_portable(g, u, d, dg, du);
        });
    (dg, du)
}

/// Elements per rayon task of the elementwise kernels.
const BLOCK: usize = 1 << 14;

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn silu_mul_avx2(g: &[f32], u: &[f32], out: &mut [f32]) {
    silu_mul_portable(g, u, out);
}

#[inline(always)]
fn silu_mul_portable(g: &[f32], u: &[f32], out: &mut [f32]) {
    for ((o, g), u) in out.iter_mut().zip(g).zip(u) {
        *o = g * sigmoid(*g) * u;
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn silu_mul_backward_avx2(g: &[f32], u: &[f32], d: &[f32], dg: &mut [f32], du: &mut [f32]) {
    silu_mul_backward_portable(g, u, d, dg, du);
}

#[inline(always)]
fn silu_mul_backward_portable(g: &[f32], u: &[f32], d: &[f32], dg: &mut [f32], du: &mut [f32]) {
    for ((((dg, du), g), u), d) in dg.iter_mut().zip(du.iter_mut()).zip(g).zip(u).zip(d) {
        let s = sigmoid(*g);
        *du = d * g * s;
        // silu'(x) = s (1 + x (1 - s)).
        *dg = d * u * s * (1.0 + g * (1.0 - s));
    }
}

/// `1 / (1 + exp(-x))`, from `exp` of `-|x|` (never overflows).
#[inline(always)]
fn sigmoid(x: f32) -> f32 {
    let e = exp_one(-x.abs());
    let s = 1.0 / (1.0 + e);
    if x >= 0.0 { s } else { e * s }
}

/// Cephes' `expf`: `exp(x) = 2ⁿ · exp(r)`, `n = round(x / ln 2)`, `r` in
/// ±ln 2 / 2 by a degree-6 polynomial; branch-free, so that loops of it vectorise.
#[inline(always)]
pub(crate) fn exp_one(x: f32) -> f32 {
    const ROUND: f32 = 12_582_912.0; // 1.5 · 2²³: adding it rounds to an integer.
    // Not `clamp`: its NaN handling keeps the loop from vectorising.
    #[allow(clippy::manual_clamp)]
    let v = x.max(-87.3).min(88.0);
    let n = (v.mul_add(std::f32::consts::LOG2_E, ROUND)) - ROUND;
    let r = n.mul_add(-0.693_359_4, v);
    let r = n.mul_add(2.121_944_4e-4, r);
    let mut p = 1.987_569_1e-4f32;
    p = p.mul_add(r, 1.398_2e-3);
    p = p.mul_add(r, 8.333_452e-3);
    p = p.mul_add(r, 4.166_579_6e-2);
    p = p.mul_add(r, 1.666_666_5e-1);
    p = p.mul_add(r, 0.5);
    let e = (p * r).mul_add(r, r) + 1.0;
    // 2ⁿ: n + 127 + 2²³ holds n + 127 in its low mantissa bits, shifted into the exponent.
    let scale = f32::from_bits((n + 8_388_735.0).to_bits() << 23);
    let y = e * scale;
    if x < -87.3 { 0.0 } else { y }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_is_close_to_std_and_zero_far_below() {
        let mut xs: Vec<f32> = (-2000..=2000).map(|i| i as f32 * 0.0443).collect();
        xs.retain(|x| *x <= 88.0);
        xs.extend([0.0, -0.0, 1e-8, -87.0, 88.0, f32::NEG_INFINITY, -1e30]);
        let mut got = xs.clone();
        exp_shifted(&mut got, 0.0);
        for (x, e) in xs.iter().zip(&got) {
            if *x < -87.3 {
                assert_eq!(*e, 0.0, "exp({x})");
            } else {
                let want = x.exp();
                assert!((e - want).abs() <= 4e-7 * want, "exp({x}) = {e}, want {want}");
            }
        }
        let mut portable = xs.clone();
        exp_shifted_portable(&mut portable, 0.0);
        assert_eq!(portable, got, "the vectorised and the portable loop agree");
        // Scores shifted by their max, as the attention takes them: the sum too.
        let mut row: Vec<f32> = (0..1003).map(|i| (i as f32 * 0.37).sin() * 9.0).collect();
        let want: f64 = row.iter().map(|x| f64::from(*x - 9.0).exp()).sum();
        let sum = exp_shifted(&mut row, 9.0);
        assert!((f64::from(sum) - want).abs() <= 1e-5 * want, "{sum} vs {want}");
        assert!((f64::from(row.iter().sum::<f32>()) - want).abs() <= 1e-5 * want);
        assert_eq!(exp1(0.0), 1.0);
        assert_eq!(max_of(&xs), 88.0);
        assert_eq!(max_of(&xs[..5]), xs[4]);
        assert_eq!(max_of(&[]), f32::NEG_INFINITY);
    }

    #[test]
    fn silu_mul_and_its_gradients_match_f64() {
        let n = 3 * BLOCK / 2 + 5;
        let g: Vec<f32> = (0..n).map(|i| ((i as f32) * 0.731).sin() * 30.0).collect();
        let u: Vec<f32> = (0..n).map(|i| ((i as f32) * 0.117).cos() * 3.0).collect();
        let d: Vec<f32> = (0..n).map(|i| ((i as f32) * 0.053).sin()).collect();
        let out = silu_mul(&g, &u);
        let (dg, du) = silu_mul_backward(&g, &u, &d);
        for i in 0..n {
            let (x, y, z) = (f64::from(g[i]), f64::from(u[i]), f64::from(d[i]));
            let s = 1.0 / (1.0 + (-x).exp());
            let close = |got: f32, want: f64| (f64::from(got) - want).abs() <= 1e-5 * (1.0 + want.abs());
            assert!(close(out[i], x * s * y), "silu_mul at {x}");
            assert!(close(du[i], z * x * s), "d up at {x}");
            assert!(close(dg[i], z * y * s * (1.0 + x * (1.0 - s))), "d gate at {x}");
        }
    }
}
