//! Training throughput on CPU: tokens/s of full optimizer steps (forward,
//! backward, global-norm clip, AdamW) of a small Llama, with the naive and the
//! chunked attention, and the process's peak resident memory.
//!
//!     cargo bench -p repo2agent-trainer --bench train [-- SEQ_LEN [DOC_LEN [BATCH]]]
//!     cargo bench -p repo2agent-trainer --bench train -- curve
//!
//! Defaults: 2 sequences of 1,024 tokens, one document each. With DOC_LEN the
//! sequence is packed with documents of that length (attention stays inside
//! each). The naive attention is skipped above 8,192 tokens (its score matrix
//! alone would not fit). Peak RSS is the process's high-water mark, reset
//! before each measurement (Linux `clear_refs`); `ATTENTION=naive` or
//! `ATTENTION=chunked` runs one kind only. `LOSS_CHUNK=N` sets the positions
//! whose logits the loss computes at a time (`train.loss_chunk`, default
//! 4096); `LOSS_CHUNK=0` computes the whole `[batch, seq, vocab]` logits.
//!
//! `curve`: the memory curve, one sequence per step of 1,024, 4,096, 16,384
//! and 65,536 tokens (documents of 4,096 from 4,096 on), chunked attention,
//! with the whole logits and with the tiled loss.
//!
//! The same configuration in PyTorch: `scripts/bench_torch.py` (run with the
//! interop environment's Python, `scripts/interop_env`).

use std::time::Instant;

use repo2agent_core::shard::mds::Sample;
use repo2agent_trainer::config::AttentionKind;
use repo2agent_trainer::data::{Example, SplitMix64};
use repo2agent_trainer::device::{peak_rss_mb, reset_peak_rss};
use repo2agent_trainer::loss::{weighted_nll, weighted_sum};
use repo2agent_trainer::model::{Inputs, LlamaConfig};
use repo2agent_trainer::optim::{AdamW, AdamWConfig, GradAccumulator};
use repo2agent_trainer::weights::init_seeded;

const CFG: LlamaConfig = LlamaConfig {
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

/// One configuration to time.
struct Setup {
    seq: usize,
    doc: usize,
    batch: usize,
    kind: AttentionKind,
    loss_chunk: usize,
}

/// Random token sequences of `seq` tokens packed with documents of `doc`.
fn examples(s: &Setup) -> Vec<Example> {
    let mut rng = SplitMix64(1);
    (0..s.batch)
        .map(|_| {
            let ids: Vec<u32> = (0..s.seq).map(|_| (rng.next_u64() % 4096) as u32).collect();
            Example::from_sample(&Sample {
                input_ids: ids,
                indices: (0..s.seq.div_ceil(s.doc))
                    .map(|d| [(d * s.doc) as u32, ((d + 1) * s.doc).min(s.seq) as u32])
                    .collect(),
                mask: vec![1; s.seq],
                roles: vec![5; s.seq],
                length: s.seq as u64,
                weight: None,
            })
        })
        .collect()
}

/// Mean seconds per optimizer step (the first step is a warm-up) and the
/// peak RSS in MB while stepping.
fn measure(s: &Setup) -> (f64, f64) {
    // The CPU device as a run chooses it (allocator setting included).
    let device = repo2agent_trainer::device::device("flex").expect("flex").autodiff();
    let examples = examples(s);
    let total: f64 = examples.iter().map(Example::total_weight).sum();
    let targets: Vec<u32> = examples.iter().flat_map(|e| e.targets.clone()).collect();
    let weights: Vec<f32> = examples.iter().flat_map(|e| e.weights.clone()).collect();
    reset_peak_rss();
    let mut model = init_seeded(CFG.init(&device), 0, 0.02).with_attention(s.kind, 256);
    let mut opt = AdamW::new(AdamWConfig::default());
    let mut times = Vec::new();
    let steps = if s.seq * s.batch > 8192 { 2 } else { 4 };
    for step in 0..steps {
        let t0 = Instant::now();
        let inputs = Inputs::from_examples(&examples, &device);
        let loss = if s.loss_chunk == 0 {
            weighted_nll(model.forward(&inputs), &targets, &weights, total)
        } else {
            weighted_sum(
                model.head_nll(model.hidden(&inputs), &targets, s.loss_chunk),
                &weights,
                total,
            )
        };
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
    (times.iter().sum::<f64>() / times.len() as f64, peak_rss_mb())
}

fn row(name: &str, s: &Setup) {
    let (step, peak) = measure(s);
    println!(
        "| {name} | {} | {} | {:.3} | {:.0} | {peak:.0} |",
        s.seq,
        s.loss_chunk,
        step,
        (s.batch * s.seq) as f64 / step
    );
}

fn main() {
    let raw: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<usize> = raw.iter().filter_map(|a| a.parse().ok()).collect();
    let env = |k: &str| std::env::var(k).ok();
    let loss_chunk: usize = env("LOSS_CHUNK").and_then(|v| v.parse().ok()).unwrap_or(4096);
    println!(
        "model: {} parameters (d 256, 4 layers, 8/4 heads, ffn 704, vocab 4096, tied)",
        CFG.parameter_count()
    );
    println!("| attention | tokens | loss chunk | step (s) | tokens/s | peak RSS (MB) |\n|---|---|---|---|---|---|");
    if raw.iter().any(|a| a == "curve") {
        for seq in [1024, 4096, 16_384, 65_536] {
            for loss_chunk in [0, 4096] {
                let s = Setup {
                    seq,
                    doc: seq.min(4096),
                    batch: 1,
                    kind: AttentionKind::Chunked,
                    loss_chunk,
                };
                row("Chunked", &s);
            }
        }
        return;
    }
    let seq = args.first().copied().unwrap_or(1024);
    let doc = args.get(1).copied().unwrap_or(seq).clamp(1, seq);
    let batch = args.get(2).copied().unwrap_or(2);
    println!("(batch {batch} x {seq} tokens, documents of {doc})");
    let kinds: &[AttentionKind] = if seq > 8192 {
        &[AttentionKind::Chunked]
    } else {
        &[AttentionKind::Naive, AttentionKind::Chunked]
    };
    let only = env("ATTENTION");
    for &kind in kinds {
        if only
            .as_deref()
            .is_some_and(|o| !format!("{kind:?}").eq_ignore_ascii_case(o))
        {
            continue;
        }
        let s = Setup {
            seq,
            doc,
            batch,
            kind,
            loss_chunk,
        };
        row(&format!("{kind:?}"), &s);
    }
}
