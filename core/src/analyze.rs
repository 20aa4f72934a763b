//! The analysis stage: outline every file with its language's analyzer,
//! resolve imports into the dependency graph, and order the files.

use crate::model::{Analysis, DependencyGraph, FileTree, ImportSite, ImportTarget, RepoSnapshot};
use crate::order::implementation_order;
use crate::stage::{Analyzer, ImportResolver};
use crate::stats::AnalysisStats;
use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

/// Analyzes one repository. A file whose analyzer fails (or panics) gets no
/// outline and is counted under `stats.failed`; the rest of the repository is
/// analyzed as usual. `seed` breaks ties in the implementation order.
pub fn analyze(
    snapshot: &RepoSnapshot,
    analyzers: &[Arc<dyn Analyzer>],
    seed: u64,
    stats: &mut AnalysisStats,
) -> Analysis {
    let by_language: BTreeMap<&str, &Arc<dyn Analyzer>> =
        analyzers.iter().map(|a| (a.language().name.as_str(), a)).collect();
    let mut graph = DependencyGraph::for_snapshot(snapshot);
    let mut outlines = BTreeMap::new();
    let mut resolvers: BTreeMap<&str, Box<dyn ImportResolver + '_>> = BTreeMap::new();
    for file in &snapshot.files {
        let Some(lang) = file.language.as_deref() else { continue };
        let Some(analyzer) = by_language.get(lang) else {
            continue;
        };
        let outline = match catch_unwind(AssertUnwindSafe(|| analyzer.outline(file))) {
            Ok(Ok(o)) => o,
            Ok(Err(e)) => {
                tracing::debug!("{}/{}: outline failed: {e}", snapshot.name, file.path);
                *stats.failed.entry(e.reason().to_owned()).or_default() += 1;
                continue;
            }
            Err(_) => {
                tracing::warn!("{}/{}: the {lang} analyzer panicked", snapshot.name, file.path);
                *stats.failed.entry("analyzer_panic".to_owned()).or_default() += 1;
                continue;
            }
        };
        let resolver = resolvers.entry(lang).or_insert_with(|| analyzer.resolver(snapshot));
        let ls = stats.by_language.entry(lang.to_owned()).or_default();
        ls.files += 1;
        ls.symbols += outline.symbol_count() as u64;
        ls.imports += outline.imports.len() as u64;
        for import in &outline.imports {
            match resolver.resolve(file, import) {
                ImportTarget::Files(targets) => {
                    ls.imports_resolved += 1;
                    for t in targets {
                        graph.add_import(
                            file.id,
                            t,
                            ImportSite {
                                raw: import.raw.clone(),
                                line: import.line,
                            },
                        );
                    }
                }
                ImportTarget::External => ls.imports_external += 1,
                ImportTarget::Unresolved => {
                    tracing::debug!("{}/{}: unresolved import `{}`", snapshot.name, file.path, import.raw);
                    ls.imports_unresolved += 1;
                }
            }
        }
        outlines.insert(file.id, outline);
    }
    stats.edges += graph.edge_count() as u64;
    let order = implementation_order(snapshot, &graph, seed);
    Analysis {
        tree: FileTree::of(snapshot),
        graph,
        outlines,
        order,
    }
}
