//! Rust: `mod name;` to `name.rs` or `name/mod.rs` (or its `#[path]`), and
//! `use` paths (`crate::`, `self::`, `super::`, 2018 uniform paths, workspace
//! crates by package name) to the file of the longest module prefix they name.
//! Module files are located by the standard layout under each crate's `src/`.

use super::{Files, dir_of, files, join};
use repo2agent_core::model::{FileId, Import, ImportTarget, RepoSnapshot, SourceFile};
use repo2agent_core::stage::{ImportResolver, normalize_join};
use std::collections::BTreeMap;

#[derive(Debug)]
struct Crate {
    /// Package name with `-` as `_`.
    name: String,
    /// Directory of its Cargo.toml.
    dir: String,
    /// The library root (`src/lib.rs` or `[lib] path`), if any.
    lib: Option<FileId>,
}

pub(crate) struct RustResolver<'r> {
    files: Files<'r>,
    crates: Vec<Crate>,
    by_name: BTreeMap<String, usize>,
}

/// Where a file sits in its crate: the directory its module path is relative
/// to, its module path, and the root file of that module tree.
struct Place {
    src: String,
    module: Vec<String>,
    root: Option<FileId>,
    krate: Option<usize>,
}

fn is_root_name(file: &str) -> bool {
    matches!(file, "lib.rs" | "main.rs" | "mod.rs")
}

impl<'r> RustResolver<'r> {
    pub fn new(repo: &'r RepoSnapshot) -> Self {
        let files = Files::new(repo);
        let mut crates: Vec<Crate> = Vec::new();
        // Cargo.toml (or, where it was left out as generated, the Cargo.toml.orig
        // that `cargo publish` keeps beside it).
        let manifests = repo.files.iter().filter(|f| {
            let name = f.path.rsplit('/').next().unwrap_or(&f.path);
            name == "Cargo.toml" || name == "Cargo.toml.orig"
        });
        for f in manifests {
            let Ok(t) = toml::from_str::<toml::Table>(&f.text) else {
                continue;
            };
            let Some(name) = t.get("package").and_then(|p| p.get("name")).and_then(|n| n.as_str()) else {
                continue;
            };
            let dir = dir_of(&f.path).to_owned();
            if crates.iter().any(|c| c.dir == dir) {
                continue;
            }
            let lib_path = t
                .get("lib")
                .and_then(|l| l.get("path"))
                .and_then(|p| p.as_str())
                .and_then(|p| normalize_join(&dir, p))
                .unwrap_or_else(|| join(&dir, "src/lib.rs"));
            crates.push(Crate {
                name: name.replace('-', "_"),
                dir,
                lib: files.get(&lib_path),
            });
        }
        // Crates without a manifest in the snapshot: a `src/lib.rs` or `src/main.rs` marks one.
        for f in &repo.files {
            if let Some(dir) = f
                .path
                .strip_suffix("src/lib.rs")
                .or_else(|| f.path.strip_suffix("src/main.rs"))
            {
                let dir = dir.trim_end_matches('/').to_owned();
                if !crates.iter().any(|c| c.dir == dir) {
                    let lib = files.get(&join(&dir, "src/lib.rs"));
                    crates.push(Crate {
                        name: String::new(),
                        dir,
                        lib,
                    });
                }
            }
        }
        crates.sort_by(|a, b| b.dir.len().cmp(&a.dir.len()).then_with(|| a.dir.cmp(&b.dir)));
        let by_name = crates.iter().enumerate().map(|(i, c)| (c.name.clone(), i)).collect();
        Self { files, crates, by_name }
    }

    fn crate_of(&self, path: &str) -> Option<usize> {
        self.crates
            .iter()
            .position(|c| c.dir.is_empty() || path.starts_with(&format!("{}/", c.dir)))
    }

    fn place(&self, from: &SourceFile) -> Place {
        let krate = self.crate_of(&from.path);
        let crate_dir = krate.map_or("", |k| self.crates[k].dir.as_str());
        let src = join(crate_dir, "src");
        if let Some(rel) = from.path.strip_prefix(&format!("{src}/"))
            && !rel.starts_with("bin/")
        {
            let lib = krate.and_then(|k| self.crates[k].lib);
            let main = self.files.get(&join(&src, "main.rs"));
            let root = if rel == "main.rs" { main } else { lib.or(main) };
            let stem = rel.trim_end_matches(".rs");
            let mut module: Vec<String> = stem.split('/').map(str::to_owned).collect();
            if module.last().is_some_and(|m| m == "mod" || m == "lib" || m == "main") {
                module.pop();
            }
            return Place {
                src,
                module,
                root,
                krate,
            };
        }
        // Its own crate root (build.rs, tests/x.rs, examples/x.rs, src/bin/x.rs).
        Place {
            src: dir_of(&from.path).to_owned(),
            module: Vec::new(),
            root: Some(from.id),
            krate,
        }
    }

    fn module_file(&self, src: &str, module: &[String], root: Option<FileId>) -> Option<FileId> {
        if module.is_empty() {
            return root;
        }
        let base = join(src, &module.join("/"));
        self.files
            .get(&format!("{base}.rs"))
            .or_else(|| self.files.get(&format!("{base}/mod.rs")))
    }

    fn mod_decl(&self, from: &SourceFile, rest: &str) -> ImportTarget {
        let (name, path) = match rest.split_once(" path=") {
            Some((n, p)) => (n, Some(p)),
            None => (rest, None),
        };
        let dir = dir_of(&from.path);
        if let Some(p) = path {
            return normalize_join(dir, p)
                .and_then(|p| self.files.get(&p))
                .map_or(ImportTarget::Unresolved, |id| files([id]));
        }
        let file_name = from.path.rsplit('/').next().unwrap_or(&from.path);
        let own_root = self.place(from).root == Some(from.id);
        let child_dir = if is_root_name(file_name) || own_root {
            dir.to_owned()
        } else {
            join(dir, file_name.trim_end_matches(".rs"))
        };
        let base = join(&child_dir, &name.replace("::", "/"));
        self.files
            .get(&format!("{base}.rs"))
            .or_else(|| self.files.get(&format!("{base}/mod.rs")))
            .map_or(ImportTarget::Unresolved, |id| files([id]))
    }

    /// Resolves one `use` path (segments); `Err(true)` when it looked local.
    fn use_path(&self, place: &Place, segs: &[&str]) -> Result<FileId, bool> {
        let (src, root, mut module, rest): (String, Option<FileId>, Vec<String>, &[&str]) = match segs.first() {
            Some(&"crate") => (place.src.clone(), place.root, Vec::new(), &segs[1..]),
            Some(&"self") => (place.src.clone(), place.root, place.module.clone(), &segs[1..]),
            Some(&"super") => {
                let mut m = place.module.clone();
                let mut i = 0;
                while segs.get(i) == Some(&"super") {
                    m.pop();
                    i += 1;
                }
                (place.src.clone(), place.root, m, &segs[i..])
            }
            Some(first) => {
                let mut child = place.module.clone();
                child.push((*first).to_owned());
                let own = place.krate.map(|k| self.crates[k].name.as_str());
                if self.module_file(&place.src, &child, place.root).is_some() {
                    (place.src.clone(), place.root, place.module.clone(), segs)
                } else if let Some(&k) = self.by_name.get(*first).filter(|_| own != Some(*first)) {
                    let c = &self.crates[k];
                    (join(&c.dir, "src"), c.lib, Vec::new(), &segs[1..])
                } else if own == Some(*first) {
                    (place.src.clone(), place.root, Vec::new(), &segs[1..])
                } else {
                    return Err(false);
                }
            }
            None => return Err(false),
        };
        // The longest prefix of `rest` that names a module file.
        let mut best = self.module_file(&src, &module, root);
        for seg in rest {
            if *seg == "*" || *seg == "self" {
                break;
            }
            module.push((*seg).to_owned());
            match self.module_file(&src, &module, root) {
                Some(id) => best = Some(id),
                None => break,
            }
        }
        best.ok_or(true)
    }
}

/// Expands a use tree (`a::{b, c::{d, e}}`) into paths.
pub(crate) fn expand_use(tree: &str) -> Vec<Vec<String>> {
    fn split_top(s: &str) -> Vec<&str> {
        let (mut depth, mut start, mut out) = (0, 0, Vec::new());
        for (i, c) in s.char_indices() {
            match c {
                '{' => depth += 1,
                '}' => depth -= 1,
                ',' if depth == 0 => {
                    out.push(&s[start..i]);
                    start = i + 1;
                }
                _ => {}
            }
        }
        out.push(&s[start..]);
        out
    }
    fn go(prefix: &[String], tree: &str, out: &mut Vec<Vec<String>>) {
        let tree = tree.trim();
        if tree.is_empty() {
            return;
        }
        if let Some(open) = tree.find('{') {
            let head = tree[..open].trim_end_matches("::").trim();
            let inner = tree[open + 1..].trim_end();
            let inner = inner.strip_suffix('}').unwrap_or(inner);
            let mut p = prefix.to_vec();
            p.extend(head.split("::").filter(|s| !s.is_empty()).map(|s| s.trim().to_owned()));
            for part in split_top(inner) {
                go(&p, part, out);
            }
        } else {
            let tree = tree.split(" as ").next().unwrap_or(tree).trim();
            let mut p = prefix.to_vec();
            p.extend(tree.split("::").filter(|s| !s.is_empty()).map(|s| s.trim().to_owned()));
            out.push(p);
        }
    }
    let mut out = Vec::new();
    go(&[], tree, &mut out);
    out
}

impl ImportResolver for RustResolver<'_> {
    fn resolve(&self, from: &SourceFile, import: &Import) -> ImportTarget {
        if let Some(rest) = import.raw.strip_prefix("mod ") {
            return self.mod_decl(from, rest);
        }
        let Some(tree) = import.raw.strip_prefix("use ") else {
            return ImportTarget::External;
        };
        if tree.starts_with("::") {
            return ImportTarget::External;
        }
        // Where the importing file sits, computed once for every path of the tree.
        let place = self.place(from);
        let mut found = Vec::new();
        let mut local = false;
        for path in expand_use(tree) {
            let segs: Vec<&str> = path.iter().map(String::as_str).collect();
            match self.use_path(&place, &segs) {
                Ok(id) => found.push(id),
                Err(l) => local |= l,
            }
        }
        if !found.is_empty() {
            files(found)
        } else if local {
            ImportTarget::Unresolved
        } else {
            ImportTarget::External
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn use_trees_expand() {
        let paths = expand_use("crate::a::{b, c::{d, e as f}, self}");
        let joined: Vec<String> = paths.iter().map(|p| p.join("::")).collect();
        assert_eq!(
            joined,
            ["crate::a::b", "crate::a::c::d", "crate::a::c::e", "crate::a::self"]
        );
        assert_eq!(expand_use("std::io").len(), 1);
    }
}
