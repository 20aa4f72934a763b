//! Paths inside a config are relative to the config file, however the file is
//! named and wherever the command runs. Regression: `run -c
//! examples/train-heldout.toml` from the repository root looked for its
//! tokenizer at `examples/examples/../out/…` (the config's directory joined
//! twice), while the tests passed because they named configs by absolute path.

use repo2agent_tests::*;
use std::path::Path;

/// The command that checks a config of `examples/` without doing its work.
fn check_args(name: &str) -> &'static [&'static str] {
    if name == "ablation.toml" {
        &["ablate", "--check"]
    } else if name.starts_with("train-") && name != "train-data.toml" && name != "train-heldout.toml" {
        &["train", "--check"]
    } else {
        &["check"]
    }
}

#[test]
fn regression_config_paths_resolve_once_by_relative_or_absolute_path_from_any_directory() {
    smollm2_gguf(); // examples/repo2agent-search.toml and the ablation load it
    let tmp = tempfile::tempdir().unwrap();
    let root = fresh_copy(tmp.path());
    let elsewhere = tmp.path().join("elsewhere");
    std::fs::create_dir_all(&elsewhere).unwrap();

    // What the examples name besides themselves: the Lua grammar (built as the
    // README builds it) and the training data, made by relative path from the
    // root, as the README's Training block runs them.
    let status = std::process::Command::new("examples/languages/build-grammar.sh")
        .arg(crate_source_dir("tree-sitter-lua").join("src"))
        .arg("examples/languages/lua/liblua.so")
        .current_dir(&root)
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    for name in ["train-data.toml", "train-heldout.toml"] {
        let (code, out, err) = run_cli(&root, &["run", "-c", &format!("examples/{name}")]);
        assert_eq!(code, 0, "{name}: {out}{err}");
    }
    assert!(root.join("out/train-heldout/shards/index.json").is_file());
    assert!(!root.join("examples/out").exists() && !root.join("out/examples").exists());

    // Every example config, four ways.
    let mut names: Vec<String> = std::fs::read_dir(root.join("examples"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".toml"))
        .collect();
    names.sort();
    assert!(names.len() >= 10, "{names:?}");
    for name in &names {
        let absolute = root.join("examples").join(name).display().to_string();
        let from_elsewhere = format!("../repo2agent/examples/{name}");
        let ways: [(&Path, &str); 4] = [
            (&root, &format!("examples/{name}")),
            (&root, &absolute),
            (&elsewhere, &from_elsewhere),
            (&elsewhere, &absolute),
        ];
        for (dir, config) in ways {
            let mut args = check_args(name).to_vec();
            args.extend(["-c", config]);
            let (code, out, err) = run_cli(dir, &args);
            assert_eq!(
                code,
                0,
                "`repo2agent {}` in {}: {out}{err}",
                args.join(" "),
                dir.display()
            );
        }
    }

    // A real run from another directory writes where the config says, not
    // under the current directory.
    let stats_written = || {
        std::fs::metadata(root.join("out/train-heldout/stats.json"))
            .unwrap()
            .modified()
            .unwrap()
    };
    let before = stats_written();
    let (code, out, err) = run_cli(&elsewhere, &["run", "-c", "../repo2agent/examples/train-heldout.toml"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(stats_written() > before, "the run wrote its stats elsewhere");
    assert_eq!(
        std::fs::read_dir(&elsewhere).unwrap().count(),
        0,
        "nothing written under the current directory"
    );
}

/// Regression: before SmolLM2 was fetched, `check -c examples/repo2agent-search.toml`
/// said only "scorer `smollm2` is invalid". A missing model or tokenizer is
/// reported with its full path and the command that fetches it.
#[test]
fn regression_a_missing_model_or_tokenizer_names_its_path_and_how_to_fetch_it() {
    let home = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        let out = std::process::Command::new(binary())
            .current_dir(workspace_root())
            .env("HOME", home.path())
            .args(args)
            .output()
            .unwrap();
        (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    let model = home
        .path()
        .join(".cache/repo2agent/model/SmolLM2-135M-Instruct.Q4_1.gguf");
    let missing = |what: &str, path: &Path, command: &str| {
        format!("{what} {} does not exist; fetch it with `{command}`", path.display())
    };
    let fetch_model = "python3 scripts/llama_server.py --install-only";
    let (code, err) = run(&["check", "-c", "examples/repo2agent-search.toml"]);
    assert_eq!(code, Some(3), "{err}");
    assert!(err.contains(&missing("model", &model, fetch_model)), "{err}");
    // The line that refers to the scorer says why it is invalid, too.
    assert!(err.contains("scorer `smollm2` is invalid: model "), "{err}");

    let tokenizer = home.path().join(".cache/repo2agent/assets/llama3/tokenizer.json");
    let cfg = home.path().join("llama3.toml");
    std::fs::write(
        &cfg,
        "[tokenizer]\npath = \"~/.cache/repo2agent/assets/llama3/tokenizer.json\"\n",
    )
    .unwrap();
    let (code, err) = run(&["check", "-c", cfg.to_str().unwrap()]);
    assert_eq!(code, Some(3), "{err}");
    assert!(
        err.contains(&missing("tokenizer", &tokenizer, "scripts/assets llama3-tokenizer")),
        "{err}"
    );

    let train = home.path().join("train.toml");
    std::fs::write(
        &train,
        "[model]\nfrom = \"~/.cache/repo2agent/model/SmolLM2-135M-Instruct.Q4_1.gguf\"\n[data]\ntrain = \"shards\"\n",
    )
    .unwrap();
    let (code, err) = run(&["train", "--check", "-c", train.to_str().unwrap()]);
    assert_eq!(code, Some(3), "{err}");
    assert!(err.contains(&missing("model", &model, fetch_model)), "{err}");

    // The ablation's GGUF, whose tokenizer it rebuilds, is a config problem too.
    let (code, err) = run(&["ablate", "--check", "-c", "examples/ablation.toml"]);
    assert_eq!(code, Some(3), "{err}");
    assert!(err.contains(&missing("model", &model, fetch_model)), "{err}");
}
