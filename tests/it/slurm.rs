//! `repo2agent slurm`: the scripts it writes, checked with bash (syntax, the
//! worker's guard), with stand-ins for `sbatch` and the binary, and run for
//! real by bash as Slurm would run them (array tasks 0..N, then the merge):
//! the merged dataset equals a single run. On a real cluster: `slurm_cluster.rs`.

use repo2agent_tests::*;
use std::path::Path;
use std::process::Command;

/// Runs `bash ARGS` with extra environment; returns (exit code, stdout, stderr).
fn bash(args: &[&Path], env: &[(&str, &str)], unset: &[&str]) -> (i32, String, String) {
    let mut cmd = Command::new("bash");
    cmd.args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    for k in unset {
        cmd.env_remove(k);
    }
    let out = cmd.output().expect("run bash");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `repo2agent slurm -c examples/repo2agent.toml --tasks TASKS --out OUT EXTRA…`.
fn slurm_scripts(out: &Path, tasks: &str, extra: &[&str]) -> (i32, String, String) {
    let mut args = vec![
        "slurm",
        "-c",
        "examples/repo2agent.toml",
        "--tasks",
        tasks,
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    run_cli(&workspace_root(), &args)
}

/// Writes an executable shell script.
fn write_executable(path: &Path, body: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, body).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn slurm_writes_three_scripts_bash_accepts_and_refuses_an_invalid_config() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out dir");
    let (code, stdout, err) = slurm_scripts(&out, "3", &[]);
    assert_eq!(code, 0, "{stdout}\n{err}");
    let scripts = out.join("slurm");
    for name in ["worker.sbatch", "merge.sbatch", "submit.sh"] {
        let path = scripts.join(name);
        assert!(path.is_file(), "{name} missing");
        assert!(stdout.contains(path.to_str().unwrap()), "{stdout}");
        let (code, _, err) = bash(&[Path::new("-n"), &path], &[], &[]);
        assert_eq!(code, 0, "bash -n {name}: {err}");
    }
    let mode = std::fs::metadata(scripts.join("submit.sh"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o111, 0o111, "submit.sh is executable: {mode:o}");
    assert!(out.join("logs").is_dir(), "Slurm needs the log directory to exist");
    assert!(stdout.contains("bash '"), "the submit command, quoted: {stdout}");
    assert!(stdout.contains("sbatch --array=K "), "{stdout}");
    let worker = std::fs::read_to_string(scripts.join("worker.sbatch")).unwrap();
    assert!(worker.contains("#SBATCH --array=0-2\n"), "{worker}");
    assert!(
        worker.contains("--shard \"$SLURM_ARRAY_TASK_ID\"/3 --resume"),
        "{worker}"
    );

    // An invalid config: its problems, exit 3, nothing written.
    std::fs::write(tmp.path().join("bad.toml"), "[mask]\ntype = \"masks\"\n").unwrap();
    let other = tmp.path().join("other");
    let (code, _, err) = run_cli(
        tmp.path(),
        &[
            "slurm",
            "-c",
            "bad.toml",
            "--tasks",
            "2",
            "--out",
            other.to_str().unwrap(),
        ],
    );
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("unknown masker type"), "{err}");
    assert!(!other.exists());

    // --tasks 0 is a bad command line.
    let (code, _, err) = slurm_scripts(Path::new("x"), "0", &[]);
    assert_eq!(code, 2, "{err}");
}

#[test]
fn slurm_worker_outside_an_array_job_exits_2_with_a_message() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let (code, _, err) = slurm_scripts(&out, "2", &[]);
    assert_eq!(code, 0, "{err}");
    let (code, stdout, err) = bash(&[&out.join("slurm/worker.sbatch")], &[], &["SLURM_ARRAY_TASK_ID"]);
    assert_eq!(code, 2, "{stdout}\n{err}");
    assert!(err.contains("SLURM_ARRAY_TASK_ID is not set"), "{err}");
    assert!(!out.join("parts").exists());
}

/// With a stand-in `sbatch` (records its arguments) and a stand-in binary
/// (records its argv), under paths with spaces and a quote: submit.sh chains
/// the merge on the array, and the jobs pass each path as one argument.
#[test]
fn slurm_scripts_pass_paths_intact_and_chain_the_merge_on_the_array() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("it's a dir");
    let out = root.join("out dir");
    let fake_bin = root.join("my bin/repo2agent");
    let record = tmp.path().join("argv.txt");
    write_executable(&fake_bin, "#!/bin/bash\nprintf '%s\\n' \"$@\" > \"$RECORD\"\n");
    let sbatch_dir = tmp.path().join("sbatch-bin");
    let calls = tmp.path().join("sbatch.txt");
    // The first call answers `job;cluster` as --parsable does on a multi-cluster setup.
    write_executable(
        &sbatch_dir.join("sbatch"),
        "#!/bin/bash\nprintf '%s\\n' \"$@\" '--' >> \"$CALLS\"\n\
         if [ -e \"$CALLS.1\" ]; then echo 4243; else touch \"$CALLS.1\"; echo '4242;cluster'; fi\n",
    );
    let (code, stdout, err) = slurm_scripts(
        &out,
        "3",
        &[
            "--binary",
            fake_bin.to_str().unwrap(),
            "--max-parallel",
            "2",
            "--sbatch=--qos=low",
        ],
    );
    assert_eq!(code, 0, "{stdout}\n{err}");
    let scripts = out.join("slurm");
    let config = workspace_root().join("examples/repo2agent.toml");
    let config = config.to_str().unwrap();
    let parts = out.join("parts");

    let path_var = format!("{}:{}", sbatch_dir.display(), std::env::var("PATH").unwrap_or_default());
    let env = [
        ("PATH", path_var.as_str()),
        ("CALLS", calls.to_str().unwrap()),
        ("RECORD", record.to_str().unwrap()),
    ];
    let (code, stdout, err) = bash(&[&scripts.join("submit.sh"), Path::new("--partition=short")], &env, &[]);
    assert_eq!(code, 0, "{stdout}\n{err}");
    let worker = scripts.join("worker.sbatch");
    let merge = scripts.join("merge.sbatch");
    let expected = [
        "--parsable",
        "--partition=short",
        worker.to_str().unwrap(),
        "--",
        "--parsable",
        "--dependency=afterok:4242",
        "--partition=short",
        merge.to_str().unwrap(),
        "--",
    ];
    assert_eq!(
        std::fs::read_to_string(&calls).unwrap().lines().collect::<Vec<_>>(),
        expected
    );
    assert!(stdout.contains("job 4242") && stdout.contains("job 4243"), "{stdout}");
    assert!(stdout.contains(parts.to_str().unwrap()), "{stdout}");

    // The worker, as array task 1 with 4 CPUs.
    let (code, _, err) = bash(
        &[&worker],
        &[
            ("RECORD", record.to_str().unwrap()),
            ("SLURM_ARRAY_TASK_ID", "1"),
            ("SLURM_CPUS_PER_TASK", "4"),
        ],
        &[],
    );
    assert_eq!(code, 0, "{err}");
    let part1 = parts.join("1");
    let argv = std::fs::read_to_string(&record).unwrap();
    assert_eq!(
        argv.lines().collect::<Vec<_>>(),
        [
            "run",
            "-c",
            config,
            "--out",
            part1.to_str().unwrap(),
            "--shard",
            "1/3",
            "--resume",
            "--workers",
            "4",
            "-q"
        ]
    );

    // The merge lists every part.
    let (code, _, err) = bash(&[&merge], &[("RECORD", record.to_str().unwrap())], &[]);
    assert_eq!(code, 0, "{err}");
    let argv = std::fs::read_to_string(&record).unwrap();
    let merged = out.join("merged");
    let mut want = vec!["merge", "-c", config, "--out", merged.to_str().unwrap()];
    let part_paths: Vec<String> = (0..3)
        .map(|k| parts.join(k.to_string()).display().to_string())
        .collect();
    want.extend(part_paths.iter().map(String::as_str));
    assert_eq!(argv.lines().collect::<Vec<_>>(), want);
}

/// The scripts do the job: each array task run by bash with its
/// `SLURM_ARRAY_TASK_ID`, then the merge script; the merged dataset has the
/// single run's trajectories and shards.
#[test]
fn slurm_scripts_run_by_bash_produce_the_single_runs_dataset() {
    let tmp = tempfile::tempdir().unwrap();
    let fixtures = workspace_root().join("plugins/treesitter/tests/fixtures");
    let cfg = tmp.path().join("run.toml");
    std::fs::write(
        &cfg,
        format!(
            "[input]\nrepos = [{}]\n\n[policies.template]\ntype = \"template\"\n\n[format]\ntype = \"agent\"\n\n[tokenizer]\ntype = \"bpe\"\nvocab_size = 1024\n\n[output]\nseq_len = 4096\n",
            toml_path(&fixtures.join("*"))
        ),
    )
    .unwrap();
    let cfg = cfg.to_str().unwrap();
    let out = tmp.path().join("job");
    let (code, _, err) = run_cli(
        tmp.path(),
        &["slurm", "-c", cfg, "--tasks", "3", "--out", out.to_str().unwrap()],
    );
    assert_eq!(code, 0, "{err}");
    for k in ["0", "1", "2"] {
        let (code, _, err) = bash(&[&out.join("slurm/worker.sbatch")], &[("SLURM_ARRAY_TASK_ID", k)], &[]);
        assert_eq!(code, 0, "task {k}: {err}");
        assert!(out.join(format!("parts/{k}/manifest.jsonl")).is_file());
    }
    let (code, _, err) = bash(&[&out.join("slurm/merge.sbatch")], &[], &[]);
    assert_eq!(code, 0, "merge: {err}");
    let (code, _, err) = run_cli(tmp.path(), &["run", "-c", cfg, "--out", "single", "-q"]);
    assert_eq!(code, 0, "{err}");
    let single = tmp.path().join("single");
    let merged = out.join("merged");
    for file in [
        "trajectories.jsonl.zst",
        "shards/index.json",
        "shards/shard.00000.mds.zstd",
    ] {
        assert_eq!(
            std::fs::read(single.join(file)).unwrap(),
            std::fs::read(merged.join(file)).unwrap(),
            "{file}"
        );
    }
    assert_eq!(read_json(merged.join("stats.json"))["repos"]["done"], 6);
}
