//! `repo2agent ablate` end to end at toy scale: three corpora from the
//! fixture repositories (Raw-Repos, Repo2Agent, Repo2Agent-Search scored by
//! `openai-logprobs` on the fake server), a tiny Llama trained on each for the
//! same number of positions, every model and the initial one evaluated on the
//! held-out repositories; a second run reuses everything.

use repo2agent_tests::llm_server::FakeLlm;
use repo2agent_tests::*;
use std::path::Path;

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).unwrap();
}

#[test]
fn ablate_builds_three_corpora_trains_evaluates_and_resumes() {
    let server = FakeLlm::start();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let fixtures = workspace_root().join("plugins/treesitter/tests/fixtures");
    let glob = fixtures.join("*").display().to_string();

    // A small fixed tokenizer shared by the corpora: a BPE trained once.
    write(
        dir,
        "tok.toml",
        &format!(
            "[input]\nrepos = [{glob:?}]\n[format]\ntype = \"raw-repos\"\n[tokenizer]\ntype = \"bpe\"\nvocab_size = 400\n[output]\ndir = \"tok\"\nseq_len = 256\n"
        ),
    );
    let (code, _, err) = run_cli(dir, &["run", "-c", "tok.toml", "-q"]);
    assert_eq!(code, 0, "{err}");
    let tok = "[tokenizer]\npath = \"tok/shards/tokenizer.json\"\n[output]\nseq_len = 256\n";
    write(dir, "raw.toml", &format!("[format]\ntype = \"raw-repos\"\n{tok}"));
    let agent = "[policies.template]\ntype = \"template\"\n[format]\ntype = \"agent\"\n[mask]\ntype = \"roles\"\nweights = { observation = 0.0 }\n";
    // Both agent corpora measure their thought value (the fake scorer judges).
    let judge = format!(
        "[scorers.fake]\ntype = \"openai-logprobs\"\nbase_url = \"{}\"\nmodel = \"fake\"\nprompt_prefix = \"<|im_start|>\"\n[evaluate]\nscorer = \"fake\"\ncache_dir = \"\"\n",
        server.base_url()
    );
    write(dir, "agent.toml", &format!("{agent}{judge}{tok}"));
    write(
        dir,
        "search.toml",
        &format!(
            "{agent}{judge}[search]\ntype = \"greedy-rewrite\"\nscorer = \"fake\"\ncandidates = 2\nrounds = 1\ncache_dir = \"\"\n{tok}"
        ),
    );
    write(
        dir,
        "train.toml",
        "[model]\npreset = \"tiny\"\n[train]\noutput = \"unused\"\ndevice = \"flex\"\nseed = 0\nsteps = 1\nmicro_batch = 1\ngrad_accum = 2\n[optimizer]\nlr = 3e-3\nwarmup_steps = 1\n[checkpoint]\nevery = 2\nkeep = 1\n[eval]\nevery = 0\n",
    );
    write(
        dir,
        "ablation.toml",
        &format!(
            "[ablation]\nout = \"abl\"\nseed = 1\nrepos = [{glob:?}]\nheldout = 2\ntoken_budget = 2048\n\n[[corpus]]\nname = \"raw-repos\"\nconfig = \"raw.toml\"\n[[corpus]]\nname = \"repo2agent\"\nconfig = \"agent.toml\"\n[[corpus]]\nname = \"repo2agent-search\"\nconfig = \"search.toml\"\n\n[train]\nconfig = \"train.toml\"\n\n[eval]\ncontext = 128\nmax_tokens_per_repo = 256\nmax_cross_files = 2\nretrieval_lengths = [128, 160]\nprobes = 2\nretrieval_distractors = 1\n"
        ),
    );

    let (code, stdout, err) = run_cli(dir, &["ablate", "--check", "-c", "ablation.toml"]);
    assert_eq!(code, 0, "{stdout}\n{err}");
    assert!(
        stdout.contains("ablation.toml: ok") && !dir.join("abl").exists(),
        "{stdout}"
    );
    let (code, stdout, err) = run_cli(dir, &["ablate", "-c", "ablation.toml"]);
    assert_eq!(code, 0, "{stdout}\n{err}");
    assert!(err.contains("4 to train on, held out: "), "{err}");
    let out = dir.join("abl");
    let table = std::fs::read_to_string(out.join("ablation.md")).unwrap();
    for row in [
        "| initial |",
        "| raw-repos |",
        "| repo2agent |",
        "| repo2agent-search |",
    ] {
        assert!(table.contains(row), "{table}");
    }
    assert!(stdout.contains("| model | code NLL"), "{stdout}");
    // Every pair of trained models gets a row of paired differences, and every
    // model's code NLL its interval, made of the same units for every model.
    for row in [
        "| repo2agent − raw-repos |",
        "| repo2agent-search − raw-repos |",
        "| repo2agent-search − repo2agent |",
    ] {
        assert!(table.contains(row), "{table}");
    }
    assert!(table.contains("| initial | ") && table.contains("] |"), "{table}");
    let json = read_json(out.join("ablation.json"));
    // 2,048 positions per corpus: 4 steps of 2 sequences of 256.
    assert_eq!(json["settings"]["steps"], 4);
    let corpora = json["corpora"].as_array().unwrap();
    assert_eq!(corpora.len(), 3);
    for c in corpora {
        assert_eq!(c["positions"], 2048, "{c}");
        assert!(c["tokens"].as_u64().unwrap() > 0);
    }
    // The agent corpora's thought value, as their runs measured it, in the
    // table; Raw-Repos has none.
    assert!(corpora[0].get("thought_value").is_none(), "{}", corpora[0]);
    for (c, name) in corpora[1..].iter().zip(["repo2agent", "repo2agent-search"]) {
        let stats = read_json(out.join("corpora").join(name).join("stats.json"));
        let e = &stats["evaluation"];
        let v = &c["thought_value"];
        assert!(e["files"].as_u64().unwrap() > 0, "{stats}");
        assert_eq!(v["files"], e["files"], "{c}");
        assert_eq!(v["initial"], e["value_per_token"], "{c}");
        assert_eq!(v["trained"], e["value_after_search_per_token"], "{c}");
        let cell = format!(
            "| {:+.3} ({:+.3}), {} files |",
            v["initial"].as_f64().unwrap(),
            v["trained"].as_f64().unwrap(),
            v["files"]
        );
        assert!(table.contains(&cell), "{cell}\n{table}");
    }
    assert!(table.contains("| raw-repos |") && table.contains(" | – |\n"), "{table}");
    // The agent corpora mask observations; Raw-Repos trains on everything.
    assert_eq!(corpora[0]["tokens"], corpora[0]["trained_tokens"]);
    assert!(corpora[1]["trained_tokens"].as_u64() < corpora[1]["tokens"].as_u64());
    let evals = json["eval"].as_array().unwrap();
    assert_eq!(evals.len(), 4);
    assert_eq!(json["settings"]["eval"]["retrieval_distractors"], 1, "{json}");
    assert!(
        table.contains("| cross-file probe with deps (without) | retrieval @128 | retrieval @160 |"),
        "{table}"
    );
    for e in evals {
        let r = &e["report"];
        assert!(r["code"]["nll"].as_f64().unwrap() > 0.0, "{e}");
        assert_eq!(r["retrieval"].as_array().unwrap().len(), 2);
        // The cross-file probe: the same names for every model.
        let names = r["cross_probe"]["probes"].as_u64().unwrap();
        assert_eq!(
            names,
            evals[0]["report"]["cross_probe"]["probes"].as_u64().unwrap(),
            "{e}"
        );
        assert_eq!(r["units"]["cross_probe"].as_array().unwrap().len() as u64, names, "{e}");
        // The units behind the intervals: the same windows (token counts)
        // for every model.
        let windows = |r: &serde_json::Value| -> Vec<u64> {
            r["units"]["code"]
                .as_array()
                .unwrap()
                .iter()
                .map(|w| w[1].as_u64().unwrap())
                .collect()
        };
        assert!(!windows(r).is_empty(), "{e}");
        assert_eq!(windows(r), windows(&evals[0]["report"]), "{e}");
    }
    // Training changed the model: the trained ones score the held-out code
    // differently from the initial one.
    assert_ne!(evals[0]["report"]["code"]["nll"], evals[1]["report"]["code"]["nll"]);
    for c in ["raw-repos", "repo2agent", "repo2agent-search"] {
        let m = out.join("models").join(c);
        assert!(m.join("final/config.json").is_file() && !m.join("checkpoints").exists());
    }
    let png = std::fs::read(out.join("ablation.png")).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    // The held-out repositories are in no corpus.
    let held: Vec<String> = json["settings"]["heldout"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    let trained = read_trajectories(&out.join("corpora/repo2agent/trajectories.jsonl"));
    for h in &held {
        assert!(!trained.contains(&format!("\"repo\":\"{h}\"")), "{h} was trained on");
    }

    // Again: every corpus, model and evaluation is reused; the same numbers.
    let (code, _, err) = run_cli(dir, &["ablate", "-c", "ablation.toml"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(err.matches(": reused").count(), 3 + 3 + 4, "{err}");
    assert_eq!(read_json(out.join("ablation.json")), json);

    // Another training recipe: the corpora are reused, every model is trained
    // and evaluated again.
    let recipe = std::fs::read_to_string(dir.join("train.toml")).unwrap();
    write(dir, "train.toml", &recipe.replace("lr = 3e-3", "lr = 1e-3"));
    let (code, _, err) = run_cli(dir, &["ablate", "-c", "ablation.toml"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(err.matches("ablate: corpus").count(), 3, "{err}");
    assert_eq!(err.matches(": reused").count(), 3, "only the corpora: {err}");
    assert_eq!(err.matches("training 4 steps").count(), 3, "{err}");
    assert_ne!(read_json(out.join("ablation.json"))["eval"], json["eval"]);

    // Two training seeds: every corpus's model trained once per seed (the
    // corpora reused), the tables made of each corpus's mean over its seeds,
    // the spread beside them.
    let text = std::fs::read_to_string(dir.join("ablation.toml")).unwrap();
    write(
        dir,
        "ablation.toml",
        &text.replace("token_budget = 2048", "token_budget = 2048\ntrain_seeds = [0, 5]"),
    );
    let (code, stdout, err) = run_cli(dir, &["ablate", "-c", "ablation.toml"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(err.matches("training 4 steps").count(), 6, "{err}");
    assert!(out.join("models/raw-repos/seed-5/final/config.json").is_file());
    let seeded = read_json(out.join("ablation.json"));
    let groups = seeded["seeds"].as_array().unwrap();
    assert_eq!(groups.len(), 3, "{seeded}");
    let evals = seeded["eval"].as_array().unwrap();
    assert_eq!(evals.len(), 4, "initial and one mean per corpus");
    let per_seed = seeded["eval_per_seed"].as_array().unwrap();
    let names: Vec<&str> = per_seed.iter().map(|e| e["model"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "raw-repos@0",
            "raw-repos@5",
            "repo2agent@0",
            "repo2agent@5",
            "repo2agent-search@0",
            "repo2agent-search@5"
        ]
    );
    for (k, g) in groups.iter().enumerate() {
        let nll: Vec<f64> = g["code_nll"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        assert_eq!(nll.len(), 2);
        assert_ne!(nll[0], nll[1], "another seed, another init: {g}");
        let mean = evals[k + 1]["report"]["code"]["nll"].as_f64().unwrap();
        assert!((mean - (nll[0] + nll[1]) / 2.0).abs() < 1e-12, "{mean} {nll:?}");
        assert_eq!(nll[0], per_seed[2 * k]["report"]["code"]["nll"].as_f64().unwrap());
    }
    let table = std::fs::read_to_string(out.join("ablation.md")).unwrap();
    assert!(
        stdout.contains("| corpus | seeds | code NLL per seed | mean ± sd |"),
        "{stdout}"
    );
    assert!(table.contains("| raw-repos | 0, 5 | "), "{table}");
    assert!(table.contains("| repo2agent − raw-repos |"), "{table}");

    // A probe too short for its needle is refused before any work.
    let text = std::fs::read_to_string(dir.join("ablation.toml")).unwrap();
    write(
        dir,
        "short.toml",
        &text.replace("[128, 160]", "[20]").replace("\"abl\"", "\"short\""),
    );
    let (code, _, err) = run_cli(dir, &["ablate", "-c", "short.toml"]);
    assert_eq!(code, 3, "a config problem: {err}");
    assert!(err.contains("retrieval_lengths") && err.contains("too short"), "{err}");
    assert!(!dir.join("short/corpora").exists(), "nothing was built");

    // A corpus that trains its own tokenizer cannot be compared token for token.
    write(
        dir,
        "raw.toml",
        "[format]\ntype = \"raw-repos\"\n[tokenizer]\ntype = \"bpe\"\nvocab_size = 300\n",
    );
    let (code, _, err) = run_cli(dir, &["ablate", "-c", "ablation.toml"]);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("one fixed tokenizer"), "{err}");

    // A bad ablation file: its problem with its line, exit 3.
    write(dir, "bad.toml", &text.replace("heldout = 2", "heldout = \"two\""));
    let (code, _, err) = run_cli(dir, &["ablate", "-c", "bad.toml"]);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("bad.toml:5"), "{err}");
}

/// Llama-3-8B-Instruct's `config.json`, as its HF repository ships it.
const LLAMA3_8B_CONFIG: &str = r#"{"architectures": ["LlamaForCausalLM"], "attention_bias": false, "attention_dropout": 0.0, "bos_token_id": 128000, "eos_token_id": 128009, "hidden_act": "silu", "hidden_size": 4096, "initializer_range": 0.02, "intermediate_size": 14336, "max_position_embeddings": 8192, "model_type": "llama", "num_attention_heads": 32, "num_hidden_layers": 32, "num_key_value_heads": 8, "pretraining_tp": 1, "rms_norm_eps": 1e-05, "rope_scaling": null, "rope_theta": 500000.0, "tie_word_embeddings": false, "torch_dtype": "bfloat16", "use_cache": true, "vocab_size": 128256}"#;

/// The paper-scale recipe (`examples/paper`, docs/ablation.md) passes `ablate
/// --check` as shipped, given what it names under `~`: a corpus of
/// repositories and Llama-3-8B-Instruct's HF directory (its real config.json
/// and tokenizer.json here; the weights are read only to train). Its 64k
/// retrieval probes are built over the held-out repositories with Llama 3's
/// tokenizer, so their lengths are checked too.
#[test]
fn the_paper_scale_recipe_passes_check_as_shipped() {
    let tokenizer = llama3_tokenizer();
    let home = tempfile::tempdir().unwrap();
    for i in 0..40 {
        let code = format!("/// Adds {i}.\npub fn add_{i}(x: u64) -> u64 {{\n    x + {i}\n}}\n");
        write_tree(
            &home.path().join(format!("corpus/repos/crate{i:02}")),
            &[("src/lib.rs", &code), ("README.md", "A crate.\n")],
        );
    }
    let model = home.path().join("models/Meta-Llama-3-8B-Instruct");
    std::fs::create_dir_all(&model).unwrap();
    std::fs::copy(&tokenizer, model.join("tokenizer.json")).unwrap();
    std::fs::write(model.join("config.json"), LLAMA3_8B_CONFIG).unwrap();
    let out = std::process::Command::new(binary())
        .current_dir(workspace_root())
        .env("HOME", home.path())
        .args(["ablate", "--check", "-c", "examples/paper/ablation.toml"])
        .output()
        .unwrap();
    let (stdout, err) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    let wgpu = std::env::var("REPO2AGENT_TEST_FEATURES").is_ok_and(|f| f.contains("wgpu"));
    if wgpu {
        assert_eq!(out.status.code(), Some(0), "{stdout}\n{err}");
        assert!(stdout.contains("ablation.toml: ok"), "{stdout}");
        assert!(err.contains("40 repositories: 10 to train on"), "{err}");
    } else {
        // A build without the GPU feature: the device is the only problem.
        assert_eq!(out.status.code(), Some(3), "{stdout}\n{err}");
        assert!(err.contains("device `wgpu` is not in this build"), "{err}");
        assert_eq!(err.matches("\n  ").count(), 1, "{err}");
    }
}
