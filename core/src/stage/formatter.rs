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

    /// The segments of one document, handed to `emit` one at a time, in
    /// order, so that the document is never held whole (the run tokenizes and
    /// stores each as it comes). An error from `emit` stops the formatting and
    /// is returned.
    fn format_each(
        &self,
        input: FormatInput<'_>,
        emit: &mut dyn FnMut(Segment) -> Result<(), StageError>,
    ) -> Result<(), StageError>;

    /// The segments of one document, collected from [`Formatter::format_each`].
    fn format(&self, input: FormatInput<'_>) -> Result<Vec<Segment>, StageError> {
        let mut segments = Vec::new();
        self.format_each(input, &mut |s| {
            segments.push(s);
            Ok(())
        })?;
        Ok(segments)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{AgentId, Episode};
    use repo2agent_plugin_types::FormatDocument;

    #[test]
    fn a_plugin_reads_the_hosts_format_input_as_a_format_document() {
        let snapshot = RepoSnapshot::new(
            "r",
            "/r",
            vec![("a.py".into(), Some("python".into()), "x = 1\n".into())],
        );
        let trajectory = Trajectory {
            repo: "r".into(),
            seed: 7,
            policy: "template".into(),
            main: Episode {
                agent: AgentId::main(),
                task: "Implement r.".into(),
                steps: Vec::new(),
            },
            search: None,
            evaluation: None,
        };
        let order = [FileId(0)];
        let input = FormatInput {
            snapshot: &snapshot,
            order: &order,
            trajectory: Some(&trajectory),
        };
        let doc: FormatDocument = serde_json::from_str(&serde_json::to_string(&input).unwrap()).unwrap();
        assert_eq!(doc.snapshot, snapshot);
        assert_eq!(doc.order, order);
        assert_eq!(doc.trajectory.as_ref(), Some(&trajectory));
    }
}
