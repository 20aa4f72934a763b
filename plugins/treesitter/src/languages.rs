//! The built-in languages, one table entry each. A language is this entry plus
//! its folder `languages/NAME/`: the query files (`outline.scm`, `imports.scm`,
//! `references.scm`) and, where its imports are not plain paths, `resolve.rs`.
//! How its files are recognised (extensions, file names, `#!` interpreters)
//! comes from core's one table ([`repo2agent_core::ingest::BUILTIN_LANGUAGES`]),
//! which ingestion uses too.

use crate::engine::{DocStyle, Extractor, Grammar, ImportStyle, QueryError};
use crate::resolve::ResolverKind;
use repo2agent_core::ingest::builtin_spec;
use repo2agent_core::stage::LanguageSpec;
use tree_sitter_language::LanguageFn;

/// One built-in language.
#[derive(Debug)]
pub struct Builtin {
    /// Language name and how files are recognised.
    pub spec: LanguageSpec,
    /// Outline and import extraction.
    pub extractor: Extractor,
    /// How imports resolve.
    pub resolver: ResolverKind,
}

/// A built-in language's entry in [`TABLE`].
struct Entry {
    name: &'static str,
    /// Its grammars: the first for every file, others for the extensions they name.
    grammars: &'static [GrammarEntry],
    imports: ImportStyle,
    /// Comment prefixes that mark a declaration's doc (empty: any comment).
    doc_comments: &'static [&'static str],
    /// Whether a body's first string literal is its docstring.
    docstrings: bool,
    resolver: ResolverKind,
}

/// One grammar of a language and its query files.
struct GrammarEntry {
    language: LanguageFn,
    /// Extensions this grammar is for (empty: the language's default grammar).
    extensions: &'static [&'static str],
    /// The grammar's name in errors.
    name: &'static str,
    /// `outline.scm`, `imports.scm`, `references.scm` of `languages/NAME/`.
    queries: (&'static str, &'static str, &'static str),
}

macro_rules! queries {
    ($dir:literal) => {
        (
            include_str!(concat!("../languages/", $dir, "/outline.scm")),
            include_str!(concat!("../languages/", $dir, "/imports.scm")),
            include_str!(concat!("../languages/", $dir, "/references.scm")),
        )
    };
}

macro_rules! grammar {
    ($language:expr, $dir:literal) => {
        grammar!($language, $dir, $dir, &[])
    };
    ($language:expr, $dir:literal, $name:literal, $extensions:expr) => {
        GrammarEntry {
            language: $language,
            extensions: $extensions,
            name: $name,
            queries: queries!($dir),
        }
    };
}

/// The built-in languages.
const TABLE: &[Entry] = &[
    Entry {
        name: "python",
        grammars: &[grammar!(tree_sitter_python::LANGUAGE, "python")],
        imports: ImportStyle::Python,
        doc_comments: &["#"],
        docstrings: true,
        resolver: ResolverKind::Python,
    },
    Entry {
        name: "rust",
        grammars: &[grammar!(tree_sitter_rust::LANGUAGE, "rust")],
        imports: ImportStyle::Rust,
        doc_comments: &["///", "/**"],
        docstrings: false,
        resolver: ResolverKind::Rust,
    },
    Entry {
        name: "javascript",
        grammars: &[grammar!(tree_sitter_javascript::LANGUAGE, "javascript")],
        imports: ImportStyle::Path,
        doc_comments: &[],
        docstrings: false,
        resolver: ResolverKind::JavaScript,
    },
    Entry {
        name: "typescript",
        grammars: &[
            grammar!(tree_sitter_typescript::LANGUAGE_TYPESCRIPT, "typescript"),
            grammar!(tree_sitter_typescript::LANGUAGE_TSX, "typescript", "tsx", &["tsx"]),
        ],
        imports: ImportStyle::Path,
        doc_comments: &[],
        docstrings: false,
        resolver: ResolverKind::JavaScript,
    },
    Entry {
        name: "go",
        grammars: &[grammar!(tree_sitter_go::LANGUAGE, "go")],
        imports: ImportStyle::Path,
        doc_comments: &["//", "/*"],
        docstrings: false,
        resolver: ResolverKind::Go,
    },
    Entry {
        name: "java",
        grammars: &[grammar!(tree_sitter_java::LANGUAGE, "java")],
        imports: ImportStyle::Java,
        doc_comments: &["/**", "//"],
        docstrings: false,
        resolver: ResolverKind::Java,
    },
    Entry {
        name: "c",
        grammars: &[grammar!(tree_sitter_c::LANGUAGE, "c")],
        imports: ImportStyle::Include,
        doc_comments: &[],
        docstrings: false,
        resolver: ResolverKind::C,
    },
    Entry {
        name: "cpp",
        grammars: &[grammar!(tree_sitter_cpp::LANGUAGE, "cpp")],
        imports: ImportStyle::Include,
        doc_comments: &[],
        docstrings: false,
        resolver: ResolverKind::C,
    },
];

/// The names of the built-in languages, in the table's order.
pub fn names() -> impl Iterator<Item = &'static str> {
    TABLE.iter().map(|e| e.name)
}

/// Builds a built-in language by name (`None` for an unknown name).
pub fn builtin(name: &str) -> Option<Result<Builtin, QueryError>> {
    let entry = TABLE.iter().find(|e| e.name == name)?;
    let spec = builtin_spec(name)?;
    Some(build(entry, spec))
}

fn build(entry: &Entry, spec: LanguageSpec) -> Result<Builtin, QueryError> {
    let grammars = entry
        .grammars
        .iter()
        .map(|g| {
            let (outline, imports, references) = g.queries;
            Grammar::new(
                g.language.into(),
                g.extensions,
                outline,
                imports,
                Some(references),
                g.name,
            )
        })
        .collect::<Result<Vec<_>, _>>()?;
    let docs = DocStyle {
        docstrings: entry.docstrings,
        ..DocStyle::comments(entry.doc_comments)
    };
    Ok(Builtin {
        spec,
        extractor: Extractor::new(grammars, entry.imports, docs),
        resolver: entry.resolver.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_entry_builds_and_is_in_cores_table() {
        for name in names() {
            let b = builtin(name)
                .unwrap_or_else(|| panic!("{name}: not in core's table"))
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(b.spec.name, name);
            assert!(!b.spec.extensions.is_empty(), "{name}: no extensions");
        }
        assert_eq!(names().count(), 8);
        assert!(
            builtin("shell").is_none(),
            "core knows shell, but no grammar is built in"
        );
    }
}
