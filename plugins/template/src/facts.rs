//! What one file is and holds, read off the analysis and the file's text: the
//! facts a before-writing thought is built from. Only names, signatures, the
//! first sentences of docs and counts are kept — never body code.

use crate::body::BodyPlan;
use crate::describe::file_role;
use crate::doc::DocShape;
use crate::opening::{alias, guarded, inner_attributes, opening, style};
use crate::text::{TextFacts, text_facts};
use repo2agent_core::model::{FileId, FileOutline, ReferenceKind, SourceFile, Symbol, SymbolKind};
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

/// One import of the file.
#[derive(Clone, Debug)]
pub struct ImportFact<'a> {
    /// Its module path.
    pub module: String,
    /// For one inside the repository, the file it leads to.
    pub to: Option<&'a str>,
    /// The name it is bound to when renamed (`as c_make_encoder`).
    pub alias: Option<String>,
    /// Written inside a `try` (Python) or a `cfg` block: it may be missing.
    pub guarded: bool,
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
    /// The shape of its doc (sections, example names; its first sentence is
    /// `summary`).
    pub doc: DocShape,
    /// How its body goes (functions; empty for types).
    pub plan: BodyPlan,
    /// How each of `methods` goes, in the same order.
    pub method_plans: Vec<BodyPlan>,
    /// The constants and associated types declared inside it (an impl
    /// block's `const BOLD`), by name.
    pub consts: Vec<&'a str>,
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
    /// The shape of that doc: badges, sections, names its examples use.
    pub header: DocShape,
    /// The README that doc retells, when the plan has it read first.
    pub follows: Option<&'a str>,
    /// The file opens with a license or copyright header.
    pub license_header: bool,
    /// Whom that header's copyright line names.
    pub copyright: Option<String>,
    /// The licenses that header names (`MIT`, `Apache-2.0`).
    pub header_licenses: Vec<String>,
    /// Files that import it.
    pub users: Vec<&'a str>,
    /// Files of the repository it imports.
    pub deps: Vec<Dep<'a>>,
    /// Modules it imports from outside the repository, in file order.
    pub external: Vec<String>,
    /// Every import in file order: its module path and, for one inside the
    /// repository, the file it leads to.
    pub imports: Vec<ImportFact<'a>>,
    /// Declarations (not constants), in file order.
    pub items: Vec<Item<'a>>,
    /// How many of `imports` come before the first declaration (the rest are
    /// further down the file).
    pub imports_on_top: usize,
    /// Module-level constants and variables: name, and type where written,
    /// and what makes the value (see [`value_kind`]).
    pub constants: Vec<(String, Option<String>)>,
    /// A Rust file's macro invocations at module level (`test! { … }`,
    /// `impl_Integer!(i8, u8)`), each with the names its arguments start
    /// with (see [`macro_invocations`]).
    pub invocations: Vec<(String, Vec<String>)>,
    /// The names a Python module's `__all__` exports (`Some` of nothing for
    /// an empty one, `None` without one).
    pub exports: Option<Vec<String>>,
    /// A Rust file's inner attributes (`no_std`, `allow(clippy::x)`), string
    /// arguments left out.
    pub inner_attributes: Vec<String>,
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
    /// Whether the file is text (no language, no declarations): its thought
    /// is one paragraph, not sections.
    pub fn is_text(&self) -> bool {
        self.items.is_empty() && self.language.is_none()
    }

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

        let (deps, internal_raws) = dependencies(repo, id, outline, &mentioned);

        let (imports, external, imports_on_top) = import_facts(file, outline, &deps, &internal_raws);

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
        let mut exports = None;
        for s in symbols {
            match s.kind {
                SymbolKind::Constant | SymbolKind::Variable if s.name == "__all__" => {
                    exports = Some(
                        s.signature
                            .split(['\'', '"'])
                            .skip(1)
                            .step_by(2)
                            .map(str::to_owned)
                            .collect(),
                    );
                }
                SymbolKind::Constant | SymbolKind::Variable => constants.push((constant_text(s), value_kind(s))),
                SymbolKind::Field => {}
                _ => items.push(item(file, s, &known, rust)),
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

        let opening = opening(file);
        let header = opening.doc.as_deref().map(crate::doc::shape).unwrap_or_default();
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
            doc: header.summary.clone(),
            header,
            follows: None,
            license_header: opening.license_header,
            copyright: opening.copyright,
            header_licenses: opening.licenses,
            users,
            deps,
            external,
            imports,
            imports_on_top,
            items,
            constants,
            invocations: if rust {
                macro_invocations(&file.text)
            } else {
                Vec::new()
            },
            exports,
            inner_attributes: if rust { inner_attributes(&file.text) } else { Vec::new() },
            raises,
            handles,
            calls,
            attributes,
            style: style(file),
            text,
        })
    }
}

/// The project files `id` imports, in the order it imports them, with the
/// names it takes from each (those of their declarations it `mentioned`);
/// and the raw imports that lead to them.
fn dependencies<'a>(
    repo: RepoContext<'a>,
    id: FileId,
    outline: Option<&'a FileOutline>,
    mentioned: &BTreeSet<&str>,
) -> (Vec<Dep<'a>>, BTreeSet<&'a str>) {
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
    (deps, internal_raws)
}

/// The file's imports in order (each module once, with its alias, whether
/// it is guarded, and the project file it leads to), the external modules,
/// and how many imports come before the first declaration.
fn import_facts<'a>(
    file: &'a SourceFile,
    outline: Option<&'a FileOutline>,
    deps: &[Dep<'a>],
    internal_raws: &BTreeSet<&str>,
) -> (Vec<ImportFact<'a>>, Vec<String>, usize) {
    let symbols: &[Symbol] = outline.map_or(&[], |o| &o.symbols);
    let mut external: Vec<String> = Vec::new();
    let mut imports: Vec<ImportFact<'_>> = Vec::new();
    let file_lines: Vec<&str> = file.text.lines().collect();
    let first_item = symbols
        .iter()
        .filter(|s| !matches!(s.kind, SymbolKind::Constant | SymbolKind::Variable | SymbolKind::Field))
        .map(|s| s.span.start_line)
        .min()
        .unwrap_or(u32::MAX);
    let mut imports_on_top = 0;
    for i in outline.map_or(&[][..], |o| &o.imports) {
        let m = module_path(&i.raw);
        if m.is_empty() || imports.iter().any(|x| x.module == m) {
            continue;
        }
        if i.line < first_item && imports_on_top == imports.len() {
            imports_on_top += 1;
        }
        let to = if internal_raws.contains(i.raw.as_str()) {
            deps.iter().find(|d| d.via.contains(&m)).map(|d| d.path)
        } else {
            external.push(m.clone());
            None
        };
        let at = (i.line as usize).saturating_sub(1);
        imports.push(ImportFact {
            alias: file_lines.get(at).and_then(|l| alias(l, &m)),
            guarded: guarded(&file_lines, at),
            module: m,
            to,
        });
    }
    (imports, external, imports_on_top)
}

/// A declaration's facts: what it uses, its attributes, methods and how its
/// bodies go.
fn item<'a>(file: &'a SourceFile, s: &'a Symbol, known: &BTreeSet<String>, rust: bool) -> Item<'a> {
    let body = file.text.get(s.span.start_byte..s.span.end_byte).unwrap_or_default();
    let mut uses: Vec<String> = Vec::new();
    for w in words(body) {
        if w != s.name && known.contains(w) && !uses.iter().any(|u| u == w) {
            uses.push(w.to_owned());
        }
    }
    uses.truncate(6);
    let (derives, marks) = marks(&file.text, s);
    let methods: Vec<&Symbol> = s
        .children
        .iter()
        .filter(|c| matches!(c.kind, SymbolKind::Method | SymbolKind::Function))
        .collect();
    let lang = file.language.as_deref();
    let body_of = |m: &Symbol| file.text.get(m.span.start_byte..m.span.end_byte).unwrap_or_default();
    let plan = if matches!(s.kind, SymbolKind::Function | SymbolKind::Method | SymbolKind::Macro) {
        crate::body::plan(body, &s.name, lang)
    } else {
        BodyPlan::default()
    };
    Item {
        consts: s
            .children
            .iter()
            .filter(|c| matches!(c.kind, SymbolKind::Constant | SymbolKind::TypeAlias))
            .map(|c| c.name.as_str())
            .collect(),
        symbol: s,
        method_plans: methods
            .iter()
            .map(|m| crate::body::plan(body_of(m), &m.name, lang))
            .collect(),
        methods,
        doc: s.doc.as_deref().map(crate::doc::shape).unwrap_or_default(),
        plan,
        uses,
        lines: s.span.end_line.saturating_sub(s.span.start_line) + 1,
        derives,
        marks,
        members: if rust { members(body, s) } else { Vec::new() },
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
                // A Rust attribute with the names it is given (`allow(clippy::x)`), strings left out.
                let inner = l.trim_start_matches("#[").trim_end().trim_end_matches(']');
                let args = inner[name.len().min(inner.len())..].trim();
                let names: Vec<&str> = args
                    .split('"')
                    .step_by(2)
                    .flat_map(|part| part.split(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':')))
                    .map(|w| w.trim_matches(':'))
                    .filter(|w| w.chars().next().is_some_and(|c| c.is_alphabetic() || c == '_'))
                    .take(4)
                    .collect();
                if args.starts_with('(') && !names.is_empty() {
                    format!("{name}({})", names.join(", "))
                } else {
                    name.to_owned()
                }
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

/// Identifier-like words of a text, in order (with repeats).
/// The macros a Rust file invokes at module level, in order, each with the
/// names its arguments start with: for an invocation on one line the
/// identifiers among its arguments (`impl_Integer!(i8, u8)`: `i8`, `u8`), for
/// one over several lines the first name of each line inside (a test case's
/// name, a `static`'s name); literals and keywords left out.
pub fn macro_invocations(text: &str) -> Vec<(String, Vec<String>)> {
    const KEYWORDS: [&str; 14] = [
        "static", "ref", "pub", "const", "fn", "let", "mut", "impl", "struct", "enum", "type", "use", "crate", "self",
    ];
    let first_name = |s: &str| {
        words(s)
            .find(|w| !KEYWORDS.contains(w))
            .filter(|w| w.starts_with(|c: char| c.is_alphabetic() || c == '_'))
            .map(str::to_owned)
    };
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        let Some(bang) = line.find('!') else { continue };
        let name = &line[..bang];
        let rest = line[bang + 1..].trim_start();
        if name.is_empty()
            || name == "macro_rules"
            || !name.chars().all(|c| c.is_alphanumeric() || c == '_')
            || !name.starts_with(|c: char| c.is_alphabetic() || c == '_')
            || !rest.starts_with(['(', '{', '['])
        {
            continue;
        }
        let close = match rest.as_bytes()[0] {
            b'(' => ')',
            b'[' => ']',
            _ => '}',
        };
        let mut names: Vec<String> = Vec::new();
        let inner = rest[1..].trim_end().trim_end_matches(';');
        if inner.ends_with(close) {
            // On one line: the identifiers among its arguments, strings dropped.
            let args: String = inner.split('"').step_by(2).collect::<Vec<_>>().join(" ");
            names.extend(
                words(&args)
                    .filter(|w| w.starts_with(|c: char| c.is_alphabetic() || c == '_') && !KEYWORDS.contains(w))
                    .map(str::to_owned),
            );
        } else {
            for l in lines.by_ref() {
                if l.starts_with(close) {
                    break;
                }
                let t = l.trim_start();
                if t.is_empty() || t.starts_with("//") || t.starts_with("#[") {
                    continue;
                }
                if let Some(n) = first_name(t) {
                    names.push(n);
                }
            }
        }
        let mut seen = std::collections::BTreeSet::new();
        names.retain(|n| seen.insert(n.clone()));
        names.truncate(64);
        out.push((name.to_owned(), names));
    }
    out
}

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

/// What makes a constant's value, in a word or a name, never the value
/// itself: `re.compile` (a call), `a dict`, `a string`; `None` when its type
/// is written or nothing short says it.
fn value_kind(s: &Symbol) -> Option<String> {
    let (head, value) = s.signature.split_once('=')?;
    if head.contains(':') {
        return None; // typed: the type says it
    }
    let v = value.trim();
    let first = v.chars().next()?;
    Some(match first {
        '{' => "a dict".to_owned(),
        '[' => "a list".to_owned(),
        '"' | '\'' => "a string".to_owned(),
        'b' | 'r' | 'f' if v[1..].starts_with(['"', '\'']) => "a string".to_owned(),
        c if c.is_ascii_digit() || c == '-' => "a number".to_owned(),
        _ => {
            let callee: String = v
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == '.')
                .collect();
            let rest = v[callee.len()..].trim_start();
            if callee.is_empty() || callee.len() > 40 {
                return None;
            }
            if rest.starts_with('(') {
                format!("`{callee}`")
            } else if rest.is_empty() || rest.starts_with(['|', '+', 'o']) {
                // A name or names joined: say the first.
                format!("`{callee}`")
            } else {
                return None;
            }
        }
    })
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn module_level_macro_invocations_give_the_names_they_start_with() {
        let text = "macro_rules! test {\n    () => {};\n}\n\ntest! {\n    test_u64_0(0u64, \"0\")\n    // a comment\n    test_i64_min(i64::MIN, \"-9223372036854775808\")\n}\n\nimpl_Integer!(i8, u8, \"x y\", 16);\n\nlazy_static! {\n    static ref TABLE: Vec<u8> = vec![1, 2];\n}\n\nfn f() {\n    assert!(true);\n}\ncriterion_main!(benches);\n";
        let got = macro_invocations(text);
        let names: Vec<(&str, Vec<&str>)> = got
            .iter()
            .map(|(n, a)| (n.as_str(), a.iter().map(String::as_str).collect()))
            .collect();
        assert_eq!(
            names,
            [
                ("test", vec!["test_u64_0", "test_i64_min"]),
                ("impl_Integer", vec!["i8", "u8"]),
                ("lazy_static", vec!["TABLE"]),
                ("criterion_main", vec!["benches"]),
            ],
            "macro_rules! and calls inside functions are not module-level invocations; literals left out"
        );
    }
}
