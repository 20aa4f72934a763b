//! Trajectories end to end: `repo2agent run` writes one grounded trajectory per
//! repository, checked here again against the files on disk.

use repo2agent_tests::*;

#[test]
fn run_writes_a_grounded_trajectory_per_repository_with_the_default_config() {
    let fixtures = workspace_root().join("plugins/treesitter/tests/fixtures");
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let glob = format!("{}/*", fixtures.display());
    let (code, stdout, err) = run_cli(tmp.path(), &["run", "--input", &glob, "--out", out.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(stdout.contains("trajectories: 6 written"), "{stdout}");
    let stats = read_json(out.join("stats.json"));
    assert_eq!(stats["simulation"]["trajectories"], 6);
    assert_eq!(stats["simulation"]["grounding_failures"], serde_json::json!({}));
    assert_eq!(stats["format"]["documents"], 6);
    assert!(stats["format"]["chars_by_role"]["think"].as_u64().unwrap() > 1000);
    let files: u64 = stats["ingest"]["files_kept"].as_u64().unwrap();
    let writes = check_trajectories_against_disk(&out.join("trajectories.jsonl"), |name| fixtures.join(name));
    assert_eq!(writes as u64, files, "every kept file is written exactly once");

    // The same seed gives the same bytes; another seed another text.
    let again = tmp.path().join("again");
    run_cli(tmp.path(), &["run", "--input", &glob, "--out", again.to_str().unwrap()]);
    assert_eq!(
        read_trajectories(&out.join("trajectories.jsonl")).into_bytes(),
        read_trajectories(&again.join("trajectories.jsonl")).into_bytes()
    );

    // By default the lines are stored zstd-compressed (trajectories.jsonl.zst);
    // `trajectories_compression = "none"` writes the same lines as
    // trajectories.jsonl (the compressed file of the earlier run into the
    // directory removed), and `inspect` reads either.
    assert!(stdout.contains("trajectories.jsonl.zst"), "{stdout}");
    assert!(!out.join("trajectories.jsonl").exists());
    let (_, default, _) = run_cli(tmp.path(), &["default-config"]);
    let plain = default.replace("[output]\n", "[output]\ntrajectories_compression = \"none\"\n");
    assert_ne!(plain, default);
    std::fs::write(tmp.path().join("plain.toml"), plain).unwrap();
    let (code, stdout, err) = run_cli(
        tmp.path(),
        &[
            "run",
            "-c",
            "plain.toml",
            "--input",
            &glob,
            "--out",
            again.to_str().unwrap(),
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert!(stdout.contains("trajectories.jsonl\n"), "{stdout}");
    assert!(!again.join("trajectories.jsonl.zst").exists());
    let file = std::fs::read(out.join("trajectories.jsonl.zst")).unwrap();
    let plain = std::fs::read(again.join("trajectories.jsonl")).unwrap();
    assert!(file.len() * 3 < plain.len(), "{} vs {} bytes", file.len(), plain.len());
    assert_eq!(zstd::stream::decode_all(&file[..]).unwrap(), plain);
    let inspect = |path: std::path::PathBuf| {
        let (code, stdout, err) = run_cli(tmp.path(), &["inspect", path.to_str().unwrap(), "--color", "never"]);
        assert_eq!(code, 0, "{err}");
        stdout
    };
    assert_eq!(
        inspect(out.join("trajectories.jsonl.zst")),
        inspect(again.join("trajectories.jsonl"))
    );
}

/// Progress when stderr is not a terminal: plain lines (here one per
/// repository, `REPO2AGENT_PROGRESS_SECS=0`) with rates and ETA, a last line;
/// `--quiet` prints none. The outputs are the same either way.
#[test]
fn progress_is_plain_lines_off_a_terminal_and_quiet_silences_it() {
    let fixtures = workspace_root().join("plugins/treesitter/tests/fixtures");
    let glob = format!("{}/*", fixtures.display());
    let tmp = tempfile::tempdir().unwrap();
    let run = |out: &str, quiet: bool| {
        let mut cmd = std::process::Command::new(binary());
        cmd.current_dir(tmp.path())
            .env("REPO2AGENT_PROGRESS_SECS", "0")
            .args(["run", "--input", &glob, "--out", out]);
        if quiet {
            cmd.arg("--quiet");
        }
        let o = cmd.output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8_lossy(&o.stderr).into_owned()
    };
    let err = run("loud", false);
    let lines: Vec<&str> = err.lines().filter(|l| l.starts_with("progress: ")).collect();
    for k in 1..=6 {
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with(&format!("progress: {k}/6 repositories"))),
            "{err}"
        );
    }
    assert!(
        lines.iter().all(|l| !l.contains("repositories (last")
            || (l.contains("repos/s") && l.contains("tokens/s") && l.contains("ETA")))
    );
    let done = lines
        .iter()
        .find(|l| l.starts_with("progress: done, 6/6 repositories"))
        .unwrap_or_else(|| panic!("{err}"));
    // Every repository entered every stage (the default: no search; the
    // tokenizer is trained at the end, so no tokenize stage per repository).
    for stage in ["ingest 6", "analyze 6", "simulate 6", "format 6"] {
        assert!(done.contains(stage), "{done}");
    }
    let quiet = run("quiet", true);
    assert!(!quiet.contains("progress:"), "{quiet}");
    assert_eq!(
        read_trajectories(&tmp.path().join("loud/trajectories.jsonl")).into_bytes(),
        read_trajectories(&tmp.path().join("quiet/trajectories.jsonl")).into_bytes()
    );
}

/// `--shard K/N`: three workers take disjoint parts that cover the corpus, and
/// each repository's trajectory is the one a single run writes.
#[test]
fn sharded_runs_split_the_corpus_and_write_the_same_trajectories() {
    let fixtures = workspace_root().join("plugins/treesitter/tests/fixtures");
    let glob = format!("{}/*", fixtures.display());
    let tmp = tempfile::tempdir().unwrap();
    let lines = |out: &str| -> Vec<String> {
        let path = tmp.path().join(out).join("trajectories.jsonl");
        let text = if path.exists() || path.with_extension("jsonl.zst").exists() {
            read_trajectories(&path)
        } else {
            String::new()
        };
        text.lines().map(str::to_owned).collect()
    };
    let (code, _, err) = run_cli(tmp.path(), &["run", "--input", &glob, "--out", "all", "-q"]);
    assert_eq!(code, 0, "{err}");
    let mut sharded = Vec::new();
    let mut others = 0;
    for k in 0..3 {
        let out = format!("part{k}");
        let shard = format!("{k}/3");
        let (code, stdout, err) = run_cli(
            tmp.path(),
            &["run", "--input", &glob, "--out", &out, "--shard", &shard, "-q"],
        );
        assert_eq!(code, 0, "{err}");
        let stats = read_json(tmp.path().join(&out).join("stats.json"));
        let mine = lines(&out).len() as u64;
        assert_eq!(
            stats["ingest"]["repos_other_shards"].as_u64().unwrap(),
            6 - mine,
            "{stdout}"
        );
        others += 6 - mine;
        sharded.extend(lines(&out));
    }
    assert_eq!(
        others,
        2 * 6,
        "each repository is left out by exactly two of the three workers"
    );
    let mut all = lines("all");
    assert_eq!(all.len(), 6);
    all.sort();
    sharded.sort();
    assert_eq!(sharded, all, "same trajectories, none lost, none doubled");
    let (code, _, err) = run_cli(tmp.path(), &["run", "--input", &glob, "--out", "x", "--shard", "3/3"]);
    assert_eq!(code, 2);
    assert!(err.contains("0 <= K < N"), "{err}");
}

#[test]
fn raw_repos_example_formats_without_a_policy() {
    let tmp = tempfile::tempdir().unwrap();
    let config = example_config("raw-repos.toml", tmp.path());
    let repo = workspace_root().join("plugins/treesitter/tests/fixtures/python");
    let out = tmp.path().join("raw");
    let (code, stdout, err) = run_cli(
        tmp.path(),
        &[
            "run",
            "-c",
            config.to_str().unwrap(),
            "--input",
            repo.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert!(!out.join("trajectories.jsonl").exists(), "no policy, no trajectories");
    assert!(
        !out.join("trajectories.jsonl.zst").exists(),
        "no policy, no trajectories"
    );
    assert!(stdout.contains("formatted: 1 documents"), "{stdout}");
    let stats = read_json(out.join("stats.json"));
    let roles = &stats["format"]["chars_by_role"];
    assert!(
        roles["code"].as_u64().unwrap() > 0 && roles["think"].is_null(),
        "{roles}"
    );
}

#[test]
fn the_agent_format_without_a_policy_is_a_config_problem() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("c.toml"), "[format]\ntype = \"agent\"\n").unwrap();
    let (code, _, err) = run_cli(tmp.path(), &["check", "-c", "c.toml"]);
    assert_eq!(code, 3);
    assert!(err.contains("renders trajectories, but no policy is declared"), "{err}");
}

/// Real repositories: crates from the registry and packages of Python's standard
/// library go through the whole template pipeline and every trajectory passes
/// the grounding check (the run counts failures; here they must be zero).
#[test]
fn real_repositories_produce_grounded_trajectories() {
    let mut inputs: Vec<String> = registry_crates()
        .into_iter()
        .step_by(12)
        .map(|p| p.display().to_string())
        .collect();
    if let Some(stdlib) = python_stdlib() {
        inputs.extend(["json", "email", "logging"].map(|p| stdlib.join(p).display().to_string()));
    }
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let mut args = vec!["run", "--out", out.to_str().unwrap(), "--input"];
    args.extend(inputs.iter().map(String::as_str));
    let (code, _, err) = run_cli(tmp.path(), &args);
    assert_eq!(code, 0, "{err}");
    let stats = read_json(out.join("stats.json"));
    let sim = &stats["simulation"];
    assert_eq!(sim["grounding_failures"], serde_json::json!({}), "{sim}");
    assert_eq!(sim["failed"], serde_json::json!({}), "{sim}");
    assert_eq!(sim["trajectories"], stats["ingest"]["repos_ingested"]);
    assert_eq!(sim["sub_agents"], stats["ingest"]["files_kept"]);
}

#[test]
fn inspect_shows_roles_in_the_terminal_and_as_html() {
    let tmp = tempfile::tempdir().unwrap();
    let fixtures = workspace_root().join("plugins/treesitter/tests/fixtures");
    let out = tmp.path().join("out");
    let inputs = [fixtures.join("python"), fixtures.join("go")];
    let (code, _, err) = run_cli(
        tmp.path(),
        &[
            "run",
            "--out",
            out.to_str().unwrap(),
            "--input",
            inputs[0].to_str().unwrap(),
            inputs[1].to_str().unwrap(),
        ],
    );
    assert_eq!(code, 0, "{err}");
    let jsonl = out.join("trajectories.jsonl.zst");
    let j = jsonl.to_str().unwrap();

    let (code, plain, _) = run_cli(tmp.path(), &["inspect", j, "--repo", "python", "--color", "never"]);
    assert_eq!(code, 0);
    assert!(plain.starts_with("repository python · policy template"), "{plain}");
    for role in [
        "[markup]<|repo|>python",
        "[context]<|task|>",
        "[plan]<|plan|>",
        "[think]<|think|>",
        "[action]<|call|>",
        "[code]",
        "[observation]<|result|>",
    ] {
        assert!(plain.contains(role), "{role} missing");
    }
    let (_, colored, _) = run_cli(tmp.path(), &["inspect", j, "--repo", "go", "--color", "always"]);
    assert!(
        colored.contains("\x1b[33m<|think|>") && colored.contains("repository go"),
        "ANSI colour per role"
    );

    let html = tmp.path().join("t.html");
    let (code, _, _) = run_cli(
        tmp.path(),
        &["inspect", j, "--repo", "python", "--html", html.to_str().unwrap()],
    );
    assert_eq!(code, 0);
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.contains("<h2>Plan</h2>") && page.contains("<code>src/app/util.py</code>"));
    assert!(
        page.contains("<span class=\"think\" title=\"think\">&lt;|think|&gt;"),
        "spans escaped and tagged"
    );
    assert!(!page.contains("<|"), "no raw marker leaks into the HTML");

    let (code, _, err) = run_cli(tmp.path(), &["inspect", j, "--repo", "nope"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("no trajectory for repository `nope`") && err.contains("go, python"),
        "{err}"
    );
}
