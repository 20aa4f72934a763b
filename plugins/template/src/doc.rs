//! What a doc comment or docstring holds, read as a developer plans it: the
//! sentence that says what the thing is for, the badges and sections it is
//! laid out in, and the names its examples use. Never its prose beyond the
//! first sentence.

use crate::describe::first_sentence;

/// The shape of one doc comment or docstring.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DocShape {
    /// Its first sentence of prose (badges, link definitions and markup
    /// skipped), at most 160 characters.
    pub summary: Option<String>,
    /// The badges it opens with, by label (`github`, `crates-io`).
    pub badges: Vec<String>,
    /// Its section headings (`Examples`, `Panics`, `Usage`), in order.
    pub sections: Vec<String>,
    /// Names its code examples use: paths, types and what they call, first
    /// use first.
    pub example: Vec<String>,
    /// Names its prose mentions as code (`` `Formatter` ``, ``[`zmij`]``),
    /// first mention first.
    pub mentions: Vec<String>,
}

/// Words that are syntax, not names worth naming.
const KEYWORDS: &[&str] = &[
    "let", "mut", "use", "fn", "pub", "for", "in", "if", "else", "return", "import", "from", "def", "class", "as",
    "match", "while", "loop", "impl", "struct", "enum", "const", "static", "self", "Self", "None", "True", "False",
    "and", "or", "not", "is", "with", "print", "println", "Some", "Ok", "Err", "new", "rust", "text", "ignore",
    "python", "console", "shell", "sh", "bash", "toml", "crate", "super", "where", "type", "main", "unwrap", "this",
    "var", "function", "await", "async", "try", "except", "raise", "pass", "lambda", "yield", "true", "false", "null",
];

/// Reads `doc` (comment markers already removed).
pub fn shape(doc: &str) -> DocShape {
    let mut out = DocShape::default();
    let mut prose: Vec<&str> = Vec::new();
    let mut fence = false;
    let mut indented_example = false;
    let lines: Vec<&str> = doc.lines().collect();
    for (i, raw) in lines.iter().enumerate() {
        let t = raw.trim();
        if t.starts_with("```") || t.starts_with("~~~") {
            fence = !fence;
            continue;
        }
        if fence || t.starts_with(">>>") || t.starts_with("$ ") || (indented_example && raw.starts_with("    ")) {
            example_names(t.trim_start_matches(">>>").trim_start_matches("$ "), &mut out.example);
            continue;
        }
        indented_example = t.ends_with("::") && !t.starts_with("..");
        if let Some(h) = heading(t, lines.get(i + 1).map(|n| n.trim())) {
            if out.sections.len() < 6 && !out.sections.contains(&h) {
                out.sections.push(h);
            }
            continue;
        }
        if t.chars().all(|c| "=-~^*#".contains(c)) && !t.is_empty() {
            continue; // a reStructuredText underline
        }
        let mut rest = t;
        let mut badge = false;
        while let Some(b) = rest.strip_prefix("[![").or_else(|| rest.strip_prefix("![")) {
            let label: String = b.split(']').next().unwrap_or("").to_owned();
            let leading = out.summary.is_none() && prose.is_empty();
            if leading && !label.is_empty() && label.len() <= 40 && out.badges.len() < 6 && !out.badges.contains(&label)
            {
                out.badges.push(label);
            }
            badge = true;
            // Past this badge's link: `](…)` and an optional `](…)` / `][…]` pair.
            rest = match b.find(')').or_else(|| b.find(']')) {
                Some(end) => {
                    let after = &b[end + 1..];
                    let after = after.strip_prefix(")").unwrap_or(after);
                    let after = match after.strip_prefix("](").or_else(|| after.strip_prefix("][")) {
                        Some(a) => a.find([')', ']']).map_or("", |e| &a[e + 1..]),
                        None => after,
                    };
                    after.trim_start_matches("&ensp;").trim()
                }
                None => "",
            };
        }
        if t.contains("<img") {
            // HTML badges: `[<img alt="github" src=…>](…)`, labelled by their alt text.
            for part in t.split("alt=\"").skip(1) {
                let label = part.split('"').next().unwrap_or("").to_owned();
                let leading = out.summary.is_none() && prose.is_empty();
                if leading
                    && !label.is_empty()
                    && label.len() <= 40
                    && out.badges.len() < 6
                    && !out.badges.contains(&label)
                {
                    out.badges.push(label);
                }
            }
            badge = true;
        }
        if badge
            || t.is_empty()
            || t.starts_with('<')
            || is_link_definition(t)
            || t.starts_with('|')
            || t.starts_with("..")
        {
            if t.is_empty() && !prose.is_empty() && out.summary.is_none() {
                out.summary = summary_of(&prose.join(" "));
                prose.clear();
            }
            continue;
        }
        for (i, part) in t.split('`').enumerate() {
            let name = part.trim();
            let identifier = !name.is_empty()
                && name.len() <= 48
                && !name.contains(' ')
                && name.chars().next().is_some_and(|c| c.is_alphabetic() || c == '_')
                && name.chars().all(|c| c.is_alphanumeric() || "_:.!()<>,&'".contains(c));
            if i % 2 == 1 && identifier {
                mention(&mut out.mentions, name);
            }
            if i % 2 == 0 {
                // Names written bare in prose (`REQUEST_METHOD`, `wsgi.input`, `start_response`).
                for w in part.split_whitespace() {
                    let w = w.trim_matches(|c: char| !(c.is_alphanumeric() || c == '_'));
                    if code_like(w) {
                        mention(&mut out.mentions, w);
                    }
                }
            }
        }
        if out.summary.is_none() {
            prose.push(t.trim_start_matches(['>', '-', '*', ' ']));
        }
    }
    if out.summary.is_none() && !prose.is_empty() {
        out.summary = summary_of(&prose.join(" "));
    }
    out
}

/// Adds `name` to `mentions` once, up to eight.
fn mention(mentions: &mut Vec<String>, name: &str) {
    if mentions.len() < 8 && !mentions.iter().any(|m| m == name) {
        mentions.push(name.to_owned());
    }
}

/// Whether a bare word of prose is a name written as code: `snake_case` or
/// `UPPER_CASE` with an inner underscore, a dotted name (`wsgi.input`, not a
/// domain or file name).
fn code_like(w: &str) -> bool {
    let ident = |p: &str| {
        p.len() >= 2
            && p.chars().next().is_some_and(|c| c.is_alphabetic() || c == '_')
            && p.chars().all(|c| c.is_alphanumeric() || c == '_')
    };
    if w.len() < 4 || w.len() > 48 || w.starts_with("http") {
        return false;
    }
    let parts: Vec<&str> = w.split('.').collect();
    if parts.len() > 1 {
        const ENDINGS: &[&str] = &[
            "org", "com", "net", "io", "rs", "dev", "html", "htm", "php", "txt", "md", "py", "toml", "json", "yml",
            "yaml", "cfg", "ini", "rst", "so", "dll", "exe", "gz", "zip", "tar", "edu", "gov", "uk", "de",
        ];
        let last = parts[parts.len() - 1];
        return parts.iter().all(|p| ident(p)) && !ENDINGS.contains(&last.to_ascii_lowercase().as_str());
    }
    if !ident(w) {
        return false;
    }
    // CamelCase alone is no sign: prose names products that way (`JavaScript`).
    let inner = &w.trim_matches('_');
    inner.contains('_') && inner.chars().any(char::is_alphabetic)
}

/// `[label]: https://…`
fn is_link_definition(t: &str) -> bool {
    t.starts_with('[')
        && t.split_once("]:")
            .is_some_and(|(label, _)| !label.contains(' ') || label.len() < 40)
}

/// A Markdown heading (`# Examples`), a reStructuredText one (a line over an
/// underline) or a Google/NumPy-style section (`Args:`, `Returns:`).
fn heading(t: &str, next: Option<&str>) -> Option<String> {
    let h = if let Some(h) = t.strip_prefix('#') {
        h.trim_start_matches('#').trim()
    } else if next.is_some_and(|n| n.len() >= 3 && n.chars().all(|c| "=-~^".contains(c)) && n.len() + 1 >= t.len())
        && !t.is_empty()
    {
        t
    } else if t.ends_with(':') && !t.ends_with("::") && t.split_whitespace().count() <= 2 && t.len() <= 24 {
        t.trim_end_matches(':')
    } else {
        t.strip_suffix("::")
            .filter(|h| h.split_whitespace().count() <= 2 && h.len() <= 24)?
    };
    let h = h.trim_matches(['*', '`', '_', ' ', ':']);
    (!h.is_empty() && h.len() <= 60 && h.chars().any(char::is_alphabetic)).then(|| h.to_owned())
}

fn summary_of(prose: &str) -> Option<String> {
    let s = first_sentence(&prose.replace("**", "").replace("__", ""));
    let s = s.trim().trim_matches('*');
    if s.chars().filter(|c| c.is_alphabetic()).count() < 4 || s.contains("-*-") {
        return None;
    }
    Some(if s.chars().count() > 160 {
        let cut: String = s.chars().take(160).collect();
        match cut.rfind(' ') {
            Some(i) => format!("{}…", &cut[..i]),
            None => cut,
        }
    } else {
        s.to_owned()
    })
}

/// The names a line of example code uses: `a::b` paths, capitalised types,
/// and what it calls (`f(`, `m!(`), strings and comments left out.
fn example_names(line: &str, out: &mut Vec<String>) {
    let line = line.split("//").next().unwrap_or(line);
    let line = line.split(" # ").next().unwrap_or(line);
    let code = without_strings(line);
    let bytes: Vec<char> = code.chars().collect();
    let mut i = 0;
    let mut after_import = false;
    while i < bytes.len() {
        let c = bytes[i];
        if !(c.is_alphabetic() || c == '_') {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && (bytes[i].is_alphanumeric() || bytes[i] == '_' || is_path_sep(&bytes, i)) {
            i += if is_path_sep(&bytes, i) { 2 } else { 1 };
        }
        let word: String = bytes[start..i].iter().collect();
        let word = word.trim_end_matches(':').to_owned();
        let next = bytes.get(i).copied();
        let called = next == Some('(') || (next == Some('!') && bytes.get(i + 1).is_some_and(|c| "([{".contains(*c)));
        let name_like =
            word.contains("::") || word.chars().next().is_some_and(char::is_uppercase) || called || after_import;
        after_import = matches!(word.as_str(), "use" | "import");
        // A path is a name even when it ends in a common word (`Frame::new`).
        if name_like && word.len() >= 3 && !KEYWORDS.contains(&word.as_str()) {
            let word = if called && next == Some('!') {
                format!("{word}!")
            } else {
                word
            };
            if !out.contains(&word) && out.len() < 8 {
                out.push(word);
            }
        }
    }
}

fn is_path_sep(chars: &[char], i: usize) -> bool {
    chars.get(i) == Some(&':') && chars.get(i + 1) == Some(&':') && chars.get(i + 2).is_some_and(|c| c.is_alphabetic())
}

/// `line` with the contents of its string literals dropped.
fn without_strings(line: &str) -> String {
    let mut out = String::new();
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for c in line.chars() {
        match quote {
            Some(q) => {
                if escaped {
                    escaped = false;
                } else if c == '\\' {
                    escaped = true;
                } else if c == q {
                    quote = None;
                    out.push(c);
                }
            }
            None => {
                if c == '"' || c == '\'' {
                    quote = Some(c);
                }
                out.push(c);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn badges_sections_and_example_names_are_read_and_prose_is_not() {
        let doc = "[![github]](https://github.com/x/y)&ensp;[![crates-io]](https://crates.io/crates/y)\n\n\
                   [github]: https://img.shields.io/badge/github\n\n<br>\n\n\
                   This crate provides a fast conversion of integers. It is fast.\n\n\
                   # Example\n\n```rust\nuse heck::ToKebabCase;\n\nlet s = \"We are going\";\n\
                   assert_eq!(s.to_kebab_case(), \"we-are-going\");\n```\n";
        let s = shape(doc);
        assert_eq!(
            s.summary.as_deref(),
            Some("This crate provides a fast conversion of integers.")
        );
        assert_eq!(s.badges, ["github", "crates-io"]);
        assert_eq!(s.sections, ["Example"]);
        assert_eq!(s.example, ["heck::ToKebabCase", "assert_eq!", "to_kebab_case"]);
        assert!(s.mentions.is_empty());
        let s = shape("Fast like [`core::fmt::Formatter`], see [`zmij`] and `a b`.\n");
        assert_eq!(s.mentions, ["core::fmt::Formatter", "zmij"]);
        let s = shape(
            "Checks the keys REQUEST_METHOD, wsgi.input (e.g. via start_response) for JavaScript;\n\
             see pythonpaste.org, setup.py, http://x.org/a_b, 1.0.2 and plain words.\n",
        );
        assert_eq!(
            s.mentions,
            ["REQUEST_METHOD", "wsgi.input", "start_response"],
            "names written bare in prose; domains, file names, URLs, versions, CamelCase and words are not"
        );
    }

    #[test]
    fn python_docstrings_give_doctests_usage_blocks_and_sections() {
        let doc = "Command-line tool to validate JSON\n\nUsage::\n\n    $ echo '{}' | python -m json.tool\n\n\
                   >>> import json\n>>> json.dumps(['foo'])\n\nArgs:\n    s: the text\n";
        let s = shape(doc);
        assert_eq!(s.summary.as_deref(), Some("Command-line tool to validate JSON"));
        assert_eq!(s.sections, ["Usage", "Args"]);
        assert_eq!(s.example, ["json", "dumps"]);
    }
}
