//! Running at scale: a run killed with SIGKILL at random points and resumed
//! writes exactly what an uninterrupted run writes; the output does not depend
//! on the number of workers; N sharded runs merged equal one run; `merge`
//! refuses parts that do not fit together.

use repo2agent_tests::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

/// Small real crates of the workspace's dependency graph (sources in the cargo registry).
const CRATES: [&str; 21] = [
    "itoa",
    "ryu",
    "heck",
    "anstyle",
    "cfg-if",
    "once_cell",
    "scopeguard",
    "either",
    "smallvec",
    "autocfg",
    "fnv",
    "hex",
    "equivalent",
    "utf8parse",
    "strsim",
    "byteorder",
    "memchr",
    "bitflags",
    "unicode-ident",
    "log",
    "pin-project-lite",
];

/// A config over the crates (a list file), template policy, agent format,
/// `tokenizer` given as TOML.
fn setup(dir: &Path, crates: &[&str], tokenizer: &str) -> PathBuf {
    let list: String = crates
        .iter()
        .map(|c| format!("{}\n", crate_source_dir(c).display()))
        .collect();
    std::fs::write(dir.join("repos.txt"), list).unwrap();
    let cfg = dir.join("scale.toml");
    std::fs::write(
        &cfg,
        format!(
            "[run]\nseed = 3\n\n[input]\nrepos = [\"repos.txt\"]\n\n[policies.template]\ntype = \"template\"\n\n[format]\ntype = \"agent\"\n\n[mask]\ntype = \"roles\"\nweights = {{ observation = 0.0 }}\n\n{tokenizer}\n\n[output]\ndir = \"out\"\nseq_len = 2048\n"
        ),
    )
    .unwrap();
    cfg
}

/// A small deterministic generator for the kill times.
fn next(state: &mut u64) -> u64 {
    *state = state
        .wrapping_mul(6_364_136_223_846_793_005)
        .wrapping_add(1_442_695_040_888_963_407);
    *state >> 33
}

#[test]
fn a_run_killed_at_random_points_resumes_to_the_uninterrupted_output() {
    let tmp = tempfile::tempdir().unwrap();
    let tokenizer = format!("[tokenizer]\npath = {}", toml_path(&llama3_tokenizer()));
    let cfg = setup(tmp.path(), &CRATES, &tokenizer);
    let cfg = cfg.to_str().unwrap();
    let started = Instant::now();
    let stdout = run_ok(tmp.path(), &["run", "-c", cfg, "--out", "ref", "--workers", "2", "-q"]);
    let took = started.elapsed();
    assert!(stdout.contains("processed: 21 repositories, 21 done"), "{stdout}");
    let reference = run_outputs(&tmp.path().join("ref"));

    // One worker or three: the same bytes.
    for workers in ["1", "3"] {
        let out = format!("w{workers}");
        run_ok(
            tmp.path(),
            &["run", "-c", cfg, "--out", &out, "--workers", workers, "-q"],
        );
        assert_same_outputs(
            &reference,
            &run_outputs(&tmp.path().join(&out)),
            &format!("{workers} workers"),
        );
    }

    // SIGKILL at random points of the run, then resume, again and again:
    // each attempt is killed once a random number of further repositories is
    // done (plus a random delay), the last ones after every repository, while
    // the outputs are being written.
    let units_written = || {
        std::fs::read_dir(tmp.path().join("killed/units"))
            .map(|d| {
                d.filter(|e| e.as_ref().unwrap().path().extension().is_some_and(|x| x == "zst"))
                    .count()
            })
            .unwrap_or(0)
    };
    let mut state = 0x5eed;
    let mut mid_run = 0;
    for attempt in 0..12 {
        let before = units_written();
        let target = (before + 1 + (next(&mut state) % 5) as usize).min(21);
        let mut child = Command::new(binary())
            .current_dir(tmp.path())
            .args(["run", "-c", cfg, "--out", "killed", "--resume", "--workers", "2", "-q"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + took * 4;
        while units_written() < target && Instant::now() < deadline && child.try_wait().unwrap().is_none() {
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        std::thread::sleep(std::time::Duration::from_millis(next(&mut state) % 150));
        let finished = child.try_wait().unwrap().is_some();
        child.kill().ok();
        child.wait().unwrap();
        let units = units_written();
        eprintln!("attempt {attempt}: {before} -> {units} of 21 units (finished by itself: {finished})");
        if finished {
            break;
        }
        if (1..21).contains(&units) {
            mid_run += 1;
        }
    }
    assert!(mid_run >= 2, "kills landed in the middle of the run ({mid_run})");
    let stdout = run_ok(
        tmp.path(),
        &["run", "-c", cfg, "--out", "killed", "--resume", "--workers", "2", "-q"],
    );
    assert!(stdout.contains("reused from the interrupted run"), "{stdout}");
    let killed = tmp.path().join("killed");
    assert_same_outputs(&reference, &run_outputs(&killed), "killed and resumed");
    let leftovers: Vec<String> = std::fs::read_dir(&killed)
        .unwrap()
        .chain(std::fs::read_dir(killed.join("units")).unwrap())
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".tmp.") || n.contains("partial") || n.ends_with(".old"))
        .collect();
    assert!(leftovers.is_empty(), "no temporary file left: {leftovers:?}");

    // A resume with another config is refused, and says why.
    let other = std::fs::read_to_string(cfg).unwrap().replace("seed = 3", "seed = 4");
    std::fs::write(tmp.path().join("other.toml"), other).unwrap();
    let (code, _, err) = run_cli(
        tmp.path(),
        &["run", "-c", "other.toml", "--out", "killed", "--resume", "-q"],
    );
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("another config"), "{err}");
}

#[test]
fn sharded_runs_merged_equal_one_run_and_merge_checks_its_parts() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = setup(
        tmp.path(),
        &CRATES[..10],
        "[tokenizer]\ntype = \"bpe\"\nvocab_size = 1024",
    );
    let cfg = cfg.to_str().unwrap();
    run_ok(tmp.path(), &["run", "-c", cfg, "--out", "single", "-q"]);
    for k in 0..3 {
        let shard = format!("{k}/3");
        let out = format!("part{k}");
        run_ok(tmp.path(), &["run", "-c", cfg, "--out", &out, "--shard", &shard, "-q"]);
    }
    let stdout = run_ok(
        tmp.path(),
        &["merge", "-c", cfg, "--out", "merged", "part0", "part1", "part2", "-q"],
    );
    assert!(stdout.contains("processed: 10 repositories, 10 done"), "{stdout}");
    let single = run_outputs(&tmp.path().join("single"));
    assert!(single.iter().any(|(n, _)| n.starts_with("shards/shard.")));
    assert_same_outputs(&single, &run_outputs(&tmp.path().join("merged")), "3 parts merged");

    let merge = |parts: &[&str]| {
        let mut args = vec!["merge", "-c", cfg, "--out", "bad", "-q"];
        args.extend_from_slice(parts);
        run_cli(tmp.path(), &args)
    };
    let (code, _, err) = merge(&["part0", "part1"]);
    assert_eq!(code, 1);
    assert!(err.contains("parts missing: 2/3"), "{err}");
    let (code, _, err) = merge(&["part0", "part1", "part1", "part2"]);
    assert_eq!(code, 1);
    assert!(err.contains("twice"), "{err}");
    // A part whose run has not finished has no manifest.
    std::fs::rename(tmp.path().join("part2/manifest.jsonl"), tmp.path().join("m")).unwrap();
    let (code, _, err) = merge(&["part0", "part1", "part2"]);
    assert_eq!(code, 1);
    assert!(err.contains("manifest.jsonl") && err.contains("--resume"), "{err}");
    std::fs::rename(tmp.path().join("m"), tmp.path().join("part2/manifest.jsonl")).unwrap();
    // A unit changed after its run finished.
    let unit = std::fs::read_dir(tmp.path().join("part1/units"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "zst"))
        .unwrap();
    let mut bytes = zstd::stream::decode_all(&std::fs::read(&unit).unwrap()[..]).unwrap();
    bytes.extend_from_slice(b"\n");
    std::fs::write(&unit, repo2agent_core::run::units::Unit::compress(&bytes).unwrap()).unwrap();
    let (code, _, err) = merge(&["part0", "part1", "part2"]);
    assert_eq!(code, 1);
    assert!(err.contains("changed after its run finished"), "{err}");
    // Another config.
    let other = std::fs::read_to_string(cfg).unwrap().replace("seed = 3", "seed = 5");
    std::fs::write(tmp.path().join("other.toml"), other).unwrap();
    let (code, _, err) = run_cli(
        tmp.path(),
        &["merge", "-c", "other.toml", "--out", "bad", "part0", "-q"],
    );
    assert_eq!(code, 1);
    assert!(err.contains("another config"), "{err}");

    // Units removed: the outputs stay whole; a cleaned part is not merged.
    let stdout = run_ok(tmp.path(), &["clean", "part0"]);
    assert!(stdout.contains("units: removed part0/units ("), "{stdout}");
    assert!(!tmp.path().join("part0/units").exists());
    assert!(tmp.path().join("part0/trajectories.jsonl.zst").is_file());
    assert!(run_ok(tmp.path(), &["clean", "part0"]).contains("units: none in part0"));
    let (code, _, err) = merge(&["part0", "part1", "part2"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("part0 has no units") && err.contains("run it again"),
        "{err}"
    );
    // A run that has not finished keeps them.
    std::fs::remove_file(tmp.path().join("part2/manifest.jsonl")).unwrap();
    let (code, _, err) = run_cli(tmp.path(), &["clean", "part2"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("has not finished") && err.contains("nothing removed"),
        "{err}"
    );
    assert!(tmp.path().join("part2/units").is_dir());
    // `run --keep-units=false`: the same dataset as the single run, no units.
    let stdout = run_ok(tmp.path(), &["run", "-c", cfg, "--out", "lean", "--keep-units=false"]);
    assert!(stdout.contains("units: removed lean/units"), "{stdout}");
    assert!(!tmp.path().join("lean/units").exists());
    assert_same_outputs(&single, &run_outputs(&tmp.path().join("lean")), "without units");
    let (code, _, err) = run_cli(
        tmp.path(),
        &["run", "-c", cfg, "--out", "p", "--shard", "0/3", "--keep-units=false"],
    );
    assert_eq!(code, 2);
    assert!(err.contains("`merge` reads each part's units"), "{err}");
}

/// A model server that fails: with `on_failure = "fail"` the repositories
/// whose calls ran out of retries are marked failed with the reason, the run
/// goes on and finishes; `--resume` retries exactly those, and the result is
/// what a run against a healthy server writes.
#[test]
fn repositories_failed_by_the_model_server_are_counted_and_retried_on_resume() {
    use repo2agent_tests::llm_server::{FakeLlm, Fault};
    let server = FakeLlm::start();
    let tmp = tempfile::tempdir().unwrap();
    let fixtures = workspace_root().join("plugins/treesitter/tests/fixtures");
    let cfg = tmp.path().join("openai.toml");
    std::fs::write(
        &cfg,
        format!(
            "[input]\nrepos = [{}]\n\n[policies.teacher]\ntype = \"openai\"\nbase_url = \"{}\"\nmodel = \"fake-coder\"\nmax_retries = 1\nbackoff_initial_ms = 5\ntimeout_s = 1.0\ncache_dir = \"\"\non_failure = \"fail\"\n\n[format]\ntype = \"agent\"\n\n[tokenizer]\ntype = \"bpe\"\nvocab_size = 1024\n\n[output]\nseq_len = 4096\n",
            toml_path(&fixtures.join("*")),
            server.base_url()
        ),
    )
    .unwrap();
    let cfg = cfg.to_str().unwrap();
    run_ok(tmp.path(), &["run", "-c", cfg, "--out", "clean", "-q"]);

    // The first two calls fail twice each (one retry): two repositories fail.
    server.inject([
        Fault::Status(500),
        Fault::Status(503),
        Fault::Status(502),
        Fault::Status(500),
    ]);
    let stdout = run_ok(tmp.path(), &["run", "-c", cfg, "--out", "out", "--workers", "1", "-q"]);
    assert!(stdout.contains("2 failed") && stdout.contains("--resume"), "{stdout}");
    let stats = read_json(tmp.path().join("out/stats.json"));
    assert_eq!(stats["repos"]["failed"], serde_json::json!({"simulation: http_5xx": 2}));
    assert_eq!(stats["repos"]["done"], 4);
    assert_eq!(stats["simulation"]["failed"], serde_json::json!({"http_5xx": 2}));
    assert_eq!(stats["simulation"]["trajectories"], 4);
    let failed: Vec<serde_json::Value> = std::fs::read_to_string(tmp.path().join("out/manifest.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|e| e["status"] == "failed")
        .collect();
    assert_eq!(failed.len(), 2);
    assert!(
        failed.iter().all(|e| e["reason"] == "simulation: http_5xx"),
        "{failed:?}"
    );

    let before = server.requests();
    let stdout = run_ok(tmp.path(), &["run", "-c", cfg, "--out", "out", "--resume", "-q"]);
    assert!(
        stdout.contains("6 done, 0 empty, 0 failed") && stdout.contains("4 reused"),
        "{stdout}"
    );
    assert!(server.requests() > before, "the failed repositories were asked again");
    assert_same_outputs(
        &run_outputs(&tmp.path().join("clean")),
        &run_outputs(&tmp.path().join("out")),
        "failed, then resumed",
    );
}
