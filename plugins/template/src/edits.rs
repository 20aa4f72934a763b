//! Edits of a thought a search already chose: the same thought with one
//! section added that it lacks, or with one section it has taken out. The
//! views ([`crate::views`]) offer whole other thoughts; the edits build on
//! the one that won, a section at a time, so a greedy search climbs from
//! it instead of starting again.

use crate::facts::Facts;
use crate::phrases::{calls, constants, errors, externals, header, inner_attributes, split_imports, style, summary};
use crate::views::Budget;

/// The sections an edit adds or takes out, most useful first: what runs
/// through the file (its calls, its errors, its late imports), then the top
/// of the file (module-level names, style, header, crate attributes), then
/// what it takes from outside and what it defines, in a sentence.
fn sections(f: &Facts<'_>, budget: Budget) -> Vec<String> {
    [
        calls(f),
        errors(f),
        split_imports(f, true),
        constants(f),
        style(f),
        header(f, budget),
        inner_attributes(f, false),
        externals(f),
        summary(f),
    ]
    .into_iter()
    .flatten()
    .filter(|s| !s.is_empty())
    .collect()
}

/// `current` with each section of the file edited once, in the order of
/// [`sections`]: a section `current` holds as a line of its own is taken
/// out, one it lacks is put after its first line (where the views say what
/// runs through the file). A section that is part of another line is left
/// alone.
pub fn edits(f: &Facts<'_>, budget: Budget, current: &str) -> Vec<String> {
    let lines: Vec<&str> = current.lines().collect();
    if lines.is_empty() {
        return Vec::new();
    }
    let mut out: Vec<String> = Vec::new();
    for s in sections(f, budget) {
        let edited = if let Some(at) = lines.iter().position(|l| *l == s) {
            let mut v = lines.clone();
            v.remove(at);
            v.join("\n")
        } else if !current.contains(s.as_str()) {
            let mut v = lines.clone();
            v.insert(1, s.as_str());
            v.join("\n")
        } else {
            continue;
        };
        if !edited.trim().is_empty() && !out.contains(&edited) {
            out.push(edited);
        }
    }
    out
}
