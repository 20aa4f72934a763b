//! One small hand-written repository per language with known edges: the edges
//! are asserted exactly, the outlines against snapshot files under
//! `tests/snapshots/` (rewrite them with `UPDATE_SNAPSHOTS=1` and review the diff).
#![allow(clippy::unwrap_used)]

use repo2agent_core::analyze::analyze;
use repo2agent_core::config::InputConfig;
use repo2agent_core::ingest::{Ingestor, LanguageTable, expand};
use repo2agent_core::model::{ImportTarget, RepoSnapshot};
use repo2agent_core::render::{edges_text, outline_text};
use repo2agent_core::stage::Analyzer;
use repo2agent_core::stats::{AnalysisStats, IngestStats};
use repo2agent_treesitter::TreeSitterAnalyzer;
use std::path::Path;
use std::sync::Arc;

fn analyzers() -> Vec<Arc<dyn Analyzer>> {
    repo2agent_treesitter::builtin_analyzers().unwrap()
}

fn fixture(name: &str) -> (RepoSnapshot, repo2agent_core::model::Analysis, AnalysisStats) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name);
    let analyzers = analyzers();
    let table = LanguageTable::for_analyzers(&analyzers);
    let mut istats = IngestStats::default();
    let repos = expand(&[dir.display().to_string()], &mut istats);
    let snapshot = Ingestor::new(InputConfig::default(), table).snapshot(&repos[0], &mut istats);
    let mut stats = AnalysisStats::default();
    let analysis = analyze(&snapshot, &analyzers, 0, &mut stats);
    (snapshot, analysis, stats)
}

fn check(name: &str, expected_edges: &[&str], unresolved: u64) {
    let (snapshot, analysis, stats) = fixture(name);
    assert_eq!(edges_text(&snapshot, &analysis), expected_edges, "edges of {name}");
    let total_unresolved: u64 = stats.by_language.values().map(|l| l.imports_unresolved).sum();
    assert_eq!(total_unresolved, unresolved, "unresolved imports in {name}: {stats:#?}");
    // Every file once in the order, each edge's target before its source.
    assert_eq!(analysis.order.len(), snapshot.files.len());
    for (a, b, _) in analysis.graph.edges() {
        let pos = |id| analysis.order.iter().position(|x| *x == id).unwrap();
        if !analysis.graph.dependencies(b).contains(&a) {
            assert!(pos(b) < pos(a), "{name}: dependency first");
        }
    }
    let mut snap = String::new();
    for (id, outline) in &analysis.outlines {
        snap.push_str(&format!("## {}\n", snapshot.file(*id).unwrap().path));
        snap.push_str(&outline_text(outline));
        for r in &outline.references {
            snap.push_str(&format!("uses {} {} L{} x{}\n", r.kind.name(), r.name, r.line, r.count));
        }
    }
    let file = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/snapshots")
        .join(format!("{name}.txt"));
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(&file, &snap).unwrap();
    }
    let expected = std::fs::read_to_string(&file)
        .unwrap_or_else(|_| panic!("missing snapshot {}; run with UPDATE_SNAPSHOTS=1", file.display()));
    assert_eq!(
        snap, expected,
        "outline snapshot of {name} differs (UPDATE_SNAPSHOTS=1 to accept)"
    );
}

#[test]
fn python_packages_relative_imports_src_layout_and_scripts() {
    check(
        "python",
        &[
            "scripts/tool.py -> scripts/helper.py",
            "src/app/__init__.py -> src/app/core.py",
            "src/app/core.py -> src/app/models/__init__.py",
            "src/app/core.py -> src/app/util.py",
            "src/app/models/__init__.py -> src/app/models/user.py",
            "src/app/models/user.py -> src/app/util.py",
            "tests/test_core.py -> src/app/core.py",
            "tests/test_core.py -> src/app/models/user.py",
        ],
        1,
    );
}

#[test]
fn javascript_and_typescript_extensions_index_files_package_mains_subpath_imports_and_tsconfig_paths() {
    check(
        "web",
        &[
            "src/a.ts -> src/c.ts",
            "src/components/Button.tsx -> src/types.d.ts",
            "src/components/index.tsx -> src/components/Button.tsx",
            "src/index.ts -> src/a.ts",
            "src/index.ts -> src/components/index.tsx",
            "src/index.ts -> src/lib/b.ts",
            "src/index.ts -> src/pkgdir/lib/entry.js",
            "src/index.ts -> src/util.cjs",
            "src/legacy.js -> src/a.ts",
            "src/legacy.js -> src/util.cjs",
            "src/lib/b.ts -> src/a.ts",
            "test/index.test.js -> src/pkgdir/lib/entry.js",
        ],
        1,
    );
}

#[test]
fn rust_mod_declarations_use_paths_and_workspace_crates() {
    check(
        "rust",
        &[
            "app/src/cli/mod.rs -> app/src/cli/args.rs",
            "app/src/main.rs -> app/src/cli/mod.rs",
            "app/src/main.rs -> core/src/model.rs",
            "core/src/lib.rs -> core/src/extra/special.rs",
            "core/src/lib.rs -> core/src/model.rs",
            "core/src/lib.rs -> core/src/util.rs",
            "core/src/model.rs -> core/src/model/item.rs",
            "core/src/model.rs -> core/src/util.rs",
            "core/src/model/item.rs -> core/src/util.rs",
        ],
        0,
    );
}

#[test]
fn go_packages_under_the_module_path() {
    check(
        "go",
        &[
            "handlers/h.go -> internal/store/cache.go",
            "handlers/h.go -> internal/store/store.go",
            "main.go -> handlers/h.go",
            "main.go -> handlers/missing.go",
            "main.go -> internal/store/cache.go",
            "main.go -> internal/store/store.go",
        ],
        1,
    );
}

#[test]
fn java_classes_wildcards_static_and_nested_imports() {
    check(
        "java",
        &[
            "src/main/java/com/ex/app/App.java -> src/main/java/com/ex/model/Order.java",
            "src/main/java/com/ex/app/App.java -> src/main/java/com/ex/model/User.java",
            "src/main/java/com/ex/app/App.java -> src/main/java/com/ex/util/Strings.java",
            "src/main/java/com/ex/model/User.java -> src/main/java/com/ex/util/Strings.java",
        ],
        1,
    );
}

#[test]
fn c_and_cpp_includes_relative_include_dirs_and_suffixes() {
    check(
        "c",
        &[
            "src/api.c -> include/lib/api.h",
            "src/api.c -> src/internal.h",
            "src/main.c -> include/lib/api.h",
            "tests/test.cpp -> include/lib/api.h",
            "tests/test.cpp -> src/internal.h",
        ],
        1,
    );
}

#[test]
fn external_imports_make_no_edge() {
    let (snapshot, _, _) = fixture("python");
    let analyzer = TreeSitterAnalyzer::builtin("python").unwrap().unwrap();
    let resolver = analyzer.resolver(&snapshot);
    let from = snapshot.by_path("src/app/util.py").unwrap();
    let import = |raw: &str| repo2agent_core::model::Import {
        raw: raw.into(),
        line: 1,
    };
    assert_eq!(resolver.resolve(from, &import("json")), ImportTarget::External);
    assert_eq!(
        resolver.resolve(from, &import("app.sub.nothing")),
        ImportTarget::Unresolved
    );
}

/// The references query of each kind, exactly: calls through an import,
/// attributes, raised and caught errors (Python and Java), types (Rust).
#[test]
fn references_name_calls_attributes_errors_and_types() {
    use repo2agent_core::model::{FileId, SourceFile};
    let uses = |language: &str, path: &str, text: &str| -> Vec<String> {
        let analyzer = TreeSitterAnalyzer::builtin(language).unwrap().unwrap();
        let file = SourceFile {
            id: FileId(0),
            path: path.into(),
            language: Some(language.into()),
            text: text.into(),
        };
        analyzer
            .outline(&file)
            .unwrap()
            .references
            .iter()
            .map(|r| format!("{} {} L{} x{}", r.kind.name(), r.name, r.line, r.count))
            .collect()
    };
    let python = "import store\n\ndef load(key):\n    try:\n        return store.get(key).value\n    except (KeyError, store.Missing):\n        raise LookupError(key)\n    except OSError:\n        raise\n";
    assert_eq!(
        uses("python", "a.py", python),
        [
            "reference store L5 x2",
            "call get L5 x1",
            "attribute get L5 x1",
            "handle KeyError L6 x1",
            "attribute Missing L6 x1",
            "handle Missing L6 x1",
            "call LookupError L7 x1",
            "raise LookupError L7 x1",
            "handle OSError L8 x1",
        ]
    );
    let java = "class A {\n  void f() throws Exception {\n    try { g(); } catch (IOException e) { throw new IllegalStateException(e); }\n  }\n}\n";
    let j = uses("java", "A.java", java);
    for want in [
        "call g L3 x1",
        "handle IOException L3 x1",
        "raise IllegalStateException L3 x1",
    ] {
        assert!(j.iter().any(|u| u == want), "{want} in {j:?}");
    }
    let rust = "use crate::store::Store;\nfn open() -> Store {\n    let s = Store::new();\n    s.warm();\n    s\n}\n";
    let r = uses("rust", "a.rs", rust);
    for want in ["reference Store L2 x2", "call new L3 x1", "call warm L4 x1"] {
        assert!(r.iter().any(|u| u == want), "{want} in {r:?}");
    }
}
