//! One repository through every per-repository stage: ingest → analyze →
//! simulate → search → ground → format. The result is a [`Unit`]; nothing
//! here writes outputs, so workers can run side by side in any order.

use crate::analyze::analyze;
use crate::config::{Named, RunConfig};
use crate::error::StageError;
use crate::grounding::verify;
use crate::ingest::{Ingestor, RepoInput};
use crate::model::{Analysis, FileId, RepoSnapshot, Trajectory};
use crate::output::OutputError;
use crate::run::progress::{Progress, ProgressEvent};
use crate::run::units::{Outcome, Status, Unit, UnitBody, UnitHeader};
use crate::shard::{Prepared, Preparer};
use crate::simulate::{repo_seed, simulate};
use crate::stage::{Analyzer, FormatInput, Policy, RepoContext, SearchContext, SearchStrategy};
use crate::stats::{RunStats, SearchStats};
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
    /// Where units are written (`OUT/units`).
    pub(crate) units: &'a std::path::Path,
    /// Tokenize → mask, when the tokenizer is ready before the run.
    pub(crate) preparer: Option<Arc<Preparer<'a>>>,
}

/// A repository's unit file, written as its document was formatted (all but
/// the header), and the document's tokens.
pub(crate) struct Stored {
    pub(crate) body: UnitBody,
    /// Tokenized (with the seconds that took) when the tokenizer was ready.
    pub(crate) prepared: Option<(Result<Prepared, StageError>, f64)>,
    /// Whether the unit holds a document.
    pub(crate) document: bool,
    /// Whether the unit holds a trajectory line.
    pub(crate) trajectory: bool,
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

/// Processes one repository: its unit, and its unit file's body when the
/// repository got as far as a document. A panic inside a component fails
/// the repository (reason `panic`) instead of the run.
pub(crate) fn process(
    shared: &Shared<'_>,
    position: u64,
    repo: &RepoInput,
) -> (Unit, Option<Result<Stored, OutputError>>) {
    let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| process_inner(shared, position, repo)));
    run.unwrap_or_else(|panic| {
        let what = panic
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| panic.downcast_ref::<&str>().copied())
            .unwrap_or("");
        tracing::error!("{}: a component panicked: {what}", repo.name);
        let unit = Unit {
            header: failed(header(shared, position, repo, RunStats::default()), "panic".into()),
            trajectory: None,
            segments: None,
        };
        (unit, None)
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

/// One repository on its way through the stages: each stage is a method that
/// adds to the unit's stats, its stage timings and, when it fails, the reason.
struct Job<'s, 'a> {
    shared: &'s Shared<'a>,
    position: u64,
    repo: &'s RepoInput,
    stats: RunStats,
    seconds: Seconds,
    failure: Option<String>,
}

fn process_inner(shared: &Shared<'_>, position: u64, repo: &RepoInput) -> (Unit, Option<Result<Stored, OutputError>>) {
    let mut job = Job {
        shared,
        position,
        repo,
        stats: RunStats::default(),
        seconds: Seconds::default(),
        failure: None,
    };
    if let Some(skipped) = job.package() {
        return (skipped, None);
    }
    let snapshot = job.ingest();
    if snapshot.files.is_empty() {
        return (job.empty(), None);
    }
    let mut analysis = job.analyze(&snapshot);
    let ctx = RepoContext {
        snapshot: &snapshot,
        analysis: &analysis,
        order: &analysis.order,
    };
    let trajectory = shared.policy.and_then(|policy| job.develop(ctx, policy));
    // Past the simulation only the order and two counts of the analysis are needed.
    let order = std::mem::take(&mut analysis.order);
    let analyzed = Analyzed {
        outlined: analysis.outlines.len(),
        edges: analysis.graph.edge_count(),
    };
    drop(analysis);
    let stored = job.document(&snapshot, &order, trajectory.as_ref());
    // Its unit file is all that is kept of it.
    drop(trajectory);
    let written = stored.as_ref().is_ok_and(|s| s.trajectory);
    (job.finish(&snapshot, analyzed, written), Some(stored))
}

/// What the log says of a repository's analysis.
struct Analyzed {
    outlined: usize,
    edges: usize,
}

impl Job<'_, '_> {
    fn stage(&self, stage: &'static str) {
        self.shared.progress.event(ProgressEvent::Stage {
            repo: &self.repo.name,
            stage,
        });
    }

    fn unit(&mut self, status: Status) -> Unit {
        let mut header = header(self.shared, self.position, self.repo, std::mem::take(&mut self.stats));
        header.outcome.status = status;
        Unit {
            header,
            trajectory: None,
            segments: None,
        }
    }

    /// A piece of a split repository: the first carries the split's counts;
    /// one still over `input.max_repo_bytes` is skipped here.
    fn package(&mut self) -> Option<Unit> {
        let p = self.repo.package.as_ref()?;
        self.stats.ingest.packages = 1;
        if p.part == 0 {
            self.stats.ingest.repos_split = 1;
            crate::stats::add_counts(&mut self.stats.ingest.skipped, &p.walk_skips);
        }
        if !p.too_large {
            return None;
        }
        tracing::warn!(
            "{}: {} bytes, over input.max_repo_bytes and not splittable further: skipped",
            self.repo.name,
            p.bytes
        );
        let bytes = p.bytes;
        let mut unit = self.unit(Status::Skipped);
        unit.header.outcome.reason = Some(crate::ingest::reason::REPO_TOO_LARGE.into());
        unit.header.outcome.bytes = bytes;
        Some(unit)
    }

    fn ingest(&mut self) -> RepoSnapshot {
        self.stage("ingest");
        let t = Instant::now();
        let snapshot = self.shared.ingestor.snapshot(self.repo, &mut self.stats.ingest);
        self.seconds.ingest += t.elapsed().as_secs_f64();
        snapshot
    }

    /// No file was kept: the repository is counted empty.
    fn empty(&mut self) -> Unit {
        tracing::info!("{}: no files kept, skipped", self.repo.name);
        self.stats.seconds.insert("ingest".into(), self.seconds.ingest);
        self.unit(Status::Empty)
    }

    fn analyze(&mut self, snapshot: &RepoSnapshot) -> Analysis {
        self.stage("analyze");
        let t = Instant::now();
        let analysis = analyze(
            snapshot,
            &self.shared.analyzers,
            self.shared.config.run.seed,
            &mut self.stats.analysis,
        );
        self.seconds.analyze += t.elapsed().as_secs_f64();
        analysis
    }

    /// Simulate, search, evaluate and ground: the trajectory to write, if any.
    fn develop(&mut self, ctx: RepoContext<'_>, policy: &Named<dyn Policy>) -> Option<Trajectory> {
        let config = self.shared.config;
        let seed = repo_seed(config.run.seed, &ctx.snapshot.name);
        let simulated = match self.simulate(ctx, policy, seed) {
            Ok(t) => t,
            Err(e) => {
                tracing::warn!("{}: simulation failed: {e}", self.repo.name);
                *self.stats.simulation.failed.entry(e.reason().into()).or_default() += 1;
                self.failure = Some(format!("simulation: {}", e.reason()));
                return None;
            }
        };
        let trajectory = match (&config.search, &config.formatter) {
            (Some(search), Some(formatter)) => {
                // The policy's own thoughts, kept for the thought value after search.
                let initial = config.evaluate.as_ref().map(|_| simulated.clone());
                let context = SearchContext {
                    repo: ctx,
                    policy: policy.component.as_ref(),
                    formatter: formatter.component.as_ref(),
                    seed,
                };
                let searched = self.search(search, simulated, context)?;
                self.evaluate(ctx, policy, initial.as_ref(), searched)
            }
            _ => self.evaluate(ctx, policy, None, simulated),
        };
        self.ground(trajectory, ctx.snapshot)
    }

    fn simulate(
        &mut self,
        ctx: RepoContext<'_>,
        policy: &Named<dyn Policy>,
        seed: u64,
    ) -> Result<Trajectory, StageError> {
        self.stage("simulate");
        let t = Instant::now();
        let simulated = self.shared.runtime.block_on(simulate(
            ctx,
            policy.component.as_ref(),
            &policy.type_name,
            seed,
            &self.shared.config.simulation,
            &mut self.stats.simulation,
        ));
        self.seconds.simulate += t.elapsed().as_secs_f64();
        simulated
    }

    /// The searched trajectory; `None` when the search failed (counted, and the
    /// repository fails).
    fn search(
        &mut self,
        search: &Named<dyn SearchStrategy>,
        mut trajectory: Trajectory,
        context: SearchContext<'_>,
    ) -> Option<Trajectory> {
        self.stage("search");
        let t = Instant::now();
        let result = self
            .shared
            .runtime
            .block_on(search.component.search(&mut trajectory, context));
        self.seconds.search += t.elapsed().as_secs_f64();
        let fresh = || SearchStats {
            strategy: search.type_name.clone(),
            ..Default::default()
        };
        match result {
            Ok(record) => {
                if let Some(r) = &record {
                    self.stats.search.get_or_insert_with(fresh).add(r);
                }
                trajectory.search = record;
                Some(trajectory)
            }
            Err(e) => {
                tracing::warn!("{}: search failed, trajectory not written: {e}", self.repo.name);
                let stats = self.stats.search.get_or_insert_with(fresh);
                *stats.failed.entry(e.reason().into()).or_default() += 1;
                self.failure = Some(format!("search: {}", e.reason()));
                None
            }
        }
    }

    /// The thought value (`[evaluate]`), of the policy's `initial` thoughts and
    /// of the searched ones when there was a search. A failed evaluation loses
    /// the figure, not the trajectory.
    fn evaluate(
        &mut self,
        ctx: RepoContext<'_>,
        policy: &Named<dyn Policy>,
        initial: Option<&Trajectory>,
        mut trajectory: Trajectory,
    ) -> Trajectory {
        let config = self.shared.config;
        let (Some(evaluation), Some(formatter)) = (&config.evaluate, &config.formatter) else {
            return trajectory;
        };
        self.stage("evaluate");
        let t = Instant::now();
        let (before, after) = match initial {
            Some(i) => (i, Some(&trajectory)),
            None => (&trajectory, None),
        };
        let result =
            self.shared
                .runtime
                .block_on(evaluation.evaluate(before, after, ctx, formatter.component.as_ref()));
        self.seconds.evaluate += t.elapsed().as_secs_f64();
        let stats = self.stats.evaluation.get_or_insert_with(Default::default);
        match result {
            Ok(record) => {
                stats.add(&record, &policy.type_name);
                trajectory.evaluation = Some(record);
            }
            Err(e) => {
                tracing::warn!("{}: evaluation failed: {e}", self.repo.name);
                stats.scorer.clone_from(&evaluation.scorer_name);
                *stats.failed.entry(e.reason().into()).or_default() += 1;
            }
        }
        trajectory
    }

    /// The grounding check: a trajectory that fails it is counted, not written.
    fn ground(&mut self, trajectory: Trajectory, snapshot: &RepoSnapshot) -> Option<Trajectory> {
        let t = Instant::now();
        let grounded = match verify(&trajectory, snapshot) {
            Ok(()) => Some(trajectory),
            Err(e) => {
                tracing::error!(
                    "{}: grounding check failed, trajectory not written: {e}",
                    self.repo.name
                );
                *self
                    .stats
                    .simulation
                    .grounding_failures
                    .entry(grounding_reason(&e).into())
                    .or_default() += 1;
                None
            }
        };
        self.seconds.simulate += t.elapsed().as_secs_f64();
        grounded
    }

    /// Starts the unit file with the trajectory's line, serialized into it
    /// (`trajectory_json` failure, and no line, if it cannot be).
    fn start_unit(
        &mut self,
        path: &std::path::Path,
        trajectory: Option<&Trajectory>,
    ) -> Result<(UnitBody, bool), OutputError> {
        let t = Instant::now();
        let started = match UnitBody::create(path, trajectory) {
            Err(e) if trajectory.is_some() && e.source.kind() == std::io::ErrorKind::InvalidData => {
                tracing::error!("{}: trajectory not serializable: {e}", self.repo.name);
                self.failure = Some("trajectory_json".into());
                (UnitBody::create(path, None)?, false)
            }
            started => (started?, trajectory.is_some()),
        };
        self.seconds.simulate += t.elapsed().as_secs_f64();
        Ok(started)
    }

    /// The unit file's body: the trajectory's line and, when a formatter is
    /// configured and has what it needs, the document, each segment written
    /// (and tokenized, when the tokenizer is ready) as the formatter hands
    /// it on, so the document is never held whole.
    fn document(
        &mut self,
        snapshot: &RepoSnapshot,
        order: &[FileId],
        trajectory: Option<&Trajectory>,
    ) -> Result<Stored, OutputError> {
        let shared = self.shared;
        let path = shared.units.join(Unit::file_name(
            self.position,
            self.repo.package.as_ref().map(|p| p.part),
        ));
        let (mut body, has_line) = self.start_unit(&path, trajectory)?;
        let none = |body| Stored {
            body,
            prepared: None,
            document: false,
            trajectory: has_line,
        };
        let Some(f) = shared.config.formatter.as_ref() else {
            return Ok(none(body));
        };
        if f.component.needs_trajectory() && trajectory.is_none() {
            return Ok(none(body));
        }
        let input = FormatInput {
            snapshot,
            order,
            trajectory,
        };
        self.stage("format");
        if shared.preparer.is_some() {
            // Each segment is tokenized as it is formatted.
            self.stage("tokenize");
        }
        let t = Instant::now();
        let mut tokens = shared.preparer.as_ref().map(|p| p.start());
        let mut token_seconds = 0.0;
        let mut chars: std::collections::BTreeMap<&'static str, u64> = Default::default();
        let mut written = Ok(());
        body.open_document();
        let formatted = f.component.format_each(input, &mut |segment| {
            *chars.entry(segment.role.name()).or_default() += segment.text.chars().count() as u64;
            if let Err(e) = body.segment(&segment) {
                written = Err(e);
                return Err(StageError::Invalid("the unit file could not be written".into()));
            }
            if let Some(Ok(doc)) = tokens.as_mut() {
                let t = Instant::now();
                if let Err(e) = doc.push(&segment) {
                    tokens = Some(Err(e));
                }
                token_seconds += t.elapsed().as_secs_f64();
            }
            Ok(())
        });
        written?;
        let stored = match formatted {
            Ok(()) => {
                self.stats.format.documents += 1;
                for (role, n) in chars {
                    *self.stats.format.chars_by_role.entry(role.into()).or_default() += n;
                }
                let t = Instant::now();
                let prepared = tokens.map(|doc| doc.and_then(|doc| doc.finish()));
                token_seconds += t.elapsed().as_secs_f64();
                Stored {
                    body,
                    prepared: prepared.map(|p| (p, token_seconds)),
                    document: true,
                    trajectory: has_line,
                }
            }
            Err(e) => {
                tracing::warn!("{}: formatting failed: {e}", self.repo.name);
                *self.stats.format.failed.entry(e.reason().into()).or_default() += 1;
                // What was written of the document goes: the unit has none.
                drop(body);
                none(self.start_unit(&path, trajectory)?.0)
            }
        };
        self.seconds.format += t.elapsed().as_secs_f64() - token_seconds;
        Ok(stored)
    }

    /// The unit: stats with the stage timings, and the outcome.
    fn finish(mut self, snapshot: &RepoSnapshot, analyzed: Analyzed, written: bool) -> Unit {
        tracing::info!(
            "{}: {} files, {} bytes, {} outlined, {} edges{}",
            self.repo.name,
            snapshot.files.len(),
            snapshot.total_bytes(),
            analyzed.outlined,
            analyzed.edges,
            if written { ", trajectory written" } else { "" }
        );
        let config = self.shared.config;
        let s = &self.seconds;
        let mut entries = vec![
            ("ingest", s.ingest),
            ("analyze", s.analyze),
            ("simulate", s.simulate),
            ("format", s.format),
        ];
        if config.search.is_some() {
            entries.push(("search", s.search));
        }
        if config.evaluate.is_some() {
            entries.push(("evaluate", s.evaluate));
        }
        self.stats.seconds = entries.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
        let mut h = header(self.shared, self.position, self.repo, self.stats);
        h.outcome.bytes = snapshot.total_bytes();
        Unit {
            header: match self.failure {
                Some(reason) => failed(h, reason),
                None => h,
            },
            trajectory: None,
            segments: None,
        }
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
