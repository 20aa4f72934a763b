//! Helpers for repo2agent's integration tests: where the built binary and the
//! example plugin libraries are, building them on first use.
#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod llm_server;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The workspace root.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// The target profile directory this test binary was built into (`target/debug`).
fn profile_dir() -> PathBuf {
    // Test binaries live in <target>/<profile>/deps/.
    let exe = std::env::current_exe().unwrap();
    exe.parent().unwrap().parent().unwrap().to_path_buf()
}

/// The cargo features the test build was made with (`scripts/test` sets
/// `REPO2AGENT_TEST_FEATURES`), so the nested build below resolves the same
/// dependency graph and reuses its artifacts instead of building burn again.
fn features() -> Vec<String> {
    match std::env::var("REPO2AGENT_TEST_FEATURES") {
        Ok(f) if !f.trim().is_empty() => vec!["--features".into(), f],
        _ => Vec::new(),
    }
}

/// Builds the binary and the example plugins once per test process. Cargo
/// releases its build lock before running tests, so this nested build reuses
/// the same target directory. It selects what `cargo test --workspace` selects
/// (the whole workspace, its tests included, so dev-dependencies resolve the
/// same features) plus the binary and the plugins' cdylibs, which `cargo test`
/// does not make: after `scripts/test`'s build it has nothing to do, where a
/// narrower `-p repo2agent-cli` build would resolve other features and build
/// burn a second time.
fn ensure_built() -> &'static PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| {
        let dir = profile_dir();
        let profile = if dir.file_name().is_some_and(|n| n == "release") {
            vec!["--release"]
        } else {
            vec![]
        };
        let target_dir = dir.parent().unwrap();
        let status = Command::new(env!("CARGO"))
            .current_dir(workspace_root())
            .args(["build", "--quiet", "--workspace", "--lib", "--bins", "--tests"])
            .args(profile)
            .args(features())
            .arg("--target-dir")
            .arg(target_dir)
            .status()
            .expect("run cargo build");
        assert!(status.success(), "cargo build of the binary and example plugins failed");
        dir
    })
}

/// Path of the `repo2agent` binary.
pub fn binary() -> PathBuf {
    ensure_built().join(format!("repo2agent{}", std::env::consts::EXE_SUFFIX))
}

/// Path of an example plugin library by crate name (`shell-analyzer`).
pub fn plugin_library(crate_name: &str) -> PathBuf {
    let stem = crate_name.replace('-', "_");
    ensure_built().join(format!(
        "{}{stem}{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_SUFFIX
    ))
}

/// Runs the binary with arguments in a directory; returns (exit code, stdout, stderr).
pub fn run_cli(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(binary())
        .current_dir(dir)
        .args(args)
        .output()
        .expect("run repo2agent");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// [`run_cli`] that must succeed: its stdout (the command, stdout and stderr
/// in the failure message).
pub fn run_ok(dir: &Path, args: &[&str]) -> String {
    let (code, stdout, err) = run_cli(dir, args);
    assert_eq!(code, 0, "{args:?}\n{stdout}\n{err}");
    stdout
}

/// A fresh copy of the repository under `dir` (its files as git knows them:
/// tracked plus untracked ones not ignored, so uncommitted work is included),
/// with `target` linked to this build's target directory, as if
/// `cargo build --workspace` had been run in it. Returns the copy's root.
pub fn fresh_copy(dir: &Path) -> PathBuf {
    let out = Command::new("git")
        .current_dir(workspace_root())
        .args(["ls-files", "-z", "--cached", "--others", "--exclude-standard"])
        .output()
        .expect("git ls-files");
    assert!(out.status.success(), "git ls-files failed");
    let root = dir.join("repo2agent");
    for name in out.stdout.split(|b| *b == 0).filter(|n| !n.is_empty()) {
        let rel = Path::new(std::str::from_utf8(name).expect("UTF-8 path"));
        let from = workspace_root().join(rel);
        if !from.is_file() {
            continue; // deleted in the work tree, not yet committed
        }
        let to = root.join(rel);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(&from, &to).unwrap();
    }
    let target = ensure_built().parent().unwrap().to_path_buf();
    std::os::unix::fs::symlink(target, root.join("target")).unwrap();
    root
}

/// Writes `files` (path, content) under `root`, creating directories.
pub fn write_tree(root: &Path, files: &[(&str, &str)]) {
    for (path, content) in files {
        let p = root.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, content).unwrap();
    }
}

/// TOML string literal for a path.
pub fn toml_path(p: &Path) -> String {
    format!("{:?}", p.display().to_string())
}

/// The source directory of a registry crate of the dependency graph: its
/// version from Cargo.lock, its sources under `$CARGO_HOME/registry/src`.
pub fn crate_source_dir(name: &str) -> PathBuf {
    let lock = std::fs::read_to_string(workspace_root().join("Cargo.lock")).expect("Cargo.lock");
    let needle = format!("name = \"{name}\"\nversion = \"");
    let at = lock
        .find(&needle)
        .unwrap_or_else(|| panic!("{name} is not in Cargo.lock"))
        + needle.len();
    let version = &lock[at..at + lock[at..].find('"').expect("version")];
    registry_crates()
        .into_iter()
        .find(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy() == format!("{name}-{version}"))
        })
        .unwrap_or_else(|| panic!("{name}-{version} is not in the cargo registry; build the workspace first"))
}

/// The Lua grammar built into a shared library by `examples/languages/build-grammar.sh`
/// from the tree-sitter-lua crate's C sources (once per test process).
pub fn lua_grammar() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let out = ensure_built().join("liblua-grammar.so");
            let src = crate_source_dir("tree-sitter-lua").join("src");
            let status = Command::new(workspace_root().join("examples/languages/build-grammar.sh"))
                .arg(&src)
                .arg(&out)
                .stdout(std::process::Stdio::null())
                .status()
                .expect("run build-grammar.sh");
            assert!(status.success(), "building the Lua grammar failed");
            out
        })
        .clone()
}

/// An example config with its relative paths made absolute and plugin / grammar
/// paths pointed at this build, written to `dir`.
pub fn example_config(name: &str, dir: &Path) -> PathBuf {
    let examples = workspace_root().join("examples");
    let text = std::fs::read_to_string(examples.join(name)).unwrap();
    let profile = binary().parent().unwrap().to_path_buf();
    let text = text
        .replace("\"../target/debug/", &format!("\"{}/", profile.display()))
        .replace(
            "\"languages/lua/liblua.so\"",
            &format!("{:?}", lua_grammar().display().to_string()),
        )
        .replace("\"languages/", &format!("\"{}/languages/", examples.display()))
        .replace("\"..\"", &format!("{:?}", workspace_root().display().to_string()))
        .replace("\"../out/", &format!("\"{}/out/", dir.display()))
        .replace("\"../", &format!("\"{}/", workspace_root().display()));
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// Crate sources cargo downloaded (`$CARGO_HOME/registry/src/*/*`), sorted.
pub fn registry_crates() -> Vec<PathBuf> {
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cargo")))
        .unwrap_or_default();
    let mut crates = Vec::new();
    if let Ok(indexes) = std::fs::read_dir(cargo_home.join("registry/src")) {
        for index in indexes.flatten() {
            if let Ok(dir) = std::fs::read_dir(index.path()) {
                crates.extend(dir.flatten().map(|e| e.path()));
            }
        }
    }
    crates.sort();
    crates
}

/// Python's standard library directory, if Python is installed.
pub fn python_stdlib() -> Option<PathBuf> {
    let out = Command::new("python3")
        .args(["-c", "import sysconfig; print(sysconfig.get_paths()['stdlib'])"])
        .output()
        .ok()?;
    let path = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    (!path.is_empty()).then(|| PathBuf::from(path))
}

/// npm's own install directory (`$(npm root -g)/npm`), if npm is installed.
pub fn npm_dir() -> Option<PathBuf> {
    let out = Command::new("npm").args(["root", "-g"]).output().ok()?;
    let root = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    (!root.is_empty()).then(|| Path::new(&root).join("npm"))
}

/// The lines of a run's trajectories: `path` (`OUT/trajectories.jsonl`) or,
/// when it is not there, `path.zst` (the default), read as `inspect` reads
/// them (plain or zstd, told by the first bytes).
pub fn read_trajectories(path: &Path) -> String {
    use std::io::Read;
    let zst = PathBuf::from(format!("{}.zst", path.display()));
    let file = if path.exists() { path } else { zst.as_path() };
    let mut text = String::new();
    repo2agent_core::output::open_trajectories(file)
        .and_then(|mut r| r.read_to_string(&mut text))
        .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    text
}

/// Every Read observation and Write body in a `trajectories.jsonl` equals the
/// file on disk (`root_of(repo name)` gives each repository's directory);
/// returns the number of writes.
pub fn check_trajectories_against_disk(jsonl: &Path, root_of: impl Fn(&str) -> PathBuf) -> usize {
    /// Checks one episode's steps in order, descending into delegated ones
    /// where they occur (the order a reader meets them).
    fn episode(ep: &serde_json::Value, root: &Path, written: &mut HashMap<String, String>, writes: &mut usize) {
        let steps = ep["steps"].as_array().unwrap();
        for (i, s) in steps.iter().enumerate() {
            match s["kind"].as_str().unwrap() {
                "delegate" => episode(&s["episode"], root, written, writes),
                "action" if s["call"]["tool"] == "write" => {
                    let path = s["call"]["path"].as_str().unwrap();
                    let disk = std::fs::read_to_string(root.join(path)).unwrap();
                    assert_eq!(s["call"]["content"].as_str().unwrap(), disk);
                    assert_eq!(s["role"], "code");
                    written.insert(path.to_owned(), disk);
                    *writes += 1;
                }
                "action" if s["call"]["tool"] == "read" => {
                    let path = s["call"]["path"].as_str().unwrap();
                    let disk = std::fs::read_to_string(root.join(path)).unwrap();
                    assert_eq!(steps[i + 1]["kind"], "observation");
                    // The file, named; its bytes are those of its earlier Write.
                    assert_eq!(steps[i + 1]["file"].as_str(), Some(path));
                    assert!(steps[i + 1].get("content").is_none());
                    assert_eq!(written.get(path), Some(&disk), "{path} read before it was written");
                }
                _ => {}
            }
        }
    }
    let text = read_trajectories(jsonl);
    let mut writes = 0;
    for line in text.lines() {
        let t: serde_json::Value = serde_json::from_str(line).unwrap();
        let root = root_of(t["repo"].as_str().unwrap());
        episode(&t["main"], &root, &mut HashMap::new(), &mut writes);
    }
    writes
}

/// A JSON file (`stats.json`), parsed.
pub fn read_json(path: impl AsRef<Path>) -> serde_json::Value {
    let path = path.as_ref();
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

/// The Python of the interop environment (`streaming`, megatron-core), created
/// by `scripts/interop_env` on first use.
pub fn interop_python() -> PathBuf {
    script_output(&["scripts/interop_env"])
}

/// Runs the interop Python with `args` (a script and its arguments) in `dir`:
/// whether it succeeded, and its stdout then stderr.
pub fn run_interop<S: AsRef<std::ffi::OsStr>>(dir: &Path, args: &[S]) -> (bool, String) {
    let out = Command::new(interop_python())
        .current_dir(dir)
        .args(args)
        .output()
        .expect("run the interop python");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// Llama 3's `tokenizer.json`, fetched by `scripts/assets` on first use.
pub fn llama3_tokenizer() -> PathBuf {
    script_output(&["scripts/assets", "llama3-tokenizer"])
}

/// SmolLM2-135M-Instruct's GGUF (Q4_1), fetched by
/// `scripts/llama_server.py --install-only` on first use.
pub fn smollm2_gguf() -> PathBuf {
    let out = Command::new("python3")
        .arg(workspace_root().join("scripts/llama_server.py"))
        .arg("--install-only")
        .stderr(std::process::Stdio::inherit())
        .output()
        .unwrap_or_else(|e| panic!("scripts/llama_server.py: {e}"));
    assert!(out.status.success(), "scripts/llama_server.py --install-only failed");
    let stdout = String::from_utf8_lossy(&out.stdout);
    PathBuf::from(stdout.lines().last().unwrap_or_default().trim())
}

fn script_output(args: &[&str]) -> PathBuf {
    let out = Command::new(workspace_root().join(args[0]))
        .args(&args[1..])
        .current_dir(workspace_root())
        .stderr(std::process::Stdio::inherit())
        .output()
        .unwrap_or_else(|e| panic!("{}: {e}", args[0]));
    assert!(out.status.success(), "{} failed", args.join(" "));
    PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
}

/// Everything `repo2agent run` (or `merge`) writes that must not depend on how
/// it was run (workers, interruptions, shards): the
/// trajectories, the manifest (without the units' paths), every shard file,
/// and the counters (without seconds, the policy's per-process counters and
/// the shard split), as (name, bytes).
pub fn run_outputs(out: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files = Vec::new();
    files.push((
        "trajectories.jsonl".to_owned(),
        read_trajectories(&out.join("trajectories.jsonl")).into_bytes(),
    ));
    let manifest: Vec<serde_json::Value> = std::fs::read_to_string(out.join("manifest.jsonl"))
        .unwrap()
        .lines()
        .map(|l| {
            let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
            v.as_object_mut().unwrap().remove("unit");
            v
        })
        .collect();
    files.push(("manifest".to_owned(), serde_json::to_vec(&manifest).unwrap()));
    let mut stats = read_json(out.join("stats.json"));
    let s = stats.as_object_mut().unwrap();
    s.remove("seconds");
    s["simulation"].as_object_mut().unwrap().remove("policy");
    s["ingest"].as_object_mut().unwrap().remove("repos_other_shards");
    files.push(("stats".to_owned(), serde_json::to_vec_pretty(&stats).unwrap()));
    let mut shards: Vec<_> = std::fs::read_dir(out.join("shards"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    shards.sort();
    for p in shards {
        files.push((
            format!("shards/{}", p.file_name().unwrap().to_string_lossy()),
            std::fs::read(&p).unwrap(),
        ));
    }
    files
}

/// The files of a run's shard directory (`OUT/shards`), as (name, bytes), by name.
pub fn shard_files(out: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(out.join("shards"))
        .unwrap()
        .map(|e| e.unwrap())
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect();
    files.sort();
    files
}

/// The same files with the same bytes; `what` names the comparison.
pub fn assert_same_outputs(a: &[(String, Vec<u8>)], b: &[(String, Vec<u8>)], what: &str) {
    let names = |x: &[(String, Vec<u8>)]| x.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>();
    assert_eq!(names(a), names(b), "{what}: the same files");
    for ((name, x), (_, y)) in a.iter().zip(b) {
        assert!(
            x == y,
            "{what}: {name} differs\n{}\n---\n{}",
            String::from_utf8_lossy(&x[..x.len().min(2000)]),
            String::from_utf8_lossy(&y[..y.len().min(2000)])
        );
    }
}
