//! The document a source file's own docs follow. Many crate roots repeat
//! their README as `//!` docs or include it (`#![doc = include_str!("../README.md")]`),
//! and some packages open their `__init__.py` docstring with the README's
//! text; a developer writing such a file has that document open. The plan
//! asks the sub-agent to read it before writing (docs/method.md).

use crate::opening::opening;
use repo2agent_core::model::{FileId, RepoSnapshot, SourceFile};
use std::collections::{HashMap, HashSet};

/// Words per shingle compared between a file's docs and a document.
const SHINGLE: usize = 6;
/// Fewest shingles a file's docs must have to be compared at all.
const MIN_SHINGLES: usize = 5;
/// Share of the docs' shingles the document must hold for the docs to
/// follow it.
const MIN_SHARED: f64 = 0.3;

/// Finds, for source files, the README their docs follow; each README's
/// shingles are computed once.
pub(crate) struct Mirrors {
    /// README files by their directory (`""` for the root).
    readmes: HashMap<String, Vec<FileId>>,
    shingles: HashMap<FileId, HashSet<u64>>,
}

impl Mirrors {
    pub(crate) fn new(snapshot: &RepoSnapshot) -> Self {
        let mut readmes: HashMap<String, Vec<FileId>> = HashMap::new();
        for f in &snapshot.files {
            let (dir, name) = f.path.rsplit_once('/').unwrap_or(("", &f.path));
            if is_readme(name) {
                readmes.entry(dir.to_owned()).or_default().push(f.id);
            }
        }
        Mirrors {
            readmes,
            shingles: HashMap::new(),
        }
    }

    /// The README `file`'s docs follow: the one it `include_str!`s, else the
    /// nearest README in its directory or above holding at least
    /// [`MIN_SHARED`] of its doc's word 6-grams.
    pub(crate) fn followed(&mut self, snapshot: &RepoSnapshot, file: &SourceFile) -> Option<FileId> {
        file.language.as_ref()?;
        if let Some(d) = included_doc(snapshot, file) {
            return Some(d);
        }
        if self.readmes.is_empty() {
            return None;
        }
        let doc = opening(file).doc?;
        let own = shingles(&doc);
        if own.len() < MIN_SHINGLES {
            return None;
        }
        let mut dir = file.path.rsplit_once('/').map_or("", |(d, _)| d);
        loop {
            for r in self.readmes.get(dir).into_iter().flatten() {
                let Some(text) = snapshot.file(*r).map(|f| f.text.as_str()) else {
                    continue;
                };
                let theirs = self.shingles.entry(*r).or_insert_with(|| shingles(text));
                let shared = own.iter().filter(|s| theirs.contains(s)).count();
                if shared as f64 >= MIN_SHARED * own.len() as f64 {
                    return Some(*r);
                }
            }
            if dir.is_empty() {
                return None;
            }
            dir = dir.rsplit_once('/').map_or("", |(p, _)| p);
        }
    }
}

fn is_readme(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    lower == "readme"
        || lower
            .strip_prefix("readme.")
            .is_some_and(|ext| ["md", "markdown", "rst", "txt"].contains(&ext))
}

/// The document `file` includes as its docs in its first lines
/// (`include_str!("../README.md")`), resolved against its directory.
fn included_doc(snapshot: &RepoSnapshot, file: &SourceFile) -> Option<FileId> {
    if file.language.as_deref() != Some("rust") {
        return None;
    }
    for line in file.text.lines().take(80) {
        let Some(at) = line.find("include_str!(\"") else {
            continue;
        };
        let rest = &line[at + "include_str!(\"".len()..];
        let Some(target) = rest.split('"').next() else {
            continue;
        };
        let lower = target.to_ascii_lowercase();
        if !(lower.ends_with(".md") || lower.ends_with(".rst") || lower.ends_with(".txt")) {
            continue;
        }
        let mut parts: Vec<&str> = file.path.split('/').collect();
        parts.pop();
        for seg in target.split('/') {
            match seg {
                "" | "." => {}
                ".." => {
                    parts.pop()?;
                }
                s => parts.push(s),
            }
        }
        if let Some(f) = snapshot.by_path(&parts.join("/")) {
            return Some(f.id);
        }
    }
    None
}

/// Hashes of the lower-cased word 6-grams of `text` (markup and line
/// wrapping do not matter).
fn shingles(text: &str) -> HashSet<u64> {
    let words: Vec<String> = text
        .split(|c: char| !c.is_alphanumeric() && c != '_')
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect();
    words
        .windows(SHINGLE)
        .map(|w| repo2agent_core::order::seeded_hash(0, &w.join(" ")))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const README: &str = "# demo\n\nThis crate provides a fast conversion of integer primitives to decimal\nstrings, without going through the formatter.\n\n## Example\n\n```rust\nlet mut buffer = demo::Buffer::new();\n```\n";

    fn snap(lib: &str) -> RepoSnapshot {
        RepoSnapshot::new(
            "demo",
            "/demo",
            vec![
                ("README.md".into(), None, README.into()),
                ("src/lib.rs".into(), Some("rust".into()), lib.into()),
                (
                    "src/inner/README.md".into(),
                    None,
                    "# inner\n\nSomething else entirely, about parsing tables of numbers.\n".into(),
                ),
                ("src/inner/mod.rs".into(), Some("rust".into()), lib.into()),
            ],
        )
    }

    #[test]
    fn docs_that_retell_a_readme_follow_it_rewrapped_or_included() {
        // The README's text as `//!` docs, wrapped at other words.
        let lib = "//! This crate provides a fast conversion of integer primitives\n//! to decimal strings, without going through the formatter.\n//!\n//! # Example\n\nmod inner;\n";
        let s = snap(lib);
        let mut m = Mirrors::new(&s);
        let readme = s.by_path("README.md").unwrap().id;
        assert_eq!(m.followed(&s, s.by_path("src/lib.rs").unwrap()), Some(readme));
        // The nearer README says something else: the root one is still found.
        assert_eq!(m.followed(&s, s.by_path("src/inner/mod.rs").unwrap()), Some(readme));
        // Included as docs: found by its path, whatever the docs say.
        let s = snap("#![doc = include_str!(\"../README.md\")]\n\nmod inner;\n");
        let mut m = Mirrors::new(&s);
        assert_eq!(m.followed(&s, s.by_path("src/lib.rs").unwrap()), Some(readme));
        // The inner module including its own README by a relative path.
        let s = snap("#![doc = include_str!(\"./README.md\")]\n");
        let mut m = Mirrors::new(&s);
        let inner = s.by_path("src/inner/README.md").unwrap().id;
        assert_eq!(m.followed(&s, s.by_path("src/inner/mod.rs").unwrap()), Some(inner));
    }

    #[test]
    fn docs_of_their_own_and_documents_follow_nothing() {
        let s =
            snap("//! Parses the command line and runs the chosen subcommand over each input file.\n\nmod inner;\n");
        let mut m = Mirrors::new(&s);
        assert_eq!(m.followed(&s, s.by_path("src/lib.rs").unwrap()), None);
        // Too short a doc to compare.
        let s = snap("//! This crate provides a fast\n");
        let mut m = Mirrors::new(&s);
        assert_eq!(m.followed(&s, s.by_path("src/lib.rs").unwrap()), None);
        // A document is not a source file.
        assert_eq!(m.followed(&s, s.by_path("README.md").unwrap()), None);
    }
}
