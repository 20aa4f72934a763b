//! repo2agent-treesitter: the built-in language analyzers (docs/method.md step 1).
//!
//! Owns the tree-sitter analyzers of Python, Rust, JavaScript, TypeScript (with
//! TSX), Go, Java, C and C++, whose outlines and imports are described by query
//! files under `languages/NAME/`, the per-language import resolvers, and the
//! `tree-sitter` analyzer type that loads a grammar from a shared library plus
//! query files at run time. The dependency graph and the order live in the core.

mod engine;
mod grammar_lib;
mod languages;
mod resolve;

pub use engine::{DocStyle, Extractor, Grammar, ImportStyle, QueryError};
pub use grammar_lib::{GrammarLibError, TreeSitterConfig};
pub use languages::names;
pub use resolve::{ModuleRule, ResolverKind};

use repo2agent_core::StageError;
use repo2agent_core::config::Problem;
use repo2agent_core::model::{FileOutline, RepoSnapshot, SourceFile};
use repo2agent_core::registry::{Origin, Registry, RegistryError};
use repo2agent_core::stage::{Analyzer, ImportResolver, LanguageSpec};
use serde::Deserialize;
use std::sync::Arc;

const CRATE: &str = "repo2agent-treesitter";

/// A tree-sitter analyzer: a language spec, an extractor and a resolver.
#[derive(Debug)]
pub struct TreeSitterAnalyzer {
    spec: LanguageSpec,
    extractor: Extractor,
    resolver: ResolverKind,
}

impl TreeSitterAnalyzer {
    /// A built-in language by name.
    pub fn builtin(name: &str) -> Option<Result<Self, QueryError>> {
        languages::builtin(name).map(|r| {
            r.map(|b| Self {
                spec: b.spec,
                extractor: b.extractor,
                resolver: b.resolver,
            })
        })
    }

    /// An analyzer from parts (used for grammars loaded at run time).
    pub fn new(spec: LanguageSpec, extractor: Extractor, resolver: ResolverKind) -> Self {
        Self {
            spec,
            extractor,
            resolver,
        }
    }
}

impl Analyzer for TreeSitterAnalyzer {
    fn language(&self) -> &LanguageSpec {
        &self.spec
    }

    fn outline(&self, file: &SourceFile) -> Result<FileOutline, StageError> {
        self.extractor.outline(&file.path, &file.text)
    }

    fn resolver<'r>(&self, repo: &'r RepoSnapshot) -> Box<dyn ImportResolver + 'r> {
        self.resolver.build(repo)
    }
}

/// Every built-in analyzer with its default options.
pub fn builtin_analyzers() -> Result<Vec<Arc<dyn Analyzer>>, QueryError> {
    languages::names()
        .filter_map(TreeSitterAnalyzer::builtin)
        .map(|a| a.map(|a| Arc::new(a) as Arc<dyn Analyzer>))
        .collect()
}

/// Options of a built-in analyzer.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BuiltinConfig {
    /// Extra file extensions (without the dot) to analyze as this language. Default none.
    #[serde(default)]
    pub extra_extensions: Vec<String>,
}

/// Registers the eight built-in analyzers and the `tree-sitter` type.
pub fn register(registry: &mut Registry) -> Result<(), RegistryError> {
    for name in languages::names() {
        registry.register::<dyn Analyzer, BuiltinConfig, _>(
            name,
            Origin::BuiltIn(CRATE),
            &format!("tree-sitter outline and imports of {name}"),
            move |config, _| {
                let mut analyzer = TreeSitterAnalyzer::builtin(name)
                    .ok_or_else(|| Problem::new(format!("no built-in language `{name}`")))?
                    .map_err(|e| Problem::new(e.to_string()))?;
                analyzer.spec.extensions.extend(config.extra_extensions);
                Ok(Arc::new(analyzer) as Arc<dyn Analyzer>)
            },
        )?;
    }
    registry.register::<dyn Analyzer, TreeSitterConfig, _>(
        "tree-sitter",
        Origin::BuiltIn(CRATE),
        "a language from a tree-sitter grammar library plus query files",
        |config, ctx| {
            grammar_lib::build(config, ctx.base_dir())
                .map(|a| Arc::new(a) as Arc<dyn Analyzer>)
                .map_err(Problem::new)
        },
    )?;
    registry.exclude_from_defaults::<dyn Analyzer>("tree-sitter");
    Ok(())
}
