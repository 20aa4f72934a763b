//! Before-writing thoughts rendered from a file's [`Facts`], in several *views*:
//! the same file seen with other facts chosen, in another order or at another
//! level of detail. The policy writes one view first; search gets the others
//! as rewrites, so it chooses between contents, not between wordings.

use crate::describe::{join_list, kind_word};
use crate::doc::DocShape;
use crate::facts::{Facts, ImportFact, Item};
use crate::rng::Rng;
use repo2agent_core::model::SymbolKind;
use serde::Deserialize;

/// One way of thinking about a file before writing it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum View {
    /// The file from top to bottom: header, imports, module-level names, then
    /// each declaration, the first ones in detail.
    Walk,
    /// What the file is for and what it provides, in a few sentences.
    Overview,
    /// What it takes from each dependency and outside module first, then the
    /// signatures it defines.
    DependenciesFirst,
    /// Every declaration with its signature, purpose, methods and what it uses.
    Detailed,
    /// The entry points first, then what each hands its work to.
    DataFlow,
    /// The public surface: signatures and purposes of what others may call,
    /// the errors it raises; internals by name.
    Contract,
    /// The walk cut to its bones: header, imports, then each declaration by
    /// its signature alone; short, so more of what came before stays in view.
    Lean,
    /// What runs through the file (late imports, errors, calls), then the
    /// file top to bottom with every declaration in full and what each one
    /// uses (the default).
    #[default]
    Deep,
    /// The walk without the asides (layout, errors, calls): what the file
    /// provides, in order.
    Plain,
    /// Late imports and errors, then the file from its first line with the
    /// first two declarations in full detail (signatures, methods, how each
    /// body goes) and the rest by name: the part written first said most
    /// precisely.
    Opening,
    /// One sentence: where the file sits and what it defines, by name; for
    /// files whose code the thoughts before it already predict.
    Brief,
}

impl View {
    /// Every view, the default first, then in the order they are offered as
    /// rewrites: those whose rewrites gained most on real code first
    /// (docs/method.md).
    pub const ALL: [View; 11] = [
        View::Deep,
        View::Plain,
        View::Detailed,
        View::Contract,
        View::Walk,
        View::Opening,
        View::DataFlow,
        View::Brief,
        View::DependenciesFirst,
        View::Lean,
        View::Overview,
    ];
}

/// How much of a view to write (lowered until the thought fits).
#[derive(Clone, Copy, Debug)]
pub struct Budget {
    /// Declarations written in full (signature, doc, methods); the rest by name.
    pub detailed: usize,
    /// Declarations named at all.
    pub listed: usize,
    /// Doc sentences quoted: the file's own first, then those of the
    /// declarations in the order written.
    pub docs: usize,
    /// Whether detailed declarations say how their bodies go (dropped first
    /// when a thought is too long).
    pub plans: bool,
    /// Detailed declarations whose methods are given with their signatures
    /// (the first ones); the others' methods are named.
    pub signed: usize,
}

fn code(name: &str) -> String {
    format!("`{name}`")
}

fn codes<S: AsRef<str>>(names: &[S]) -> String {
    join_list(&names.iter().map(|n| code(n.as_ref())).collect::<Vec<_>>())
}

fn sentence(s: &str) -> String {
    let s = s.trim().trim_end_matches(['.', ':', ';']);
    let mut c = s.chars();
    match c.next() {
        Some(f) => format!("{}{}.", f.to_uppercase(), c.as_str()),
        None => String::new(),
    }
}

fn intro(f: &Facts<'_>, rng: &mut Rng) -> String {
    let mut s = format!("{} is {}", code(f.path), f.role);
    if !f.users.is_empty() {
        let shown: Vec<&str> = f.users.iter().take(3).copied().collect();
        let more = if f.users.len() > 3 {
            format!(" and {} more", f.users.len() - 3)
        } else {
            String::new()
        };
        let verb = rng.pick(&["imported by", "used by", "needed by"]);
        s.push_str(&format!("; {verb} {}{more}", codes(&shown)));
    }
    s.push('.');
    s
}

fn header(f: &Facts<'_>, budget: Budget) -> Option<String> {
    let mut out = Vec::new();
    if f.license_header {
        out.push(match &f.copyright {
            Some(c) => format!("It opens with a license header (copyright {c})."),
            None => "It opens with a license header.".to_owned(),
        });
    }
    let what = if f.language == Some("python") {
        "docstring"
    } else {
        "doc comment"
    };
    let h = &f.header;
    let mut doc = Vec::new();
    if !h.badges.is_empty() {
        doc.push(format!("opens with the badges {}", codes(&h.badges)));
    }
    if let Some(d) = f.doc.as_deref().filter(|_| budget.docs > 0) {
        doc.push(format!("sums it up: {}", sentence(d)));
    }
    if !doc.is_empty() {
        out.push(format!("Its {what} {}", doc.join(", then ")));
    }
    if let Some(extra) = doc_extras(h) {
        out.push(format!("It has {extra}."));
    }
    (!out.is_empty()).then(|| out.join(" "))
}

/// An import as a thought names it: a path, or for a grouped import
/// (`a::{b, c::{d}}`) its root and the names it brings in.
fn import_text(module: &str) -> String {
    let Some(open) = module.find('{') else {
        return code(&module.split_whitespace().collect::<Vec<_>>().join(" "));
    };
    let root = module[..open].trim().trim_end_matches("::").trim_end_matches('.');
    let names: Vec<&str> = crate::facts::words(&module[open..])
        .filter(|w| !matches!(*w, "self" | "super" | "crate" | "as"))
        .collect();
    let shown: Vec<&str> = names.iter().take(8).copied().collect();
    let more = names.len().saturating_sub(8);
    let tail = if more > 0 {
        format!(" and {more} more")
    } else {
        String::new()
    };
    if shown.is_empty() {
        code(root)
    } else {
        format!("{} for {}{tail}", code(root), codes(&shown))
    }
}

fn import_walk(f: &Facts<'_>) -> Option<String> {
    imports_of(&f.imports, "Imports, in order:")
}

/// The imports above the first declaration, then (`late`) those further down.
fn split_imports(f: &Facts<'_>, late: bool) -> Option<String> {
    let (top, rest) = f.imports.split_at(f.imports_on_top.min(f.imports.len()));
    if late {
        imports_of(rest, "Further down it imports")
    } else {
        imports_of(top, "Imports, in order:")
    }
}

fn imports_of(imports: &[ImportFact<'_>], lead: &str) -> Option<String> {
    if imports.is_empty() {
        return None;
    }
    let parts: Vec<String> = imports
        .iter()
        .take(14)
        .map(|i| {
            let mut t = match i.to {
                Some(p) if !p.ends_with(&format!("{}.rs", i.module)) => {
                    format!("{} (our {})", import_text(&i.module), code(p))
                }
                _ => import_text(&i.module),
            };
            if let Some(a) = &i.alias {
                t.push_str(&format!(" as {}", code(a)));
            }
            if i.guarded {
                t.push_str(" if available");
            }
            t
        })
        .collect();
    let more = imports.len().saturating_sub(14);
    let tail = if more > 0 {
        format!(" and {more} more")
    } else {
        String::new()
    };
    Some(format!("{lead} {}{tail}.", parts.join("; ")))
}

fn dependency_uses(f: &Facts<'_>) -> Vec<String> {
    f.deps
        .iter()
        .map(|d| {
            let via = d.via.iter().map(|v| import_text(v)).collect::<Vec<_>>().join(", ");
            if d.names.is_empty() {
                format!("{} through {via}", code(d.path))
            } else {
                format!("{} from {} (through {via})", codes(&d.names), code(d.path))
            }
        })
        .collect()
}

fn externals(f: &Facts<'_>) -> Option<String> {
    (!f.external.is_empty()).then(|| {
        let shown: Vec<String> = f.external.iter().take(10).map(|m| import_text(m)).collect();
        format!("From outside the project it needs {}.", shown.join("; "))
    })
}

fn constants(f: &Facts<'_>) -> Option<String> {
    let mut parts = Vec::new();
    match &f.exports {
        Some(exports) if exports.is_empty() => {
            parts.push("Its `__all__` is empty: it exports nothing by name.".to_owned());
        }
        Some(exports) => {
            let shown: Vec<&String> = exports.iter().take(12).collect();
            let more = exports.len().saturating_sub(12);
            let tail = if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            };
            parts.push(format!("It exports {}{tail} through `__all__`.", codes(&shown)));
        }
        None => {}
    }
    if !f.constants.is_empty() {
        let shown: Vec<String> = f
            .constants
            .iter()
            .take(10)
            .map(|(c, kind)| match kind {
                Some(k) if k.starts_with('`') => format!("{} (from {k})", code(c)),
                Some(k) => format!("{} ({k})", code(c)),
                None => code(c),
            })
            .collect();
        let more = f.constants.len().saturating_sub(10);
        let tail = if more > 0 {
            format!(" and {more} more")
        } else {
            String::new()
        };
        parts.push(format!("At module level: {}{tail}.", join_list(&shown)));
    }
    (!parts.is_empty()).then(|| parts.join(" "))
}

/// A Rust file's inner attributes, said once.
fn inner_attributes(f: &Facts<'_>) -> Option<String> {
    (!f.inner_attributes.is_empty()).then(|| format!("Crate-level attributes: {}.", codes(&f.inner_attributes)))
}

/// What a doc's shape adds to its first sentence: sections and the names
/// its examples use.
fn doc_extras(d: &DocShape) -> Option<String> {
    let mut parts = Vec::new();
    if !d.sections.is_empty() {
        let shown: Vec<String> = d.sections.iter().take(5).map(|h| format!("“{h}”")).collect();
        let word = if shown.len() == 1 { "a section" } else { "sections" };
        parts.push(format!("{word} {}", join_list(&shown)));
    }
    if !d.example.is_empty() {
        parts.push(format!("an example using {}", codes(&d.example)));
    }
    if !d.mentions.is_empty() {
        parts.push(format!("mentions of {}", codes(&d.mentions)));
    }
    (!parts.is_empty()).then(|| join_list(&parts))
}

fn errors(f: &Facts<'_>) -> Option<String> {
    let mut parts = Vec::new();
    if !f.raises.is_empty() {
        parts.push(format!("raises {}", codes(&f.raises[..f.raises.len().min(5)])));
    }
    if !f.handles.is_empty() {
        parts.push(format!("catches {}", codes(&f.handles[..f.handles.len().min(5)])));
    }
    (!parts.is_empty()).then(|| sentence(&format!("it {}", parts.join(" and "))))
}

fn calls(f: &Facts<'_>) -> Option<String> {
    let mut parts = Vec::new();
    if !f.calls.is_empty() {
        parts.push(format!("calls {}", codes(&f.calls)));
    }
    if !f.attributes.is_empty() {
        parts.push(format!("touches {}", codes(&f.attributes)));
    }
    (!parts.is_empty()).then(|| sentence(&format!("along the way it {}", parts.join(" and "))))
}

fn method_text(m: &repo2agent_core::model::Symbol, signatures: bool) -> String {
    if signatures { code(&signature(m)) } else { code(&m.name) }
}

/// A declaration's signature on one line, without a body the outline kept
/// (a macro's rules) and at most 160 characters.
fn signature(s: &repo2agent_core::model::Symbol) -> String {
    let mut sig = s.signature.as_str();
    if matches!(s.kind, SymbolKind::Macro) || sig.len() > 160 {
        sig = sig.split(['{', '\n']).next().unwrap_or(sig);
    }
    let one: Vec<&str> = sig.split_whitespace().collect();
    let one = one.join(" ");
    if one.chars().count() > 160 {
        let cut: String = one.chars().take(157).collect();
        format!("{cut}…")
    } else {
        one
    }
}

/// `- class `sig` — doc; methods …; uses …`
fn item_line(item: &Item<'_>, index: usize, full: bool, budget: Budget, uses: bool) -> String {
    let s = item.symbol;
    let mut line = if matches!(s.kind, SymbolKind::Impl) {
        format!("- {}", code(&signature(s)))
    } else {
        format!("- {} {}", kind_word(s.kind), code(&signature(s)))
    };
    if full {
        if !item.marks.is_empty() {
            line.push_str(&format!(" marked {}", codes(&item.marks)));
        }
        if !item.derives.is_empty() {
            line.push_str(&format!(", deriving {}", codes(&item.derives)));
        }
        if !item.members.is_empty() {
            let what = if matches!(s.kind, SymbolKind::Enum) {
                "variants"
            } else {
                "fields"
            };
            line.push_str(&format!(", {what} {}", codes(&item.members)));
        }
        if index + 1 < budget.docs
            && let Some(d) = item.doc.summary.as_deref()
        {
            line.push_str(&format!(" — {}", d.trim_end_matches(['.', ':', ';'])));
        }
        if !item.consts.is_empty() {
            let shown: Vec<&str> = item.consts.iter().take(12).copied().collect();
            let more = item.consts.len().saturating_sub(12);
            let tail = if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            };
            line.push_str(&format!(", declaring {}{tail}", codes(&shown)));
        }
        if let Some(extra) = doc_extras(&item.doc) {
            line.push_str(&format!("; documented with {extra}"));
        }
        let plan = if budget.plans { item.plan.text() } else { String::new() };
        if !plan.is_empty() {
            line.push_str(&format!("; it {plan}"));
        }
        if !item.methods.is_empty() {
            let shown: Vec<String> = item
                .methods
                .iter()
                .zip(&item.method_plans)
                .take(8)
                .enumerate()
                .map(|(i, (m, p))| {
                    // How the first methods go; the rest by signature.
                    let plan = if i < 3 && budget.plans {
                        p.text_with(3)
                    } else {
                        String::new()
                    };
                    let signed = index < budget.signed;
                    if plan.is_empty() {
                        method_text(m, signed)
                    } else {
                        format!("{} ({plan})", method_text(m, signed))
                    }
                })
                .collect();
            let more = item.methods.len().saturating_sub(8);
            let names: Vec<String> = item
                .methods
                .iter()
                .skip(8)
                .take(8)
                .map(|m| method_text(m, false))
                .collect();
            line.push_str(&format!("; with {}", join_list(&shown)));
            if more > 0 {
                line.push_str(&format!(", then {}", names.join(", ")));
                if more > 8 {
                    line.push_str(&format!(" and {} more", more - 8));
                }
            }
        }
    } else if !item.methods.is_empty() {
        let names: Vec<String> = item.methods.iter().take(6).map(|m| method_text(m, false)).collect();
        line.push_str(&format!(" ({})", join_list(&names)));
    }
    if uses && !item.uses.is_empty() {
        line.push_str(&format!("; uses {}", codes(&item.uses)));
    }
    if full && uses && item.lines >= 10 {
        line.push_str(&format!(" ({} lines)", item.lines));
    }
    line
}

fn item_list(items: &[&Item<'_>], budget: Budget, uses: bool) -> String {
    let mut out = Vec::new();
    for (i, item) in items.iter().take(budget.listed).enumerate() {
        out.push(item_line(item, i, i < budget.detailed, budget, uses));
    }
    if items.len() > budget.listed {
        // Named once each; impl blocks are named by what they are for.
        let mut rest: Vec<&str> = Vec::new();
        let mut more = 0;
        for i in &items[budget.listed..] {
            let n = i.symbol.name.as_str();
            if matches!(i.symbol.kind, SymbolKind::Impl) || rest.contains(&n) {
                continue;
            }
            if rest.len() < 10 {
                rest.push(n);
            } else {
                more += 1;
            }
        }
        if rest.is_empty() {
            return out.join("\n");
        }
        let more = rest.len() + more;
        out.push(if more > rest.len() {
            format!("- then {} and {} more", codes(&rest), more - rest.len())
        } else {
            format!("- then {}", codes(&rest))
        });
    }
    out.join("\n")
}

fn summary(f: &Facts<'_>) -> Option<String> {
    if f.items.is_empty() {
        return None;
    }
    let mut groups: Vec<(&str, Vec<&str>)> = Vec::new();
    for i in f.items.iter().filter(|i| !matches!(i.symbol.kind, SymbolKind::Impl)) {
        let w = kind_word(i.symbol.kind);
        match groups.iter_mut().find(|(k, _)| *k == w) {
            Some((_, v)) => v.push(&i.symbol.name),
            None => groups.push((w, vec![&i.symbol.name])),
        }
    }
    let parts: Vec<String> = groups
        .into_iter()
        .map(|(k, names)| {
            let word = if names.len() > 1 {
                match k {
                    "class" => "classes".to_owned(),
                    "type alias" => "type aliases".to_owned(),
                    k => format!("{k}s"),
                }
            } else {
                k.to_owned()
            };
            let shown: Vec<&str> = names.iter().take(8).copied().collect();
            let more = names.len().saturating_sub(8);
            if more > 0 {
                format!("{word} {} and {more} more", codes(&shown))
            } else {
                format!("{word} {}", codes(&shown))
            }
        })
        .collect();
    let impls: Vec<&str> = f
        .items
        .iter()
        .filter(|i| matches!(i.symbol.kind, SymbolKind::Impl))
        .map(|i| i.symbol.signature.as_str())
        .take(6)
        .collect();
    let mut s = if parts.is_empty() {
        String::new()
    } else {
        format!("It defines {}", join_list(&parts))
    };
    if !impls.is_empty() {
        if s.is_empty() {
            s = format!("It holds {}", codes(&impls));
        } else {
            s.push_str(&format!(", with {}", codes(&impls)));
        }
    }
    Some(sentence(&s))
}

fn is_public(item: &Item<'_>) -> bool {
    let s = item.symbol;
    if s.name.starts_with('_') && !s.name.starts_with("__") {
        return false;
    }
    match s.signature.split_whitespace().next() {
        // Rust and the C family mark what is public; elsewhere naming does.
        Some(w) if w.starts_with("pub") || w == "export" || w == "public" => true,
        _ if s.signature.starts_with("fn ")
            || s.signature.starts_with("struct ")
            || s.signature.starts_with("enum ") =>
        {
            false
        }
        _ => !s.name.starts_with('_') || s.name.starts_with("__"),
    }
}

/// The order a reader follows the work: items nothing else in the file uses
/// first, then the ones they use, breadth first.
fn flow_order<'f, 'a>(f: &'f Facts<'a>) -> Vec<&'f Item<'a>> {
    let names: Vec<&str> = f.items.iter().map(|i| i.symbol.name.as_str()).collect();
    let used: Vec<bool> = names
        .iter()
        .map(|n| {
            f.items
                .iter()
                .any(|i| i.symbol.name != *n && i.uses.iter().any(|u| u == n))
        })
        .collect();
    let mut out: Vec<&Item<'a>> = Vec::new();
    let mut queue: std::collections::VecDeque<usize> = (0..f.items.len()).filter(|i| !used[*i]).collect();
    let mut seen = vec![false; f.items.len()];
    while let Some(i) = queue.pop_front() {
        if seen[i] {
            continue;
        }
        seen[i] = true;
        out.push(&f.items[i]);
        for u in &f.items[i].uses {
            if let Some(j) = names.iter().position(|n| n == u)
                && !seen[j]
            {
                queue.push_back(j);
            }
        }
    }
    out.extend(f.items.iter().enumerate().filter(|(i, _)| !seen[*i]).map(|(_, it)| it));
    out
}

fn text_view(f: &Facts<'_>, view: View, budget: Budget, rng: &mut Rng) -> String {
    let t = &f.text;
    let mut out = Vec::new();
    let what = match (t.license, f.role.as_str()) {
        (Some(l), _) => format!("the text of the {l}"),
        (None, r) => r.to_owned(),
    };
    let size = match f.lines {
        0 => "empty".to_owned(),
        1 => "one line".to_owned(),
        n => format!("{n} lines"),
    };
    let detail = !matches!(view, View::Overview);
    if detail {
        out.push(format!("{} is {what}, {size} ({} words).", code(f.path), t.words));
    } else {
        out.push(format!("{} is {what}, {size}.", code(f.path)));
    }
    if let Some(n) = &t.package {
        out.push(format!("It describes the package {}.", code(n)));
    }
    if let Some(c) = &t.copyright {
        out.push(format!("Copyright {c}."));
    }
    let o = &t.opening;
    let mut opens = Vec::new();
    if !o.badges.is_empty() {
        opens.push(format!("opens with the badges {}", codes(&o.badges)));
    }
    let prose = t.license.is_none() && !f.role.contains("change log");
    if let Some(s) = o.summary.as_deref().filter(|_| budget.docs > 0 && prose) {
        opens.push(format!("says first: {}", sentence(s)));
    }
    if !opens.is_empty() {
        let s = format!("It {}", opens.join(", then "));
        out.push(if s.ends_with('.') { s } else { format!("{s}.") });
    }
    if !o.example.is_empty() && detail {
        out.push(format!("Its examples use {}.", codes(&o.example)));
    }
    let limit = budget.listed.min(if detail { 10 } else { 4 });
    if !t.headings.is_empty() {
        let shown: Vec<&String> = t.headings.iter().take(limit).collect();
        let lead = rng.pick(&["Its sections:", "It is organised as", "Headings:"]);
        out.push(format!(
            "{lead} {}.",
            shown.iter().map(|h| format!("“{h}”")).collect::<Vec<_>>().join(", ")
        ));
    }
    if !t.sections.is_empty() {
        let parts: Vec<String> = t
            .sections
            .iter()
            .take(limit)
            .map(|(name, keys)| {
                let keys: Vec<&String> = keys.iter().take(if detail { 8 } else { 3 }).collect();
                match (name.is_empty(), keys.is_empty()) {
                    (true, _) => format!("keys {}", codes(&keys)),
                    (false, true) => format!("[{name}]"),
                    (false, false) => format!("[{name}] with {}", codes(&keys)),
                }
            })
            .collect();
        out.push(format!("It sets {}.", join_list(&parts)));
    }
    if !f.users.is_empty() && detail {
        out.push(format!(
            "Files that read it: {}.",
            codes(&f.users[..f.users.len().min(3)])
        ));
    }
    out.join(" ")
}

/// The thought of `view` about the file, within `budget`.
pub fn render(f: &Facts<'_>, view: View, budget: Budget, rng: &mut Rng) -> String {
    if f.items.is_empty() && f.language.is_none() {
        return text_view(f, view, budget, rng);
    }
    let mut out: Vec<String> = Vec::new();
    let mut push = |s: Option<String>| {
        if let Some(s) = s.filter(|s| !s.is_empty()) {
            out.push(s);
        }
    };
    let all: Vec<&Item<'_>> = f.items.iter().collect();
    let plan = |items: &[&Item<'_>], b: Budget, uses: bool, lead: &str| -> Option<String> {
        (!items.is_empty()).then(|| format!("{lead}\n{}", item_list(items, b, uses)))
    };
    match view {
        View::Walk => {
            push(Some(intro(f, rng)));
            file_top(f, budget).into_iter().for_each(&mut push);
            let lead = rng.pick(&["Then, top to bottom:", "Then, in order:", "After that:"]);
            push(plan(&all, budget, false, lead));
            push(split_imports(f, true));
            push(errors(f));
            push(calls(f));
        }
        View::Deep | View::Opening => {
            // What runs through the whole file first, then the file from its
            // first line: the part written next is the part said last.
            push(Some(intro(f, rng)));
            push(split_imports(f, true));
            push(errors(f));
            if view == View::Deep {
                push(calls(f));
            }
            file_top(f, budget).into_iter().for_each(&mut push);
            let b = if view == View::Deep {
                Budget {
                    detailed: budget.listed,
                    ..budget
                }
            } else {
                // The first two in full with how their bodies go, even when
                // a long file leaves the default view no room for that.
                Budget {
                    detailed: budget.listed.min(2),
                    signed: budget.signed.min(2),
                    plans: true,
                    ..budget
                }
            };
            let lead = if view == View::Deep {
                "Top to bottom, in full:"
            } else {
                "From the top, the first declarations in full:"
            };
            push(plan(&all, b, true, lead));
        }
        View::Brief => {
            push(Some(intro(f, rng)));
            push(summary(f));
        }
        View::Lean => {
            push(Some(intro(f, rng)));
            push(header(f, budget));
            push(import_walk(f));
            let b = Budget { detailed: 0, ..budget };
            push(plan(&all, b, false, "Declared in order:"));
        }
        View::Plain => {
            push(Some(intro(f, rng)));
            push(header(f, budget));
            push(import_walk(f));
            push(constants(f));
            push(plan(&all, budget, false, "It provides, in order:"));
        }
        View::Overview => {
            push(Some(intro(f, rng)));
            push(header(f, budget));
            push(import_walk(f));
            push(summary(f));
            let deps: Vec<&str> = f.deps.iter().map(|d| d.path).collect();
            if !deps.is_empty() {
                push(Some(format!("It builds on {}.", codes(&deps))));
            }
            push(Some(about_lines(f.lines)));
        }
        View::DependenciesFirst => {
            let uses = dependency_uses(f);
            if uses.is_empty() {
                push(Some(format!(
                    "{} takes nothing from the rest of the project.",
                    code(f.path)
                )));
            } else {
                push(Some(format!("{} takes {}.", code(f.path), join_list(&uses))));
            }
            push(header(f, budget));
            push(externals(f));
            push(calls(f));
            push(constants(f));
            let b = Budget { detailed: 0, ..budget };
            push(plan(&all, b, true, "With those it defines:"));
        }
        View::Detailed => {
            push(Some(intro(f, rng)));
            push(header(f, budget));
            push(import_walk(f));
            push(constants(f));
            let b = Budget {
                detailed: budget.listed,
                ..budget
            };
            push(plan(&all, b, true, "Declaration by declaration:"));
            push(errors(f));
        }
        View::DataFlow => {
            push(Some(intro(f, rng)));
            push(header(f, budget));
            push(import_walk(f));
            push(constants(f));
            let order = flow_order(f);
            push(plan(
                &order,
                budget,
                true,
                "Following the work from the entry points down:",
            ));
            push(errors(f));
        }
        View::Contract => {
            push(Some(intro(f, rng)));
            push(header(f, budget));
            push(import_walk(f));
            let public: Vec<&Item<'_>> = f.items.iter().filter(|i| is_public(i)).collect();
            let private: Vec<&str> = f
                .items
                .iter()
                .filter(|i| !is_public(i))
                .map(|i| i.symbol.name.as_str())
                .take(10)
                .collect();
            let b = Budget {
                detailed: budget.listed,
                ..budget
            };
            push(plan(&public, b, false, "What others may call:"));
            if !private.is_empty() {
                push(Some(format!("Internal: {}.", codes(&private))));
            }
            push(errors(f));
        }
    }
    if out.len() == 1 && f.items.is_empty() {
        out.push(about_lines(f.lines));
    }
    out.join("\n")
}

/// The file's length in a sentence.
fn about_lines(lines: usize) -> String {
    match lines {
        0 | 1 => "A single line.".to_owned(),
        n => format!("About {n} lines."),
    }
}

/// The top of the file, in its order: header, crate attributes, style, the
/// imports above the first declaration (or the dependencies when no import
/// is resolved), constants.
fn file_top(f: &Facts<'_>, budget: Budget) -> [Option<String>; 6] {
    let builds_on = (f.imports.is_empty() && !f.deps.is_empty())
        .then(|| format!("It builds on {}.", join_list(&dependency_uses(f))));
    [
        header(f, budget),
        inner_attributes(f),
        f.style.as_ref().map(|s| format!("Written with {s}.")),
        split_imports(f, false),
        builds_on,
        constants(f),
    ]
}
