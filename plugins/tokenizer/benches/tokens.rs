//! Tokens per second of the token stage (tokenize per segment → roles masker →
//! pack to 65,536 → MDS shards on disk) against tokenizing the same text alone
//! (with the tokenizer's own `encode`, and through the exact fast path: native
//! split and word cache, a fresh cache every iteration), on real code: every `.rs` file of a few crate sources cargo downloaded,
//! one document per crate, a path header (markup) and the file (code) per file.
//! The tokenizer is Llama 3's when `scripts/assets llama3-tokenizer` has fetched
//! it, else a BPE trained on the corpus.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use repo2agent_core::model::{Role, Segment};
use repo2agent_core::shard::{Compression, LastSequence, PackConfig, ShardSink, SinkConfig};
use repo2agent_core::stage::{TokenEncoder, Tokenizer};
use repo2agent_maskers::{RolesMasker, RolesMaskerConfig};
use repo2agent_tokenizer::{BpeTokenizer, BpeTokenizerConfig, HfTokenizer, HfTokenizerConfig};
use std::path::{Path, PathBuf};

const CRATES: [&str; 6] = [
    "serde_json-",
    "tokenizers-",
    "petgraph-",
    "regex-syntax-",
    "toml-",
    "ignore-",
];

fn documents() -> Vec<Vec<Segment>> {
    let home = std::env::var("CARGO_HOME").unwrap_or_else(|_| format!("{}/.cargo", std::env::var("HOME").unwrap()));
    let mut dirs: Vec<PathBuf> = Vec::new();
    for index in std::fs::read_dir(Path::new(&home).join("registry/src"))
        .unwrap()
        .flatten()
    {
        for e in std::fs::read_dir(index.path()).unwrap().flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if CRATES
                .iter()
                .any(|c| name.starts_with(c) && name[c.len()..].starts_with(|ch: char| ch.is_ascii_digit()))
            {
                dirs.push(e.path());
            }
        }
    }
    dirs.sort();
    dirs.iter()
        .map(|d| {
            let mut files = Vec::new();
            walk(d, &mut files);
            files.sort();
            let mut segs = Vec::new();
            for f in files {
                let Ok(text) = std::fs::read_to_string(&f) else {
                    continue;
                };
                segs.push(Segment {
                    text: format!("<file_sep>{}\n", f.strip_prefix(d).unwrap().display()),
                    role: Role::Markup,
                });
                segs.push(Segment { text, role: Role::Code });
            }
            segs
        })
        .collect()
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            walk(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

fn encoder(docs: &[Vec<Segment>], fast: bool) -> Box<dyn TokenEncoder> {
    let special = vec!["<file_sep>".to_owned()];
    let cache = std::env::var("HOME").map(|h| PathBuf::from(h).join(".cache/repo2agent/assets/llama3/tokenizer.json"));
    match cache {
        Ok(p) if p.is_file() => {
            let c = HfTokenizerConfig {
                path: p,
                bos: "auto".into(),
                eos: "auto".into(),
                pad: "auto".into(),
                fast,
            };
            HfTokenizer::new(c).unwrap().prepare(&special, None).unwrap()
        }
        _ => {
            let mut corpus = docs
                .iter()
                .map(|d| d.iter().map(|s| s.text.as_str()).collect::<String>());
            BpeTokenizer::new(BpeTokenizerConfig {
                fast,
                ..Default::default()
            })
            .unwrap()
            .prepare(&special, Some(&mut corpus))
            .unwrap()
        }
    }
}

fn bench(c: &mut Criterion) {
    let docs = documents();
    let texts: Vec<String> = docs
        .iter()
        .map(|d| d.iter().map(|s| s.text.as_str()).collect())
        .collect();
    let bytes: usize = texts.iter().map(String::len).sum();
    // Leaked once so every iteration's sink can borrow it as 'static.
    let enc: &'static dyn TokenEncoder = Box::leak(encoder(&docs, true));
    let plain = encoder(&docs, false);
    let tokens: usize = texts.iter().map(|t| enc.encode(t).unwrap().len()).sum();
    eprintln!(
        "corpus: {} documents, {:.1} MB, {tokens} tokens ({} tokenizer, vocab {})",
        docs.len(),
        bytes as f64 / 1e6,
        enc.info().kind,
        enc.info().vocab_size
    );
    let masker = RolesMasker::new(RolesMaskerConfig::default()).unwrap();
    let mut g = c.benchmark_group("tokens");
    g.sample_size(10);
    g.throughput(Throughput::Elements(tokens as u64));
    g.bench_function("tokenize_text_alone_encode", |b| {
        b.iter(|| texts.iter().map(|t| plain.encode(t).unwrap().len()).sum::<usize>())
    });
    // A fresh encoder per iteration (not timed): its word cache starts empty.
    g.bench_function("tokenize_text_alone_fast_path", |b| {
        b.iter_batched(
            || encoder(&docs, true),
            |fresh| texts.iter().map(|t| fresh.encode(t).unwrap().len()).sum::<usize>(),
            BatchSize::PerIteration,
        )
    });
    let tmp = tempfile::tempdir().unwrap();
    // Raw shards, and zstd-compressed ones (`output.shard_compression`).
    for (name, compression) in [
        ("tokenize_mask_pack_write", Compression::None),
        ("tokenize_mask_pack_write_zstd", Compression::Zstd(None)),
    ] {
        g.bench_function(name, |b| {
            b.iter(|| {
                let cfg = SinkConfig {
                    dir: tmp.path().join(name),
                    pack: PackConfig {
                        seq_len: 65_536,
                        window: 8,
                        last: LastSequence::Pad,
                        pad_id: 0,
                    },
                    size_limit: 1 << 26,
                    compression,
                    masker: "roles".into(),
                    seed: 0,
                };
                let boxed: Box<dyn TokenEncoder> = Box::new(Shared(enc));
                let mut sink = ShardSink::new(cfg, boxed, &masker).unwrap();
                for d in &docs {
                    sink.push(d).unwrap();
                }
                sink.finish().unwrap().stats.tokens
            })
        });
        // (Absent when a filter skipped this benchmark.)
        if let Ok(dir) = std::fs::read_dir(tmp.path().join(name)) {
            let bytes: u64 = dir
                .filter_map(Result::ok)
                .filter(|e| e.file_name().to_string_lossy().starts_with("shard."))
                .filter_map(|e| e.metadata().ok())
                .map(|m| m.len())
                .sum();
            eprintln!("{name}: shard files {:.1} MB on disk", bytes as f64 / 1e6);
        }
    }
    g.finish();
}

/// The prepared encoder, shared by every iteration instead of re-loaded.
struct Shared(&'static dyn TokenEncoder);

impl TokenEncoder for Shared {
    fn info(&self) -> &repo2agent_core::stage::TokenizerInfo {
        self.0.info()
    }
    fn encode(&self, text: &str) -> Result<Vec<u32>, repo2agent_core::StageError> {
        self.0.encode(text)
    }
    fn decode(&self, ids: &[u32]) -> Result<String, repo2agent_core::StageError> {
        self.0.decode(ids)
    }
    fn to_json(&self) -> Result<String, repo2agent_core::StageError> {
        self.0.to_json()
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
