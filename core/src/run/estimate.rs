//! `run --estimate`: what a run's model calls would cost, before any is made.
//!
//! Each repository is ingested, analyzed and ordered as the run would, then
//! simulated with the policy's [dry run](crate::stage::Policy::dry_run): the
//! real prompts are built and counted, none is sent, and the offline answer
//! stands in for the model's. When the search rewrites thoughts, each
//! thought it would search is asked for rewrites as often as the strategy's
//! [`RewriteBound`] allows (its rounds, capped by its `max_policy_calls`). No
//! output is written.

use crate::analyze::analyze;
use crate::config::RunConfig;
use crate::ingest;
use crate::model::{Plan, StepKind, Trajectory};
use crate::simulate::{repo_seed, simulate};
use crate::stage::{Policy, RepoContext, RewriteBound, ThinkPhase, ThinkRequest};
use crate::stats::RunStats;
use std::collections::BTreeMap;

/// Model calls and their tokens.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct CallCost {
    /// Requests (first attempts; retries come on top).
    pub calls: u64,
    /// Prompt tokens of those requests.
    pub prompt_tokens: u64,
    /// The most tokens they may generate (each call's `max_tokens`).
    pub max_completion_tokens: u64,
}

impl CallCost {
    fn from_counters(c: &BTreeMap<String, u64>) -> Self {
        let g = |k: &str| c.get(k).copied().unwrap_or(0);
        Self {
            calls: g("calls"),
            prompt_tokens: g("prompt_tokens"),
            max_completion_tokens: g("completion_tokens"),
        }
    }

    fn add(&mut self, o: CallCost) {
        self.calls += o.calls;
        self.prompt_tokens += o.prompt_tokens;
        self.max_completion_tokens += o.max_completion_tokens;
    }
}

/// One repository's estimate.
#[derive(Clone, Debug, serde::Serialize)]
pub struct RepoEstimate {
    /// The repository.
    pub name: String,
    /// Files kept.
    pub files: u64,
    /// The policy's plan and thoughts.
    pub policy: CallCost,
    /// The search's rewrite requests.
    pub search: CallCost,
}

/// A run's estimate.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Estimate {
    /// The run's policy (`None`: no policy, so no model calls).
    pub policy: Option<String>,
    /// Whether that policy makes model calls at all.
    pub calls_models: bool,
    /// Whether prompt tokens were counted with the model's tokenizer (the
    /// policy reports `exact_token_counts = 1`); else approximated.
    pub exact_tokens: bool,
    /// Per repository, in the run's order.
    pub repos: Vec<RepoEstimate>,
    /// The sum of the policy's and the search's costs.
    pub total: CallCost,
}

/// Estimates the model calls of `config`'s run (no call is made, nothing is written).
pub fn estimate(config: &RunConfig) -> Result<Estimate, std::io::Error> {
    let policy = config.policy.as_ref().and_then(|name| config.policies.get(name));
    let mut stats = RunStats::default();
    let mut repos = ingest::expand(&config.input.repos, &mut stats.ingest);
    if let Some(part) = config.partition {
        repos.retain(|r| part.contains(&r.name));
    }
    let mut out = Estimate {
        policy: policy.map(|p| p.type_name.clone()),
        calls_models: policy.is_some_and(|p| p.component.dry_run().is_some()),
        exact_tokens: false,
        repos: Vec::new(),
        total: CallCost::default(),
    };
    let Some(policy) = policy.filter(|_| out.calls_models) else {
        return Ok(out);
    };
    let bound = config
        .search
        .as_ref()
        .and_then(|s| s.component.rewrite_bound())
        .filter(|_| config.formatter.is_some());
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let (ingestor, analyzers) = crate::run::pipeline::ingestor(config);
    // Repositories over `input.max_repo_bytes` are estimated piece by piece, as run takes them.
    let pieces = crate::run::pipeline::split_repos(
        repos,
        &ingestor,
        config.input.max_repo_bytes,
        crate::run::pipeline::workers(config),
    );
    for (_, repo) in &pieces {
        if repo.package.as_ref().is_some_and(|p| p.too_large) {
            continue;
        }
        let snapshot = ingestor.snapshot(repo, &mut stats.ingest);
        if snapshot.files.is_empty() {
            continue;
        }
        let analysis = analyze(&snapshot, &analyzers, config.run.seed, &mut stats.analysis);
        let ctx = RepoContext {
            snapshot: &snapshot,
            analysis: &analysis,
            order: &analysis.order,
        };
        let seed = repo_seed(config.run.seed, &snapshot.name);
        // Fresh counters per repository: one dry copy for its plan and
        // thoughts, another for the search's rewrites.
        let Some(sim) = policy.component.dry_run() else { break };
        let trajectory = runtime.block_on(simulate(
            ctx,
            sim.as_ref(),
            &policy.type_name,
            seed,
            &config.simulation,
            &mut stats.simulation,
        ));
        let counters = sim.counters();
        out.exact_tokens = counters.get("exact_token_counts") == Some(&1);
        let mut one = RepoEstimate {
            name: snapshot.name.clone(),
            files: snapshot.files.len() as u64,
            policy: CallCost::from_counters(&counters),
            search: CallCost::default(),
        };
        if let (Ok(trajectory), Some(bound), Some(rewriter)) = (&trajectory, bound, policy.component.dry_run()) {
            runtime.block_on(rewrites(ctx, rewriter.as_ref(), trajectory, bound, seed));
            one.search = CallCost::from_counters(&rewriter.counters());
        }
        out.total.add(one.policy);
        out.total.add(one.search);
        out.repos.push(one);
    }
    Ok(out)
}

/// Asks `policy` for the rewrites a search bounded by `bound` would ask for.
async fn rewrites(ctx: RepoContext<'_>, policy: &dyn Policy, trajectory: &Trajectory, bound: RewriteBound, seed: u64) {
    let plan: Option<&Plan> = trajectory.main.steps.iter().find_map(|s| match &s.kind {
        StepKind::Plan { plan } => Some(plan),
        _ => None,
    });
    let Some(plan) = plan else { return };
    let mut calls = 0u64;
    // Episodes are in plan order, one per plan step with a file.
    let episodes = trajectory.main.steps.iter().filter_map(|s| match &s.kind {
        StepKind::Delegate { episode } => Some(episode),
        _ => None,
    });
    for (step, episode) in plan.steps.iter().zip(episodes) {
        let thoughts: Vec<&str> = episode
            .steps
            .iter()
            .filter_map(|s| match &s.kind {
                StepKind::Think { text } => Some(text.as_str()),
                _ => None,
            })
            .collect();
        let phases = [ThinkPhase::BeforeReading, ThinkPhase::BeforeWriting];
        for (phase, thought) in phases.into_iter().zip(&thoughts) {
            if phase == ThinkPhase::BeforeReading && !bound.all_thoughts {
                continue;
            }
            for round in 0..bound.calls_per_thought {
                if bound.max_calls > 0 && calls >= bound.max_calls {
                    return;
                }
                calls += 1;
                let request = ThinkRequest {
                    repo: ctx,
                    step,
                    phase,
                    seed,
                    round,
                };
                let _ = policy.propose_rewrites(request, thought, bound.candidates).await;
            }
        }
    }
}
