//! Turning `input.repos` entries into repository directories.

use crate::stats::IngestStats;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// A repository to ingest.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct RepoInput {
    /// Canonical directory.
    pub root: PathBuf,
    /// Display name: the directory's name (`NAME/DIR` for a package of a
    /// split repository).
    pub name: String,
    /// For a piece of a repository split by `input.max_repo_bytes`: which
    /// one ([`crate::ingest::split`]).
    pub package: Option<std::sync::Arc<crate::ingest::Package>>,
}

/// Expands directories, glob patterns and list files (one path or pattern per
/// line, `#` comments, relative to the list file) into repositories, sorted and
/// de-duplicated. Inputs that lead nowhere are counted in `stats.repos_failed`
/// (`not_found`, `no_match`, `not_a_directory`, `unreadable_list`) and logged.
pub fn expand(entries: &[String], stats: &mut IngestStats) -> Vec<RepoInput> {
    let mut found: BTreeSet<RepoInput> = BTreeSet::new();
    for entry in entries {
        expand_one(entry, true, &mut found, stats);
    }
    stats.repos_seen += found.len() as u64;
    found.into_iter().collect()
}

fn expand_one(entry: &str, allow_list: bool, found: &mut BTreeSet<RepoInput>, stats: &mut IngestStats) {
    if entry.contains(['*', '?', '[']) {
        let paths = match glob::glob(entry) {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!("input `{entry}`: bad glob pattern: {e}");
                stats.fail_repo("bad_pattern");
                return;
            }
        };
        let mut any = false;
        for p in paths.flatten() {
            if p.is_dir() {
                any = true;
                add_dir(&p, found, stats);
            }
        }
        if !any {
            tracing::warn!("input `{entry}`: the pattern matches no directory");
            stats.fail_repo("no_match");
        }
        return;
    }
    let path = Path::new(entry);
    match std::fs::metadata(path) {
        Ok(m) if m.is_dir() => add_dir(path, found, stats),
        Ok(m) if m.is_file() && allow_list => match std::fs::read_to_string(path) {
            Ok(text) => {
                let base = path.parent().unwrap_or(Path::new("."));
                for line in text
                    .lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty() && !l.starts_with('#'))
                {
                    let joined = base.join(line);
                    expand_one(&joined.to_string_lossy(), false, found, stats);
                }
            }
            Err(e) => {
                tracing::warn!("input `{entry}`: cannot read the list file: {e}");
                stats.fail_repo("unreadable_list");
            }
        },
        Ok(_) => {
            tracing::warn!("input `{entry}`: not a directory");
            stats.fail_repo("not_a_directory");
        }
        Err(e) => {
            tracing::warn!("input `{entry}`: {e}");
            stats.fail_repo("not_found");
        }
    }
}

fn add_dir(path: &Path, found: &mut BTreeSet<RepoInput>, stats: &mut IngestStats) {
    match path.canonicalize() {
        Ok(root) => {
            let name = root
                .file_name()
                .map_or_else(|| "root".to_owned(), |n| n.to_string_lossy().into_owned());
            found.insert(RepoInput {
                root,
                name,
                package: None,
            });
        }
        Err(e) => {
            tracing::warn!("input `{}`: {e}", path.display());
            stats.fail_repo("unreadable");
        }
    }
}
