//! A small OpenAI-compatible chat server on 127.0.0.1 for tests, which can
//! inject faults: error statuses, garbage bodies, dropped connections, hangs,
//! empty answers and malformed plans. Answers are deterministic: a plan lists
//! every file of the prompt (plus one invented file, to exercise plan repair);
//! a thought names its file and carries a code block (which must be dropped).

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What the server does with the next request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Answer with this HTTP status and an OpenAI error body.
    Status(u16),
    /// 200 with a body that is not JSON.
    Garbage,
    /// Close the connection without answering.
    Drop,
    /// Wait this long, then close without answering.
    Hang(Duration),
    /// 200 with an empty answer.
    Empty,
    /// 200 with an answer that is no plan and no prose.
    Malformed,
}

/// The running server.
#[derive(Debug)]
pub struct FakeLlm {
    addr: std::net::SocketAddr,
    faults: Arc<Mutex<VecDeque<Fault>>>,
    requests: Arc<AtomicUsize>,
}

impl FakeLlm {
    /// Starts a server on an ephemeral loopback port; it lives as long as the process.
    pub fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let addr = listener.local_addr().expect("local addr");
        let faults: Arc<Mutex<VecDeque<Fault>>> = Arc::default();
        let requests = Arc::new(AtomicUsize::new(0));
        let (f, r) = (Arc::clone(&faults), Arc::clone(&requests));
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (f, r) = (Arc::clone(&f), Arc::clone(&r));
                std::thread::spawn(move || handle(stream, &f, &r));
            }
        });
        Self { addr, faults, requests }
    }

    /// `http://127.0.0.1:PORT/v1`.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// Queues faults for the next requests, in order.
    pub fn inject(&self, faults: impl IntoIterator<Item = Fault>) {
        self.faults.lock().expect("lock").extend(faults);
    }

    /// Requests received so far.
    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

fn handle(stream: TcpStream, faults: &Mutex<VecDeque<Fault>>, requests: &AtomicUsize) {
    let mut reader = BufReader::new(match stream.try_clone() {
        Ok(s) => s,
        Err(_) => return,
    });
    let mut length = 0usize;
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        if let Some((k, v)) = l.split_once(':')
            && k.eq_ignore_ascii_case("content-length")
        {
            length = v.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0u8; length];
    if reader.read_exact(&mut body).is_err() {
        return;
    }
    requests.fetch_add(1, Ordering::SeqCst);
    let fault = faults.lock().ok().and_then(|mut q| q.pop_front());
    let mut out = stream;
    let respond = |out: &mut TcpStream, status: u16, body: &str| {
        let reason = if status == 200 { "OK" } else { "Injected" };
        let _ = write!(
            out,
            "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
    };
    let request: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    match fault {
        Some(Fault::Status(code)) => {
            let err = r#"{"error":{"message":"injected failure","type":"server_error","param":null,"code":null}}"#;
            respond(&mut out, code, err);
        }
        Some(Fault::Garbage) => respond(&mut out, 200, "<html>not json at all"),
        Some(Fault::Drop) => {}
        Some(Fault::Hang(d)) => std::thread::sleep(d),
        Some(Fault::Empty) => respond(&mut out, 200, &completion(&request, "")),
        Some(Fault::Malformed) => respond(&mut out, 200, &completion(&request, "ok")),
        None => respond(&mut out, 200, &completion(&request, &answer(&request))),
    }
}

fn completion(request: &serde_json::Value, content: &str) -> String {
    serde_json::json!({
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "created": 0,
        "model": request["model"],
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18}
    })
    .to_string()
}

fn answer(request: &serde_json::Value) -> String {
    let system = request["messages"][0]["content"].as_str().unwrap_or("");
    let user = request["messages"][1]["content"].as_str().unwrap_or("");
    if system.contains("implementation plan") {
        let files: Vec<&str> = user
            .split("Files:\n")
            .nth(1)
            .unwrap_or("")
            .lines()
            .take_while(|l| l.starts_with("- "))
            .map(|l| &l[2..])
            .collect();
        let mut plan: Vec<serde_json::Value> = files
            .iter()
            .map(|p| serde_json::json!({"path": p, "purpose": format!("serves {p}")}))
            .collect();
        plan.push(serde_json::json!({"path": "ghost.py", "purpose": "a file the model made up"}));
        return format!(
            "Here is the plan:\n```json\n{}\n```",
            serde_json::json!({"requirements": "A fake model's requirements.", "plan": plan})
        );
    }
    let file = user
        .lines()
        .find_map(|l| l.strip_prefix("File to implement: "))
        .unwrap_or("?");
    if user.contains("different, better versions") {
        return serde_json::json!({"thoughts": [format!("Alternative one for {file}."), format!("Alternative two for {file}.")]})
            .to_string();
    }
    format!("I will implement {file} step by step.\n```python\nprint('hallucinated code')\n```\nThat is the plan.")
}
