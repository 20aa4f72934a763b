//! One repository through every per-repository stage: ingest → analyze →
//! simulate → search → ground → format. The result is a [`Unit`]; nothing
//! here writes outputs, so workers can run side by side in any order.

use crate::analyze::analyze;
use crate::config::{Named, RunConfig};
use crate::grounding::verify;
use crate::ingest::{Ingestor, RepoInput};
use crate::progress::{Progress, ProgressEvent};
use crate::simulate::{repo_seed, simulate};
use crate::stage::{Analyzer, FormatInput, Policy, RepoContext, SearchContext};
use crate::stats::{RunStats, SearchStats};
use crate::units::{Outcome, Status, Unit, UnitHeader};
use std::sync::Arc;
use std::time::Instant;

/// What every worker shares.
pub(crate) struct Shared<'a> {
    pub(crate) config: &'a RunConfig,
    pub(crate) ingestor: Ingestor,
    pub(crate) analyzers: Vec<Arc<dyn Analyzer>>,
    pub(crate) policy: Option<&'a Named<dyn Policy>>,
    /// Model calls run on this (multi-thread) runtime; CPU work stays on the worker's thread.
    pub(crate) runtime: tokio::runtime::Handle,
    pub(crate) progress: &'a dyn Progress,
}

/// Per-stage seconds, in `stats.json`'s names.
#[derive(Default)]
struct Seconds {
    ingest: f64,
    analyze: f64,
    simulate: f64,
    search: f64,
    evaluate: f64,
    format: f64,
}

/// Processes one repository. A panic inside a component fails the
/// repository (reason `panic`) instead of the run.
pub(crate) fn process(shared: &Shared<'_>, position: u64, repo: &RepoInput) -> Unit {
    let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| process_inner(shared, position, repo)));
    run.unwrap_or_else(|panic| {
        let what = panic
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| panic.downcast_ref::<&str>().copied())
            .unwrap_or("");
        tracing::error!("{}: a component panicked: {what}", repo.name);
        Unit {
            header: failed(header(shared, position, repo, RunStats::default()), "panic".into()),
            trajectory: None,
            segments: None,
        }
    })
}

/// `h` marked failed with `reason` (`run --resume` tries the repository again).
fn failed(mut h: UnitHeader, reason: String) -> UnitHeader {
    h.outcome.status = Status::Failed;
    h.outcome.reason = Some(reason);
    h
}

/// The header of a repository's unit (done, until said otherwise).
fn header(shared: &Shared<'_>, position: u64, repo: &RepoInput, stats: RunStats) -> UnitHeader {
    UnitHeader {
        format: "repo2agent-unit".into(),
        version: 1,
        fingerprint: shared.config.fingerprint.clone(),
        outcome: Outcome {
            position,
            part: repo.package.as_ref().map(|p| p.part),
            name: repo.name.clone(),
            root: repo.root.clone(),
            status: Status::Done,
            reason: None,
            bytes: 0,
        },
        stats,
    }
}

fn process_inner(shared: &Shared<'_>, position: u64, repo: &RepoInput) -> Unit {
    let config = shared.config;
    let stage = |stage| {
        shared.progress.event(ProgressEvent::Stage {
            repo: &repo.name,
            stage,
        })
    };
    let mut stats = RunStats::default();
    let mut seconds = Seconds::default();
    let mut failure: Option<String> = None;

    stage("ingest");
    let t = Instant::now();
    if let Some(p) = &repo.package {
        // A piece of a split repository: the first carries the split's counts.
        stats.ingest.packages = 1;
        if p.part == 0 {
            stats.ingest.repos_split = 1;
            crate::stats::add_counts(&mut stats.ingest.skipped, &p.walk_skips);
        }
        if p.too_large {
            tracing::warn!(
                "{}: {} bytes, over input.max_repo_bytes and not splittable further: skipped",
                repo.name,
                p.bytes
            );
            let mut header = header(shared, position, repo, stats);
            header.outcome.status = Status::Skipped;
            header.outcome.reason = Some(crate::ingest::reason::REPO_TOO_LARGE.into());
            header.outcome.bytes = p.bytes;
            return Unit {
                header,
                trajectory: None,
                segments: None,
            };
        }
    }
    let snapshot = shared.ingestor.snapshot(repo, &mut stats.ingest);
    seconds.ingest += t.elapsed().as_secs_f64();
    if snapshot.files.is_empty() {
        tracing::info!("{}: no files kept, skipped", repo.name);
        stats.seconds.insert("ingest".into(), seconds.ingest);
        let mut header = header(shared, position, repo, stats);
        header.outcome.status = Status::Empty;
        return Unit {
            header,
            trajectory: None,
            segments: None,
        };
    }
    stage("analyze");
    let t = Instant::now();
    let analysis = analyze(&snapshot, &shared.analyzers, config.run.seed, &mut stats.analysis);
    seconds.analyze += t.elapsed().as_secs_f64();
    let ctx = RepoContext {
        snapshot: &snapshot,
        analysis: &analysis,
        order: &analysis.order,
    };

    let mut t = Instant::now();
    let trajectory = match shared.policy {
        Some(p) => {
            stage("simulate");
            let seed = repo_seed(config.run.seed, &snapshot.name);
            let simulated = shared.runtime.block_on(simulate(
                ctx,
                p.component.as_ref(),
                &p.type_name,
                seed,
                &config.simulation,
                &mut stats.simulation,
            ));
            // The policy's own thoughts, kept for the thought value after search.
            let initial = match (&simulated, &config.evaluate, &config.search) {
                (Ok(t), Some(_), Some(_)) => Some(t.clone()),
                _ => None,
            };
            let searched = match (simulated, &config.search, &config.formatter) {
                (Ok(mut trajectory), Some(search), Some(formatter)) => {
                    let context = SearchContext {
                        repo: ctx,
                        policy: p.component.as_ref(),
                        formatter: formatter.component.as_ref(),
                        seed,
                    };
                    stage("search");
                    // Search time is its own entry, not the simulation's.
                    seconds.simulate += t.elapsed().as_secs_f64();
                    let started = Instant::now();
                    let result = shared
                        .runtime
                        .block_on(search.component.search(&mut trajectory, context));
                    seconds.search += started.elapsed().as_secs_f64();
                    t = Instant::now();
                    let fresh = || SearchStats {
                        strategy: search.type_name.clone(),
                        ..Default::default()
                    };
                    match result {
                        Ok(record) => {
                            if let Some(r) = &record {
                                stats.search.get_or_insert_with(fresh).add(r);
                            }
                            trajectory.search = record;
                            Ok(trajectory)
                        }
                        Err(e) => {
                            tracing::warn!("{}: search failed, trajectory not written: {e}", repo.name);
                            *stats
                                .search
                                .get_or_insert_with(fresh)
                                .failed
                                .entry(e.reason().into())
                                .or_default() += 1;
                            failure = Some(format!("search: {}", e.reason()));
                            Err(None)
                        }
                    }
                }
                (other, _, _) => other.map_err(Some),
            };
            let searched = match (searched, &config.evaluate, &config.formatter) {
                (Ok(mut trajectory), Some(evaluation), Some(formatter)) => {
                    stage("evaluate");
                    seconds.simulate += t.elapsed().as_secs_f64();
                    let started = Instant::now();
                    let (before, after) = match &initial {
                        Some(i) => (i, Some(&trajectory)),
                        None => (&trajectory, None),
                    };
                    let result =
                        shared
                            .runtime
                            .block_on(evaluation.evaluate(before, after, ctx, formatter.component.as_ref()));
                    seconds.evaluate += started.elapsed().as_secs_f64();
                    t = Instant::now();
                    let stats = stats.evaluation.get_or_insert_with(Default::default);
                    match result {
                        Ok(record) => {
                            stats.add(&record, &p.type_name);
                            trajectory.evaluation = Some(record);
                        }
                        Err(e) => {
                            // The figure is lost, the trajectory is not.
                            tracing::warn!("{}: evaluation failed: {e}", repo.name);
                            stats.scorer.clone_from(&evaluation.scorer_name);
                            *stats.failed.entry(e.reason().into()).or_default() += 1;
                        }
                    }
                    Ok(trajectory)
                }
                (other, _, _) => other,
            };
            match searched {
                Ok(t) => match verify(&t, &snapshot) {
                    Ok(()) => Some(t),
                    Err(e) => {
                        tracing::error!("{}: grounding check failed, trajectory not written: {e}", repo.name);
                        *stats
                            .simulation
                            .grounding_failures
                            .entry(grounding_reason(&e).into())
                            .or_default() += 1;
                        None
                    }
                },
                Err(Some(e)) => {
                    tracing::warn!("{}: simulation failed: {e}", repo.name);
                    *stats.simulation.failed.entry(e.reason().into()).or_default() += 1;
                    failure = Some(format!("simulation: {}", e.reason()));
                    None
                }
                Err(None) => None,
            }
        }
        None => None,
    };
    let line = match &trajectory {
        Some(t) => match t.to_json_line() {
            Ok(line) => Some(line),
            Err(e) => {
                tracing::error!("{}: trajectory not serializable: {e}", repo.name);
                failure = Some("trajectory_json".into());
                None
            }
        },
        None => None,
    };
    seconds.simulate += t.elapsed().as_secs_f64();

    let mut segments = None;
    if let Some(f) = &config.formatter
        && (!f.component.needs_trajectory() || trajectory.is_some())
    {
        let input = FormatInput {
            snapshot: &snapshot,
            order: &analysis.order,
            trajectory: trajectory.as_ref(),
        };
        stage("format");
        let t = Instant::now();
        match f.component.format(input) {
            Ok(s) => {
                stats.format.documents += 1;
                for s in &s {
                    *stats.format.chars_by_role.entry(s.role.name().into()).or_default() +=
                        s.text.chars().count() as u64;
                }
                segments = Some(s);
            }
            Err(e) => {
                tracing::warn!("{}: formatting failed: {e}", repo.name);
                *stats.format.failed.entry(e.reason().into()).or_default() += 1;
            }
        }
        seconds.format += t.elapsed().as_secs_f64();
    }
    tracing::info!(
        "{}: {} files, {} bytes, {} outlined, {} edges{}",
        repo.name,
        snapshot.files.len(),
        snapshot.total_bytes(),
        analysis.outlines.len(),
        analysis.graph.edge_count(),
        if line.is_some() { ", trajectory written" } else { "" }
    );
    let entries = [
        ("ingest", seconds.ingest),
        ("analyze", seconds.analyze),
        ("simulate", seconds.simulate),
        ("format", seconds.format),
    ];
    stats.seconds = entries.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect();
    if config.search.is_some() {
        stats.seconds.insert("search".into(), seconds.search);
    }
    if config.evaluate.is_some() {
        stats.seconds.insert("evaluate".into(), seconds.evaluate);
    }
    Unit {
        header: {
            let mut h = header(shared, position, repo, stats);
            h.outcome.bytes = snapshot.total_bytes();
            match failure {
                Some(reason) => failed(h, reason),
                None => h,
            }
        },
        trajectory: line,
        segments,
    }
}

fn grounding_reason(e: &crate::grounding::GroundingError) -> &'static str {
    use crate::grounding::GroundingError as G;
    match e {
        G::UnknownFile { .. } => "unknown_file",
        G::ReadMismatch { .. } => "read_mismatch",
        G::WriteMismatch { .. } => "write_mismatch",
        G::WriteCount { .. } => "write_count",
        G::InventedPlanFile { .. } => "invented_plan_file",
    }
}
