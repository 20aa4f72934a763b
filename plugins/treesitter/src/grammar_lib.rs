//! A language from a tree-sitter grammar shared library plus query files (the
//! helix / ast-grep way): no recompiling to add a language.
//!
//! ```toml
//! [analyzers.lua]
//! type = "tree-sitter"
//! grammar = "grammars/liblua.so"          # exports tree_sitter_lua
//! extensions = ["lua"]
//! outline_query = "queries/lua/outline.scm"
//! imports_query = "queries/lua/imports.scm"
//! ```
//!
//! The library is opened once (canonical path), never unloaded, and its
//! language's ABI version must lie in the range this tree-sitter supports.

use crate::TreeSitterAnalyzer;
use crate::engine::{DocStyle, Extractor, Grammar, ImportStyle};
use crate::resolve::{ModuleRule, ResolverKind};
use repo2agent_core::stage::LanguageSpec;
use serde::Deserialize;
use std::path::{Path, PathBuf};
use tree_sitter::{LANGUAGE_VERSION, Language, MIN_COMPATIBLE_LANGUAGE_VERSION};

/// Config of the `tree-sitter` analyzer type.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TreeSitterConfig {
    /// Language name given to the files it handles. Default: the section name is
    /// not known here, so this is required.
    pub language: String,
    /// Path of the grammar shared library, relative to the config file.
    pub grammar: PathBuf,
    /// Symbol returning the `TSLanguage`. Default `tree_sitter_<language>`.
    #[serde(default)]
    pub symbol: Option<String>,
    /// File extensions (without the dot).
    pub extensions: Vec<String>,
    /// Exact file names. Default none.
    #[serde(default)]
    pub file_names: Vec<String>,
    /// `#!` interpreters. Default none.
    #[serde(default)]
    pub shebangs: Vec<String>,
    /// Outline query file (see `plugins/treesitter/languages/README.md`), relative to the config file.
    pub outline_query: PathBuf,
    /// Imports query file (`@path` captures, resolved as paths). Default: no imports.
    #[serde(default)]
    pub imports_query: Option<PathBuf>,
    /// References query file (`@call`, `@attribute`, `@reference`, `@raise`,
    /// `@handle` captures). Default: no references.
    #[serde(default)]
    pub references_query: Option<PathBuf>,
    /// Comment prefixes that count as doc comments. Default: any comment.
    #[serde(default)]
    pub doc_comment_prefixes: Vec<String>,
    /// Module separator in imports, replaced by `/` (`"."` for Lua's
    /// `require("lib.util")`). Default none: imports are paths.
    #[serde(default)]
    pub import_separator: Option<String>,
    /// Extensions tried after an import's path (`["lua"]`). Default none.
    #[serde(default)]
    pub import_extensions: Vec<String>,
    /// File stems tried inside an imported directory (`["init"]`). Default none.
    #[serde(default)]
    pub import_index: Vec<String>,
}

/// Loading a grammar library failed.
#[derive(Debug, thiserror::Error)]
pub enum GrammarLibError {
    /// The library could not be opened.
    #[error("cannot load grammar library {path}: {message}")]
    OpenLib {
        /// Library.
        path: PathBuf,
        /// Loader message.
        message: String,
    },
    /// The language symbol is missing.
    #[error("grammar library {path} has no symbol `{symbol}` ({message}); set `symbol` if it is named otherwise")]
    ReadSymbol {
        /// Library.
        path: PathBuf,
        /// Symbol looked up.
        symbol: String,
        /// Loader message.
        message: String,
    },
    /// The grammar was generated for an ABI this tree-sitter cannot use.
    #[error("grammar {path} has ABI version {found}; this build supports {min} to {max} (regenerate the grammar)")]
    IncompatibleVersion {
        /// Library.
        path: PathBuf,
        /// The grammar's ABI version.
        found: usize,
        /// Oldest supported.
        min: usize,
        /// Newest supported.
        max: usize,
    },
}

/// Opens a grammar library and returns its language, checking the ABI range.
pub fn load_grammar(path: &Path, symbol: &str) -> Result<Language, GrammarLibError> {
    let path = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
    // SAFETY: loading runs the library's initialisers; grammars are trusted code
    // named in the user's config.
    let lib = unsafe { libloading::Library::new(&path) }.map_err(|e| GrammarLibError::OpenLib {
        path: path.clone(),
        message: e.to_string(),
    })?;
    // Kept loaded for the life of the process: parsers and trees point into it.
    let lib: &'static libloading::Library = Box::leak(Box::new(lib));
    // SAFETY: tree-sitter grammars export `const TSLanguage *tree_sitter_NAME(void)`.
    let f: libloading::Symbol<'static, unsafe extern "C" fn() -> *const ()> = unsafe { lib.get(symbol.as_bytes()) }
        .map_err(|e| GrammarLibError::ReadSymbol {
            path: path.clone(),
            symbol: symbol.to_owned(),
            message: e.to_string(),
        })?;
    // SAFETY: the symbol has the grammar entry point's signature.
    let language = Language::new(unsafe { tree_sitter_language::LanguageFn::from_raw(*f) });
    let found = language.abi_version();
    if !(MIN_COMPATIBLE_LANGUAGE_VERSION..=LANGUAGE_VERSION).contains(&found) {
        return Err(GrammarLibError::IncompatibleVersion {
            path,
            found,
            min: MIN_COMPATIBLE_LANGUAGE_VERSION,
            max: LANGUAGE_VERSION,
        });
    }
    Ok(language)
}

/// Builds the analyzer a `tree-sitter` config describes; its relative paths
/// are relative to `base`, the config's directory.
pub fn build(config: TreeSitterConfig, base: &Path) -> Result<TreeSitterAnalyzer, String> {
    let resolve = |p: &Path| repo2agent_core::config::resolve_path(base, p);
    let symbol = config
        .symbol
        .clone()
        .unwrap_or_else(|| format!("tree_sitter_{}", config.language.replace('-', "_")));
    let language = load_grammar(&resolve(&config.grammar), &symbol).map_err(|e| e.to_string())?;
    let read = |p: &Path| {
        let full = resolve(p);
        std::fs::read_to_string(&full).map_err(|e| format!("cannot read query file {}: {e}", full.display()))
    };
    let outline = read(&config.outline_query)?;
    let imports = match &config.imports_query {
        Some(p) => read(p)?,
        None => String::new(),
    };
    let references = config.references_query.as_deref().map(read).transpose()?;
    let grammar = Grammar::new(
        language,
        &[],
        &outline,
        &imports,
        references.as_deref(),
        &config.language,
    )
    .map_err(|e| e.to_string())?;
    let spec = LanguageSpec {
        name: config.language,
        extensions: config.extensions,
        file_names: config.file_names,
        shebangs: config.shebangs,
    };
    let docs = DocStyle {
        docstrings: false,
        comment_prefixes: config.doc_comment_prefixes,
    };
    let rule = ModuleRule {
        separator: config.import_separator,
        extensions: config.import_extensions,
        index: config.import_index,
    };
    Ok(TreeSitterAnalyzer::new(
        spec,
        Extractor::new(vec![grammar], ImportStyle::Path, docs),
        ResolverKind::Module(rule),
    ))
}
