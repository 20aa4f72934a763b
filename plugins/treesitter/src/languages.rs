//! The built-in languages: grammar, query files, import style, doc style and
//! resolver of each.

use crate::engine::{DocStyle, Extractor, Grammar, ImportStyle, QueryError};
use crate::resolve::ResolverKind;
use repo2agent_core::stage::LanguageSpec;
use tree_sitter::Language;

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

macro_rules! queries {
    ($dir:literal) => {
        (
            include_str!(concat!("../queries/", $dir, "/outline.scm")),
            include_str!(concat!("../queries/", $dir, "/imports.scm")),
            include_str!(concat!("../queries/", $dir, "/references.scm")),
        )
    };
}

fn spec(name: &str, extensions: &[&str], shebangs: &[&str]) -> LanguageSpec {
    LanguageSpec {
        name: name.to_owned(),
        extensions: extensions.iter().map(|s| (*s).to_owned()).collect(),
        file_names: Vec::new(),
        shebangs: shebangs.iter().map(|s| (*s).to_owned()).collect(),
    }
}

/// The names of the built-in languages.
pub const NAMES: [&str; 8] = ["python", "rust", "javascript", "typescript", "go", "java", "c", "cpp"];

/// Builds a built-in language by name (`None` for an unknown name).
pub fn builtin(name: &str) -> Option<Result<Builtin, QueryError>> {
    let grammar = |lang: Language, exts: &[&str], q: (&str, &str, &str), dir: &str| {
        Grammar::new(lang, exts, q.0, q.1, Some(q.2), dir)
    };
    let made = match name {
        "python" => (|| {
            Ok(Builtin {
                spec: spec(
                    "python",
                    &["py", "pyi", "pyw"],
                    &["python", "python2", "python3", "pypy", "pypy3"],
                ),
                extractor: Extractor::new(
                    vec![grammar(
                        tree_sitter_python::LANGUAGE.into(),
                        &[],
                        queries!("python"),
                        "python",
                    )?],
                    ImportStyle::Python,
                    DocStyle {
                        docstrings: true,
                        comment_prefixes: vec!["#".into()],
                    },
                ),
                resolver: ResolverKind::Python,
            })
        })(),
        "rust" => (|| {
            Ok(Builtin {
                spec: spec("rust", &["rs"], &[]),
                extractor: Extractor::new(
                    vec![grammar(
                        tree_sitter_rust::LANGUAGE.into(),
                        &[],
                        queries!("rust"),
                        "rust",
                    )?],
                    ImportStyle::Rust,
                    DocStyle::comments(&["///", "/**"]),
                ),
                resolver: ResolverKind::Rust,
            })
        })(),
        "javascript" => (|| {
            Ok(Builtin {
                spec: spec(
                    "javascript",
                    &["js", "mjs", "cjs", "jsx"],
                    &["node", "nodejs", "deno", "bun"],
                ),
                extractor: Extractor::new(
                    vec![grammar(
                        tree_sitter_javascript::LANGUAGE.into(),
                        &[],
                        queries!("javascript"),
                        "javascript",
                    )?],
                    ImportStyle::Path,
                    DocStyle::comments(&[]),
                ),
                resolver: ResolverKind::JavaScript,
            })
        })(),
        "typescript" => (|| {
            Ok(Builtin {
                spec: spec("typescript", &["ts", "mts", "cts", "tsx"], &["ts-node", "tsx"]),
                extractor: Extractor::new(
                    vec![
                        grammar(
                            tree_sitter_typescript::LANGUAGE_TYPESCRIPT.into(),
                            &[],
                            queries!("typescript"),
                            "typescript",
                        )?,
                        grammar(
                            tree_sitter_typescript::LANGUAGE_TSX.into(),
                            &["tsx"],
                            queries!("typescript"),
                            "tsx",
                        )?,
                    ],
                    ImportStyle::Path,
                    DocStyle::comments(&[]),
                ),
                resolver: ResolverKind::JavaScript,
            })
        })(),
        "go" => (|| {
            Ok(Builtin {
                spec: spec("go", &["go"], &[]),
                extractor: Extractor::new(
                    vec![grammar(tree_sitter_go::LANGUAGE.into(), &[], queries!("go"), "go")?],
                    ImportStyle::Path,
                    DocStyle::comments(&["//", "/*"]),
                ),
                resolver: ResolverKind::Go,
            })
        })(),
        "java" => (|| {
            Ok(Builtin {
                spec: spec("java", &["java"], &[]),
                extractor: Extractor::new(
                    vec![grammar(
                        tree_sitter_java::LANGUAGE.into(),
                        &[],
                        queries!("java"),
                        "java",
                    )?],
                    ImportStyle::Java,
                    DocStyle::comments(&["/**", "//"]),
                ),
                resolver: ResolverKind::Java,
            })
        })(),
        "c" => (|| {
            Ok(Builtin {
                spec: spec("c", &["c", "h"], &[]),
                extractor: Extractor::new(
                    vec![grammar(tree_sitter_c::LANGUAGE.into(), &[], queries!("c"), "c")?],
                    ImportStyle::Include,
                    DocStyle::comments(&[]),
                ),
                resolver: ResolverKind::C,
            })
        })(),
        "cpp" => (|| {
            Ok(Builtin {
                spec: spec(
                    "cpp",
                    &["cc", "cpp", "cxx", "c++", "hh", "hpp", "hxx", "h++", "ipp", "tpp"],
                    &[],
                ),
                extractor: Extractor::new(
                    vec![grammar(tree_sitter_cpp::LANGUAGE.into(), &[], queries!("cpp"), "cpp")?],
                    ImportStyle::Include,
                    DocStyle::comments(&[]),
                ),
                resolver: ResolverKind::C,
            })
        })(),
        _ => return None,
    };
    Some(made)
}
