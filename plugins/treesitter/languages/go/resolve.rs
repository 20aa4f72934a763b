//! Go: an import under a `go.mod` module path names a package directory; the
//! edge goes to every non-test file of that package.

use super::{Files, dir_of, files, join};
use repo2agent_core::model::{Import, ImportTarget, RepoSnapshot, SourceFile};
use repo2agent_core::stage::ImportResolver;

pub(crate) struct GoResolver<'r> {
    files: Files<'r>,
    /// (module path, directory of its go.mod), longest module path first.
    modules: Vec<(String, String)>,
}

impl<'r> GoResolver<'r> {
    pub fn new(repo: &'r RepoSnapshot) -> Self {
        let mut modules: Vec<(String, String)> = repo
            .files
            .iter()
            .filter(|f| f.path == "go.mod" || f.path.ends_with("/go.mod"))
            .filter_map(|f| {
                let line = f.text.lines().map(str::trim).find(|l| l.starts_with("module "))?;
                let module = line.trim_start_matches("module").trim().trim_matches('"').to_owned();
                Some((module, dir_of(&f.path).to_owned()))
            })
            .collect();
        modules.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then_with(|| a.cmp(b)));
        Self {
            files: Files::new(repo),
            modules,
        }
    }
}

impl ImportResolver for GoResolver<'_> {
    fn resolve(&self, _from: &SourceFile, import: &Import) -> ImportTarget {
        let raw = import.raw.as_str();
        for (module, dir) in &self.modules {
            let sub = if raw == module {
                ""
            } else if let Some(rest) = raw.strip_prefix(module.as_str()).and_then(|r| r.strip_prefix('/')) {
                rest
            } else {
                continue;
            };
            let pkg_dir = if sub.is_empty() { dir.clone() } else { join(dir, sub) };
            let ids = self
                .files
                .dirs
                .get(pkg_dir.as_str())
                .into_iter()
                .flatten()
                .copied()
                .filter(|id| {
                    self.files
                        .repo
                        .file(*id)
                        .is_some_and(|f| f.path.ends_with(".go") && !f.path.ends_with("_test.go"))
                });
            return files(ids);
        }
        ImportTarget::External
    }
}
