//! The tiled attention's forward and backward passes on host memory: what the
//! `flex` (CPU) backend runs instead of composing them from tensor ops.
//!
//! The algorithm is the one of the parent module (FlashAttention-2: online
//! softmax over `[chunk, chunk]` tiles forward, probabilities recomputed tile
//! by tile backward, the same [`Tiling`] deciding which tiles to skip and
//! which to mask), but each tile is a few `gemm` calls on slices and one
//! vectorised pass of `exp`, with no tensor allocated per tile. Work is split
//! over threads (rayon) by (batch row, head, query chunk) forward and by
//! (batch row, key/value head) backward, so every thread writes its own part
//! of the outputs and the result does not depend on the thread count.

use std::ops::Range;

use rayon::prelude::*;

use super::Tiling;
use crate::host::{exp_shifted, exp1, matmul, max_of, rows, transposed};

/// The sizes of one attention call: `q` is `[b, h, t, d]`, `k` and `v` are
/// `[b, kv, t, d]`, all contiguous.
#[derive(Clone, Copy, Debug)]
pub(super) struct Dims {
    pub b: usize,
    pub h: usize,
    pub kv: usize,
    pub t: usize,
    pub d: usize,
}

impl Dims {
    fn group(&self) -> usize {
        self.h / self.kv
    }
}

/// Sets the scores (`queries × keys`, row-major) that [`Tiling`] says a query
/// may not attend to `-inf`.
fn mask(s: &mut [f32], tiling: &Tiling, row: usize, queries: Range<usize>, keys: Range<usize>) {
    let ck = keys.len();
    let docs = &tiling.docs[row * tiling.t..(row + 1) * tiling.t];
    for (a, q) in queries.enumerate() {
        for (c, k) in keys.clone().enumerate() {
            if k > q || docs[k] != docs[q] {
                s[a * ck + c] = f32::NEG_INFINITY;
            }
        }
    }
}

/// Query rows of a diagonal tile computed at a time (see [`blocks`]).
const DIAGONAL_ROWS: usize = 64;

/// The parts of tile (`i`, `j`) to compute: query rows (within chunk `i`)
/// and how many of chunk `j`'s keys they need. A tile below the diagonal is
/// one part, all of it; a diagonal tile is cut into [`DIAGONAL_ROWS`] rows at
/// a time, each seeing only the keys up to its last row, so that little of
/// its causally hidden half is computed.
fn blocks(tiling: &Tiling, i: usize, j: usize) -> Vec<(Range<usize>, usize)> {
    let (cq, ck) = (tiling.range(i).len(), tiling.range(j).len());
    if i != j {
        return vec![(0..cq, ck)];
    }
    (0..cq)
        .step_by(DIAGONAL_ROWS)
        .map(|a| (a..(a + DIAGONAL_ROWS).min(cq), (a + DIAGONAL_ROWS).min(cq)))
        .collect()
}

/// Forward pass: the output `[b, h, t, d]` and the row log-sum-exp `[b, h, t]`.
pub(super) fn forward(q: &[f32], k: &[f32], v: &[f32], dims: Dims, tiling: &Tiling) -> (Vec<f32>, Vec<f32>) {
    let Dims { b, h, kv, t, d } = dims;
    assert!(q.len() == b * h * t * d && k.len() == b * kv * t * d && v.len() == k.len());
    let (chunk, group) = (tiling.chunk, dims.group());
    let scale = 1.0 / (d as f32).sqrt();
    let mut out = vec![0.0f32; q.len()];
    let mut lse = vec![0.0f32; b * h * t];
    out.par_chunks_mut(t * d)
        .zip(lse.par_chunks_mut(t))
        .enumerate()
        .for_each(|(bh, (out, lse))| {
            let (row, head) = (bh / h, bh % h);
            let kv_at = (row * kv + head / group) * t * d;
            let (k, v) = (&k[kv_at..kv_at + t * d], &v[kv_at..kv_at + t * d]);
            let q = &q[bh * t * d..(bh + 1) * t * d];
            out.par_chunks_mut(chunk * d)
                .zip(lse.par_chunks_mut(chunk))
                .enumerate()
                .for_each(|(i, (acc, lse))| forward_chunk(q, k, v, (row, i, d, scale), tiling, acc, lse));
        });
    (out, lse)
}

/// One query chunk of one head: `acc` (`cq × d`) gets the output rows and
/// `lse` (`cq`) their log-sum-exp.
fn forward_chunk(
    q: &[f32],
    k: &[f32],
    v: &[f32],
    (row, i, d, scale): (usize, usize, usize, f32),
    tiling: &Tiling,
    acc: &mut [f32],
    lse: &mut [f32],
) {
    let rq = tiling.range(i);
    let cq = rq.len();
    let qi = &q[rq.start * d..rq.end * d];
    // Running row max (-inf while no key was seen) and sum of exp(s - max).
    let (mut m, mut l) = (vec![f32::NEG_INFINITY; cq], vec![0.0f32; cq]);
    let mut s = vec![0.0f32; cq * tiling.chunk];
    for j in (0..=i).rev() {
        let tile = tiling.tile(i, j);
        if tile == super::Tile::Skip {
            continue;
        }
        let k0 = tiling.range(j).start;
        for (part, ck) in blocks(tiling, i, j) {
            let s = &mut s[..part.len() * ck];
            let keys = k0..k0 + ck;
            let q_part = &qi[part.start * d..part.end * d];
            matmul(
                s,
                ck,
                (part.len(), ck, d),
                rows(q_part, d),
                transposed(&k[keys.start * d..keys.end * d], d),
                scale,
                false,
                false,
            );
            if tile == super::Tile::Masked {
                mask(s, tiling, row, rq.start + part.start..rq.start + part.end, keys.clone());
            }
            for (c, a) in part.clone().enumerate() {
                let sa = &mut s[c * ck..(c + 1) * ck];
                let new = max_of(sa).max(m[a]);
                // exp(-inf - finite) = 0 wipes a row that had seen nothing.
                let safe = if new == f32::NEG_INFINITY { 0.0 } else { new };
                let alpha = exp1(m[a] - safe);
                l[a] = l[a] * alpha + exp_shifted(sa, safe);
                m[a] = new;
                if alpha != 1.0 {
                    acc[a * d..(a + 1) * d].iter_mut().for_each(|x| *x *= alpha);
                }
            }
            let acc_part = &mut acc[part.start * d..part.end * d];
            matmul(
                acc_part,
                d,
                (part.len(), d, ck),
                rows(s, ck),
                rows(&v[keys.start * d..keys.end * d], d),
                1.0,
                true,
                false,
            );
        }
    }
    for a in 0..cq {
        // A row that saw no key would have l = 0: output 0 rather than NaN.
        let la = l[a].max(f32::MIN_POSITIVE);
        acc[a * d..(a + 1) * d].iter_mut().for_each(|x| *x /= la);
        lse[a] = if m[a] == f32::NEG_INFINITY { 0.0 } else { m[a] } + la.ln();
    }
}

/// The saved tensors and the output's gradient of one backward pass, all
/// contiguous: `q`, `out`, `d_out` `[b, h, t, d]`; `k`, `v` `[b, kv, t, d]`;
/// `lse` `[b, h, t]`.
#[derive(Clone, Copy, Debug)]
pub(super) struct Saved<'a> {
    pub q: &'a [f32],
    pub k: &'a [f32],
    pub v: &'a [f32],
    pub out: &'a [f32],
    pub lse: &'a [f32],
    pub d_out: &'a [f32],
}

/// Backward pass: `(dq, dk, dv)` shaped as `q`, `k`, `v`. Key/value gradients
/// sum over the query heads of their group.
pub(super) fn backward(saved: Saved<'_>, dims: Dims, tiling: &Tiling) -> [Vec<f32>; 3] {
    let Dims { b, h, kv, t, d } = dims;
    let Saved {
        q, k, out, lse, d_out, ..
    } = saved;
    assert!(
        q.len() == b * h * t * d
            && out.len() == q.len()
            && d_out.len() == q.len()
            && k.len() == b * kv * t * d
            && saved.v.len() == k.len()
            && lse.len() == b * h * t
    );
    let group = dims.group();
    let (mut dq, mut dk, mut dv) = (vec![0.0f32; q.len()], vec![0.0f32; k.len()], vec![0.0f32; k.len()]);
    dq.par_chunks_mut(group * t * d)
        .zip(dk.par_chunks_mut(t * d))
        .zip(dv.par_chunks_mut(t * d))
        .enumerate()
        .for_each(|(bg, ((dq, dk), dv))| {
            for (hh, dq) in dq.chunks_mut(t * d).enumerate() {
                backward_head(
                    saved,
                    dims,
                    tiling,
                    (bg / kv, bg * group + hh, bg),
                    (dq, &mut *dk, &mut *dv),
                );
            }
        });
    [dq, dk, dv]
}

/// The gradients one query head (`bh` its `[b·h]` index, `bg` its key/value
/// head's `[b·kv]` index) contributes: its own `dq`, added into its group's `dk`, `dv`.
fn backward_head(
    saved: Saved<'_>,
    Dims { t, d, .. }: Dims,
    tiling: &Tiling,
    (row, bh, bg): (usize, usize, usize),
    (dq, dk, dv): (&mut [f32], &mut [f32], &mut [f32]),
) {
    let scale = 1.0 / (d as f32).sqrt();
    let at = bh * t * d..(bh + 1) * t * d;
    let (q, out, d_out) = (&saved.q[at.clone()], &saved.out[at.clone()], &saved.d_out[at]);
    let (k, v) = (
        &saved.k[bg * t * d..(bg + 1) * t * d],
        &saved.v[bg * t * d..(bg + 1) * t * d],
    );
    let lse = &saved.lse[bh * t..(bh + 1) * t];
    // D = rowsum(dO ∘ O).
    let rowsum: Vec<f32> = (0..t)
        .map(|r| {
            let (o, g) = (&out[r * d..(r + 1) * d], &d_out[r * d..(r + 1) * d]);
            o.iter().zip(g).map(|(a, b)| a * b).sum()
        })
        .collect();
    let size = tiling.chunk * tiling.chunk;
    let (mut p, mut ds) = (vec![0.0f32; size], vec![0.0f32; size]);
    for j in 0..tiling.chunks() {
        let rk = tiling.range(j);
        for i in j..tiling.chunks() {
            let tile = tiling.tile(i, j);
            if tile == super::Tile::Skip {
                continue;
            }
            let q0 = tiling.range(i).start;
            for (part, ck) in blocks(tiling, i, j) {
                let queries = q0 + part.start..q0 + part.end;
                let keys = rk.start..rk.start + ck;
                let cq = queries.len();
                let (qi, doi) = (
                    &q[queries.start * d..queries.end * d],
                    &d_out[queries.start * d..queries.end * d],
                );
                let (kj, vj) = (&k[keys.start * d..keys.end * d], &v[keys.start * d..keys.end * d]);
                let (p, ds) = (&mut p[..cq * ck], &mut ds[..cq * ck]);
                // P = exp(scale · Q Kᵀ - L): exactly 0 where masked (L is finite).
                matmul(p, ck, (cq, ck, d), rows(qi, d), transposed(kj, d), scale, false, false);
                if tile == super::Tile::Masked {
                    mask(p, tiling, row, queries.clone(), keys.clone());
                }
                for (a, r) in queries.clone().enumerate() {
                    exp_shifted(&mut p[a * ck..(a + 1) * ck], lse[r]);
                }
                // dV += Pᵀ dO.
                let dvj = &mut dv[keys.start * d..keys.end * d];
                matmul(dvj, d, (ck, d, cq), transposed(p, ck), rows(doi, d), 1.0, true, false);
                // dS = P ∘ (dO Vᵀ - D).
                matmul(ds, ck, (cq, ck, d), rows(doi, d), transposed(vj, d), 1.0, false, false);
                for (a, r) in queries.clone().enumerate() {
                    let (pa, dsa) = (&p[a * ck..(a + 1) * ck], &mut ds[a * ck..(a + 1) * ck]);
                    dsa.iter_mut().zip(pa).for_each(|(x, p)| *x = p * (*x - rowsum[r]));
                }
                // dQ += scale · dS K, dK += scale · dSᵀ Q.
                let dqi = &mut dq[queries.start * d..queries.end * d];
                matmul(dqi, d, (cq, d, ck), rows(ds, ck), rows(kj, d), scale, true, false);
                let dkj = &mut dk[keys.start * d..keys.end * d];
                matmul(dkj, d, (ck, d, cq), transposed(ds, ck), rows(qi, d), scale, true, false);
            }
        }
    }
}
