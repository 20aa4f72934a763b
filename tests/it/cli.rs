//! The CLI end to end, through the built binary.

use repo2agent_tests::*;

#[test]
fn help_lists_every_command_and_each_command_has_help() {
    let (code, out, _) = run_cli(&workspace_root(), &["--help"]);
    assert_eq!(code, 0);
    for cmd in ["run", "check", "plugins", "default-config", "Exit codes"] {
        assert!(out.contains(cmd), "{out}");
    }
    for cmd in ["run", "check", "plugins"] {
        let (code, out, _) = run_cli(&workspace_root(), &[cmd, "--help"]);
        assert_eq!(code, 0, "{cmd} --help");
        assert!(out.contains("--config"), "{cmd}: {out}");
    }
    let (code, _, err) = run_cli(&workspace_root(), &["frobnicate"]);
    assert_eq!(code, 2, "{err}");
}

#[test]
fn run_without_a_config_uses_the_embedded_default_on_the_current_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("demo");
    write_tree(
        &repo,
        &[
            ("pkg/__init__.py", ""),
            ("pkg/core.py", "def f():\n    return 1\n"),
            ("Cargo.lock", "x"),
            ("README.md", "# demo\n"),
        ],
    );
    let (code, out, err) = run_cli(&repo, &["run"]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("repositories: 1 seen, 1 ingested"), "{out}");
    assert!(out.contains("files kept: 3"), "{out}");
    let stats = read_json(repo.join("out/repo2agent/stats.json"));
    assert_eq!(stats["ingest"]["files_kept"], 3);
    assert_eq!(stats["ingest"]["skipped"]["lock_file"], 1);
    assert_eq!(stats["ingest"]["files_by_language"]["python"], 2);

    // The first run's output lies inside the repository: a second run skips it.
    let (code, out, _) = run_cli(&repo, &["run"]);
    assert_eq!(code, 0);
    assert!(out.contains("files kept: 3"), "{out}");
    let stats = read_json(repo.join("out/repo2agent/stats.json"));
    assert_eq!(stats["ingest"]["skipped"]["output_dir"], 1);

    // --input and --out override the config, relative to the current directory.
    let other = tmp.path().join("elsewhere");
    let (code, out, _) = run_cli(
        tmp.path(),
        &["run", "--input", "demo", "--out", other.to_str().unwrap()],
    );
    assert_eq!(code, 0, "{out}");
    assert!(other.join("stats.json").is_file());
}

#[test]
fn run_counts_missing_inputs_and_still_succeeds() {
    let tmp = tempfile::tempdir().unwrap();
    let (code, out, err) = run_cli(tmp.path(), &["run", "--input", "nope", "--out", "o"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("0 seen, 0 ingested, 0 empty, 1 failed"), "{out}");
    let stats = read_json(tmp.path().join("o/stats.json"));
    assert_eq!(stats["ingest"]["repos_failed"]["not_found"], 1);
    assert!(err.contains("nope"), "the missing input is logged: {err}");
}

#[test]
fn check_reports_every_problem_with_its_line_and_exits_3_before_any_work() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(
        tmp.path().join("bad.toml"),
        "[input]\nrepos = [\"corpus\"]\nmax_file_bytes = -1\n\n[mask]\ntype = \"masks\"\n\n[output]\ndir = \"out\"\nformat = \"mds\"\n",
    )
    .unwrap();
    for cmd in ["check", "run"] {
        let (code, out, err) = run_cli(tmp.path(), &[cmd, "-c", "bad.toml"]);
        assert_eq!(code, 3, "{cmd}: {out}{err}");
        assert!(err.contains("bad.toml has 3 problems"), "{err}");
        assert!(
            err.contains("bad.toml:3:18: [input] invalid value: integer `-1`, expected u64"),
            "{err}"
        );
        assert!(
            err.contains("bad.toml:6:8: [mask] unknown masker type `masks`; known masker types: none, roles"),
            "{err}"
        );
        assert!(err.contains("bad.toml:10:1: [output] unknown field `format`"), "{err}");
    }
    assert!(!tmp.path().join("out").exists(), "no work was done");

    std::fs::write(tmp.path().join("good.toml"), "[mask]\ntype = \"none\"\n").unwrap();
    let (code, out, _) = run_cli(tmp.path(), &["check", "-c", "good.toml"]);
    assert_eq!(code, 0);
    assert!(out.contains("good.toml: ok") && out.contains("type = none"), "{out}");

    let (code, _, err) = run_cli(tmp.path(), &["check", "-c", "missing.toml"]);
    assert_eq!(code, 3);
    assert!(err.contains("cannot read the config"), "{err}");
}

#[test]
fn plugins_lists_builtins_with_kind_type_and_origin() {
    let (code, out, _) = run_cli(&workspace_root(), &["plugins"]);
    assert_eq!(code, 0);
    let rows: Vec<Vec<&str>> = out.lines().skip(1).map(|l| l.split_whitespace().collect()).collect();
    assert!(
        rows.iter()
            .any(|r| r[..4] == ["masker", "roles", "built-in", "(repo2agent-maskers)"]),
        "{out}"
    );
    assert!(
        rows.iter()
            .any(|r| r[..4] == ["search", "none", "built-in", "(repo2agent-search)"]),
        "{out}"
    );
}

#[test]
fn verbose_flag_turns_on_tracing_logs() {
    let tmp = tempfile::tempdir().unwrap();
    write_tree(&tmp.path().join("r"), &[("a.py", "x = 1\n")]);
    let (_, _, quiet) = run_cli(tmp.path(), &["run", "--input", "r", "--out", "o"]);
    let (code, _, loud) = run_cli(tmp.path(), &["-v", "run", "--input", "r", "--out", "o"]);
    assert_eq!(code, 0);
    assert!(!quiet.contains("INFO"), "{quiet}");
    assert!(
        loud.contains("INFO") && loud.contains("repositories to process"),
        "{loud}"
    );
}

#[test]
fn default_config_prints_the_embedded_default() {
    let (code, out, _) = run_cli(&workspace_root(), &["default-config"]);
    assert_eq!(code, 0);
    assert_eq!(out, repo2agent_core::config::DEFAULT_CONFIG);
}

/// Every config under examples/ passes `check` (paths pointed at this build).
#[test]
fn example_configs_check_clean() {
    let tmp = tempfile::tempdir().unwrap();
    // examples/repo2agent-search.toml's scorer loads SmolLM2 when it is built.
    smollm2_gguf();
    let mut checked = 0;
    for entry in std::fs::read_dir(workspace_root().join("examples")).unwrap().flatten() {
        let path = entry.path();
        if path.extension().is_none_or(|e| e != "toml") {
            continue;
        }
        // The training examples depend on each other's output: see below.
        if path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("train-"))
        {
            continue;
        }
        // The ablation is checked by its own command (it names run configs
        // under examples/ablation/, checked with it).
        if path.file_name().is_some_and(|n| n == "ablation.toml") {
            let (code, out, err) = run_cli(tmp.path(), &["ablate", "--check", "-c", path.to_str().unwrap()]);
            assert_eq!(code, 0, "{}: {out}{err}", path.display());
            assert!(out.contains(": ok"), "{out}");
            checked += 1;
            continue;
        }
        let copy = example_config(path.file_name().unwrap().to_str().unwrap(), tmp.path());
        let (code, out, err) = run_cli(tmp.path(), &["check", "-c", copy.to_str().unwrap()]);
        assert_eq!(code, 0, "{}: {out}{err}", path.display());
        checked += 1;
    }
    assert!(checked >= 3, "expected example configs");
}

/// The training walkthrough of the README, as written: data, held-out data with
/// the first run's tokenizer, then the trainer (one step of it).
#[test]
fn training_examples_run_in_order() {
    let tmp = tempfile::tempdir().unwrap();
    for name in ["train-data.toml", "train-heldout.toml"] {
        let cfg = example_config(name, tmp.path());
        let (code, _, err) = run_cli(tmp.path(), &["run", "-c", cfg.to_str().unwrap()]);
        assert_eq!(code, 0, "{name}: {err}");
    }
    let train = example_config("train-tiny.toml", tmp.path());
    let (code, out, err) = run_cli(tmp.path(), &["train", "-c", train.to_str().unwrap(), "--check"]);
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, err) = run_cli(
        tmp.path(),
        &["train", "-c", train.to_str().unwrap(), "--stop-after", "1"],
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("trained 0 -> 1 steps"), "{out}");
    assert!(
        tmp.path()
            .join("out/train-tiny/checkpoints/step-00000001/model.safetensors")
            .is_file()
    );
    // A config problem is exit code 3 with the line.
    let bad = tmp.path().join("bad.toml");
    std::fs::write(&bad, "[train]\nsteps = 0\n").unwrap();
    let (code, _, err) = run_cli(tmp.path(), &["train", "-c", bad.to_str().unwrap()]);
    assert_eq!(code, 3, "{err}");
    assert!(
        err.contains("bad.toml:2:1:") && err.contains("steps must be at least 1"),
        "{err}"
    );
}

fn fixture(name: &str) -> std::path::PathBuf {
    workspace_root().join("plugins/treesitter/tests/fixtures").join(name)
}

#[test]
fn analyze_prints_order_edges_and_outlines_as_text_json_and_dot() {
    let repo = fixture("python");
    let (code, text, err) = run_cli(&workspace_root(), &["analyze", repo.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(text.starts_with("# python — 9 files, 8 edges"), "{text}");
    assert!(text.contains("src/app/models/user.py -> src/app/util.py"), "{text}");
    let pos = |p: &str| text.find(&format!(". {p}\n")).unwrap();
    assert!(
        pos("src/app/util.py") < pos("src/app/models/user.py"),
        "dependencies first:\n{text}"
    );
    assert!(
        text.contains("class User  L4-12  class User  — A user with a slug."),
        "{text}"
    );

    let (code, json, _) = run_cli(
        &workspace_root(),
        &["analyze", repo.to_str().unwrap(), "--format", "json"],
    );
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["files"].as_array().unwrap().len(), 9);
    assert_eq!(v["analysis"]["order"].as_array().unwrap().len(), 9);
    assert_eq!(v["analysis"]["graph"]["edges"].as_array().unwrap().len(), 8);
    assert_eq!(v["stats"]["analysis"]["by_language"]["python"]["imports_unresolved"], 1);

    let (code, dot, _) = run_cli(
        &workspace_root(),
        &["analyze", repo.to_str().unwrap(), "--format", "dot"],
    );
    assert_eq!(code, 0);
    assert!(dot.starts_with("digraph \"python\" {"), "{dot}");
    // Graphviz itself must accept it.
    let mut child = std::process::Command::new("dot")
        .arg("-Tsvg")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("graphviz `dot` (scripts/test installs it)");
    use std::io::Write;
    child.stdin.take().unwrap().write_all(dot.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let svg = String::from_utf8_lossy(&out.stdout);
    assert!(svg.contains("<svg") && svg.contains("src/app/util.py"), "{svg}");

    let (code, _, err) = run_cli(&workspace_root(), &["analyze", "/definitely/not/here"]);
    assert_eq!(code, 1);
    assert!(err.contains("is not a readable directory"), "{err}");
}
