//! Training on the engines people run: `scripts/train_torch.py` (PyTorch,
//! Hugging Face transformers and the `streaming` package, from the interop
//! environment) trains on our shards with the same TRAIN.toml as
//! `repo2agent train`, and gives the same losses step for step and the same
//! weights — loss weights (a fractional `weight` column included), document
//! boundaries, positions, the optimizer, clipping and the schedule all
//! honoured alike.

use repo2agent_tests::*;
use std::path::Path;

fn metrics(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| v.get("loss").is_some())
        .collect()
}

#[test]
fn pytorch_trains_on_our_shards_as_our_trainer_does() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let module = |name: &str, n: usize| {
        let mut s = format!("\"\"\"The {name} helpers.\"\"\"\n\nimport math\n\n");
        for i in 0..n {
            s.push_str(&format!(
                "def {name}_{i}(x, y={i}):\n    \"\"\"Scale x by {i}.\"\"\"\n    return math.sqrt(x * y + {i})\n\n"
            ));
        }
        s
    };
    write_tree(
        &dir.join("repo"),
        &[
            ("pkg/__init__.py", "from .geometry import *\n"),
            ("pkg/geometry.py", &module("area", 6)),
            (
                "pkg/stats.py",
                &format!("from .geometry import area_1\n\n{}", module("mean", 5)),
            ),
            ("README.md", "# pkg\n\nSmall helpers for areas and means.\n"),
        ],
    );
    // Observations read but never trained on, thoughts at half weight (a
    // `weight` column), short sequences so that documents are cut and packed.
    std::fs::write(
        dir.join("run.toml"),
        r#"
[input]
repos = ["repo"]

[policies.template]
type = "template"

[format]
type = "agent"

[mask]
type = "roles"
weights = { observation = 0.0, think = 0.5 }

[tokenizer]
type = "bpe"
vocab_size = 300

[output]
dir = "out"
seq_len = 128
"#,
    )
    .unwrap();
    run_ok(dir, &["run", "-c", "run.toml"]);
    let index = read_json(dir.join("out/shards/index.json"));
    let samples: u64 = index["shards"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["samples"].as_u64().unwrap())
        .sum();
    assert!((4..=40).contains(&samples), "{samples} samples");
    let meta = read_json(dir.join("out/shards/repo2agent.json"));
    assert_eq!(meta["weight_column"], true);
    let vocab = meta["tokenizer"]["vocab_size"].as_u64().unwrap();

    // A model made by transformers, smaller than the shards' vocabulary: both
    // engines grow it the same way.
    let interop = workspace_root().join("scripts/interop.py");
    let (ok, said) = run_interop(
        dir,
        &[
            interop.to_str().unwrap(),
            "hf-tiny",
            "hf-tiny",
            &(vocab - 7).to_string(),
        ],
    );
    assert!(ok, "{said}");

    // The global batch is the whole dataset, so both engines see the same
    // sequences at every step whatever order each draws them in. Clipping
    // and the warmup and cosine are all exercised.
    let (micro, accum) = if samples.is_multiple_of(2) {
        (2, samples / 2)
    } else {
        (1, samples)
    };
    let train = format!(
        r#"
[model]
from = "hf-tiny"

[data]
train = "out/shards"

[train]
output = "out-ours"
seed = 3
steps = 4
micro_batch = {micro}
grad_accum = {accum}

[optimizer]
lr = 1e-2
min_lr = 1e-3
warmup_steps = 1
weight_decay = 0.1
clip_norm = 0.3

[checkpoint]
every = 0
"#
    );
    std::fs::write(dir.join("train.toml"), train).unwrap();
    run_ok(dir, &["train", "-c", "train.toml"]);
    let script = workspace_root().join("scripts/train_torch.py");
    let (ok, said) = run_interop(
        dir,
        &[script.to_str().unwrap(), "-c", "train.toml", "--out", "out-torch"],
    );
    assert!(ok, "{said}");
    assert!(said.contains("ok: 4 steps"), "{said}");

    let ours = metrics(&dir.join("out-ours/metrics.jsonl"));
    let theirs = metrics(&dir.join("out-torch/metrics.jsonl"));
    assert_eq!((ours.len(), theirs.len()), (4, 4));
    let mut clipped = 0;
    for (a, b) in ours.iter().zip(&theirs) {
        for key in ["loss", "grad_norm", "lr"] {
            let (x, y) = (a[key].as_f64().unwrap(), b[key].as_f64().unwrap());
            assert!(
                (x - y).abs() <= 1e-5 * x.abs().max(1.0),
                "step {}: {key} {x} vs {y}",
                a["step"]
            );
        }
        assert_eq!(a["tokens"], b["tokens"], "trained tokens");
        assert_eq!(a["clipped"], b["clipped"]);
        clipped += usize::from(a["clipped"] == true);
    }
    assert!(clipped > 0, "clipping was not exercised: {ours:?}");
    let losses: Vec<f64> = ours.iter().map(|m| m["loss"].as_f64().unwrap()).collect();
    assert!(losses[3] < losses[0], "the loss falls: {losses:?}");

    // The same weights after four steps.
    let (ok, said) = run_interop(
        dir,
        &[
            interop.to_str().unwrap(),
            "max-diff",
            "out-ours/final/model.safetensors",
            "out-torch/final/model.safetensors",
        ],
    );
    assert!(ok, "{said}");
    let diff: f64 = said
        .split("max |diff| ")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("{said}"));
    assert!(diff < 1e-4, "{said}");

    // A GGUF `from` is our trainer's only: a clear error before any work.
    std::fs::write(
        dir.join("bad.toml"),
        "[model]\nfrom = \"model.gguf\"\n[data]\ntrain = \"out/shards\"\n",
    )
    .unwrap();
    let (ok, said) = run_interop(dir, &[script.to_str().unwrap(), "-c", "bad.toml"]);
    assert!(!ok);
    assert!(said.contains("bad.toml") && said.contains("no config.json"), "{said}");
}
