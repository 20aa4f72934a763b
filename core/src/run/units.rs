//! What a run keeps of each repository, so that a killed run resumes and
//! sharded runs merge into exactly one run's output.
//!
//! Every repository a worker finishes becomes one *unit*, `OUT/units/POSITION.jsonl.zst`
//! (POSITION: its place in the whole run's order, zero-padded), written under a
//! temporary name and renamed, so a unit is either whole or absent. It is
//! zstd-compressed (level 3: JSON text shrinks several times over, at a speed
//! far above the tokenizer's) and holds three lines: a [`UnitHeader`] (status, counters, the config fingerprint),
//! the trajectory's JSON line (or `null`) and the formatted document's segments
//! (or `null`). The outputs (`trajectories.jsonl`, `shards/`, `stats.json`,
//! `manifest.jsonl`) are assembled from the units in position order, so they do
//! not depend on thread timing, on interruptions, or on how the repositories
//! were split over machines. `OUT/units/run.json` ([`RunHead`]) records the
//! config fingerprint, the inputs and the part (`--shard K/N`) of the run.
//! A finished run's units can be removed ([`remove_units`]) when neither a
//! resume nor a merge will need them.

use crate::model::{Segment, Trajectory};
use crate::stats::{IngestStats, RunStats};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The units directory inside the output directory.
pub const UNITS_DIR: &str = "units";
/// The run description inside the units directory.
pub const RUN_FILE: &str = "run.json";
/// The manifest inside the output directory: one line per repository.
pub const MANIFEST_FILE: &str = "manifest.jsonl";

/// How a repository ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Every stage ran (what a stage skipped is counted in the stats).
    Done,
    /// No file was kept.
    Empty,
    /// A model-calling stage failed after its retries (or a component
    /// panicked); `run --resume` processes the repository again.
    Failed,
    /// Not taken on (`repo_too_large`: a piece of a repository over
    /// `input.max_repo_bytes` that cannot be split further).
    Skipped,
}

/// The first line of a unit.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UnitHeader {
    /// `repo2agent-unit`.
    pub format: String,
    /// 1.
    pub version: u32,
    /// The config's fingerprint ([`crate::config::RunConfig::fingerprint`]).
    pub fingerprint: String,
    /// Which repository, and how it ended (the manifest's line says the same).
    #[serde(flatten)]
    pub outcome: Outcome,
    /// This repository's counters and seconds.
    pub stats: RunStats,
}

/// A repository of a run and how it ended: in its unit's header and its
/// `manifest.jsonl` line.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcome {
    /// Place in the whole run's repository order.
    pub position: u64,
    /// For a piece of a split repository: its place among the pieces.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub part: Option<u32>,
    /// The repository's name.
    pub name: String,
    /// Its directory.
    pub root: PathBuf,
    /// How it ended.
    pub status: Status,
    /// Why it failed (`simulation: http_5xx`, `search: timeout`, `panic` …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Bytes of text kept.
    pub bytes: u64,
}

impl UnitHeader {
    fn check(&self, path: &Path) -> Result<(), UnitError> {
        if self.format != "repo2agent-unit" || self.version != 1 {
            return Err(UnitError::new(path, "not a repo2agent unit (format 1)"));
        }
        Ok(())
    }
}

/// One repository's output.
#[derive(Clone, Debug, PartialEq)]
pub struct Unit {
    /// Status and counters.
    pub header: UnitHeader,
    /// The trajectory as its `trajectories.jsonl` line.
    pub trajectory: Option<String>,
    /// The formatted document.
    pub segments: Option<Vec<Segment>>,
}

/// A unit file that cannot be read back.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {message}")]
pub struct UnitError {
    /// Which file.
    pub path: PathBuf,
    /// What is wrong.
    pub message: String,
}

impl UnitError {
    pub(crate) fn new(path: &Path, message: impl Into<String>) -> Self {
        Self {
            path: path.to_path_buf(),
            message: message.into(),
        }
    }
}

impl Unit {
    /// The file name of the unit at a position (and piece of a split repository).
    pub fn file_name(position: u64, part: Option<u32>) -> String {
        match part {
            None => format!("{position:08}.jsonl.zst"),
            Some(p) => format!("{position:08}.{p:04}.jsonl.zst"),
        }
    }

    /// The unit file's bytes: [`Unit::encode`] compressed.
    pub fn compress(encoded: &[u8]) -> std::io::Result<Vec<u8>> {
        zstd::bulk::compress(encoded, crate::shard::mds::DEFAULT_ZSTD_LEVEL)
    }

    /// The three lines.
    pub fn encode(&self) -> Result<Vec<u8>, serde_json::Error> {
        let mut out = serde_json::to_vec(&self.header)?;
        out.push(b'\n');
        match &self.trajectory {
            Some(line) => out.extend_from_slice(line.trim_end().as_bytes()),
            None => out.extend_from_slice(b"null"),
        }
        out.push(b'\n');
        serde_json::to_writer(&mut out, &self.segments)?;
        out.push(b'\n');
        Ok(out)
    }

    /// Writes the unit to its file through a [`UnitBody`] (never holding its
    /// bytes whole); returns the hash of its output ([`Unit::output_hash`]).
    pub fn write(&self, path: &Path) -> Result<String, crate::output::OutputError> {
        let mut body = UnitBody::create_with_line(path, self.trajectory.as_deref())?;
        if let Some(segments) = &self.segments {
            body.open_document();
            for s in segments {
                body.segment(s)?;
            }
        }
        body.finish(&self.header)
    }

    /// Reads the three lines back.
    pub fn decode(bytes: &[u8], path: &Path) -> Result<Unit, UnitError> {
        let text = std::str::from_utf8(bytes).map_err(|e| UnitError::new(path, e.to_string()))?;
        let mut lines = text.lines();
        let mut next = |what: &str| {
            lines
                .next()
                .ok_or_else(|| UnitError::new(path, format!("no {what} line")))
        };
        let header: UnitHeader =
            serde_json::from_str(next("header")?).map_err(|e| UnitError::new(path, format!("header: {e}")))?;
        header.check(path)?;
        let trajectory = match next("trajectory")? {
            "null" => None,
            line => Some(line.to_owned()),
        };
        let segments =
            serde_json::from_str(next("segments")?).map_err(|e| UnitError::new(path, format!("segments: {e}")))?;
        Ok(Unit {
            header,
            trajectory,
            segments,
        })
    }

    /// Reads only a unit file's header (its first line): what `resume` checks
    /// before reusing the unit, without decoding the document.
    pub fn read_header(path: &Path) -> Result<UnitHeader, UnitError> {
        let file = std::fs::File::open(path).map_err(|e| UnitError::new(path, e.to_string()))?;
        let decoder = zstd::stream::read::Decoder::new(file).map_err(|e| UnitError::new(path, e.to_string()))?;
        let mut line = String::new();
        std::io::BufRead::read_line(&mut std::io::BufReader::new(decoder), &mut line)
            .map_err(|e| UnitError::new(path, e.to_string()))?;
        let header: UnitHeader =
            serde_json::from_str(&line).map_err(|e| UnitError::new(path, format!("header: {e}")))?;
        header.check(path)?;
        Ok(header)
    }

    /// Copies a unit file's trajectory line (without its newline) to `out`
    /// as it is decompressed, never holding it whole; `false` when the unit
    /// has no trajectory (`null`).
    pub fn copy_trajectory(path: &Path, out: &mut impl std::io::Write) -> Result<bool, UnitError> {
        use std::io::{BufRead, Read};
        let err = |e: std::io::Error| UnitError::new(path, e.to_string());
        let file = std::fs::File::open(path).map_err(err)?;
        let mut r = std::io::BufReader::new(zstd::stream::read::Decoder::new(file).map_err(err)?);
        r.read_until(b'\n', &mut Vec::new()).map_err(err)?;
        // Every line is at least `null` and its newline long.
        let mut head = [0u8; 5];
        r.read_exact(&mut head).map_err(err)?;
        if &head == b"null\n" {
            return Ok(false);
        }
        if let Some(end) = head.iter().position(|b| *b == b'\n') {
            out.write_all(&head[..end]).map_err(err)?;
            return Ok(true);
        }
        out.write_all(&head).map_err(err)?;
        loop {
            let chunk = r.fill_buf().map_err(err)?;
            if chunk.is_empty() {
                return Err(UnitError::new(path, "the trajectory line has no end"));
            }
            let end = chunk.iter().position(|b| *b == b'\n');
            let part = &chunk[..end.unwrap_or(chunk.len())];
            out.write_all(part).map_err(err)?;
            let used = part.len() + usize::from(end.is_some());
            r.consume(used);
            if end.is_some() {
                return Ok(true);
            }
        }
    }

    /// Reads a unit file; returns it with the hash of its output ([`Unit::output_hash`]).
    pub fn read(path: &Path) -> Result<(Unit, String), UnitError> {
        let file = std::fs::read(path).map_err(|e| UnitError::new(path, e.to_string()))?;
        let bytes = zstd::stream::decode_all(&file[..])
            .map_err(|e| UnitError::new(path, format!("not a whole zstd stream: {e}")))?;
        let unit = Unit::decode(&bytes, path)?;
        Ok((unit, Unit::output_hash(&bytes)))
    }

    /// Hex SHA-256 of what the repository contributes to the dataset: the
    /// unit's bytes after its header line (trajectory and document). The
    /// header is left out because its seconds differ from run to run; the
    /// output does not.
    pub fn output_hash(bytes: &[u8]) -> String {
        let body = bytes
            .iter()
            .position(|b| *b == b'\n')
            .map_or(&bytes[..0], |i| &bytes[i + 1..]);
        crate::cache::CallCache::digest(body)
    }
}

/// A unit written while its document is formatted: the trajectory line and
/// then each segment go through zstd into a temporary file, hashed as they
/// pass, so the document is never held whole; [`UnitBody::finish`] puts the
/// header (known only at the end) in front as a zstd frame of its own. The
/// file decodes to exactly [`Unit::encode`]'s bytes.
pub struct UnitBody {
    path: PathBuf,
    tmp: PathBuf,
    out: BodyHash<zstd::stream::write::Encoder<'static, std::io::BufWriter<std::fs::File>>>,
    /// Segments written so far; `None` until the document is opened.
    segments: Option<usize>,
}

impl std::fmt::Debug for UnitBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UnitBody")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl UnitBody {
    /// Starts the unit file `path` (under a temporary name) with the
    /// trajectory's line, serialized straight into it (never held as a
    /// string). Starting again discards what was written. A trajectory that
    /// cannot be serialized is an error of kind `InvalidData`.
    pub fn create(path: &Path, trajectory: Option<&Trajectory>) -> Result<Self, crate::output::OutputError> {
        Self::start(path, |out| match trajectory {
            Some(t) => serde_json::to_writer(out, t).map_err(std::io::Error::from),
            None => out.write_all(b"null"),
        })
    }

    /// [`UnitBody::create`] with the trajectory's line given as text.
    pub fn create_with_line(path: &Path, line: Option<&str>) -> Result<Self, crate::output::OutputError> {
        Self::start(path, |out| out.write_all(line.map_or("null", str::trim_end).as_bytes()))
    }

    fn start(
        path: &Path,
        line: impl FnOnce(&mut dyn std::io::Write) -> std::io::Result<()>,
    ) -> Result<Self, crate::output::OutputError> {
        use std::io::Write;
        let tmp = path.with_extension(format!("body.tmp.{}", std::process::id()));
        let io = |source| crate::output::OutputError {
            path: tmp.clone(),
            source,
        };
        let file = std::fs::File::create(&tmp).map_err(io)?;
        let encoder =
            zstd::stream::write::Encoder::new(std::io::BufWriter::new(file), crate::shard::mds::DEFAULT_ZSTD_LEVEL)
                .map_err(io)?;
        let mut out = BodyHash::new(encoder);
        line(&mut out).and_then(|()| out.write_all(b"\n")).map_err(io)?;
        Ok(Self {
            path: path.to_path_buf(),
            tmp,
            out,
            segments: None,
        })
    }

    /// Appends one segment of the document.
    pub fn segment(&mut self, segment: &Segment) -> Result<(), crate::output::OutputError> {
        use std::io::Write;
        let n = self.segments.get_or_insert(0);
        let sep: &[u8] = if *n == 0 { b"[" } else { b"," };
        *n += 1;
        self.out
            .write_all(sep)
            .and_then(|()| serde_json::to_writer(&mut self.out, segment).map_err(std::io::Error::from))
            .map_err(|source| crate::output::OutputError {
                path: self.tmp.clone(),
                source,
            })
    }

    /// Opens the document (a document of no segments is still one).
    pub fn open_document(&mut self) {
        self.segments.get_or_insert(0);
    }

    /// Closes the file with `header` in front and renames it into place;
    /// returns the hash of its output ([`Unit::output_hash`]).
    pub fn finish(mut self, header: &UnitHeader) -> Result<String, crate::output::OutputError> {
        use std::io::Write;
        let tmp = self.tmp.clone();
        let io = |source| crate::output::OutputError {
            path: tmp.clone(),
            source,
        };
        let end: &[u8] = match self.segments {
            None => b"null\n",
            Some(0) => b"[]\n",
            Some(_) => b"]\n",
        };
        self.out.write_all(end).map_err(io)?;
        let hash = self.out.hex();
        let mut file = self.out.inner.finish().map_err(io)?;
        file.flush().map_err(io)?;
        drop(file);
        let mut head = serde_json::to_vec(header).map_err(|e| io(e.into()))?;
        head.push(b'\n');
        let head = zstd::bulk::compress(&head, crate::shard::mds::DEFAULT_ZSTD_LEVEL).map_err(io)?;
        let mut unit = crate::output::AtomicFile::create(self.path.clone())?;
        unit.write(&head)?;
        let mut body = std::fs::File::open(&self.tmp).map_err(io)?;
        std::io::copy(&mut body, &mut unit).map_err(io)?;
        unit.finish()?;
        std::fs::remove_file(&self.tmp).map_err(io)?;
        Ok(hash)
    }
}

/// A writer that hashes what passes through it.
struct BodyHash<W> {
    inner: W,
    sha: sha2::Sha256,
}

impl<W> BodyHash<W> {
    fn new(inner: W) -> Self {
        Self {
            inner,
            sha: sha2::Digest::new(),
        }
    }

    /// The hex digest of everything written so far.
    fn hex(&self) -> String {
        sha2::Digest::finalize(self.sha.clone())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

impl<W: std::io::Write> std::io::Write for BodyHash<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        sha2::Digest::update(&mut self.sha, &buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// `units/run.json`: what a run (or one worker of a sharded run) was asked to do.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunHead {
    /// `repo2agent-run`.
    pub format: String,
    /// 1.
    pub version: u32,
    /// The config's fingerprint.
    pub fingerprint: String,
    /// `input.repos` as given.
    pub inputs: Vec<String>,
    /// Repositories the inputs expand to (all parts together).
    pub repos: u64,
    /// `K/N` of a sharded run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition: Option<String>,
    /// The counters of expanding the inputs (not of any one repository).
    pub ingest: IngestStats,
}

impl RunHead {
    /// Reads `units/run.json` of an output directory.
    pub fn read(out: &Path) -> Result<RunHead, UnitError> {
        let path = out.join(UNITS_DIR).join(RUN_FILE);
        let bytes = std::fs::read(&path).map_err(|e| UnitError::new(&path, e.to_string()))?;
        serde_json::from_slice(&bytes).map_err(|e| UnitError::new(&path, e.to_string()))
    }
}

/// One line of `manifest.jsonl`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestEntry {
    /// Which repository, and how it ended.
    #[serde(flatten)]
    pub outcome: Outcome,
    /// Hex SHA-256 of its output: trajectory and document ([`Unit::output_hash`]).
    pub sha256: String,
    /// The unit file, relative to the output directory it was written in.
    pub unit: String,
}

impl ManifestEntry {
    /// Reads `manifest.jsonl` of an output directory.
    pub fn read_all(out: &Path) -> Result<Vec<ManifestEntry>, UnitError> {
        let path = out.join(MANIFEST_FILE);
        let text = std::fs::read_to_string(&path).map_err(|e| UnitError::new(&path, e.to_string()))?;
        text.lines()
            .enumerate()
            .map(|(i, l)| serde_json::from_str(l).map_err(|e| UnitError::new(&path, format!("line {}: {e}", i + 1))))
            .collect()
    }
}

/// Removes the units of a finished run (`run --keep-units=false`,
/// `repo2agent clean`): the outputs stay whole, but `run --resume` then starts
/// over and the directory can no longer be merged as a part. Refused while
/// the run has not finished (no `manifest.jsonl`): its units are what a
/// resume continues from. Returns the bytes freed, `None` when there were no
/// units.
pub fn remove_units(out: &Path) -> Result<Option<u64>, UnitError> {
    let manifest = out.join(MANIFEST_FILE);
    if !manifest.is_file() {
        return Err(UnitError::new(
            &manifest,
            "missing: the run has not finished, and `run --resume` continues from its units; nothing removed",
        ));
    }
    let units = out.join(UNITS_DIR);
    if !units.exists() {
        return Ok(None);
    }
    let mut freed = 0;
    let entries = std::fs::read_dir(&units).map_err(|e| UnitError::new(&units, e.to_string()))?;
    for entry in entries.flatten() {
        freed += entry.metadata().map_or(0, |m| m.len());
    }
    std::fs::remove_dir_all(&units).map_err(|e| UnitError::new(&units, e.to_string()))?;
    Ok(Some(freed))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Role;

    #[test]
    fn a_unit_reads_back_byte_for_byte() {
        let unit = Unit {
            header: UnitHeader {
                format: "repo2agent-unit".into(),
                version: 1,
                fingerprint: "f".into(),
                outcome: Outcome {
                    position: 7,
                    part: None,
                    name: "r".into(),
                    root: "/x/r".into(),
                    status: Status::Failed,
                    reason: Some("simulation: http_500".into()),
                    bytes: 3,
                },
                stats: RunStats::default(),
            },
            trajectory: Some("{\"a\":\"line\\nbreak\"}".into()),
            segments: Some(vec![Segment {
                text: "fn x() {}\n".into(),
                role: Role::Code,
            }]),
        };
        let bytes = unit.encode().unwrap();
        assert_eq!(bytes.iter().filter(|b| **b == b'\n').count(), 3);
        let back = Unit::decode(&bytes, Path::new("u")).unwrap();
        assert_eq!(back, unit);
        assert_eq!(back.encode().unwrap(), bytes);
        // On disk, compressed: the header alone, or the whole unit and the
        // hash of its output (the plain bytes after the header).
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(Unit::file_name(7, None));
        let file = Unit::compress(&bytes).unwrap();
        assert!(file.len() < bytes.len(), "{} vs {}", file.len(), bytes.len());
        std::fs::write(&path, &file).unwrap();
        assert_eq!(Unit::read_header(&path).unwrap(), unit.header);
        let (read, sha) = Unit::read(&path).unwrap();
        assert_eq!((read, sha), (unit.clone(), Unit::output_hash(&bytes)));
        std::fs::write(&path, &file[..file.len() - 3]).unwrap();
        let err = Unit::read(&path).unwrap_err().to_string();
        assert!(err.contains("not a whole zstd stream"), "{err}");
        // Written as it is encoded: the same unit back, the same hash.
        let streamed = dir.path().join(Unit::file_name(8, None));
        let sha = unit.write(&streamed).unwrap();
        assert_eq!(sha, Unit::output_hash(&bytes));
        assert_eq!(Unit::read(&streamed).unwrap(), (unit.clone(), sha));
        // Written segment by segment, the header last: the same unit, the same hash.
        let piecewise = dir.path().join(Unit::file_name(9, None));
        let mut body = UnitBody::create_with_line(&piecewise, unit.trajectory.as_deref()).unwrap();
        for s in unit.segments.as_ref().unwrap() {
            body.segment(s).unwrap();
        }
        assert_eq!(body.finish(&unit.header).unwrap(), Unit::output_hash(&bytes));
        assert_eq!(
            Unit::read(&piecewise).unwrap(),
            (unit.clone(), Unit::output_hash(&bytes))
        );
        assert_eq!(Unit::read_header(&piecewise).unwrap(), unit.header);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 3, "no temporary left");
        let mut line = Vec::new();
        assert!(Unit::copy_trajectory(&piecewise, &mut line).unwrap());
        assert_eq!(line, unit.trajectory.as_deref().unwrap().as_bytes());
        let empty = Unit {
            trajectory: None,
            segments: None,
            ..unit.clone()
        };
        assert_eq!(Unit::decode(&empty.encode().unwrap(), Path::new("u")).unwrap(), empty);
        // No document, and a document of no segments.
        for segments in [None, Some(Vec::new())] {
            let u = Unit {
                trajectory: None,
                segments,
                ..unit.clone()
            };
            let mut body = UnitBody::create_with_line(&piecewise, None).unwrap();
            if u.segments.is_some() {
                body.open_document();
            }
            let sha = body.finish(&u.header).unwrap();
            assert_eq!(
                Unit::read(&piecewise).unwrap(),
                (u.clone(), Unit::output_hash(&u.encode().unwrap()))
            );
            assert_eq!(sha, Unit::output_hash(&u.encode().unwrap()));
            assert!(!Unit::copy_trajectory(&piecewise, &mut Vec::new()).unwrap());
        }
        // A trajectory serialized straight into the unit reads back as its line.
        let t = crate::model::Trajectory {
            repo: "r".into(),
            seed: 1,
            policy: "template".into(),
            main: crate::model::Episode {
                agent: crate::model::AgentId::main(),
                task: "t".into(),
                steps: Vec::new(),
            },
            search: None,
            evaluation: None,
        };
        UnitBody::create(&piecewise, Some(&t))
            .unwrap()
            .finish(&unit.header)
            .unwrap();
        let mut line = Vec::new();
        assert!(Unit::copy_trajectory(&piecewise, &mut line).unwrap());
        assert_eq!(String::from_utf8(line).unwrap(), t.to_json_line().unwrap());
        let cut = &bytes[..bytes.len() / 2];
        assert!(Unit::decode(cut, Path::new("u")).is_err());
    }
}
