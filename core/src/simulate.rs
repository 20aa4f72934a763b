//! The development process, simulated (PAPER.md steps 2–4): a main agent plans,
//! one sub-agent per planned file reads what it depends on and writes the file.
//!
//! The policy only supplies prose (requirements, purposes, thoughts) and a plan;
//! everything a tool returns or writes is the repository's real bytes. A plan is
//! constrained to the real files first: invented files are dropped, duplicates
//! dropped, missing files appended in dependency order, and a step reads only
//! real files written before it — each repair counted.

use crate::error::StageError;
use crate::model::{AgentId, Episode, FileId, Plan, PlanStep, Role, Step, StepKind, ToolCall, Trajectory};
use crate::stage::{Policy, RepoContext, ThinkPhase, ThinkRequest};
use crate::stats::SimulationStats;
use std::collections::BTreeSet;

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

/// Constrains a policy's plan to the repository's real files.
pub fn repair_plan(plan: Plan, repo: RepoContext<'_>, config: &SimulationConfig, stats: &mut SimulationStats) -> Plan {
    let snapshot = repo.snapshot;
    let mut seen: BTreeSet<FileId> = BTreeSet::new();
    let mut steps: Vec<PlanStep> = Vec::new();
    for mut step in plan.steps {
        // The path is what a model writes; the id must agree with it.
        let Some(file) = snapshot.by_path(&step.path).or_else(|| {
            snapshot
                .file(step.file)
                .filter(|f| step.path.is_empty() || f.path == step.path)
        }) else {
            stats.plan_invented += 1;
            continue;
        };
        if !seen.insert(file.id) {
            stats.plan_duplicated += 1;
            continue;
        }
        step.file = file.id;
        step.path = file.path.clone();
        steps.push(step);
    }
    for id in repo.order {
        if seen.insert(*id)
            && let Some(f) = snapshot.file(*id)
        {
            stats.plan_missing += 1;
            steps.push(PlanStep {
                file: f.id,
                path: f.path.clone(),
                purpose: String::new(),
                reads: Vec::new(),
            });
        }
    }
    // Reads: real files written earlier, the policy's choice or else the file's
    // dependencies, at most `max_reads`.
    let mut written: BTreeSet<FileId> = BTreeSet::new();
    for step in &mut steps {
        let wanted = if step.reads.is_empty() {
            repo.analysis.graph.dependencies(step.file)
        } else {
            step.reads.clone()
        };
        let mut reads = Vec::new();
        for r in wanted {
            if written.contains(&r) && !reads.contains(&r) && reads.len() < config.max_reads {
                reads.push(r);
            } else if !step.reads.is_empty() {
                stats.reads_repaired += 1;
            }
        }
        step.reads = reads;
        written.insert(step.file);
    }
    Plan {
        requirements: plan.requirements,
        steps,
    }
}

fn step(agent: &AgentId, role: Role, kind: StepKind) -> Step {
    Step {
        agent: agent.clone(),
        role,
        kind,
    }
}

/// The task the main agent is given: the repository's structure.
pub fn main_task(repo: RepoContext<'_>) -> String {
    format!(
        "Implement the repository `{}` ({} files). Its file tree:\n{}",
        repo.snapshot.name,
        repo.snapshot.files.len(),
        repo.analysis.tree.render()
    )
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
    let plan = repair_plan(raw, repo, config, stats);
    let main = AgentId::main();
    let mut main_steps = vec![step(&main, Role::Plan, StepKind::Plan { plan: plan.clone() })];
    for (i, plan_step) in plan.steps.iter().enumerate() {
        let Some(file) = snapshot.file(plan_step.file) else {
            continue;
        };
        let agent = AgentId::sub(i + 1);
        let step_seed = crate::order::seeded_hash(seed, &file.path);
        let ask = |phase| ThinkRequest {
            repo,
            step: plan_step,
            phase,
            seed: step_seed,
        };
        let mut steps = Vec::new();
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
            steps.push(step(
                &agent,
                Role::Observation,
                StepKind::Observation {
                    content: dep.text.clone(),
                },
            ));
            stats.reads += 1;
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
            StepKind::Observation {
                content: format!("Wrote {} ({lines} lines).", file.path),
            },
        ));
        stats.sub_agents += 1;
        let task = if plan_step.purpose.is_empty() {
            format!("Implement {}.", file.path)
        } else {
            format!("Implement {}: {}", file.path, plan_step.purpose)
        };
        main_steps.push(step(
            &main,
            Role::Markup,
            StepKind::Delegate {
                episode: Episode { agent, task, steps },
            },
        ));
    }
    stats.trajectories += 1;
    Ok(Trajectory {
        repo: snapshot.name.clone(),
        seed,
        policy: policy_name.to_owned(),
        main: Episode {
            agent: main,
            task: main_task(repo),
            steps: main_steps,
        },
        search: None,
    })
}
