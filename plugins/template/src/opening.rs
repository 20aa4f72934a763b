//! What a file's text shows as a whole, read before its declarations: how it
//! opens (license header, copyright, the documenting comment), the inner
//! attributes a Rust file starts with, the lines of its imports (aliases,
//! imports guarded by `try:`), and its style (indents, quotes).

use repo2agent_core::model::SourceFile;

/// `4-space indents, double-quoted strings` and the like, from the lines of a
/// source file.
pub(crate) fn style(file: &SourceFile) -> Option<String> {
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

/// The inner attributes a Rust file opens with (`#![no_std]`), each as its
/// name with the names inside it, string arguments dropped.
pub(crate) fn inner_attributes(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let t = line.trim();
        if current.is_empty() && !t.starts_with("#![") {
            if t.is_empty() || t.starts_with("//") {
                continue;
            }
            break; // the first item: inner attributes come before it
        }
        let t = without_line_comment(t);
        current.push_str(t);
        current.push(' ');
        if t.ends_with(']') && brackets_closed(&current) {
            let inner = current.trim().trim_start_matches("#![").trim_end_matches(']').trim();
            let mut text = String::new();
            let mut in_string = false;
            for c in inner.chars() {
                if c == '"' {
                    in_string = !in_string;
                } else if !in_string {
                    text.push(c);
                }
            }
            let text = text
                .replace(" = ", "")
                .replace(" =", "")
                .replace("= ", "")
                .replace('=', "");
            let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
            let text = text.replace("( ", "(").replace(", )", ")").replace(" )", ")");
            if !text.is_empty() && out.len() < 8 {
                out.push(text);
            }
            current.clear();
        }
    }
    out
}

/// `line` up to a `//` comment outside its string literals, trimmed.
fn without_line_comment(line: &str) -> &str {
    let mut in_string = false;
    let mut prev = ' ';
    for (i, c) in line.char_indices() {
        match c {
            '"' if prev != '\\' => in_string = !in_string,
            '/' if prev == '/' && !in_string => return line[..i - 1].trim_end(),
            _ => {}
        }
        prev = c;
    }
    line
}

/// An attribute of more than 100 characters cut to its first three arguments.
pub(crate) fn shorten_attribute(text: &str) -> String {
    if text.chars().count() <= 100 {
        return text.to_owned();
    }
    let Some((name, args)) = text.split_once('(') else {
        return text.chars().take(100).collect();
    };
    let args: Vec<&str> = args.trim_end_matches(')').split(',').map(str::trim).collect();
    let shown = args[..args.len().min(3)].join(", ");
    format!("{name}({shown}, … {} more)", args.len().saturating_sub(3))
}

fn brackets_closed(s: &str) -> bool {
    let open = s.matches('[').count() + s.matches('(').count();
    let close = s.matches(']').count() + s.matches(')').count();
    open == close
}

/// How a source file opens: a license header (and whom its copyright
/// names), then the comment or docstring that documents it.
#[derive(Clone, Debug, Default)]
pub struct Opening {
    /// It opens with a license or copyright header.
    pub license_header: bool,
    /// Who that header's copyright line names.
    pub copyright: Option<String>,
    /// The licenses that header names ([`crate::text::header_licenses`]).
    pub licenses: Vec<String>,
    /// The documenting comment or docstring, comment markers removed.
    pub doc: Option<String>,
}

/// Reads how `file` opens (see [`Opening`]).
pub(crate) fn opening(file: &SourceFile) -> Opening {
    let mut out = Opening::default();
    if file.language.is_none() {
        return out;
    }
    let python = file.language.as_deref() == Some("python");
    let mut lines = file
        .text
        .lines()
        .skip_while(|l| {
            let l = l.trim();
            l.is_empty()
                || l.starts_with("#!") && !l.starts_with("#![")
                || l.contains("coding:")
                || l.contains("coding=")
        })
        .peekable();
    for _ in 0..2 {
        let Some(first) = lines.peek().map(|l| l.trim()) else {
            break;
        };
        let mut text = String::new();
        let mut block_comment = false;
        if let Some(q) = ["\"\"\"", "'''", "r\"\"\""].iter().find(|q| first.starts_with(**q)) {
            // A Python docstring, its lines as written (examples keep their indent).
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
            block_comment = true;
            for l in lines.by_ref() {
                let l = l.trim();
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
            let prefixes: &[&str] = if python { &["#"] } else { &["//!", "///", "//"] };
            let inner = first.starts_with("//!");
            while let Some(l) = lines.peek().map(|l| l.trim()) {
                if l.starts_with("#!") || l.starts_with("#[") {
                    break;
                }
                let Some(c) = prefixes.iter().find_map(|p| l.strip_prefix(p)) else {
                    break;
                };
                // A module's `//!` doc runs on over blank lines; a plain comment ends at one.
                if c.trim().is_empty() && !text.trim().is_empty() && !inner {
                    break;
                }
                text.push_str(c.strip_prefix(' ').unwrap_or(c).trim_end());
                text.push('\n');
                lines.next();
            }
            block_comment = !inner;
        }
        // Skip the blank lines before what may follow.
        while lines.peek().is_some_and(|l| l.trim().is_empty()) {
            lines.next();
        }
        let head: String = text.split("\n\n").next().unwrap_or(&text).to_ascii_lowercase();
        let licensing = head.contains("copyright") || head.contains("license") || head.contains("spdx");
        if licensing && !out.license_header && (block_comment || text.len() < 2000) {
            out.license_header = true;
            out.copyright = text.lines().find_map(crate::text::copyright_holder);
            out.licenses = crate::text::header_licenses(&text);
            continue; // the documenting comment may come after it
        }
        if !text.trim().is_empty() {
            out.doc = Some(text);
        }
        break;
    }
    out
}

/// The name `line` binds the import of `module` to, when it renames it
/// (`from _json import make_encoder as c_make_encoder`, `use a::B as C;`).
pub(crate) fn alias(line: &str, module: &str) -> Option<String> {
    let last = module.rsplit(['.', ':', '/']).next().filter(|s| !s.is_empty())?;
    let at = line.find(last)? + last.len();
    let rest = line[at..].trim_start().strip_prefix("as ")?;
    let name: String = rest
        .trim_start()
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect();
    (!name.is_empty() && name != "_" && name != last).then_some(name)
}

/// Whether the import on line `at` sits in a Python `try:` block (it may be
/// missing and has a fallback).
pub(crate) fn guarded(lines: &[&str], at: usize) -> bool {
    let Some(line) = lines.get(at) else { return false };
    let indent = line.len() - line.trim_start().len();
    if indent == 0 {
        return false;
    }
    lines[..at]
        .iter()
        .rev()
        .map(|l| (l.len() - l.trim_start().len(), l.trim()))
        .find(|(i, t)| *i < indent && !t.is_empty())
        .is_some_and(|(_, t)| t == "try:")
}

#[cfg(test)]
mod tests {
    use super::inner_attributes;

    #[test]
    fn inner_attributes_drop_strings_and_comments_but_keep_lint_names() {
        let text = "//! Docs.\n#![doc(html_root_url = \"https://docs.rs/x//1.0\")]\n\
                    #![allow(\n    clippy::a, // clippy bug: https://example.org/1\n    clippy::b,\n)]\n\
                    #![no_std]\n\nuse core::fmt;\n#![not_inner]\n";
        assert_eq!(
            inner_attributes(text),
            ["doc(html_root_url)", "allow(clippy::a, clippy::b)", "no_std"]
        );
    }
}
