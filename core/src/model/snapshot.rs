use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Identifies a file within one [`RepoSnapshot`]: its index in the snapshot's
/// path-sorted file list. The same repository content always yields the same ids.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct FileId(pub u32);

impl FileId {
    /// The id as a vector index.
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

impl std::fmt::Display for FileId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// One text file of a repository, exactly as it is on disk.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceFile {
    /// Stable id (see [`FileId`]).
    pub id: FileId,
    /// Path relative to the repository root, `/`-separated.
    pub path: String,
    /// Detected language (by extension, file name or shebang); `None` for other text.
    pub language: Option<String>,
    /// The file's bytes, which are valid UTF-8 (others are skipped at ingestion).
    pub text: String,
}

/// A repository after ingestion: the files kept, sorted by path.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepoSnapshot {
    /// Display name (the directory name unless configured otherwise).
    pub name: String,
    /// Where it was read from.
    pub root: PathBuf,
    /// Kept files, sorted by `path`; `files[i].id == FileId(i)`.
    pub files: Vec<SourceFile>,
}

impl RepoSnapshot {
    /// Builds a snapshot from `(path, language, text)` triples, sorting by path and
    /// assigning ids. Duplicate paths keep the first occurrence.
    pub fn new(
        name: impl Into<String>,
        root: impl Into<PathBuf>,
        mut files: Vec<(String, Option<String>, String)>,
    ) -> Self {
        files.sort_by(|a, b| a.0.cmp(&b.0));
        files.dedup_by(|a, b| a.0 == b.0);
        let files = files
            .into_iter()
            .enumerate()
            .map(|(i, (path, language, text))| SourceFile {
                id: FileId(u32::try_from(i).unwrap_or(u32::MAX)),
                path,
                language,
                text,
            })
            .collect();
        Self {
            name: name.into(),
            root: root.into(),
            files,
        }
    }

    /// The file with this id, if it belongs to this snapshot.
    pub fn file(&self, id: FileId) -> Option<&SourceFile> {
        self.files.get(id.index())
    }

    /// The file at this repository-relative path.
    pub fn by_path(&self, path: &str) -> Option<&SourceFile> {
        self.files
            .binary_search_by(|f| f.path.as_str().cmp(path))
            .ok()
            .map(|i| &self.files[i])
    }

    /// Total bytes of text kept.
    pub fn total_bytes(&self) -> u64 {
        self.files.iter().map(|f| f.text.len() as u64).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_follow_sorted_paths_and_lookup_by_path_works() {
        let snap = RepoSnapshot::new(
            "r",
            "/r",
            vec![
                ("src/b.py".into(), Some("python".into()), "b".into()),
                ("a.py".into(), Some("python".into()), "a".into()),
                ("src/b.py".into(), None, "dup".into()),
            ],
        );
        assert_eq!(snap.files.len(), 2);
        assert_eq!(snap.files[0].path, "a.py");
        assert_eq!(snap.by_path("src/b.py").map(|f| f.id), Some(FileId(1)));
        assert_eq!(snap.by_path("src/b.py").map(|f| f.text.as_str()), Some("b"));
        assert!(snap.by_path("missing").is_none());
        assert_eq!(snap.total_bytes(), 2);
    }
}
