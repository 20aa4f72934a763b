use super::problem::{Problem, SourceText};
use crate::stage::{Policy, Scorer};
use serde::de::DeserializeOwned;
use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use toml::Spanned;
use toml::de::{DeValue, ValueDeserializer};

/// One component's TOML table, without its `type` key, with the spans needed
/// to report problems at their line.
#[derive(Debug)]
pub struct Section<'a> {
    pub(crate) path: String,
    pub(crate) value: Spanned<DeValue<'a>>,
    pub(crate) anchor: Range<usize>,
    pub(crate) source: SourceText<'a>,
}

impl Section<'_> {
    /// The dotted key path of the section (`policies.teacher`).
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Deserializes the section into a config type; errors carry their line.
    pub fn deserialize<C: DeserializeOwned>(&self) -> Result<C, Vec<Problem>> {
        C::deserialize(ValueDeserializer::from(self.value.clone())).map_err(|e| {
            let span = e
                .span()
                .filter(|s| !s.is_empty() || s.start > 0)
                .unwrap_or_else(|| self.anchor.clone());
            vec![
                self.source
                    .problem(Some(span), &self.path, e.message().trim_end().to_owned()),
            ]
        })
    }

    /// The section as JSON (how a dynamic plugin receives its configuration).
    pub fn to_json(&self) -> Result<serde_json::Value, Vec<Problem>> {
        self.deserialize()
    }

    /// Places a problem that has no position yet at this section.
    pub fn locate(&self, mut p: Problem) -> Problem {
        if p.line.is_none() {
            p.set_span(&self.source, self.anchor.clone());
        }
        if p.path.is_empty() {
            p.path = self.path.clone();
        }
        p
    }
}

/// What a factory may consult while building: the config's directory, the run
/// seed and the components already built (policies before scorers before search).
#[derive(Debug)]
pub struct BuildContext<'a> {
    pub(crate) source: SourceText<'a>,
    pub(crate) base_dir: &'a Path,
    pub(crate) seed: u64,
    pub(crate) policies: &'a BTreeMap<String, Arc<dyn Policy>>,
    pub(crate) scorers: &'a BTreeMap<String, Arc<dyn Scorer>>,
    pub(crate) declared: &'a BTreeSet<(crate::registry::Kind, String)>,
}

/// `path` as a config means it: under `$HOME` when it starts with `~/`, as is
/// when absolute, otherwise relative to `base` (the config's directory).
pub fn resolve_path(base: &Path, path: &Path) -> PathBuf {
    if let Ok(rest) = path.strip_prefix("~")
        && let Some(home) = std::env::var_os("HOME")
    {
        return PathBuf::from(home).join(rest);
    }
    base.join(path)
}

impl BuildContext<'_> {
    /// The directory relative paths in the config are resolved against.
    pub fn base_dir(&self) -> &Path {
        self.base_dir
    }

    /// Resolves a path from the config against [`BuildContext::base_dir`].
    /// A path starting with `~/` is under `$HOME`.
    pub fn resolve_path(&self, path: impl AsRef<Path>) -> PathBuf {
        resolve_path(self.base_dir, path.as_ref())
    }

    /// The run's seed.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The policy a component refers to by name.
    pub fn policy(&self, name: &Spanned<String>) -> Result<Arc<dyn Policy>, Problem> {
        self.reference(crate::registry::Kind::Policy, "policies", self.policies, name)
    }

    /// The scorer a component refers to by name.
    pub fn scorer(&self, name: &Spanned<String>) -> Result<Arc<dyn Scorer>, Problem> {
        self.reference(crate::registry::Kind::Scorer, "scorers", self.scorers, name)
    }

    fn reference<T: ?Sized>(
        &self,
        kind: crate::registry::Kind,
        section: &str,
        built: &BTreeMap<String, Arc<T>>,
        name: &Spanned<String>,
    ) -> Result<Arc<T>, Problem> {
        if let Some(c) = built.get(name.get_ref()) {
            return Ok(Arc::clone(c));
        }
        let message = if self.declared.contains(&(kind, name.get_ref().clone())) {
            format!("{kind} `{}` is invalid (see its own problems)", name.get_ref())
        } else {
            let known: Vec<&str> = built.keys().map(String::as_str).collect();
            format!(
                "no {kind} named `{}`; declare it as [{section}.{}] (declared: {})",
                name.get_ref(),
                name.get_ref(),
                if known.is_empty() {
                    "none".to_owned()
                } else {
                    known.join(", ")
                }
            )
        };
        Err(self.source.problem(Some(name.span()), "", message))
    }
}
