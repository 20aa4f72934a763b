//! A content-addressed on-disk cache of model calls (BoLT-style): the key is a
//! SHA-256 of the request (model, messages and sampling parameters for a
//! policy; the scorer's fingerprint, context and target for a score); the value
//! is the answer. Re-runs and resumed runs repeat no call. Entries are written to a
//! temporary file and renamed, so a killed run leaves no half entry.

use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// The cache directory (`None` disables caching).
#[derive(Clone, Debug)]
pub struct CallCache {
    dir: Option<PathBuf>,
}

impl CallCache {
    /// A cache in `dir` (created on first write), or a disabled one.
    pub fn new(dir: Option<PathBuf>) -> Self {
        Self { dir }
    }

    /// Whether answers are stored at all.
    pub fn is_enabled(&self) -> bool {
        self.dir.is_some()
    }

    /// The key of a request: hex SHA-256 of its canonical JSON.
    pub fn key(request: &serde_json::Value) -> String {
        Self::digest(&serde_json::to_vec(request).unwrap_or_default())
    }

    /// Hex SHA-256 of bytes.
    pub fn digest(bytes: &[u8]) -> String {
        Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
    }

    fn path(dir: &Path, key: &str) -> PathBuf {
        dir.join(&key[..2]).join(format!("{key}.json"))
    }

    /// The cached answer for a key.
    pub fn get(&self, key: &str) -> Option<String> {
        let dir = self.dir.as_ref()?;
        let text = std::fs::read_to_string(Self::path(dir, key)).ok()?;
        let v: serde_json::Value = serde_json::from_str(&text).ok()?;
        v.get("answer")?.as_str().map(str::to_owned)
    }

    /// Stores an answer (errors are logged, never fatal: the cache is an optimisation).
    pub fn put(&self, key: &str, request: &serde_json::Value, answer: &str) {
        let Some(dir) = &self.dir else { return };
        let path = Self::path(dir, key);
        let write = || -> std::io::Result<()> {
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)?;
            }
            let tmp = path.with_extension(format!("tmp.{}", std::process::id()));
            let body = serde_json::json!({"request": request, "answer": answer});
            std::fs::write(&tmp, serde_json::to_vec(&body).unwrap_or_default())?;
            std::fs::rename(&tmp, &path)
        };
        if let Err(e) = write() {
            tracing::warn!("cannot write the call cache at {}: {e}", path.display());
        }
    }
}

impl CallCache {
    /// The default directory, `~/.cache/repo2agent/calls` (`None` without `HOME`).
    pub fn default_dir() -> Option<PathBuf> {
        std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/repo2agent/calls"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_survive_a_new_cache_on_the_same_directory() {
        let dir = tempfile::tempdir().unwrap();
        let request = serde_json::json!({"model": "m", "prompt": "p"});
        let key = CallCache::key(&request);
        assert_eq!(key.len(), 64);
        assert_ne!(key, CallCache::key(&serde_json::json!({"model": "m", "prompt": "q"})));
        let cache = CallCache::new(Some(dir.path().to_path_buf()));
        assert_eq!(cache.get(&key), None);
        cache.put(&key, &request, "answer");
        assert_eq!(
            CallCache::new(Some(dir.path().to_path_buf())).get(&key).as_deref(),
            Some("answer")
        );
        let off = CallCache::new(None);
        off.put(&key, &request, "x");
        assert_eq!(off.get(&key), None);
    }
}
