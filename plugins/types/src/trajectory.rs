use crate::Role;
use crate::plan::Plan;
use serde::{Deserialize, Serialize};

/// Which agent took a step: `"main"` or `"sub-<n>"`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct AgentId(pub String);

impl AgentId {
    /// The main (planning) agent.
    pub fn main() -> Self {
        AgentId("main".into())
    }

    /// The `n`-th sub-agent.
    pub fn sub(n: usize) -> Self {
        AgentId(format!("sub-{n}"))
    }
}

/// A tool call in structured form.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "tool", rename_all = "snake_case")]
pub enum ToolCall {
    /// Look at an already-written file.
    Read {
        /// Repository-relative path.
        path: String,
    },
    /// Write a file; `content` is always the real file.
    Write {
        /// Repository-relative path.
        path: String,
        /// The file's exact bytes.
        content: String,
    },
}

/// What a step is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum StepKind {
    /// Reasoning.
    Think {
        /// The thought.
        text: String,
    },
    /// The main agent's plan.
    Plan {
        /// Requirements and ordered files.
        plan: Plan,
    },
    /// A tool call.
    Action {
        /// The call.
        call: ToolCall,
    },
    /// A tool result. A `Read`'s result is the real file: in `file` form
    /// it names the file, whose bytes are those of its `Write` earlier in
    /// the trajectory (so a file read by many sub-agents is stored once);
    /// [`Trajectory::written`] and [`StepKind::observed`] give them back.
    Observation {
        /// What the tool returned (empty in `file` form).
        #[serde(default, skip_serializing_if = "String::is_empty")]
        content: String,
        /// The file whose content this is, written earlier in the trajectory.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        file: Option<String>,
    },
    /// A sub-agent's whole episode, nested where the main agent delegated it.
    Delegate {
        /// The sub-agent's episode.
        episode: Episode,
    },
}

impl StepKind {
    /// An observation of a file written earlier in the trajectory.
    pub fn observe_file(path: impl Into<String>) -> Self {
        StepKind::Observation {
            content: String::new(),
            file: Some(path.into()),
        }
    }

    /// An observation that carries its own text.
    pub fn observe_text(content: impl Into<String>) -> Self {
        StepKind::Observation {
            content: content.into(),
            file: None,
        }
    }

    /// What an observation shows: its text, or the content of the file it
    /// names as `written` holds it ([`Trajectory::written`]). `None` for
    /// another step, or for a file never written.
    pub fn observed<'a>(&'a self, written: &std::collections::HashMap<&str, &'a str>) -> Option<&'a str> {
        match self {
            StepKind::Observation { file: Some(path), .. } => written.get(path.as_str()).copied(),
            StepKind::Observation { content, file: None } => Some(content),
            _ => None,
        }
    }
}

/// One step of an episode.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    /// Who took it.
    pub agent: AgentId,
    /// The role its text carries when flattened.
    pub role: Role,
    /// What it is.
    #[serde(flatten)]
    pub kind: StepKind,
}

/// A sequence of steps by one agent, possibly containing nested episodes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Episode {
    /// The agent.
    pub agent: AgentId,
    /// What it was asked to do.
    pub task: String,
    /// Its steps in order.
    pub steps: Vec<Step>,
}

impl Episode {
    /// Every step in order, descending into delegated episodes (depth first).
    pub fn walk(&self) -> Vec<&Step> {
        let mut out = Vec::new();
        fn go<'a>(e: &'a Episode, out: &mut Vec<&'a Step>) {
            for s in &e.steps {
                out.push(s);
                if let StepKind::Delegate { episode } = &s.kind {
                    go(episode, out);
                }
            }
        }
        go(self, &mut out);
        out
    }
}

/// One candidate thought considered by a search, with its score.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Candidate {
    /// The thought.
    pub text: String,
    /// Target NLL (nats, summed over target tokens) after this thought.
    pub nll: f64,
    /// Search round it was proposed in.
    pub round: u32,
    /// NLL of the thought itself after the prefix (nats, summed), when the
    /// strategy scores it (`importance`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub think_nll: Option<f64>,
    /// Log importance weight, when the strategy resamples (`importance`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_weight: Option<f64>,
}

/// What a search did to one Think step.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ThinkSearch {
    /// Sub-agent that owns the step.
    pub agent: AgentId,
    /// Index of the step in that agent's episode.
    pub step: usize,
    /// NLL with the initial thought.
    pub initial_nll: f64,
    /// Tokens of the target (the real code scored), so gains can be per token.
    #[serde(default)]
    pub target_tokens: u64,
    /// The initial thought's own NLL and log weight (`importance`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initial_think_nll: Option<f64>,
    /// The initial thought's log importance weight (`importance`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initial_log_weight: Option<f64>,
    /// Every candidate scored.
    pub candidates: Vec<Candidate>,
    /// Index into `candidates` of the thought kept, `None` if the initial one stayed.
    pub accepted: Option<usize>,
}

/// What a search cost for one repository.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SearchUsage {
    /// Scorer requests answered by the model (cache misses).
    pub scorer_calls: u64,
    /// Scorer requests answered from the cache.
    pub scorer_cache_hits: u64,
    /// Tokens scored (context + target), cached answers included: the budget's unit.
    pub scorer_tokens: u64,
    /// Tokens the scorer's model computed for the requests it answered: their
    /// context and target tokens less the prefixes it reused
    /// ([`crate::TargetScore::reused_tokens`]).
    #[serde(default)]
    pub scorer_tokens_computed: u64,
    /// `propose_rewrites` calls to the policy.
    pub policy_calls: u64,
    /// Think steps eligible for search.
    pub thinks_eligible: u64,
    /// Whether a budget stopped the search before every eligible thought was tried.
    pub budget_exhausted: bool,
}

/// The record a search leaves in a trajectory.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SearchRecord {
    /// Strategy type name.
    pub strategy: String,
    /// One entry per Think step considered.
    pub thinks: Vec<ThinkSearch>,
    /// Calls, tokens and budget.
    #[serde(default)]
    pub usage: SearchUsage,
}

/// A reconstructed development process for one repository: one JSON object per
/// line of `trajectories.jsonl`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Trajectory {
    /// Repository name.
    pub repo: String,
    /// Seed the trajectory was generated with.
    pub seed: u64,
    /// Policy type that wrote it.
    pub policy: String,
    /// The main agent's episode, with sub-agent episodes nested as `delegate` steps.
    pub main: Episode,
    /// What search did, if it ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub search: Option<SearchRecord>,
    /// What the thoughts are worth, file by file, when `[evaluate]` is configured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evaluation: Option<crate::evaluation::EvaluationRecord>,
}

impl Trajectory {
    /// Every file a `Write` step wrote, by path: what observations in `file`
    /// form show ([`StepKind::observed`]).
    pub fn written(&self) -> std::collections::HashMap<&str, &str> {
        self.main
            .walk()
            .into_iter()
            .filter_map(|s| match &s.kind {
                StepKind::Action {
                    call: ToolCall::Write { path, content },
                } => Some((path.as_str(), content.as_str())),
                _ => None,
            })
            .collect()
    }

    /// Writes the content into every observation in `file` form, so each
    /// carries its own text (for code that edits the writes in place).
    /// Returns the paths named but never written.
    pub fn expand_observations(&mut self) -> Vec<String> {
        let written: std::collections::HashMap<String, String> = self
            .written()
            .into_iter()
            .map(|(p, c)| (p.to_owned(), c.to_owned()))
            .collect();
        let mut missing = Vec::new();
        fn go(e: &mut Episode, written: &std::collections::HashMap<String, String>, missing: &mut Vec<String>) {
            for s in &mut e.steps {
                match &mut s.kind {
                    StepKind::Observation { content, file } => {
                        if let Some(path) = file.take() {
                            match written.get(&path) {
                                Some(text) => *content = text.clone(),
                                None => {
                                    missing.push(path.clone());
                                    *file = Some(path);
                                }
                            }
                        }
                    }
                    StepKind::Delegate { episode } => go(episode, written, missing),
                    _ => {}
                }
            }
        }
        go(&mut self.main, &written, &mut missing);
        missing
    }

    /// One line of JSONL (no trailing newline).
    pub fn to_json_line(&self) -> Result<String, serde_json::Error> {
        serde_json::to_string(self)
    }

    /// Parses one line of JSONL.
    pub fn from_json_line(line: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(line)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{FileId, PlanStep};

    fn step(agent: &AgentId, role: Role, kind: StepKind) -> Step {
        Step {
            agent: agent.clone(),
            role,
            kind,
        }
    }

    #[test]
    fn nested_trajectory_is_one_json_line_and_round_trips() {
        let main = AgentId::main();
        let sub = AgentId::sub(0);
        let episode = Episode {
            agent: sub.clone(),
            task: "implement b.py".into(),
            steps: vec![
                step(
                    &sub,
                    Role::Think,
                    StepKind::Think {
                        text: "b needs a".into(),
                    },
                ),
                step(
                    &sub,
                    Role::Action,
                    StepKind::Action {
                        call: ToolCall::Read { path: "a.py".into() },
                    },
                ),
                step(&sub, Role::Observation, StepKind::observe_text("x = 1\n")),
                step(
                    &sub,
                    Role::Code,
                    StepKind::Action {
                        call: ToolCall::Write {
                            path: "b.py".into(),
                            content: "import a\n".into(),
                        },
                    },
                ),
                step(
                    &sub,
                    Role::Action,
                    StepKind::Action {
                        call: ToolCall::Read { path: "b.py".into() },
                    },
                ),
                step(&sub, Role::Observation, StepKind::observe_file("b.py")),
            ],
        };
        let plan = Plan {
            requirements: "r".into(),
            steps: vec![PlanStep {
                file: FileId(1),
                path: "b.py".into(),
                purpose: "p".into(),
                reads: vec![FileId(0)],
            }],
        };
        let t = Trajectory {
            repo: "demo".into(),
            seed: 7,
            policy: "template".into(),
            main: Episode {
                agent: main.clone(),
                task: "build demo".into(),
                steps: vec![
                    step(&main, Role::Plan, StepKind::Plan { plan }),
                    step(&main, Role::Markup, StepKind::Delegate { episode }),
                ],
            },
            search: None,
            evaluation: None,
        };
        let line = t.to_json_line().unwrap();
        assert!(!line.contains('\n'));
        assert!(line.contains(r#""kind":"delegate""#));
        assert!(line.contains(r#""tool":"write""#));
        assert_eq!(Trajectory::from_json_line(&line).unwrap(), t);
        assert!(line.contains(r#""kind":"observation","file":"b.py"}"#), "{line}");
        let written = t.written();
        let shown: Vec<Option<&str>> = t.main.walk().iter().map(|s| s.kind.observed(&written)).collect();
        assert_eq!(
            shown.into_iter().flatten().collect::<Vec<_>>(),
            ["x = 1\n", "import a\n"],
            "a file observation shows the file's write"
        );
        let mut expanded = t.clone();
        assert!(expanded.expand_observations().is_empty());
        assert!(
            expanded
                .to_json_line()
                .unwrap()
                .contains(r#""kind":"observation","content":"import a\n"}"#)
        );
        let mut dangling = t.clone();
        if let StepKind::Delegate { episode } = &mut dangling.main.steps[1].kind {
            episode.steps[5].kind = StepKind::observe_file("nowhere.py");
        }
        assert_eq!(dangling.expand_observations(), ["nowhere.py"]);
        let kinds: Vec<Role> = t.main.walk().iter().map(|s| s.role).collect();
        assert_eq!(
            kinds,
            [
                Role::Plan,
                Role::Markup,
                Role::Think,
                Role::Action,
                Role::Observation,
                Role::Code,
                Role::Action,
                Role::Observation
            ]
        );
    }
}
