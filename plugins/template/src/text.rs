//! What a file without a code outline holds: a document's headings, a
//! configuration file's sections and keys, a license's name and holder.

use crate::describe::kind_name;
use repo2agent_core::model::SourceFile;

/// What a file that has no code outline is made of.
#[derive(Clone, Debug, Default)]
pub struct TextFacts {
    /// Headings of a document, in order.
    pub headings: Vec<String>,
    /// Tables or sections of a configuration file, each with its keys.
    pub sections: Vec<(String, Vec<String>)>,
    /// The sections are top-level keys (YAML), each with the keys nested
    /// under it, rather than `[tables]`.
    pub keyed: bool,
    /// The license, when the file is one.
    pub license: Option<&'static str>,
    /// Who holds the copyright, when a line says.
    pub copyright: Option<String>,
    /// How a license file begins (its title, the copyright line, or straight
    /// with the text).
    pub begins: Option<&'static str>,
    /// The column its prose is hard-wrapped at (see [`wrap_width`]).
    pub wrap: Option<usize>,
    /// The package a manifest names (`name` under `[package]` or `[project]`).
    pub package: Option<String>,
    /// Words of prose.
    pub words: usize,
    /// How a document (Markdown, reStructuredText, plain text) opens: its
    /// badges, first sentence, and the names its code examples use.
    pub opening: crate::doc::DocShape,
    /// The e-mail addresses a document gives (a security policy's or a code
    /// of conduct's contact), the first three, in order.
    pub emails: Vec<String>,
    /// The sites a document links to (`semver.org`, a repository as
    /// `github.com/OWNER/NAME`), the first four, in order.
    pub links: Vec<String>,
    /// A YAML file's top-level keys set to a short value on their own line
    /// (`name: CI`), with that value.
    pub values: Vec<(String, String)>,
}

/// The sites `text` links to, each once, the first `max`: the host, and for
/// a code-hosting site the repository too.
fn links(text: &str, max: usize) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for (i, _) in text.match_indices("://") {
        if !text[..i].ends_with("http") && !text[..i].ends_with("https") {
            continue;
        }
        let url: &str = text[i + 3..]
            .split(|c: char| c.is_whitespace() || ")]>\"'`<|,".contains(c))
            .next()
            .unwrap_or_default();
        let url = url.trim_end_matches(['.', ':', ';']);
        let mut parts = url.split('/').filter(|p| !p.is_empty());
        let Some(host) = parts.next().map(|h| h.trim_start_matches("www.")) else {
            continue;
        };
        if !host.contains('.') || !host.chars().all(|c| c.is_ascii_alphanumeric() || ".-".contains(c)) {
            continue;
        }
        let site = match (host, parts.next(), parts.next()) {
            ("github.com" | "gitlab.com" | "codeberg.org", Some(owner), Some(name)) => {
                format!("{host}/{owner}/{}", name.trim_end_matches(".git"))
            }
            _ => host.to_owned(),
        };
        if !out.contains(&site) {
            out.push(site);
            if out.len() == max {
                break;
            }
        }
    }
    out
}

/// A Markdown heading with its links' targets left out: `[0.4.35](https://…)
/// - 2026-10-30` reads `[0.4.35] - 2026-10-30`.
fn without_link_targets(h: &str) -> String {
    let mut out = String::new();
    let mut rest = h;
    while let Some(at) = rest.find("](") {
        out.push_str(&rest[..=at]);
        match rest[at + 2..].find(')') {
            Some(end) => rest = &rest[at + 2 + end + 1..],
            None => {
                rest = "";
                break;
            }
        }
    }
    out.push_str(rest);
    out
}

/// A YAML file's top-level `key: value` lines with a short value, while
/// what they say stays under a tenth of the file: a thought plans a file, it
/// does not hold it (`FUNDING.yml`'s one line is never given).
fn yaml_values(text: &str, lines: &[&str]) -> Vec<(String, String)> {
    let mut room = text.len() / 10;
    lines
        .iter()
        .filter(|l| !l.starts_with([' ', '\t', '#', '-']))
        .filter_map(|l| {
            let (k, v) = l.split_once(": ")?;
            let v = v.split(" #").next().unwrap_or(v).trim();
            let k = k.trim().trim_matches(['"', '\'']);
            let ok = !k.is_empty() && !k.contains(' ') && !v.is_empty() && v.chars().count() <= 40;
            (ok && !v.starts_with(['&', '*', '|', '>'])).then(|| (k.to_owned(), v.to_owned()))
        })
        .take(8)
        .take_while(|(k, v)| {
            let fits = k.len() + v.len() <= room;
            room = room.saturating_sub(k.len() + v.len());
            fits
        })
        .collect()
}

/// The e-mail addresses in `text`, each once, the first `max`.
fn emails(text: &str, max: usize) -> Vec<String> {
    let ok = |s: &str, extra: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || extra.contains(c));
    let mut out: Vec<String> = Vec::new();
    for word in text.split(|c: char| c.is_whitespace() || "<>()[]{},;:\"'`*|".contains(c)) {
        let w = word.trim_matches(|c: char| !c.is_alphanumeric());
        let Some((user, domain)) = w.split_once('@') else {
            continue;
        };
        let tld = domain.rsplit('.').next().unwrap_or("");
        if ok(user, "._%+-")
            && ok(domain, ".-")
            && domain.contains('.')
            && tld.len() >= 2
            && tld.chars().all(|c| c.is_ascii_alphabetic())
            && !out.iter().any(|e| e == w)
        {
            out.push(w.to_owned());
            if out.len() == max {
                break;
            }
        }
    }
    out
}

/// A YAML file's top-level keys, each with the keys one level under it
/// (`on` with `push` and `pull_request`, `jobs` with each job's name); list
/// items and values are left out.
fn yaml_sections(lines: &[&str]) -> Vec<(String, Vec<String>)> {
    let key_of = |t: &str| {
        let (k, _) = t.split_once(':')?;
        let k = k.trim().trim_matches(['"', '\'']);
        (!k.is_empty() && !k.contains(' ') && !k.starts_with(['#', '-', '{', '['])).then(|| k.to_owned())
    };
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    let mut nested_indent: Option<usize> = None;
    for l in lines {
        let t = l.trim();
        if t.is_empty() || t.starts_with('#') || t == "---" {
            continue;
        }
        let indent = l.len() - l.trim_start().len();
        if indent == 0 {
            nested_indent = None;
            if out.len() < 24
                && let Some(k) = key_of(t)
            {
                out.push((k, Vec::new()));
            }
        } else if let Some((_, keys)) = out.last_mut()
            && !t.starts_with('-')
            && *nested_indent.get_or_insert(indent) == indent
            && keys.len() < 24
            && let Some(k) = key_of(t)
        {
            keys.push(k);
        }
    }
    out
}

/// Headings, sections and keys, license and size of a file without an outline.
pub fn text_facts(file: &SourceFile) -> TextFacts {
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
        let underlined = |chars: &str| {
            lines
                .get(i + 1)
                .map(|n| n.trim())
                .is_some_and(|n| n.len() >= 3 && n.chars().all(|c| chars.contains(c)))
        };
        let heading = if lower_name.ends_with(".md") || lower_name.ends_with(".markdown") {
            // `# Title`, or a title underlined with `===` / `---`.
            t.strip_prefix('#')
                .map(|h| h.trim_start_matches('#').trim())
                .or_else(|| (!t.is_empty() && !t.starts_with(['-', '|', '<', '[']) && underlined("=-")).then_some(t))
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
        let heading = heading.map(without_link_targets);
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
                if !k.is_empty() && !k.starts_with('#') && !k.contains(' ') && c.1.len() < 24 {
                    c.1.push(k.to_owned());
                }
            }
        }
        if let Some(c) = current.filter(|c| !c.0.is_empty() || !c.1.is_empty()) {
            facts.sections.push(c);
        }
    } else if matches!(ext, "yaml" | "yml") {
        facts.sections = yaml_sections(&lines);
        facts.values = yaml_values(text, &lines);
        facts.keyed = true;
    } else if ext == "json"
        && let Ok(serde_json::Value::Object(map)) = serde_json::from_str::<serde_json::Value>(text)
    {
        facts
            .sections
            .push((String::new(), map.keys().take(24).cloned().collect()));
    }
    facts.sections.truncate(if facts.keyed { 24 } else { 8 });
    // Prose: Markdown, reStructuredText, plain text, or a file without an
    // extension (`README`, `AUTHORS`).
    let prose = ["md", "markdown", "rst", "txt"].contains(&ext);
    let document = prose || !lower_name.contains('.');
    if document {
        facts.opening = crate::doc::shape(text);
    }
    // Licenses, by the words their texts always contain.
    let has = |s: &str| text.contains(s);
    let license_file = ["license", "licence", "copying", "unlicense"]
        .iter()
        .any(|p| lower_name.starts_with(p));
    // The first license any of whose words the text contains.
    const LICENSES: [(&[&str], &str); 8] = [
        (&["Apache License"], "Apache License, Version 2.0 (January 2004)"),
        (
            &["Permission is hereby granted, free of charge", "MIT License"],
            "MIT License (permission is granted free of charge, without warranty)",
        ),
        (&["GNU LESSER GENERAL PUBLIC"], "GNU Lesser General Public License"),
        (&["GNU GENERAL PUBLIC LICENSE"], "GNU General Public License"),
        (&["Mozilla Public License"], "Mozilla Public License, version 2.0"),
        (
            &["Redistribution and use in source and binary forms"],
            "BSD license (redistribution in source and binary forms permitted)",
        ),
        (
            &["This is free and unencumbered software"],
            "Unlicense (free and unencumbered software, in the public domain)",
        ),
        (&["Permission to use, copy, modify, and/or distribute"], "ISC License"),
    ];
    facts.license = LICENSES
        .iter()
        .find(|(words, _)| license_file && words.iter().any(|w| has(w)))
        .map(|(_, name)| *name);
    if license_file {
        // Every holder its copyright lines name, in order.
        let mut holders: Vec<String> = Vec::new();
        for h in lines.iter().filter_map(|l| copyright_holder(l)) {
            if !holders.contains(&h) && holders.len() < 3 {
                holders.push(h);
            }
        }
        facts.copyright = (!holders.is_empty()).then(|| holders.join(" and "));
        facts.begins = lines.iter().find(|l| !l.trim().is_empty()).map(|first| {
            let t = first.trim();
            let centred = first.len() - first.trim_start().len() >= 8;
            if t.starts_with("Copyright") {
                "with the copyright line"
            } else if t.len() <= 60 && t.to_ascii_lowercase().contains("licen") {
                if centred {
                    "with its title, centred"
                } else {
                    "with its title"
                }
            } else {
                "straight with the license's text, no title or copyright line above it"
            }
        });
    }
    if license_file || prose {
        facts.wrap = wrap_width(&lines);
    }
    if document && !license_file {
        facts.emails = emails(text, 3);
        facts.links = links(text, 4);
    }
    facts
}

/// The column prose is hard-wrapped at: the longest line, when at least a
/// third of the lines (and five or more) come within 15 % of it and it is
/// under 100 characters. `None` for text left unwrapped.
fn wrap_width(lines: &[&str]) -> Option<usize> {
    let lens: Vec<usize> = lines
        .iter()
        .map(|l| l.trim_end().chars().count())
        .filter(|n| *n > 0)
        .collect();
    let widest = *lens.iter().max()?;
    let near = lens.iter().filter(|n| **n * 100 >= widest * 85).count();
    (widest < 100 && near >= 5 && near * 3 >= lens.len()).then_some(widest)
}

/// Who a `Copyright (c) 2015 Holder` line names (years and marks left out).
pub fn copyright_holder(line: &str) -> Option<String> {
    let t = line.trim();
    let rest = if let Some(rest) = t.strip_prefix("Copyright") {
        let marked =
            rest.trim_start().starts_with(['(', '©']) || rest.trim_start().starts_with(|c: char| c.is_ascii_digit());
        if !marked {
            return None;
        }
        rest
    } else if let Some(rest) = t.strip_prefix("SPDX-FileCopyrightText:") {
        rest
    } else if t.starts_with("(c) ") || t.starts_with("(C) ") || t.starts_with("© ") {
        t
    } else {
        return None;
    };
    let rest = rest.replace("(c)", "").replace("(C)", "").replace('©', "");
    // What follows a `;` or a parenthesis is an aside (`; written for Paste (http://…)`).
    let rest = rest.split([';', '(']).next().unwrap_or_default();
    let holder: Vec<&str> = rest
        .split_whitespace()
        .filter(|w| !w.chars().all(|c| c.is_ascii_digit() || c == '-' || c == ','))
        .filter(|w| !w.starts_with('<'))
        .take(6)
        .collect();
    let holder = holder.join(" ");
    (!holder.is_empty() && holder.chars().next().is_some_and(char::is_alphabetic)).then_some(holder)
}

/// The licenses a source file's header comment names, each once, in order:
/// an SPDX expression as written (`MIT OR Apache-2.0`), otherwise the
/// licenses its prose names (`MIT`, `Apache-2.0`), and a contributor
/// agreement (`licensed to the PSF under a contributor agreement`).
pub fn header_licenses(header: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut add = |s: &str| {
        if !out.iter().any(|o| o == s) {
            out.push(s.to_owned());
        }
    };
    for line in header.lines() {
        if let Some((_, id)) = line.split_once("SPDX-License-Identifier:") {
            let id = id.trim().trim_end_matches("*/").trim();
            if !id.is_empty() && id.len() <= 60 {
                add(id);
            }
            continue;
        }
        let l = line.to_ascii_lowercase();
        let named: &[(&str, &str)] = &[
            ("mit license", "MIT"),
            ("mit licence", "MIT"),
            ("apache license", "Apache-2.0"),
            ("apache licence", "Apache-2.0"),
            ("gnu general public license", "GPL"),
            ("gnu lesser general public license", "LGPL"),
            ("mozilla public license", "MPL-2.0"),
            ("bsd-style license", "BSD-style"),
            ("bsd license", "BSD"),
        ];
        for (phrase, id) in named {
            if l.contains(phrase) {
                add(id);
            }
        }
        if l.contains("contributor agreement") {
            match l.split_once("licensed to ") {
                Some((_, who)) => {
                    let who = who.split_whitespace().next().unwrap_or_default().to_ascii_uppercase();
                    add(&format!("licensed to the {who} under a contributor agreement"));
                }
                None => add("a contributor agreement"),
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_workflow_gives_its_top_level_keys_with_the_keys_under_each() {
        let yml = "name: CI\n\non:\n  push:\n  pull_request:\n  schedule: [cron: \"40 1 * * *\"]\n\n# comment\npermissions:\n  contents: read\n\njobs:\n  test:\n    name: Rust ${{matrix.rust}}\n    steps:\n      - uses: actions/checkout@v6\n  clippy:\n    runs-on: ubuntu-latest\n";
        let file = SourceFile {
            id: repo2agent_core::model::FileId(0),
            path: ".github/workflows/ci.yml".into(),
            language: None,
            text: yml.into(),
        };
        let t = text_facts(&file);
        assert!(t.keyed);
        let s = |k: &str, v: &[&str]| (k.to_owned(), v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>());
        assert_eq!(
            t.sections,
            [
                s("name", &[]),
                s("on", &["push", "pull_request", "schedule"]),
                s("permissions", &["contents"]),
                s("jobs", &["test", "clippy"]),
            ],
            "job names one level down; their own keys, list items and values left out"
        );
    }

    #[test]
    fn a_document_gives_its_contact_addresses_and_a_license_does_not() {
        let policy = "## Reporting Security Issues\n\nPlease email <sec@example.org> or \
                      [the team](mailto:team@example.org).\nNot `a@b`, not x@y.z1, again sec@example.org.\n";
        assert_eq!(
            facts_of("SECURITY.md", policy).emails,
            ["sec@example.org", "team@example.org"]
        );
        let license = "Copyright (c) 2020 Ann <ann@example.org>\n\nPermission is hereby granted, free of charge\n";
        assert!(facts_of("LICENSE", license).emails.is_empty());
        assert!(
            facts_of("Cargo.toml", "authors = [\"Ann <ann@example.org>\"]\n")
                .emails
                .is_empty()
        );
    }

    fn facts_of(path: &str, text: &str) -> TextFacts {
        text_facts(&SourceFile {
            id: repo2agent_core::model::FileId(0),
            path: path.into(),
            language: None,
            text: text.into(),
        })
    }

    #[test]
    fn a_license_says_how_it_begins_whom_it_names_and_where_it_wraps() {
        let body = "Permission is hereby granted, free of charge, to any\nperson obtaining a copy of this software and associated\ndocumentation files (the \"Software\"), to deal in the\nSoftware without restriction, including without\nlimitation the rights to use, copy, modify, merge,\npublish, distribute, sublicense, and/or sell copies of\nthe Software.\n";
        let t = facts_of("LICENSE-MIT", body);
        assert!(t.license.is_some_and(|l| l.starts_with("MIT")));
        assert_eq!(
            t.begins,
            Some("straight with the license's text, no title or copyright line above it")
        );
        assert_eq!(t.wrap, Some(55), "wrapped narrowly, as written");
        assert_eq!(t.copyright, None);
        let titled = format!(
            "The MIT License (MIT)\n\nCopyright (c) 2015 Ann Lee\nCopyright (c) 2016 Bo Chen <bo@example.org>\n\n{body}"
        );
        let t = facts_of("LICENSE", &titled);
        assert_eq!(t.begins, Some("with its title"));
        assert_eq!(
            t.copyright.as_deref(),
            Some("Ann Lee and Bo Chen"),
            "every holder, no address"
        );
        let t = facts_of(
            "LICENSE-APACHE",
            "                              Apache License\n                        Version 2.0, January 2004\n",
        );
        assert_eq!(t.begins, Some("with its title, centred"));
        // Prose on one line per paragraph is not wrapped.
        let long = "word ".repeat(40);
        let t = facts_of("NOTES.md", &format!("{long}\n\n{long}\n"));
        assert_eq!(t.wrap, None);
    }

    #[test]
    fn markdown_titles_underlined_are_headings() {
        let t = facts_of(
            "README.md",
            "itoa\n====\n\nFast.\n\nUsage\n-----\n\n# Example\n\n- item\n---\n",
        );
        assert_eq!(
            t.headings,
            ["itoa", "Usage", "Example"],
            "a list item above a rule is not a heading"
        );
    }

    #[test]
    fn a_header_gives_its_holder_and_the_licenses_it_names() {
        let paste = "(c) 2005 Ian Bicking and contributors; written for Paste (http://pythonpaste.org)\n\
                     Licensed under the MIT license: https://opensource.org/licenses/mit-license.php\n\
                     Also licenced under the Apache License, 2.0: https://opensource.org/licenses/apache2.0.php\n\
                     Licensed to PSF under a Contributor Agreement\n";
        let holder = paste.lines().find_map(copyright_holder);
        assert_eq!(
            holder.as_deref(),
            Some("Ian Bicking and contributors"),
            "the aside after `;` left out"
        );
        assert_eq!(
            header_licenses(paste),
            ["MIT", "Apache-2.0", "licensed to the PSF under a contributor agreement"]
        );
        let spdx = "SPDX-License-Identifier: MIT OR Apache-2.0\nSPDX-FileCopyrightText: 2021 Taneli Hukkinen\n";
        assert_eq!(
            spdx.lines().find_map(copyright_holder).as_deref(),
            Some("Taneli Hukkinen")
        );
        assert_eq!(
            header_licenses(spdx),
            ["MIT OR Apache-2.0"],
            "an SPDX expression as written"
        );
        assert!(header_licenses("Just a comment about this module.\n").is_empty());
        assert_eq!(
            copyright_holder("Copyright holders agree"),
            None,
            "a word, not a copyright line"
        );
    }

    #[test]
    fn a_document_names_the_sites_it_links_to_and_yaml_its_short_values() {
        let log = "# Changelog\n\nBased on [Keep a Changelog](https://keepachangelog.com/en/1.0.0/), \
                   [SemVer](https://semver.org/spec/v2.0.0.html).\n\n\
                   ## [0.4.35](https://github.com/rust-lang/log/compare/v0.4.34...v0.4.35) - 2026-10-30\n\n\
                   * fix by @a in https://github.com/rust-lang/log/pull/735\n\
                   See http://www.example.org and mailto:x@example.org or ftp://files.example.org.\n";
        let t = facts_of("CHANGELOG.md", log);
        assert_eq!(
            t.links,
            [
                "keepachangelog.com",
                "semver.org",
                "github.com/rust-lang/log",
                "example.org"
            ],
            "hosts once each, a repository by owner and name, only http(s)"
        );
        assert_eq!(
            t.headings,
            ["Changelog", "[0.4.35] - 2026-10-30"],
            "link targets left out of headings"
        );
        assert!(
            facts_of("LICENSE", "See https://www.apache.org/licenses/\n")
                .links
                .is_empty()
        );
        let steps = "  - run: cargo test --workspace --all-features\n".repeat(12);
        let yml = format!(
            "name: CI\non: [push, pull_request]\nenv:\n  RUST: 1\nlong: \"a value far too long to be worth saying in a thought\"\nblock: |\n  text\nsteps:\n{steps}"
        );
        let t = facts_of("ci.yml", &yml);
        let kv = |k: &str, v: &str| (k.to_owned(), v.to_owned());
        assert_eq!(t.values, [kv("name", "CI"), kv("on", "[push, pull_request]")]);
        assert!(
            facts_of(".github/FUNDING.yml", "github: dtolnay\n").values.is_empty(),
            "never most of the file"
        );
    }
}
