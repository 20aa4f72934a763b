//! Giant repositories and monorepos as units of work.
//!
//! A repository whose files add up to more than `input.max_repo_bytes` is
//! split into its packages: the directories below its root that hold a
//! package manifest of their own (`Cargo.toml`, `package.json`, `go.mod`,
//! `pyproject.toml`, `setup.py`, `setup.cfg`), which is where Cargo
//! workspace members, npm/pnpm/yarn workspaces, Go modules and Python
//! projects live. Each top-level package is one unit of work (simulated as
//! its own trajectory); the files outside every package (the root manifest,
//! docs, tooling) are one more. A package still over the limit is split into
//! the packages nested in it; files no package holds that are still too many
//! for one piece are split by directory. A piece that cannot be split further
//! (one directory's own files) is skipped whole with the reason
//! `repo_too_large`.
//!
//! Each piece knows the others ([`Workspace`]): the policy's plan says which
//! repository the package belongs to, which packages sit beside it and which
//! of them its manifest depends on.

use crate::model::{Sibling, Workspace};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// The manifests that make a directory a package of its own.
pub const MANIFESTS: &[&str] = &[
    "Cargo.toml",
    "package.json",
    "go.mod",
    "pyproject.toml",
    "setup.py",
    "setup.cfg",
];

/// A regular file a walk found: its path relative to the repository root
/// and its size on disk.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Listed {
    /// `/`-separated path relative to the repository root.
    pub rel: String,
    /// Bytes on disk.
    pub size: u64,
}

/// One piece of a split repository: what a worker ingests instead of the
/// whole repository.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Package {
    /// Its place among the repository's pieces (path order, from 0).
    pub part: u32,
    /// Its directory relative to the repository root (`""`: the repository's
    /// own files outside every package).
    pub dir: String,
    /// Its files, relative to the repository root.
    pub files: Vec<String>,
    /// Bytes of its files on disk.
    pub bytes: u64,
    /// Skipped whole: over the limit and not splittable further.
    pub too_large: bool,
    /// The whole repository's name.
    pub repo: String,
    /// Its manifest's name (the root manifest's for `dir = ""`), or its
    /// directory's last component when it has no readable manifest.
    pub name: Option<String>,
    /// Every package of the repository, this one included: one list shared
    /// by all its pieces (a monorepo of N packages holds it once, not N times).
    pub packages: Arc<Vec<Sibling>>,
    /// Names of the other packages its manifest depends on.
    pub depends_on: Vec<String>,
    /// What the walk of the whole repository skipped, by reason: counted
    /// with the first piece.
    pub walk_skips: BTreeMap<String, u64>,
}

impl Package {
    /// Where it sits in the repository, for its snapshot.
    pub fn workspace(&self) -> Workspace {
        Workspace {
            repo: self.repo.clone(),
            dir: self.dir.clone(),
            name: self.name.clone(),
            siblings: self.packages.iter().filter(|s| s.dir != self.dir).cloned().collect(),
            depends_on: self.depends_on.clone(),
        }
    }
}

/// How a repository is taken on.
#[derive(Debug, PartialEq, Eq)]
pub enum Split {
    /// At or under the limit (or no limit): one unit of work.
    Whole,
    /// Its pieces, in path order.
    Parts(Vec<Package>),
}

/// Splits `files` (the repository's listing) when their bytes exceed `max`
/// (`0`: no limit). `manifest(rel)` returns the text of a manifest when it
/// can be read, for package names and dependencies.
pub fn split(repo: &str, files: &[Listed], max: u64, manifest: &dyn Fn(&str) -> Option<String>) -> Split {
    let total: u64 = files.iter().map(|f| f.size).sum();
    if max == 0 || total <= max {
        return Split::Whole;
    }
    let paths: BTreeSet<&str> = files.iter().map(|f| f.rel.as_str()).collect();
    let roots: BTreeSet<&str> = files
        .iter()
        .filter_map(|f| {
            let (dir, name) = f.rel.rsplit_once('/')?;
            MANIFESTS.contains(&name).then_some(dir)
        })
        .collect();
    let mut pieces: Vec<(String, Vec<&Listed>, bool)> = Vec::new();
    let all: Vec<&Listed> = files.iter().collect();
    cut("", &all, &roots, max, &mut pieces);
    // The first manifest of a directory that exists, read.
    let manifest_of = |dir: &str| {
        MANIFESTS
            .iter()
            .map(|m| {
                if dir.is_empty() {
                    (*m).to_owned()
                } else {
                    format!("{dir}/{m}")
                }
            })
            .find(|rel| paths.contains(rel.as_str()))
            .and_then(|rel| manifest(&rel))
    };
    pieces.sort_by(|a, b| a.0.cmp(&b.0));

    // Names from the manifests, for every package root (siblings include the
    // nested packages a too-large parent was split into).
    let named: BTreeMap<&str, (String, Option<String>)> = pieces
        .iter()
        .filter(|(dir, _, _)| !dir.is_empty())
        .map(|(dir, _, _)| {
            let text = manifest_of(dir);
            let fallback = dir.rsplit('/').next().unwrap_or(dir).to_owned();
            let name = text.as_deref().and_then(package_name).unwrap_or(fallback);
            (dir.as_str(), (name, text))
        })
        .collect();
    let root_text = manifest_of("");
    let packages: Arc<Vec<Sibling>> = Arc::new(
        named
            .iter()
            .map(|(d, (n, _))| Sibling {
                dir: (*d).to_owned(),
                name: n.clone(),
            })
            .collect(),
    );
    Split::Parts(
        pieces
            .iter()
            .zip(0u32..)
            .map(|((dir, listed, too_large), part)| {
                let (name, text) = match named.get(dir.as_str()) {
                    Some((n, t)) => (Some(n.clone()), t.as_deref()),
                    None => (root_text.as_deref().and_then(package_name), root_text.as_deref()),
                };
                let depends_on = text
                    .map(|t| {
                        let words = words(t);
                        packages
                            .iter()
                            .filter(|s| {
                                s.dir != *dir && Some(&s.name) != name.as_ref() && words.contains(s.name.as_str())
                            })
                            .map(|s| s.name.clone())
                            .collect::<Vec<_>>()
                    })
                    .unwrap_or_default();
                Package {
                    part,
                    dir: dir.clone(),
                    files: listed.iter().map(|f| f.rel.clone()).collect(),
                    bytes: listed.iter().map(|f| f.size).sum(),
                    too_large: *too_large,
                    repo: repo.to_owned(),
                    name,
                    packages: Arc::clone(&packages),
                    depends_on,
                    walk_skips: BTreeMap::new(),
                }
            })
            .collect(),
    )
}

/// Cuts the files under `dir` into pieces no larger than `max`: one per
/// top-level package below `dir` (cut again when too large) and one for the
/// rest, or, when the rest is too large, one per directory. Pieces that
/// cannot be cut (a directory's own files) are marked too large.
fn cut<'a>(
    dir: &str,
    files: &[&'a Listed],
    roots: &BTreeSet<&str>,
    max: u64,
    out: &mut Vec<(String, Vec<&'a Listed>, bool)>,
) {
    let mut by_top: BTreeMap<&str, Vec<&'a Listed>> = BTreeMap::new();
    let mut rest: Vec<&'a Listed> = Vec::new();
    for f in files {
        match top_of(&f.rel, dir, roots) {
            Some(r) => by_top.entry(r).or_default().push(f),
            None => rest.push(f),
        }
    }
    for (root, listed) in by_top {
        let bytes: u64 = listed.iter().map(|f| f.size).sum();
        if bytes <= max {
            out.push((root.to_owned(), listed, false));
        } else {
            cut(root, &listed, roots, max, out);
        }
    }
    let bytes: u64 = rest.iter().map(|f| f.size).sum();
    if bytes <= max {
        if !rest.is_empty() {
            out.push((dir.to_owned(), rest, false));
        }
        return;
    }
    // Files no package holds, too many for one piece: one piece per
    // directory below `dir` (cut again the same way), `dir`'s own files one more.
    let start = if dir.is_empty() { 0 } else { dir.len() + 1 };
    let mut by_dir: BTreeMap<&'a str, Vec<&'a Listed>> = BTreeMap::new();
    let mut own: Vec<&'a Listed> = Vec::new();
    for f in rest {
        match f.rel[start..].find('/') {
            Some(i) => by_dir.entry(&f.rel[..start + i]).or_default().push(f),
            None => own.push(f),
        }
    }
    for (sub, listed) in by_dir {
        cut(sub, &listed, roots, max, out);
    }
    if !own.is_empty() {
        let bytes: u64 = own.iter().map(|f| f.size).sum();
        out.push((dir.to_owned(), own, bytes > max));
    }
}

/// The package directory holding `path` nearest to `dir` (not `dir` itself).
fn top_of<'p>(path: &'p str, dir: &str, roots: &BTreeSet<&str>) -> Option<&'p str> {
    let start = if dir.is_empty() { 0 } else { dir.len() + 1 };
    path.char_indices()
        .filter(|(i, c)| *c == '/' && *i >= start)
        .map(|(i, _)| &path[..i])
        .find(|d| roots.contains(d))
}

/// The package name a manifest declares: `name = "…"` (Cargo, pyproject,
/// setup.cfg), `"name": "…"` (package.json), `module …` (go.mod, its last
/// path component), `name="…"` in setup.py.
pub fn package_name(text: &str) -> Option<String> {
    if let Ok(json) = serde_json::from_str::<serde_json::Value>(text) {
        return json.get("name")?.as_str().map(str::to_owned);
    }
    for line in text.lines() {
        let line = line.trim();
        if let Some(module) = line.strip_prefix("module ") {
            let module = module.trim().trim_matches('"');
            return Some(module.rsplit('/').next().unwrap_or(module).to_owned());
        }
        if let Some(rest) = line.strip_prefix("name") {
            let rest = rest.trim_start();
            let Some(value) = rest.strip_prefix('=').or_else(|| rest.strip_prefix(':')) else {
                continue;
            };
            let value = value.trim().trim_end_matches(',');
            let value = value.trim_matches(|c| c == '"' || c == '\'');
            if !value.is_empty() && value.chars().all(|c| c.is_alphanumeric() || "-_.@/".contains(c)) {
                return Some(value.to_owned());
            }
        }
    }
    None
}

/// The words of a manifest (names as they can appear: letters, digits, `-_.@/`).
fn words(text: &str) -> BTreeSet<&str> {
    text.split(|c: char| !(c.is_alphanumeric() || "-_.@/".contains(c)))
        .filter(|w| !w.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listed(files: &[(&str, u64)]) -> Vec<Listed> {
        files
            .iter()
            .map(|(rel, size)| Listed {
                rel: (*rel).to_owned(),
                size: *size,
            })
            .collect()
    }

    fn manifests(rel: &str) -> Option<String> {
        Some(match rel {
            "crates/a/Cargo.toml" => "[package]\nname = \"alpha\"\n[dependencies]\nbeta = { path = \"../b\" }\n".into(),
            "crates/b/Cargo.toml" => "[package]\nname = \"beta\"\n".into(),
            "web/package.json" => "{\"name\": \"@x/web\", \"dependencies\": {\"alpha\": \"1\"}}".into(),
            "Cargo.toml" => "[workspace]\nmembers = [\"crates/*\"]\n".into(),
            _ => return None,
        })
    }

    #[test]
    fn small_repositories_stay_whole() {
        let files = listed(&[("a.rs", 10), ("crates/a/Cargo.toml", 10)]);
        assert_eq!(split("r", &files, 20, &manifests), Split::Whole);
        assert_eq!(split("r", &files, 0, &manifests), Split::Whole);
    }

    #[test]
    fn a_large_workspace_splits_into_its_packages_and_the_rest() {
        let files = listed(&[
            ("Cargo.toml", 5),
            ("README.md", 5),
            ("crates/a/Cargo.toml", 5),
            ("crates/a/src/lib.rs", 40),
            ("crates/b/Cargo.toml", 5),
            ("crates/b/src/lib.rs", 40),
            ("web/package.json", 5),
            ("web/index.js", 20),
        ]);
        let Split::Parts(parts) = split("mono", &files, 60, &manifests) else {
            panic!("not split")
        };
        let dirs: Vec<&str> = parts.iter().map(|p| p.dir.as_str()).collect();
        assert_eq!(dirs, ["", "crates/a", "crates/b", "web"]);
        assert_eq!(parts[0].files, ["Cargo.toml", "README.md"]);
        assert_eq!(parts[1].bytes, 45);
        assert!(parts.iter().all(|p| !p.too_large));
        assert_eq!(parts.iter().map(|p| p.part).collect::<Vec<_>>(), [0, 1, 2, 3]);
        let a = parts[1].workspace();
        assert_eq!((a.repo.as_str(), a.name.as_deref()), ("mono", Some("alpha")));
        assert_eq!(a.depends_on, ["beta"]);
        let names: Vec<&str> = a.siblings.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["beta", "@x/web"]);
        assert_eq!(parts[3].workspace().depends_on, ["alpha"]);
        assert!(parts[2].workspace().depends_on.is_empty());
        assert_eq!(parts[0].workspace().siblings.len(), 3);
    }

    #[test]
    fn too_large_pieces_are_split_again_or_marked() {
        let files = listed(&[
            ("big/Cargo.toml", 1),
            ("big/src/lib.rs", 100),
            ("big/fuzz/Cargo.toml", 1),
            ("big/fuzz/f.rs", 10),
            ("huge.txt", 500),
            ("small/setup.py", 5),
        ]);
        let Split::Parts(parts) = split("r", &files, 200, &|_| None) else {
            panic!("not split")
        };
        let got: Vec<(&str, bool)> = parts.iter().map(|p| (p.dir.as_str(), p.too_large)).collect();
        // `big` fits (112 bytes) with its nested fuzz crate; the root's own files do not.
        assert_eq!(got, [("", true), ("big", false), ("small", false)]);
        assert_eq!(
            parts[1].workspace().name.as_deref(),
            Some("big"),
            "directory name without a manifest text"
        );

        let Split::Parts(parts) = split("r", &files, 100, &|_| None) else {
            panic!("not split")
        };
        let got: Vec<(&str, bool)> = parts.iter().map(|p| (p.dir.as_str(), p.too_large)).collect();
        // `big`'s own files are too many for one piece: its directories are pieces.
        assert_eq!(
            got,
            [
                ("", true),
                ("big", false),
                ("big/fuzz", false),
                ("big/src", false),
                ("small", false)
            ]
        );
        assert_eq!(parts[3].files, ["big/src/lib.rs"]);
        assert_eq!(parts[1].files, ["big/Cargo.toml"]);
        // A large tree without any manifest is cut by its directories.
        let plain = listed(&[("lib/a/x.c", 80), ("lib/b/y.c", 80), ("lib/b/z/w.c", 30), ("top.c", 10)]);
        let Split::Parts(parts) = split("r", &plain, 100, &|_| None) else {
            panic!("not split")
        };
        let got: Vec<(&str, bool, u64)> = parts.iter().map(|p| (p.dir.as_str(), p.too_large, p.bytes)).collect();
        assert_eq!(
            got,
            [
                ("", false, 10),
                ("lib/a", false, 80),
                ("lib/b", false, 80),
                ("lib/b/z", false, 30)
            ]
        );
        // Without any package, a giant repository is one piece, too large.
        let flat = listed(&[("a.txt", 300), ("b.txt", 300)]);
        let Split::Parts(parts) = split("r", &flat, 100, &|_| None) else {
            panic!("not split")
        };
        assert_eq!((parts.len(), parts[0].too_large, parts[0].bytes), (1, true, 600));
    }

    #[test]
    fn package_names_come_from_each_manifest_kind() {
        assert_eq!(package_name("[package]\nname = \"serde\"\n").as_deref(), Some("serde"));
        assert_eq!(package_name("{\"name\": \"left-pad\"}").as_deref(), Some("left-pad"));
        assert_eq!(
            package_name("module github.com/x/tool\n\ngo 1.22\n").as_deref(),
            Some("tool")
        );
        assert_eq!(package_name("setup(\n    name='pkg_x',\n)\n").as_deref(), Some("pkg_x"));
        assert_eq!(package_name("[metadata]\nname = demo\n").as_deref(), Some("demo"));
        assert_eq!(package_name("[workspace]\nmembers = []\n"), None);
    }
}
