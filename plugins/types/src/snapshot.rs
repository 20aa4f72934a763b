use crate::{FileId, SourceFile};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// A repository after ingestion: the files kept, sorted by path.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepoSnapshot {
    /// Display name (the directory name unless configured otherwise).
    pub name: String,
    /// Where it was read from.
    pub root: PathBuf,
    /// Kept files, sorted by `path`; `files[i].id == FileId(i)`.
    pub files: Vec<SourceFile>,
    /// For a package of a repository split by `input.max_repo_bytes`: the
    /// repository it belongs to and the packages beside it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workspace: Option<Workspace>,
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
            workspace: None,
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

/// The cross-package context of a piece of a split repository, handed to the
/// policy with the snapshot (`RepoSnapshot::workspace`).
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Workspace {
    /// The whole repository's name.
    pub repo: String,
    /// This piece's directory relative to the repository root (`""`: the
    /// files outside every package).
    pub dir: String,
    /// The package's own name, from its manifest, when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The other packages of the repository: directory and manifest name.
    #[serde(default)]
    pub siblings: Vec<Sibling>,
    /// Names of the sibling packages its manifest depends on.
    #[serde(default)]
    pub depends_on: Vec<String>,
}

/// Another package of the same repository.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Sibling {
    /// Its directory relative to the repository root.
    pub dir: String,
    /// Its manifest's name (the directory's last component when none is found).
    pub name: String,
}

impl Workspace {
    /// Siblings named in [`Workspace::describe`]; the rest are counted.
    const NAMED: usize = 12;

    /// One or two sentences for a plan: which repository this piece belongs
    /// to, the packages beside it and which of them it depends on.
    pub fn describe(&self) -> String {
        let mut named: Vec<String> = self
            .siblings
            .iter()
            .take(Self::NAMED)
            .map(|s| format!("`{}` ({})", s.name, s.dir))
            .collect();
        if self.siblings.len() > Self::NAMED {
            named.push(format!("{} more", self.siblings.len() - Self::NAMED));
        }
        let others = named.join(", ");
        let mut out = if self.dir.is_empty() {
            format!("The files of the repository `{}` outside its packages", self.repo)
        } else {
            match &self.name {
                Some(n) => format!("The package `{n}` in `{}` of the repository `{}`", self.dir, self.repo),
                None => format!("The package in `{}` of the repository `{}`", self.dir, self.repo),
            }
        };
        if !others.is_empty() {
            out.push_str(if self.dir.is_empty() { ": " } else { ", beside " });
            out.push_str(&others);
        }
        out.push('.');
        if !self.depends_on.is_empty() {
            let deps: Vec<String> = self.depends_on.iter().map(|d| format!("`{d}`")).collect();
            out.push_str(&format!(" It depends on {} of them.", deps.join(", ")));
        }
        out
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
        assert_eq!(snap.workspace, None);
        assert_eq!(snap.by_path("src/b.py").map(|f| f.text.as_str()), Some("b"));
        assert!(snap.by_path("missing").is_none());
        assert_eq!(snap.total_bytes(), 2);
    }
}

#[cfg(test)]
mod workspace_tests {
    use super::*;

    #[test]
    fn a_workspace_describes_the_repository_its_siblings_and_dependencies() {
        let sibling = |dir: &str, name: &str| Sibling {
            dir: dir.into(),
            name: name.into(),
        };
        let w = Workspace {
            repo: "mono".into(),
            dir: "crates/a".into(),
            name: Some("alpha".into()),
            siblings: vec![sibling("crates/b", "beta"), sibling("web", "web")],
            depends_on: vec!["beta".into()],
        };
        assert_eq!(
            w.describe(),
            "The package `alpha` in `crates/a` of the repository `mono`, beside `beta` (crates/b), `web` (web). It depends on `beta` of them."
        );
        let root = Workspace {
            dir: String::new(),
            name: None,
            siblings: (0..14).map(|i| sibling(&format!("p{i}"), &format!("n{i}"))).collect(),
            depends_on: Vec::new(),
            ..w
        };
        let text = root.describe();
        assert!(
            text.starts_with("The files of the repository `mono` outside its packages: `n0` (p0), "),
            "{text}"
        );
        assert!(text.ends_with("`n11` (p11), 2 more."), "{text}");
    }
}
