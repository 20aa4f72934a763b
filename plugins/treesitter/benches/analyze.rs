//! Analysis throughput (MB/s of source analyzed: parse, outline, imports,
//! resolution, graph, order) on a large real tree: Python's standard library,
//! the crate sources in the cargo registry and npm's own dependencies.
//!
//! `cargo bench -p repo2agent-treesitter --bench analyze`

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use repo2agent_core::analyze::analyze;
use repo2agent_core::config::InputConfig;
use repo2agent_core::ingest::{Ingestor, LanguageTable, expand};
use repo2agent_core::model::RepoSnapshot;
use repo2agent_core::stats::{AnalysisStats, IngestStats};
use repo2agent_treesitter::names;
use std::path::{Path, PathBuf};

fn corpus() -> Vec<String> {
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
    let out = |cmd: &str, args: &[&str]| {
        std::process::Command::new(cmd)
            .args(args)
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
            .unwrap_or_default()
    };
    let stdlib = out(
        "python3",
        &["-c", "import sysconfig; print(sysconfig.get_paths()['stdlib'])"],
    );
    if !stdlib.is_empty() {
        roots.push(PathBuf::from(stdlib));
    }
    let npm = out("npm", &["root", "-g"]);
    if let Ok(deps) = std::fs::read_dir(Path::new(&npm).join("npm/node_modules")) {
        roots.extend(deps.flatten().map(|e| e.path()));
    }
    roots.sort();
    roots.iter().map(|r| r.display().to_string()).collect()
}

fn bench(c: &mut Criterion) {
    let analyzers = repo2agent_treesitter::builtin_analyzers().expect("built-in queries compile");
    let table = LanguageTable::for_analyzers(&analyzers);
    let ingestor = Ingestor::new(InputConfig::default(), table);
    let mut istats = IngestStats::default();
    let repos = expand(&corpus(), &mut istats);
    let snapshots: Vec<RepoSnapshot> = repos.iter().map(|r| ingestor.snapshot(r, &mut istats)).collect();
    let bytes: u64 = snapshots
        .iter()
        .flat_map(|s| &s.files)
        .filter(|f| f.language.as_deref().is_some_and(|l| names().any(|n| n == l)))
        .map(|f| f.text.len() as u64)
        .sum();
    let mut stats = AnalysisStats::default();
    for s in &snapshots {
        analyze(s, &analyzers, 0, &mut stats);
    }
    let files: u64 = stats.by_language.values().map(|l| l.files).sum();
    eprintln!(
        "corpus: {} repositories, {files} source files, {:.1} MB of source, {} edges",
        snapshots.len(),
        bytes as f64 / 1e6,
        stats.edges
    );
    for (lang, l) in &stats.by_language {
        eprintln!(
            "  {lang}: {} files, {} symbols, {} imports",
            l.files, l.symbols, l.imports
        );
    }
    let mut group = c.benchmark_group("analyze");
    group.sample_size(10);
    group.throughput(Throughput::Bytes(bytes));
    group.bench_function("real_code", |b| {
        b.iter(|| {
            let mut s = AnalysisStats::default();
            for snap in &snapshots {
                analyze(snap, &analyzers, 0, &mut s);
            }
            s.edges
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
