//! Scoring throughput of the `burn` scorer on SmolLM2-135M (CPU, `flex`):
//! tokens/s over (context, target) pairs shaped like a search's requests,
//! and the process's peak resident memory.
//!
//!     cargo bench -p repo2agent-scorers --bench score [-- CONTEXT_TOKENS TARGET_TOKENS PAIRS] [round]
//!
//! Defaults: 3 pairs (an initial thought and K = 2 candidates) of 600 context
//! and 250 target tokens, cut from real code (this crate's sources). The model
//! is the GGUF `scripts/llama_server.py --install-only` fetches.
//!
//! `round` scores a search round instead: the pairs share their context's
//! first CONTEXT_TOKENS (one trajectory prefix), each adds its own 150-token
//! "thought", all have the same target; once with `share_prefix` and once
//! without, printing the time, the tokens the model computed and the largest
//! difference between the two runs' mean NLLs.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use repo2agent_core::stage::{ScoreRequest, Scorer};
use repo2agent_scorers::{BurnScorer, BurnScorerConfig};

fn main() {
    let round = std::env::args().any(|a| a == "round");
    let args: Vec<usize> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let (ctx_tokens, target_tokens, pairs) = (
        args.first().copied().unwrap_or(600),
        args.get(1).copied().unwrap_or(250),
        args.get(2).copied().unwrap_or(3),
    );
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let out = Command::new("python3")
        .arg(root.join("scripts/llama_server.py"))
        .arg("--install-only")
        .output()
        .expect("python3");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let model = String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()
        .unwrap_or_default()
        .trim()
        .to_owned();
    let load = |share_prefix: bool, max_context_tokens: usize| {
        BurnScorer::load(BurnScorerConfig {
            model: model.clone().into(),
            tokenizer: None,
            device: "flex".into(),
            max_context_tokens,
            batch_tokens: 4096,
            attention_chunk: 256,
            share_prefix,
        })
        .expect("load SmolLM2")
    };
    // Real code: this crate's and the trainer's sources, about 4 characters a token.
    let text: String = [
        "src/burn_scorer.rs",
        "../../trainer/src/model.rs",
        "../../trainer/src/attention.rs",
    ]
    .iter()
    .filter_map(|p| std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(p)).ok())
    .collect();
    let chars: Vec<char> = text.chars().collect();
    let cut = |from: usize, n: usize| chars[from..(from + n).min(chars.len())].iter().collect::<String>();
    let rt = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
    if round {
        let batch: Vec<ScoreRequest> = (0..pairs)
            .map(|i| ScoreRequest {
                context: cut(0, ctx_tokens * 4) + &cut(ctx_tokens * 4 + 3000 + i * 997, 600),
                target: cut(ctx_tokens * 4 + 2000, target_tokens * 4),
            })
            .collect();
        let mut means: Vec<Vec<f64>> = Vec::new();
        for share in [true, false] {
            let scorer = load(share, ctx_tokens + 400);
            let t = Instant::now();
            let scores = rt.block_on(scorer.score(&batch)).expect("score");
            let secs = t.elapsed().as_secs_f64();
            let computed: u64 = scores.iter().map(|s| s.computed_tokens()).sum();
            let nominal: u64 = scores.iter().map(|s| s.context_tokens + s.token_nll.len() as u64).sum();
            println!(
                "search round, share_prefix = {share}: {pairs} pairs, {nominal} tokens, {computed} computed: {secs:.2} s ({:.0} tokens/s of requests)",
                nominal as f64 / secs
            );
            means.push(scores.iter().map(|s| s.mean()).collect());
        }
        let diff = means[0]
            .iter()
            .zip(&means[1])
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max);
        println!("largest difference of a pair's mean NLL: {diff:.2e} nats/token");
        return;
    }
    let scorer = load(true, ctx_tokens);
    let batch: Vec<ScoreRequest> = (0..pairs)
        .map(|i| ScoreRequest {
            context: cut(i * 97, ctx_tokens * 4),
            target: cut(ctx_tokens * 4 + 2000, target_tokens * 4),
        })
        .collect();
    let _ = rt.block_on(scorer.score(&batch[..1])).expect("warm-up");
    let mut times = Vec::new();
    let mut tokens = 0;
    for _ in 0..3 {
        let t = Instant::now();
        let scores = rt.block_on(scorer.score(&batch)).expect("score");
        times.push(t.elapsed().as_secs_f64());
        tokens = scores
            .iter()
            .map(|s| s.context_tokens as usize + s.token_nll.len())
            .sum::<usize>();
    }
    times.sort_by(f64::total_cmp);
    let median = times[times.len() / 2];
    println!(
        "burn scorer, SmolLM2-135M, flex: {pairs} pairs, {tokens} tokens per call: {median:.2} s, {:.0} tokens/s, peak RSS {:.0} MB",
        tokens as f64 / median,
        repo2agent_trainer::device::peak_rss_mb()
    );
}
