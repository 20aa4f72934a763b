//! MosaicML MDS shards: the writer produces the bytes `streaming.MDSWriter`
//! produces for the same samples (tested against the Python package), and the
//! reader reads them back for `inspect`, `export` and the trainer.
//!
//! A shard file is `[n: u32][offsets: (n + 1) × u32][config JSON][samples]`;
//! a sample is `[sizes of its variable-size columns: u32 each][column bytes in
//! column-name order]`. `index.json` lists the shards. With zstd
//! compression (`streaming`'s `compression = "zstd"`) each shard is stored as
//! `shard.NNNNN.mds.zstd` only, its raw size and name kept in `raw_data` as
//! `streaming` does; a reader that finds the raw file (which `streaming`
//! writes beside the zip when it decompresses) reads that. Hashes are not
//! used.

use super::ShardError;
use super::pack::Sequence;
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};

/// MDS's default shard size limit (64 MiB).
pub const DEFAULT_SIZE_LIMIT: u64 = 1 << 26;

/// `streaming`'s zstd level when none is given (and the level of unit files).
pub const DEFAULT_ZSTD_LEVEL: i32 = 3;

/// How shard files are stored: `"none"`, `"zstd"` (level 3) or `"zstd:LEVEL"`
/// (1 to 22), the names `streaming`'s `MDSWriter` takes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Compression {
    /// Raw shard files.
    #[default]
    None,
    /// zstd, at the level given (`None`: `streaming`'s default, 3).
    Zstd(Option<i32>),
}

impl Compression {
    /// The name in `index.json` (`None` for raw shards).
    pub fn index_name(self) -> Option<String> {
        match self {
            Self::None => None,
            other => Some(other.into()),
        }
    }

    /// The zstd level to write with (`None` for raw files).
    pub fn zstd_level(self) -> Option<i32> {
        match self {
            Self::None => None,
            Self::Zstd(level) => Some(level.unwrap_or(DEFAULT_ZSTD_LEVEL)),
        }
    }
}

impl From<Compression> for String {
    fn from(c: Compression) -> Self {
        match c {
            Compression::None => "none".into(),
            Compression::Zstd(None) => "zstd".into(),
            Compression::Zstd(Some(level)) => format!("zstd:{level}"),
        }
    }
}

impl TryFrom<String> for Compression {
    type Error = String;

    fn try_from(name: String) -> Result<Self, String> {
        let bad = || format!("unknown compression `{name}`: expected \"none\", \"zstd\" or \"zstd:LEVEL\" (1 to 22)");
        match name.split_once(':') {
            None if name == "none" => Ok(Self::None),
            None if name == "zstd" => Ok(Self::Zstd(None)),
            Some(("zstd", level)) => match level.parse::<i32>() {
                Ok(l) if (1..=22).contains(&l) => Ok(Self::Zstd(Some(l))),
                _ => Err(bad()),
            },
            _ => Err(bad()),
        }
    }
}

/// One shard's entry in `index.json` (the fields `streaming` writes, in its order).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ShardInfo {
    /// Encodings, one per column.
    pub column_encodings: Vec<String>,
    /// Column names, sorted.
    pub column_names: Vec<String>,
    /// Fixed byte size per column, `null` for variable-size ones.
    pub column_sizes: Vec<Option<u64>>,
    /// `null`, or `"zstd"` / `"zstd:LEVEL"`.
    pub compression: Option<String>,
    /// `"mds"`.
    pub format: String,
    /// Always empty here.
    pub hashes: Vec<String>,
    /// The shard file.
    pub raw_data: RawData,
    /// Samples in the shard.
    pub samples: u64,
    /// The size limit it was written with.
    pub size_limit: Option<u64>,
    /// `2`.
    pub version: u32,
    /// The compressed file, when `compression` is set.
    pub zip_data: Option<RawData>,
}

/// The file of a shard.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RawData {
    /// File name inside the dataset directory.
    pub basename: String,
    /// Its size.
    pub bytes: u64,
    /// Always empty here.
    #[serde(default)]
    pub hashes: serde_json::Map<String, serde_json::Value>,
}

/// `index.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Index {
    /// The shards, in order.
    pub shards: Vec<ShardInfo>,
    /// `2`.
    pub version: u32,
}

/// Column names and encodings of our samples, sorted by name as MDS requires.
fn columns(with_weight: bool) -> Vec<(&'static str, &'static str, Option<u64>)> {
    let mut c = vec![
        ("indices", "ndarray:uint32", None),
        ("input_ids", "ndarray:uint32", None),
        ("length", "int", Some(8)),
        ("mask", "ndarray:uint8", None),
        ("roles", "ndarray:uint8", None),
    ];
    if with_weight {
        c.push(("weight", "ndarray:float32", None));
    }
    c
}

/// Python's `json.dumps(obj, sort_keys=True)` spacing, which the shard header uses.
fn python_json(v: &serde_json::Value) -> String {
    use serde_json::Value as V;
    match v {
        V::Array(a) => format!("[{}]", a.iter().map(python_json).collect::<Vec<_>>().join(", ")),
        V::Object(o) => {
            let mut keys: Vec<&String> = o.keys().collect();
            keys.sort();
            let items: Vec<String> = keys
                .into_iter()
                .map(|k| format!("{}: {}", V::String(k.clone()), python_json(&o[k])))
                .collect();
            format!("{{{}}}", items.join(", "))
        }
        other => other.to_string(),
    }
}

/// Header bytes of a 1- or 2-dimensional ndarray value (`ndarray:DTYPE`):
/// `(ndim << 2) | width code`, then the dims in the narrowest unsigned width.
fn ndarray_header(shape: &[usize]) -> ([u8; 17], usize) {
    let max = shape.iter().copied().max().unwrap_or(0) as u64;
    let (code, width) = match max {
        m if m < 1 << 8 => (0u8, 1),
        m if m < 1 << 16 => (1, 2),
        m if m < 1 << 32 => (2, 4),
        _ => (3, 8),
    };
    let mut h = [0u8; 17];
    h[0] = ((shape.len() as u8) << 2) | code;
    for (i, &d) in shape.iter().enumerate() {
        h[1 + i * width..1 + (i + 1) * width].copy_from_slice(&(d as u64).to_le_bytes()[..width]);
    }
    (h, 1 + shape.len() * width)
}

/// Encodes one sequence as an MDS sample, writing each column once into one
/// buffer: `[u32 size of each variable-size column][columns in name order]`.
pub fn encode_sample(s: &Sequence, with_weight: bool) -> Vec<u8> {
    let n = s.input_ids.len();
    let heads = [
        ndarray_header(&[s.indices.len(), 2]),
        ndarray_header(&[n]),
        ndarray_header(&[n]),
        ndarray_header(&[n]),
        ndarray_header(&[n]),
    ];
    // indices, input_ids, mask, roles, weight (length is fixed-size).
    let mut sizes = vec![
        heads[0].1 + 8 * s.indices.len(),
        heads[1].1 + 4 * n,
        heads[2].1 + n,
        heads[3].1 + n,
    ];
    if with_weight {
        sizes.push(heads[4].1 + 4 * n);
    }
    let mut out = Vec::with_capacity(4 * sizes.len() + 8 + sizes.iter().sum::<usize>());
    for size in &sizes {
        out.extend_from_slice(&(*size as u32).to_le_bytes());
    }
    let head = |out: &mut Vec<u8>, i: usize| out.extend_from_slice(&heads[i].0[..heads[i].1]);
    head(&mut out, 0);
    for x in s.indices.iter().flatten() {
        out.extend_from_slice(&x.to_le_bytes());
    }
    head(&mut out, 1);
    for x in &s.input_ids {
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.extend_from_slice(&i64::from(s.length).to_le_bytes());
    head(&mut out, 2);
    out.extend(s.weights.iter().map(|w| u8::from(*w > 0.0)));
    head(&mut out, 3);
    out.extend_from_slice(&s.roles);
    if with_weight {
        head(&mut out, 4);
        for w in &s.weights {
            out.extend_from_slice(&w.to_le_bytes());
        }
    }
    out
}

/// Writes samples into numbered shard files (`shard.00000.mds`, …) of at most
/// `size_limit` bytes, each written under a temporary name and renamed, then
/// `index.json` (atomically) when finished.
#[derive(Debug)]
pub struct MdsWriter {
    dir: PathBuf,
    size_limit: u64,
    with_weight: bool,
    compression: Compression,
    config_json: String,
    samples: Vec<Vec<u8>>,
    pending_bytes: u64,
    shards: Vec<ShardInfo>,
}

impl MdsWriter {
    /// A writer into `dir` (created). `with_weight` adds the `weight` column.
    pub fn new(dir: &Path, size_limit: u64, with_weight: bool) -> Result<Self, ShardError> {
        std::fs::create_dir_all(dir).map_err(ShardError::io(dir))?;
        let mut w = Self {
            dir: dir.to_path_buf(),
            size_limit,
            with_weight,
            compression: Compression::None,
            config_json: String::new(),
            samples: Vec::new(),
            pending_bytes: 0,
            shards: Vec::new(),
        };
        w.config_json = python_json(&w.config_value());
        w.pending_bytes = w.extra_per_shard();
        Ok(w)
    }

    /// The same writer storing its shards compressed (before any write).
    pub fn compressed(mut self, compression: Compression) -> Self {
        debug_assert!(self.shards.is_empty() && self.samples.is_empty());
        self.compression = compression;
        self.config_json = python_json(&self.config_value());
        self.pending_bytes = self.extra_per_shard();
        self
    }

    fn config_value(&self) -> serde_json::Value {
        let cols = columns(self.with_weight);
        serde_json::json!({
            "column_encodings": cols.iter().map(|c| c.1).collect::<Vec<_>>(),
            "column_names": cols.iter().map(|c| c.0).collect::<Vec<_>>(),
            "column_sizes": cols.iter().map(|c| c.2).collect::<Vec<_>>(),
            "compression": self.compression.index_name(),
            "format": "mds",
            "hashes": [],
            "size_limit": self.size_limit,
            "version": 2,
        })
    }

    fn extra_per_shard(&self) -> u64 {
        4 + 4 + self.config_json.len() as u64
    }

    /// Adds a sample; a full shard is written first when this one would overflow it.
    pub fn write(&mut self, s: &Sequence) -> Result<(), ShardError> {
        let sample = encode_sample(s, self.with_weight);
        let size = sample.len() as u64 + 4;
        if self.size_limit > 0 && !self.samples.is_empty() && self.size_limit < self.pending_bytes + size {
            self.flush()?;
        }
        self.pending_bytes += size;
        self.samples.push(sample);
        Ok(())
    }

    fn flush(&mut self) -> Result<(), ShardError> {
        if self.samples.is_empty() {
            return Ok(());
        }
        let n = self.samples.len();
        let basename = format!("shard.{:05}.mds", self.shards.len());
        let header = 4 + 4 * (n as u64 + 1) + self.config_json.len() as u64;
        let mut offsets = Vec::with_capacity(n + 1);
        let mut at = header;
        offsets.push(at);
        for s in &self.samples {
            at += s.len() as u64;
            offsets.push(at);
        }
        let path = self.dir.join(&basename);
        if at > u64::from(u32::MAX) {
            return Err(ShardError::format(
                &path,
                "shard larger than 4 GiB; lower the shard size limit",
            ));
        }
        let zip_data = match self.compression.zstd_level() {
            None => {
                self.write_file(&basename, |out| {
                    out.write_all(&(n as u32).to_le_bytes())?;
                    for o in &offsets {
                        out.write_all(&(*o as u32).to_le_bytes())?;
                    }
                    out.write_all(self.config_json.as_bytes())?;
                    self.samples.iter().try_for_each(|s| out.write_all(s))
                })?;
                None
            }
            Some(level) => {
                let zip_name = format!("{basename}.zstd");
                let mut raw = Vec::with_capacity(at as usize);
                raw.extend_from_slice(&(n as u32).to_le_bytes());
                for o in &offsets {
                    raw.extend_from_slice(&(*o as u32).to_le_bytes());
                }
                raw.extend_from_slice(self.config_json.as_bytes());
                for s in &self.samples {
                    raw.extend_from_slice(s);
                }
                let zip = zstd::bulk::compress(&raw, level).map_err(ShardError::io(&path))?;
                drop(raw);
                self.write_file(&zip_name, |out| out.write_all(&zip))?;
                Some(RawData {
                    basename: zip_name,
                    bytes: zip.len() as u64,
                    hashes: Default::default(),
                })
            }
        };
        let cols = columns(self.with_weight);
        self.shards.push(ShardInfo {
            column_encodings: cols.iter().map(|c| c.1.to_owned()).collect(),
            column_names: cols.iter().map(|c| c.0.to_owned()).collect(),
            column_sizes: cols.iter().map(|c| c.2).collect(),
            compression: self.compression.index_name(),
            format: "mds".into(),
            hashes: Vec::new(),
            raw_data: RawData {
                basename,
                bytes: at,
                hashes: Default::default(),
            },
            samples: n as u64,
            size_limit: Some(self.size_limit),
            version: 2,
            zip_data,
        });
        self.samples.clear();
        self.pending_bytes = self.extra_per_shard();
        Ok(())
    }

    /// Writes `dir/name` through a temporary file, synced, then renamed.
    fn write_file(
        &self,
        name: &str,
        body: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
    ) -> Result<(), ShardError> {
        let tmp = self.dir.join(format!(".{name}.tmp"));
        let file = std::fs::File::create(&tmp).map_err(ShardError::io(&tmp))?;
        let mut out = std::io::BufWriter::new(file);
        body(&mut out).map_err(ShardError::io(&tmp))?;
        out.into_inner()
            .map_err(|e| ShardError::io(&tmp)(e.into_error()))?
            .sync_all()
            .map_err(ShardError::io(&tmp))?;
        let path = self.dir.join(name);
        std::fs::rename(&tmp, &path).map_err(ShardError::io(&path))
    }

    /// Writes the last shard and `index.json`; returns the index.
    pub fn finish(mut self) -> Result<Index, ShardError> {
        self.flush()?;
        let index = Index {
            shards: self.shards,
            version: 2,
        };
        let path = self.dir.join("index.json");
        let json = serde_json::to_value(&index).map_err(|e| ShardError::format(&path, e.to_string()))?;
        crate::output::write_atomic(&path, python_json(&json).as_bytes())
            .map_err(|e| ShardError::format(&path, e.to_string()))?;
        Ok(index)
    }
}

/// One decoded sample.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    /// `input_ids`.
    pub input_ids: Vec<u32>,
    /// `indices` as `[start, end)` pairs.
    pub indices: Vec<[u32; 2]>,
    /// `mask`.
    pub mask: Vec<u8>,
    /// `roles`.
    pub roles: Vec<u8>,
    /// `length`.
    pub length: u64,
    /// `weight`, when the dataset has it.
    pub weight: Option<Vec<f32>>,
}

impl Sample {
    /// The loss weight of each token: `weight` when present, else `mask`.
    pub fn weights(&self) -> Vec<f32> {
        match &self.weight {
            Some(w) => w.clone(),
            None => self.mask.iter().map(|m| f32::from(*m)).collect(),
        }
    }
}

/// Reads a directory of MDS shards written in our column layout.
#[derive(Debug)]
pub struct MdsReader {
    dir: PathBuf,
    index: Index,
    /// Sample count before each shard (prefix sums).
    starts: Vec<u64>,
}

impl MdsReader {
    /// Opens `dir/index.json` and checks every shard's columns.
    pub fn open(dir: &Path) -> Result<Self, ShardError> {
        let path = dir.join("index.json");
        let text = std::fs::read_to_string(&path).map_err(ShardError::io(&path))?;
        let index: Index = serde_json::from_str(&text).map_err(|e| ShardError::format(&path, e.to_string()))?;
        let mut starts = Vec::with_capacity(index.shards.len());
        let mut total = 0;
        let all = columns(true);
        for s in &index.shards {
            if s.format != "mds" {
                return Err(ShardError::format(
                    &path,
                    format!("{}: format `{}`, not `mds`", s.raw_data.basename, s.format),
                ));
            }
            if let Some(c) = &s.compression {
                let zstd = matches!(Compression::try_from(c.clone()), Ok(Compression::Zstd(_)));
                if !zstd || s.zip_data.is_none() {
                    return Err(ShardError::format(
                        &path,
                        format!(
                            "{}: compression `{c}`{}; raw and zstd-compressed MDS shards are read",
                            s.raw_data.basename,
                            if zstd { " without `zip_data`" } else { "" }
                        ),
                    ));
                }
            }
            for (name, enc) in s.column_names.iter().zip(&s.column_encodings) {
                let known = all.iter().any(|c| c.0 == name && c.1 == enc);
                if !known {
                    return Err(ShardError::format(
                        &path,
                        format!(
                            "{}: unexpected column `{name}` ({enc}); expected {}",
                            s.raw_data.basename,
                            all.iter().map(|c| c.0).collect::<Vec<_>>().join(", ")
                        ),
                    ));
                }
            }
            starts.push(total);
            total += s.samples;
        }
        Ok(Self {
            dir: dir.to_path_buf(),
            index,
            starts,
        })
    }

    /// The index.
    pub fn index(&self) -> &Index {
        &self.index
    }

    /// Samples in the dataset.
    pub fn len(&self) -> u64 {
        self.index.shards.iter().map(|s| s.samples).sum()
    }

    /// Whether the dataset has no samples.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every sample of one shard, in order.
    pub fn shard_samples(&self, shard: usize) -> Result<Vec<Sample>, ShardError> {
        let info = &self.index.shards[shard];
        let path = self.dir.join(&info.raw_data.basename);
        let bytes = self.shard_bytes(info)?;
        let bad = |m: &str| ShardError::format(&path, m.to_owned());
        let u32_at = |at: usize| -> Result<u32, ShardError> {
            bytes
                .get(at..at + 4)
                .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .ok_or_else(|| bad("truncated"))
        };
        let n = u32_at(0)? as usize;
        if n as u64 != info.samples {
            return Err(bad("sample count differs from index.json"));
        }
        let mut out = Vec::with_capacity(n);
        for i in 0..n {
            let a = u32_at(4 + 4 * i)? as usize;
            let b = u32_at(8 + 4 * i)? as usize;
            let data = bytes.get(a..b).ok_or_else(|| bad("sample offset out of range"))?;
            out.push(decode_sample(data, info).map_err(|m| bad(&format!("sample {i}: {m}")))?);
        }
        Ok(out)
    }

    /// A shard file's raw bytes: the raw file when there is one, else its
    /// zip decompressed.
    fn shard_bytes(&self, info: &ShardInfo) -> Result<Vec<u8>, ShardError> {
        let raw = self.dir.join(&info.raw_data.basename);
        let zip = match &info.zip_data {
            Some(zip) if !raw.exists() => self.dir.join(&zip.basename),
            _ => return std::fs::read(&raw).map_err(ShardError::io(&raw)),
        };
        let bytes = std::fs::read(&zip).map_err(ShardError::io(&zip))?;
        let bytes = zstd::stream::decode_all(&bytes[..])
            .map_err(|e| ShardError::format(&zip, format!("not a zstd stream: {e}")))?;
        if bytes.len() as u64 != info.raw_data.bytes {
            return Err(ShardError::format(
                &zip,
                format!(
                    "decompressed to {} bytes; index.json says {}",
                    bytes.len(),
                    info.raw_data.bytes
                ),
            ));
        }
        Ok(bytes)
    }

    /// The shard holding sample `i` of the whole dataset, and its index there.
    pub fn locate(&self, i: u64) -> Result<(usize, usize), ShardError> {
        let shard = self.starts.partition_point(|&s| s <= i).saturating_sub(1);
        match self.index.shards.get(shard) {
            Some(s) if i - self.starts[shard] < s.samples => Ok((shard, (i - self.starts[shard]) as usize)),
            _ => Err(ShardError::format(
                &self.dir,
                format!("no sample {i} (the dataset has {})", self.len()),
            )),
        }
    }

    /// Sample `i` of the whole dataset (reads its shard).
    pub fn sample(&self, i: u64) -> Result<Sample, ShardError> {
        let (shard, local) = self.locate(i)?;
        let mut all = self.shard_samples(shard)?;
        Ok(all.swap_remove(local))
    }
}

fn decode_sample(data: &[u8], info: &ShardInfo) -> Result<Sample, String> {
    let var = info.column_sizes.iter().filter(|s| s.is_none()).count();
    let mut sizes = Vec::with_capacity(info.column_sizes.len());
    let mut at = 0usize;
    let mut var_i = 0;
    for s in &info.column_sizes {
        sizes.push(match s {
            Some(n) => *n as usize,
            None => {
                let b = data.get(4 * var_i..4 * var_i + 4).ok_or("truncated sizes")?;
                var_i += 1;
                u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize
            }
        });
    }
    at += 4 * var;
    let mut sample = Sample {
        input_ids: Vec::new(),
        indices: Vec::new(),
        mask: Vec::new(),
        roles: Vec::new(),
        length: 0,
        weight: None,
    };
    for (name, size) in info.column_names.iter().zip(sizes) {
        let col = data.get(at..at + size).ok_or("truncated column")?;
        at += size;
        match name.as_str() {
            "length" => sample.length = i64::from_le_bytes(col.try_into().map_err(|_| "bad length")?) as u64,
            _ => {
                let (shape, values) = split_ndarray(col)?;
                match name.as_str() {
                    "input_ids" => sample.input_ids = le_u32s(values),
                    "indices" => {
                        if shape.len() != 2 || shape[1] != 2 {
                            return Err(format!("indices has shape {shape:?}, expected (n, 2)"));
                        }
                        sample.indices = le_u32s(values).chunks_exact(2).map(|c| [c[0], c[1]]).collect();
                    }
                    "mask" => sample.mask = values.to_vec(),
                    "roles" => sample.roles = values.to_vec(),
                    "weight" => {
                        sample.weight = Some(
                            values
                                .chunks_exact(4)
                                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                                .collect(),
                        )
                    }
                    other => return Err(format!("unknown column {other}")),
                }
            }
        }
    }
    Ok(sample)
}

fn split_ndarray(col: &[u8]) -> Result<(Vec<u64>, &[u8]), String> {
    let head = *col.first().ok_or("empty ndarray")?;
    let ndim = usize::from(head >> 2);
    let width = 1usize << (head & 3);
    let end = 1 + ndim * width;
    let dims = col.get(1..end).ok_or("truncated shape")?;
    let shape = dims
        .chunks_exact(width)
        .map(|c| {
            let mut b = [0u8; 8];
            b[..width].copy_from_slice(c);
            u64::from_le_bytes(b)
        })
        .collect();
    Ok((shape, &col[end..]))
}

fn le_u32s(b: &[u8]) -> Vec<u32> {
    b.chunks_exact(4)
        .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

#[cfg(test)]
#[path = "mds_tests.rs"]
mod tests;
