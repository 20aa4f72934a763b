//! Language detection by file name, extension and shebang.

use crate::stage::LanguageSpec;
use std::collections::BTreeMap;

/// Maps files to language names. Built-in languages are known even without an
/// analyzer; analyzers' [`LanguageSpec`]s add to and override them.
#[derive(Clone, Debug, Default)]
pub struct LanguageTable {
    by_extension: BTreeMap<String, String>,
    by_file_name: BTreeMap<String, String>,
    by_interpreter: BTreeMap<String, String>,
}

/// A built-in language: its name and how its files are recognised. [`BUILTIN_LANGUAGES`]
/// is the one table of extensions: ingestion detects languages with it, and the
/// built-in analyzers take their [`LanguageSpec`]s from it.
#[derive(Clone, Copy, Debug)]
pub struct BuiltinLanguage {
    /// Language name (`python`).
    pub name: &'static str,
    /// File extensions without the dot.
    pub extensions: &'static [&'static str],
    /// Exact file names.
    pub file_names: &'static [&'static str],
    /// Interpreters of a `#!` line.
    pub interpreters: &'static [&'static str],
}

impl BuiltinLanguage {
    /// The language's spec.
    pub fn spec(&self) -> LanguageSpec {
        let owned = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect();
        LanguageSpec {
            name: self.name.to_owned(),
            extensions: owned(self.extensions),
            file_names: owned(self.file_names),
            shebangs: owned(self.interpreters),
        }
    }
}

/// The built-in languages (shell has no built-in analyzer, but its files are
/// recognised for analyzers loaded as plugins).
pub const BUILTIN_LANGUAGES: &[BuiltinLanguage] = &[
    BuiltinLanguage {
        name: "python",
        extensions: &["py", "pyi", "pyw"],
        file_names: &[],
        interpreters: &["python", "python2", "python3", "pypy", "pypy3"],
    },
    BuiltinLanguage {
        name: "rust",
        extensions: &["rs"],
        file_names: &[],
        interpreters: &[],
    },
    BuiltinLanguage {
        name: "javascript",
        extensions: &["js", "mjs", "cjs", "jsx"],
        file_names: &[],
        interpreters: &["node", "nodejs", "deno", "bun"],
    },
    BuiltinLanguage {
        name: "typescript",
        extensions: &["ts", "mts", "cts", "tsx"],
        file_names: &[],
        interpreters: &["ts-node", "tsx"],
    },
    BuiltinLanguage {
        name: "go",
        extensions: &["go"],
        file_names: &[],
        interpreters: &[],
    },
    BuiltinLanguage {
        name: "java",
        extensions: &["java"],
        file_names: &[],
        interpreters: &[],
    },
    BuiltinLanguage {
        name: "c",
        extensions: &["c", "h"],
        file_names: &[],
        interpreters: &[],
    },
    BuiltinLanguage {
        name: "cpp",
        extensions: &["cc", "cpp", "cxx", "c++", "hh", "hpp", "hxx", "h++", "ipp", "tpp"],
        file_names: &[],
        interpreters: &[],
    },
    BuiltinLanguage {
        name: "shell",
        extensions: &["sh", "bash", "zsh", "ksh"],
        file_names: &[],
        interpreters: &["sh", "bash", "zsh", "ksh", "dash"],
    },
];

/// The spec of a built-in language by name.
pub fn builtin_spec(name: &str) -> Option<LanguageSpec> {
    BUILTIN_LANGUAGES
        .iter()
        .find(|l| l.name == name)
        .map(BuiltinLanguage::spec)
}

impl LanguageTable {
    /// The built-in languages.
    pub fn builtin() -> Self {
        let mut t = Self::default();
        for language in BUILTIN_LANGUAGES {
            t.add(&language.spec());
        }
        t
    }

    /// The built-in languages plus (overridden by) those of `analyzers`.
    pub fn for_analyzers(analyzers: &[std::sync::Arc<dyn crate::stage::Analyzer>]) -> Self {
        let mut t = Self::builtin();
        for a in analyzers {
            t.add(a.language());
        }
        t
    }

    /// Adds (or overrides with) a language.
    pub fn add(&mut self, spec: &LanguageSpec) {
        for e in &spec.extensions {
            self.by_extension
                .insert(e.trim_start_matches('.').to_ascii_lowercase(), spec.name.clone());
        }
        for n in &spec.file_names {
            self.by_file_name.insert(n.clone(), spec.name.clone());
        }
        for i in &spec.shebangs {
            self.by_interpreter.insert(i.clone(), spec.name.clone());
        }
    }

    /// The language of a file from its path and first bytes.
    pub fn detect(&self, path: &str, head: &[u8]) -> Option<String> {
        let file_name = path.rsplit('/').next().unwrap_or(path);
        if let Some(l) = self.by_file_name.get(file_name) {
            return Some(l.clone());
        }
        if let Some((stem, ext)) = file_name.rsplit_once('.')
            && !stem.is_empty()
            && let Some(l) = self.by_extension.get(&ext.to_ascii_lowercase())
        {
            return Some(l.clone());
        }
        let interp = interpreter(head)?;
        self.by_interpreter
            .get(interp)
            .or_else(|| {
                self.by_interpreter
                    .get(interp.trim_end_matches(|c: char| c.is_ascii_digit() || c == '.'))
            })
            .cloned()
    }
}

/// The interpreter named by a `#!` line: `#!/usr/bin/env -S python3 -u` → `python3`.
fn interpreter(head: &[u8]) -> Option<&str> {
    let rest = head.strip_prefix(b"#!")?;
    let line = rest.split(|&b| b == b'\n').next()?;
    let line = std::str::from_utf8(line).ok()?.trim();
    let mut words = line.split_whitespace();
    let program = words.next()?.rsplit('/').next()?;
    if program == "env" {
        words.find(|w| !w.starts_with('-') && !w.contains('='))
    } else {
        Some(program)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_by_extension_name_and_shebang() {
        let t = LanguageTable::builtin();
        assert_eq!(t.detect("src/main.rs", b"").as_deref(), Some("rust"));
        assert_eq!(t.detect("a/B.TSX", b"").as_deref(), Some("typescript"));
        assert_eq!(t.detect("include/x.hpp", b"").as_deref(), Some("cpp"));
        assert_eq!(
            t.detect("bin/tool", b"#!/usr/bin/env python3\nprint(1)\n").as_deref(),
            Some("python")
        );
        assert_eq!(
            t.detect("bin/tool", b"#!/usr/bin/env -S python3.11 -u\n").as_deref(),
            Some("python")
        );
        assert_eq!(t.detect("run", b"#!/bin/bash\n").as_deref(), Some("shell"));
        assert_eq!(
            t.detect("script", b"#!/usr/bin/env node\n").as_deref(),
            Some("javascript")
        );
        assert_eq!(t.detect("README.md", b"# hi").as_deref(), None);
        assert_eq!(
            t.detect(".bashrc", b"").as_deref(),
            None,
            "a dotfile's name is not an extension"
        );
        assert_eq!(t.detect("x", b"#!").as_deref(), None);
    }

    #[test]
    fn analyzer_specs_extend_the_table() {
        let mut t = LanguageTable::builtin();
        t.add(&LanguageSpec {
            name: "lua".into(),
            extensions: vec![".lua".into()],
            file_names: vec!["Luafile".into()],
            shebangs: vec!["lua".into()],
        });
        assert_eq!(t.detect("x.lua", b"").as_deref(), Some("lua"));
        assert_eq!(t.detect("dir/Luafile", b"").as_deref(), Some("lua"));
        assert_eq!(t.detect("x", b"#!/usr/bin/lua5.4\n").as_deref(), Some("lua"));
    }
}
