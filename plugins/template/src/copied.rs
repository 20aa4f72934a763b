//! How much of a thought is body code copied from its file: the guard that
//! keeps thoughts to what a developer thinks (names, signatures, purposes)
//! rather than the code itself.

use repo2agent_core::model::Symbol;

/// Lines at least this long count as copied when a thought holds them verbatim.
pub const MIN_COPIED_LINE: usize = 25;

/// The share of `thought`'s characters taken by lines of `file` of
/// [`MIN_COPIED_LINE`]+ characters (trimmed) that appear in it verbatim,
/// not counting the lines of the declarations' signatures (a line is one
/// when a signature, whitespace collapsed, holds it).
pub fn copied_share(thought: &str, file: &str, symbols: &[Symbol]) -> f64 {
    let total = thought.chars().count();
    if total == 0 {
        return 0.0;
    }
    // A line held verbatim starts with one of the thought's windows of
    // MIN_COPIED_LINE bytes: a hash lookup rules out almost every line of a
    // large file before any substring search.
    let windows: std::collections::HashSet<&[u8]> = thought.as_bytes().windows(MIN_COPIED_LINE).collect();
    let collapse = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
    // Collapsed signatures, gathered only if some line is in the thought.
    let signatures = std::cell::OnceCell::new();
    let in_signature = |l: &str| {
        let signatures: &Vec<String> = signatures.get_or_init(|| {
            let mut out = Vec::new();
            let mut stack: Vec<&Symbol> = symbols.iter().collect();
            while let Some(s) = stack.pop() {
                out.push(collapse(&s.signature));
                stack.extend(s.children.iter());
            }
            out
        });
        let l = collapse(l);
        signatures.iter().any(|s| s.contains(&l))
    };
    let mut seen = std::collections::BTreeSet::new();
    let copied: usize = file
        .lines()
        .map(str::trim)
        .filter(|l| l.len() >= MIN_COPIED_LINE && windows.contains(&l.as_bytes()[..MIN_COPIED_LINE]))
        .filter(|l| l.chars().count() >= MIN_COPIED_LINE && seen.insert(*l) && thought.contains(*l))
        .filter(|l| !in_signature(l))
        .map(|l| l.chars().count())
        .sum();
    copied as f64 / total as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use repo2agent_core::model::{SymbolKind, TextSpan};

    #[test]
    fn counts_long_body_lines_but_not_signatures_or_short_lines() {
        let file = "def parse(text, strict=True):\n    result = compute_the_thing(text)\n    x = 1\n";
        let sym = Symbol {
            kind: SymbolKind::Function,
            name: "parse".into(),
            signature: "def parse(text, strict=True):".into(),
            doc: None,
            span: TextSpan {
                start_byte: 0,
                end_byte: file.len(),
                start_line: 1,
                end_line: 3,
            },
            children: vec![],
        };
        let clean = "I write `def parse(text, strict=True):` and set x = 1.";
        // A signature the outline stored on one line still covers its lines.
        let wrapped = "def parse_the_document(text_to_parse,\n        strict=True):\n    pass\n";
        let mut one_line = sym.clone();
        one_line.signature = "def parse_the_document(text_to_parse, strict=True):".into();
        let thought = "`def parse_the_document(text_to_parse,` goes first";
        assert_eq!(copied_share(thought, wrapped, std::slice::from_ref(&one_line)), 0.0);
        assert!(
            copied_share(thought, wrapped, &[]) > 0.5,
            "without the symbol it is copied"
        );
        assert_eq!(copied_share(clean, file, std::slice::from_ref(&sym)), 0.0);
        let copied = "It does result = compute_the_thing(text)";
        let share = copied_share(copied, file, &[sym]);
        let expected = "result = compute_the_thing(text)".len() as f64 / copied.len() as f64;
        assert!((share - expected).abs() < 1e-12, "{share} vs {expected}");
        assert_eq!(copied_share("", file, &[]), 0.0);
    }
}
