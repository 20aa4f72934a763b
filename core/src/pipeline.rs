//! The pipeline runner behind `repo2agent run`.
//!
//! Stages so far: ingest → analyze → simulate (with the run's policy) → ground
//! (the byte-exact check) → format. Each repository streams through them one
//! at a time; trajectories go to `trajectories.jsonl` (one repository per line)
//! and counters to `stats.json`, both written to a temporary file and renamed
//! into place when the run ends, so a reader never sees half a file.

use crate::analyze::analyze;
use crate::config::RunConfig;
use crate::grounding::verify;
use crate::ingest::{self, Ingestor, LanguageTable};
use crate::simulate::{repo_seed, simulate};
use crate::stage::{Analyzer, FormatInput, RepoContext};
use crate::stats::RunStats;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

/// The run could not write its outputs.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// An output file or directory could not be written.
    #[error("cannot write {path}: {source}")]
    Write {
        /// What.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// What a finished run produced.
#[derive(Debug)]
pub struct RunReport {
    /// The counters (also in `stats.json`).
    pub stats: RunStats,
    /// Where `stats.json` was written.
    pub stats_path: PathBuf,
    /// Where `trajectories.jsonl` was written, when a policy ran.
    pub trajectories_path: Option<PathBuf>,
}

/// A file written under a temporary name and renamed into place by `finish`.
struct AtomicFile {
    path: PathBuf,
    tmp: PathBuf,
    out: std::io::BufWriter<std::fs::File>,
}

impl AtomicFile {
    fn create(path: PathBuf) -> Result<Self, PipelineError> {
        let tmp = path.with_extension(format!("tmp.{}", std::process::id()));
        let file = std::fs::File::create(&tmp).map_err(|source| PipelineError::Write {
            path: tmp.clone(),
            source,
        })?;
        Ok(Self {
            path,
            tmp,
            out: std::io::BufWriter::new(file),
        })
    }

    fn line(&mut self, text: &str) -> Result<(), PipelineError> {
        writeln!(self.out, "{text}").map_err(|source| PipelineError::Write {
            path: self.tmp.clone(),
            source,
        })
    }

    fn finish(mut self) -> Result<PathBuf, PipelineError> {
        let err = |source| PipelineError::Write {
            path: self.path.clone(),
            source,
        };
        self.out.flush().map_err(err)?;
        std::fs::rename(&self.tmp, &self.path).map_err(err)?;
        Ok(self.path)
    }
}

/// The ingestor and analyzers a config describes (languages of its analyzers
/// added to the built-in ones).
pub fn ingestor(config: &RunConfig) -> (Ingestor, Vec<Arc<dyn Analyzer>>) {
    let analyzers: Vec<Arc<dyn Analyzer>> = config.analyzers.iter().map(|a| Arc::clone(&a.component)).collect();
    let ingestor = Ingestor::new(config.input.clone(), LanguageTable::for_analyzers(&analyzers));
    (ingestor, analyzers)
}

/// Runs the configured pipeline over every input repository.
pub fn run(config: &RunConfig) -> Result<RunReport, PipelineError> {
    let out = &config.output.dir;
    std::fs::create_dir_all(out).map_err(|source| PipelineError::Write {
        path: out.clone(),
        source,
    })?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|source| PipelineError::Write {
            path: out.clone(),
            source,
        })?;

    let (ingestor, analyzers) = ingestor(config);
    let ingestor = ingestor.skip_output_dir(out);
    let policy = config.policy.as_ref().and_then(|name| config.policies.get(name));
    let mut trajectories = match policy {
        Some(_) => Some(AtomicFile::create(out.join("trajectories.jsonl"))?),
        None => None,
    };

    let mut stats = RunStats::default();
    let mut seconds = [0.0f64; 4];
    let repos = ingest::expand(&config.input.repos, &mut stats.ingest);
    tracing::info!("{} repositories to process", repos.len());
    for repo in &repos {
        let t = Instant::now();
        let snapshot = ingestor.snapshot(repo, &mut stats.ingest);
        seconds[0] += t.elapsed().as_secs_f64();
        if snapshot.files.is_empty() {
            tracing::info!("{}: no files kept, skipped", repo.name);
            continue;
        }
        let t = Instant::now();
        let analysis = analyze(&snapshot, &analyzers, config.run.seed, &mut stats.analysis);
        seconds[1] += t.elapsed().as_secs_f64();
        let ctx = RepoContext {
            snapshot: &snapshot,
            analysis: &analysis,
            order: &analysis.order,
        };

        let t = Instant::now();
        let trajectory = match policy {
            Some(p) => {
                let seed = repo_seed(config.run.seed, &snapshot.name);
                let sim = &mut stats.simulation;
                match runtime.block_on(simulate(
                    ctx,
                    p.component.as_ref(),
                    &p.type_name,
                    seed,
                    &config.simulation,
                    sim,
                )) {
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
                    Err(e) => {
                        tracing::warn!("{}: simulation failed: {e}", repo.name);
                        *stats.simulation.failed.entry(e.reason().into()).or_default() += 1;
                        None
                    }
                }
            }
            None => None,
        };
        if let (Some(t), Some(w)) = (&trajectory, trajectories.as_mut()) {
            let line = t.to_json_line().map_err(|e| PipelineError::Write {
                path: out.join("trajectories.jsonl"),
                source: std::io::Error::other(e),
            })?;
            w.line(&line)?;
        }
        seconds[2] += t.elapsed().as_secs_f64();

        let t = Instant::now();
        if let Some(f) = &config.formatter
            && (!f.component.needs_trajectory() || trajectory.is_some())
        {
            let input = FormatInput {
                snapshot: &snapshot,
                order: &analysis.order,
                trajectory: trajectory.as_ref(),
            };
            match f.component.format(input) {
                Ok(segments) => {
                    stats.format.documents += 1;
                    for s in &segments {
                        *stats.format.chars_by_role.entry(s.role.name().into()).or_default() +=
                            s.text.chars().count() as u64;
                    }
                }
                Err(e) => {
                    tracing::warn!("{}: formatting failed: {e}", repo.name);
                    *stats.format.failed.entry(e.reason().into()).or_default() += 1;
                }
            }
        }
        seconds[3] += t.elapsed().as_secs_f64();
        tracing::info!(
            "{}: {} files, {} bytes, {} outlined, {} edges{}",
            repo.name,
            snapshot.files.len(),
            snapshot.total_bytes(),
            analysis.outlines.len(),
            analysis.graph.edge_count(),
            if trajectory.is_some() {
                ", trajectory written"
            } else {
                ""
            }
        );
    }
    for (name, s) in ["ingest", "analyze", "simulate", "format"].iter().zip(seconds) {
        stats.seconds.insert((*name).into(), s);
    }
    if let Some(p) = policy {
        stats.simulation.policy = p.component.counters();
    }
    let trajectories_path = trajectories.map(AtomicFile::finish).transpose()?;

    let stats_path = out.join("stats.json");
    let json = serde_json::to_vec_pretty(&stats).map_err(|e| PipelineError::Write {
        path: stats_path.clone(),
        source: std::io::Error::other(e),
    })?;
    write_atomic(&stats_path, &json)?;
    Ok(RunReport {
        stats,
        stats_path,
        trajectories_path,
    })
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

/// Writes a file so that readers see either the old or the whole new content.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), PipelineError> {
    let mut file = AtomicFile::create(path.to_path_buf())?;
    file.out.write_all(bytes).map_err(|source| PipelineError::Write {
        path: file.tmp.clone(),
        source,
    })?;
    file.finish().map(drop)
}
