//! The pipeline runner behind `repo2agent run`.
//!
//! Stages: ingest → analyze → simulate (with the run's policy) → search (when
//! configured: thoughts rewritten under a scorer) → ground (the byte-exact
//! check) → format ([`crate::run::worker`], one repository per worker thread) →
//! tokenize → mask → pack → MDS shards ([`crate::run::assemble`], in order).
//!
//! Repositories are taken in an order shuffled with the seed. `run.workers`
//! threads each take the next repository, at most a bounded window ahead of
//! the oldest one not yet assembled (so memory stays flat however uneven the
//! repositories are), and write its [`Unit`] to `OUT/units/`. The main thread
//! assembles the units in order as they arrive: `trajectories.jsonl`,
//! `shards/`, `manifest.jsonl`, `stats.json`, each renamed into place at the
//! end. The outputs are therefore the same for any number of workers, and a
//! run killed at any point and started again with `resume` reuses the units
//! it finished and writes exactly what an uninterrupted run writes.
//!
//! A tokenizer that must first be trained on the corpus (`bpe`) is trained
//! from the units once every repository is done, then the shards are written.

use crate::config::RunConfig;
use crate::ingest::{self, Ingestor, LanguageTable, RepoInput};
use crate::output::write_json;
use crate::run::assemble::Assembler;
use crate::run::progress::{NoProgress, Progress, ProgressEvent};
pub use crate::run::report::{PipelineError, RunReport};
use crate::run::units::{RUN_FILE, RunHead, Status, UNITS_DIR, Unit};
use crate::run::worker::{Shared, Stored, process};
use crate::stage::Analyzer;
use crate::stats::RunStats;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

/// The ingestor and analyzers a config describes (languages of its analyzers
/// added to the built-in ones).
pub fn ingestor(config: &RunConfig) -> (Ingestor, Vec<Arc<dyn Analyzer>>) {
    let analyzers: Vec<Arc<dyn Analyzer>> = config.analyzers.iter().map(|a| Arc::clone(&a.component)).collect();
    let ingestor = Ingestor::new(config.input.clone(), LanguageTable::for_analyzers(&analyzers));
    (ingestor, analyzers)
}

/// Runs the configured pipeline over every input repository.
pub fn run(config: &RunConfig) -> Result<RunReport, PipelineError> {
    run_with_progress(config, &NoProgress)
}

/// One repository of this run: its place in the whole run's order, and
/// whether `resume` reuses the unit an earlier run finished for it.
struct Item {
    position: u64,
    repo: RepoInput,
    reused: bool,
}

impl Item {
    /// Its piece of a split repository.
    fn part(&self) -> Option<u32> {
        self.repo.package.as_ref().map(|p| p.part)
    }
}

/// [`run`], reporting to `progress` as it goes.
pub fn run_with_progress(config: &RunConfig, progress: &dyn Progress) -> Result<RunReport, PipelineError> {
    let started = Instant::now();
    let out = &config.output.dir;
    let units = out.join(UNITS_DIR);
    std::fs::create_dir_all(out).map_err(PipelineError::io(out))?;
    remove_temporaries(out)?;

    let mut head = RunStats::default();
    let mut repos = ingest::expand(&config.input.repos, &mut head.ingest);
    if config.run.shuffle {
        repos.sort_by_cached_key(|r| {
            (
                crate::order::seeded_hash(config.run.seed, &r.name),
                r.name.clone(),
                r.root.clone(),
            )
        });
    }
    let total = repos.len() as u64;
    let mut items: Vec<Item> = repos
        .into_iter()
        .zip(0u64..)
        .map(|(repo, position)| Item {
            position,
            repo,
            reused: false,
        })
        .collect();
    if let Some(part) = config.partition {
        items.retain(|i| part.contains(&i.repo.name));
        head.ingest.repos_other_shards = total - items.len() as u64;
        tracing::info!("shard {part}: {} of {total} repositories", items.len());
    }
    let (ingestor, analyzers) = ingestor(config);
    let ingestor = ingestor.skip_output_dir(out);
    let mut items = split_large(items, &ingestor, config.input.max_repo_bytes, workers(config));
    let run_head = RunHead {
        format: "repo2agent-run".into(),
        version: 1,
        fingerprint: config.fingerprint.clone(),
        inputs: config.input.repos.clone(),
        repos: total,
        partition: config.partition.map(|p| p.to_string()),
        ingest: head.ingest.clone(),
    };
    let resumed = prepare_units(config, &units, &run_head, &mut items)?;
    tracing::info!(
        "{} repositories to process{}",
        items.len(),
        if resumed > 0 {
            format!(", {resumed} finished by an earlier run")
        } else {
            String::new()
        }
    );
    progress.event(ProgressEvent::Started {
        repos: items.len() as u64,
    });

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(PipelineError::io(out))?;
    let mut assembler = Assembler::new(config, out, head)?;
    let shared = Shared {
        config,
        ingestor,
        analyzers,
        policy: config.policy.as_ref().and_then(|name| config.policies.get(name)),
        runtime: runtime.handle().clone(),
        progress,
        units: &units,
        preparer: assembler.preparer(),
    };
    let todo: Vec<usize> = (0..items.len()).filter(|i| !items[*i].reused).collect();
    let workers = workers(config).clamp(1, todo.len().max(1));
    // Units finished but not yet assembled are held in memory: at most this many.
    let window = 2 * workers + 2;
    let gate = Gate::default();

    std::thread::scope(|scope| {
        let (tx, rx) = std::sync::mpsc::channel::<(usize, Result<Done, PipelineError>)>();
        for _ in 0..workers {
            let tx = tx.clone();
            let (shared, gate, items, todo, units) = (&shared, &gate, &items, &todo, &units);
            scope.spawn(move || {
                while let Some(i) = gate.claim(todo, window) {
                    let item = &items[i];
                    let (unit, stored) = process(shared, item.position, &item.repo);
                    let written = match stored {
                        // Its document (and tokens) went to the unit file as it was formatted.
                        Some(Ok(Stored {
                            body,
                            prepared,
                            document,
                            trajectory,
                        })) => body.finish(&unit.header).map_err(PipelineError::from).map(|sha| Done {
                            unit,
                            sha,
                            prepared,
                            document,
                            trajectory,
                        }),
                        Some(Err(e)) => Err(e.into()),
                        None => write_unit(units, &unit).map(|sha| Done {
                            unit,
                            sha,
                            prepared: None,
                            document: false,
                            trajectory: false,
                        }),
                    };
                    if tx.send((i, written)).is_err() {
                        return;
                    }
                }
            });
        }
        drop(tx);
        let assembled = assemble(&items, &rx, &gate, &mut assembler, &units, progress);
        if assembled.is_err() {
            gate.abort();
        }
        assembled
    })?;
    drop(runtime);

    if assembler.writes_shards() {
        progress.event(ProgressEvent::Finishing {
            what: if assembler.trains_tokenizer() {
                "training the tokenizer and writing shards"
            } else {
                "writing the last shard"
            },
        });
    }
    remove_other_units(&units, &items)?;
    let policy = shared.policy.map(|p| p.component.counters()).unwrap_or_default();
    let mut report = assembler.finish(policy, started)?;
    report.resumed = resumed;
    Ok(report)
}

/// Threads working on repositories: `run.workers`, or one per CPU core.
pub(crate) fn workers(config: &RunConfig) -> usize {
    match config.run.workers {
        0 => std::thread::available_parallelism().map_or(1, usize::from),
        n => n,
    }
}

/// [`split_repos`] over the run's items: each piece an item of its own at
/// its repository's position.
fn split_large(items: Vec<Item>, ingestor: &Ingestor, max: u64, workers: usize) -> Vec<Item> {
    let positions: Vec<u64> = items.iter().map(|i| i.position).collect();
    let repos = items.into_iter().map(|i| i.repo).collect();
    split_repos(repos, ingestor, max, workers)
        .into_iter()
        .map(|(i, repo)| Item {
            position: positions[i],
            repo,
            reused: false,
        })
        .collect()
}

/// Splits the repositories over `max` bytes (`input.max_repo_bytes`; 0: no
/// limit) into their packages ([`ingest::split`]), in path order after
/// their repository's place; each with the index of its repository in
/// `repos`. Listing walks every repository once more (metadata only), on
/// `workers` threads.
pub(crate) fn split_repos(
    repos: Vec<RepoInput>,
    ingestor: &Ingestor,
    max: u64,
    workers: usize,
) -> Vec<(usize, RepoInput)> {
    if max == 0 || repos.is_empty() {
        return repos.into_iter().enumerate().collect();
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    let pieces: Vec<Vec<(usize, Vec<ingest::Package>)>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers.clamp(1, repos.len()))
            .map(|_| {
                scope.spawn(|| {
                    let mut found = Vec::new();
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(repo) = repos.get(i) else { break };
                        let mut walk = crate::stats::IngestStats::default();
                        let listed = ingestor.list(repo, &mut walk);
                        let manifest = |rel: &str| {
                            let path = repo.root.join(rel);
                            ingestor.read_file(&path, rel).ok().map(|(_, text)| text)
                        };
                        if let ingest::Split::Parts(mut parts) = ingest::split(&repo.name, &listed, max, &manifest) {
                            if let Some(first) = parts.first_mut() {
                                first.walk_skips = walk.skipped;
                            }
                            tracing::info!(
                                "{}: over input.max_repo_bytes ({max}), split into {} pieces",
                                repo.name,
                                parts.len()
                            );
                            found.push((i, parts));
                        }
                    }
                    found
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or_default()).collect()
    });
    let mut split: std::collections::BTreeMap<usize, Vec<ingest::Package>> = pieces.into_iter().flatten().collect();
    let mut out = Vec::with_capacity(repos.len());
    for (i, repo) in repos.into_iter().enumerate() {
        match split.remove(&i) {
            None => out.push((i, repo)),
            Some(parts) => {
                for p in parts {
                    let name = if p.dir.is_empty() {
                        repo.name.clone()
                    } else {
                        format!("{}/{}", repo.name, p.dir)
                    };
                    out.push((
                        i,
                        RepoInput {
                            root: repo.root.clone(),
                            name,
                            package: Some(Arc::new(p)),
                        },
                    ));
                }
            }
        }
    }
    out
}

/// Hands out repositories to workers in order, at most `window` ahead of the
/// oldest one not yet assembled.
#[derive(Default)]
struct Gate {
    state: std::sync::Mutex<GateState>,
    changed: std::sync::Condvar,
}

#[derive(Default)]
struct GateState {
    /// The next entry of `todo` to hand out.
    next: usize,
    /// Items assembled so far (an index into all items).
    assembled: usize,
    aborted: bool,
}

impl Gate {
    fn claim(&self, todo: &[usize], window: usize) -> Option<usize> {
        let mut s = self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        loop {
            if s.aborted {
                return None;
            }
            let &i = todo.get(s.next)?;
            if i < s.assembled + window {
                s.next += 1;
                return Some(i);
            }
            s = self.changed.wait(s).unwrap_or_else(std::sync::PoisonError::into_inner);
        }
    }

    fn assembled(&self, n: usize) {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .assembled = n;
        self.changed.notify_all();
    }

    fn abort(&self) {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .aborted = true;
        self.changed.notify_all();
    }
}

/// A repository a worker finished: its unit, the hash of its output, and its
/// document tokenized (with the seconds that took) when the tokenizer was ready.
struct Done {
    unit: Unit,
    sha: String,
    prepared: Option<(Result<crate::shard::Prepared, crate::StageError>, f64)>,
    /// Whether its unit file holds a document (`unit.segments` holds it only
    /// for a unit read back from disk).
    document: bool,
    /// Whether its unit file holds a trajectory line (`unit.trajectory`
    /// holds it only for a unit read back from disk).
    trajectory: bool,
}

/// Feeds the units to the assembler in order: reused ones from disk, new ones
/// as workers send them.
fn assemble(
    items: &[Item],
    rx: &std::sync::mpsc::Receiver<(usize, Result<Done, PipelineError>)>,
    gate: &Gate,
    assembler: &mut Assembler<'_>,
    units: &Path,
    progress: &dyn Progress,
) -> Result<(), PipelineError> {
    let mut pending: std::collections::BTreeMap<usize, Result<Done, PipelineError>> = Default::default();
    for (i, item) in items.iter().enumerate() {
        let name = Unit::file_name(item.position, item.part());
        let path = units.join(&name);
        let done = if item.reused {
            Unit::read(&path).map(|(unit, sha)| Done {
                document: unit.segments.is_some(),
                trajectory: unit.trajectory.is_some(),
                unit,
                sha,
                prepared: None,
            })?
        } else {
            loop {
                if let Some(u) = pending.remove(&i) {
                    break u?;
                }
                let (j, u) = rx.recv().map_err(|_| PipelineError::WorkersStopped)?;
                pending.insert(j, u);
            }
        };
        let Done {
            unit,
            sha,
            prepared,
            document,
            trajectory,
        } = done;
        let document = document.then_some(prepared);
        let tokens = assembler.push(&unit, &sha, &path, format!("{UNITS_DIR}/{name}"), trajectory, document)?;
        progress.event(ProgressEvent::RepoDone {
            repo: &item.repo.name,
            bytes: unit.header.outcome.bytes,
            tokens,
        });
        gate.assembled(i + 1);
    }
    Ok(())
}

/// Writes a unit; returns the hash of its output.
fn write_unit(units: &Path, unit: &Unit) -> Result<String, PipelineError> {
    let path = units.join(Unit::file_name(unit.header.outcome.position, unit.header.outcome.part));
    Ok(unit.write(&path)?)
}

/// Makes `units/` ready: emptied for a fresh run; for `resume`, checked
/// against `run.json` and every reusable unit found. Returns how many.
fn prepare_units(config: &RunConfig, units: &Path, head: &RunHead, items: &mut [Item]) -> Result<u64, PipelineError> {
    let mut resumed = 0;
    if config.resume && units.join(RUN_FILE).exists() {
        let before = RunHead::read(units.parent().unwrap_or(units))?;
        if before.fingerprint != head.fingerprint || before.inputs != head.inputs || before.repos != head.repos {
            return Err(PipelineError::Mismatch(format!(
                "{} holds a run of another config or other inputs; run without --resume to start over, or use another output directory",
                units.display()
            )));
        }
        for item in items.iter_mut() {
            let path = units.join(Unit::file_name(item.position, item.part()));
            if !path.exists() {
                continue;
            }
            // The header says all that is checked; the document is read once, when assembled.
            match Unit::read_header(&path) {
                Ok(h)
                    if h.fingerprint == head.fingerprint
                        && h.outcome.name == item.repo.name
                        && h.outcome.root == item.repo.root
                        && h.outcome.status != Status::Failed =>
                {
                    item.reused = true;
                    resumed += 1;
                }
                Ok(h) if h.outcome.status == Status::Failed => {
                    tracing::info!(
                        "{}: failed before ({}), trying again",
                        item.repo.name,
                        h.outcome.reason.unwrap_or_default()
                    );
                }
                Ok(_) => {}
                Err(e) => tracing::warn!("{e}; processing the repository again"),
            }
        }
    } else if units.exists() {
        std::fs::remove_dir_all(units).map_err(PipelineError::io(units))?;
    }
    std::fs::create_dir_all(units).map_err(PipelineError::io(units))?;
    write_json(&units.join(RUN_FILE), head)?;
    Ok(resumed)
}

/// Removes unit files (and temporary files of killed writers) that are not
/// this run's, e.g. of another `--shard` part written into the same directory.
fn remove_other_units(units: &Path, items: &[Item]) -> Result<(), PipelineError> {
    let keep: std::collections::BTreeSet<String> =
        items.iter().map(|i| Unit::file_name(i.position, i.part())).collect();
    let entries = std::fs::read_dir(units).map_err(PipelineError::io(units))?;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name != RUN_FILE && !keep.contains(&name) {
            std::fs::remove_file(entry.path()).map_err(PipelineError::io(&entry.path()))?;
        }
    }
    Ok(())
}

/// Removes what writers killed before their rename left in `dir`
/// (`NAME.tmp.PID`): never read, and never renamed into place later.
fn remove_temporaries(dir: &Path) -> Result<(), PipelineError> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(());
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let is_tmp = name
            .rsplit_once(".tmp.")
            .is_some_and(|(_, pid)| !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()));
        if is_tmp && entry.file_type().is_ok_and(|t| t.is_file()) {
            std::fs::remove_file(entry.path()).map_err(PipelineError::io(&entry.path()))?;
        }
    }
    Ok(())
}
