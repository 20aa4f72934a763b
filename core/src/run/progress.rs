//! What a run reports while it works: `pipeline::run_with_progress` sends
//! events; the binary draws a progress bar on a terminal and plain lines
//! otherwise. Reporting never changes what a run writes.

/// One thing the pipeline did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProgressEvent<'a> {
    /// The repositories to process are known.
    Started {
        /// How many.
        repos: u64,
    },
    /// A repository entered a stage (`ingest`, `analyze`, `simulate`,
    /// `search`, `format`, `tokenize`).
    Stage {
        /// The repository.
        repo: &'a str,
        /// The stage.
        stage: &'static str,
    },
    /// A repository went through every stage (written, or skipped and counted).
    RepoDone {
        /// The repository.
        repo: &'a str,
        /// Bytes of text kept.
        bytes: u64,
        /// Tokens written for it (0 when the run writes no shards or spools).
        tokens: u64,
    },
    /// Work after the last repository (`training the tokenizer`, `writing shards`).
    Finishing {
        /// What.
        what: &'static str,
    },
}

/// Receives progress events.
pub trait Progress: Send + Sync {
    /// `Stage` comes from the worker threads as they go; `Started`,
    /// `RepoDone` (in output order) and `Finishing` from the thread running
    /// the pipeline.
    fn event(&self, event: ProgressEvent<'_>);
}

/// Reports nothing.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn event(&self, _event: ProgressEvent<'_>) {}
}
