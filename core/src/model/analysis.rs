use super::snapshot::{FileId, RepoSnapshot};
use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::visit::EdgeRef;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::BTreeMap;

/// Byte and line range of a piece of a file (bytes half-open, lines 1-based inclusive).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TextSpan {
    /// First byte.
    pub start_byte: usize,
    /// One past the last byte.
    pub end_byte: usize,
    /// First line, 1-based.
    pub start_line: u32,
    /// Last line, 1-based, inclusive.
    pub end_line: u32,
}

/// What kind of declaration a [`Symbol`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SymbolKind {
    /// A class.
    Class,
    /// A struct or record.
    Struct,
    /// An enum.
    Enum,
    /// A trait.
    Trait,
    /// An interface or protocol.
    Interface,
    /// A free function.
    Function,
    /// A function inside a class, impl or interface.
    Method,
    /// A constant or static.
    Constant,
    /// A module-level variable.
    Variable,
    /// A type alias or typedef.
    TypeAlias,
    /// A module or namespace.
    Module,
    /// A macro.
    Macro,
    /// An impl block or similar container.
    Impl,
    /// A field of a struct or class.
    Field,
}

impl SymbolKind {
    /// The name used in JSON and renderings (`type_alias`, `method` …).
    pub fn name(self) -> &'static str {
        match self {
            SymbolKind::Class => "class",
            SymbolKind::Struct => "struct",
            SymbolKind::Enum => "enum",
            SymbolKind::Trait => "trait",
            SymbolKind::Interface => "interface",
            SymbolKind::Function => "function",
            SymbolKind::Method => "method",
            SymbolKind::Constant => "constant",
            SymbolKind::Variable => "variable",
            SymbolKind::TypeAlias => "type_alias",
            SymbolKind::Module => "module",
            SymbolKind::Macro => "macro",
            SymbolKind::Impl => "impl",
            SymbolKind::Field => "field",
        }
    }
}

/// One declaration in a file's outline.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Symbol {
    /// Kind of declaration.
    pub kind: SymbolKind,
    /// Declared name.
    pub name: String,
    /// The declaration's header as written (up to the body), whitespace-normalised.
    pub signature: String,
    /// Doc comment or docstring, without comment markers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub doc: Option<String>,
    /// Where it is.
    pub span: TextSpan,
    /// Nested declarations (methods of a class, items of a module).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub children: Vec<Symbol>,
}

/// An import as written in a file, before resolution.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Import {
    /// The imported module / path / include as written (`os.path`, `./util`, `"a.h"` → `a.h`).
    pub raw: String,
    /// Line of the import, 1-based.
    pub line: u32,
}

/// How a file refers to a name it does not declare there.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReferenceKind {
    /// Called: `f(x)`, `obj.f(x)`, `Type::f(x)`, `f!(x)`.
    Call,
    /// An attribute or field read or written: `obj.attr`.
    Attribute,
    /// A module, type or value named: `json` in `json.dumps`, `User` in `User(...)`.
    Reference,
    /// An exception raised or thrown.
    Raise,
    /// An exception caught.
    Handle,
}

impl ReferenceKind {
    /// The kind's name (as in the query captures and JSON).
    pub fn name(self) -> &'static str {
        match self {
            ReferenceKind::Call => "call",
            ReferenceKind::Attribute => "attribute",
            ReferenceKind::Reference => "reference",
            ReferenceKind::Raise => "raise",
            ReferenceKind::Handle => "handle",
        }
    }
}

/// A name a file uses (from the language's `references` query): each
/// (kind, name) once, at its first line.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reference {
    /// How it is used.
    pub kind: ReferenceKind,
    /// The name as written (the last segment of a path or attribute chain).
    pub name: String,
    /// First line it is used on, 1-based.
    pub line: u32,
    /// How many times it is used so.
    pub count: u32,
}

/// A file's structure: its declarations, its raw imports and the names it uses.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileOutline {
    /// Top-level declarations, in file order, with nesting.
    pub symbols: Vec<Symbol>,
    /// Imports, in file order.
    pub imports: Vec<Import>,
    /// Names used (calls, attributes, raised and caught errors), in order of
    /// first use; empty for a language without a references query.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub references: Vec<Reference>,
}

impl FileOutline {
    /// Number of symbols including nested ones.
    pub fn symbol_count(&self) -> usize {
        fn count(s: &[Symbol]) -> usize {
            s.iter().map(|x| 1 + count(&x.children)).sum()
        }
        count(&self.symbols)
    }
}

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
    fn symbol_kind_names_match_their_json() {
        use SymbolKind::*;
        for k in [
            Class, Struct, Enum, Trait, Interface, Function, Method, Constant, Variable, TypeAlias, Module, Macro,
            Impl, Field,
        ] {
            assert_eq!(serde_json::to_value(k).unwrap(), k.name());
        }
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
