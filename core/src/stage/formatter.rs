use crate::error::StageError;
use crate::model::{FileId, RepoSnapshot, Segment, Trajectory};
use serde::Serialize;

/// What a formatter renders: a repository, its implementation order and, for
/// agent formats, its trajectory.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct FormatInput<'a> {
    /// The repository's files.
    pub snapshot: &'a RepoSnapshot,
    /// Files in dependency order.
    pub order: &'a [FileId],
    /// The trajectory, when the run simulated one.
    pub trajectory: Option<&'a Trajectory>,
}

/// Flattens a repository or its trajectory into one sequence of (text, role)
/// segments: the serialization spec (docs/method.md step 6).
///
/// Contract: deterministic; concatenating the segments' text gives the document
/// exactly; adjacent segments may share a role. A formatter that
/// [`needs_trajectory`](Formatter::needs_trajectory) returns
/// `Err(StageError::Invalid)` when given none.
pub trait Formatter: Send + Sync {
    /// Whether this format renders a trajectory (agent formats) or only the files.
    fn needs_trajectory(&self) -> bool;

    /// Markers this format writes that the tokenizer must keep as single special
    /// tokens (the serialization spec's). Default none.
    fn special_tokens(&self) -> Vec<String> {
        Vec::new()
    }

    /// The segments of one document.
    fn format(&self, input: FormatInput<'_>) -> Result<Vec<Segment>, StageError>;
}
