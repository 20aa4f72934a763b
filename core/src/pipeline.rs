//! The pipeline runner behind `repo2agent run`.
//!
//! Stages: ingest → analyze → simulate (with the run's policy) → search (when
//! configured: thoughts rewritten under a scorer) → ground (the byte-exact
//! check) → format → tokenize → mask → pack → MDS shards. Each repository
//! streams through them one at a time (in an order shuffled with the seed); trajectories go to `trajectories.jsonl` (one repository per line),
//! shards to `shards/` and counters to `stats.json`, each written under a
//! temporary name and renamed into place, so a reader never sees half a file.
//!
//! A tokenizer that must first be trained on the corpus (`bpe`) makes the run
//! spool the formatted documents to disk, train, then tokenize from the spool:
//! memory stays bounded either way.

use crate::analyze::analyze;
use crate::config::RunConfig;
use crate::grounding::verify;
use crate::ingest::{self, Ingestor, LanguageTable};
use crate::progress::{NoProgress, Progress, ProgressEvent};
use crate::shard::{PackConfig, ShardReport, ShardSink, SinkConfig, SinkError};
use crate::simulate::{repo_seed, simulate};
use crate::stage::{Analyzer, FormatInput, RepoContext, SearchContext};
use crate::stats::{RunStats, SearchStats};
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
    /// Shards could not be written.
    #[error("{0}")]
    Shard(#[from] crate::shard::ShardError),
    /// The tokenizer could not be prepared (trained or given its special tokens).
    #[error("tokenizer: {0}")]
    Tokenizer(crate::StageError),
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
    /// The shard directory, when shards were written.
    pub shards_dir: Option<PathBuf>,
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
    run_with_progress(config, &NoProgress)
}

/// [`run`], reporting to `progress` as it goes.
pub fn run_with_progress(config: &RunConfig, progress: &dyn Progress) -> Result<RunReport, PipelineError> {
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

    let mut tokens = TokenStage::new(config)?;
    let mut stats = RunStats::default();
    let mut seconds = [0.0f64; 6];
    let mut repos = ingest::expand(&config.input.repos, &mut stats.ingest);
    if let Some(part) = config.partition {
        let before = repos.len();
        repos.retain(|r| part.contains(&r.name));
        stats.ingest.repos_other_shards = (before - repos.len()) as u64;
        tracing::info!("shard {part}: {} of {before} repositories", repos.len());
    }
    if config.run.shuffle {
        repos.sort_by_cached_key(|r| {
            (
                crate::order::seeded_hash(config.run.seed, &r.name),
                r.name.clone(),
                r.root.clone(),
            )
        });
    }
    tracing::info!("{} repositories to process", repos.len());
    progress.event(ProgressEvent::Started {
        repos: repos.len() as u64,
    });
    for repo in &repos {
        let stage = |stage| {
            progress.event(ProgressEvent::Stage {
                repo: &repo.name,
                stage,
            })
        };
        let mut tokens_written = 0;
        stage("ingest");
        let t = Instant::now();
        let snapshot = ingestor.snapshot(repo, &mut stats.ingest);
        seconds[0] += t.elapsed().as_secs_f64();
        if snapshot.files.is_empty() {
            tracing::info!("{}: no files kept, skipped", repo.name);
            progress.event(ProgressEvent::RepoDone {
                repo: &repo.name,
                bytes: 0,
                tokens: 0,
            });
            continue;
        }
        stage("analyze");
        let t = Instant::now();
        let analysis = analyze(&snapshot, &analyzers, config.run.seed, &mut stats.analysis);
        seconds[1] += t.elapsed().as_secs_f64();
        let ctx = RepoContext {
            snapshot: &snapshot,
            analysis: &analysis,
            order: &analysis.order,
        };

        let mut t = Instant::now();
        if policy.is_some() {
            stage("simulate");
        }
        let trajectory = match policy {
            Some(p) => {
                let seed = repo_seed(config.run.seed, &snapshot.name);
                let sim = &mut stats.simulation;
                let simulated = runtime.block_on(simulate(
                    ctx,
                    p.component.as_ref(),
                    &p.type_name,
                    seed,
                    &config.simulation,
                    sim,
                ));
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
                        seconds[2] += t.elapsed().as_secs_f64();
                        let started = Instant::now();
                        let result = runtime.block_on(search.component.search(&mut trajectory, context));
                        seconds[5] += started.elapsed().as_secs_f64();
                        t = Instant::now();
                        match result {
                            Ok(record) => {
                                if let Some(r) = &record {
                                    stats.search.get_or_insert_with(Default::default).add(r);
                                }
                                trajectory.search = record;
                                Ok(trajectory)
                            }
                            Err(e) => {
                                tracing::warn!("{}: search failed, trajectory not written: {e}", repo.name);
                                let s = stats.search.get_or_insert_with(|| SearchStats {
                                    strategy: search.type_name.clone(),
                                    ..Default::default()
                                });
                                *s.failed.entry(e.reason().into()).or_default() += 1;
                                Err(None)
                            }
                        }
                    }
                    (other, _, _) => other.map_err(Some),
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
                        None
                    }
                    Err(None) => None,
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
                Ok(segments) => {
                    stats.format.documents += 1;
                    for s in &segments {
                        *stats.format.chars_by_role.entry(s.role.name().into()).or_default() +=
                            s.text.chars().count() as u64;
                    }
                    seconds[3] += t.elapsed().as_secs_f64();
                    stage("tokenize");
                    let t = Instant::now();
                    tokens_written = tokens.push(&repo.name, &segments)?;
                    seconds[4] += t.elapsed().as_secs_f64();
                }
                Err(e) => {
                    tracing::warn!("{}: formatting failed: {e}", repo.name);
                    *stats.format.failed.entry(e.reason().into()).or_default() += 1;
                    seconds[3] += t.elapsed().as_secs_f64();
                }
            }
        }
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
        progress.event(ProgressEvent::RepoDone {
            repo: &repo.name,
            bytes: snapshot.total_bytes(),
            tokens: tokens_written,
        });
    }
    if !matches!(tokens, TokenStage::Off) {
        progress.event(ProgressEvent::Finishing {
            what: if matches!(tokens, TokenStage::Spool { .. }) {
                "training the tokenizer and writing shards"
            } else {
                "writing the last shard"
            },
        });
    }
    let t = Instant::now();
    let shards = tokens.finish()?;
    seconds[4] += t.elapsed().as_secs_f64();
    let shards_dir = shards.as_ref().map(|_| out.join(SHARD_DIR));
    stats.tokens = shards.map(|r| token_stats(&r));
    for (name, s) in ["ingest", "analyze", "simulate", "format", "tokenize", "search"]
        .iter()
        .zip(seconds)
    {
        if *name != "search" || config.search.is_some() {
            stats.seconds.insert((*name).into(), s);
        }
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
        shards_dir,
    })
}

/// The shard directory inside the output directory.
pub const SHARD_DIR: &str = "shards";

fn token_stats(r: &ShardReport) -> crate::stats::TokenStats {
    crate::stats::TokenStats {
        tokenizer: r.meta.tokenizer.kind.clone(),
        vocab_size: r.meta.tokenizer.vocab_size,
        seq_len: r.meta.seq_len,
        pack: r.stats.clone(),
        masked_share: r.stats.masked_share(),
        padding_share: r.stats.padding_share(),
        shard_files: r.shard_files,
        shard_bytes: r.shard_bytes,
        failed: r.failed.clone(),
    }
}

/// The token side of the run: off, streaming into shards, or spooling
/// documents to disk until a tokenizer has been trained on them.
enum TokenStage<'a> {
    Off,
    Direct(Box<ShardSink<'a>>),
    Spool {
        config: &'a RunConfig,
        path: PathBuf,
        out: std::io::BufWriter<std::fs::File>,
    },
}

impl<'a> TokenStage<'a> {
    fn new(config: &'a RunConfig) -> Result<Self, PipelineError> {
        let (Some(_), Some(t), Some(_)) = (&config.formatter, &config.tokenizer, &config.masker) else {
            return Ok(TokenStage::Off);
        };
        if !config.output.shards {
            return Ok(TokenStage::Off);
        }
        if t.component.needs_corpus() {
            let path = config.output.dir.join(".spool.jsonl");
            let file = std::fs::File::create(&path).map_err(|source| PipelineError::Write {
                path: path.clone(),
                source,
            })?;
            return Ok(TokenStage::Spool {
                config,
                path,
                out: std::io::BufWriter::new(file),
            });
        }
        let encoder = t
            .component
            .prepare(&special_tokens(config), None)
            .map_err(PipelineError::Tokenizer)?;
        Ok(TokenStage::Direct(Box::new(sink(config, encoder)?)))
    }

    /// Tokens written for the document (0 when off or spooling).
    fn push(&mut self, repo: &str, segments: &[crate::model::Segment]) -> Result<u64, PipelineError> {
        match self {
            TokenStage::Off => Ok(0),
            TokenStage::Direct(sink) => match sink.push(segments) {
                Ok(tokens) => Ok(tokens),
                Err(SinkError::Stage(e)) => {
                    tracing::warn!("{repo}: not tokenized: {e}");
                    Ok(0)
                }
                Err(SinkError::Shard(e)) => Err(e.into()),
            },
            TokenStage::Spool { path, out, .. } => {
                let line = serde_json::to_string(segments).map_err(|e| PipelineError::Write {
                    path: path.clone(),
                    source: std::io::Error::other(e),
                })?;
                writeln!(out, "{line}").map_err(|source| PipelineError::Write {
                    path: path.clone(),
                    source,
                })?;
                Ok(0)
            }
        }
    }

    fn finish(self) -> Result<Option<ShardReport>, PipelineError> {
        match self {
            TokenStage::Off => Ok(None),
            TokenStage::Direct(sink) => Ok(Some(sink.finish()?)),
            TokenStage::Spool { config, path, out } => {
                let io = |source| PipelineError::Write {
                    path: path.clone(),
                    source,
                };
                drop(out.into_inner().map_err(|e| io(e.into_error()))?);
                let read = || -> Result<_, PipelineError> {
                    let file = std::fs::File::open(&path).map_err(io)?;
                    Ok(std::io::BufRead::lines(std::io::BufReader::new(file))
                        .map_while(Result::ok)
                        .filter_map(|l| serde_json::from_str::<Vec<crate::model::Segment>>(&l).ok()))
                };
                let Some(t) = &config.tokenizer else { return Ok(None) };
                tracing::info!("training the {} tokenizer on the run's documents", t.type_name);
                let mut corpus = read()?.map(|segs| segs.into_iter().map(|s| s.text).collect::<String>());
                let encoder = t
                    .component
                    .prepare(&special_tokens(config), Some(&mut corpus))
                    .map_err(PipelineError::Tokenizer)?;
                let mut sink = sink(config, encoder)?;
                for segments in read()? {
                    match sink.push(&segments) {
                        Ok(_) | Err(SinkError::Stage(_)) => {}
                        Err(SinkError::Shard(e)) => return Err(e.into()),
                    }
                }
                let report = sink.finish()?;
                std::fs::remove_file(&path).map_err(io)?;
                Ok(Some(report))
            }
        }
    }
}

fn special_tokens(config: &RunConfig) -> Vec<String> {
    config
        .formatter
        .as_ref()
        .map(|f| f.component.special_tokens())
        .unwrap_or_default()
}

fn sink(config: &RunConfig, encoder: Box<dyn crate::stage::TokenEncoder>) -> Result<ShardSink<'_>, PipelineError> {
    let masker = config
        .masker
        .as_ref()
        .map(|m| (m.type_name.clone(), m.component.as_ref()));
    let Some((masker_name, masker)) = masker else {
        return Err(PipelineError::Tokenizer(crate::StageError::Failed("no masker".into())));
    };
    let o = &config.output;
    let cfg = SinkConfig {
        dir: o.dir.join(SHARD_DIR),
        pack: PackConfig {
            seq_len: o.seq_len,
            window: o.pack_window,
            last: o.last_sequence,
            pad_id: 0,
        },
        size_limit: o.shard_size_limit,
        masker: masker_name,
        seed: config.run.seed,
    };
    ShardSink::new(cfg, encoder, masker).map_err(|e| match e {
        SinkError::Stage(e) => PipelineError::Tokenizer(e),
        SinkError::Shard(e) => PipelineError::Shard(e),
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
