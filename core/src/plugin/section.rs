use super::problem::{Problem, SourceText};
use crate::stage::{Policy, Scorer};
use serde::de::DeserializeOwned;
use std::collections::BTreeMap;
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

impl<'a> Section<'a> {
    /// The table `value` at `path` of `source`; problems without a position
    /// of their own are placed at `anchor` (the span of its key).
    pub fn new(path: &str, value: Spanned<DeValue<'a>>, anchor: Range<usize>, source: SourceText<'a>) -> Self {
        Self {
            path: path.to_owned(),
            value,
            anchor,
            source,
        }
    }

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
    /// Declared policies and scorers, with why each failed to build if it did.
    pub(crate) declared: &'a BTreeMap<(super::registry::Kind, String), Option<String>>,
}

/// `path` as a config means it: under `$HOME` when it starts with `~/`, as is
/// when absolute, otherwise relative to `base` (the config's directory, see
/// [`config_dir`]). Every path a config names goes through here, once.
pub fn resolve_path(base: &Path, path: &Path) -> PathBuf {
    if let Ok(rest) = path.strip_prefix("~")
        && let Some(home) = std::env::var_os("HOME")
    {
        return PathBuf::from(home).join(rest);
    }
    // `components` drops `.` (`-c ./x.toml`, `repos = ["."]`), keeping `..`.
    base.join(path).components().collect()
}

/// The directory a config file's relative paths are relative to: the file's
/// own directory, made absolute against the current directory. Absolute, so a
/// resolved path means the same file from any working directory and resolving
/// it again changes nothing (a relative `-c examples/x.toml` once had its
/// paths joined to `examples/` twice).
pub fn config_dir(config: &Path) -> PathBuf {
    let parent = config
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    absolute(parent)
}

/// The directory the embedded default config's paths are relative to: the
/// current directory, absolute.
pub fn current_dir() -> PathBuf {
    absolute(Path::new("."))
}

fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

/// Files this project's own scripts fetch into `~/.cache/repo2agent`, matched
/// by the end of their path, with the command that fetches each.
const FETCHED: &[(&str, &str)] = &[
    (
        "SmolLM2-135M-Instruct.Q4_1.gguf",
        "python3 scripts/llama_server.py --install-only",
    ),
    ("assets/llama3/tokenizer.json", "scripts/assets llama3-tokenizer"),
    (
        "SmolLM2-135M-Instruct.tokenizer.json",
        "python3 scripts/llama_server.py --install-only && repo2agent gguf-tokenizer \
         ~/.cache/repo2agent/model/SmolLM2-135M-Instruct.Q4_1.gguf --out ~/.cache/repo2agent/model/SmolLM2-135M-Instruct.tokenizer.json",
    ),
];

/// `None` when `path` exists; otherwise a message naming the file (`what`
/// it is and its full path) and, for a file this project's scripts fetch,
/// the command that fetches it.
pub fn missing_file(what: &str, path: &Path) -> Option<String> {
    if path.exists() {
        return None;
    }
    let mut message = format!("{what} {} does not exist", path.display());
    if let Some((_, command)) = FETCHED.iter().find(|(end, _)| path.ends_with(end)) {
        message.push_str(&format!("; fetch it with `{command}` (from the repository root)"));
    }
    Some(message)
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
        self.reference(super::registry::Kind::Policy, "policies", self.policies, name)
    }

    /// The scorer a component refers to by name.
    pub fn scorer(&self, name: &Spanned<String>) -> Result<Arc<dyn Scorer>, Problem> {
        self.reference(super::registry::Kind::Scorer, "scorers", self.scorers, name)
    }

    fn reference<T: ?Sized>(
        &self,
        kind: super::registry::Kind,
        section: &str,
        built: &BTreeMap<String, Arc<T>>,
        name: &Spanned<String>,
    ) -> Result<Arc<T>, Problem> {
        if let Some(c) = built.get(name.get_ref()) {
            return Ok(Arc::clone(c));
        }
        let message = if let Some(failure) = self.declared.get(&(kind, name.get_ref().clone())) {
            let why = failure.as_deref().unwrap_or("see its own problems");
            format!("{kind} `{}` is invalid: {why}", name.get_ref())
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
