//! A small OpenAI-compatible chat server on 127.0.0.1 for tests, which can
//! inject faults: error statuses, garbage bodies, dropped connections, hangs,
//! empty answers and malformed plans. Answers are deterministic: a plan lists
//! every file of the prompt (plus one invented file, to exercise plan repair);
//! a thought names its file and carries a code block (which must be dropped).
//!
//! Chat answers report usage like a one-slot llama.cpp server: prompt tokens
//! are [`fake_tokens`] of the messages, and `prompt_tokens_details.cached_tokens`
//! the tokens the request shares at its start with the previous one. A
//! request with a `response_format` JSON schema gets bare JSON (a plan over the
//! schema's files), unless [`FakeLlm::reject_response_format`] makes it a 400.
//! [`FakeLlm::delay`] holds each answer, so requests overlap and
//! [`FakeLlm::max_in_flight`] measures how many were in flight at once.
//!
//! `/v1/completions` answers in the legacy shape vLLM serves, with `echo` and
//! `logprobs`: the prompt is split by [`fake_tokens`] and each token's logprob
//! is [`fake_logprob`] of its text (the first prompt token's is null, as in the
//! OpenAI API); one generated token ([`GENERATED`]) follows. `text_offset`
//! counts characters, like vLLM. Faults apply to both endpoints; `Empty` and
//! `Malformed` on completions mean no choices and a null logprob on the last
//! prompt token.

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
    state: Arc<Mutex<State>>,
}

/// What the server remembers between requests.
#[derive(Debug, Default)]
struct State {
    /// The latest request's body.
    last: serde_json::Value,
    /// Every chat request's body, in arrival order.
    chats: Vec<serde_json::Value>,
    /// The previous chat prompt's tokens (the "slot cache").
    slot: Vec<String>,
    /// See [`FakeLlm::strip_bos`].
    bos: Option<String>,
    /// See [`FakeLlm::reject_response_format`].
    reject_schema: bool,
    /// See [`FakeLlm::delay`].
    delay: Duration,
    /// Requests being answered now, and the most at once.
    in_flight: usize,
    max_in_flight: usize,
    /// Completions prompts as they arrived (`true`) and as their answers left.
    completion_events: Vec<(bool, String)>,
}

impl FakeLlm {
    /// Starts a server on an ephemeral loopback port; it lives as long as the process.
    pub fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let addr = listener.local_addr().expect("local addr");
        let faults: Arc<Mutex<VecDeque<Fault>>> = Arc::default();
        let requests = Arc::new(AtomicUsize::new(0));
        let state: Arc<Mutex<State>> = Arc::default();
        let (f, r, l) = (Arc::clone(&faults), Arc::clone(&requests), Arc::clone(&state));
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (f, r, l) = (Arc::clone(&f), Arc::clone(&r), Arc::clone(&l));
                std::thread::spawn(move || handle(stream, &f, &r, &l));
            }
        });
        Self {
            addr,
            faults,
            requests,
            state,
        }
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

    /// The JSON body of the latest request (`null` before any).
    pub fn last_request(&self) -> serde_json::Value {
        self.state.lock().expect("lock").last.clone()
    }

    /// Every chat request's body so far, in arrival order.
    pub fn chat_requests(&self) -> Vec<serde_json::Value> {
        self.state.lock().expect("lock").chats.clone()
    }

    /// Answers a chat request that carries `response_format` with a 400, as a
    /// server that does not support structured output does.
    pub fn reject_response_format(&self) {
        self.state.lock().expect("lock").reject_schema = true;
    }

    /// Holds every answer this long (requests then overlap).
    pub fn delay(&self, d: Duration) {
        self.state.lock().expect("lock").delay = d;
    }

    /// Every completions request's prompt when it arrived (`true`) and when
    /// its answer left (`false`), in that order: what a server's prefix cache
    /// could have held for each request.
    pub fn completion_events(&self) -> Vec<(bool, String)> {
        self.state.lock().expect("lock").completion_events.clone()
    }

    /// The most requests the server was answering at once.
    pub fn max_in_flight(&self) -> usize {
        self.state.lock().expect("lock").max_in_flight
    }

    /// Answers completions like llama-cpp-python for a model whose BOS token
    /// is `bos`: a prompt starting with that text is tokenized without it and
    /// the offsets count from after it (vLLM counts from the prompt's start).
    pub fn strip_bos(&self, bos: &str) {
        self.state.lock().expect("lock").bos = Some(bos.to_owned());
    }
}

/// The fake tokenization of `/v1/completions`: a token ends before whitespace
/// that follows non-whitespace, or after 4 characters. A character outside the
/// Basic Multilingual Plane (an emoji …) is preceded by a token with empty text
/// that stands for its first bytes, as byte-level tokenizers split such
/// characters (its span is empty, the next token completes the character).
pub fn fake_tokens(text: &str) -> Vec<String> {
    let mut tokens: Vec<String> = Vec::new();
    let mut current = String::new();
    for c in text.chars() {
        let boundary = current.chars().count() >= 4
            || (c.is_whitespace() && current.chars().last().is_some_and(|p| !p.is_whitespace()));
        if boundary || (u32::from(c) > 0xFFFF && !current.is_empty()) {
            tokens.push(std::mem::take(&mut current));
        }
        if u32::from(c) > 0xFFFF {
            tokens.push(String::new());
        }
        current.push(c);
    }
    if !current.is_empty() {
        tokens.push(current);
    }
    tokens
}

/// The fake logprob of a token: a deterministic function of its text, in
/// [-5.234375, -0.25], a multiple of 1/64 (exact in JSON both ways).
pub fn fake_logprob(token: &str) -> f64 {
    let h = token.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    -((16 + h % 320) as f64) / 64.0
}

/// The token `/v1/completions` generates after the prompt.
pub const GENERATED: &str = " gen";

fn handle(stream: TcpStream, faults: &Mutex<VecDeque<Fault>>, requests: &AtomicUsize, state: &Mutex<State>) {
    let mut reader = BufReader::new(match stream.try_clone() {
        Ok(s) => s,
        Err(_) => return,
    });
    let mut length = 0usize;
    let mut line = String::new();
    if reader.read_line(&mut line).unwrap_or(0) == 0 {
        return;
    }
    // "POST /v1/completions HTTP/1.1"
    let completions = line
        .split_whitespace()
        .nth(1)
        .is_some_and(|p| p.ends_with("/completions") && !p.ends_with("/chat/completions"));
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
    let structured = request.get("response_format").is_some();
    let (bos, reject, delay, cached, prompt_tokens) = match state.lock() {
        Ok(mut st) => {
            st.last = request.clone();
            st.in_flight += 1;
            st.max_in_flight = st.max_in_flight.max(st.in_flight);
            let (mut cached, mut n) = (0, 0);
            if completions {
                let prompt = request["prompt"].as_str().unwrap_or_default().to_owned();
                st.completion_events.push((true, prompt));
            } else {
                st.chats.push(request.clone());
                let tokens = chat_tokens(&request);
                cached = tokens.iter().zip(&st.slot).take_while(|(a, b)| a == b).count();
                // Like llama.cpp: the last prompt token is always evaluated.
                cached = cached.min(tokens.len().saturating_sub(1));
                n = tokens.len();
                st.slot = tokens;
            }
            (st.bos.clone(), st.reject_schema && structured, st.delay, cached, n)
        }
        Err(_) => (None, false, Duration::ZERO, 0, 0),
    };
    std::thread::sleep(delay);
    // An answer leaves the count before it is written: the client may send
    // its next request as soon as it has read this one.
    let prompt = completions.then(|| request["prompt"].as_str().unwrap_or_default().to_owned());
    let mut leave = Some(Leave(state, prompt));
    let mut respond = |out: &mut TcpStream, status: u16, body: &str| {
        leave.take();
        respond(out, status, body)
    };
    let usage = serde_json::json!({
        "prompt_tokens": prompt_tokens, "completion_tokens": 7, "total_tokens": prompt_tokens + 7,
        "prompt_tokens_details": {"cached_tokens": cached},
    });
    if reject && fault.is_none() {
        let err = r#"{"error":{"message":"unsupported parameter: response_format","type":"invalid_request_error","param":"response_format","code":null}}"#;
        respond(&mut out, 400, err);
        return;
    }
    match fault {
        Some(Fault::Status(code)) => {
            let err = r#"{"error":{"message":"injected failure","type":"server_error","param":null,"code":null}}"#;
            respond(&mut out, code, err);
        }
        Some(Fault::Garbage) => respond(&mut out, 200, "<html>not json at all"),
        Some(Fault::Drop) => {}
        Some(Fault::Hang(d)) => std::thread::sleep(d),
        Some(Fault::Empty) if completions => respond(
            &mut out,
            200,
            r#"{"id":"cmpl-test","object":"text_completion","created":0,"choices":[]}"#,
        ),
        Some(Fault::Malformed) if completions => {
            respond(&mut out, 200, &text_completion(&request, bos.as_deref(), true))
        }
        None if completions => respond(&mut out, 200, &text_completion(&request, bos.as_deref(), false)),
        Some(Fault::Empty) => respond(&mut out, 200, &completion(&request, "", &usage)),
        Some(Fault::Malformed) => respond(&mut out, 200, &completion(&request, "ok", &usage)),
        None => respond(&mut out, 200, &completion(&request, &answer(&request), &usage)),
    }
}

/// Marks the end of an answer (for the in-flight count and, with a
/// completions prompt, the completion events).
struct Leave<'a>(&'a Mutex<State>, Option<String>);

impl Drop for Leave<'_> {
    fn drop(&mut self) {
        if let Ok(mut st) = self.0.lock() {
            st.in_flight -= 1;
            if let Some(prompt) = self.1.take() {
                st.completion_events.push((false, prompt));
            }
        }
    }
}

/// A chat request's prompt as fake tokens: each message's role and content.
fn chat_tokens(request: &serde_json::Value) -> Vec<String> {
    let mut text = String::new();
    for m in request["messages"].as_array().into_iter().flatten() {
        text.push_str(m["role"].as_str().unwrap_or(""));
        text.push('\n');
        text.push_str(m["content"].as_str().unwrap_or(""));
        text.push('\n');
    }
    fake_tokens(&text)
}

/// A legacy completions answer; `null_last` nulls the last prompt token's logprob.
fn text_completion(request: &serde_json::Value, bos: Option<&str>, null_last: bool) -> String {
    let full = request["prompt"].as_str().unwrap_or("");
    let prompt = bos.and_then(|b| full.strip_prefix(b)).unwrap_or(full);
    let echo = request["echo"].as_bool().unwrap_or(false);
    let mut tokens = if echo { fake_tokens(prompt) } else { Vec::new() };
    let prompt_tokens = fake_tokens(prompt).len();
    let mut logprobs: Vec<Option<f64>> = tokens.iter().map(|t| Some(fake_logprob(t))).collect();
    if let Some(first) = logprobs.first_mut() {
        *first = None;
    }
    if null_last && let Some(l) = logprobs.last_mut() {
        *l = None;
    }
    tokens.push(GENERATED.to_owned());
    logprobs.push(Some(fake_logprob(GENERATED)));
    let mut offsets = Vec::with_capacity(tokens.len());
    let mut at = if echo { 0 } else { prompt.chars().count() };
    for t in &tokens {
        offsets.push(at);
        at += t.chars().count();
    }
    let top: Vec<serde_json::Value> = tokens
        .iter()
        .zip(&logprobs)
        .map(|(t, l)| l.map_or(serde_json::Value::Null, |l| serde_json::json!({ t.as_str(): l })))
        .collect();
    let text = if echo {
        format!("{full}{GENERATED}")
    } else {
        GENERATED.to_owned()
    };
    serde_json::json!({
        "id": "cmpl-test",
        "object": "text_completion",
        "created": 0,
        "model": request["model"],
        "choices": [{
            "index": 0,
            "text": text,
            "logprobs": {"tokens": tokens, "token_logprobs": logprobs, "text_offset": offsets, "top_logprobs": top},
            "finish_reason": "length"
        }],
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": 1, "total_tokens": prompt_tokens + 1}
    })
    .to_string()
}

fn completion(request: &serde_json::Value, content: &str, usage: &serde_json::Value) -> String {
    serde_json::json!({
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "created": 0,
        "model": request["model"],
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
        "usage": usage
    })
    .to_string()
}

fn answer(request: &serde_json::Value) -> String {
    let user = request["messages"][1]["content"].as_str().unwrap_or("");
    let schema = &request["response_format"]["json_schema"]["schema"];
    if user.contains("Task (main agent)") {
        // The files: the schema's when structured, else the prompt's list.
        let files: Vec<String> = match schema["properties"]["steps"]["prefixItems"].as_array() {
            Some(steps) => steps
                .iter()
                .filter_map(|s| s["properties"]["path"]["const"].as_str().map(str::to_owned))
                .collect(),
            None => user
                .split("Files:\n")
                .nth(1)
                .unwrap_or("")
                .lines()
                .take_while(|l| l.starts_with("- "))
                .map(|l| l[2..].to_owned())
                .collect(),
        };
        let mut plan: Vec<serde_json::Value> = files
            .iter()
            .map(|p| serde_json::json!({"path": p, "purpose": format!("serves {p}")}))
            .collect();
        let body = if schema.is_object() {
            serde_json::json!({"requirements": "A fake model's requirements.", "steps": plan})
        } else {
            plan.push(serde_json::json!({"path": "ghost.py", "purpose": "a file the model made up"}));
            serde_json::json!({"requirements": "A fake model's requirements.", "plan": plan})
        };
        return if schema.is_object() {
            body.to_string()
        } else {
            format!("Here is the plan:\n```json\n{body}\n```")
        };
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
