//! Java: `package` declarations index every file as `package.Class`; single-type
//! imports resolve to the class's file (nested classes and static members fall
//! back to their outer class), wildcard imports to every file of the package.

use super::{files, one};
use repo2agent_core::model::{FileId, Import, ImportTarget, RepoSnapshot, SourceFile};
use repo2agent_core::stage::ImportResolver;
use std::collections::BTreeMap;

pub(crate) struct JavaResolver {
    classes: BTreeMap<String, FileId>,
    packages: BTreeMap<String, Vec<FileId>>,
    /// The longest package prefix all the repository's packages share, with a
    /// trailing dot (`com.example.`); empty when there is none.
    root: String,
}

fn package_of(text: &str) -> Option<&str> {
    text.lines()
        .map(str::trim)
        .find(|l| l.starts_with("package ") && l.ends_with(';'))
        .map(|l| l.trim_start_matches("package").trim_end_matches(';').trim())
}

impl JavaResolver {
    pub fn new(repo: &RepoSnapshot) -> Self {
        let mut classes = BTreeMap::new();
        let mut packages: BTreeMap<String, Vec<FileId>> = BTreeMap::new();
        for f in repo.files.iter().filter(|f| f.path.ends_with(".java")) {
            let stem = f.path.rsplit('/').next().unwrap_or(&f.path).trim_end_matches(".java");
            let package = package_of(&f.text).unwrap_or("");
            let fqcn = if package.is_empty() {
                stem.to_owned()
            } else {
                format!("{package}.{stem}")
            };
            classes.entry(fqcn).or_insert(f.id);
            packages.entry(package.to_owned()).or_default().push(f.id);
        }
        let mut named = packages.keys().filter(|p| !p.is_empty());
        let mut root: Vec<&str> = named.next().map(|p| p.split('.').collect()).unwrap_or_default();
        for p in named {
            let common = root.iter().zip(p.split('.')).take_while(|(a, b)| **a == *b).count();
            root.truncate(common);
        }
        let root = if root.is_empty() {
            String::new()
        } else {
            format!("{}.", root.join("."))
        };
        Self {
            classes,
            packages,
            root,
        }
    }

    fn class(&self, name: &str) -> Option<FileId> {
        let mut name = name;
        loop {
            if let Some(id) = self.classes.get(name) {
                return Some(*id);
            }
            name = name.rsplit_once('.')?.0;
        }
    }

    /// Whether a name lies under the repository's own package root.
    fn ours(&self, name: &str) -> bool {
        !self.root.is_empty() && name.starts_with(&self.root)
    }
}

impl ImportResolver for JavaResolver {
    fn resolve(&self, _from: &SourceFile, import: &Import) -> ImportTarget {
        let raw = import.raw.strip_prefix("static ").unwrap_or(&import.raw);
        if let Some(pkg) = raw.strip_suffix(".*") {
            if let Some(ids) = self.packages.get(pkg) {
                return files(ids.iter().copied());
            }
            if let Some(id) = self.class(pkg) {
                return one(id);
            }
        } else if let Some(id) = self.class(raw) {
            return one(id);
        }
        if self.ours(raw) {
            ImportTarget::Unresolved
        } else {
            ImportTarget::External
        }
    }
}
