use crate::FileId;
use serde::{Deserialize, Serialize};

/// The main agent's output: requirements and a file-level implementation plan.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    /// What the project must do, in prose.
    pub requirements: String,
    /// Files to write, in implementation order (dependencies first).
    pub steps: Vec<PlanStep>,
}

/// One file of the plan.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanStep {
    /// The real file this step writes.
    pub file: FileId,
    /// Its path, repeated for readability of the JSONL.
    pub path: String,
    /// Why the file exists, in prose.
    pub purpose: String,
    /// Already-written files the sub-agent reads first (its dependencies).
    #[serde(default)]
    pub reads: Vec<FileId>,
}
