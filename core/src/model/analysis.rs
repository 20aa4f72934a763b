use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::visit::EdgeRef;
use repo2agent_plugin_types::RepoSnapshot;
use repo2agent_plugin_types::{FileId, FileOutline};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::BTreeMap;

/// Where an import leads.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "files", rename_all = "snake_case")]
pub enum ImportTarget {
    /// Files of the same repository (a Go package or a Java wildcard import may be several).
    Files(Vec<FileId>),
    /// Outside the repository (standard library, third-party package); no edge.
    External,
    /// Looks local but matches no file of the repository.
    Unresolved,
}

/// Where in the importing file an edge comes from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportSite {
    /// The import as written.
    pub raw: String,
    /// Its line, 1-based.
    pub line: u32,
}

/// "A imports B" between files of one repository, on petgraph.
///
/// Nodes are [`FileId`]s (one per file, added in id order); an edge `a → b` carries
/// every import site in `a` that resolved to `b`. Serialized as sorted node and
/// edge lists so the JSON is deterministic.
#[derive(Clone, Debug, Default)]
pub struct DependencyGraph {
    graph: DiGraph<FileId, Vec<ImportSite>>,
    nodes: BTreeMap<FileId, NodeIndex>,
}

impl DependencyGraph {
    /// A graph with one node per file of `snapshot` and no edges.
    pub fn for_snapshot(snapshot: &RepoSnapshot) -> Self {
        let mut g = Self::default();
        for f in &snapshot.files {
            g.add_file(f.id);
        }
        g
    }

    /// Adds a node (idempotent).
    pub fn add_file(&mut self, id: FileId) -> NodeIndex {
        *self.nodes.entry(id).or_insert_with(|| self.graph.add_node(id))
    }

    /// Records that `from` imports `to` at `site` (self-imports are ignored).
    pub fn add_import(&mut self, from: FileId, to: FileId, site: ImportSite) {
        if from == to {
            return;
        }
        let (a, b) = (self.add_file(from), self.add_file(to));
        match self.graph.find_edge(a, b) {
            Some(e) => self.graph[e].push(site),
            None => {
                self.graph.add_edge(a, b, vec![site]);
            }
        }
    }

    /// The petgraph graph, for algorithms (SCCs, toposort).
    pub fn graph(&self) -> &DiGraph<FileId, Vec<ImportSite>> {
        &self.graph
    }

    /// The node of a file.
    pub fn node(&self, id: FileId) -> Option<NodeIndex> {
        self.nodes.get(&id).copied()
    }

    /// Files that `id` imports, sorted.
    pub fn dependencies(&self, id: FileId) -> Vec<FileId> {
        self.neighbors(id, petgraph::Direction::Outgoing)
    }

    /// Files that import `id`, sorted.
    pub fn dependents(&self, id: FileId) -> Vec<FileId> {
        self.neighbors(id, petgraph::Direction::Incoming)
    }

    /// What `id` imports: each target with its import sites, sorted by target.
    pub fn imports_of(&self, id: FileId) -> Vec<(FileId, &[ImportSite])> {
        let Some(n) = self.node(id) else { return Vec::new() };
        let mut v: Vec<(FileId, &[ImportSite])> = self
            .graph
            .edges(n)
            .map(|e| (self.graph[e.target()], e.weight().as_slice()))
            .collect();
        v.sort_by_key(|(t, _)| *t);
        v
    }

    fn neighbors(&self, id: FileId, dir: petgraph::Direction) -> Vec<FileId> {
        let Some(n) = self.node(id) else {
            return Vec::new();
        };
        let mut v: Vec<FileId> = self.graph.neighbors_directed(n, dir).map(|m| self.graph[m]).collect();
        v.sort();
        v.dedup();
        v
    }

    /// Every edge as `(from, to, sites)`, sorted by `(from, to)`.
    pub fn edges(&self) -> Vec<(FileId, FileId, &[ImportSite])> {
        let mut v: Vec<_> = self
            .graph
            .edge_references()
            .map(|e| (self.graph[e.source()], self.graph[e.target()], e.weight().as_slice()))
            .collect();
        v.sort_by_key(|(a, b, _)| (*a, *b));
        v
    }

    /// Number of edges.
    pub fn edge_count(&self) -> usize {
        self.graph.edge_count()
    }
}

#[derive(Serialize, Deserialize)]
struct GraphRepr {
    nodes: Vec<FileId>,
    edges: Vec<EdgeRepr>,
}

#[derive(Serialize, Deserialize)]
struct EdgeRepr {
    from: FileId,
    to: FileId,
    sites: Vec<ImportSite>,
}

impl Serialize for DependencyGraph {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        GraphRepr {
            nodes: self.nodes.keys().copied().collect(),
            edges: self
                .edges()
                .into_iter()
                .map(|(from, to, sites)| EdgeRepr {
                    from,
                    to,
                    sites: sites.to_vec(),
                })
                .collect(),
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for DependencyGraph {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let repr = GraphRepr::deserialize(d)?;
        let mut g = DependencyGraph::default();
        for n in repr.nodes {
            g.add_file(n);
        }
        for e in repr.edges {
            for site in e.sites {
                g.add_import(e.from, e.to, site);
            }
        }
        Ok(g)
    }
}

/// The repository's directory tree, rendered for prompts and plans.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileTree {
    /// Every kept file path, sorted.
    pub paths: Vec<String>,
}

impl FileTree {
    /// The tree of a snapshot.
    pub fn of(snapshot: &RepoSnapshot) -> Self {
        Self {
            paths: snapshot.files.iter().map(|f| f.path.clone()).collect(),
        }
    }

    /// An indented rendering: directories end with `/`, children indented two spaces.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let mut open: Vec<&str> = Vec::new();
        for path in &self.paths {
            let parts: Vec<&str> = path.split('/').collect();
            let (dirs, file) = parts.split_at(parts.len() - 1);
            let common = open.iter().zip(dirs).take_while(|(a, b)| a == b).count();
            open.truncate(common);
            for d in &dirs[common..] {
                out.push_str(&"  ".repeat(open.len()));
                out.push_str(d);
                out.push_str("/\n");
                open.push(d);
            }
            out.push_str(&"  ".repeat(open.len()));
            out.push_str(file[0]);
            out.push('\n');
        }
        out
    }
}

/// Ground truth for one repository: tree, dependency graph and outlines.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Analysis {
    /// The file tree.
    pub tree: FileTree,
    /// Cross-file imports.
    pub graph: DependencyGraph,
    /// Outline of every file an analyzer handled.
    pub outlines: BTreeMap<FileId, FileOutline>,
    /// Every file, dependencies first (see [`crate::order`]).
    pub order: Vec<FileId>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn site(raw: &str) -> ImportSite {
        ImportSite {
            raw: raw.into(),
            line: 1,
        }
    }

    #[test]
    fn graph_merges_sites_ignores_self_edges_and_round_trips() {
        let mut g = DependencyGraph::default();
        for i in 0..3 {
            g.add_file(FileId(i));
        }
        g.add_import(FileId(2), FileId(0), site("a"));
        g.add_import(FileId(2), FileId(0), site("a2"));
        g.add_import(FileId(1), FileId(0), site("a"));
        g.add_import(FileId(1), FileId(1), site("self"));
        assert_eq!(g.edge_count(), 2);
        assert_eq!(g.dependencies(FileId(2)), vec![FileId(0)]);
        assert_eq!(g.dependents(FileId(0)), vec![FileId(1), FileId(2)]);
        let json = serde_json::to_string(&g).unwrap();
        assert_eq!(
            json,
            r#"{"nodes":[0,1,2],"edges":[{"from":1,"to":0,"sites":[{"raw":"a","line":1}]},{"from":2,"to":0,"sites":[{"raw":"a","line":1},{"raw":"a2","line":1}]}]}"#
        );
        let back: DependencyGraph = serde_json::from_str(&json).unwrap();
        assert_eq!(serde_json::to_string(&back).unwrap(), json);
    }

    #[test]
    fn tree_renders_nested_directories_once() {
        let t = FileTree {
            paths: vec![
                "README.md".into(),
                "src/a/x.rs".into(),
                "src/a/y.rs".into(),
                "src/b.rs".into(),
            ],
        };
        assert_eq!(t.render(), "README.md\nsrc/\n  a/\n    x.rs\n    y.rs\n  b.rs\n");
    }
}
