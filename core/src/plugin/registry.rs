//! The registry of component factories, keyed by kind and `type` name.
//!
//! Registration is explicit: a plugin crate exposes `register(&mut Registry)`
//! and the CLI calls each built-in's in one place; a dynamic library's components
//! are registered when a config loads it. A factory pairs a serde config type
//! (`deny_unknown_fields`, every field defaulted and documented) with the code
//! that builds the runtime object; building validates and does no work.

use super::{BuildContext, Problem, Section};
use crate::stage::{Analyzer, Formatter, Masker, Policy, Scorer, SearchStrategy, Tokenizer};
use serde::de::DeserializeOwned;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

/// The kinds of stage plugin.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// [`Analyzer`]
    Analyzer,
    /// [`Policy`]
    Policy,
    /// [`SearchStrategy`]
    Search,
    /// [`Scorer`]
    Scorer,
    /// [`Formatter`]
    Formatter,
    /// [`Masker`]
    Masker,
    /// [`Tokenizer`]
    Tokenizer,
}

impl Kind {
    /// Every kind.
    pub const ALL: [Kind; 7] = [
        Kind::Analyzer,
        Kind::Policy,
        Kind::Search,
        Kind::Scorer,
        Kind::Formatter,
        Kind::Masker,
        Kind::Tokenizer,
    ];

    /// The name used in manifests and listings.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Analyzer => "analyzer",
            Kind::Policy => "policy",
            Kind::Search => "search",
            Kind::Scorer => "scorer",
            Kind::Formatter => "formatter",
            Kind::Masker => "masker",
            Kind::Tokenizer => "tokenizer",
        }
    }

    /// The kind with this name.
    pub fn from_name(name: &str) -> Option<Kind> {
        Self::ALL.into_iter().find(|k| k.name() == name)
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Where a factory comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    /// Compiled into the binary, from this crate.
    BuiltIn(&'static str),
    /// Loaded from a shared library.
    Dylib {
        /// The library file.
        library: PathBuf,
        /// The plugin's name from its manifest.
        plugin: String,
    },
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Origin::BuiltIn(krate) => write!(f, "built-in ({krate})"),
            Origin::Dylib { library, plugin } => {
                write!(f, "dylib {plugin} ({})", library.display())
            }
        }
    }
}

/// A factory after type erasure: section in, component out.
pub type BuildFn<T> = Box<dyn Fn(&Section<'_>, &BuildContext<'_>) -> Result<Arc<T>, Vec<Problem>> + Send + Sync>;

/// One registered factory.
pub struct Factory<T: ?Sized> {
    /// Where it comes from.
    pub origin: Origin,
    /// One line saying what it does.
    pub summary: String,
    build: BuildFn<T>,
}

impl<T: ?Sized> Factory<T> {
    /// Builds a component from its config section.
    pub fn build(&self, section: &Section<'_>, ctx: &BuildContext<'_>) -> Result<Arc<T>, Vec<Problem>> {
        (self.build)(section, ctx)
    }
}

impl<T: ?Sized> std::fmt::Debug for Factory<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Factory")
            .field("origin", &self.origin)
            .field("summary", &self.summary)
            .finish()
    }
}

/// Registering a factory failed.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The `(kind, type)` pair is taken.
    #[error("{kind} type `{type_name}` is already registered by {existing}")]
    Duplicate {
        /// Kind.
        kind: Kind,
        /// Type name.
        type_name: String,
        /// Who registered it first.
        existing: Origin,
    },
}

/// A stage trait object type that the registry can hold (`dyn Analyzer`, …).
pub trait StageObject: Send + Sync + 'static {
    /// Its kind.
    const KIND: Kind;
    #[doc(hidden)]
    fn table(registry: &Registry) -> &BTreeMap<String, Factory<Self>>;
    #[doc(hidden)]
    fn table_mut(registry: &mut Registry) -> &mut BTreeMap<String, Factory<Self>>;
}

macro_rules! stage_object {
    ($t:ty, $kind:expr, $field:ident) => {
        impl StageObject for $t {
            const KIND: Kind = $kind;
            fn table(registry: &Registry) -> &BTreeMap<String, Factory<Self>> {
                &registry.$field
            }
            fn table_mut(registry: &mut Registry) -> &mut BTreeMap<String, Factory<Self>> {
                &mut registry.$field
            }
        }
    };
}

stage_object!(dyn Analyzer, Kind::Analyzer, analyzers);
stage_object!(dyn Policy, Kind::Policy, policies);
stage_object!(dyn SearchStrategy, Kind::Search, searches);
stage_object!(dyn Scorer, Kind::Scorer, scorers);
stage_object!(dyn Formatter, Kind::Formatter, formatters);
stage_object!(dyn Masker, Kind::Masker, maskers);
stage_object!(dyn Tokenizer, Kind::Tokenizer, tokenizers);

/// Every factory the run can use, by kind and type name.
#[derive(Debug, Default)]
pub struct Registry {
    analyzers: BTreeMap<String, Factory<dyn Analyzer>>,
    policies: BTreeMap<String, Factory<dyn Policy>>,
    searches: BTreeMap<String, Factory<dyn SearchStrategy>>,
    scorers: BTreeMap<String, Factory<dyn Scorer>>,
    formatters: BTreeMap<String, Factory<dyn Formatter>>,
    maskers: BTreeMap<String, Factory<dyn Masker>>,
    tokenizers: BTreeMap<String, Factory<dyn Tokenizer>>,
    not_default: std::collections::BTreeSet<(Kind, String)>,
}

/// One row of [`Registry::list`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Listing {
    /// Kind.
    pub kind: Kind,
    /// The `type` string that selects it.
    pub type_name: String,
    /// Where it comes from.
    pub origin: Origin,
    /// What it does.
    pub summary: String,
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers a factory whose config type `C` is deserialized from the
    /// component's TOML section (minus its `type` key).
    pub fn register<T, C, F>(
        &mut self,
        type_name: &str,
        origin: Origin,
        summary: &str,
        build: F,
    ) -> Result<(), RegistryError>
    where
        T: StageObject + ?Sized,
        C: DeserializeOwned + 'static,
        F: Fn(C, &BuildContext<'_>) -> Result<Arc<T>, Problem> + Send + Sync + 'static,
    {
        self.register_raw::<T>(
            type_name,
            origin,
            summary,
            Box::new(move |section, ctx| {
                let config: C = section.deserialize()?;
                build(config, ctx).map_err(|p| vec![section.locate(p)])
            }),
        )
    }

    /// Registers an already type-erased factory (used for dynamic plugins, whose
    /// configuration crosses the boundary as JSON).
    pub fn register_raw<T: StageObject + ?Sized>(
        &mut self,
        type_name: &str,
        origin: Origin,
        summary: &str,
        build: BuildFn<T>,
    ) -> Result<(), RegistryError> {
        let table = T::table_mut(self);
        if let Some(existing) = table.get(type_name) {
            return Err(RegistryError::Duplicate {
                kind: T::KIND,
                type_name: type_name.to_owned(),
                existing: existing.origin.clone(),
            });
        }
        table.insert(
            type_name.to_owned(),
            Factory {
                origin,
                summary: summary.to_owned(),
                build,
            },
        );
        Ok(())
    }

    /// The factory for a type name.
    pub fn get<T: StageObject + ?Sized>(&self, type_name: &str) -> Option<&Factory<T>> {
        T::table(self).get(type_name)
    }

    /// Known type names of a kind, sorted.
    pub fn type_names<T: StageObject + ?Sized>(&self) -> Vec<&str> {
        T::table(self).keys().map(String::as_str).collect()
    }

    /// Built-in type names of a kind that a config gets without naming them
    /// (every analyzer language when `[analyzers]` lists none), sorted.
    pub fn default_type_names<T: StageObject + ?Sized>(&self) -> Vec<&str> {
        T::table(self)
            .iter()
            .filter(|(name, f)| {
                matches!(f.origin, Origin::BuiltIn(_)) && !self.not_default.contains(&(T::KIND, (*name).clone()))
            })
            .map(|(k, _)| k.as_str())
            .collect()
    }

    /// Keeps a built-in type out of [`Registry::default_type_names`] (a type that
    /// needs options, such as the grammar-library analyzer).
    pub fn exclude_from_defaults<T: StageObject + ?Sized>(&mut self, type_name: &str) {
        self.not_default.insert((T::KIND, type_name.to_owned()));
    }

    /// Every factory, by kind then type name.
    pub fn list(&self) -> Vec<Listing> {
        fn rows<T: StageObject + ?Sized>(r: &Registry, out: &mut Vec<Listing>) {
            for (name, f) in T::table(r) {
                out.push(Listing {
                    kind: T::KIND,
                    type_name: name.clone(),
                    origin: f.origin.clone(),
                    summary: f.summary.clone(),
                });
            }
        }
        let mut out = Vec::new();
        rows::<dyn Analyzer>(self, &mut out);
        rows::<dyn Policy>(self, &mut out);
        rows::<dyn SearchStrategy>(self, &mut out);
        rows::<dyn Scorer>(self, &mut out);
        rows::<dyn Formatter>(self, &mut out);
        rows::<dyn Masker>(self, &mut out);
        rows::<dyn Tokenizer>(self, &mut out);
        out
    }
}
