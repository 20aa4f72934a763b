//! Units → outputs: `trajectories.jsonl`, `shards/`, `manifest.jsonl` and
//! `stats.json`, written from the units in position order (see [`crate::run::units`]).
//! `run` assembles while its workers go on; `merge` assembles the units of
//! several runs. Every output is written under a temporary name and renamed
//! into place when the whole run is assembled (the shard directory as
//! `shards.partial/`, swapped in at the end), so a reader never sees half of
//! one, and a killed run leaves the outputs of the previous one intact.

use crate::config::RunConfig;
use crate::output::{AtomicFile, SHARD_DIR, TRAJECTORIES_FILE, TRAJECTORIES_ZSTD_FILE, write_json};
use crate::run::report::{PipelineError, RunReport};
use crate::run::units::{MANIFEST_FILE, ManifestEntry, Status, Unit};
use crate::shard::{Compression, PackConfig, Prepared, Preparer, ShardReport, ShardSink, SinkConfig, SinkError};
use crate::stats::RunStats;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// The trajectories' file name for a compression setting.
fn trajectories_file(compression: Compression) -> &'static str {
    match compression {
        Compression::None => TRAJECTORIES_FILE,
        Compression::Zstd(_) => TRAJECTORIES_ZSTD_FILE,
    }
}

/// Where shards are written until the run is assembled.
const PARTIAL_SHARD_DIR: &str = "shards.partial";

/// Writes the outputs from units pushed in position order.
pub(crate) struct Assembler<'a> {
    out: PathBuf,
    trajectories: Option<AtomicFile>,
    manifest: AtomicFile,
    tokens: TokenStage<'a>,
    stats: RunStats,
    token_seconds: f64,
}

impl<'a> Assembler<'a> {
    /// `head`: the counters that belong to no repository (input expansion).
    pub(crate) fn new(config: &'a RunConfig, out: &Path, head: RunStats) -> Result<Self, PipelineError> {
        let policy = config.policy.as_ref().and_then(|name| config.policies.get(name));
        let compression = config.output.trajectories_compression;
        let trajectories = match policy {
            Some(_) => Some(AtomicFile::create_zstd(
                out.join(trajectories_file(compression)),
                compression.zstd_level(),
            )?),
            None => None,
        };
        Ok(Self {
            out: out.to_path_buf(),
            trajectories,
            manifest: AtomicFile::create(out.join(MANIFEST_FILE))?,
            tokens: TokenStage::new(config, out)?,
            stats: head,
            token_seconds: 0.0,
        })
    }

    /// Tokenize → mask for the workers, when the tokenizer is ready before the
    /// run (not when it is trained on the run's documents).
    pub(crate) fn preparer(&self) -> Option<std::sync::Arc<Preparer<'a>>> {
        match &self.tokens {
            TokenStage::Direct(sink) => Some(sink.preparer()),
            _ => None,
        }
    }

    /// Adds the next unit; `path` is its file, `unit` how the manifest names it;
    /// `trajectory`: whether the unit file holds a trajectory line (copied
    /// from it when `unit` does not hold it);
    /// `document`: `None` when the unit has no document, else its tokens when
    /// a worker already made them (with the seconds that took). Returns the
    /// tokens written for it (0 when the tokenizer is trained at the end).
    pub(crate) fn push(
        &mut self,
        unit: &Unit,
        sha256: &str,
        path: &Path,
        name: String,
        trajectory: bool,
        document: Option<Option<(Result<Prepared, crate::StageError>, f64)>>,
    ) -> Result<u64, PipelineError> {
        let h = &unit.header.outcome;
        self.stats.absorb(&unit.header.stats);
        self.stats.repos.total += 1;
        match h.status {
            Status::Done => self.stats.repos.done += 1,
            Status::Empty => self.stats.repos.empty += 1,
            Status::Failed | Status::Skipped => {
                let by_reason = match h.status {
                    Status::Failed => &mut self.stats.repos.failed,
                    _ => &mut self.stats.repos.skipped,
                };
                let reason = h.reason.clone().unwrap_or_else(|| "unknown".into());
                *by_reason.entry(reason).or_default() += 1;
            }
        }
        if let Some(w) = self.trajectories.as_mut() {
            match &unit.trajectory {
                Some(t) => w.line(t)?,
                // Copied from the unit file, never held whole.
                None if trajectory => {
                    Unit::copy_trajectory(path, w)?;
                    w.write(b"\n")?;
                }
                None => {}
            }
        }
        let entry = ManifestEntry {
            outcome: h.clone(),
            sha256: sha256.to_owned(),
            unit: name,
        };
        let line = serde_json::to_string(&entry).map_err(PipelineError::io(&self.out.join(MANIFEST_FILE)))?;
        self.manifest.line(&line)?;
        let Some(prepared) = document else { return Ok(0) };
        let t = Instant::now();
        let tokens = match (prepared, &mut self.tokens) {
            (Some((prepared, seconds)), TokenStage::Direct(sink)) => {
                self.token_seconds += seconds;
                sink_result(&h.name, sink.push_prepared(prepared))?
            }
            (_, stage) => stage.push(&h.name, unit.segments.as_deref(), path)?,
        };
        self.token_seconds += t.elapsed().as_secs_f64();
        Ok(tokens)
    }

    /// Whether the shards wait for a tokenizer trained on every document.
    pub(crate) fn trains_tokenizer(&self) -> bool {
        matches!(self.tokens, TokenStage::Train { .. })
    }

    /// Whether shards are written.
    pub(crate) fn writes_shards(&self) -> bool {
        !matches!(self.tokens, TokenStage::Off)
    }

    /// Writes the last shard and renames every output into place.
    /// `policy`: the policy's own counters for `stats.json`; `wall`: seconds
    /// since the run started.
    pub(crate) fn finish(
        mut self,
        policy: std::collections::BTreeMap<String, u64>,
        wall: Instant,
    ) -> Result<RunReport, PipelineError> {
        let t = Instant::now();
        let shards = self.tokens.finish(&self.out)?;
        self.token_seconds += t.elapsed().as_secs_f64();
        let mut stats = self.stats;
        let shards_dir = shards.as_ref().map(|_| self.out.join(SHARD_DIR));
        stats.tokens = shards.map(|r| token_stats(&r));
        if shards_dir.is_some() {
            stats.seconds.insert("tokenize".into(), self.token_seconds);
        }
        stats.seconds.insert("wall".into(), wall.elapsed().as_secs_f64());
        if self.trajectories.is_some() {
            stats.simulation.policy = policy;
        }
        let trajectories_path = self.trajectories.map(AtomicFile::finish).transpose()?;
        if let Some(path) = &trajectories_path {
            // The other form, from an earlier run into this directory, is stale.
            for other in [TRAJECTORIES_FILE, TRAJECTORIES_ZSTD_FILE] {
                let other = self.out.join(other);
                if other != *path && other.exists() {
                    std::fs::remove_file(&other).map_err(PipelineError::io(&other))?;
                }
            }
        }
        let manifest_path = self.manifest.finish()?;
        let stats_path = self.out.join("stats.json");
        write_json(&stats_path, &stats)?;
        Ok(RunReport {
            stats,
            stats_path,
            trajectories_path,
            shards_dir,
            manifest_path,
            resumed: 0,
        })
    }
}

fn token_stats(r: &ShardReport) -> crate::stats::TokenStats {
    crate::stats::TokenStats {
        tokenizer: r.meta.tokenizer.kind.clone(),
        vocab_size: r.meta.tokenizer.vocab_size,
        fast_path: r.fast_path.clone(),
        seq_len: r.meta.seq_len,
        pack: r.stats.clone(),
        masked_share: r.stats.masked_share(),
        padding_share: r.stats.padding_share(),
        shard_files: r.shard_files,
        shard_bytes: r.shard_bytes,
        failed: r.failed.clone(),
    }
}

/// The token side of a run: off, streaming into shards, or remembering the
/// units until a tokenizer has been trained on their documents.
enum TokenStage<'a> {
    Off,
    Direct(Box<ShardSink<'a>>),
    Train { config: &'a RunConfig, units: Vec<PathBuf> },
}

impl<'a> TokenStage<'a> {
    fn new(config: &'a RunConfig, out: &Path) -> Result<Self, PipelineError> {
        let (Some(_), Some(t), Some(_)) = (&config.formatter, &config.tokenizer, &config.masker) else {
            return Ok(TokenStage::Off);
        };
        if !config.output.shards {
            return Ok(TokenStage::Off);
        }
        let partial = out.join(PARTIAL_SHARD_DIR);
        if partial.exists() {
            std::fs::remove_dir_all(&partial).map_err(PipelineError::io(&partial))?;
        }
        if t.component.needs_corpus() {
            return Ok(TokenStage::Train {
                config,
                units: Vec::new(),
            });
        }
        let encoder = t
            .component
            .prepare(&special_tokens(config), None)
            .map_err(PipelineError::Tokenizer)?;
        Ok(TokenStage::Direct(Box::new(sink(config, out, encoder)?)))
    }

    /// Tokens written for the document in the unit file `unit` (0 when off
    /// or waiting for training); `segments`: the document, when read back.
    fn push(
        &mut self,
        repo: &str,
        segments: Option<&[crate::model::Segment]>,
        unit: &Path,
    ) -> Result<u64, PipelineError> {
        match self {
            TokenStage::Off => Ok(0),
            // Without segments here a worker tokenized the document (`push_prepared`).
            TokenStage::Direct(sink) => segments.map_or(Ok(0), |s| sink_result(repo, sink.push(s))),
            TokenStage::Train { units, .. } => {
                units.push(unit.to_path_buf());
                Ok(0)
            }
        }
    }

    fn finish(self, out: &Path) -> Result<Option<ShardReport>, PipelineError> {
        let report = match self {
            TokenStage::Off => return Ok(None),
            TokenStage::Direct(sink) => sink.finish()?,
            TokenStage::Train { config, units } => {
                let documents = || {
                    units.iter().filter_map(|p| match Unit::read(p) {
                        Ok((u, _)) => u.segments,
                        Err(e) => {
                            tracing::error!("{e}");
                            None
                        }
                    })
                };
                let Some(t) = &config.tokenizer else { return Ok(None) };
                tracing::info!("training the {} tokenizer on the run's documents", t.type_name);
                let mut corpus = documents().map(|segs| segs.into_iter().map(|s| s.text).collect::<String>());
                let encoder = t
                    .component
                    .prepare(&special_tokens(config), Some(&mut corpus))
                    .map_err(PipelineError::Tokenizer)?;
                let mut sink = sink(config, out, encoder)?;
                for segments in documents() {
                    match sink.push(&segments) {
                        Ok(_) | Err(SinkError::Stage(_)) => {}
                        Err(SinkError::Shard(e)) => return Err(e.into()),
                    }
                }
                sink.finish()?
            }
        };
        swap_in(&out.join(PARTIAL_SHARD_DIR), &out.join(SHARD_DIR))?;
        Ok(Some(report))
    }
}

/// A document that could not be tokenized is skipped (counted by the sink);
/// a shard that could not be written fails the run.
fn sink_result(repo: &str, r: Result<u64, SinkError>) -> Result<u64, PipelineError> {
    match r {
        Ok(tokens) => Ok(tokens),
        Err(SinkError::Stage(e)) => {
            tracing::warn!("{repo}: not tokenized: {e}");
            Ok(0)
        }
        Err(SinkError::Shard(e)) => Err(e.into()),
    }
}

/// Replaces directory `to` with `from` (`to` is briefly absent, never half-written).
fn swap_in(from: &Path, to: &Path) -> Result<(), PipelineError> {
    let old = to.with_extension("old");
    if old.exists() {
        std::fs::remove_dir_all(&old).map_err(PipelineError::io(&old))?;
    }
    if to.exists() {
        std::fs::rename(to, &old).map_err(PipelineError::io(to))?;
    }
    std::fs::rename(from, to).map_err(PipelineError::io(to))?;
    if old.exists() {
        std::fs::remove_dir_all(&old).map_err(PipelineError::io(&old))?;
    }
    Ok(())
}

fn special_tokens(config: &RunConfig) -> Vec<String> {
    config
        .formatter
        .as_ref()
        .map(|f| f.component.special_tokens())
        .unwrap_or_default()
}

fn sink<'a>(
    config: &'a RunConfig,
    out: &Path,
    encoder: Box<dyn crate::stage::TokenEncoder>,
) -> Result<ShardSink<'a>, PipelineError> {
    let masker = config
        .masker
        .as_ref()
        .map(|m| (m.type_name.clone(), m.component.as_ref()));
    let Some((masker_name, masker)) = masker else {
        return Err(PipelineError::Tokenizer(crate::StageError::Failed("no masker".into())));
    };
    let o = &config.output;
    let cfg = SinkConfig {
        dir: out.join(PARTIAL_SHARD_DIR),
        pack: PackConfig {
            seq_len: o.seq_len,
            window: o.pack_window,
            last: o.last_sequence,
            pad_id: 0,
        },
        size_limit: o.shard_size_limit,
        compression: o.shard_compression,
        masker: masker_name,
        seed: config.run.seed,
    };
    ShardSink::new(cfg, encoder, masker).map_err(|e| match e {
        SinkError::Stage(e) => PipelineError::Tokenizer(e),
        SinkError::Shard(e) => PipelineError::Shard(e),
    })
}
