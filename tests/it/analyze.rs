//! The built-in analyzers on real code found on the machine: crate sources in
//! the cargo registry, Python's standard library, npm's own dependencies. No
//! panic, every file accounted for, and few unresolved local imports.

use repo2agent_core::analyze::analyze;
use repo2agent_core::config::InputConfig;
use repo2agent_core::ingest::{Ingestor, LanguageTable, expand};
use repo2agent_core::stats::{AnalysisStats, IngestStats};
use repo2agent_treesitter::names;
use std::path::PathBuf;

fn real_code_roots() -> Vec<PathBuf> {
    // linux-raw-sys is left out: its per-architecture modules are bindgen output,
    // skipped as `generated` by ingestion, so its hundreds of `#[path] mod`
    // declarations have no file to resolve to and would swamp the ratio below.
    let mut roots: Vec<PathBuf> = repo2agent_tests::registry_crates()
        .into_iter()
        .filter(|p| {
            !p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("linux-raw-sys-"))
        })
        .step_by(5)
        .collect();
    if let Some(stdlib) = repo2agent_tests::python_stdlib() {
        roots
            .extend(["json", "email", "asyncio", "importlib", "concurrent", "xml", "unittest"].map(|p| stdlib.join(p)));
    }
    if let Some(npm) = repo2agent_tests::npm_dir() {
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
    let analyzers = repo2agent_treesitter::builtin_analyzers().unwrap();
    let table = LanguageTable::for_analyzers(&analyzers);
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
            .filter(|f| f.language.as_deref().is_some_and(|l| names().any(|n| n == l)))
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

/// A language added at run time: a tree-sitter grammar built into a shared
/// library plus query files (examples/lua.toml).
#[test]
fn a_grammar_library_adds_a_language_without_recompiling() {
    use repo2agent_tests::*;
    let tmp = tempfile::tempdir().unwrap();
    let config = example_config("lua.toml", tmp.path());
    let demo = workspace_root().join("examples/languages/lua/demo");
    let (code, out, err) = run_cli(
        tmp.path(),
        &["analyze", demo.to_str().unwrap(), "-c", config.to_str().unwrap()],
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("main.lua -> lib/util.lua"), "{out}");
    assert!(out.contains("main.lua -> lib/init.lua"), "{out}");
    assert!(
        out.contains("function greet  L5-7  local function greet(name)  — Greets someone, twice."),
        "{out}"
    );
    assert!(
        out.contains("function M.twice  L4-6  function M.twice(s)  — Repeats a string."),
        "{out}"
    );
    assert!(out.contains("method M:method"), "{out}");
    let pos = |p: &str| out.find(&format!(". {p}\n")).unwrap();
    assert!(pos("lib/util.lua") < pos("main.lua"));

    // And a whole run uses it.
    let (code, out, err) = run_cli(tmp.path(), &["run", "-c", config.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("analyzed lua: 3 files, 7 symbols, 2 imports (2 resolved"),
        "{out}"
    );
}

#[test]
fn grammar_library_errors_are_config_problems() {
    use repo2agent_tests::*;
    let tmp = tempfile::tempdir().unwrap();
    let grammar = lua_grammar();
    let base = format!(
        "[analyzers.lua]\ntype = \"tree-sitter\"\nlanguage = \"lua\"\ngrammar = {:?}\nextensions = [\"lua\"]\noutline_query = {:?}\n",
        grammar.display().to_string(),
        workspace_root()
            .join("examples/languages/lua/outline.scm")
            .display()
            .to_string()
    );
    let check = |text: &str| {
        std::fs::write(tmp.path().join("c.toml"), text).unwrap();
        run_cli(tmp.path(), &["check", "-c", "c.toml"])
    };
    let (code, _, err) = check(&format!("{base}symbol = \"tree_sitter_nope\"\n"));
    assert_eq!(code, 3);
    assert!(err.contains("has no symbol `tree_sitter_nope`"), "{err}");

    let (code, _, err) = check(&base.replace("examples/languages/lua/outline.scm", "examples/languages/lua/nope.scm"));
    assert_eq!(code, 3);
    assert!(err.contains("cannot read query file"), "{err}");

    std::fs::write(tmp.path().join("bad.scm"), "(no_such_node) @definition.function\n").unwrap();
    let bad = base.replace(
        &workspace_root()
            .join("examples/languages/lua/outline.scm")
            .display()
            .to_string(),
        &tmp.path().join("bad.scm").display().to_string(),
    );
    let (code, _, err) = check(&bad);
    assert_eq!(code, 3);
    assert!(err.contains("lua/outline.scm") && err.contains("no_such_node"), "{err}");

    // A grammar generated for an ABI this tree-sitter does not support.
    let c = tmp.path().join("old.c");
    std::fs::write(&c, "struct lang { unsigned int abi_version; };\nstatic const struct lang L = { 9 };\nconst void *tree_sitter_old(void) { return &L; }\n").unwrap();
    let so = tmp.path().join("libold.so");
    assert!(
        std::process::Command::new("cc")
            .args(["-shared", "-fPIC", "-o"])
            .arg(&so)
            .arg(&c)
            .status()
            .unwrap()
            .success()
    );
    let old = base
        .replace(
            &format!("{:?}", grammar.display().to_string()),
            &format!("{:?}", so.display().to_string()),
        )
        .replace("language = \"lua\"", "language = \"old\"");
    let (code, _, err) = check(&old);
    assert_eq!(code, 3);
    assert!(err.contains("has ABI version 9; this build supports"), "{err}");
}
