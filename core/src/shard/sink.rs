//! Tokenize → mask → pack → write, one document at a time.

use super::mds::{Index, MdsWriter};
use super::meta::DatasetMeta;
use super::pack::{PackConfig, PackStats, Packer, Sequence, Weights};
use super::tokens::DocTokenizer;
use super::{ShardError, TOKENIZER_FILE};
use crate::StageError;
use crate::model::{Role, Segment};
use crate::stage::{Masker, TokenEncoder};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Where the shards go and how they are packed.
#[derive(Clone, Debug)]
pub struct SinkConfig {
    /// The shard directory.
    pub dir: PathBuf,
    /// Packing.
    pub pack: PackConfig,
    /// Bytes per shard file (before compression).
    pub size_limit: u64,
    /// How shard files are stored.
    pub compression: super::Compression,
    /// The masker's type name (recorded).
    pub masker: String,
    /// The run's seed (recorded).
    pub seed: u64,
}

/// Why one document could not go into the shards (it is skipped and counted).
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// The tokenizer or masker failed on this document.
    #[error("{0}")]
    Stage(#[from] StageError),
    /// Writing failed (fatal for the run).
    #[error("{0}")]
    Shard(#[from] ShardError),
}

/// A document tokenized, with its loss weights.
pub type Prepared = (super::TokenizedDoc, Weights);

/// Tokenize → mask, the part of the sink that can run on many threads at
/// once ([`ShardSink::preparer`]); packing and writing stay in order.
pub struct Preparer<'a> {
    encoder: Box<dyn TokenEncoder>,
    masker: &'a dyn Masker,
    weight_column: bool,
    /// The masker's weight of every role id (from its role probe).
    by_role: std::sync::Arc<[f32; 256]>,
}

impl std::fmt::Debug for Preparer<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Preparer")
            .field("weight_column", &self.weight_column)
            .finish_non_exhaustive()
    }
}

impl<'a> Preparer<'a> {
    /// Tokenizes one document and weighs its tokens.
    pub fn prepare(&self, segments: &[Segment]) -> Result<Prepared, StageError> {
        let mut doc = self.start()?;
        for s in segments {
            doc.push(s)?;
        }
        doc.finish()
    }

    /// [`Preparer::prepare`] one segment at a time ([`DocTokenizer`]).
    pub fn start(&self) -> Result<Preparing<'_, 'a>, StageError> {
        Ok(Preparing {
            doc: DocTokenizer::new(self.encoder.as_ref())?,
            prep: self,
        })
    }

    fn weigh(&self, doc: super::TokenizedDoc) -> Result<Prepared, StageError> {
        if self.masker.by_role() {
            return Ok((doc, Weights::ByRole(self.by_role.clone())));
        }
        let roles: Vec<Role> = doc.roles().iter().filter_map(|r| Role::from_id(*r)).collect();
        let weights = self.masker.weights(&roles)?;
        if weights.len() != roles.len() || weights.iter().any(|w| !w.is_finite() || *w < 0.0) {
            return Err(StageError::Invalid(
                "the masker returned a wrong number of weights or a negative one".into(),
            ));
        }
        if !self.weight_column && weights.iter().any(|w| *w != 0.0 && *w != 1.0) {
            return Err(StageError::Invalid(
                "the masker gave a weight other than 0 or 1 that its role probe did not show".into(),
            ));
        }
        Ok((doc, Weights::PerToken(weights)))
    }
}

/// A document being tokenized segment by segment ([`Preparer::start`]).
pub struct Preparing<'p, 'a> {
    doc: DocTokenizer<'p>,
    prep: &'p Preparer<'a>,
}

impl std::fmt::Debug for Preparing<'_, '_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Preparing")
            .field("doc", &self.doc)
            .finish_non_exhaustive()
    }
}

impl Preparing<'_, '_> {
    /// Adds the next segment.
    pub fn push(&mut self, s: &Segment) -> Result<(), StageError> {
        self.doc.push(s)
    }

    /// The document tokenized and weighed.
    pub fn finish(self) -> Result<Prepared, StageError> {
        self.prep.weigh(self.doc.finish()?)
    }
}

/// Streams documents into MDS shards with bounded memory.
pub struct ShardSink<'a> {
    config: SinkConfig,
    prep: std::sync::Arc<Preparer<'a>>,
    role_weights: BTreeMap<String, f32>,
    packer: Packer,
    writer: MdsWriter,
    failed: BTreeMap<String, u64>,
}

impl std::fmt::Debug for ShardSink<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShardSink")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl<'a> ShardSink<'a> {
    /// Probes the masker with one token of every role (to decide whether a
    /// `weight` column is needed) and opens the writer.
    /// The pad id comes from the tokenizer.
    pub fn new(
        mut config: SinkConfig,
        encoder: Box<dyn TokenEncoder>,
        masker: &'a dyn Masker,
    ) -> Result<Self, SinkError> {
        config.pack.pad_id = encoder.info().pad;
        let probe = masker.weights(&Role::ALL)?;
        if probe.len() != Role::ALL.len() || probe.iter().any(|w| !w.is_finite() || *w < 0.0) {
            return Err(StageError::Invalid("the masker broke its contract on the role probe".into()).into());
        }
        let role_weights: BTreeMap<String, f32> = Role::ALL
            .iter()
            .zip(&probe)
            .map(|(r, w)| (r.name().to_owned(), *w))
            .collect();
        let weight_column = probe.iter().any(|w| *w != 0.0 && *w != 1.0);
        let mut by_role = [0.0f32; 256];
        for (r, w) in Role::ALL.iter().zip(&probe) {
            by_role[usize::from(r.id())] = *w;
        }
        let writer = MdsWriter::new(&config.dir, config.size_limit, weight_column)?.compressed(config.compression);
        Ok(Self {
            packer: Packer::new(config.pack),
            config,
            prep: std::sync::Arc::new(Preparer {
                encoder,
                masker,
                weight_column,
                by_role: std::sync::Arc::new(by_role),
            }),
            role_weights,
            writer,
            failed: BTreeMap::new(),
        })
    }

    /// The tokenizer in use.
    pub fn encoder(&self) -> &dyn TokenEncoder {
        self.prep.encoder.as_ref()
    }

    /// Tokenize → mask, to run on other threads; their results go to
    /// [`ShardSink::push_prepared`] in document order.
    pub fn preparer(&self) -> std::sync::Arc<Preparer<'a>> {
        std::sync::Arc::clone(&self.prep)
    }

    /// Adds one document; returns its tokens. A tokenizer or masker failure
    /// skips the document and is counted (and returned); a write failure is
    /// returned as fatal.
    pub fn push(&mut self, segments: &[Segment]) -> Result<u64, SinkError> {
        let prepared = self.prep.prepare(segments);
        self.push_prepared(prepared)
    }

    /// [`ShardSink::push`] of a document its [`Preparer`] already tokenized.
    pub fn push_prepared(&mut self, prepared: Result<Prepared, StageError>) -> Result<u64, SinkError> {
        match prepared {
            Ok((doc, weights)) => {
                let tokens = doc.len() as u64;
                let writer = &mut self.writer;
                self.packer.push(doc, weights, &mut |s: Sequence| writer.write(&s))?;
                Ok(tokens)
            }
            Err(e) => {
                *self.failed.entry(e.reason().to_owned()).or_default() += 1;
                Err(e.into())
            }
        }
    }

    /// Closes the open sequences, writes the last shard, `index.json`,
    /// `repo2agent.json` and `tokenizer.json`, and removes shard files of an
    /// earlier run that the new index does not list.
    pub fn finish(self) -> Result<ShardReport, ShardError> {
        let mut writer = self.writer;
        let stats = self.packer.finish(&mut |s: Sequence| writer.write(&s))?;
        let index = writer.finish()?;
        let dir = &self.config.dir;
        remove_stale(dir, &index)?;
        let json = self
            .prep
            .encoder
            .to_json()
            .map_err(|e| ShardError::format(&dir.join(TOKENIZER_FILE), e.to_string()))?;
        crate::output::write_atomic(&dir.join(TOKENIZER_FILE), json.as_bytes())
            .map_err(|e| ShardError::format(&dir.join(TOKENIZER_FILE), e.to_string()))?;
        let meta = DatasetMeta {
            format: "repo2agent-mds".into(),
            version: 1,
            seq_len: self.config.pack.seq_len,
            last: self.config.pack.last,
            pack_window: self.config.pack.window,
            tokenizer: self.prep.encoder.info().clone(),
            roles: DatasetMeta::role_table(),
            masker: self.config.masker.clone(),
            role_weights: self.role_weights,
            weight_column: self.prep.weight_column,
            seed: self.config.seed,
            samples: stats.sequences,
            stats: stats.clone(),
        };
        meta.write(dir)?;
        Ok(ShardReport {
            shard_files: index.shards.len() as u64,
            shard_bytes: index
                .shards
                .iter()
                .map(|s| s.zip_data.as_ref().unwrap_or(&s.raw_data).bytes)
                .sum(),
            stats,
            failed: self.failed,
            meta,
            fast_path: self.prep.encoder.fast_path(),
        })
    }
}

/// What the token stage produced.
#[derive(Clone, Debug)]
pub struct ShardReport {
    /// Packing counters.
    pub stats: PackStats,
    /// Documents skipped, by reason.
    pub failed: BTreeMap<String, u64>,
    /// Shard files written.
    pub shard_files: u64,
    /// Their total size.
    pub shard_bytes: u64,
    /// What `repo2agent.json` says.
    pub meta: DatasetMeta,
    /// The encoder's [`TokenEncoder::fast_path`].
    pub fast_path: Option<String>,
}

fn remove_stale(dir: &Path, index: &Index) -> Result<(), ShardError> {
    let keep: std::collections::BTreeSet<&str> = index
        .shards
        .iter()
        .map(|s| s.zip_data.as_ref().unwrap_or(&s.raw_data).basename.as_str())
        .collect();
    for entry in std::fs::read_dir(dir).map_err(ShardError::io(dir))? {
        let entry = entry.map_err(ShardError::io(dir))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let shard_file = name.ends_with(".mds") || name.ends_with(".mds.zstd");
        if name.starts_with("shard.") && shard_file && !keep.contains(name.as_str()) {
            std::fs::remove_file(entry.path()).map_err(ShardError::io(&entry.path()))?;
        }
    }
    Ok(())
}
