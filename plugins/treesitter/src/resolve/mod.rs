//! Import resolution per language: raw imports to files of the same repository.

#[path = "../../languages/c/resolve.rs"]
mod c;
#[path = "../../languages/go/resolve.rs"]
mod go;
#[path = "../../languages/java/resolve.rs"]
mod java;
#[path = "../../languages/javascript/resolve.rs"]
mod javascript;
#[path = "../../languages/python/resolve.rs"]
mod python;
#[path = "../../languages/rust/resolve.rs"]
mod rust;

use repo2agent_core::model::{FileId, Import, ImportTarget, RepoSnapshot, SourceFile};
use repo2agent_core::stage::{ImportResolver, PathResolver, normalize_join};
use std::collections::{BTreeMap, BTreeSet};

/// How a language loaded at run time names its imports: path-like module
/// names (`require("lib.util")` → `lib/util.lua`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ModuleRule {
    /// Replaced by `/` in an import (`.` for Lua). Default none.
    pub separator: Option<String>,
    /// Extensions tried after the path (`lua`). Default none.
    pub extensions: Vec<String>,
    /// File stems tried inside a directory (`init` for Lua packages). Default none.
    pub index: Vec<String>,
}

/// Which resolver a language uses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ResolverKind {
    /// Python modules and packages.
    Python,
    /// JS/TS module specifiers.
    JavaScript,
    /// Rust modules and crates.
    Rust,
    /// Go packages under `go.mod` module paths.
    Go,
    /// Java packages and classes.
    Java,
    /// C/C++ includes.
    C,
    /// Paths relative to the file, then the root.
    Path,
    /// Path-like module names (languages loaded at run time).
    Module(ModuleRule),
}

impl ResolverKind {
    /// Builds the resolver for one repository.
    pub fn build<'r>(&self, repo: &'r RepoSnapshot) -> Box<dyn ImportResolver + 'r> {
        match self {
            ResolverKind::Python => Box::new(python::PythonResolver::new(repo)),
            ResolverKind::JavaScript => Box::new(javascript::JsResolver::new(repo)),
            ResolverKind::Rust => Box::new(rust::RustResolver::new(repo)),
            ResolverKind::Go => Box::new(go::GoResolver::new(repo)),
            ResolverKind::Java => Box::new(java::JavaResolver::new(repo)),
            ResolverKind::C => Box::new(c::CResolver::new(repo)),
            ResolverKind::Path => Box::new(PathResolver { repo }),
            ResolverKind::Module(rule) => Box::new(ModuleResolver {
                files: Files::new(repo),
                rule: rule.clone(),
            }),
        }
    }
}

/// Path lookups over a snapshot shared by the resolvers.
#[derive(Debug)]
pub(crate) struct Files<'r> {
    pub repo: &'r RepoSnapshot,
    /// Directory (`""` for the root) → files directly in it.
    pub dirs: BTreeMap<&'r str, Vec<FileId>>,
}

impl<'r> Files<'r> {
    pub fn new(repo: &'r RepoSnapshot) -> Self {
        let mut dirs: BTreeMap<&str, Vec<FileId>> = BTreeMap::new();
        for f in &repo.files {
            dirs.entry(dir_of(&f.path)).or_default().push(f.id);
        }
        Self { repo, dirs }
    }

    pub fn get(&self, path: &str) -> Option<FileId> {
        self.repo.by_path(path).map(|f| f.id)
    }
}

/// The directory part of a repository path (`""` at the root).
pub(crate) fn dir_of(path: &str) -> &str {
    path.rsplit_once('/').map_or("", |(d, _)| d)
}

/// Joins two repository-relative parts.
pub(crate) fn join(dir: &str, rest: &str) -> String {
    if dir.is_empty() {
        rest.to_owned()
    } else {
        format!("{dir}/{rest}")
    }
}

pub(crate) fn files(ids: impl IntoIterator<Item = FileId>) -> ImportTarget {
    let set: BTreeSet<FileId> = ids.into_iter().collect();
    if set.is_empty() {
        ImportTarget::Unresolved
    } else {
        ImportTarget::Files(set.into_iter().collect())
    }
}

pub(crate) fn one(id: FileId) -> ImportTarget {
    ImportTarget::Files(vec![id])
}

/// Resolves path-like module names by a [`ModuleRule`], relative to the
/// importing file's directory, then to the repository root.
struct ModuleResolver<'r> {
    files: Files<'r>,
    rule: ModuleRule,
}

impl ImportResolver for ModuleResolver<'_> {
    fn resolve(&self, from: &SourceFile, import: &Import) -> ImportTarget {
        let raw = match &self.rule.separator {
            Some(sep) if !import.raw.starts_with('.') => import.raw.replace(sep.as_str(), "/"),
            _ => import.raw.clone(),
        };
        for base in [dir_of(&from.path), ""] {
            let Some(p) = normalize_join(base, &raw) else { continue };
            let mut candidates = vec![p.clone()];
            candidates.extend(self.rule.extensions.iter().map(|e| format!("{p}.{e}")));
            for stem in &self.rule.index {
                candidates.extend(self.rule.extensions.iter().map(|e| format!("{p}/{stem}.{e}")));
            }
            if let Some(id) = candidates.iter().find_map(|c| self.files.get(c)) {
                return one(id);
            }
        }
        if raw.starts_with('.') {
            ImportTarget::Unresolved
        } else {
            ImportTarget::External
        }
    }
}
