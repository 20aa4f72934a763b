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
    /// The license, when the file is one.
    pub license: Option<&'static str>,
    /// Who holds the copyright, when a line says.
    pub copyright: Option<String>,
    /// The package a manifest names (`name` under `[package]` or `[project]`).
    pub package: Option<String>,
    /// Words of prose.
    pub words: usize,
    /// How a document (Markdown, reStructuredText, plain text) opens: its
    /// badges, first sentence, and the names its code examples use.
    pub opening: crate::doc::DocShape,
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
                if !k.is_empty() && !k.starts_with('#') && !k.contains(' ') && c.1.len() < 24 {
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
            .take(24)
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
            .push((String::new(), map.keys().take(24).cloned().collect()));
    }
    facts.sections.truncate(8);
    if ["md", "markdown", "rst", "txt"].contains(&ext) || !lower_name.contains('.') {
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
        facts.copyright = lines.iter().find_map(|l| copyright_holder(l));
    }
    facts
}

/// Who a `Copyright (c) 2015 Holder` line names (years and marks left out).
pub fn copyright_holder(line: &str) -> Option<String> {
    let rest = line.trim().strip_prefix("Copyright")?;
    let marked =
        rest.trim_start().starts_with(['(', '©']) || rest.trim_start().starts_with(|c: char| c.is_ascii_digit());
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
}
