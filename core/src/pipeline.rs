//! The pipeline runner behind `repo2agent run`.
//!
//! Stages that exist so far: ingest → analyze. Each repository streams through
//! them one at a time; counters accumulate into `stats.json`, written atomically
//! (temporary file + rename) into the output directory.

use crate::analyze::analyze;
use crate::config::RunConfig;
use crate::ingest::{self, Ingestor, LanguageTable};
use crate::stage::Analyzer;
use crate::stats::RunStats;
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
}

/// Runs the configured pipeline over every input repository.
pub fn run(config: &RunConfig) -> Result<RunReport, PipelineError> {
    let out = &config.output.dir;
    std::fs::create_dir_all(out).map_err(|source| PipelineError::Write {
        path: out.clone(),
        source,
    })?;

    let mut languages = LanguageTable::builtin();
    for a in &config.analyzers {
        languages.add(a.component.language());
    }
    let analyzers: Vec<Arc<dyn Analyzer>> = config.analyzers.iter().map(|a| Arc::clone(&a.component)).collect();
    let ingestor = Ingestor::new(config.input.clone(), languages).skip_output_dir(out);

    let mut stats = RunStats::default();
    let mut ingest_s = 0.0;
    let mut analyze_s = 0.0;
    let repos = ingest::expand(&config.input.repos, &mut stats.ingest);
    tracing::info!("{} repositories to process", repos.len());
    for repo in &repos {
        let t = Instant::now();
        let snapshot = ingestor.snapshot(repo, &mut stats.ingest);
        ingest_s += t.elapsed().as_secs_f64();
        if snapshot.files.is_empty() {
            tracing::info!("{}: no files kept, skipped", repo.name);
            continue;
        }
        let t = Instant::now();
        let analysis = analyze(&snapshot, &analyzers, config.run.seed, &mut stats.analysis);
        analyze_s += t.elapsed().as_secs_f64();
        tracing::info!(
            "{}: {} files, {} bytes, {} outlined, {} edges",
            repo.name,
            snapshot.files.len(),
            snapshot.total_bytes(),
            analysis.outlines.len(),
            analysis.graph.edge_count()
        );
    }
    stats.seconds.insert("ingest".into(), ingest_s);
    stats.seconds.insert("analyze".into(), analyze_s);

    let stats_path = out.join("stats.json");
    let json = serde_json::to_vec_pretty(&stats).map_err(|e| PipelineError::Write {
        path: stats_path.clone(),
        source: std::io::Error::other(e),
    })?;
    write_atomic(&stats_path, &json)?;
    Ok(RunReport { stats, stats_path })
}

/// Writes a file so that readers see either the old or the whole new content.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), PipelineError> {
    let tmp = path.with_extension(format!("tmp.{}", std::process::id()));
    let err = |source| PipelineError::Write {
        path: path.to_path_buf(),
        source,
    };
    std::fs::write(&tmp, bytes).map_err(err)?;
    std::fs::rename(&tmp, path).map_err(err)
}
