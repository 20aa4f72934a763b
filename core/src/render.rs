//! Human-readable renderings of an analysis: text (outlines, edges, order) and
//! Graphviz `dot`. Used by `repo2agent analyze` and by snapshot tests.

use crate::model::{Analysis, FileOutline, RepoSnapshot, Symbol};
use std::fmt::Write;

/// One line per symbol, indented by nesting:
/// `kind name  L3-7  signature  — first doc line`.
pub fn symbols_text(symbols: &[Symbol]) -> String {
    fn go(symbols: &[Symbol], depth: usize, out: &mut String) {
        for s in symbols {
            let indent = "  ".repeat(depth);
            let (kind, name, sig) = (s.kind.name(), &s.name, &s.signature);
            let _ = write!(
                out,
                "{indent}{kind} {name}  L{}-{}  {sig}",
                s.span.start_line, s.span.end_line
            );
            if let Some(doc) = &s.doc {
                let _ = write!(out, "  — {}", doc.lines().next().unwrap_or(""));
            }
            out.push('\n');
            go(&s.children, depth + 1, out);
        }
    }
    let mut out = String::new();
    go(symbols, 0, &mut out);
    out
}

/// The symbols ([`symbols_text`]), then the imports ([`imports_text`]).
pub fn outline_text(outline: &FileOutline) -> String {
    let mut out = symbols_text(&outline.symbols);
    out.push_str(&imports_text(outline));
    out
}

/// One line per import of `outline`: `import RAW  Lline`.
pub fn imports_text(outline: &FileOutline) -> String {
    let mut out = String::new();
    for i in &outline.imports {
        let _ = writeln!(out, "import {}  L{}", i.raw, i.line);
    }
    out
}

/// Every edge as `from -> to` with paths, sorted.
pub fn edges_text(snapshot: &RepoSnapshot, analysis: &Analysis) -> Vec<String> {
    let path = |id| snapshot.file(id).map_or("?", |f| f.path.as_str());
    let mut v: Vec<String> = analysis
        .graph
        .edges()
        .into_iter()
        .map(|(a, b, _)| format!("{} -> {}", path(a), path(b)))
        .collect();
    v.sort();
    v
}

/// The whole analysis as text: order, edges, then each outline.
pub fn analysis_text(snapshot: &RepoSnapshot, analysis: &Analysis) -> String {
    let mut out = String::new();
    let path = |id| snapshot.file(id).map_or("?", |f| f.path.as_str());
    let _ = writeln!(
        out,
        "# {} — {} files, {} edges",
        snapshot.name,
        snapshot.files.len(),
        analysis.graph.edge_count()
    );
    let _ = writeln!(out, "\n## order (dependencies first)");
    for (i, id) in analysis.order.iter().enumerate() {
        let _ = writeln!(out, "{:>4}. {}", i + 1, path(*id));
    }
    let _ = writeln!(out, "\n## edges");
    for e in edges_text(snapshot, analysis) {
        let _ = writeln!(out, "{e}");
    }
    let _ = writeln!(out, "\n## outlines");
    for (id, outline) in &analysis.outlines {
        let _ = writeln!(out, "\n### {}", path(*id));
        out.push_str(&outline_text(outline));
    }
    out
}

/// The dependency graph in Graphviz `dot`; node labels are paths, edge labels
/// the import sites, and nodes are ranked left to right in implementation order.
pub fn analysis_dot(snapshot: &RepoSnapshot, analysis: &Analysis) -> String {
    let quote = |s: &str| format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""));
    let mut out = String::new();
    let _ = writeln!(out, "digraph {} {{", quote(&snapshot.name));
    let _ = writeln!(out, "  rankdir=RL;\n  node [shape=box, fontname=\"monospace\"];");
    for (i, id) in analysis.order.iter().enumerate() {
        if let Some(f) = snapshot.file(*id) {
            let _ = writeln!(
                out,
                "  n{} [label={}, tooltip=\"order {}\"];",
                id.0,
                quote(&f.path),
                i + 1
            );
        }
    }
    for (a, b, sites) in analysis.graph.edges() {
        let label = sites.iter().map(|s| s.raw.as_str()).collect::<Vec<_>>().join(", ");
        let _ = writeln!(out, "  n{} -> n{} [label={}];", a.0, b.0, quote(&label));
    }
    out.push_str("}\n");
    out
}
