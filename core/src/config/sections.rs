//! The plain (non-component) sections of a run config.

use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use toml::Spanned;

/// `[run]`: settings of the whole run.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunSection {
    /// Seed for every random choice (document order, template wording …). Default 0.
    #[serde(default)]
    pub seed: u64,
    /// Which `[policies.NAME]` drives the agents. Default: the only one declared.
    #[serde(default)]
    pub policy: Option<Spanned<String>>,
}

/// `[input]`: which repositories, and which of their files, to read.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputConfig {
    /// Repositories: directories, glob patterns (`corpus/*`), or a text file with
    /// one path per line (`#` comments allowed). Relative paths are relative to the
    /// config file. Default `["."]`.
    #[serde(default = "InputConfig::default_repos")]
    pub repos: Vec<String>,
    /// Files larger than this many bytes are skipped (`too_large`). Default 1,000,000.
    #[serde(default = "InputConfig::default_max_file_bytes")]
    pub max_file_bytes: u64,
    /// Directory names treated as vendored or third-party code, skipped whole
    /// (`vendored`). Default: node_modules, vendor, third_party, … (see README).
    #[serde(default = "InputConfig::default_vendored_dirs")]
    pub vendored_dirs: Vec<String>,
    /// Extra glob patterns (gitignore syntax, relative to each repository) to skip
    /// (`excluded`). Default none.
    #[serde(default)]
    pub exclude: Vec<String>,
    /// Honour `.gitignore`, `.ignore` and `.git/info/exclude`. Default true.
    #[serde(default = "default_true")]
    pub respect_gitignore: bool,
    /// Keep hidden files and directories (dotfiles such as `.github/`); `.git` is
    /// always skipped. Default true.
    #[serde(default = "default_true")]
    pub include_hidden: bool,
}

fn default_true() -> bool {
    true
}

impl InputConfig {
    fn default_repos() -> Vec<String> {
        vec![".".to_owned()]
    }

    fn default_max_file_bytes() -> u64 {
        1_000_000
    }

    /// The default vendored directory names.
    pub fn default_vendored_dirs() -> Vec<String> {
        [
            "node_modules",
            "bower_components",
            "jspm_packages",
            "vendor",
            "vendors",
            "third_party",
            "third-party",
            "thirdparty",
            "3rdparty",
            "external",
            "site-packages",
            ".venv",
            "venv",
            "Pods",
            "Carthage",
        ]
        .map(str::to_owned)
        .to_vec()
    }
}

impl Default for InputConfig {
    fn default() -> Self {
        InputConfig {
            repos: Self::default_repos(),
            max_file_bytes: Self::default_max_file_bytes(),
            vendored_dirs: Self::default_vendored_dirs(),
            exclude: Vec::new(),
            respect_gitignore: true,
            include_hidden: true,
        }
    }
}

/// `[output]`: where results go.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutputConfig {
    /// Output directory (created if missing). Relative to the config file. Default `out`.
    #[serde(default = "OutputConfig::default_dir")]
    pub dir: PathBuf,
}

impl OutputConfig {
    fn default_dir() -> PathBuf {
        PathBuf::from("out")
    }
}

impl Default for OutputConfig {
    fn default() -> Self {
        OutputConfig {
            dir: Self::default_dir(),
        }
    }
}

/// `[plugins]`: shared libraries to load before components are resolved.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PluginsSection {
    /// Paths of plugin libraries (`.so` / `.dylib` / `.dll`), relative to the config file.
    #[serde(default)]
    pub libraries: Vec<Spanned<String>>,
}
