//! What a formatter plugin receives (`format`'s input).

use crate::{FileId, RepoSnapshot, Trajectory};
use serde::{Deserialize, Serialize};

/// A repository to render: the JSON the host sends a formatter plugin (the
/// host's `FormatInput`, owned).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FormatDocument {
    /// The repository's files.
    pub snapshot: RepoSnapshot,
    /// Files in dependency order.
    pub order: Vec<FileId>,
    /// The trajectory, when the run simulated one (agent formats).
    pub trajectory: Option<Trajectory>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_document_round_trips_through_json() {
        let snapshot = RepoSnapshot::new(
            "r",
            "/r",
            vec![("a.rs".into(), Some("rust".into()), "fn a() {}\n".into())],
        );
        let doc = FormatDocument {
            snapshot,
            order: vec![FileId(0)],
            trajectory: None,
        };
        let json = serde_json::to_string(&doc).unwrap();
        assert_eq!(serde_json::from_str::<FormatDocument>(&json).unwrap(), doc);
    }
}
