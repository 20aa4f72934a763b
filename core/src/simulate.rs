//! The development process, simulated (docs/method.md steps 2–4): a main agent plans,
//! one sub-agent per planned file reads what it depends on and writes the file.
//!
//! The policy only supplies prose (requirements, purposes, thoughts) and a plan;
//! everything a tool returns or writes is the repository's real bytes. The
//! plan is first constrained to the real files ([`crate::plan`]).

use crate::error::StageError;
use crate::model::{AgentId, Episode, PlanStep, Role, Step, StepKind, ToolCall, Trajectory};
use crate::plan::repair_plan;
use crate::stage::{Policy, RepoContext, ThinkPhase, ThinkRequest};
use crate::stats::SimulationStats;

/// Options of the simulation (`[simulation]`).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimulationConfig {
    /// At most this many Read actions per sub-agent (its most direct
    /// dependencies, in plan order). Default 8.
    #[serde(default = "SimulationConfig::default_max_reads")]
    pub max_reads: usize,
}

impl SimulationConfig {
    fn default_max_reads() -> usize {
        8
    }
}

impl Default for SimulationConfig {
    fn default() -> Self {
        Self {
            max_reads: Self::default_max_reads(),
        }
    }
}

/// The seed of one repository's trajectory: the run seed mixed with its name.
pub fn repo_seed(run_seed: u64, repo: &str) -> u64 {
    crate::order::seeded_hash(run_seed, repo)
}

fn step(agent: &AgentId, role: Role, kind: StepKind) -> Step {
    Step {
        agent: agent.clone(),
        role,
        kind,
    }
}

/// One sub-agent's episode for one plan step, and how many files it read
/// (`None` when the step names no file of the snapshot).
async fn sub_agent(
    repo: RepoContext<'_>,
    policy: &dyn Policy,
    plan_step: &PlanStep,
    index: usize,
    seed: u64,
) -> Result<Option<(Episode, u64)>, StageError> {
    let snapshot = repo.snapshot;
    let Some(file) = snapshot.file(plan_step.file) else {
        return Ok(None);
    };
    let agent = AgentId::sub(index);
    let step_seed = crate::order::seeded_hash(seed, &file.path);
    let ask = |phase| ThinkRequest {
        repo,
        step: plan_step,
        phase,
        seed: step_seed,
        round: 0,
    };
    let mut steps = Vec::new();
    let mut reads = 0;
    steps.push(step(
        &agent,
        Role::Think,
        StepKind::Think {
            text: policy.think(ask(ThinkPhase::BeforeReading)).await?,
        },
    ));
    for r in &plan_step.reads {
        let Some(dep) = snapshot.file(*r) else { continue };
        steps.push(step(
            &agent,
            Role::Action,
            StepKind::Action {
                call: ToolCall::Read { path: dep.path.clone() },
            },
        ));
        // The file was written earlier (the plan reads only such files):
        // the observation names it instead of copying its bytes.
        steps.push(step(
            &agent,
            Role::Observation,
            StepKind::observe_file(dep.path.clone()),
        ));
        reads += 1;
    }
    steps.push(step(
        &agent,
        Role::Think,
        StepKind::Think {
            text: policy.think(ask(ThinkPhase::BeforeWriting)).await?,
        },
    ));
    steps.push(step(
        &agent,
        Role::Code,
        StepKind::Action {
            call: ToolCall::Write {
                path: file.path.clone(),
                content: file.text.clone(),
            },
        },
    ));
    let lines = file.text.lines().count();
    steps.push(step(
        &agent,
        Role::Observation,
        StepKind::observe_text(format!("Wrote {} ({lines} lines).", file.path)),
    ));
    let task = if plan_step.purpose.is_empty() {
        format!("Implement {}.", file.path)
    } else {
        format!("Implement {}: {}", file.path, plan_step.purpose)
    };
    Ok(Some((Episode { agent, task, steps }, reads)))
}

/// Simulates one repository's development with `policy`.
pub async fn simulate(
    repo: RepoContext<'_>,
    policy: &dyn Policy,
    policy_name: &str,
    seed: u64,
    config: &SimulationConfig,
    stats: &mut SimulationStats,
) -> Result<Trajectory, StageError> {
    let snapshot = repo.snapshot;
    let raw = policy.plan(repo, seed).await?;
    let plan = repair_plan(raw, repo, config.max_reads, stats);
    let main = AgentId::main();
    let mut main_steps = vec![step(&main, Role::Plan, StepKind::Plan { plan: plan.clone() })];
    // Sub-agents run concurrently (a model-backed policy bounds its own
    // requests in flight); their episodes are kept in plan order.
    let episodes = futures_util::future::join_all(
        plan.steps
            .iter()
            .enumerate()
            .map(|(i, plan_step)| sub_agent(repo, policy, plan_step, i + 1, seed)),
    )
    .await;
    for episode in episodes {
        let Some((episode, reads)) = episode? else { continue };
        stats.reads += reads;
        stats.sub_agents += 1;
        main_steps.push(step(&main, Role::Markup, StepKind::Delegate { episode }));
    }
    stats.trajectories += 1;
    Ok(Trajectory {
        repo: snapshot.name.clone(),
        seed,
        policy: policy_name.to_owned(),
        main: Episode {
            agent: main,
            task: crate::plan::main_task(repo),
            steps: main_steps,
        },
        search: None,
        evaluation: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grounding::{GroundingError, verify};
    use crate::model::{Analysis, DependencyGraph, FileId, FileTree, ImportSite, Plan, RepoSnapshot};

    /// A policy that returns a fixed (possibly broken) plan and numbered thoughts.
    struct Fixed(Vec<(u32, &'static str)>);

    #[async_trait::async_trait]
    impl Policy for Fixed {
        async fn plan(&self, _repo: RepoContext<'_>, _seed: u64) -> Result<Plan, StageError> {
            let steps = self
                .0
                .iter()
                .map(|(id, path)| PlanStep {
                    file: FileId(*id),
                    path: (*path).to_owned(),
                    purpose: "p".into(),
                    reads: vec![FileId(2)],
                })
                .collect();
            Ok(Plan {
                requirements: "r".into(),
                steps,
            })
        }
        async fn think(&self, r: ThinkRequest<'_>) -> Result<String, StageError> {
            Ok(format!("{:?} {}", r.phase, r.step.path))
        }
        async fn propose_rewrites(&self, _: ThinkRequest<'_>, _: &str, _: usize) -> Result<Vec<String>, StageError> {
            Ok(Vec::new())
        }
    }

    fn repo() -> (RepoSnapshot, Analysis) {
        let snap = RepoSnapshot::new(
            "r",
            "/r",
            vec![
                ("a.py".into(), None, "import b\n".into()),
                ("b.py".into(), None, "import c\n".into()),
                ("c.py".into(), None, "X = 1\n".into()),
            ],
        );
        let mut graph = DependencyGraph::for_snapshot(&snap);
        graph.add_import(
            FileId(0),
            FileId(1),
            ImportSite {
                raw: "b".into(),
                line: 1,
            },
        );
        graph.add_import(
            FileId(1),
            FileId(2),
            ImportSite {
                raw: "c".into(),
                line: 1,
            },
        );
        let order = vec![FileId(2), FileId(1), FileId(0)];
        let analysis = Analysis {
            tree: FileTree::of(&snap),
            graph,
            outlines: Default::default(),
            order,
        };
        (snap, analysis)
    }

    fn run(policy: &Fixed) -> (Trajectory, SimulationStats, RepoSnapshot) {
        let (snap, analysis) = repo();
        let ctx = RepoContext {
            snapshot: &snap,
            analysis: &analysis,
            order: &analysis.order,
        };
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let mut stats = SimulationStats::default();
        let t = rt
            .block_on(simulate(
                ctx,
                policy,
                "fixed",
                1,
                &SimulationConfig::default(),
                &mut stats,
            ))
            .unwrap();
        (t, stats, snap)
    }

    #[test]
    fn invented_duplicated_and_missing_files_are_repaired_and_counted() {
        // c.py, an invented file, c.py again, b.py; a.py is missing.
        let (t, stats, snap) = run(&Fixed(vec![(2, "c.py"), (9, "ghost.py"), (2, "c.py"), (1, "b.py")]));
        assert_eq!(
            (stats.plan_invented, stats.plan_duplicated, stats.plan_missing),
            (1, 1, 1)
        );
        let crate::model::StepKind::Plan { plan } = &t.main.steps[0].kind else {
            panic!()
        };
        let paths: Vec<&str> = plan.steps.iter().map(|s| s.path.as_str()).collect();
        assert_eq!(paths, ["c.py", "b.py", "a.py"]);
        // c.py asked to read c.py (itself, not yet written): dropped; b.py reads c.py.
        assert_eq!(plan.steps[0].reads, Vec::<FileId>::new());
        assert_eq!(plan.steps[1].reads, vec![FileId(2)]);
        // The appended a.py gets its dependencies as reads.
        assert_eq!(plan.steps[2].reads, vec![FileId(1)]);
        assert_eq!(stats.reads_repaired, 1, "c.py's read of itself, not written yet");
        verify(&t, &snap).unwrap();
        assert_eq!(stats.sub_agents, 3);
    }

    #[test]
    fn sub_agents_think_read_think_write_observe_with_real_bytes() {
        let (t, _, snap) = run(&Fixed(vec![(2, "c.py"), (1, "b.py"), (0, "a.py")]));
        let crate::model::StepKind::Delegate { episode } = &t.main.steps[2].kind else {
            panic!()
        };
        let kinds: Vec<(Role, String)> = episode
            .steps
            .iter()
            .map(|s| {
                let what = match &s.kind {
                    StepKind::Think { text } => text.clone(),
                    StepKind::Action {
                        call: ToolCall::Read { path },
                    } => format!("read {path}"),
                    StepKind::Action {
                        call: ToolCall::Write { path, content },
                    } => format!("write {path} {content:?}"),
                    StepKind::Observation { content, file: None } => format!("obs {content:?}"),
                    StepKind::Observation { file: Some(path), .. } => format!("obs of {path}"),
                    other => format!("{other:?}"),
                };
                (s.role, what)
            })
            .collect();
        assert_eq!(
            kinds,
            [
                (Role::Think, "BeforeReading b.py".to_owned()),
                (Role::Action, "read c.py".to_owned()),
                (Role::Observation, "obs of c.py".to_owned()),
                (Role::Think, "BeforeWriting b.py".to_owned()),
                (Role::Code, "write b.py \"import c\\n\"".to_owned()),
                (Role::Observation, "obs \"Wrote b.py (1 lines).\"".to_owned()),
            ]
        );
        assert_eq!(episode.agent, AgentId::sub(2));
        verify(&t, &snap).unwrap();
    }

    #[test]
    fn the_grounding_check_catches_every_kind_of_tampering() {
        let (t, _, snap) = run(&Fixed(vec![(2, "c.py"), (1, "b.py"), (0, "a.py")]));
        let tamper = |f: &dyn Fn(&mut Trajectory)| {
            let mut t2 = t.clone();
            f(&mut t2);
            verify(&t2, &snap).unwrap_err()
        };
        fn sub(t: &mut Trajectory, i: usize) -> &mut Episode {
            match &mut t.main.steps[i].kind {
                StepKind::Delegate { episode } => episode,
                _ => panic!(),
            }
        }
        // A model's code kept instead of the real file.
        let e = tamper(&|t| {
            if let StepKind::Action {
                call: ToolCall::Write { content, .. },
            } = &mut sub(t, 1).steps[2].kind
            {
                content.push_str("# hallucinated\n");
            }
        });
        assert_eq!(e, GroundingError::WriteMismatch { path: "c.py".into() });
        // A Read observation that is not the file: other text, another file,
        // or a file not written yet.
        for other in [StepKind::observe_text("X = 2\n"), StepKind::observe_file("b.py")] {
            let e = tamper(&|t| sub(t, 2).steps[2].kind = other.clone());
            assert_eq!(e, GroundingError::ReadMismatch { path: "c.py".into() });
        }
        // The same bytes given as text pass.
        let mut t2 = t.clone();
        sub(&mut t2, 2).steps[2].kind = StepKind::observe_text("X = 1\n");
        verify(&t2, &snap).unwrap();
        let e = tamper(&|t| t.main.steps.swap(1, 2));
        assert_eq!(e, GroundingError::ReadMismatch { path: "c.py".into() });
        // A file written twice / never.
        let e = tamper(&|t| {
            let extra = t.main.steps[1].clone();
            t.main.steps.push(extra);
        });
        assert_eq!(
            e,
            GroundingError::WriteCount {
                path: "c.py".into(),
                times: 2
            }
        );
        let e = tamper(&|t| {
            t.main.steps.remove(3);
        });
        assert_eq!(
            e,
            GroundingError::WriteCount {
                path: "a.py".into(),
                times: 0
            }
        );
        // A read of a file the repository does not have.
        let e = tamper(&|t| {
            sub(t, 2).steps[1].kind = StepKind::Action {
                call: ToolCall::Read { path: "nope.py".into() },
            };
        });
        assert_eq!(
            e,
            GroundingError::UnknownFile {
                tool: "read",
                path: "nope.py".into()
            }
        );
    }
}
