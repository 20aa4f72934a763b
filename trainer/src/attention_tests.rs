//! Tests of `attention.rs`.

use super::*;
use crate::data::{Example, PAD_DOC, SplitMix64};
use crate::model::Inputs;
use crate::test_util::{max_diff, random, values};
use burn::tensor::Device;

/// One row of document ids: documents of the given lengths, then `pad`
/// padding tokens (negative ids of their own, as `Inputs::from_examples`).
fn packed(lens: &[usize], pad: usize) -> Vec<i64> {
    let mut docs: Vec<i64> = lens
        .iter()
        .enumerate()
        .flat_map(|(d, n)| std::iter::repeat_n(d as i64, *n))
        .collect();
    let start = docs.len();
    docs.extend((start..start + pad).map(|i| -1 - i as i64));
    docs
}

struct Case {
    h: usize,
    kv: usize,
    d: usize,
    chunk: usize,
    /// One row per batch element.
    docs: Vec<Vec<i64>>,
}

fn cases() -> Vec<Case> {
    vec![
        // t = 37 not a multiple of the chunk; group 1.
        Case {
            h: 2,
            kv: 2,
            d: 8,
            chunk: 8,
            docs: vec![packed(&[37], 0)],
        },
        // chunk > t; group 3.
        Case {
            h: 3,
            kv: 1,
            d: 16,
            chunk: 32,
            docs: vec![packed(&[20], 0)],
        },
        // b = 2, packed documents with padding, group 3.
        Case {
            h: 6,
            kv: 2,
            d: 8,
            chunk: 16,
            docs: vec![packed(&[12, 20, 13], 5), packed(&[30], 20)],
        },
        // Long documents: some tiles skipped, some unmasked; group 2.
        Case {
            h: 4,
            kv: 2,
            d: 8,
            chunk: 8,
            docs: vec![packed(&[20, 44], 0), packed(&[24, 37], 3)],
        },
        // Tiles taller than the host kernel's diagonal blocks (64 rows), so
        // their diagonal is computed in parts; packed documents and padding.
        Case {
            h: 2,
            kv: 1,
            d: 8,
            chunk: 100,
            docs: vec![packed(&[70, 60], 20)],
        },
        // One-token tiles.
        Case {
            h: 2,
            kv: 1,
            d: 4,
            chunk: 1,
            docs: vec![packed(&[3, 2], 1)],
        },
    ]
}

impl Case {
    fn dims(&self) -> (usize, usize) {
        (self.docs.len(), self.docs[0].len())
    }

    fn docs(&self, device: &Device) -> Tensor<2, Int> {
        let (b, t) = self.dims();
        Tensor::from_data(TensorData::new(self.docs.concat(), [b, t]), device)
    }

    /// q, k, v and a weight for the loss, from a fixed seed.
    fn tensors(&self, seed: u64, device: &Device) -> [Tensor<4>; 4] {
        let (b, t) = self.dims();
        let mut rng = SplitMix64(seed);
        [
            random(&mut rng, [b, self.h, t, self.d], 2.0, device),
            random(&mut rng, [b, self.kv, t, self.d], 2.0, device),
            random(&mut rng, [b, self.kv, t, self.d], 2.0, device),
            random(&mut rng, [b, self.h, t, self.d], 2.0, device),
        ]
    }
}

#[test]
fn chunked_attention_forward_equals_naive() {
    let device = Device::flex();
    for (n, case) in cases().iter().enumerate() {
        let [q, k, v, _] = case.tensors(n as u64, &device);
        let docs = case.docs(&device);
        let naive = naive_attention(q.clone(), k.clone(), v.clone(), docs.clone());
        let chunked = chunked_attention(q, k, v, docs, case.chunk);
        let diff = max_diff(naive, chunked);
        assert!(diff < 1e-5, "case {n}: forward differs by {diff}");
    }
}

#[test]
fn chunked_attention_tiles_cover_skips_and_unmasked_tiles() {
    let case = &cases()[3];
    let (b, t) = case.dims();
    let tiling = Tiling::new(case.docs.concat(), b, t, case.chunk);
    let tiles: Vec<Tile> = (0..tiling.chunks())
        .flat_map(|i| (0..=i).map(move |j| (i, j)))
        .map(|(i, j)| tiling.tile(i, j))
        .collect();
    assert!(tiles.contains(&Tile::Skip) && tiles.contains(&Tile::Full) && tiles.contains(&Tile::Masked));
    // Skipped and unmasked tiles agree with the mask they stand for.
    for i in 0..tiling.chunks() {
        for j in 0..tiling.chunks() {
            let bias: Vec<f32> = tiling.bias(i, j, &Device::flex()).into_data().iter::<f32>().collect();
            match tiling.tile(i, j) {
                Tile::Skip => assert!(bias.iter().all(|x| x.is_infinite()), "tile {i},{j}"),
                Tile::Full => assert!(bias.iter().all(|x| *x == 0.0), "tile {i},{j}"),
                Tile::Masked => {}
            }
        }
    }
}

/// Gradients of `sum(attention(q, k, v) ∘ w)` w.r.t. the inputs that require them.
fn gradients(
    attention: impl Fn(Tensor<4>, Tensor<4>, Tensor<4>) -> Tensor<4>,
    [q, k, v, w]: [Tensor<4>; 4],
    track: [bool; 3],
) -> Vec<Tensor<4>> {
    let leaf = |x: Tensor<4>, t: bool| if t { x.require_grad() } else { x };
    let (q, k, v) = (leaf(q, track[0]), leaf(k, track[1]), leaf(v, track[2]));
    let grads = (attention(q.clone(), k.clone(), v.clone()) * w).sum().backward();
    [q, k, v]
        .iter()
        .zip(track)
        .filter(|(_, t)| *t)
        .map(|(x, _)| x.grad(&grads).expect("gradient"))
        .collect()
}

#[test]
fn chunked_attention_gradients_equal_naive() {
    let plain = Device::flex().autodiff();
    let checkpointed = Device::flex().autodiff().gradient_checkpointing();
    for (n, case) in cases().iter().enumerate() {
        for device in [&plain, &checkpointed] {
            let docs = case.docs(device);
            let naive = |q, k, v| naive_attention(q, k, v, docs.clone());
            let chunked = |q, k, v| chunked_attention(q, k, v, docs.clone(), case.chunk);
            let expected = gradients(naive, case.tensors(n as u64, device), [true; 3]);
            let got = gradients(chunked, case.tensors(n as u64, device), [true; 3]);
            for (name, (e, g)) in ["q", "k", "v"].iter().zip(expected.into_iter().zip(got)) {
                let diff = max_diff(e, g);
                assert!(diff < 1e-4, "case {n}: d{name} differs by {diff}");
            }
        }
    }
}

#[test]
fn chunked_attention_registers_its_own_backward_on_flex() {
    // Not the differentiable fallback: the autodiff graph holds one step.
    let case = &cases()[2];
    let (b, t) = case.dims();
    let tiling = Arc::new(Tiling::new(case.docs.concat(), b, t, case.chunk));
    let grad = |[q, k, v, _]: [Tensor<4>; 4]| [q.require_grad(), k.require_grad(), v.require_grad()];
    let [q, k, v] = grad(case.tensors(1, &Device::flex().autodiff()));
    assert!(with_own_backward::<Flex, NoCheckpointing>(q, k, v, tiling.clone()).is_ok());
    let [q, k, v] = grad(case.tensors(1, &Device::flex().autodiff().gradient_checkpointing()));
    assert!(with_own_backward::<Flex, BalancedCheckpointing>(q, k, v, tiling.clone()).is_ok());
    // The wrong strategy gives the inputs back.
    let [q, k, v] = grad(case.tensors(1, &Device::flex().autodiff()));
    assert!(with_own_backward::<Flex, BalancedCheckpointing>(q, k, v, tiling).is_err());
}

#[test]
fn chunked_attention_gradients_with_constant_inputs() {
    // Only q requires a gradient; k and v are plain tensors without autodiff.
    let device = Device::flex().autodiff();
    let case = &cases()[2];
    let docs = case.docs(&device);
    let constant = |[q, k, v, w]: [Tensor<4>; 4]| [q, k.without_autodiff(), v.without_autodiff(), w];
    let naive = |q, k, v| naive_attention(q, k, v, docs.clone());
    let chunked = |q, k, v| chunked_attention(q, k, v, docs.clone(), case.chunk);
    let track = [true, false, false];
    let expected = gradients(naive, constant(case.tensors(7, &device)), track);
    let got = gradients(chunked, constant(case.tensors(7, &device)), track);
    let diff = max_diff(expected[0].clone(), got[0].clone());
    assert!(diff < 1e-4, "dq differs by {diff}");
}

#[test]
fn chunked_attention_under_autodiff_without_grads_is_the_forward() {
    let device = Device::flex().autodiff();
    let case = &cases()[2];
    let [q, k, v, _] = case.tensors(3, &device);
    let docs = case.docs(&device);
    let out = chunked_attention(q.clone(), k.clone(), v.clone(), docs.clone(), case.chunk);
    assert!(!out.is_tracked());
    let diff = max_diff(naive_attention(q, k, v, docs), out);
    assert!(diff < 1e-5, "forward differs by {diff}");
}

#[test]
fn blocked_agrees_with_may_attend() {
    let device = Device::flex();
    let example = |documents: Vec<u32>| Example {
        inputs: vec![1; documents.len()],
        positions: vec![0; documents.len()],
        documents,
        ..Example::default()
    };
    // Two documents and padding each.
    let examples = [
        example(vec![0, 0, 0, 1, 1, PAD_DOC, PAD_DOC]),
        example(vec![0, 1, 1, 1, 1, 1, PAD_DOC]),
    ];
    let docs = Inputs::from_examples(&examples, &device).documents;
    let t = examples[0].documents.len();
    let blocked: Vec<bool> = blocked(docs.clone(), docs.clone(), 0, 0)
        .into_data()
        .iter::<bool>()
        .collect();
    // The chunked attention's host-side mask, tile by tile.
    let host: Vec<i64> = docs.into_data().iter::<i64>().collect();
    let tiling = Tiling::new(host, examples.len(), t, 3);
    for (row, e) in examples.iter().enumerate() {
        for q in 0..t {
            for k in 0..t {
                let may = e.may_attend(q, k);
                assert_eq!(!blocked[(row * t + q) * t + k], may, "row {row}, q {q}, k {k}");
                let (i, j) = (q / tiling.chunk, k / tiling.chunk);
                let (cq, ck) = (tiling.range(i).len(), tiling.range(j).len());
                let bias: Vec<f32> = tiling.bias(i, j, &device).into_data().iter::<f32>().collect();
                let b = bias[(row * cq + q % tiling.chunk) * ck + k % tiling.chunk];
                assert_eq!(b == 0.0, may, "tile bias, row {row}, q {q}, k {k}");
            }
        }
    }
}

#[test]
fn host_kernels_equal_the_composed_ops_whatever_the_thread_count() {
    // On `flex` the tiles run on slices (attention_cpu.rs); every other backend
    // runs the same algorithm as tensor ops. Both, forward and backward, on
    // every case, and the host kernel the same on 1 and 3 threads.
    let device = Device::flex();
    for (n, case) in cases().iter().enumerate() {
        let [q, k, v, w] = case.tensors(n as u64 + 11, &device);
        let (b, t) = case.dims();
        let tiling = Tiling::new(case.docs.concat(), b, t, case.chunk);
        let run = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .expect("pool");
            pool.install(|| {
                let (out, lse) = forward_tiles(q.clone(), k.clone(), v.clone(), &tiling);
                let grads = backward_tiles(
                    [q.clone(), k.clone(), v.clone()],
                    out.clone(),
                    lse.clone(),
                    w.clone(),
                    &tiling,
                );
                (out, lse, grads)
            })
        };
        let (out, lse, grads) = run(1);
        let (out3, lse3, grads3) = run(3);
        assert_eq!(
            values(out.clone()),
            values(out3),
            "case {n}: forward depends on the threads"
        );
        assert_eq!(lse.clone().into_data(), lse3.into_data());
        for (g, g3) in grads.iter().zip(grads3) {
            assert_eq!(
                values(g.clone()),
                values(g3),
                "case {n}: backward depends on the threads"
            );
        }
        let (ops_out, ops_lse) = forward_ops(q.clone(), k.clone(), v.clone(), &tiling);
        assert!(max_diff(out.clone(), ops_out.clone()) < 1e-5, "case {n}: forward");
        let lse_diff = max_diff(
            lse.clone().reshape([b, case.h, t, 1]),
            ops_lse.reshape([b, case.h, t, 1]),
        );
        assert!(lse_diff < 1e-5, "case {n}: log-sum-exp differs by {lse_diff}");
        let ops = backward_ops([q.clone(), k.clone(), v.clone()], ops_out, lse, w.clone(), &tiling);
        for (name, (g, o)) in ["q", "k", "v"].iter().zip(grads.into_iter().zip(ops)) {
            let diff = max_diff(g, o);
            assert!(diff < 1e-4, "case {n}: d{name} differs by {diff}");
        }
    }
}
