//! `[input]`: the ingestion's own config section.

use serde::{Deserialize, Serialize};

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
    /// A repository whose files add up to more than this many bytes is split
    /// into its packages, each its own unit of work; a piece that cannot be
    /// split further is skipped (`repo_too_large`). `0`: no limit. Default
    /// 33,554,432 (32 MiB), which bounds a worker's memory (README, "Memory").
    #[serde(default = "InputConfig::default_max_repo_bytes")]
    pub max_repo_bytes: u64,
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

    fn default_max_repo_bytes() -> u64 {
        32 << 20
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
            max_repo_bytes: Self::default_max_repo_bytes(),
            vendored_dirs: Self::default_vendored_dirs(),
            exclude: Vec::new(),
            respect_gitignore: true,
            include_hidden: true,
        }
    }
}
