//! A scripted HTTP server on 127.0.0.1 for this crate's unit tests: each
//! request takes the next [`Reply`]; with none left it answers a chat
//! completion saying "A fine thought.".

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What the server does with one request.
#[derive(Clone, Debug)]
pub enum Reply {
    /// This status with an OpenAI error body.
    Status(u16),
    /// 200 with a body that is not JSON.
    Garbage,
    /// Close the connection without answering.
    Drop,
    /// Wait this long, then close without answering.
    Hang(Duration),
}

/// The running server (it lives as long as the test process).
pub struct TestServer {
    addr: std::net::SocketAddr,
    replies: Arc<Mutex<VecDeque<Reply>>>,
    requests: Arc<AtomicUsize>,
}

impl TestServer {
    /// A server that answers with `replies`, in order.
    pub fn start(replies: impl IntoIterator<Item = Reply>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let replies = Arc::new(Mutex::new(replies.into_iter().collect::<VecDeque<_>>()));
        let requests = Arc::new(AtomicUsize::new(0));
        let (q, n) = (Arc::clone(&replies), Arc::clone(&requests));
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (q, n) = (Arc::clone(&q), Arc::clone(&n));
                std::thread::spawn(move || handle(stream, &q, &n));
            }
        });
        Self {
            addr,
            replies,
            requests,
        }
    }

    /// `http://127.0.0.1:PORT/v1`.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// Requests received so far.
    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }

    /// Queues more replies.
    pub fn push(&self, replies: impl IntoIterator<Item = Reply>) {
        self.replies.lock().unwrap().extend(replies);
    }
}

fn handle(stream: TcpStream, replies: &Mutex<VecDeque<Reply>>, requests: &AtomicUsize) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
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
    let reply = replies.lock().unwrap().pop_front();
    let mut out = stream;
    let mut respond = |status: u16, body: &str| {
        let _ = write!(
            out,
            "HTTP/1.1 {status} Scripted\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
    };
    match reply {
        Some(Reply::Status(code)) => respond(
            code,
            r#"{"error":{"message":"scripted failure","type":"server_error","param":null,"code":null}}"#,
        ),
        Some(Reply::Garbage) => respond(200, "<html>not json at all"),
        Some(Reply::Drop) => {}
        Some(Reply::Hang(d)) => std::thread::sleep(d),
        None => respond(
            200,
            &serde_json::json!({
                "id": "chatcmpl-test", "object": "chat.completion", "created": 0, "model": "m",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": "A fine thought."},
                             "finish_reason": "stop"}],
            })
            .to_string(),
        ),
    }
}
