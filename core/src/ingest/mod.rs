//! Ingestion: repositories on disk → [`RepoSnapshot`]s.
//!
//! Walks each repository with the `ignore` crate (`.gitignore`, `.ignore`,
//! `.git/info/exclude`), never follows symlinks, and keeps only UTF-8 text that
//! is neither vendored, generated, minified, a lock file, binary nor too large.
//! Every skip is counted by reason (see the README's table of reasons); nothing
//! a repository contains can make ingestion fail or panic.

mod detect;
mod filters;
mod input;
mod inputs;
mod packages;
mod partition;

pub use detect::{BUILTIN_LANGUAGES, BuiltinLanguage, LanguageTable, builtin_spec};
pub use input::InputConfig;
pub use inputs::{RepoInput, expand};
pub use packages::{Listed, MANIFESTS, Package, Split, package_name, split};
pub use partition::Partition;

use crate::model::RepoSnapshot;
use crate::stats::IngestStats;
use ignore::WalkBuilder;
use ignore::gitignore::{Gitignore, GitignoreBuilder};
use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// Skip reasons, as counted in `stats.json` under `ingest.skipped`.
pub mod reason {
    /// Excluded by `.gitignore` / `.ignore` / `.git/info/exclude` (a whole directory counts once).
    pub const IGNORED: &str = "ignored";
    /// Hidden (dot) file or directory while `include_hidden = false`.
    pub const HIDDEN: &str = "hidden";
    /// Matched `input.exclude`.
    pub const EXCLUDED: &str = "excluded";
    /// A version-control directory (`.git`, `.hg`, `.svn`).
    pub const VCS: &str = "vcs_dir";
    /// The run's own output directory.
    pub const OUTPUT_DIR: &str = "output_dir";
    /// A vendored / third-party directory (`input.vendored_dirs`).
    pub const VENDORED: &str = "vendored";
    /// A lock file.
    pub const LOCK_FILE: &str = "lock_file";
    /// Binary content or a binary format.
    pub const BINARY: &str = "binary";
    /// Larger than `input.max_file_bytes`.
    pub const TOO_LARGE: &str = "too_large";
    /// Not valid UTF-8 (kept out because trajectories must hold the exact bytes).
    pub const NOT_UTF8: &str = "not_utf8";
    /// Generated code.
    pub const GENERATED: &str = "generated";
    /// Minified code.
    pub const MINIFIED: &str = "minified";
    /// Could not be read.
    pub const UNREADABLE: &str = "unreadable";
    /// A FIFO, socket or device.
    pub const SPECIAL: &str = "special_file";
    /// A symlink to something inside the repository (its target is walked in its own right).
    pub const SYMLINK: &str = "symlink";
    /// A symlink that leads outside the repository (never followed).
    pub const SYMLINK_ESCAPES: &str = "symlink_escapes";
    /// A dangling symlink or a symlink loop.
    pub const SYMLINK_BROKEN: &str = "symlink_broken";
    /// The walker reported an error for this entry.
    pub const WALK_ERROR: &str = "walk_error";
    /// A repository (or a package of one) over `input.max_repo_bytes` that
    /// cannot be split further: skipped whole (its unit's status `skipped`).
    pub const REPO_TOO_LARGE: &str = "repo_too_large";
}

const VCS_DIRS: &[&str] = &[".git", ".hg", ".svn", ".bzr", "_darcs", ".jj"];

/// Reads repositories according to an [`InputConfig`].
#[derive(Debug)]
pub struct Ingestor {
    config: InputConfig,
    languages: LanguageTable,
    output_dirs: BTreeSet<PathBuf>,
}

impl Ingestor {
    /// An ingestor with a language table (built-ins plus analyzers' languages).
    pub fn new(config: InputConfig, languages: LanguageTable) -> Self {
        Self {
            config,
            languages,
            output_dirs: BTreeSet::new(),
        }
    }

    /// Never ingests `dir` (the run's own output directory, which may sit inside
    /// an input repository): it is skipped as `output_dir`.
    pub fn skip_output_dir(mut self, dir: &Path) -> Self {
        if let Ok(canonical) = dir.canonicalize() {
            self.output_dirs.insert(canonical);
        }
        self
    }

    /// Reads one repository, or one package of a split repository. Never
    /// fails: what cannot be read is skipped and counted in `stats`. The
    /// snapshot may have no files (`stats.repos_empty`).
    pub fn snapshot(&self, repo: &RepoInput, stats: &mut IngestStats) -> RepoSnapshot {
        let mut files: Vec<(String, Option<String>, String)> = Vec::new();
        let mut read = |path: &Path, rel: &str, stats: &mut IngestStats| match self.read_file(path, rel) {
            Ok((language, text)) => files.push((rel.to_owned(), language, text)),
            Err(r) => {
                tracing::debug!("{}: skip {rel}: {r}", repo.name);
                stats.skip(r);
            }
        };
        let snapshot = match &repo.package {
            None => {
                for f in self.list(repo, stats) {
                    read(&repo.root.join(&f.rel), &f.rel, stats);
                }
                RepoSnapshot::new(repo.name.clone(), repo.root.clone(), files)
            }
            Some(p) => {
                // The package's files, as the split listed them, relative to its directory.
                let prefix = if p.dir.is_empty() {
                    String::new()
                } else {
                    format!("{}/", p.dir)
                };
                for rel in &p.files {
                    let inner = rel.strip_prefix(&prefix).unwrap_or(rel);
                    read(&repo.root.join(rel), inner, stats);
                }
                let mut snapshot = RepoSnapshot::new(repo.name.clone(), repo.root.join(&p.dir), files);
                snapshot.workspace = Some(p.workspace());
                snapshot
            }
        };
        if snapshot.files.is_empty() {
            stats.repos_empty += 1;
        } else {
            stats.repos_ingested += 1;
        }
        for f in &snapshot.files {
            stats.files_kept += 1;
            stats.bytes_kept += f.text.len() as u64;
            *stats
                .files_by_language
                .entry(f.language.clone().unwrap_or_else(|| "other".into()))
                .or_default() += 1;
        }
        snapshot
    }

    /// The regular files a walk of the repository keeps (ignore files,
    /// hidden, vendored, excluded and special entries left out and counted
    /// in `stats`), sorted by path, with their sizes on disk. Nothing is read.
    pub fn list(&self, repo: &RepoInput, stats: &mut IngestStats) -> Vec<Listed> {
        let root = &repo.root;
        let exclude = self.exclude_matcher(root);
        let pruned: Arc<Mutex<BTreeMap<PathBuf, &'static str>>> = Arc::default();
        let mut walker = WalkBuilder::new(root);
        walker
            .follow_links(false)
            .hidden(!self.config.include_hidden)
            .parents(false)
            .git_global(false)
            .git_ignore(self.config.respect_gitignore)
            .git_exclude(self.config.respect_gitignore)
            .ignore(self.config.respect_gitignore)
            .require_git(false)
            .sort_by_file_name(|a, b| a.cmp(b));
        {
            let pruned = Arc::clone(&pruned);
            let vendored: BTreeSet<String> = self.config.vendored_dirs.iter().cloned().collect();
            let root = root.clone();
            let output_dirs = self.output_dirs.clone();
            walker.filter_entry(move |e| {
                let reason = if e.depth() == 0 {
                    None
                } else if e.file_type().is_some_and(|t| t.is_dir()) {
                    let name = e.file_name().to_string_lossy();
                    if VCS_DIRS.contains(&name.as_ref()) {
                        Some(reason::VCS)
                    } else if output_dirs.contains(e.path()) {
                        Some(reason::OUTPUT_DIR)
                    } else if vendored.contains(name.as_ref()) {
                        Some(reason::VENDORED)
                    } else if is_excluded(&exclude, &root, e.path(), true) {
                        Some(reason::EXCLUDED)
                    } else {
                        None
                    }
                } else if is_excluded(&exclude, &root, e.path(), false) {
                    Some(reason::EXCLUDED)
                } else {
                    None
                };
                match reason {
                    Some(r) => {
                        if let Ok(mut p) = pruned.lock() {
                            p.insert(e.path().to_path_buf(), r);
                        }
                        false
                    }
                    None => true,
                }
            });
        }

        let mut visited: BTreeSet<PathBuf> = BTreeSet::new();
        let mut dirs: Vec<PathBuf> = Vec::new();
        let mut files: Vec<Listed> = Vec::new();
        for result in walker.build() {
            let entry = match result {
                Ok(e) => e,
                Err(e) => {
                    tracing::debug!("{}: walk error: {e}", repo.name);
                    stats.skip(if e.is_io() {
                        reason::UNREADABLE
                    } else {
                        reason::WALK_ERROR
                    });
                    continue;
                }
            };
            let path = entry.path().to_path_buf();
            visited.insert(path.clone());
            let Some(ft) = entry.file_type() else {
                stats.skip(reason::SPECIAL);
                continue;
            };
            if ft.is_dir() {
                dirs.push(path);
                continue;
            }
            let rel = match path.strip_prefix(root) {
                Ok(r) => r.to_string_lossy().replace('\\', "/"),
                Err(_) => continue,
            };
            if ft.is_symlink() {
                let r = classify_symlink(root, &path);
                tracing::debug!("{}: skip {rel}: {r}", repo.name);
                stats.skip(r);
                continue;
            }
            if !ft.is_file() {
                stats.skip(reason::SPECIAL);
                continue;
            }
            let size = entry.metadata().map_or(0, |m| m.len());
            files.push(Listed { rel, size });
        }

        // What the walker pruned by our rules, then what it left out by ignore files.
        let pruned = pruned.lock().map(|p| p.clone()).unwrap_or_default();
        for r in pruned.values() {
            stats.skip(r);
        }
        for dir in &dirs {
            let Ok(children) = std::fs::read_dir(dir) else {
                continue;
            };
            for child in children.flatten() {
                let p = child.path();
                if visited.contains(&p) || pruned.contains_key(&p) {
                    continue;
                }
                let hidden = child.file_name().to_string_lossy().starts_with('.');
                stats.skip(if hidden && !self.config.include_hidden {
                    reason::HIDDEN
                } else {
                    reason::IGNORED
                });
            }
        }

        files.sort();
        files
    }

    /// Reads and classifies one regular file: `(language, text)` or a skip reason.
    pub fn read_file(&self, path: &Path, rel: &str) -> Result<(Option<String>, String), &'static str> {
        let name = rel.rsplit('/').next().unwrap_or(rel);
        if filters::is_lock_file(name) {
            return Err(reason::LOCK_FILE);
        }
        if filters::has_binary_extension(name) {
            return Err(reason::BINARY);
        }
        let file = std::fs::File::open(path).map_err(|_| reason::UNREADABLE)?;
        let len = file.metadata().map_err(|_| reason::UNREADABLE)?.len();
        if len > self.config.max_file_bytes {
            return Err(reason::TOO_LARGE);
        }
        let mut bytes = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
        // Read at most one byte past the limit, in case the file grew meanwhile.
        file.take(self.config.max_file_bytes.saturating_add(1))
            .read_to_end(&mut bytes)
            .map_err(|_| reason::UNREADABLE)?;
        if bytes.len() as u64 > self.config.max_file_bytes {
            return Err(reason::TOO_LARGE);
        }
        if filters::looks_binary(&bytes) {
            return Err(reason::BINARY);
        }
        let text = String::from_utf8(bytes).map_err(|_| reason::NOT_UTF8)?;
        if filters::is_generated(name, &text) {
            return Err(reason::GENERATED);
        }
        if filters::is_minified(name, &text) {
            return Err(reason::MINIFIED);
        }
        let language = self.languages.detect(rel, text.as_bytes());
        Ok((language, text))
    }

    fn exclude_matcher(&self, root: &Path) -> Option<Gitignore> {
        if self.config.exclude.is_empty() {
            return None;
        }
        let mut b = GitignoreBuilder::new(root);
        for pat in &self.config.exclude {
            if let Err(e) = b.add_line(None, pat) {
                tracing::warn!("input.exclude `{pat}`: {e}");
            }
        }
        b.build().ok()
    }
}

/// Problems with `input.exclude` patterns (checked with the config, before any work).
pub fn check_exclude_patterns(patterns: &[String]) -> Vec<String> {
    let mut b = GitignoreBuilder::new("/");
    patterns
        .iter()
        .filter_map(|p| {
            b.add_line(None, p)
                .err()
                .map(|e| format!("bad exclude pattern `{p}`: {e}"))
        })
        .collect()
}

fn is_excluded(matcher: &Option<Gitignore>, root: &Path, path: &Path, is_dir: bool) -> bool {
    let Some(m) = matcher else { return false };
    let rel = path.strip_prefix(root).unwrap_or(path);
    m.matched(rel, is_dir).is_ignore()
}

fn classify_symlink(root: &Path, link: &Path) -> &'static str {
    match link.canonicalize() {
        Ok(target) if target.starts_with(root) => reason::SYMLINK,
        Ok(_) => reason::SYMLINK_ESCAPES,
        Err(_) => reason::SYMLINK_BROKEN,
    }
}
