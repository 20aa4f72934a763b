use repo2agent_core::StageError;
use repo2agent_core::model::{Role, Segment};
use repo2agent_core::stage::{FormatInput, Formatter};
use serde::Deserialize;

/// How files are separated.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RawStyle {
    /// StarCoder2 / Qwen2.5-Coder: `<repo_name>NAME` then `<file_sep>PATH\nCONTENT` per file.
    #[default]
    Starcoder,
    /// DeepSeek-Coder: each file starts with a comment holding its path
    /// (`# path` or `// path`, by language), files separated by a blank line.
    PathComment,
}

/// Config of the `raw-repos` formatter.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawReposConfig {
    /// `starcoder` (default) or `path-comment`.
    #[serde(default)]
    pub style: RawStyle,
}

/// The Raw-Repos baseline.
#[derive(Clone, Debug, Default)]
pub struct RawReposFormatter {
    config: RawReposConfig,
}

impl RawReposFormatter {
    /// A formatter with this configuration.
    pub fn new(config: RawReposConfig) -> Self {
        Self { config }
    }
}

fn comment_prefix(language: Option<&str>) -> &'static str {
    match language {
        Some("python" | "shell") => "# ",
        Some("rust" | "javascript" | "typescript" | "go" | "java" | "c" | "cpp") => "// ",
        _ => "# ",
    }
}

impl Formatter for RawReposFormatter {
    fn needs_trajectory(&self) -> bool {
        false
    }

    fn special_tokens(&self) -> Vec<String> {
        match self.config.style {
            RawStyle::Starcoder => vec!["<repo_name>".to_owned(), "<file_sep>".to_owned()],
            RawStyle::PathComment => Vec::new(),
        }
    }

    fn format_each(
        &self,
        input: FormatInput<'_>,
        emit: &mut dyn FnMut(Segment) -> Result<(), StageError>,
    ) -> Result<(), StageError> {
        let snap = input.snapshot;
        if self.config.style == RawStyle::Starcoder {
            emit(Segment {
                text: format!("<repo_name>{}", snap.name),
                role: Role::Markup,
            })?;
        }
        for (i, id) in input.order.iter().enumerate() {
            let Some(f) = snap.file(*id) else { continue };
            let header = match self.config.style {
                RawStyle::Starcoder => format!("<file_sep>{}\n", f.path),
                RawStyle::PathComment => {
                    let sep = if i == 0 { "" } else { "\n" };
                    format!("{sep}{}{}\n", comment_prefix(f.language.as_deref()), f.path)
                }
            };
            emit(Segment {
                text: header,
                role: Role::Markup,
            })?;
            if !f.text.is_empty() {
                emit(Segment {
                    text: f.text.clone(),
                    role: Role::Code,
                })?;
            }
        }
        Ok(())
    }
}
