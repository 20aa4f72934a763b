//! The host side of dynamic plugins: load a shared library built with
//! `repo2agent-plugin-abi`, check its ABI version, read its manifest and register
//! its components.
//!
//! Rules (see the ABI crate for the C side):
//! - one entry symbol, `repo2agent_plugin_entry`; its table's `abi_version` is read
//!   before anything else and a mismatch is refused, naming both versions;
//! - a library is never unloaded (its code may still be referenced by instances
//!   and by thread-local destructors), so it is leaked on purpose;
//! - a panic inside the plugin is caught there and comes back as
//!   [`StageError::PluginPanicked`].
//!
//! # Manifest (JSON returned by `manifest`)
//! ```json
//! {"name": "shell-analyzer", "version": "0.1.0",
//!  "components": [{"kind": "analyzer", "type": "shell", "summary": "…"}]}
//! ```
//! `kind` is one of `analyzer`, `scorer`, `formatter`, `masker` (the synchronous kinds).
//!
//! # Methods, per kind (JSON in, JSON out, through `call`)
//! - analyzer: `describe` (input `{}`) → [`LanguageSpec`]; `outline` (input a
//!   [`SourceFile`]) → [`FileOutline`]. Import resolution uses the host's
//!   path-based default ([`crate::stage::resolve_path_import`]).
//! - scorer: `score` (input `[ScoreRequest]`) → `[TargetScore]`.
//! - formatter: `describe` → `{"needs_trajectory": bool}`; `format` (input a
//!   [`FormatInput`], read by a plugin as `repo2agent_plugin_types::FormatDocument`)
//!   → `[Segment]`.
//! - masker: the `mask` entry (role ids as `u8` in, `f32` weights out); no JSON.
//!
//! The component's TOML section (minus `type`) is passed to `create` as JSON.

use super::registry::{Kind, Origin, Registry, RegistryError};
use super::{Problem, Section};
use crate::error::StageError;
use crate::model::{FileOutline, Role, Segment, SourceFile};
use crate::stage::{Analyzer, FormatInput, Formatter, LanguageSpec, Masker, ScoreRequest, Scorer, TargetScore};
use repo2agent_plugin_abi::{ABI_VERSION, ENTRY_SYMBOL, EntryFn, PluginEntry, RBuf, RStr, STATUS_OK, STATUS_PANIC};
use serde::Deserialize;
use std::ffi::c_void;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Loading a plugin library failed.
#[derive(Debug, thiserror::Error)]
pub enum DylibError {
    /// The file could not be opened as a shared library.
    #[error("cannot load plugin library {path}: {message}")]
    OpenLib {
        /// Library path.
        path: PathBuf,
        /// The loader's message.
        message: String,
    },
    /// The library does not export the entry symbol.
    #[error("{path} is not a repo2agent plugin: symbol `{symbol}` not found ({message})")]
    MissingSymbol {
        /// Library path.
        path: PathBuf,
        /// The symbol looked up.
        symbol: &'static str,
        /// The loader's message.
        message: String,
    },
    /// The plugin was built against another ABI version.
    #[error(
        "{path} was built for plugin ABI version {plugin}, but this repo2agent speaks version {host}; rebuild the plugin against repo2agent-plugin-abi {host}"
    )]
    IncompatibleVersion {
        /// Library path.
        path: PathBuf,
        /// The plugin's version.
        plugin: u32,
        /// The host's version.
        host: u32,
    },
    /// The manifest is not what the ABI requires.
    #[error("{path}: bad plugin manifest: {message}")]
    BadManifest {
        /// Library path.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A component could not be registered.
    #[error("{path}: {source}")]
    Register {
        /// Library path.
        path: PathBuf,
        /// Why.
        source: RegistryError,
    },
}

pub use repo2agent_plugin_types::{Manifest, ManifestComponent};

/// A loaded plugin library (kept loaded for the life of the process).
#[derive(Clone, Debug)]
pub struct LoadedPlugin {
    /// Where it was loaded from (canonical when possible).
    pub path: PathBuf,
    /// Its manifest.
    pub manifest: Manifest,
    entry: &'static PluginEntry,
}

/// Loads a library, checks its ABI version and reads its manifest.
pub fn load(path: &Path) -> Result<LoadedPlugin, DylibError> {
    let path = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
    // SAFETY: loading a library runs its initialisers; plugins are trusted code
    // the user named in the config, as with any native plugin system.
    let lib = unsafe { libloading::Library::new(&path) }.map_err(|e| DylibError::OpenLib {
        path: path.clone(),
        message: e.to_string(),
    })?;
    // Never unload: instances and TLS destructors may point into the library.
    let lib: &'static libloading::Library = Box::leak(Box::new(lib));
    // SAFETY: the symbol's type is fixed by the ABI crate.
    let entry_fn: libloading::Symbol<'static, EntryFn> =
        unsafe { lib.get(ENTRY_SYMBOL.as_bytes()) }.map_err(|e| DylibError::MissingSymbol {
            path: path.clone(),
            symbol: ENTRY_SYMBOL,
            message: e.to_string(),
        })?;
    // SAFETY: the entry function takes no arguments and returns a static table.
    let table = unsafe { entry_fn() };
    if table.is_null() {
        return Err(DylibError::BadManifest {
            path,
            message: "the entry function returned a null table".into(),
        });
    }
    // SAFETY: every ABI version starts the table with a u32 version; read only that first.
    let version = unsafe { std::ptr::read(table.cast::<u32>()) };
    if version != ABI_VERSION {
        return Err(DylibError::IncompatibleVersion {
            path,
            plugin: version,
            host: ABI_VERSION,
        });
    }
    // SAFETY: the versions match, so the table has this layout and is 'static.
    let entry: &'static PluginEntry = unsafe { &*table };
    // SAFETY: `manifest` returns a buffer this library allocated.
    let raw = take_buf(entry, unsafe { (entry.manifest)() });
    let manifest: Manifest = serde_json::from_slice(&raw).map_err(|e| DylibError::BadManifest {
        path: path.clone(),
        message: e.to_string(),
    })?;
    for c in &manifest.components {
        match Kind::from_name(&c.kind) {
            Some(Kind::Analyzer | Kind::Scorer | Kind::Formatter | Kind::Masker) => {}
            Some(k) => {
                return Err(DylibError::BadManifest {
                    path,
                    message: format!(
                        "component `{}`: kind `{k}` cannot come from a dylib (policies, search strategies and tokenizers are built in only)",
                        c.type_name
                    ),
                });
            }
            None => {
                return Err(DylibError::BadManifest {
                    path,
                    message: format!(
                        "component `{}`: unknown kind `{}` (expected analyzer, scorer, formatter or masker)",
                        c.type_name, c.kind
                    ),
                });
            }
        }
    }
    Ok(LoadedPlugin { path, manifest, entry })
}

/// Registers every component of a loaded plugin. A library already registered
/// (same path, same manifest) is accepted again without error.
pub fn register(plugin: &LoadedPlugin, registry: &mut Registry) -> Result<(), DylibError> {
    let origin = Origin::Dylib {
        library: plugin.path.clone(),
        plugin: plugin.manifest.name.clone(),
    };
    for c in &plugin.manifest.components {
        let kind = Kind::from_name(&c.kind).unwrap_or(Kind::Analyzer);
        let already = registry
            .list()
            .into_iter()
            .any(|l| l.kind == kind && l.type_name == c.type_name && l.origin == origin);
        if already {
            continue;
        }
        let p = plugin.clone();
        let t = c.type_name.clone();
        let res = match kind {
            Kind::Analyzer => registry.register_raw::<dyn Analyzer>(
                &c.type_name,
                origin.clone(),
                &c.summary,
                Box::new(move |s, _| {
                    let inst = p.instantiate(Kind::Analyzer, &t, s)?;
                    let spec: LanguageSpec = inst
                        .call_json("describe", &serde_json::json!({}))
                        .map_err(|e| vec![s.locate(Problem::new(e.to_string()))])?;
                    Ok(Arc::new(DylibAnalyzer { inst, spec }) as Arc<dyn Analyzer>)
                }),
            ),
            Kind::Scorer => registry.register_raw::<dyn Scorer>(
                &c.type_name,
                origin.clone(),
                &c.summary,
                Box::new(move |s, _| {
                    Ok(Arc::new(DylibScorer {
                        inst: p.instantiate(Kind::Scorer, &t, s)?,
                    }) as Arc<dyn Scorer>)
                }),
            ),
            Kind::Formatter => registry.register_raw::<dyn Formatter>(
                &c.type_name,
                origin.clone(),
                &c.summary,
                Box::new(move |s, _| {
                    let inst = p.instantiate(Kind::Formatter, &t, s)?;
                    let d: FormatterDescription = inst
                        .call_json("describe", &serde_json::json!({}))
                        .map_err(|e| vec![s.locate(Problem::new(e.to_string()))])?;
                    Ok(Arc::new(DylibFormatter {
                        inst,
                        needs_trajectory: d.needs_trajectory,
                    }) as Arc<dyn Formatter>)
                }),
            ),
            Kind::Masker => registry.register_raw::<dyn Masker>(
                &c.type_name,
                origin.clone(),
                &c.summary,
                Box::new(move |s, _| {
                    Ok(Arc::new(DylibMasker {
                        inst: p.instantiate(Kind::Masker, &t, s)?,
                    }) as Arc<dyn Masker>)
                }),
            ),
            Kind::Policy | Kind::Search | Kind::Tokenizer => Ok(()),
        };
        res.map_err(|source| DylibError::Register {
            path: plugin.path.clone(),
            source,
        })?;
    }
    Ok(())
}

fn take_buf(entry: &PluginEntry, buf: RBuf) -> Vec<u8> {
    // SAFETY: the buffer is live until we hand it back below.
    let bytes = unsafe { buf.as_bytes() }.to_vec();
    // SAFETY: the plugin allocated it; it frees it.
    unsafe { (entry.free_buf)(buf) };
    bytes
}

impl LoadedPlugin {
    /// Builds one component instance from its config section.
    fn instantiate(&self, kind: Kind, type_name: &str, section: &Section<'_>) -> Result<Instance, Vec<Problem>> {
        let config = section.to_json()?.to_string();
        let mut handle: *mut c_void = std::ptr::null_mut();
        let mut out = RBuf::EMPTY;
        // SAFETY: arguments are live for the call; slots are writable.
        let status = unsafe {
            (self.entry.create)(
                RStr::new(kind.name()),
                RStr::new(type_name),
                RStr::new(&config),
                &mut handle,
                &mut out,
            )
        };
        let msg = take_buf(self.entry, out);
        if status != STATUS_OK || handle.is_null() {
            let err = status_error(&self.manifest.name, status, &msg);
            return Err(vec![section.locate(Problem::new(err.to_string()))]);
        }
        Ok(Instance {
            entry: self.entry,
            handle,
            plugin: self.manifest.name.clone(),
        })
    }
}

fn status_error(plugin: &str, status: i32, msg: &[u8]) -> StageError {
    let message = String::from_utf8_lossy(msg).into_owned();
    if status == STATUS_PANIC {
        StageError::PluginPanicked {
            plugin: plugin.to_owned(),
            message,
        }
    } else {
        StageError::Plugin {
            plugin: plugin.to_owned(),
            message,
        }
    }
}

/// One component instance inside a plugin.
struct Instance {
    entry: &'static PluginEntry,
    handle: *mut c_void,
    plugin: String,
}

// SAFETY: the ABI requires components to be `Send + Sync` (the plugin-side
// `Component` trait has those bounds); the handle is only an opaque pointer to one.
unsafe impl Send for Instance {}
// SAFETY: as above.
unsafe impl Sync for Instance {}

impl Drop for Instance {
    fn drop(&mut self) {
        // SAFETY: `handle` came from `create` and is destroyed exactly once.
        unsafe { (self.entry.destroy)(self.handle) };
    }
}

impl Instance {
    fn call_raw(&self, method: &str, input: &str) -> Result<Vec<u8>, StageError> {
        let mut out = RBuf::EMPTY;
        // SAFETY: arguments are live for the call; the slot is writable.
        let status = unsafe { (self.entry.call)(self.handle, RStr::new(method), RStr::new(input), &mut out) };
        let bytes = take_buf(self.entry, out);
        if status == STATUS_OK {
            Ok(bytes)
        } else {
            Err(status_error(&self.plugin, status, &bytes))
        }
    }

    fn call_json<I: serde::Serialize + ?Sized, O: serde::de::DeserializeOwned>(
        &self,
        method: &str,
        input: &I,
    ) -> Result<O, StageError> {
        let input = serde_json::to_string(input).map_err(|e| StageError::Failed(e.to_string()))?;
        let bytes = self.call_raw(method, &input)?;
        serde_json::from_slice(&bytes).map_err(|e| StageError::Plugin {
            plugin: self.plugin.clone(),
            message: format!("`{method}` returned malformed JSON: {e}"),
        })
    }
}

struct DylibAnalyzer {
    inst: Instance,
    spec: LanguageSpec,
}

impl Analyzer for DylibAnalyzer {
    fn language(&self) -> &LanguageSpec {
        &self.spec
    }

    fn outline(&self, file: &SourceFile) -> Result<FileOutline, StageError> {
        self.inst.call_json("outline", file)
    }
}

struct DylibScorer {
    inst: Instance,
}

#[async_trait::async_trait]
impl Scorer for DylibScorer {
    async fn score(&self, batch: &[ScoreRequest]) -> Result<Vec<TargetScore>, StageError> {
        let scores: Vec<TargetScore> = self.inst.call_json("score", batch)?;
        if scores.len() != batch.len() {
            return Err(StageError::Plugin {
                plugin: self.inst.plugin.clone(),
                message: format!("`score` returned {} scores for {} requests", scores.len(), batch.len()),
            });
        }
        Ok(scores)
    }
}

#[derive(Deserialize)]
struct FormatterDescription {
    needs_trajectory: bool,
}

struct DylibFormatter {
    inst: Instance,
    needs_trajectory: bool,
}

impl Formatter for DylibFormatter {
    fn needs_trajectory(&self) -> bool {
        self.needs_trajectory
    }

    fn format_each(
        &self,
        input: FormatInput<'_>,
        emit: &mut dyn FnMut(Segment) -> Result<(), StageError>,
    ) -> Result<(), StageError> {
        // The plugin's ABI returns the whole document.
        let segments: Vec<Segment> = self.inst.call_json("format", &input)?;
        segments.into_iter().try_for_each(emit)
    }
}

struct DylibMasker {
    inst: Instance,
}

impl Masker for DylibMasker {
    fn weights(&self, roles: &[Role]) -> Result<Vec<f32>, StageError> {
        let ids: Vec<u8> = roles.iter().map(|r| r.id()).collect();
        let mut weights = vec![0.0f32; ids.len()];
        let mut out = RBuf::EMPTY;
        // SAFETY: `ids` and `weights` have `len` elements and outlive the call.
        let status = unsafe {
            (self.inst.entry.mask)(
                self.inst.handle,
                ids.as_ptr(),
                ids.len(),
                weights.as_mut_ptr(),
                &mut out,
            )
        };
        let msg = take_buf(self.inst.entry, out);
        if status != STATUS_OK {
            return Err(status_error(&self.inst.plugin, status, &msg));
        }
        if let Some(bad) = weights.iter().find(|w| !w.is_finite() || **w < 0.0) {
            return Err(StageError::Plugin {
                plugin: self.inst.plugin.clone(),
                message: format!("masker returned an invalid weight {bad} (weights must be finite and >= 0)"),
            });
        }
        Ok(weights)
    }
}
