//! The main agent's plan (docs/method.md step 2): the task it is given, and
//! the repair that constrains a policy's plan to the repository's real files.
//! Invented files are dropped, duplicates dropped, missing files appended in
//! dependency order, and a step reads only real files written before it; each
//! repair is counted.

use crate::model::{FileId, Plan, PlanStep};
use crate::stage::RepoContext;
use crate::stats::SimulationStats;
use std::collections::BTreeSet;

/// The task the main agent is given: the repository's structure.
pub fn main_task(repo: RepoContext<'_>) -> String {
    format!(
        "Implement the repository `{}` ({} files). Its file tree:\n{}",
        repo.snapshot.name,
        repo.snapshot.files.len(),
        repo.analysis.tree.render()
    )
}

/// Constrains a policy's plan to the repository's real files.
pub fn repair_plan(plan: Plan, repo: RepoContext<'_>, max_reads: usize, stats: &mut SimulationStats) -> Plan {
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
            if written.contains(&r) && !reads.contains(&r) && reads.len() < max_reads {
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
