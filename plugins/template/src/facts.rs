//! What one file is and holds, read off the analysis and the file's text: the
//! facts a before-writing thought is built from. Only names, signatures, the
//! first sentences of docs and counts are kept — never body code.

use crate::describe::{file_role, first_sentence, kind_name};
use repo2agent_core::model::{FileId, ReferenceKind, SourceFile, Symbol, SymbolKind};
use repo2agent_core::stage::RepoContext;
use std::collections::BTreeSet;

/// A dependency inside the repository and what the file takes from it.
#[derive(Clone, Debug)]
pub struct Dep<'a> {
    /// Its path.
    pub path: &'a str,
    /// The imports that lead to it, cleaned to module paths.
    pub via: Vec<String>,
    /// Its symbols this file names, in the dependency's order.
    pub names: Vec<&'a str>,
}

/// A declaration of the file, with what its body uses.
#[derive(Clone, Debug)]
pub struct Item<'a> {
    /// The declaration.
    pub symbol: &'a Symbol,
    /// Its methods (or, for an impl block, the functions inside).
    pub methods: Vec<&'a Symbol>,
    /// Names of the file's other declarations, its dependencies' symbols and
    /// its external modules that the body mentions, first mention first.
    pub uses: Vec<String>,
    /// Its length in lines.
    pub lines: u32,
    /// The traits a Rust item derives.
    pub derives: Vec<String>,
    /// What else is written on it: a Rust attribute's name (`inline`), a
    /// Python decorator (`@property`).
    pub marks: Vec<String>,
    /// A Rust enum's variants or a struct's fields, each its name and a short
    /// type (`Rgb(RgbColor)`, `fg: Option<Color>`).
    pub members: Vec<String>,
}

/// What a file that has no code outline is made of.
#[derive(Clone, Debug, Default)]
pub struct TextFacts {
    /// Headings of a document, in order.
    pub headings: Vec<String>,
    /// Tables or sections of a configuration file, each with its keys.
    pub sections: Vec<(String, Vec<String>)>,
    /// The license, when the file is one.
    pub license: Option<&'static str>,
    /// Who holds the copyright, when a line says.
    pub copyright: Option<String>,
    /// The package a manifest names (`name` under `[package]` or `[project]`).
    pub package: Option<String>,
    /// Words of prose.
    pub words: usize,
}

/// Everything a thought may say about one file.
#[derive(Clone, Debug)]
pub struct Facts<'a> {
    pub path: &'a str,
    pub language: Option<&'a str>,
    /// Lines of the file.
    pub lines: usize,
    /// Where it sits in the project (`the crate root`, `a test module` …).
    pub role: String,
    /// First sentence of the file's leading doc comment or docstring.
    pub doc: Option<String>,
    /// The file opens with a license or copyright header.
    pub license_header: bool,
    /// Files that import it.
    pub users: Vec<&'a str>,
    /// Files of the repository it imports.
    pub deps: Vec<Dep<'a>>,
    /// Modules it imports from outside the repository, in file order.
    pub external: Vec<String>,
    /// Every import in file order: its module path and, for one inside the
    /// repository, the file it leads to.
    pub imports: Vec<(String, Option<&'a str>)>,
    /// Declarations (not constants), in file order.
    pub items: Vec<Item<'a>>,
    /// How many of `imports` come before the first declaration (the rest are
    /// further down the file).
    pub imports_on_top: usize,
    /// Module-level constants and variables: name, and type where written.
    pub constants: Vec<String>,
    /// Errors raised / thrown.
    pub raises: Vec<&'a str>,
    /// Errors caught.
    pub handles: Vec<&'a str>,
    /// Names it calls that it does not declare, most used first.
    pub calls: Vec<&'a str>,
    /// Attributes and fields it reads or writes, most used first.
    pub attributes: Vec<&'a str>,
    /// For files without an outline.
    pub text: TextFacts,
    /// How the code is laid out: indentation and, where the language lets
    /// one choose, the quotes strings use.
    pub style: Option<String>,
}

impl<'a> Facts<'a> {
    /// The facts of file `id`, or `None` if it is not in the snapshot.
    pub fn of(repo: RepoContext<'a>, id: FileId) -> Option<Facts<'a>> {
        let file = repo.snapshot.file(id)?;
        let outline = repo.analysis.outlines.get(&id);
        let symbols: &[Symbol] = outline.map_or(&[], |o| &o.symbols);
        let references = outline.map_or(&[][..], |o| &o.references);
        let users: Vec<&str> = repo
            .analysis
            .graph
            .dependents(id)
            .iter()
            .filter_map(|u| repo.snapshot.file(*u).map(|f| f.path.as_str()))
            .collect();

        // Every name the file mentions: its references and the words of its imports.
        let mut mentioned: BTreeSet<&str> = references.iter().map(|r| r.name.as_str()).collect();
        let import_words: Vec<&str> = outline
            .map(|o| o.imports.iter().flat_map(|i| words(&i.raw)).collect())
            .unwrap_or_default();
        mentioned.extend(import_words.iter().copied());

        let mut internal_raws = BTreeSet::new();
        let mut deps = Vec::new();
        for (to, sites) in repo.analysis.graph.imports_of(id) {
            let Some(t) = repo.snapshot.file(to) else { continue };
            let mut via: Vec<String> = Vec::new();
            for s in sites {
                internal_raws.insert(s.raw.as_str());
                let m = module_path(&s.raw);
                if !via.contains(&m) {
                    via.push(m);
                }
            }
            let mut names = Vec::new();
            if let Some(o) = repo.analysis.outlines.get(&to) {
                for s in o
                    .symbols
                    .iter()
                    .flat_map(|s| std::iter::once(s).chain(s.children.iter()))
                {
                    let n = s.name.as_str();
                    if !matches!(s.kind, SymbolKind::Impl) && mentioned.contains(n) && !names.contains(&n) {
                        names.push(n);
                    }
                }
            }
            names.truncate(8);
            deps.push(Dep {
                path: t.path.as_str(),
                via,
                names,
            });
        }
        // In the order the file imports them.
        let first_line = |d: &Dep<'_>| {
            outline
                .and_then(|o| o.imports.iter().find(|i| d.via.contains(&module_path(&i.raw))))
                .map_or(u32::MAX, |i| i.line)
        };
        deps.sort_by_key(|d| (first_line(d), d.path));

        let mut external: Vec<String> = Vec::new();
        let mut imports: Vec<(String, Option<&str>)> = Vec::new();
        let first_item = symbols
            .iter()
            .filter(|s| !matches!(s.kind, SymbolKind::Constant | SymbolKind::Variable | SymbolKind::Field))
            .map(|s| s.span.start_line)
            .min()
            .unwrap_or(u32::MAX);
        let mut imports_on_top = 0;
        for i in outline.map_or(&[][..], |o| &o.imports) {
            let m = module_path(&i.raw);
            if m.is_empty() || imports.iter().any(|(x, _)| *x == m) {
                continue;
            }
            if i.line < first_item && imports_on_top == imports.len() {
                imports_on_top += 1;
            }
            if internal_raws.contains(i.raw.as_str()) {
                let to = deps.iter().find(|d| d.via.contains(&m)).map(|d| d.path);
                imports.push((m, to));
            } else {
                external.push(m.clone());
                imports.push((m, None));
            }
        }

        let declared: BTreeSet<&str> = symbols
            .iter()
            .flat_map(|s| std::iter::once(s).chain(s.children.iter()))
            .map(|s| s.name.as_str())
            .collect();
        let mut known: Vec<String> = symbols
            .iter()
            .filter(|s| !matches!(s.kind, SymbolKind::Impl))
            .map(|s| s.name.clone())
            .collect();
        known.extend(deps.iter().flat_map(|d| d.names.iter().map(|n| (*n).to_owned())));
        known.extend(external.iter().filter_map(|m| last_segment(m)));
        let known: BTreeSet<String> = known.into_iter().filter(|n| n.len() > 1).collect();

        let rust = file.language.as_deref() == Some("rust");
        let mut items = Vec::new();
        let mut constants = Vec::new();
        for s in symbols {
            match s.kind {
                SymbolKind::Constant | SymbolKind::Variable => constants.push(constant_text(s)),
                SymbolKind::Field => {}
                _ => {
                    let body = file.text.get(s.span.start_byte..s.span.end_byte).unwrap_or_default();
                    let mut uses: Vec<String> = Vec::new();
                    for w in words(body) {
                        if w != s.name && known.contains(w) && !uses.iter().any(|u| u == w) {
                            uses.push(w.to_owned());
                        }
                    }
                    uses.truncate(6);
                    let (derives, marks) = marks(&file.text, s);
                    items.push(Item {
                        symbol: s,
                        methods: s
                            .children
                            .iter()
                            .filter(|c| matches!(c.kind, SymbolKind::Method | SymbolKind::Function))
                            .collect(),
                        uses,
                        lines: s.span.end_line.saturating_sub(s.span.start_line) + 1,
                        derives,
                        marks,
                        members: if rust { members(body, s) } else { Vec::new() },
                    });
                }
            }
        }

        let by_kind = |kind: ReferenceKind| -> Vec<&'a str> {
            let mut v: Vec<_> = references
                .iter()
                .filter(|r| r.kind == kind && r.name.len() > 1)
                .filter(|r| !matches!(r.name.as_str(), "self" | "this" | "super" | "cls"))
                .collect();
            v.sort_by(|a, b| b.count.cmp(&a.count).then(a.line.cmp(&b.line)));
            v.into_iter().map(|r| r.name.as_str()).collect()
        };
        let raises = by_kind(ReferenceKind::Raise);
        let handles = by_kind(ReferenceKind::Handle);
        let dep_names: BTreeSet<&str> = deps.iter().flat_map(|d| d.names.iter().copied()).collect();
        let mut calls: Vec<&str> = by_kind(ReferenceKind::Call)
            .into_iter()
            .filter(|n| !declared.contains(n) && !dep_names.contains(n) && !raises.contains(n))
            .collect();
        calls.truncate(8);
        let mut attributes: Vec<&str> = by_kind(ReferenceKind::Attribute)
            .into_iter()
            .filter(|n| !calls.contains(n) && !declared.contains(n) && !dep_names.contains(n))
            .collect();
        attributes.truncate(6);

        let (doc, license_header) = leading_doc(file);
        let text = if symbols.is_empty() {
            text_facts(file)
        } else {
            TextFacts::default()
        };
        Some(Facts {
            path: &file.path,
            language: file.language.as_deref(),
            lines: file.text.lines().count(),
            role: role(file, &users, deps.len()),
            doc,
            license_header,
            users,
            deps,
            external,
            imports,
            imports_on_top,
            items,
            constants,
            raises,
            handles,
            calls,
            attributes,
            style: style(file),
            text,
        })
    }
}

/// The attributes (Rust) or decorators (Python) written on `s`, on the lines
/// right above it and, where its span holds them, at its start: the traits
/// it derives, then the names of the others.
fn marks(text: &str, s: &Symbol) -> (Vec<String>, Vec<String>) {
    let before = text.get(..s.span.start_byte).unwrap_or_default();
    let mut lines: Vec<&str> = Vec::new();
    for l in before.lines().rev().skip(usize::from(!before.ends_with('\n'))) {
        let t = l.trim();
        if t.starts_with("#[") || t.starts_with('@') {
            lines.push(t);
        } else if !(t.starts_with("///") || t.starts_with("//") && !t.starts_with("//!")) {
            break;
        }
    }
    lines.reverse();
    let body = text.get(s.span.start_byte..s.span.end_byte).unwrap_or_default();
    lines.extend(
        body.lines()
            .map(str::trim)
            .take_while(|t| t.starts_with("#[") || t.starts_with('@')),
    );
    let (mut derives, mut others): (Vec<String>, Vec<String>) = (Vec::new(), Vec::new());
    let add = |to: &mut Vec<String>, w: String| {
        if !to.contains(&w) && to.len() < 12 {
            to.push(w);
        }
    };
    for l in lines {
        if let Some(list) = l.strip_prefix("#[derive(") {
            let list = list.split(')').next().unwrap_or(list);
            for w in words(list).filter(|w| w.chars().next().is_some_and(char::is_uppercase)) {
                add(&mut derives, w.to_owned());
            }
        } else if let Some(name) = l
            .trim_start_matches("#[")
            .trim_start_matches('@')
            .split(|c: char| !(c.is_alphanumeric() || c == '_' || c == '.'))
            .next()
            .filter(|w| !w.is_empty())
        {
            let mark = if l.starts_with('@') {
                format!("@{name}")
            } else {
                name.to_owned()
            };
            add(&mut others, mark);
        }
    }
    (derives, others)
}

/// The variants of a Rust enum or the fields of a Rust struct, from its body.
fn members(body: &str, s: &Symbol) -> Vec<String> {
    if !matches!(s.kind, SymbolKind::Enum | SymbolKind::Struct) {
        return Vec::new();
    }
    let Some(open) = body.find('{') else { return Vec::new() };
    let inner = &body[open + 1..];
    // Split at top-level commas, dropping comments and attributes.
    let mut parts: Vec<String> = Vec::new();
    let (mut depth, mut cur) = (0i32, String::new());
    for line in inner.lines() {
        let t = line.trim();
        if t.starts_with("//") || t.starts_with("#[") {
            continue;
        }
        for c in t.chars() {
            match c {
                '(' | '[' | '{' | '<' => depth += 1,
                ')' | ']' | '>' => depth -= 1,
                '}' => {
                    depth -= 1;
                    if depth < 0 {
                        break;
                    }
                }
                _ => {}
            }
            if depth < 0 {
                break;
            }
            if c == ',' && depth == 0 {
                parts.push(std::mem::take(&mut cur));
            } else {
                cur.push(c);
            }
        }
        if depth < 0 {
            break;
        }
        cur.push(' ');
    }
    parts.push(cur);
    let mut out = Vec::new();
    for p in parts {
        let p = p.split_whitespace().collect::<Vec<_>>().join(" ");
        let p = p.trim_start_matches("pub(crate) ").trim_start_matches("pub ").trim();
        let Some(name) = words(p).next() else { continue };
        if !p.starts_with(name) {
            continue;
        }
        let rest = p[name.len()..].trim();
        // `name: Type` or `Name(Payload)` when short, else the name alone.
        let text = if rest.chars().count() <= 32 && (rest.starts_with(':') || rest.starts_with('(')) {
            format!("{name}{rest}")
        } else {
            name.to_owned()
        };
        if out.len() < 12 {
            out.push(text);
        }
    }
    out
}

/// `4-space indents, double-quoted strings` and the like, from the lines of a
/// source file.
fn style(file: &SourceFile) -> Option<String> {
    let lang = file.language.as_deref()?;
    let (mut tabs, mut widths) = (0usize, [0usize; 9]);
    for l in file.text.lines() {
        if l.trim().is_empty() {
            continue;
        }
        if l.starts_with('\t') {
            tabs += 1;
        } else {
            let n = l.len() - l.trim_start_matches(' ').len();
            if (2..=8).contains(&n) {
                widths[n] += 1;
            }
        }
    }
    // The indent unit is the smallest width used often.
    let spaced: usize = widths.iter().sum();
    let unit = (2..=8).find(|w| widths[*w] * 10 >= spaced.max(1) && widths[*w] > 0);
    let indent = if tabs > spaced && tabs > 0 {
        Some("tab indents".to_owned())
    } else {
        unit.map(|w| format!("{w}-space indents"))
    };
    let quotes = if matches!(lang, "python" | "javascript" | "typescript" | "tsx") {
        let single = file.text.matches('\'').count();
        let double = file.text.matches('"').count();
        if single > 2 * double + 4 {
            Some("single-quoted strings")
        } else if double > 2 * single + 4 {
            Some("double-quoted strings")
        } else {
            None
        }
    } else {
        None
    };
    match (indent, quotes) {
        (Some(i), Some(q)) => Some(format!("{i} and {q}")),
        (Some(i), None) => Some(i),
        (None, Some(q)) => Some(q.to_owned()),
        (None, None) => None,
    }
}

/// Identifier-like words of a text, in order (with repeats).
pub fn words(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .filter(|w| w.chars().next().is_some_and(|c| c.is_alphabetic() || c == '_'))
}

/// An import as written, cleaned to the module path it names
/// (`use a::b;` → `a::b`, `mod x path=…` → `x`, `<stdio.h>` → `stdio.h`).
pub fn module_path(raw: &str) -> String {
    let raw = raw.split(" path=").next().unwrap_or(raw).trim();
    let raw = ["use ", "mod ", "pub use ", "import ", "from "]
        .iter()
        .find_map(|p| raw.strip_prefix(p))
        .unwrap_or(raw);
    raw.trim_matches(|c: char| c == ';' || c == '"' || c == '\'' || c == '<' || c == '>' || c.is_whitespace())
        .to_owned()
}

fn last_segment(module: &str) -> Option<String> {
    let seg = module
        .rsplit(['.', ':', '/'])
        .find(|s| !s.is_empty() && *s != "*" && !s.starts_with('{'))?;
    let seg = seg.trim_end_matches(".h");
    (seg.len() > 1).then(|| seg.to_owned())
}

/// `NAME` or `NAME: Type` from a constant's declaration, never its value.
fn constant_text(s: &Symbol) -> String {
    let head = s.signature.split('=').next().unwrap_or(&s.signature);
    match head.find(s.name.as_str()) {
        Some(i) => {
            let t = head[i..].trim().trim_end_matches([';', ':']).trim();
            if t.len() > 60 { s.name.clone() } else { t.to_owned() }
        }
        None => s.name.clone(),
    }
}

/// Where the file sits in the project.
fn role(file: &SourceFile, users: &[&str], deps: usize) -> String {
    let path = file.path.as_str();
    let (dir, name) = match path.rsplit_once('/') {
        Some((d, n)) => (d, n),
        None => ("", path),
    };
    let stem = name.split('.').next().unwrap_or(name);
    let parent = dir.rsplit('/').next().unwrap_or(dir);
    let lower = path.to_ascii_lowercase();
    let base = match name {
        "lib.rs" => "the crate root".to_owned(),
        "main.rs" => "the binary's entry point".to_owned(),
        "build.rs" => "the build script".to_owned(),
        "mod.rs" | "index.js" | "index.ts" if parent.is_empty() => "the entry module".to_owned(),
        "mod.rs" if !parent.is_empty() => format!("the `{parent}` module's root"),
        "__init__.py" if !parent.is_empty() => format!("the `{parent}` package's init module"),
        "__init__.py" => "the package's init module".to_owned(),
        "__main__.py" => "the command-line entry of the package".to_owned(),
        "index.js" | "index.ts" | "index.mjs" if !parent.is_empty() => format!("the entry of `{parent}`"),
        _ if lower.contains("test") => "a test module".to_owned(),
        _ if lower.starts_with("examples/") || lower.contains("/examples/") => "an example".to_owned(),
        _ if lower.starts_with("benches/") || lower.contains("bench") => "a benchmark".to_owned(),
        _ if file.language.is_none() => file_role(path).unwrap_or("a supporting file").to_owned(),
        _ if parent.is_empty() || parent == "src" => format!("the `{stem}` module"),
        _ => format!("the `{stem}` module of `{parent}`"),
    };
    let place = match (users.len(), deps) {
        (0, 0) if file.language.is_some() => ", standing on its own",
        (0, _) if file.language.is_some() => ", on top: nothing in the project imports it",
        (n, 0) if n >= 3 => ", a foundation: it imports nothing from the project and many files build on it",
        (n, _) if n >= 3 => ", a hub many files build on",
        (_, 0) if file.language.is_some() => ", a leaf: it imports nothing from the project",
        _ => "",
    };
    format!("{base}{place}")
}

/// The first sentence of the comment or docstring a source file opens with,
/// and whether it is a license header instead.
fn leading_doc(file: &SourceFile) -> (Option<String>, bool) {
    if file.language.is_none() {
        return (None, false);
    }
    let mut lines = file
        .text
        .lines()
        .map(str::trim)
        .skip_while(|l| l.is_empty() || l.starts_with("#!") || l.contains("coding:") || l.contains("coding="))
        .peekable();
    let Some(first) = lines.peek().copied() else {
        return (None, false);
    };
    let mut text = String::new();
    if let Some(q) = ["\"\"\"", "'''", "r\"\"\""].iter().find(|q| first.starts_with(**q)) {
        // A Python docstring.
        let close = &q[q.len() - 3..];
        let mut rest = first[q.len()..].to_owned();
        lines.next();
        loop {
            if let Some(end) = rest.find(close) {
                text.push_str(&rest[..end]);
                break;
            }
            text.push_str(&rest);
            text.push('\n');
            match lines.next() {
                Some(l) => rest = l.to_owned(),
                None => break,
            }
        }
    } else if first.starts_with("/*") {
        for l in lines.by_ref() {
            let end = l.contains("*/");
            let l = l
                .trim_start_matches("/**")
                .trim_start_matches("/*!")
                .trim_start_matches("/*");
            let l = l.split("*/").next().unwrap_or(l).trim_start_matches('*').trim();
            text.push_str(l);
            text.push('\n');
            if end {
                break;
            }
        }
    } else {
        let prefixes: &[&str] = match file.language.as_deref() {
            Some("python") => &["#"],
            _ => &["//!", "///", "//"],
        };
        for l in lines {
            if l.starts_with("#!") || l.starts_with("#[") {
                break;
            }
            let Some(c) = prefixes.iter().find_map(|p| l.strip_prefix(p)) else {
                break;
            };
            if c.trim().is_empty() && !text.trim().is_empty() {
                break;
            }
            text.push_str(c.trim());
            text.push('\n');
        }
    }
    let lower = text.to_ascii_lowercase();
    if lower.contains("copyright") || lower.contains("license") || lower.contains("spdx") {
        return (None, true);
    }
    let s = first_sentence(text.trim());
    let s = s.trim();
    if s.len() < 8 || s.contains("-*-") {
        return (None, false);
    }
    let s = if s.chars().count() > 160 {
        let cut: String = s.chars().take(160).collect();
        match cut.rfind(' ') {
            Some(i) => format!("{}…", &cut[..i]),
            None => cut,
        }
    } else {
        s.to_owned()
    };
    (Some(s), false)
}

/// Headings, sections and keys, license and size of a file without an outline.
fn text_facts(file: &SourceFile) -> TextFacts {
    let text = &file.text;
    let lower_name = kind_name(&file.path);
    let mut facts = TextFacts {
        words: text.split_whitespace().count(),
        ..TextFacts::default()
    };
    let lines: Vec<&str> = text.lines().collect();
    // Markdown `#` headings (outside code fences) and reStructuredText underlines.
    let mut fence = false;
    for (i, l) in lines.iter().enumerate() {
        let t = l.trim();
        if t.starts_with("```") || t.starts_with("~~~") {
            fence = !fence;
            continue;
        }
        if fence {
            continue;
        }
        let heading = if lower_name.ends_with(".md") || lower_name.ends_with(".markdown") {
            t.strip_prefix('#').map(|h| h.trim_start_matches('#').trim())
        } else if lower_name.ends_with(".rst") || lower_name.ends_with(".txt") {
            lines
                .get(i + 1)
                .map(|n| n.trim())
                .filter(|n| {
                    n.len() >= 3 && n.len() >= t.len() && n.chars().all(|c| "=-~^*#".contains(c)) && !t.is_empty()
                })
                .map(|_| t)
        } else {
            None
        };
        if let Some(h) = heading.filter(|h| !h.is_empty() && h.len() <= 80 && h.chars().any(char::is_alphanumeric)) {
            facts.headings.push(h.trim_matches(['*', '`', '_', ' ']).to_owned());
        }
    }
    facts.headings.truncate(10);
    // Configuration: TOML / INI sections and their keys, YAML and JSON top-level keys.
    let ext = lower_name.rsplit('.').next().unwrap_or("");
    if matches!(ext, "toml" | "ini" | "cfg" | "conf") || lower_name == "setup.cfg" {
        let mut current: Option<(String, Vec<String>)> = Some((String::new(), Vec::new()));
        for l in &lines {
            let t = l.trim();
            if t.starts_with('[') && t.ends_with(']') {
                if let Some(c) = current.take().filter(|c| !c.0.is_empty() || !c.1.is_empty()) {
                    facts.sections.push(c);
                }
                current = Some((t.trim_matches(['[', ']']).to_owned(), Vec::new()));
            } else if !l.starts_with([' ', '\t'])
                && let Some((k, _)) = t.split_once('=')
                && let Some(c) = current.as_mut()
            {
                let k = k.trim().trim_matches('"');
                if k == "name"
                    && facts.package.is_none()
                    && matches!(c.0.as_str(), "package" | "project" | "tool.poetry" | "metadata")
                {
                    let v = t
                        .split_once('=')
                        .map_or("", |(_, v)| v)
                        .trim()
                        .trim_matches(['"', '\'']);
                    if !v.is_empty() && v.len() <= 64 && !v.contains(' ') {
                        facts.package = Some(v.to_owned());
                    }
                }
                if !k.is_empty() && !k.starts_with('#') && !k.contains(' ') && c.1.len() < 8 {
                    c.1.push(k.to_owned());
                }
            }
        }
        if let Some(c) = current.filter(|c| !c.0.is_empty() || !c.1.is_empty()) {
            facts.sections.push(c);
        }
    } else if matches!(ext, "yaml" | "yml") {
        let keys: Vec<String> = lines
            .iter()
            .filter(|l| !l.starts_with([' ', '\t', '#', '-']))
            .filter_map(|l| l.split_once(':').map(|(k, _)| k.trim().trim_matches(['"', '\''])))
            .filter(|k| !k.is_empty() && !k.contains(' '))
            .take(10)
            .map(str::to_owned)
            .collect();
        if !keys.is_empty() {
            facts.sections.push((String::new(), keys));
        }
    } else if ext == "json"
        && let Ok(serde_json::Value::Object(map)) = serde_json::from_str::<serde_json::Value>(text)
    {
        facts
            .sections
            .push((String::new(), map.keys().take(10).cloned().collect()));
    }
    facts.sections.truncate(8);
    // Licenses, by the words their texts always contain.
    let has = |s: &str| text.contains(s);
    let license_file = ["license", "licence", "copying", "unlicense"]
        .iter()
        .any(|p| lower_name.starts_with(p));
    facts.license = if !license_file {
        None
    } else if has("Apache License") {
        Some("Apache License, Version 2.0 (January 2004)")
    } else if has("Permission is hereby granted, free of charge") || has("MIT License") {
        Some("MIT License (permission is granted free of charge, without warranty)")
    } else if has("GNU LESSER GENERAL PUBLIC") {
        Some("GNU Lesser General Public License")
    } else if has("GNU GENERAL PUBLIC LICENSE") {
        Some("GNU General Public License")
    } else if has("Mozilla Public License") {
        Some("Mozilla Public License, version 2.0")
    } else if has("Redistribution and use in source and binary forms") {
        Some("BSD license (redistribution in source and binary forms permitted)")
    } else if has("This is free and unencumbered software") {
        Some("Unlicense (free and unencumbered software, in the public domain)")
    } else if has("Permission to use, copy, modify, and/or distribute") {
        Some("ISC License")
    } else {
        None
    };
    if license_file {
        facts.copyright = lines.iter().find_map(|l| {
            let rest = l.trim().strip_prefix("Copyright")?;
            let marked = rest.trim_start().starts_with(['(', '©'])
                || rest.trim_start().starts_with(|c: char| c.is_ascii_digit());
            if !marked {
                return None;
            }
            let rest = rest.replace("(c)", "").replace("(C)", "").replace('©', "");
            let holder: Vec<&str> = rest
                .split_whitespace()
                .filter(|w| !w.chars().all(|c| c.is_ascii_digit() || c == '-' || c == ','))
                .take(6)
                .collect();
            let holder = holder.join(" ");
            (!holder.is_empty() && holder.chars().next().is_some_and(char::is_alphabetic)).then_some(holder)
        });
    }
    facts
}
