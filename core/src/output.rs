//! Output files: their names, and writing them so that a reader sees either
//! the old or the whole new content (a temporary name, renamed into place).
//!
//! A leaf of the crate: the run, the shard writer, `merge`, the ablation and
//! the trainer write through it, and it depends on none of them.

use std::io::Write;
use std::path::{Path, PathBuf};

/// The shard directory inside the output directory.
pub const SHARD_DIR: &str = "shards";
/// The trajectories inside the output directory, one JSON line each.
pub const TRAJECTORIES_FILE: &str = "trajectories.jsonl";
/// The same, zstd-compressed (`output.trajectories_compression`).
pub const TRAJECTORIES_ZSTD_FILE: &str = "trajectories.jsonl.zst";

/// An output could not be written.
#[derive(Debug, thiserror::Error)]
#[error("cannot write {path}: {source}")]
pub struct OutputError {
    /// What.
    pub path: PathBuf,
    /// Why.
    pub source: std::io::Error,
}

/// For `map_err`: an I/O (or serialization) error on `path`.
fn io<E: Into<std::io::Error>>(path: &Path) -> impl FnOnce(E) -> OutputError + '_ {
    move |e| OutputError {
        path: path.to_path_buf(),
        source: e.into(),
    }
}

/// A file written under a temporary name and renamed into place by `finish`.
pub struct AtomicFile {
    path: PathBuf,
    tmp: PathBuf,
    out: Sink,
}

impl std::fmt::Debug for AtomicFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AtomicFile")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// Where an [`AtomicFile`]'s bytes go: the file, or a zstd stream into it.
enum Sink {
    Plain(std::io::BufWriter<std::fs::File>),
    Zstd(zstd::stream::write::Encoder<'static, std::io::BufWriter<std::fs::File>>),
}

impl std::io::Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match &mut self.out {
            Sink::Plain(w) => w.write(buf),
            Sink::Zstd(w) => w.write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match &mut self.out {
            Sink::Plain(w) => w.flush(),
            Sink::Zstd(w) => w.flush(),
        }
    }
}

impl AtomicFile {
    /// A plain file.
    pub fn create(path: PathBuf) -> Result<Self, OutputError> {
        Self::create_zstd(path, None)
    }

    /// With a zstd level, the file is one zstd stream.
    pub fn create_zstd(path: PathBuf, zstd_level: Option<i32>) -> Result<Self, OutputError> {
        let tmp = path.with_extension(format!("tmp.{}", std::process::id()));
        let file = std::fs::File::create(&tmp).map_err(io(&tmp))?;
        let file = std::io::BufWriter::new(file);
        let out = match zstd_level {
            None => Sink::Plain(file),
            Some(level) => Sink::Zstd(zstd::stream::write::Encoder::new(file, level).map_err(io(&tmp))?),
        };
        Ok(Self { path, tmp, out })
    }

    /// Appends bytes.
    pub fn write(&mut self, bytes: &[u8]) -> Result<(), OutputError> {
        match &mut self.out {
            Sink::Plain(w) => w.write_all(bytes),
            Sink::Zstd(w) => w.write_all(bytes),
        }
        .map_err(io(&self.tmp))
    }

    /// Appends a line.
    pub fn line(&mut self, text: &str) -> Result<(), OutputError> {
        self.write(text.as_bytes())?;
        self.write(b"\n")
    }

    /// Flushes and renames the file into place; returns its path.
    pub fn finish(self) -> Result<PathBuf, OutputError> {
        let mut file = match self.out {
            Sink::Plain(w) => w,
            Sink::Zstd(w) => w.finish().map_err(io(&self.tmp))?,
        };
        file.flush().map_err(io(&self.path))?;
        std::fs::rename(&self.tmp, &self.path).map_err(io(&self.path))?;
        Ok(self.path)
    }
}

/// Writes a file so that readers see either the old or the whole new content.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), OutputError> {
    let mut file = AtomicFile::create(path.to_path_buf())?;
    file.write(bytes)?;
    file.finish().map(drop)
}

/// [`write_atomic`] of `value` as pretty JSON.
pub fn write_json(path: &Path, value: &impl serde::Serialize) -> Result<(), OutputError> {
    let json = serde_json::to_vec_pretty(value).map_err(io(path))?;
    write_atomic(path, &json)
}

/// Opens a trajectories file for reading lines, plain or zstd-compressed
/// (told by its first bytes, whatever its name).
pub fn open_trajectories(path: &Path) -> std::io::Result<Box<dyn std::io::BufRead>> {
    use std::io::BufRead;
    let mut file = std::io::BufReader::new(std::fs::File::open(path)?);
    let zstd = file.fill_buf()?.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]);
    Ok(if zstd {
        Box::new(std::io::BufReader::new(zstd::stream::read::Decoder::with_buffer(file)?))
    } else {
        Box::new(file)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_appears_whole_and_compressed_ones_read_back() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("a.json");
        write_json(&path, &serde_json::json!({"a": 1})).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "{\n  \"a\": 1\n}");
        let z = tmp.path().join("t.jsonl.zst");
        let mut f = AtomicFile::create_zstd(z.clone(), Some(3)).unwrap();
        f.line("one").unwrap();
        assert!(!z.exists(), "not in place before finish");
        f.line("two").unwrap();
        assert_eq!(f.finish().unwrap(), z);
        let lines: Vec<String> = std::io::BufRead::lines(open_trajectories(&z).unwrap())
            .map(Result::unwrap)
            .collect();
        assert_eq!(lines, ["one", "two"]);
        assert_eq!(
            std::fs::read_dir(tmp.path()).unwrap().count(),
            2,
            "no temporary file left"
        );
        let err = write_atomic(&tmp.path().join("missing/x"), b"x").unwrap_err();
        assert!(err.to_string().starts_with("cannot write "), "{err}");
    }
}
