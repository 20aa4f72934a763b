//! Training throughput on CPU: tokens/s of full optimizer steps (forward,
//! backward, global-norm clip, AdamW) of a small Llama, with the naive and the
//! chunked attention, and the process's peak resident memory.
//!
//!     cargo bench -p repo2agent-trainer --bench train [-- SEQ_LEN [DOC_LEN [BATCH]]]
//!
//! Defaults: 2 sequences of 1,024 tokens, one document each. With DOC_LEN the
//! sequence is packed with documents of that length (attention stays inside
//! each). The naive attention is skipped above 8,192 tokens (its score matrix
//! alone would not fit). Peak RSS is the process's high-water mark, so compare
//! kinds in separate runs: `ATTENTION=naive` or `ATTENTION=chunked`.
//!
//! The same configuration in PyTorch: `scripts/bench_torch.py` (run with the
//! interop environment's Python, `scripts/interop_env`).

use std::time::Instant;

use burn::tensor::Device;
use repo2agent_core::shard::mds::Sample;
use repo2agent_trainer::config::AttentionKind;
use repo2agent_trainer::data::{Example, SplitMix64};
use repo2agent_trainer::loss::weighted_nll;
use repo2agent_trainer::model::{Inputs, LlamaConfig};
use repo2agent_trainer::optim::{AdamW, AdamWConfig, GradAccumulator};
use repo2agent_trainer::weights::init_seeded;

fn main() {
    let args: Vec<usize> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let seq = args.first().copied().unwrap_or(1024);
    let doc = args.get(1).copied().unwrap_or(seq).clamp(1, seq);
    let batch = args.get(2).copied().unwrap_or(2);
    let cfg = LlamaConfig {
        vocab_size: 4096,
        d_model: 256,
        n_layers: 4,
        n_heads: 8,
        n_kv_heads: 4,
        ffn_dim: 704,
        rope_theta: 10_000.0,
        rope_scaling: None,
        rms_eps: 1e-5,
        tie_embeddings: true,
    };
    let device = Device::flex().autodiff();
    let mut rng = SplitMix64(1);
    let examples: Vec<Example> = (0..batch)
        .map(|_| {
            let ids: Vec<u32> = (0..seq).map(|_| (rng.next_u64() % 4096) as u32).collect();
            Example::from_sample(&Sample {
                input_ids: ids,
                indices: (0..seq.div_ceil(doc))
                    .map(|d| [(d * doc) as u32, ((d + 1) * doc).min(seq) as u32])
                    .collect(),
                mask: vec![1; seq],
                roles: vec![5; seq],
                length: seq as u64,
                weight: None,
            })
        })
        .collect();
    let total: f64 = examples.iter().map(Example::total_weight).sum();
    let targets: Vec<u32> = examples.iter().flat_map(|e| e.targets.clone()).collect();
    let weights: Vec<f32> = examples.iter().flat_map(|e| e.weights.clone()).collect();
    println!(
        "model: {} parameters (d 256, 4 layers, 8/4 heads, ffn 704, vocab 4096, tied); batch {batch} x {seq} tokens, documents of {doc}",
        cfg.parameter_count()
    );
    println!("| attention | step (s) | tokens/s | peak RSS (MB) |\n|---|---|---|---|");
    let kinds: &[AttentionKind] = if seq > 8192 {
        &[AttentionKind::Chunked]
    } else {
        &[AttentionKind::Naive, AttentionKind::Chunked]
    };
    // Peak RSS is the process's: with ATTENTION=naive|chunked only that one runs.
    let only = std::env::var("ATTENTION").ok();
    for &kind in kinds {
        if only
            .as_deref()
            .is_some_and(|o| !format!("{kind:?}").eq_ignore_ascii_case(o))
        {
            continue;
        }
        let mut model = init_seeded(cfg.init(&device), 0, 0.02).with_attention(kind, 256);
        let mut opt = AdamW::new(AdamWConfig::default());
        let mut times = Vec::new();
        let steps = if seq > 8192 { 2 } else { 4 };
        for step in 0..steps {
            let t0 = Instant::now();
            let inputs = Inputs::from_examples(&examples, &device);
            let loss = weighted_nll(model.forward(&inputs), &targets, &weights, total);
            let _ = loss.clone().into_data();
            let t_fwd = t0.elapsed().as_secs_f64();
            let grads = loss.backward();
            let mut acc = GradAccumulator::default();
            acc.add(&model, &grads);
            let _ = acc.global_norm();
            let t_bwd = t0.elapsed().as_secs_f64();
            let (next, _) = opt.step(model, &acc, 1e-3);
            if std::env::var("PHASES").is_ok() {
                eprintln!("forward {t_fwd:.3}s, backward {:.3}s", t_bwd - t_fwd);
            }
            model = next;
            // Wait for the update to be computed before stopping the clock.
            let _ = repo2agent_trainer::params::named_params(&model)[0]
                .value
                .clone()
                .into_data();
            if step > 0 {
                times.push(t0.elapsed().as_secs_f64());
            }
        }
        let mean = times.iter().sum::<f64>() / times.len() as f64;
        println!(
            "| {kind:?} | {mean:.3} | {:.0} | {:.0} |",
            (batch * seq) as f64 / mean,
            repo2agent_trainer::device::peak_rss_mb()
        );
    }
}
