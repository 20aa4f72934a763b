//! Before-writing thoughts rendered from a file's [`Facts`], in several *views*:
//! the same file seen with other facts chosen, in another order or at another
//! level of detail. The policy writes one view first; search gets the others
//! as rewrites, so it chooses between contents, not between wordings.

use crate::describe::join_list;
use crate::facts::{Facts, Item};
use crate::phrases::{
    calls, code, codes, constants, dependency_uses, errors, externals, flow_order, header, import_walk,
    inner_attributes, intro, is_public, item_list, sentence, split_imports, style, summary,
};
use crate::rng::Rng;
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
    /// The opening said closely: late imports and errors, the top of the
    /// file, then its first declarations in full with how each body goes
    /// down to the names it binds and its calls as written (`hint::black_box`,
    /// `buf.format`), the rest by name: the most precise plan of the part
    /// written first.
    Close,
}

impl View {
    /// Every view, the default first, then in the order they are offered as
    /// rewrites: those whose rewrites gained most on real code first
    /// (docs/method.md).
    pub const ALL: [View; 12] = [
        View::Deep,
        View::Close,
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
    /// Whether body plans name what a body binds and its calls as written
    /// (set for [`View::Close`]).
    pub close: bool,
    /// Whether long crate attributes are given in full (set for
    /// [`View::Close`]; turned off when they would make the thought code
    /// copied from the file).
    pub full_attributes: bool,
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
        let words = match t.words {
            1 => "1 word".to_owned(),
            n => format!("{n} words"),
        };
        out.push(format!("{} is {what}, {size} ({words}).", code(f.path)));
    } else {
        out.push(format!("{} is {what}, {size}.", code(f.path)));
    }
    if let Some(n) = &t.package {
        out.push(format!("It describes the package {}.", code(n)));
    }
    if let Some(c) = &t.copyright {
        out.push(format!("Copyright {c}."));
    }
    if let Some(b) = t.begins.filter(|_| detail) {
        out.push(format!("It begins {b}."));
    }
    if let Some(w) = t.wrap.filter(|_| detail) {
        out.push(format!("Its lines wrap at about {w} characters."));
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
    if !t.emails.is_empty() {
        let which = if t.emails.len() == 1 { "address" } else { "addresses" };
        out.push(format!("It gives the e-mail {which} {}.", codes(&t.emails)));
    }
    if !t.links.is_empty() && view == View::Close {
        out.push(format!("It links to {}.", codes(&t.links)));
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
                // Every key in the close view, the first eight in the others.
                let shown = match view {
                    View::Close => keys.len(),
                    View::Overview => 3,
                    _ => 8,
                };
                let keys: Vec<&String> = keys.iter().take(shown).collect();
                // A top-level key's short value, in the close view only.
                let value = t
                    .values
                    .iter()
                    .find(|(k, _)| k == name)
                    .filter(|_| view == View::Close)
                    .map(|(_, v)| v.as_str());
                match (name.is_empty(), keys.is_empty(), t.keyed) {
                    (true, _, _) => format!("keys {}", codes(&keys)),
                    (false, true, true) => match value {
                        Some(v) => format!("{} to {}", code(name), code(v)),
                        None => code(name),
                    },
                    (false, false, true) => format!("{} with {}", code(name), codes(&keys)),
                    (false, true, false) => format!("[{name}]"),
                    (false, false, false) => format!("[{name}] with {}", codes(&keys)),
                }
            })
            .collect();
        // Top-level keys with their own keys read better apart.
        let list = if t.keyed { parts.join("; ") } else { join_list(&parts) };
        out.push(format!("It sets {list}."));
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
    if f.is_text() {
        return text_view(f, view, budget, rng);
    }
    let mut out: Vec<String> = Vec::new();
    let mut push = |s: Option<String>| {
        if let Some(s) = s.filter(|s| !s.is_empty()) {
            out.push(s);
        }
    };
    let all: Vec<&Item<'_>> = f.items.iter().collect();
    match view {
        View::Walk => {
            push(Some(intro(f, rng)));
            file_top(f, budget).into_iter().for_each(&mut push);
            let lead = rng.pick(&["Then, top to bottom:", "Then, in order:", "After that:"]);
            push(plan_of(&all, budget, false, lead));
            push(split_imports(f, true));
            push(errors(f));
            push(calls(f));
        }
        View::Deep | View::Opening | View::Close => deep(f, view, budget, rng).into_iter().for_each(&mut push),
        View::Brief => {
            push(Some(intro(f, rng)));
            push(summary(f));
        }
        View::Lean => {
            push(Some(intro(f, rng)));
            push(header(f, budget));
            push(import_walk(f));
            let b = Budget { detailed: 0, ..budget };
            push(plan_of(&all, b, false, "Declared in order:"));
        }
        View::Plain => {
            push(Some(intro(f, rng)));
            push(header(f, budget));
            push(import_walk(f));
            push(constants(f));
            push(plan_of(&all, budget, false, "It provides, in order:"));
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
        View::DependenciesFirst => dependencies_first(f, budget).into_iter().for_each(&mut push),
        View::Detailed => {
            push(Some(intro(f, rng)));
            push(header(f, budget));
            push(import_walk(f));
            push(constants(f));
            let b = Budget {
                detailed: budget.listed,
                ..budget
            };
            push(plan_of(&all, b, true, "Declaration by declaration:"));
            push(errors(f));
        }
        View::DataFlow => {
            push(Some(intro(f, rng)));
            push(header(f, budget));
            push(import_walk(f));
            push(constants(f));
            let order = flow_order(f);
            push(plan_of(
                &order,
                budget,
                true,
                "Following the work from the entry points down:",
            ));
            push(errors(f));
        }
        View::Contract => contract(f, budget, rng).into_iter().for_each(&mut push),
    }
    if out.len() == 1 && f.items.is_empty() {
        out.push(about_lines(f.lines));
    }
    out.join("\n")
}

/// `lead` and the items' list, or nothing when there are no items.
fn plan_of(items: &[&Item<'_>], b: Budget, uses: bool, lead: &str) -> Option<String> {
    (!items.is_empty()).then(|| format!("{lead}\n{}", item_list(items, b, uses)))
}

/// [`View::Deep`] and [`View::Opening`]: what runs through the whole file
/// first, then the file from its first line (the part written next is the
/// part said last).
fn deep(f: &Facts<'_>, view: View, budget: Budget, rng: &mut Rng) -> Vec<Option<String>> {
    let all: Vec<&Item<'_>> = f.items.iter().collect();
    let mut out = vec![Some(intro(f, rng)), split_imports(f, true), errors(f)];
    if view == View::Deep {
        out.push(calls(f));
    }
    let b = if view == View::Deep {
        Budget {
            detailed: budget.listed,
            ..budget
        }
    } else if view == View::Close {
        // The first three in full, their bodies closely, whatever the
        // default view had room for.
        Budget {
            detailed: budget.listed.min(3),
            signed: budget.signed.min(3),
            plans: true,
            ..budget
        }
    } else {
        // The first two in full with how their bodies go, even when a long
        // file leaves the default view no room for that.
        Budget {
            detailed: budget.listed.min(2),
            signed: budget.signed.min(2),
            plans: true,
            ..budget
        }
    };
    out.extend(file_top(f, budget));
    let lead = if view == View::Deep {
        "Top to bottom, in full:"
    } else if view == View::Close {
        "From the top, the first declarations closely:"
    } else {
        "From the top, the first declarations in full:"
    };
    out.push(plan_of(&all, b, true, lead));
    out
}

/// [`View::DependenciesFirst`]: what the file takes from where, then what it defines.
fn dependencies_first(f: &Facts<'_>, budget: Budget) -> Vec<Option<String>> {
    let all: Vec<&Item<'_>> = f.items.iter().collect();
    let uses = dependency_uses(f);
    let first = if uses.is_empty() {
        format!("{} takes nothing from the rest of the project.", code(f.path))
    } else {
        format!("{} takes {}.", code(f.path), join_list(&uses))
    };
    let b = Budget { detailed: 0, ..budget };
    vec![
        Some(first),
        header(f, budget),
        externals(f),
        calls(f),
        constants(f),
        plan_of(&all, b, true, "With those it defines:"),
    ]
}

/// [`View::Contract`]: the public surface in full, the internals by name.
fn contract(f: &Facts<'_>, budget: Budget, rng: &mut Rng) -> Vec<Option<String>> {
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
    vec![
        Some(intro(f, rng)),
        header(f, budget),
        import_walk(f),
        plan_of(&public, b, false, "What others may call:"),
        (!private.is_empty()).then(|| format!("Internal: {}.", codes(&private))),
        errors(f),
    ]
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
        inner_attributes(f, budget.full_attributes),
        style(f),
        split_imports(f, false),
        builds_on,
        constants(f),
    ]
}
