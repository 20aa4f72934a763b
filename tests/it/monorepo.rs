//! Giant repositories and monorepos: a repository over `input.max_repo_bytes`
//! is split into its packages, each its own trajectory with the workspace
//! around it in its plan; a piece that cannot be split is skipped as
//! `repo_too_large`; a worker's memory follows the largest piece, not the
//! repository.

use repo2agent_tests::*;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// A Cargo workspace `mono` of `packages` crates (`crates/pI`, each depending
/// on the one before, about `bytes` of Rust each) plus `tools/blob`, an npm
/// package of `blob` bytes of text files side by side (no directory to split by).
fn monorepo(dir: &Path, packages: usize, bytes: usize, blob: usize) -> PathBuf {
    let root = dir.join("mono");
    let mut files: Vec<(String, String)> = vec![
        (
            "Cargo.toml".into(),
            "[workspace]\nmembers = [\"crates/*\"]\nresolver = \"2\"\n".into(),
        ),
        (
            "README.md".into(),
            "# mono\n\nA generated workspace of small crates.\n".into(),
        ),
    ];
    for p in 0..packages {
        let dep = match p {
            0 => String::new(),
            _ => format!("\n[dependencies]\np{} = {{ path = \"../p{}\" }}\n", p - 1, p - 1),
        };
        files.push((
            format!("crates/p{p}/Cargo.toml"),
            format!("[package]\nname = \"p{p}\"\nversion = \"0.1.0\"\nedition = \"2021\"\n{dep}"),
        ));
        let modules = bytes.div_ceil(20_000).max(1);
        let mut lib = format!("//! Crate p{p}: arithmetic helpers.\n\n");
        for m in 0..modules {
            writeln!(lib, "pub mod m{m};").unwrap();
            let mut text = format!("//! Module m{m} of p{p}.\n\n");
            let mut k = 0;
            while text.len() < bytes / modules {
                write!(
                    text,
                    "/// Mixes `x` with the constant {k}.\npub fn f{k}(x: u64) -> u64 {{\n    x.wrapping_mul({}) ^ 0x{k:x}\n}}\n\n",
                    k * 31 + m + p
                )
                .unwrap();
                k += 1;
            }
            files.push((format!("crates/p{p}/src/m{m}.rs"), text));
        }
        files.push((format!("crates/p{p}/src/lib.rs"), lib));
    }
    if blob > 0 {
        files.push(("tools/blob/package.json".into(), "{\"name\": \"blob\"}\n".into()));
        for j in 0..blob.div_ceil(50_000) {
            let line = format!("record {j}: the quick brown fox jumps over the lazy dog\n");
            files.push((format!("tools/blob/d{j}.txt"), line.repeat(50_000 / line.len())));
        }
    }
    let refs: Vec<(&str, &str)> = files.iter().map(|(p, t)| (p.as_str(), t.as_str())).collect();
    write_tree(&root, &refs);
    root
}

fn config(dir: &Path, max_repo_bytes: u64, tokenizer: &str) -> PathBuf {
    let cfg = dir.join("mono.toml");
    std::fs::write(
        &cfg,
        format!(
            "[run]\nseed = 1\nworkers = 2\n\n[input]\nrepos = [\"mono\"]\nmax_repo_bytes = {max_repo_bytes}\n\n[policies.template]\ntype = \"template\"\n\n[format]\ntype = \"agent\"\n\n[mask]\ntype = \"roles\"\n\n{tokenizer}\n\n[output]\ndir = \"out\"\nseq_len = 4096\n"
        ),
    )
    .unwrap();
    cfg
}

#[test]
fn a_monorepo_over_the_limit_is_split_into_its_packages_and_an_unsplittable_piece_is_skipped() {
    let tmp = tempfile::tempdir().unwrap();
    let root = monorepo(tmp.path(), 4, 60_000, 200_000);
    let cfg = config(tmp.path(), 150_000, "[tokenizer]\ntype = \"bpe\"\nvocab_size = 512");
    let stdout = run_ok(tmp.path(), &["run", "-c", cfg.to_str().unwrap(), "-q"]);
    let out = tmp.path().join("out");

    // One piece per crate, the root's own files, and the blob (skipped).
    let manifest: Vec<serde_json::Value> = std::fs::read_to_string(out.join("manifest.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let got: Vec<(&str, &str, u64)> = manifest
        .iter()
        .map(|m| {
            (
                m["name"].as_str().unwrap(),
                m["status"].as_str().unwrap(),
                m["part"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("mono", "done", 0),
            ("mono/crates/p0", "done", 1),
            ("mono/crates/p1", "done", 2),
            ("mono/crates/p2", "done", 3),
            ("mono/crates/p3", "done", 4),
            ("mono/tools/blob", "skipped", 5),
        ]
    );
    assert_eq!(manifest[5]["reason"], "repo_too_large");
    assert!(manifest[5]["bytes"].as_u64().unwrap() > 150_000);
    assert!(manifest.iter().all(|m| m["position"] == 0), "one repository's position");
    assert!(out.join("units/00000000.0005.jsonl.zst").exists());

    let stats = read_json(out.join("stats.json"));
    assert_eq!(stats["ingest"]["repos_split"], 1);
    assert_eq!(stats["ingest"]["packages"], 6);
    assert_eq!(stats["repos"]["skipped"]["repo_too_large"], 1);
    assert_eq!(stats["repos"]["done"], 5);
    assert!(
        stdout.contains("1 over input.max_repo_bytes split into 6 packages"),
        "{stdout}"
    );
    assert!(stdout.contains("1 skipped {\"repo_too_large\": 1}"), "{stdout}");

    // Each piece's trajectory holds its own files, byte-exact, under paths
    // relative to the package, and its plan knows the workspace around it.
    let jsonl = out.join("trajectories.jsonl");
    let text = read_trajectories(&jsonl);
    let trajectories: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(trajectories.len(), 5);
    let writes = check_trajectories_against_disk(&jsonl, |name| match name.strip_prefix("mono/") {
        Some(dir) => root.join(dir),
        None => root.clone(),
    });
    assert_eq!(
        writes,
        2 + 4 * 5,
        "2 root files, 4 crates of a manifest, lib.rs and 3 modules"
    );
    let p2 = trajectories.iter().find(|t| t["repo"] == "mono/crates/p2").unwrap();
    let plan = p2.to_string();
    assert!(
        plan.contains("The package `p2` in `crates/p2` of the repository `mono`, beside `p0` (crates/p0), `p1` (crates/p1), `p3` (crates/p3), `blob` (tools/blob). It depends on `p1` of them."),
        "{}",
        &plan[..plan.len().min(3000)]
    );
    assert!(plan.contains("\"path\":\"src/m0.rs\""), "paths relative to the package");
    let rest = trajectories.iter().find(|t| t["repo"] == "mono").unwrap().to_string();
    assert!(rest.contains("The files of the repository `mono` outside its packages: `p0` (crates/p0)"));

    // `run --estimate` takes the pieces as the run does (the skipped one left out).
    let est = tmp.path().join("est.toml");
    std::fs::write(
        &est,
        "[input]\nrepos = [\"mono\"]\nmax_repo_bytes = 150000\n\n[policies.teacher]\ntype = \"openai\"\nbase_url = \"http://127.0.0.1:9/v1\"\nmodel = \"m\"\ncache_dir = \"\"\n\n[output]\ndir = \"est-out\"\n",
    )
    .unwrap();
    let estimate = run_ok(tmp.path(), &["run", "-c", est.to_str().unwrap(), "--estimate"]);
    assert!(estimate.contains("total: 5 repositories"), "{estimate}");
    for piece in ["mono ", "mono/crates/p0 ", "mono/crates/p3 "] {
        assert!(estimate.lines().any(|l| l.starts_with(piece)), "{piece}: {estimate}");
    }
    assert!(!estimate.contains("tools/blob"), "{estimate}");

    // A resumed run reuses every piece, the skipped one included, and writes the same.
    let before = run_outputs(&out);
    let again = run_ok(tmp.path(), &["run", "-c", cfg.to_str().unwrap(), "-q", "--resume"]);
    assert!(again.contains("6 reused from the interrupted run"), "{again}");
    assert_same_outputs(&before, &run_outputs(&out), "resumed split run");

    // Without a limit the repository is one unit of work.
    let whole = config(tmp.path(), 0, "[tokenizer]\ntype = \"bpe\"\nvocab_size = 512");
    run_ok(tmp.path(), &["run", "-c", whole.to_str().unwrap(), "-q"]);
    let manifest = std::fs::read_to_string(out.join("manifest.jsonl")).unwrap();
    assert_eq!(manifest.lines().count(), 1);
    assert!(!manifest.contains("\"part\""), "{manifest}");
    assert_eq!(read_json(out.join("stats.json"))["ingest"]["repos_split"], 0);
}

fn peak_mb(stdout: &str) -> u64 {
    stdout
        .lines()
        .find_map(|l| l.strip_prefix("peak memory: "))
        .and_then(|l| l.trim_end_matches(" MB").parse().ok())
        .unwrap_or_else(|| panic!("no peak memory line in\n{stdout}"))
}

#[test]
fn peak_memory_follows_the_largest_piece_not_the_repository() {
    // The same 250 kB crates, 3 or 12 of them (0.75 or 3 MB of code); split,
    // the larger workspace needs no more memory; whole, it needs more, in
    // proportion to its code.
    let tokenizer = format!("[tokenizer]\npath = {}", toml_path(&llama3_tokenizer()));
    let peak = |packages: usize, max: u64| {
        let tmp = tempfile::tempdir().unwrap();
        monorepo(tmp.path(), packages, 250_000, 0);
        let cfg = config(tmp.path(), max, &tokenizer);
        peak_mb(&run_ok(tmp.path(), &["run", "-c", cfg.to_str().unwrap(), "-q"]))
    };
    let small = peak(3, 400_000);
    let large = peak(12, 400_000);
    let whole_small = peak(3, 0);
    let whole = peak(12, 0);
    eprintln!(
        "peak memory: 3 packages split {small} MB, 12 split {large} MB; whole: 3 {whole_small} MB, 12 {whole} MB"
    );
    assert!(
        large <= small + small / 10 + 5,
        "split: {small} MB → {large} MB with 3× the packages"
    );
    // A whole repository's memory grows with its code (its files, the
    // trajectory's writes, the tokens), but the document is never held
    // whole: reads name their files, the text goes to the unit file segment
    // by segment, repeats share their tokens. 13-16 MB per MB of code when
    // all of it was held at once; about 4.5 now.
    let per_mb = (whole as f64 - whole_small as f64) / 2.25;
    assert!((1.0..=8.0).contains(&per_mb), "{per_mb:.1} MB of memory per MB of code");
}
