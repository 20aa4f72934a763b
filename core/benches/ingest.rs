//! Ingestion throughput (MB/s of text kept) on real code: the crate sources
//! cargo downloaded (`$CARGO_HOME/registry/src`) and Python's standard library.
//!
//! `cargo bench -p repo2agent-core --bench ingest`

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use repo2agent_core::config::InputConfig;
use repo2agent_core::ingest::{Ingestor, LanguageTable, RepoInput, expand};
use repo2agent_core::stats::IngestStats;
use std::path::{Path, PathBuf};

fn corpus() -> Vec<RepoInput> {
    let mut roots: Vec<PathBuf> = Vec::new();
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cargo")))
        .unwrap_or_default();
    if let Ok(indexes) = std::fs::read_dir(cargo_home.join("registry/src")) {
        for index in indexes.flatten() {
            if let Ok(crates) = std::fs::read_dir(index.path()) {
                roots.extend(crates.flatten().map(|e| e.path()));
            }
        }
    }
    if let Ok(out) = std::process::Command::new("python3")
        .args(["-c", "import sysconfig; print(sysconfig.get_paths()['stdlib'])"])
        .output()
    {
        let stdlib = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        if !stdlib.is_empty() {
            roots.push(PathBuf::from(stdlib));
        }
    }
    roots.sort();
    let inputs: Vec<String> = roots.iter().map(|r| r.display().to_string()).collect();
    expand(&inputs, &mut IngestStats::default())
}

fn bench(c: &mut Criterion) {
    let repos = corpus();
    let ingestor = Ingestor::new(InputConfig::default(), LanguageTable::builtin());
    let mut stats = IngestStats::default();
    for r in &repos {
        ingestor.snapshot(r, &mut stats);
    }
    eprintln!(
        "corpus: {} repositories, {} files kept, {:.1} MB kept, {} skipped",
        repos.len(),
        stats.files_kept,
        stats.bytes_kept as f64 / 1e6,
        stats.skipped.values().sum::<u64>()
    );
    let mut group = c.benchmark_group("ingest");
    group.sample_size(10);
    group.throughput(Throughput::Bytes(stats.bytes_kept));
    group.bench_function("real_code", |b| {
        b.iter(|| {
            let mut s = IngestStats::default();
            let mut n = 0;
            for r in &repos {
                n += ingestor.snapshot(r, &mut s).files.len();
            }
            n
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
