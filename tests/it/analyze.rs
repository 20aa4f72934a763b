//! The built-in analyzers on real code found on the machine: crate sources in
//! the cargo registry, Python's standard library, npm's own dependencies. No
//! panic, every file accounted for, and few unresolved local imports.

use repo2agent_core::analyze::analyze;
use repo2agent_core::config::InputConfig;
use repo2agent_core::ingest::{Ingestor, LanguageTable, expand};
use repo2agent_core::stage::Analyzer;
use repo2agent_core::stats::{AnalysisStats, IngestStats};
use repo2agent_treesitter::{NAMES, TreeSitterAnalyzer};
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub fn real_code_roots() -> Vec<PathBuf> {
    let mut roots = Vec::new();
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cargo")))
        .unwrap();
    if let Ok(indexes) = std::fs::read_dir(cargo_home.join("registry/src")) {
        for index in indexes.flatten() {
            let mut crates: Vec<_> = std::fs::read_dir(index.path())
                .unwrap()
                .flatten()
                .map(|e| e.path())
                .collect();
            crates.sort();
            roots.extend(crates.into_iter().step_by(5));
        }
    }
    if let Ok(out) = std::process::Command::new("python3")
        .args(["-c", "import sysconfig; print(sysconfig.get_paths()['stdlib'])"])
        .output()
    {
        let stdlib = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        for sub in ["json", "email", "asyncio", "importlib", "concurrent", "xml", "unittest"] {
            roots.push(stdlib.join(sub));
        }
    }
    if let Ok(out) = std::process::Command::new("npm").args(["root", "-g"]).output() {
        let npm = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()).join("npm");
        roots.push(npm.clone());
        if let Ok(deps) = std::fs::read_dir(npm.join("node_modules")) {
            let mut deps: Vec<_> = deps.flatten().map(|e| e.path()).collect();
            deps.sort();
            roots.extend(deps.into_iter().step_by(4));
        }
    }
    roots
}

#[test]
fn real_code_analyzes_without_panic_and_accounts_for_every_file() {
    let analyzers: Vec<Arc<dyn Analyzer>> = NAMES
        .iter()
        .map(|n| Arc::new(TreeSitterAnalyzer::builtin(n).unwrap().unwrap()) as Arc<dyn Analyzer>)
        .collect();
    let mut table = LanguageTable::builtin();
    for a in &analyzers {
        table.add(a.language());
    }
    let ingestor = Ingestor::new(InputConfig::default(), table);
    let mut istats = IngestStats::default();
    let inputs: Vec<String> = real_code_roots().iter().map(|r| r.display().to_string()).collect();
    let repos = expand(&inputs, &mut istats);
    assert!(repos.len() > 20, "expected real code on this machine");
    let mut stats = AnalysisStats::default();
    let mut handled = 0u64;
    for repo in &repos {
        let snapshot = ingestor.snapshot(repo, &mut istats);
        handled += snapshot
            .files
            .iter()
            .filter(|f| f.language.as_deref().is_some_and(|l| NAMES.contains(&l)))
            .count() as u64;
        let analysis = analyze(&snapshot, &analyzers, 0, &mut stats);
        assert_eq!(
            analysis.order.len(),
            snapshot.files.len(),
            "{}: every file ordered once",
            repo.name
        );
    }
    let outlined: u64 = stats.by_language.values().map(|l| l.files).sum();
    let failed: u64 = stats.failed.values().sum();
    assert_eq!(outlined + failed, handled, "every file accounted for: {stats:#?}");
    for lang in ["python", "rust", "javascript"] {
        let l = &stats.by_language[lang];
        let local = l.imports_resolved + l.imports_unresolved;
        eprintln!(
            "{lang}: {} files, {} symbols, {} imports, {} resolved, {} external, {} unresolved",
            l.files, l.symbols, l.imports, l.imports_resolved, l.imports_external, l.imports_unresolved
        );
        assert!(l.files > 20 && l.symbols > 100, "{lang}: {l:?}");
        assert!(l.imports_resolved > 20, "{lang}: {l:?}");
        assert!(
            l.imports_unresolved * 20 <= local,
            "{lang}: over 5% of local imports unresolved: {l:?}"
        );
    }
}
