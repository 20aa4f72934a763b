use repo2agent_core::StageError;
use repo2agent_core::model::{Episode, Plan, Role, Segment, StepKind, ToolCall};
use repo2agent_core::stage::{FormatInput, Formatter};
use serde::Deserialize;

/// The special tokens of the serialization spec, in a fixed order (the
/// tokenizer adds them as special tokens).
pub const SPECIAL_TOKENS: [&str; 9] = [
    "<|repo|>",
    "<|agent|>",
    "<|task|>",
    "<|plan|>",
    "<|think|>",
    "<|call|>",
    "<|result|>",
    "<|end|>",
    "<|agent_end|>",
];

/// Config of the `agent` formatter.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentFormatterConfig {
    /// Leave the main agent's task (the repository's file tree) out. Default false.
    #[serde(default)]
    pub omit_task: bool,
}

/// Renders a trajectory per `docs/serialization.md`.
#[derive(Clone, Debug, Default)]
pub struct AgentFormatter {
    config: AgentFormatterConfig,
}

impl AgentFormatter {
    /// A formatter with this configuration.
    pub fn new(config: AgentFormatterConfig) -> Self {
        Self { config }
    }
}

/// Hands segments on as they are finished, merging neighbours of the same
/// role.
struct Out<'e> {
    open: Option<Segment>,
    emit: &'e mut dyn FnMut(Segment) -> Result<(), StageError>,
}

impl Out<'_> {
    fn push(&mut self, role: Role, text: &str) -> Result<(), StageError> {
        if text.is_empty() {
            return Ok(());
        }
        match &mut self.open {
            Some(open) if open.role == role => open.text.push_str(text),
            open => {
                let next = Segment {
                    text: text.to_owned(),
                    role,
                };
                if let Some(done) = open.replace(next) {
                    (self.emit)(done)?;
                }
            }
        }
        Ok(())
    }

    fn finish(mut self) -> Result<(), StageError> {
        match self.open.take() {
            Some(last) => (self.emit)(last),
            None => Ok(()),
        }
    }
}

/// The plan as text: requirements, then one numbered line per file.
pub fn plan_text(plan: &Plan) -> String {
    let mut s = plan.requirements.trim_end().to_owned();
    s.push_str("\n\nPlan:\n");
    for (i, step) in plan.steps.iter().enumerate() {
        if step.purpose.is_empty() {
            s.push_str(&format!("{}. {}\n", i + 1, step.path));
        } else {
            s.push_str(&format!("{}. {} — {}\n", i + 1, step.path, step.purpose));
        }
    }
    s
}

/// The contents of the files written in the trajectory, by path: what a
/// Read's observation shows.
type Written<'a> = std::collections::HashMap<&'a str, &'a str>;

fn episode(
    out: &mut Out<'_>,
    e: &Episode,
    is_main: bool,
    omit_task: bool,
    written: &Written<'_>,
) -> Result<(), StageError> {
    out.push(Role::Markup, "<|agent|>")?;
    out.push(Role::Markup, &e.agent.0)?;
    out.push(Role::Markup, "\n")?;
    if !(is_main && omit_task) {
        // The main agent's task is the injected structure; a sub-agent's is the
        // main agent's instruction (part of its plan).
        let role = if is_main { Role::Context } else { Role::Plan };
        out.push(role, "<|task|>")?;
        out.push(role, &e.task)?;
        out.push(role, "<|end|>\n")?;
    }
    for step in &e.steps {
        match &step.kind {
            StepKind::Plan { plan } => {
                out.push(Role::Plan, "<|plan|>")?;
                out.push(Role::Plan, &plan_text(plan))?;
                out.push(Role::Plan, "<|end|>\n")?;
            }
            StepKind::Think { text } => {
                out.push(Role::Think, "<|think|>")?;
                out.push(Role::Think, text)?;
                out.push(Role::Think, "<|end|>\n")?;
            }
            StepKind::Action {
                call: ToolCall::Read { path },
            } => {
                out.push(Role::Action, &format!("<|call|>read({path})<|end|>\n"))?;
            }
            StepKind::Action {
                call: ToolCall::Write { path, content },
            } => {
                out.push(Role::Action, &format!("<|call|>write({path})\n"))?;
                out.push(Role::Code, content)?;
                out.push(Role::Action, "<|end|>\n")?;
            }
            StepKind::Observation { file, .. } => {
                let content = step.kind.observed(written).ok_or_else(|| {
                    StageError::Invalid(format!(
                        "an observation of {} that the trajectory never wrote",
                        file.as_deref().unwrap_or("")
                    ))
                })?;
                out.push(Role::Observation, "<|result|>")?;
                out.push(Role::Observation, content)?;
                out.push(Role::Observation, "<|end|>\n")?;
            }
            StepKind::Delegate { episode: sub } => episode(out, sub, false, omit_task, written)?,
        }
    }
    out.push(Role::Markup, "<|agent_end|>\n")?;
    Ok(())
}

impl Formatter for AgentFormatter {
    fn needs_trajectory(&self) -> bool {
        true
    }

    fn special_tokens(&self) -> Vec<String> {
        SPECIAL_TOKENS.map(str::to_owned).to_vec()
    }

    fn format_each(
        &self,
        input: FormatInput<'_>,
        emit: &mut dyn FnMut(Segment) -> Result<(), StageError>,
    ) -> Result<(), StageError> {
        let t = input
            .trajectory
            .ok_or_else(|| StageError::Invalid("the agent format needs a trajectory (configure a policy)".into()))?;
        let mut out = Out { open: None, emit };
        out.push(Role::Markup, "<|repo|>")?;
        out.push(Role::Markup, &t.repo)?;
        out.push(Role::Markup, "\n")?;
        episode(&mut out, &t.main, true, self.config.omit_task, &t.written())?;
        out.finish()
    }
}
