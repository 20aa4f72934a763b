//! `repo2agent train`'s loop end to end on small synthetic shards: the loss
//! falls and the held-out NLL with it; a run stopped and resumed gives the same
//! loss curve and the same final weights as one uninterrupted run; checkpoints
//! are kept last-N; the config's problems are all reported with lines.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use repo2agent_core::shard::Sequence;
use repo2agent_core::shard::mds::MdsWriter;
use repo2agent_trainer::config;
use repo2agent_trainer::train::{RunOptions, checkpoints, run};

/// `n` sequences of 32 tokens, two documents each, following a learnable
/// pattern (each document counts up from a start token modulo 48); roles
/// alternate observation (weight 0) and code (weight 1) in blocks of 4.
fn write_shards(dir: &Path, n: u32, salt: u32) {
    let mut w = MdsWriter::new(dir, 1 << 20, false).unwrap();
    for i in 0..n {
        let start = (i * 7 + salt) % 48;
        let ids: Vec<u32> = (0..32u32)
            .map(|k| if k < 20 { (start + k) % 48 } else { (start * 3 + k) % 48 })
            .collect();
        let roles: Vec<u8> = (0..32).map(|k| if (k / 4) % 2 == 0 { 6 } else { 5 }).collect();
        let weights = roles.iter().map(|r| if *r == 5 { 1.0 } else { 0.0 }).collect();
        w.write(&Sequence {
            input_ids: ids,
            roles,
            weights,
            indices: vec![[0, 20], [20, 32]],
            length: 32,
        })
        .unwrap();
    }
    w.finish().unwrap();
}

fn config_text(steps: u64, extra: &str) -> String {
    format!(
        "[model]\npreset = \"tiny\"\nvocab_size = 48\n\n[data]\ntrain = \"train\"\neval = \"heldout\"\n\n\
         [train]\noutput = \"out\"\nseed = 3\nsteps = {steps}\nmicro_batch = 2\ngrad_accum = 2\nattention = \"chunked\"\nattention_chunk = 8\n\n\
         [optimizer]\nlr = 0.01\nmin_lr = 0.001\nwarmup_steps = 2\n\n[checkpoint]\nevery = 2\nkeep = 2\n\n[eval]\nevery = 3\n{extra}"
    )
}

fn setup(dir: &Path, steps: u64) -> config::TrainConfig {
    write_shards(&dir.join("train"), 16, 0);
    write_shards(&dir.join("heldout"), 4, 5);
    let path = dir.join("train.toml");
    std::fs::write(&path, config_text(steps, "")).unwrap();
    config::load(&path).unwrap()
}

fn losses(out: &Path) -> Vec<(u64, f64)> {
    std::fs::read_to_string(out.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .filter_map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            Some((v["step"].as_u64()?, v["loss"].as_f64()?))
        })
        .collect()
}

#[test]
fn resuming_gives_the_uninterrupted_loss_curve_and_weights() {
    let a = tempfile::tempdir().unwrap();
    let cfg = setup(a.path(), 6);
    let whole = run(&cfg, &RunOptions::default(), &mut |_| {}).unwrap();
    assert_eq!(whole.step, 6);
    assert_eq!(whole.losses.len(), 6);
    // Checkpoints every 2 steps, the last 2 kept.
    let kept: Vec<u64> = checkpoints(&cfg.train.output).iter().map(|c| c.0).collect();
    assert_eq!(kept, vec![4, 6]);

    let b = tempfile::tempdir().unwrap();
    let cfg_b = setup(b.path(), 6);
    let first = run(
        &cfg_b,
        &RunOptions {
            resume: false,
            stop_after: Some(3),
        },
        &mut |_| {},
    )
    .unwrap();
    assert_eq!(first.step, 3);
    assert!(!cfg_b.train.output.join("final").exists());
    // Simulate a crash after step 4's metrics line but before its checkpoint:
    // a resumed run must drop that line and redo the step.
    let metrics = cfg_b.train.output.join("metrics.jsonl");
    let mut text = std::fs::read_to_string(&metrics).unwrap();
    text.push_str("{\"step\": 4, \"loss\": 123.0}\n");
    std::fs::write(&metrics, text).unwrap();
    // Without --resume, a directory with checkpoints is not overwritten.
    let e = run(&cfg_b, &RunOptions::default(), &mut |_| {})
        .unwrap_err()
        .to_string();
    assert!(e.contains("pass --resume"), "{e}");
    assert_eq!(checkpoints(&cfg_b.train.output).last().unwrap().0, 3);
    let mut said = Vec::new();
    let second = run(
        &cfg_b,
        &RunOptions {
            resume: true,
            stop_after: None,
        },
        &mut |l| said.push(l.to_string()),
    )
    .unwrap();
    assert_eq!((second.resumed_from, second.step), (3, 6));
    assert!(
        said[0].contains("resuming from") && said[0].contains("step-00000003"),
        "{said:?}"
    );
    assert_eq!(
        losses(&cfg.train.output),
        losses(&cfg_b.train.output),
        "the same loss curve"
    );
    let weights = |dir: &Path| std::fs::read(dir.join("final/model.safetensors")).unwrap();
    assert_eq!(
        weights(&cfg.train.output),
        weights(&cfg_b.train.output),
        "the same final weights"
    );
    assert_eq!(whole.eval, second.eval);
}

#[test]
fn the_loss_falls_and_the_held_out_nll_with_it() {
    let dir = tempfile::tempdir().unwrap();
    write_shards(&dir.path().join("train"), 16, 0);
    write_shards(&dir.path().join("heldout"), 4, 5);
    let path = dir.path().join("train.toml");
    std::fs::write(&path, config_text(40, "").replace("every = 3", "every = 20")).unwrap();
    let cfg = config::load(&path).unwrap();
    let s = run(&cfg, &RunOptions::default(), &mut |_| {}).unwrap();
    let first: f64 = s.losses[..3].iter().sum::<f64>() / 3.0;
    let last: f64 = s.losses[s.losses.len() - 3..].iter().sum::<f64>() / 3.0;
    assert!(first > 3.0, "starts near ln(48) = 3.87: {first}");
    assert!(last < first * 0.6, "loss {first} -> {last}");
    let evals: Vec<serde_json::Value> = std::fs::read_to_string(cfg.train.output.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| v.get("eval").is_some())
        .collect();
    assert_eq!(
        evals.iter().map(|v| v["step"].as_u64().unwrap()).collect::<Vec<_>>(),
        vec![0, 20, 40]
    );
    let nll = |v: &serde_json::Value, k: &str| v["eval"][k].as_f64().unwrap();
    assert!(nll(&evals[2], "nll") < nll(&evals[0], "nll") - 0.5, "{evals:?}");
    assert!(nll(&evals[2], "code_nll") < nll(&evals[0], "code_nll"), "{evals:?}");
    // Trained tokens of the held-out set: code targets inside documents.
    let e = s.eval.unwrap();
    assert_eq!(e.tokens, e.code_tokens);
    assert!(e.tokens > 0 && (e.ppl - e.nll.exp()).abs() < 1e-9);
    // The final model is a loadable HF directory and the plot exists.
    let cfg_json = std::fs::read_to_string(cfg.train.output.join("final/config.json")).unwrap();
    let shape = repo2agent_trainer::model::LlamaConfig::from_hf_json(&cfg_json).unwrap();
    assert_eq!(shape.vocab_size, 48);
    let png = std::fs::read(cfg.train.output.join("loss.png")).unwrap();
    assert_eq!(&png[1..4], b"PNG");
}

#[test]
fn every_config_problem_is_reported_with_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let text = "[model]\npreset = \"huge\"\n\n[data]\ntrain = \"nowhere\"\n\n[train]\nsteps = 0\ndevice = \"tpu\"\nmicro_batch = 2\n\n[optimizer]\nlr = -1.0\nbeta2 = 1.5\nbeta3 = 0.5\n\n[bogus]\nx = 1\n";
    let e = config::parse(text, "t.toml", dir.path()).unwrap_err();
    let shown = e.to_string();
    for (line, what) in [
        (2, "unknown preset `huge`"),
        (5, "has no index.json"),
        (8, "steps must be at least 1"),
        (9, "unknown device `tpu`"),
        (13, "lr = -1 must be > 0"),
        (14, "beta2 = 1.5"),
        (15, "unknown field `beta3`"),
        (17, "unknown section `bogus`"),
    ] {
        assert!(
            e.problems
                .iter()
                .any(|p| p.line == Some(line) && p.message.contains(what)),
            "line {line}: {what}\n{shown}"
        );
    }
    std::fs::write(
        dir.path().join("config.json"),
        r#"{"vocab_size": 48, "hidden_size": 30, "intermediate_size": 8,
        "num_hidden_layers": 1, "num_attention_heads": 4}"#,
    )
    .unwrap();
    let e = config::parse(
        "[model]\nconfig = \"config.json\"\npreset = \"tiny\"\n",
        "t.toml",
        dir.path(),
    )
    .unwrap_err();
    assert!(e.to_string().contains("exclude each other"), "{e}");
    assert!(e.to_string().contains("not a multiple of 4 heads"), "{e}");
    let e = config::parse("[train]\nsteps = \"many\"\nunknown_key = 1\n", "t.toml", dir.path()).unwrap_err();
    assert!(e.problems.iter().any(|p| p.line == Some(2)), "{e}");
    assert!(e.to_string().contains("[data]"), "{e}");
    if !cfg!(feature = "wgpu") {
        let e = config::parse("[train]\ndevice = \"wgpu\"\n", "t.toml", dir.path()).unwrap_err();
        assert!(e.to_string().contains("--features wgpu"), "{e}");
    }
}

#[test]
fn bf16_naive_attention_and_untiled_losses_follow_the_f32_chunked_curve() {
    let curve = |extra: &str| {
        let dir = tempfile::tempdir().unwrap();
        write_shards(&dir.path().join("train"), 16, 0);
        write_shards(&dir.path().join("heldout"), 4, 5);
        let path = dir.path().join("train.toml");
        let text = config_text(8, "");
        let text = text.replace("attention = \"chunked\"", extra);
        std::fs::write(&path, text).unwrap();
        let cfg = config::load(&path).unwrap();
        run(&cfg, &RunOptions::default(), &mut |_| {}).unwrap().losses
    };
    let reference = curve("attention = \"chunked\"");
    let naive = curve("attention = \"naive\"");
    let bf16 = curve("attention = \"chunked\"\nprecision = \"bf16\"");
    // The loss over the whole logits, and in tiles of 5 positions (the
    // default tile holds a whole micro-batch of 2 × 32 here).
    let full_logits = curve("attention = \"chunked\"\nloss_chunk = 0");
    let small_tiles = curve("attention = \"chunked\"\nloss_chunk = 5");
    let bf16_full = curve("attention = \"chunked\"\nprecision = \"bf16\"\nloss_chunk = 0");
    for i in 0..8 {
        for (name, other) in [("loss_chunk = 0", &full_logits), ("loss_chunk = 5", &small_tiles)] {
            assert!(
                (reference[i] - other[i]).abs() < 1e-4,
                "{name} {i}: {} vs {}",
                other[i],
                reference[i]
            );
        }
        assert!((reference[i] - bf16_full[i]).abs() < 0.05, "bf16, full logits {i}");
        assert!(
            (reference[i] - naive[i]).abs() < 1e-4,
            "naive {i}: {} vs {}",
            naive[i],
            reference[i]
        );
        assert!(
            (reference[i] - bf16[i]).abs() < 0.05,
            "bf16 {i}: {} vs {}",
            bf16[i],
            reference[i]
        );
    }
    assert_ne!(reference, bf16, "bf16 really computes in bf16");
    assert!(bf16[7] < bf16[0]);
}

#[test]
fn a_shape_from_an_hf_config_json_trains_and_a_pretrained_start_continues_from_final() {
    let dir = tempfile::tempdir().unwrap();
    write_shards(&dir.path().join("train"), 16, 0);
    write_shards(&dir.path().join("heldout"), 4, 5);
    std::fs::write(
        dir.path().join("config.json"),
        r#"{"model_type": "llama", "vocab_size": 48, "hidden_size": 24, "intermediate_size": 40,
            "num_hidden_layers": 1, "num_attention_heads": 3, "num_key_value_heads": 1,
            "rope_theta": 500.0, "tie_word_embeddings": false}"#,
    )
    .unwrap();
    let path = dir.path().join("train.toml");
    let text = config_text(3, "").replace("preset = \"tiny\"\nvocab_size = 48", "config = \"config.json\"");
    std::fs::write(&path, &text).unwrap();
    let cfg = config::load(&path).unwrap();
    let s = run(&cfg, &RunOptions::default(), &mut |_| {}).unwrap();
    assert_eq!(
        s.parameters,
        48 * 24 * 2 + 24 * (24 + 8 + 8 + 24) + 3 * 24 * 40 + 3 * 24
    );
    // `final/` is an HF directory: a second run starts from it and sees its eval.
    let text2 = text
        .replace("config = \"config.json\"", "from = \"out/final\"")
        .replace("output = \"out\"", "output = \"out2\"");
    std::fs::write(&path, text2).unwrap();
    let cfg2 = config::load(&path).unwrap();
    let s2 = run(&cfg2, &RunOptions::default(), &mut |_| {}).unwrap();
    let first_eval = std::fs::read_to_string(cfg2.train.output.join("metrics.jsonl")).unwrap();
    let first: serde_json::Value = serde_json::from_str(first_eval.lines().next().unwrap()).unwrap();
    assert_eq!(first["step"], 0);
    assert!((first["eval"]["nll"].as_f64().unwrap() - s.eval.unwrap().nll).abs() < 1e-9);
    assert_eq!(s2.parameters, s.parameters);
}
