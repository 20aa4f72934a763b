//! Python: absolute imports through a module index (packages with
//! `__init__.py`, `src/` layouts, namespace packages), relative imports by
//! directory, `from X import name` falling back from a submodule to the module.

use super::{Files, dir_of, join, one};
use repo2agent_core::model::{FileId, Import, ImportTarget, RepoSnapshot, SourceFile};
use repo2agent_core::stage::ImportResolver;
use std::collections::{BTreeMap, BTreeSet};

pub(crate) struct PythonResolver<'r> {
    files: Files<'r>,
    modules: BTreeMap<String, FileId>,
    top_level: BTreeSet<String>,
}

fn is_python(path: &str) -> bool {
    path.ends_with(".py") || path.ends_with(".pyi")
}

fn module_of(rel: &str) -> Option<String> {
    let stem = rel.strip_suffix(".pyi").or_else(|| rel.strip_suffix(".py"))?;
    let stem = stem.strip_suffix("/__init__").unwrap_or(stem);
    if stem == "__init__" || stem.is_empty() {
        return None;
    }
    let name = stem.replace('/', ".");
    name.split('.')
        .all(|s| !s.is_empty() && !s.contains(['-', ' ']))
        .then_some(name)
}

impl<'r> PythonResolver<'r> {
    pub fn new(repo: &'r RepoSnapshot) -> Self {
        let files = Files::new(repo);
        let is_package = |dir: &str| files.get(&join(dir, "__init__.py")).is_some();
        // Shallow paths first, so `pkg/x.py` wins over `tests/pkg/x.py` for `pkg.x`.
        let mut py: Vec<&SourceFile> = repo.files.iter().filter(|f| is_python(&f.path)).collect();
        py.sort_by_key(|f| (f.path.matches('/').count(), f.path.ends_with(".pyi"), f.path.clone()));
        let root_is_package = files.get("__init__.py").is_some();
        let mut modules = BTreeMap::new();
        for f in py {
            // Root of the package the file is in: climb while directories are packages.
            let mut top = dir_of(&f.path);
            while !top.is_empty() && is_package(top) {
                top = dir_of(top);
            }
            // When the root is itself a package, names relative to it are not
            // importable (`import subprocess` inside `asyncio/` is the stdlib's).
            let mut roots = if root_is_package { vec![] } else { vec![top, ""] };
            if f.path.starts_with("src/") {
                roots.push("src");
            }
            for root in roots {
                let rel = if root.is_empty() {
                    Some(f.path.as_str())
                } else {
                    f.path.strip_prefix(&format!("{root}/"))
                };
                if let Some(name) = rel.and_then(module_of) {
                    modules.entry(name).or_insert(f.id);
                }
            }
            // The repository root is itself a package (a package checked out on
            // its own, like `email/`): its modules are also `NAME.x`.
            if root_is_package {
                let name = match f.path.as_str() {
                    "__init__.py" => Some(repo.name.clone()),
                    p => module_of(p).map(|m| format!("{}.{m}", repo.name)),
                };
                if let Some(name) = name {
                    modules.entry(name).or_insert(f.id);
                }
            }
        }
        let top_level = modules
            .keys()
            .filter_map(|m| m.split('.').next())
            .map(str::to_owned)
            .collect();
        Self {
            files,
            modules,
            top_level,
        }
    }

    fn module_file(&self, dir: &str, segs: &[&str]) -> Option<FileId> {
        let base = join(dir, &segs.join("/"));
        if segs.is_empty() {
            return self.files.get(&join(dir, "__init__.py"));
        }
        ["py", "pyi"]
            .iter()
            .find_map(|e| self.files.get(&format!("{base}.{e}")))
            .or_else(|| self.files.get(&format!("{base}/__init__.py")))
    }

    fn relative(&self, from: &SourceFile, raw: &str) -> ImportTarget {
        let dots = raw.chars().take_while(|c| *c == '.').count();
        let mut base = dir_of(&from.path).to_owned();
        for _ in 1..dots {
            if base.is_empty() {
                return ImportTarget::Unresolved;
            }
            base = dir_of(&base).to_owned();
        }
        let segs: Vec<&str> = raw[dots..].split('.').filter(|s| !s.is_empty()).collect();
        let found = self.module_file(&base, &segs).or_else(|| match segs.split_last() {
            Some((_, parent)) => self.module_file(&base, parent),
            None => None,
        });
        found.map_or(ImportTarget::Unresolved, one)
    }
}

impl ImportResolver for PythonResolver<'_> {
    fn resolve(&self, from: &SourceFile, import: &Import) -> ImportTarget {
        let raw = import.raw.as_str();
        if raw.starts_with('.') {
            return self.relative(from, raw);
        }
        if let Some(id) = self.modules.get(raw) {
            return one(*id);
        }
        if let Some((parent, _)) = raw.rsplit_once('.')
            && let Some(id) = self.modules.get(parent)
        {
            return one(*id);
        }
        // A script's own directory is on sys.path: `import helper` next to it.
        let dir = dir_of(&from.path);
        if self.files.get(&join(dir, "__init__.py")).is_none() {
            let segs: Vec<&str> = raw.split('.').collect();
            if let Some(id) = self.module_file(dir, &segs) {
                return one(id);
            }
        }
        let first = raw.split('.').next().unwrap_or(raw);
        if self.top_level.contains(first) {
            ImportTarget::Unresolved
        } else {
            ImportTarget::External
        }
    }
}
