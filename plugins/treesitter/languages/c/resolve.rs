//! C/C++: `#include "x.h"` relative to the including file, then to include
//! directories found in the repository (the root, `include/`, `inc/`, `src/`),
//! then by a unique path suffix (what a `-I` flag would find). `<x.h>` that
//! matches nothing is external; `"x.h"` that matches nothing is unresolved.

use super::{Files, dir_of, one};
use repo2agent_core::model::{FileId, Import, ImportTarget, RepoSnapshot, SourceFile};
use repo2agent_core::stage::{ImportResolver, normalize_join};
use std::collections::BTreeMap;

pub(crate) struct CResolver<'r> {
    files: Files<'r>,
    include_dirs: Vec<String>,
    by_name: BTreeMap<&'r str, Vec<&'r SourceFile>>,
}

impl<'r> CResolver<'r> {
    pub fn new(repo: &'r RepoSnapshot) -> Self {
        let files = Files::new(repo);
        let mut include_dirs: Vec<String> = vec![String::new()];
        for dir in files.dirs.keys() {
            let mut d = *dir;
            while !d.is_empty() {
                let last = d.rsplit('/').next().unwrap_or(d);
                if matches!(last, "include" | "inc" | "src") && !include_dirs.iter().any(|x| x == d) {
                    include_dirs.push(d.to_owned());
                }
                d = dir_of(d);
            }
        }
        include_dirs.sort_by_key(|d| (d.matches('/').count(), d.clone()));
        let mut by_name: BTreeMap<&str, Vec<&SourceFile>> = BTreeMap::new();
        for f in &repo.files {
            by_name
                .entry(f.path.rsplit('/').next().unwrap_or(&f.path))
                .or_default()
                .push(f);
        }
        Self {
            files,
            include_dirs,
            by_name,
        }
    }

    fn find(&self, from: &SourceFile, inner: &str, quoted: bool) -> Option<FileId> {
        if quoted
            && let Some(p) = normalize_join(dir_of(&from.path), inner)
            && let Some(id) = self.files.get(&p)
        {
            return Some(id);
        }
        for d in &self.include_dirs {
            if let Some(p) = normalize_join(d, inner)
                && let Some(id) = self.files.get(&p)
            {
                return Some(id);
            }
        }
        // By suffix: the candidate sharing the longest directory prefix with the includer.
        let name = inner.rsplit('/').next().unwrap_or(inner);
        let suffix = format!("/{}", inner.trim_start_matches("./"));
        let candidates: Vec<&&SourceFile> = self
            .by_name
            .get(name)?
            .iter()
            .filter(|f| f.path.ends_with(&suffix) || f.path == inner)
            .collect();
        candidates
            .into_iter()
            .max_by_key(|f| {
                let common = f
                    .path
                    .chars()
                    .zip(from.path.chars())
                    .take_while(|(a, b)| a == b)
                    .count();
                (common, std::cmp::Reverse(f.path.clone()))
            })
            .map(|f| f.id)
    }
}

impl ImportResolver for CResolver<'_> {
    fn resolve(&self, from: &SourceFile, import: &Import) -> ImportTarget {
        let raw = import.raw.trim();
        let (inner, quoted) = if let Some(r) = raw.strip_prefix('"').and_then(|r| r.strip_suffix('"')) {
            (r, true)
        } else if let Some(r) = raw.strip_prefix('<').and_then(|r| r.strip_suffix('>')) {
            (r, false)
        } else {
            return ImportTarget::External; // a macro include: `#include HEADER`
        };
        match self.find(from, inner, quoted) {
            Some(id) => one(id),
            None if quoted => ImportTarget::Unresolved,
            None => ImportTarget::External,
        }
    }
}
