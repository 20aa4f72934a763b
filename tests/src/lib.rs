//! Helpers for repo2agent's integration tests: where the built binary and the
//! example plugin libraries are, building them on first use.
#![allow(clippy::unwrap_used, clippy::expect_used)]

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

/// Builds the binary and the example plugins once per test process. Cargo
/// releases its build lock before running tests, so this nested build reuses
/// the same target directory and is a no-op when everything is fresh.
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
            .args([
                "build",
                "--quiet",
                "-p",
                "repo2agent-cli",
                "-p",
                "shell-analyzer",
                "-p",
                "role-table-masker",
                "-p",
                "probe-plugin",
            ])
            .args(profile)
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
