//! The "HF tokenizers alone" side of `scripts/bench_scale.py --vs-hf`: the
//! text a run wrote to its shards, encoded again by the Hugging Face
//! `tokenizers` library's own `encode` (no fast path, no reuse), timed.
//!
//!     cargo run --release -p repo2agent-tokenizer --example hf_alone -- OUT/shards [THREADS]
//!
//! Every document's tokens are decoded back to text with the `tokenizer.json`
//! saved beside the shards (not timed), then encoded one document per call on
//! THREADS threads (default 1). Prints one JSON line: `tokens` (as encoded),
//! `documents`, `bytes`, `threads`, `seconds` (encoding only, wall).

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use repo2agent_core::shard::MdsReader;
use std::path::PathBuf;
use std::time::Instant;

fn main() {
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(args.next().expect("usage: hf_alone SHARDS_DIR [THREADS]"));
    let threads: usize = args.next().map_or(1, |t| t.parse().expect("THREADS"));
    let tokenizer = tokenizers::Tokenizer::from_file(dir.join("tokenizer.json")).expect("tokenizer.json");
    let reader = MdsReader::open(&dir).expect("shards");
    let (mut tokens, mut documents, mut bytes, mut seconds) = (0usize, 0usize, 0usize, 0f64);
    for shard in 0..reader.index().shards.len() {
        let mut texts: Vec<String> = Vec::new();
        for s in reader.shard_samples(shard).expect("shard") {
            for [a, b] in s.indices {
                texts.push(
                    tokenizer
                        .decode(&s.input_ids[a as usize..b as usize], false)
                        .expect("decode"),
                );
            }
        }
        documents += texts.len();
        bytes += texts.iter().map(String::len).sum::<usize>();
        let started = Instant::now();
        let per = texts.len().div_ceil(threads.max(1)).max(1);
        tokens += std::thread::scope(|scope| {
            let handles: Vec<_> = texts
                .chunks(per)
                .map(|chunk| {
                    let t = &tokenizer;
                    scope.spawn(move || {
                        chunk
                            .iter()
                            .map(|x| t.encode_fast(x.as_str(), false).expect("encode").len())
                            .sum::<usize>()
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().expect("thread")).sum::<usize>()
        });
        seconds += started.elapsed().as_secs_f64();
    }
    println!(
        "{{\"tokens\": {tokens}, \"documents\": {documents}, \"bytes\": {bytes}, \"threads\": {threads}, \"seconds\": {seconds:.3}}}"
    );
}
