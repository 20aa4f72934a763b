//! The `wgpu` device (cargo feature `wgpu`): in CI it runs on Mesa's lavapipe
//! software Vulkan (installed by scripts/test). The model's logits, the chunked
//! attention's and the tiled loss's gradients and a few training steps equal
//! the CPU (`flex`) ones.
#![cfg(feature = "wgpu")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use burn::tensor::{Device, Distribution, Int, Tensor, TensorData};
use repo2agent_core::shard::Sequence;
use repo2agent_core::shard::mds::{MdsWriter, Sample};
use repo2agent_trainer::attention::{chunked_attention, naive_attention};
use repo2agent_trainer::data::Example;
use repo2agent_trainer::loss::{chunked_head_nll, weighted_nll, weighted_sum};
use repo2agent_trainer::model::{Inputs, LlamaConfig};
use repo2agent_trainer::weights::{init_seeded, load_tensors, model_tensors};

fn wgpu() -> Device {
    repo2agent_trainer::device::device("wgpu").unwrap()
}

fn host<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().convert::<f32>().try_to_vec::<f32>().unwrap()
}

fn close(a: &[f32], b: &[f32], tol: f32) -> f32 {
    assert_eq!(a.len(), b.len());
    let worst = a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max);
    assert!(worst < tol, "max |Δ| {worst} >= {tol}");
    worst
}

#[test]
fn logits_on_wgpu_equal_logits_on_cpu() {
    let cpu = Device::flex();
    let gpu = wgpu();
    let cfg = LlamaConfig::tiny(64);
    let a = init_seeded(cfg.init(&cpu), 1, 0.1);
    let (b, _) = load_tensors(cfg.init(&gpu), &model_tensors(&a)).unwrap();
    let e = Example::from_sample(&Sample {
        input_ids: (0..40).map(|i| (i * 7 % 64) as u32).collect(),
        indices: vec![[0, 25], [25, 40]],
        mask: vec![1; 40],
        roles: vec![5; 40],
        length: 40,
        weight: None,
    });
    for chunk in [0, 8] {
        let kind = if chunk == 0 {
            repo2agent_trainer::config::AttentionKind::Naive
        } else {
            repo2agent_trainer::config::AttentionKind::Chunked
        };
        let (a, b) = (
            a.clone().with_attention(kind, chunk),
            b.clone().with_attention(kind, chunk),
        );
        let x = host(a.forward(&Inputs::from_examples(std::slice::from_ref(&e), &cpu)));
        let y = host(b.forward(&Inputs::from_examples(std::slice::from_ref(&e), &gpu)));
        let d = close(&x, &y, 1e-3);
        eprintln!("wgpu vs flex logits, chunk {chunk}: max |Δ| {d:e}");
    }
}

#[test]
fn chunked_attention_gradients_on_wgpu_equal_naive() {
    let device = wgpu().autodiff();
    let (b, h, kv, t, d) = (1, 4, 2, 37, 16);
    let q = Tensor::<4>::random([b, h, t, d], Distribution::Normal(0.0, 1.0), &device);
    let k = Tensor::<4>::random([b, kv, t, d], Distribution::Normal(0.0, 1.0), &device);
    let v = Tensor::<4>::random([b, kv, t, d], Distribution::Normal(0.0, 1.0), &device);
    let docs: Vec<i64> = (0..t as i64).map(|i| if i < 20 { 0 } else { 1 }).collect();
    let docs = Tensor::<2, Int>::from_data(TensorData::new(docs, [b, t]), &device);
    let w = Tensor::<4>::random([b, h, t, d], Distribution::Normal(0.0, 1.0), &device);
    let grads = |chunked: bool| {
        let (q, k, v) = (
            q.clone().require_grad(),
            k.clone().require_grad(),
            v.clone().require_grad(),
        );
        let out = if chunked {
            chunked_attention(q.clone(), k.clone(), v.clone(), docs.clone(), 8)
        } else {
            naive_attention(q.clone(), k.clone(), v.clone(), docs.clone())
        };
        let g = (out * w.clone()).sum().backward();
        [q.grad(&g).unwrap(), k.grad(&g).unwrap(), v.grad(&g).unwrap()].map(host)
    };
    let (a, b) = (grads(true), grads(false));
    for i in 0..3 {
        close(&a[i], &b[i], 1e-3);
    }
}

#[test]
fn tiled_loss_gradients_on_wgpu_equal_the_full_logits() {
    let device = wgpu().autodiff();
    let (n, d, v) = (37, 16, 50);
    let h = Tensor::<2>::random([n, d], Distribution::Normal(0.0, 1.0), &device);
    let w = Tensor::<2>::random([d, v], Distribution::Normal(0.0, 1.0), &device);
    let targets: Vec<u32> = (0..n).map(|i| (i * 13 % v) as u32).collect();
    let weights: Vec<f32> = (0..n).map(|i| if i % 4 == 0 { 0.0 } else { 1.0 }).collect();
    let grads = |tiled: bool| {
        let (h, w) = (h.clone().require_grad(), w.clone().require_grad());
        let loss = if tiled {
            weighted_sum(chunked_head_nll(h.clone(), w.clone(), &targets, 8), &weights, 20.0)
        } else {
            weighted_nll(h.clone().matmul(w.clone()).reshape([1, n, v]), &targets, &weights, 20.0)
        };
        let g = loss.clone().backward();
        [host(loss), host(h.grad(&g).unwrap()), host(w.grad(&g).unwrap())]
    };
    let (a, b) = (grads(true), grads(false));
    for i in 0..3 {
        close(&a[i], &b[i], 1e-3);
    }
}

#[test]
fn training_steps_on_wgpu_follow_the_cpu_ones() {
    // The same run (tiny model, tiled loss and attention) on both devices.
    let curve = |device: &str| {
        let dir = tempfile::tempdir().unwrap();
        let mut w = MdsWriter::new(&dir.path().join("train"), 1 << 20, false).unwrap();
        for i in 0..8u32 {
            let ids: Vec<u32> = (0..32u32).map(|k| (i * 5 + k) % 48).collect();
            w.write(&Sequence {
                input_ids: ids,
                roles: vec![5; 32],
                weights: vec![1.0; 32],
                indices: vec![[0, 20], [20, 32]],
                length: 32,
            })
            .unwrap();
        }
        w.finish().unwrap();
        let text = format!(
            "[model]\npreset = \"tiny\"\nvocab_size = 48\n\n[data]\ntrain = \"train\"\n\n\
             [train]\noutput = \"out\"\ndevice = \"{device}\"\nsteps = 4\nmicro_batch = 2\n\
             attention_chunk = 8\nloss_chunk = 16\n\n[optimizer]\nlr = 0.01\n"
        );
        std::fs::write(dir.path().join("train.toml"), text).unwrap();
        let cfg = repo2agent_trainer::config::load(&dir.path().join("train.toml")).unwrap();
        repo2agent_trainer::train::run(&cfg, &Default::default(), &mut |_| {})
            .unwrap()
            .losses
    };
    let (cpu, gpu) = (curve("flex"), curve("wgpu"));
    assert_eq!(cpu.len(), 4);
    let cpu32: Vec<f32> = cpu.iter().map(|x| *x as f32).collect();
    let gpu32: Vec<f32> = gpu.iter().map(|x| *x as f32).collect();
    let d = close(&gpu32, &cpu32, 1e-3);
    eprintln!("wgpu vs flex training losses: max |Δ| {d:e}");
    assert!(cpu[3] < cpu[0], "the loss falls: {cpu:?}");
}
