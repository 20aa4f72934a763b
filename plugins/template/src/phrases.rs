//! The sentences a view is assembled from, one builder per kind of fact:
//! where the file sits, how it opens, what it imports and uses from where,
//! its constants, errors and calls, and each declaration at the detail a
//! [`Budget`] allows.

use crate::describe::{join_list, kind_word};
use crate::doc::DocShape;
use crate::facts::{Facts, ImportFact, Item};
use crate::rng::Rng;
use crate::views::Budget;
use repo2agent_core::model::SymbolKind;

pub(crate) fn code(name: &str) -> String {
    format!("`{name}`")
}

pub(crate) fn codes<S: AsRef<str>>(names: &[S]) -> String {
    join_list(&names.iter().map(|n| code(n.as_ref())).collect::<Vec<_>>())
}

pub(crate) fn sentence(s: &str) -> String {
    let s = s.trim().trim_end_matches(['.', ':', ';']);
    let mut c = s.chars();
    match c.next() {
        Some(f) => format!("{}{}.", f.to_uppercase(), c.as_str()),
        None => String::new(),
    }
}

pub(crate) fn intro(f: &Facts<'_>, rng: &mut Rng) -> String {
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

pub(crate) fn header(f: &Facts<'_>, budget: Budget) -> Option<String> {
    let mut out = Vec::new();
    if f.license_header {
        let mut about: Vec<String> = f.copyright.iter().map(|c| format!("copyright {c}")).collect();
        if !f.header_licenses.is_empty() {
            about.push(join_list(&f.header_licenses));
        }
        out.push(match about.is_empty() {
            false => format!("It opens with a license header ({}).", about.join("; ")),
            true => "It opens with a license header.".to_owned(),
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
    match (f.follows, doc.is_empty()) {
        (Some(r), true) => out.push(format!("Its {what} retells {}.", code(r))),
        (Some(r), false) => out.push(format!("Its {what} retells {}: it {}", code(r), doc.join(", then "))),
        (None, false) => out.push(format!("Its {what} {}", doc.join(", then "))),
        (None, true) => {}
    }
    if let Some(extra) = doc_extras(h) {
        out.push(format!("It has {extra}."));
    }
    (!out.is_empty()).then(|| out.join(" "))
}

/// An import as a thought names it: a path, or for a grouped import
/// (`a::{b, c::{d}}`) its root and the names it brings in.
pub(crate) fn import_text(module: &str) -> String {
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

pub(crate) fn import_walk(f: &Facts<'_>) -> Option<String> {
    imports_of(&f.imports, "Imports, in order:")
}

/// The imports above the first declaration, then (`late`) those further down.
pub(crate) fn split_imports(f: &Facts<'_>, late: bool) -> Option<String> {
    let (top, rest) = f.imports.split_at(f.imports_on_top.min(f.imports.len()));
    if late {
        imports_of(rest, "Further down it imports")
    } else {
        imports_of(top, "Imports, in order:")
    }
}

pub(crate) fn imports_of(imports: &[ImportFact<'_>], lead: &str) -> Option<String> {
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

pub(crate) fn dependency_uses(f: &Facts<'_>) -> Vec<String> {
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

pub(crate) fn externals(f: &Facts<'_>) -> Option<String> {
    (!f.external.is_empty()).then(|| {
        let shown: Vec<String> = f.external.iter().take(10).map(|m| import_text(m)).collect();
        format!("From outside the project it needs {}.", shown.join("; "))
    })
}

pub(crate) fn constants(f: &Facts<'_>) -> Option<String> {
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
    for (name, args) in f.invocations.iter().take(4) {
        let shown: Vec<&String> = args.iter().take(12).collect();
        parts.push(match shown.len() {
            0 => format!("It invokes `{name}!` at module level."),
            n if n < args.len() => format!(
                "It invokes `{name}!` at module level for {} and {} more.",
                codes(&shown),
                args.len() - n
            ),
            _ => format!("It invokes `{name}!` at module level for {}.", codes(&shown)),
        });
    }
    (!parts.is_empty()).then(|| parts.join(" "))
}

/// A Rust file's inner attributes, said once.
/// The crate-level attributes; each of more than 100 characters cut to its
/// first three arguments unless `full` ([`crate::views::View::Close`]).
pub(crate) fn inner_attributes(f: &Facts<'_>, full: bool) -> Option<String> {
    let shown: Vec<String> = f
        .inner_attributes
        .iter()
        .map(|a| {
            if full {
                a.clone()
            } else {
                crate::opening::shorten_attribute(a)
            }
        })
        .collect();
    (!shown.is_empty()).then(|| format!("Crate-level attributes: {}.", codes(&shown)))
}

/// What a doc's shape adds to its first sentence: sections and the names
/// its examples use.
pub(crate) fn doc_extras(d: &DocShape) -> Option<String> {
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

pub(crate) fn errors(f: &Facts<'_>) -> Option<String> {
    let mut parts = Vec::new();
    if !f.raises.is_empty() {
        parts.push(format!("raises {}", codes(&f.raises[..f.raises.len().min(5)])));
    }
    if !f.handles.is_empty() {
        parts.push(format!("catches {}", codes(&f.handles[..f.handles.len().min(5)])));
    }
    (!parts.is_empty()).then(|| sentence(&format!("it {}", parts.join(" and "))))
}

/// The file's layout (indents, quotes), said once.
pub(crate) fn style(f: &Facts<'_>) -> Option<String> {
    f.style.as_ref().map(|s| format!("Written with {s}."))
}

pub(crate) fn calls(f: &Facts<'_>) -> Option<String> {
    let mut parts = Vec::new();
    if !f.calls.is_empty() {
        parts.push(format!("calls {}", codes(&f.calls)));
    }
    if !f.attributes.is_empty() {
        parts.push(format!("touches {}", codes(&f.attributes)));
    }
    (!parts.is_empty()).then(|| sentence(&format!("along the way it {}", parts.join(" and "))))
}

pub(crate) fn method_text(m: &repo2agent_core::model::Symbol, signatures: bool) -> String {
    if signatures { code(&signature(m)) } else { code(&m.name) }
}

/// A declaration's signature on one line, without a body the outline kept
/// (a macro's rules) and at most 160 characters.
pub(crate) fn signature(s: &repo2agent_core::model::Symbol) -> String {
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
pub(crate) fn item_line(item: &Item<'_>, index: usize, full: bool, budget: Budget, uses: bool) -> String {
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
        let plan = match (budget.plans, budget.close) {
            (false, _) => String::new(),
            (true, false) => item.plan.text(),
            (true, true) => item.plan.text_close(),
        };
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
                    let plan = if i < 3 && budget.plans && budget.close {
                        p.text_close()
                    } else if i < 3 && budget.plans {
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

pub(crate) fn item_list(items: &[&Item<'_>], budget: Budget, uses: bool) -> String {
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

pub(crate) fn summary(f: &Facts<'_>) -> Option<String> {
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

pub(crate) fn is_public(item: &Item<'_>) -> bool {
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
pub(crate) fn flow_order<'f, 'a>(f: &'f Facts<'a>) -> Vec<&'f Item<'a>> {
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
