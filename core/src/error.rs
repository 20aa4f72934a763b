//! The error a stage returns. Each stage is free to say why in its message; the
//! variants only separate what the runner treats differently.

/// Why a stage could not do its job on one input.
#[derive(Debug, thiserror::Error)]
pub enum StageError {
    /// The input cannot be handled (unparsable file, malformed response …): the
    /// item is skipped and counted under this reason.
    #[error("{0}")]
    Invalid(String),
    /// The stage itself failed (I/O, network, exhausted retries).
    #[error("{0}")]
    Failed(String),
    /// A model server gave no usable answer after its retries (`reason` is a
    /// short stable key such as `http_5xx`, `timeout` or `connection`).
    #[error("{message}")]
    Unavailable {
        /// Short stable reason key, returned as is by [`StageError::reason`].
        reason: &'static str,
        /// What went wrong.
        message: String,
    },
    /// A dynamic plugin returned an error.
    #[error("plugin {plugin}: {message}")]
    Plugin {
        /// Plugin name from its manifest.
        plugin: String,
        /// What it said.
        message: String,
    },
    /// A dynamic plugin panicked; the panic was caught inside the plugin.
    #[error("plugin {plugin} panicked: {message}")]
    PluginPanicked {
        /// Plugin name from its manifest.
        plugin: String,
        /// The panic message.
        message: String,
    },
}

impl StageError {
    /// A short, stable reason key for `stats.json` counters.
    pub fn reason(&self) -> &'static str {
        match self {
            StageError::Invalid(_) => "invalid_input",
            StageError::Failed(_) => "failed",
            StageError::Unavailable { reason, .. } => reason,
            StageError::Plugin { .. } => "plugin_error",
            StageError::PluginPanicked { .. } => "plugin_panic",
        }
    }
}
