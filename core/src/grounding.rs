//! The grounding check: a trajectory holds only the repository's real bytes.
//!
//! Every Read names a real file and is followed by an Observation with exactly
//! its content; every Write names a real file with exactly its content; every
//! file is written once; the plan names only real files. The pipeline runs this
//! on everything it emits.

use crate::model::{RepoSnapshot, StepKind, ToolCall, Trajectory};
use std::collections::BTreeMap;

/// A trajectory that does not match its repository.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum GroundingError {
    /// A tool call names a file the repository does not have.
    #[error("{tool} of `{path}`, which is not a file of the repository")]
    UnknownFile {
        /// `read` or `write`.
        tool: &'static str,
        /// The path.
        path: String,
    },
    /// A Read's observation differs from the file.
    #[error("the observation after reading `{path}` is not its content")]
    ReadMismatch {
        /// The path.
        path: String,
    },
    /// A Write's body differs from the file.
    #[error("the content written to `{path}` is not the real file")]
    WriteMismatch {
        /// The path.
        path: String,
    },
    /// A file is written more than once or never.
    #[error("`{path}` is written {times} times (expected once)")]
    WriteCount {
        /// The path.
        path: String,
        /// How often.
        times: usize,
    },
    /// The plan names a file that does not exist.
    #[error("the plan names `{path}`, which is not a file of the repository")]
    InventedPlanFile {
        /// The path.
        path: String,
    },
}

/// Checks `trajectory` byte for byte against `snapshot`.
pub fn verify(trajectory: &Trajectory, snapshot: &RepoSnapshot) -> Result<(), GroundingError> {
    let steps = trajectory.main.walk();
    let mut writes: BTreeMap<&str, usize> = snapshot.files.iter().map(|f| (f.path.as_str(), 0)).collect();
    for (i, s) in steps.iter().enumerate() {
        match &s.kind {
            StepKind::Plan { plan } => {
                for p in &plan.steps {
                    if snapshot.by_path(&p.path).is_none() {
                        return Err(GroundingError::InventedPlanFile { path: p.path.clone() });
                    }
                }
            }
            StepKind::Action {
                call: ToolCall::Read { path },
            } => {
                let file = snapshot.by_path(path).ok_or_else(|| GroundingError::UnknownFile {
                    tool: "read",
                    path: path.clone(),
                })?;
                // The file's bytes, or the file itself once it has been written.
                let grounded = match steps.get(i + 1).map(|n| &n.kind) {
                    Some(StepKind::Observation { content, file: None }) => *content == file.text,
                    Some(StepKind::Observation { file: Some(named), .. }) => {
                        named == path && writes.get(path.as_str()).is_some_and(|n| *n > 0)
                    }
                    _ => false,
                };
                if !grounded {
                    return Err(GroundingError::ReadMismatch { path: path.clone() });
                }
            }
            StepKind::Action {
                call: ToolCall::Write { path, content },
            } => {
                let file = snapshot.by_path(path).ok_or_else(|| GroundingError::UnknownFile {
                    tool: "write",
                    path: path.clone(),
                })?;
                if *content != file.text {
                    return Err(GroundingError::WriteMismatch { path: path.clone() });
                }
                *writes.entry(file.path.as_str()).or_default() += 1;
            }
            _ => {}
        }
    }
    if let Some((path, times)) = writes.into_iter().find(|(_, n)| *n != 1) {
        return Err(GroundingError::WriteCount {
            path: path.to_owned(),
            times,
        });
    }
    Ok(())
}
