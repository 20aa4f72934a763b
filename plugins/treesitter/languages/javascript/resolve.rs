//! JavaScript / TypeScript module specifiers: relative paths with extension
//! inference and index files (TypeScript's `./x.js` → `./x.ts` included),
//! `tsconfig.json` / `jsconfig.json` `baseUrl` and `paths` (nearest config,
//! `extends` followed), and workspace packages by their `package.json` name.

use super::{Files, dir_of, join, one};
use repo2agent_core::model::{FileId, Import, ImportTarget, RepoSnapshot, SourceFile};
use repo2agent_core::stage::{ImportResolver, normalize_join};
use serde::Deserialize;
use std::collections::BTreeMap;

/// TypeScript sources named by their compiled extension (`./x.js` → `x.ts`).
const JS_TO_TS: [(&str, &[&str]); 4] = [
    (".js", &[".ts", ".tsx"]),
    (".jsx", &[".tsx", ".ts"]),
    (".mjs", &[".mts"]),
    (".cjs", &[".cts"]),
];

const EXTENSIONS: [&str; 10] = ["ts", "tsx", "d.ts", "js", "jsx", "mjs", "cjs", "mts", "cts", "json"];

#[derive(Clone, Debug, Default)]
struct TsConfig {
    /// Directory of the config file.
    dir: String,
    /// `compilerOptions.baseUrl`, resolved to a repository directory.
    base_url: Option<String>,
    /// `compilerOptions.paths`: pattern → targets (relative to `paths_base`).
    paths: Vec<(String, Vec<String>)>,
    /// Directory the `paths` targets are relative to.
    paths_base: String,
}

#[derive(Deserialize, Default)]
struct RawTsConfig {
    #[serde(default)]
    extends: Option<serde_json::Value>,
    #[serde(default, rename = "compilerOptions")]
    compiler_options: RawCompilerOptions,
}

#[derive(Deserialize, Default)]
struct RawCompilerOptions {
    #[serde(default, rename = "baseUrl")]
    base_url: Option<String>,
    #[serde(default)]
    paths: Option<BTreeMap<String, Vec<String>>>,
}

#[derive(Deserialize)]
struct PackageJson {
    name: Option<String>,
    #[serde(default)]
    source: Option<String>,
    #[serde(default)]
    types: Option<String>,
    #[serde(default)]
    module: Option<String>,
    #[serde(default)]
    main: Option<String>,
    #[serde(default)]
    imports: Option<serde_json::Value>,
}

/// What a directory's package.json says about resolution.
#[derive(Debug, Default)]
struct PackageDir {
    /// `source`, `types`, `module`, `main`, in that order of preference.
    entries: Vec<String>,
    /// Subpath imports (`"#x": "./src/x.js"`, with conditions).
    imports: Vec<(String, String)>,
}

/// The first target string of a package.json target (a string or a conditions object).
fn target_of(v: &serde_json::Value) -> Option<String> {
    match v {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Object(m) => ["import", "require", "node", "default"]
            .iter()
            .filter_map(|k| m.get(*k))
            .chain(m.values())
            .find_map(target_of),
        serde_json::Value::Array(a) => a.iter().find_map(target_of),
        _ => None,
    }
}

pub(crate) struct JsResolver<'r> {
    files: Files<'r>,
    configs: BTreeMap<String, TsConfig>,
    /// package name → (package dir, entry candidates)
    packages: BTreeMap<String, (String, Vec<String>)>,
    /// directory → its package.json's entries and subpath imports
    package_dirs: BTreeMap<String, PackageDir>,
}

/// Strips `//` and `/* */` comments and trailing commas (tsconfig is JSONC).
pub(crate) fn jsonc_to_json(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    let mut in_string = false;
    while let Some(c) = chars.next() {
        if in_string {
            out.push(c);
            if c == '\\' {
                if let Some(n) = chars.next() {
                    out.push(n);
                }
            } else if c == '"' {
                in_string = false;
            }
            continue;
        }
        match (c, chars.peek()) {
            ('"', _) => {
                in_string = true;
                out.push(c);
            }
            ('/', Some('/')) => {
                for n in chars.by_ref() {
                    if n == '\n' {
                        out.push('\n');
                        break;
                    }
                }
            }
            ('/', Some('*')) => {
                chars.next();
                let mut prev = ' ';
                for n in chars.by_ref() {
                    if prev == '*' && n == '/' {
                        break;
                    }
                    prev = n;
                }
            }
            (',', _) => {
                let rest: String = chars.clone().collect();
                let next = rest.trim_start().chars().next();
                if !matches!(next, Some('}') | Some(']')) {
                    out.push(c);
                }
            }
            _ => out.push(c),
        }
    }
    out
}

fn parse_config(text: &str) -> Option<RawTsConfig> {
    serde_json::from_str(&jsonc_to_json(text)).ok()
}

impl<'r> JsResolver<'r> {
    pub fn new(repo: &'r RepoSnapshot) -> Self {
        let files = Files::new(repo);
        let mut configs = BTreeMap::new();
        for f in &repo.files {
            let name = f.path.rsplit('/').next().unwrap_or(&f.path);
            if name != "tsconfig.json" && name != "jsconfig.json" {
                continue;
            }
            let dir = dir_of(&f.path).to_owned();
            if configs.contains_key(&dir) && name == "jsconfig.json" {
                continue;
            }
            if let Some(c) = Self::load_config(repo, &f.path, 0) {
                configs.insert(dir, c);
            }
        }
        let mut packages = BTreeMap::new();
        let mut package_dirs = BTreeMap::new();
        for f in repo
            .files
            .iter()
            .filter(|f| f.path == "package.json" || f.path.ends_with("/package.json"))
        {
            let Ok(p) = serde_json::from_str::<PackageJson>(&f.text) else {
                continue;
            };
            let dir = dir_of(&f.path).to_owned();
            let entries: Vec<String> = [p.source, p.types, p.module, p.main].into_iter().flatten().collect();
            let imports = match &p.imports {
                Some(serde_json::Value::Object(m)) => {
                    m.iter().filter_map(|(k, v)| Some((k.clone(), target_of(v)?))).collect()
                }
                _ => Vec::new(),
            };
            if let Some(name) = p.name {
                packages.entry(name).or_insert((dir.clone(), entries.clone()));
            }
            package_dirs.insert(dir, PackageDir { entries, imports });
        }
        Self {
            files,
            configs,
            packages,
            package_dirs,
        }
    }

    fn load_config(repo: &RepoSnapshot, path: &str, depth: usize) -> Option<TsConfig> {
        let file = repo.by_path(path)?;
        let raw = parse_config(&file.text)?;
        let dir = dir_of(path).to_owned();
        let mut config = match (&raw.extends, depth < 4) {
            (Some(serde_json::Value::String(ext)), true) if ext.starts_with('.') => {
                let target = normalize_join(&dir, ext)?;
                let target = if target.ends_with(".json") {
                    target
                } else {
                    format!("{target}.json")
                };
                Self::load_config(repo, &target, depth + 1).unwrap_or_default()
            }
            _ => TsConfig::default(),
        };
        config.dir = dir.clone();
        if let Some(base) = &raw.compiler_options.base_url {
            config.base_url = normalize_join(&dir, base);
            config.paths_base = config.base_url.clone().unwrap_or_default();
        }
        if let Some(paths) = raw.compiler_options.paths {
            config.paths = paths.into_iter().collect();
            // Without baseUrl, paths are relative to the config that declares them.
            if raw.compiler_options.base_url.is_none() && config.base_url.is_none() {
                config.paths_base = dir;
            }
        }
        Some(config)
    }

    fn config_for(&self, from: &str) -> Option<&TsConfig> {
        let mut dir = dir_of(from);
        loop {
            if let Some(c) = self.configs.get(dir) {
                return Some(c);
            }
            if dir.is_empty() {
                return None;
            }
            dir = dir_of(dir);
        }
    }

    /// A file for a path without or with an extension, or a directory's
    /// package.json entry or index.
    fn file(&self, path: &str) -> Option<FileId> {
        self.file_in(path, true)
    }

    fn file_in(&self, path: &str, via_package: bool) -> Option<FileId> {
        if !path.is_empty() {
            if let Some(id) = self.files.get(path) {
                return Some(id);
            }
            for ext in EXTENSIONS {
                if let Some(id) = self.files.get(&format!("{path}.{ext}")) {
                    return Some(id);
                }
            }
            for (js, ts) in JS_TO_TS {
                if let Some(stem) = path.strip_suffix(js) {
                    for t in ts {
                        if let Some(id) = self.files.get(&format!("{stem}{t}")) {
                            return Some(id);
                        }
                    }
                }
            }
        }
        if via_package && let Some(pkg) = self.package_dirs.get(path) {
            for e in &pkg.entries {
                if let Some(id) = normalize_join(path, e).and_then(|p| self.file_in(&p, false)) {
                    return Some(id);
                }
            }
        }
        EXTENSIONS
            .iter()
            .find_map(|ext| self.files.get(&join(path, &format!("index.{ext}"))))
    }

    /// `#name` subpath imports of the nearest package.json above `from`.
    fn subpath_import(&self, from: &str, spec: &str) -> Option<FileId> {
        let mut dir = dir_of(from);
        loop {
            if let Some(pkg) = self.package_dirs.get(dir).filter(|p| !p.imports.is_empty()) {
                return pkg.imports.iter().find_map(|(pattern, target)| {
                    let star = matches_pattern(pattern, spec)?;
                    normalize_join(dir, &target.replacen('*', star, 1)).and_then(|p| self.file(&p))
                });
            }
            if dir.is_empty() {
                return None;
            }
            dir = dir_of(dir);
        }
    }

    fn package(&self, spec: &str) -> Option<FileId> {
        let mut parts = spec.splitn(if spec.starts_with('@') { 3 } else { 2 }, '/');
        let name = if spec.starts_with('@') {
            format!("{}/{}", parts.next()?, parts.next()?)
        } else {
            parts.next()?.to_owned()
        };
        let sub = parts.next();
        let (dir, entries) = self.packages.get(&name)?;
        match sub {
            Some(sub) => self
                .file(&join(dir, sub))
                .or_else(|| self.file(&join(dir, &format!("src/{sub}")))),
            None => entries
                .iter()
                .filter_map(|e| normalize_join(dir, e))
                .find_map(|p| self.file(&p))
                .or_else(|| self.file(&join(dir, "index")))
                .or_else(|| self.file(&join(dir, "src/index"))),
        }
    }
}

fn matches_pattern<'a>(pattern: &str, spec: &'a str) -> Option<&'a str> {
    match pattern.split_once('*') {
        Some((pre, post)) => spec.strip_prefix(pre)?.strip_suffix(post),
        None => (pattern == spec).then_some(""),
    }
}

impl ImportResolver for JsResolver<'_> {
    fn resolve(&self, from: &SourceFile, import: &Import) -> ImportTarget {
        // `./x.js?raw` and `./x#frag` lose their suffix; `#name` is a subpath import.
        let raw = import.raw.as_str();
        let spec = if raw.starts_with('#') {
            raw
        } else {
            raw.split(['?', '#']).next().unwrap_or(raw)
        };
        if spec.starts_with("./") || spec.starts_with("../") || spec == "." || spec == ".." || spec.starts_with('/') {
            return normalize_join(dir_of(&from.path), spec)
                .and_then(|p| self.file(&p))
                .map_or(ImportTarget::Unresolved, one);
        }
        if spec.starts_with('#') {
            return self
                .subpath_import(&from.path, spec)
                .map_or(ImportTarget::Unresolved, one);
        }
        if let Some(config) = self.config_for(&from.path) {
            for (pattern, targets) in &config.paths {
                if let Some(star) = matches_pattern(pattern, spec) {
                    for t in targets {
                        let t = t.replacen('*', star, 1);
                        if let Some(id) = normalize_join(&config.paths_base, &t).and_then(|p| self.file(&p)) {
                            return one(id);
                        }
                    }
                }
            }
            if let Some(base) = &config.base_url
                && let Some(id) = normalize_join(base, spec).and_then(|p| self.file(&p))
            {
                return one(id);
            }
        }
        if let Some(id) = self.package(spec) {
            return one(id);
        }
        ImportTarget::External
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jsonc_loses_comments_and_trailing_commas_but_not_strings() {
        let text = "{\n // c\n \"a\": \"http://x/*y*/\", /* b */\n \"p\": [1, 2,],\n}";
        let v: serde_json::Value = serde_json::from_str(&jsonc_to_json(text)).unwrap();
        assert_eq!(v["a"], "http://x/*y*/");
        assert_eq!(v["p"], serde_json::json!([1, 2]));
    }
}
