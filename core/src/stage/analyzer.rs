use crate::error::StageError;
use crate::model::{FileOutline, Import, ImportTarget, RepoSnapshot, SourceFile};
pub use repo2agent_plugin_types::LanguageSpec;

/// Turns one file into its outline and resolves its imports (docs/method.md step 1).
///
/// Contract:
/// - [`Analyzer::outline`] is pure: same file, same outline. It returns
///   `Err(StageError::Invalid)` for a file it cannot parse at all; the runner skips
///   that file's outline and counts the reason, and never stops the run. It must
///   not panic on any input (a panic in a dynamic plugin is caught and reported as
///   [`StageError::PluginPanicked`]).
/// - Spans in the outline are byte offsets into `file.text` and 1-based lines.
/// - [`Analyzer::resolver`] is called once per repository and may read what the
///   language needs for resolution (`go.mod`, `tsconfig.json`, `Cargo.toml` …);
///   the resolver it returns maps one raw import to files of the same snapshot.
///   The default treats an import as a path (relative to the importing file, then
///   to the repository root), which suits `source ./lib.sh`.
pub trait Analyzer: Send + Sync {
    /// The language this analyzer handles and how to recognise its files.
    fn language(&self) -> &LanguageSpec;

    /// The outline (symbols and raw imports) of one file of this language.
    fn outline(&self, file: &SourceFile) -> Result<FileOutline, StageError>;

    /// The import resolver for one repository.
    fn resolver<'r>(&self, repo: &'r RepoSnapshot) -> Box<dyn ImportResolver + 'r> {
        Box::new(PathResolver { repo })
    }
}

/// Resolves the imports of one repository's files (built by [`Analyzer::resolver`]).
pub trait ImportResolver {
    /// Where `import`, found in `from`, leads.
    fn resolve(&self, from: &SourceFile, import: &Import) -> ImportTarget;
}

/// The default resolver: imports are paths ([`resolve_path_import`]).
#[derive(Clone, Copy, Debug)]
pub struct PathResolver<'r> {
    /// The repository.
    pub repo: &'r RepoSnapshot,
}

impl ImportResolver for PathResolver<'_> {
    fn resolve(&self, from: &SourceFile, import: &Import) -> ImportTarget {
        resolve_path_import(from, &import.raw, self.repo)
    }
}

/// Resolves an import written as a path: relative to the importing file's
/// directory, then to the repository root. A path that starts with `.` or `/` and
/// matches nothing is `Unresolved`; anything else that matches nothing is `External`.
pub fn resolve_path_import(from: &SourceFile, raw: &str, repo: &RepoSnapshot) -> ImportTarget {
    let dir = from.path.rsplit_once('/').map(|(d, _)| d).unwrap_or("");
    for base in [dir, ""] {
        if let Some(p) = normalize_join(base, raw)
            && let Some(f) = repo.by_path(&p)
        {
            return ImportTarget::Files(vec![f.id]);
        }
    }
    if raw.starts_with('.') || raw.starts_with('/') {
        ImportTarget::Unresolved
    } else {
        ImportTarget::External
    }
}

/// Joins `rel` onto directory `base` (both `/`-separated, repository-relative) and normalises `.` and `..`; `None` if the
/// result would leave the repository.
pub fn normalize_join(base: &str, rel: &str) -> Option<String> {
    let mut parts: Vec<&str> = if rel.starts_with('/') {
        Vec::new()
    } else {
        base.split('/').filter(|s| !s.is_empty()).collect()
    };
    for seg in rel.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            s => parts.push(s),
        }
    }
    Some(parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_imports_resolve_relative_then_root_and_classify_misses() {
        let repo = RepoSnapshot::new(
            "r",
            "/r",
            vec![
                ("lib/util.sh".into(), None, String::new()),
                ("bin/run.sh".into(), None, String::new()),
                ("common.sh".into(), None, String::new()),
            ],
        );
        let from = repo.by_path("bin/run.sh").unwrap();
        let util = repo.by_path("lib/util.sh").unwrap().id;
        let common = repo.by_path("common.sh").unwrap().id;
        assert_eq!(
            resolve_path_import(from, "../lib/util.sh", &repo),
            ImportTarget::Files(vec![util])
        );
        assert_eq!(
            resolve_path_import(from, "common.sh", &repo),
            ImportTarget::Files(vec![common])
        );
        assert_eq!(resolve_path_import(from, "./nope.sh", &repo), ImportTarget::Unresolved);
        assert_eq!(
            resolve_path_import(from, "../../../etc/passwd", &repo),
            ImportTarget::Unresolved
        );
        assert_eq!(resolve_path_import(from, "stdio.h", &repo), ImportTarget::External);
    }
}
