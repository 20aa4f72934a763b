//! What makes an interrupted ablation resumable: every finished step writes
//! its result with a key (a digest of what it was made from), and is reused
//! only while that key still holds.

use crate::heldout::HeldoutReport;
use repo2agent_core::config::RunConfig;
use repo2agent_core::run::units::RunHead;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// `OUT/models/NAME/done.json`: a finished training and what it was made from.
#[derive(Debug, Serialize, Deserialize)]
pub struct Trained {
    /// Digest of the corpus's manifest and the training recipe.
    pub key: String,
    /// Wall time of the training.
    pub train_seconds: f64,
    /// The last step's loss.
    pub final_loss: Option<f64>,
}

/// `OUT/eval/NAME.json`: an evaluation and what it was made from.
#[derive(Debug, Serialize, Deserialize)]
pub struct Evaluated {
    /// Digest of the model's key, the settings and the held-out set.
    pub key: String,
    /// The numbers.
    pub report: HeldoutReport,
}

/// Hex SHA-256 of the parts, each length-prefixed (so `["ab", "c"]` and
/// `["a", "bc"]` differ).
pub fn digest(parts: &[&[u8]]) -> String {
    let mut bytes = Vec::new();
    for p in parts {
        bytes.extend_from_slice(&(p.len() as u64).to_le_bytes());
        bytes.extend_from_slice(p);
    }
    repo2agent_core::cache::CallCache::digest(&bytes)
}

/// The JSON at `path`, or `None` when it is missing or not of the shape (a
/// step written by another version is done again).
pub fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Option<T> {
    serde_json::from_slice(&std::fs::read(path).ok()?).ok()
}

/// Whether an earlier corpus run in `dir` read the same inputs with the same config.
pub fn same_inputs(dir: &Path, cfg: &RunConfig) -> bool {
    let Ok(head) = RunHead::read(dir) else {
        return false;
    };
    head.fingerprint == cfg.fingerprint && head.inputs == cfg.input.repos
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_are_length_prefixed_and_stable() {
        assert_ne!(digest(&[b"ab", b"c"]), digest(&[b"a", b"bc"]));
        assert_eq!(digest(&[b"x"]), digest(&[b"x"]));
        assert_eq!(digest(&[b"x"]).len(), 64);
    }

    #[test]
    fn a_result_of_another_shape_is_not_reused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("done.json");
        assert!(read_json::<Trained>(&path).is_none(), "missing");
        std::fs::write(&path, br#"{"key": "k"}"#).unwrap();
        assert!(read_json::<Trained>(&path).is_none(), "fields missing");
        std::fs::write(&path, br#"{"key": "k", "train_seconds": 1.5, "final_loss": null}"#).unwrap();
        let t = read_json::<Trained>(&path).unwrap();
        assert_eq!((t.key.as_str(), t.train_seconds, t.final_loss), ("k", 1.5, None));
    }
}
