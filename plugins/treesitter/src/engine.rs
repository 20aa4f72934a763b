//! The query-driven analyzer: a tree-sitter grammar plus two query files make a
//! language, a third (references) adds the names each file uses (see
//! `languages/README.md` for the capture conventions).

use repo2agent_core::StageError;
use repo2agent_core::model::{FileOutline, Import, Reference, ReferenceKind, Symbol, SymbolKind, TextSpan};
use std::collections::BTreeMap;
use streaming_iterator::StreamingIterator;
use tree_sitter::{Language, Node, Parser, Query, QueryCursor};

/// A grammar with its compiled queries.
#[derive(Debug)]
pub struct Grammar {
    /// File extensions this grammar is for; empty for the language's default grammar.
    pub extensions: Vec<String>,
    language: Language,
    outline: Query,
    imports: Query,
    references: Option<Query>,
}

/// A query failed to compile against its grammar.
#[derive(Debug, thiserror::Error)]
#[error("{file}: {source}")]
pub struct QueryError {
    /// Which query file.
    pub file: String,
    /// The compiler's message (with row and column).
    pub source: tree_sitter::QueryError,
}

impl Grammar {
    /// Compiles the outline, imports and (optional) references queries for `language`.
    pub fn new(
        language: Language,
        extensions: &[&str],
        outline_src: &str,
        imports_src: &str,
        references_src: Option<&str>,
        name: &str,
    ) -> Result<Self, QueryError> {
        let outline = Query::new(&language, outline_src).map_err(|source| QueryError {
            file: format!("{name}/outline.scm"),
            source,
        })?;
        let imports = Query::new(&language, imports_src).map_err(|source| QueryError {
            file: format!("{name}/imports.scm"),
            source,
        })?;
        let references = references_src
            .map(|src| {
                Query::new(&language, src).map_err(|source| QueryError {
                    file: format!("{name}/references.scm"),
                    source,
                })
            })
            .transpose()?;
        Ok(Self {
            extensions: extensions.iter().map(|e| (*e).to_owned()).collect(),
            language,
            outline,
            imports,
            references,
        })
    }
}

/// How a language's import captures become raw import strings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImportStyle {
    /// `@path` is a string literal; quotes are removed (JS/TS, Go, plugins).
    Path,
    /// `@path` keeps its delimiters: `"x.h"` or `<x.h>` (C/C++).
    Include,
    /// `@module` (+ `@name`): `a.b`, `.rel.name`, `..pkg` (Python).
    Python,
    /// `@mod` → `mod NAME` (or `mod NAME path=P` with `#[path]`), `@use` → `use TREE` (Rust).
    Rust,
    /// `@import` → `a.b.C`, `a.b.*`, `static a.b.C.m` (Java).
    Java,
}

/// Where a language keeps documentation.
#[derive(Clone, Debug, Default)]
pub struct DocStyle {
    /// The first statement of a body may be a string literal docstring (Python).
    pub docstrings: bool,
    /// Comments directly above a declaration count as its doc when they start
    /// with one of these; empty means any comment.
    pub comment_prefixes: Vec<String>,
}

impl DocStyle {
    /// Comments with these prefixes, no docstrings.
    pub fn comments(prefixes: &[&str]) -> Self {
        Self {
            docstrings: false,
            comment_prefixes: prefixes.iter().map(|p| (*p).to_owned()).collect(),
        }
    }
}

/// Outline and import extraction for one language.
#[derive(Debug)]
pub struct Extractor {
    grammars: Vec<Grammar>,
    import_style: ImportStyle,
    doc_style: DocStyle,
}

struct Def<'t> {
    node: Node<'t>,
    kind: SymbolKind,
    name: String,
    pattern: usize,
}

const MAX_SIGNATURE: usize = 400;

/// Distinct (kind, name) references kept per file, in order of first use.
const MAX_REFERENCES: usize = 512;

/// The names a file uses, by the grammar's references query: each (kind,
/// name) once, at its first line, with its count.
fn references(grammar: &Grammar, root: Node<'_>, src: &[u8]) -> Vec<Reference> {
    let Some(query) = &grammar.references else {
        return Vec::new();
    };
    let names = query.capture_names();
    let mut out: Vec<Reference> = Vec::new();
    let mut index: std::collections::HashMap<(ReferenceKind, String), usize> = std::collections::HashMap::new();
    let mut cursor = QueryCursor::new();
    let mut captures = cursor.captures(query, root, src);
    while let Some((m, i)) = captures.next() {
        let c = m.captures()[*i];
        let kind = match names[c.index as usize] {
            "call" => ReferenceKind::Call,
            "attribute" => ReferenceKind::Attribute,
            "reference" => ReferenceKind::Reference,
            "raise" => ReferenceKind::Raise,
            "handle" => ReferenceKind::Handle,
            _ => continue,
        };
        let Ok(text) = c.node.utf8_text(src) else { continue };
        let name = text.trim();
        if name.is_empty() || name.len() > 80 || name.contains(char::is_whitespace) {
            continue;
        }
        let line = c.node.start_position().row as u32 + 1;
        match index.get(&(kind, name.to_owned())) {
            Some(&at) => out[at].count += 1,
            None if out.len() < MAX_REFERENCES => {
                index.insert((kind, name.to_owned()), out.len());
                out.push(Reference {
                    kind,
                    name: name.to_owned(),
                    line,
                    count: 1,
                });
            }
            None => {}
        }
    }
    out.sort_by_key(|r| r.line);
    out
}

impl Extractor {
    /// An extractor; `grammars[0]` is the default, the others apply by extension.
    pub fn new(grammars: Vec<Grammar>, import_style: ImportStyle, doc_style: DocStyle) -> Self {
        Self {
            grammars,
            import_style,
            doc_style,
        }
    }

    fn grammar_for(&self, path: &str) -> &Grammar {
        let ext = path
            .rsplit_once('.')
            .map(|(_, e)| e.to_ascii_lowercase())
            .unwrap_or_default();
        self.grammars
            .iter()
            .find(|g| g.extensions.contains(&ext))
            .unwrap_or(&self.grammars[0])
    }

    /// The outline of one file.
    pub fn outline(&self, path: &str, text: &str) -> Result<FileOutline, StageError> {
        let grammar = self.grammar_for(path);
        let mut parser = Parser::new();
        parser
            .set_language(&grammar.language)
            .map_err(|e| StageError::Failed(format!("grammar cannot be used: {e}")))?;
        let tree = parser
            .parse(text, None)
            .ok_or_else(|| StageError::Invalid("the parser gave up".into()))?;
        let src = text.as_bytes();
        let root = tree.root_node();

        let mut defs: BTreeMap<(usize, usize), Def<'_>> = BTreeMap::new();
        let mut cursor = QueryCursor::new();
        let names = grammar.outline.capture_names();
        let mut matches = cursor.matches(&grammar.outline, root, src);
        while let Some(m) = matches.next() {
            let mut node = None;
            let mut kind = None;
            let mut name = None;
            for c in m.captures() {
                let cname = names[c.index as usize];
                if let Some(k) = cname.strip_prefix("definition.") {
                    node = Some(c.node);
                    kind = parse_kind(k);
                } else if cname == "name" {
                    name = c.node.utf8_text(src).ok();
                }
            }
            let (Some(node), Some(kind), Some(name)) = (node, kind, name) else {
                continue;
            };
            let key = (node.start_byte(), node.end_byte());
            let def = Def {
                node,
                kind,
                name: normalize(name),
                pattern: m.pattern_index,
            };
            match defs.get(&key) {
                Some(existing) if existing.pattern <= def.pattern => {}
                _ => {
                    defs.insert(key, def);
                }
            }
        }
        let mut flat: Vec<Def<'_>> = defs.into_values().collect();
        flat.sort_by_key(|d| (d.node.start_byte(), std::cmp::Reverse(d.node.end_byte()), d.pattern));
        let symbols = self.nest(flat, src);
        let imports = self.imports(grammar, root, src);
        let references = references(grammar, root, src);
        Ok(FileOutline {
            symbols,
            imports,
            references,
        })
    }

    fn nest(&self, defs: Vec<Def<'_>>, src: &[u8]) -> Vec<Symbol> {
        let mut roots: Vec<Symbol> = Vec::new();
        let mut stack: Vec<(usize, Symbol)> = Vec::new();
        fn attach(stack: &mut [(usize, Symbol)], roots: &mut Vec<Symbol>, mut child: Symbol) {
            match stack.last_mut() {
                Some((_, parent)) => {
                    if child.kind == SymbolKind::Function
                        && matches!(
                            parent.kind,
                            SymbolKind::Class
                                | SymbolKind::Struct
                                | SymbolKind::Impl
                                | SymbolKind::Trait
                                | SymbolKind::Interface
                        )
                    {
                        child.kind = SymbolKind::Method;
                    }
                    parent.children.push(child);
                }
                None => roots.push(child),
            }
        }
        for def in defs {
            while stack.last().is_some_and(|(end, _)| *end <= def.node.start_byte()) {
                if let Some((_, done)) = stack.pop() {
                    attach(&mut stack, &mut roots, done);
                }
            }
            let symbol = self.symbol(&def, src);
            stack.push((def.node.end_byte(), symbol));
        }
        while let Some((_, done)) = stack.pop() {
            attach(&mut stack, &mut roots, done);
        }
        roots
    }

    fn symbol(&self, def: &Def<'_>, src: &[u8]) -> Symbol {
        let node = def.node;
        let mut kind = def.kind;
        if kind == SymbolKind::Variable
            && def.name.chars().any(|c| c.is_ascii_uppercase())
            && !def.name.chars().any(|c| c.is_ascii_lowercase())
        {
            kind = SymbolKind::Constant;
        }
        Symbol {
            kind,
            name: def.name.clone(),
            signature: signature(node, src),
            doc: self.doc(node, src),
            span: TextSpan {
                start_byte: node.start_byte(),
                end_byte: node.end_byte(),
                start_line: node.start_position().row as u32 + 1,
                // A node ending at column 0 (a `#define` line) ends on the previous line.
                end_line: (node.end_position().row as u32 + 1).saturating_sub(u32::from(
                    node.end_position().column == 0 && node.end_position().row > node.start_position().row,
                )),
            },
            children: Vec::new(),
        }
    }

    fn doc(&self, node: Node<'_>, src: &[u8]) -> Option<String> {
        if self.doc_style.docstrings
            && let Some(body) = node.child_by_field_name("body")
            && let Some(first) = body.named_child(0)
            && first.kind() == "expression_statement"
            && let Some(string) = first.named_child(0)
            && string.kind() == "string"
        {
            return string
                .utf8_text(src)
                .ok()
                .map(clean_docstring)
                .filter(|d| !d.is_empty());
        }
        // Climb to the node that carries the comments (decorators, `export`, `template<>`, Go's `type`).
        let mut anchor = node;
        while let Some(parent) = anchor.parent() {
            let wrapper = matches!(
                parent.kind(),
                "decorated_definition"
                    | "export_statement"
                    | "template_declaration"
                    | "type_declaration"
                    | "const_declaration"
                    | "var_declaration"
            );
            if !wrapper {
                break;
            }
            // Only when the declaration is the wrapper's first real child.
            let mut cursor = parent.walk();
            let first = parent
                .named_children(&mut cursor)
                .find(|c| !c.kind().contains("comment") && !c.kind().contains("decorator"));
            if first.is_some_and(|f| f.id() == anchor.id()) {
                anchor = parent;
            } else {
                break;
            }
        }
        let mut comments: Vec<&str> = Vec::new();
        let mut next_row = anchor.start_position().row;
        let mut sibling = anchor.prev_sibling();
        while let Some(s) = sibling {
            let k = s.kind();
            if k.contains("attribute") || k.contains("annotation") || k == "decorator" {
                next_row = s.start_position().row;
            } else if k.contains("comment") && s.end_position().row + 1 >= next_row {
                let Ok(text) = s.utf8_text(src) else { break };
                let prefixes = &self.doc_style.comment_prefixes;
                if !prefixes.is_empty() && !prefixes.iter().any(|p| text.starts_with(p.as_str())) {
                    break;
                }
                comments.push(text);
                next_row = s.start_position().row;
            } else {
                break;
            }
            sibling = s.prev_sibling();
        }
        comments.reverse();
        let doc = comments.iter().map(|c| clean_comment(c)).collect::<Vec<_>>().join("\n");
        let doc = doc.trim();
        (!doc.is_empty()).then(|| doc.to_owned())
    }

    fn imports(&self, grammar: &Grammar, root: Node<'_>, src: &[u8]) -> Vec<Import> {
        let mut out = Vec::new();
        let mut cursor = QueryCursor::new();
        let names = grammar.imports.capture_names();
        let mut matches = cursor.matches(&grammar.imports, root, src);
        while let Some(m) = matches.next() {
            let mut caps: BTreeMap<&str, Node<'_>> = BTreeMap::new();
            for c in m.captures() {
                caps.entry(names[c.index as usize]).or_insert(c.node);
            }
            let text = |k: &str| caps.get(k).and_then(|n| n.utf8_text(src).ok()).map(str::trim);
            let raw = match self.import_style {
                ImportStyle::Path => text("path").map(unquote),
                ImportStyle::Include => text("path").map(str::to_owned),
                ImportStyle::Python => text("module").map(|module| match text("name") {
                    Some(name) if module.ends_with('.') => format!("{module}{name}"),
                    Some(name) => format!("{module}.{name}"),
                    None => module.to_owned(),
                }),
                ImportStyle::Rust => {
                    if let Some(name) = text("mod") {
                        let item = caps.get("mod").and_then(|n| n.parent());
                        let path = item.and_then(|m| rust_path_attribute(m, src));
                        // `mod a { mod b; }` declares `a/b.rs`: prefix the inline modules.
                        let mut inline = Vec::new();
                        let mut up = item.and_then(|m| m.parent());
                        while let Some(n) = up {
                            if n.kind() == "mod_item"
                                && let Some(outer) = n.child_by_field_name("name").and_then(|x| x.utf8_text(src).ok())
                            {
                                inline.push(outer);
                            }
                            up = n.parent();
                        }
                        inline.reverse();
                        inline.push(name);
                        let name = inline.join("::");
                        Some(match path {
                            Some(p) => format!("mod {name} path={p}"),
                            None => format!("mod {name}"),
                        })
                    } else {
                        text("use").map(|u| format!("use {}", normalize(u)))
                    }
                }
                ImportStyle::Java => text("import").map(|t| {
                    let t = t.trim_start_matches("import").trim_end_matches(';').trim();
                    match t.strip_prefix("static") {
                        Some(rest) => format!("static {}", normalize(rest).replace(' ', "")),
                        None => normalize(t).replace(' ', ""),
                    }
                }),
            };
            let Some(raw) = raw.filter(|r| !r.is_empty()) else {
                continue;
            };
            let line = caps.values().map(|n| n.start_position().row).min().unwrap_or(0) as u32 + 1;
            out.push(Import { raw, line });
        }
        out
    }
}

fn parse_kind(k: &str) -> Option<SymbolKind> {
    Some(match k {
        "class" => SymbolKind::Class,
        "struct" => SymbolKind::Struct,
        "enum" => SymbolKind::Enum,
        "trait" => SymbolKind::Trait,
        "interface" => SymbolKind::Interface,
        "function" => SymbolKind::Function,
        "method" => SymbolKind::Method,
        "constant" => SymbolKind::Constant,
        "variable" => SymbolKind::Variable,
        "type_alias" => SymbolKind::TypeAlias,
        "module" => SymbolKind::Module,
        "macro" => SymbolKind::Macro,
        "impl" => SymbolKind::Impl,
        "field" => SymbolKind::Field,
        _ => return None,
    })
}

/// Collapses whitespace runs to one space.
fn normalize(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The declaration's header: its text up to the body, whitespace-normalised.
fn signature(node: Node<'_>, src: &[u8]) -> String {
    let end = node
        .child_by_field_name("body")
        .map_or(node.end_byte(), |b| b.start_byte());
    let text = String::from_utf8_lossy(&src[node.start_byte()..end.max(node.start_byte())]);
    let mut sig = normalize(&text);
    while sig.ends_with(['{', ':', ' ', '=']) {
        sig.pop();
    }
    if sig.len() > MAX_SIGNATURE {
        let mut cut = MAX_SIGNATURE;
        while !sig.is_char_boundary(cut) {
            cut -= 1;
        }
        sig.truncate(cut);
        sig.push('…');
    }
    sig
}

fn unquote(s: &str) -> String {
    let s = s.trim();
    for q in ['"', '\'', '`'] {
        if let Some(inner) = s.strip_prefix(q).and_then(|r| r.strip_suffix(q)) {
            return inner.to_owned();
        }
    }
    s.to_owned()
}

/// `#[path = "x.rs"]` on a `mod` item (attributes are its preceding siblings).
fn rust_path_attribute(mod_item: Node<'_>, src: &[u8]) -> Option<String> {
    let mut s = mod_item.prev_sibling();
    while let Some(n) = s {
        if n.kind() != "attribute_item" && !n.kind().contains("comment") {
            break;
        }
        // `#[path = "x.rs"]`, or inside `#[cfg_attr(cond, path = "x.rs")]` (first one wins).
        if let Ok(t) = n.utf8_text(src)
            && let Some(at) = t.find("path")
        {
            let rest = t[at + 4..].trim_start();
            if let Some(value) = rest.strip_prefix('=') {
                let value = value.trim_start();
                if let Some(inner) = value.strip_prefix('"').and_then(|v| v.split('"').next()) {
                    return Some(inner.to_owned());
                }
            }
        }
        s = n.prev_sibling();
    }
    None
}

fn clean_comment(c: &str) -> String {
    let c = c.trim();
    let c = c.strip_suffix("*/").unwrap_or(c);
    c.lines()
        .map(|l| {
            let l = l.trim();
            for p in ["///", "//!", "//", "/**", "/*!", "/*", "---", "--", "#", "*"] {
                if let Some(rest) = l.strip_prefix(p) {
                    return rest.strip_prefix(' ').unwrap_or(rest).trim_end().to_owned();
                }
            }
            l.to_owned()
        })
        .collect::<Vec<_>>()
        .join("\n")
        .trim()
        .to_owned()
}

/// A Python docstring literal to its text, dedented like `inspect.cleandoc`.
fn clean_docstring(s: &str) -> String {
    let s = s.trim_start_matches(|c: char| "rRbBuUfF".contains(c));
    let s = ["\"\"\"", "'''", "\"", "'"]
        .iter()
        .find_map(|q| s.strip_prefix(q).and_then(|r| r.strip_suffix(q)))
        .unwrap_or(s);
    let mut lines = s.lines();
    let first = lines.next().unwrap_or("").trim().to_owned();
    let rest: Vec<&str> = lines.collect();
    let indent = rest
        .iter()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.len() - l.trim_start().len())
        .min()
        .unwrap_or(0);
    let mut out = vec![first];
    out.extend(rest.iter().map(|l| l.get(indent..).unwrap_or("").trim_end().to_owned()));
    out.join("\n").trim().to_owned()
}
