//! Export to Megatron-LM's indexed dataset (`.bin` + `.idx`, "MMIDIDX" version 1),
//! plus a parallel loss-mask dataset with the same sequence lengths and
//! document indices: `PREFIX.bin/.idx` (tokens, `uint16` when the vocabulary
//! fits under 65,500 as Megatron's preprocessing chooses, else `int32`) and
//! `PREFIX_loss_mask.bin/.idx` (`uint8`, the shards' `mask`).
//!
//! Each `[start, end)` range of a sample's `indices` (a document, or a chunk of
//! a split one) becomes one sequence and one document; padding is left out,
//! since Megatron packs sequences itself.

use super::ShardError;
use super::mds::MdsReader;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The magic bytes at the start of an `.idx` file.
pub const IDX_MAGIC: &[u8; 9] = b"MMIDIDX\x00\x00";

/// Megatron's dtype codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum DType {
    /// `uint8`.
    U8 = 1,
    /// `int32`.
    I32 = 4,
    /// `uint16`.
    U16 = 8,
}

impl DType {
    /// Bytes per item.
    pub fn size(self) -> usize {
        match self {
            DType::U8 => 1,
            DType::U16 => 2,
            DType::I32 => 4,
        }
    }

    /// What Megatron's preprocessing picks for a vocabulary.
    pub fn for_vocab(vocab_size: u32) -> DType {
        if vocab_size < 65_500 { DType::U16 } else { DType::I32 }
    }
}

/// What an export wrote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Exported {
    /// The token dataset's `.bin` and `.idx`.
    pub tokens: (PathBuf, PathBuf),
    /// The loss-mask dataset's `.bin` and `.idx`.
    pub loss_mask: (PathBuf, PathBuf),
    /// Sequences (= documents) written.
    pub sequences: u64,
    /// Tokens written.
    pub tokens_written: u64,
}

struct Out {
    bin: PathBuf,
    idx: PathBuf,
    dtype: DType,
    w: std::io::BufWriter<std::fs::File>,
}

impl Out {
    fn create(prefix: &Path, suffix: &str, dtype: DType) -> Result<Self, ShardError> {
        let name = prefix
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let bin = prefix.with_file_name(format!("{name}{suffix}.bin"));
        let idx = prefix.with_file_name(format!("{name}{suffix}.idx"));
        let f = std::fs::File::create(&bin).map_err(ShardError::io(&bin))?;
        Ok(Self {
            bin,
            idx,
            dtype,
            w: std::io::BufWriter::new(f),
        })
    }

    fn finish(mut self, lengths: &[i32]) -> Result<(PathBuf, PathBuf), ShardError> {
        self.w.flush().map_err(ShardError::io(&self.bin))?;
        let mut idx = Vec::with_capacity(34 + lengths.len() * 20);
        idx.extend_from_slice(IDX_MAGIC);
        idx.extend_from_slice(&1u64.to_le_bytes());
        idx.push(self.dtype as u8);
        idx.extend_from_slice(&(lengths.len() as u64).to_le_bytes());
        idx.extend_from_slice(&(lengths.len() as u64 + 1).to_le_bytes());
        for l in lengths {
            idx.extend_from_slice(&l.to_le_bytes());
        }
        let mut ptr = 0i64;
        for l in lengths {
            idx.extend_from_slice(&ptr.to_le_bytes());
            ptr += i64::from(*l) * self.dtype.size() as i64;
        }
        for d in 0..=lengths.len() as i64 {
            idx.extend_from_slice(&d.to_le_bytes());
        }
        std::fs::write(&self.idx, idx).map_err(ShardError::io(&self.idx))?;
        Ok((self.bin, self.idx))
    }
}

/// Exports every document range of the shards at `reader` to `prefix`.
pub fn export(reader: &MdsReader, prefix: &Path, vocab_size: u32) -> Result<Exported, ShardError> {
    if let Some(parent) = prefix.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(ShardError::io(parent))?;
    }
    let dtype = DType::for_vocab(vocab_size);
    let mut tokens = Out::create(prefix, "", dtype)?;
    let mut mask = Out::create(prefix, "_loss_mask", DType::U8)?;
    let mut lengths: Vec<i32> = Vec::new();
    let mut written = 0u64;
    for shard in 0..reader.index().shards.len() {
        for s in reader.shard_samples(shard)? {
            for [a, b] in &s.indices {
                let (a, b) = (*a as usize, *b as usize);
                let ids = s
                    .input_ids
                    .get(a..b)
                    .ok_or_else(|| ShardError::format(prefix, format!("document range {a}..{b} out of its sample")))?;
                let mut buf = Vec::with_capacity(ids.len() * dtype.size());
                for &id in ids {
                    match dtype {
                        DType::U16 => buf.extend_from_slice(&(id as u16).to_le_bytes()),
                        _ => buf.extend_from_slice(&(id as i32).to_le_bytes()),
                    }
                }
                tokens.w.write_all(&buf).map_err(ShardError::io(&tokens.bin))?;
                mask.w.write_all(&s.mask[a..b]).map_err(ShardError::io(&mask.bin))?;
                lengths.push((b - a) as i32);
                written += (b - a) as u64;
            }
        }
    }
    Ok(Exported {
        tokens: tokens.finish(&lengths)?,
        loss_mask: mask.finish(&lengths)?,
        sequences: lengths.len() as u64,
        tokens_written: written,
    })
}

/// A parsed `.idx` file (for tests and checks).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdxFile {
    /// The dtype code.
    pub dtype: u8,
    /// Length of each sequence.
    pub sequence_lengths: Vec<i32>,
    /// Byte offset of each sequence in the `.bin`.
    pub sequence_pointers: Vec<i64>,
    /// Sequence index where each document starts, then the total.
    pub document_indices: Vec<i64>,
}

/// Reads an `.idx` file.
pub fn read_idx(path: &Path) -> Result<IdxFile, ShardError> {
    let b = std::fs::read(path).map_err(ShardError::io(path))?;
    let bad = |m: &str| ShardError::format(path, m.to_owned());
    if b.len() < 34 || &b[..9] != IDX_MAGIC {
        return Err(bad("not a Megatron .idx file"));
    }
    let u64_at = |at: usize| u64::from_le_bytes(b[at..at + 8].try_into().unwrap_or([0; 8]));
    if u64_at(9) != 1 {
        return Err(bad("unsupported .idx version"));
    }
    let dtype = b[17];
    let n = u64_at(18) as usize;
    let d = u64_at(26) as usize;
    let need = 34 + n * 4 + n * 8 + d * 8;
    if b.len() < need {
        return Err(bad("truncated .idx"));
    }
    let mut at = 34;
    let sequence_lengths = (0..n)
        .map(|i| i32::from_le_bytes(b[at + 4 * i..at + 4 * i + 4].try_into().unwrap_or([0; 4])))
        .collect();
    at += n * 4;
    let sequence_pointers = (0..n).map(|i| u64_at(at + 8 * i) as i64).collect();
    at += n * 8;
    let document_indices = (0..d).map(|i| u64_at(at + 8 * i) as i64).collect();
    Ok(IdxFile {
        dtype,
        sequence_lengths,
        sequence_pointers,
        document_indices,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shard::mds::{DEFAULT_SIZE_LIMIT, MdsWriter};
    use crate::shard::pack::Sequence;

    fn seq(ids: Vec<u32>, docs: &[u32], len: usize) -> Sequence {
        let mut s = Sequence::default();
        let mut at = 0;
        for d in docs {
            s.indices.push([at, at + d]);
            at += d;
        }
        s.length = at;
        s.weights = (0..len)
            .map(|i| if (i as u32) < at && i % 2 == 0 { 1.0 } else { 0.0 })
            .collect();
        s.roles = vec![5; len];
        s.input_ids = ids;
        s
    }

    #[test]
    fn idx_layout_and_parallel_mask() {
        let dir = tempfile::tempdir().unwrap();
        let shards = dir.path().join("shards");
        let mut w = MdsWriter::new(&shards, DEFAULT_SIZE_LIMIT, false).unwrap();
        w.write(&seq((1..=8).collect(), &[3, 4], 8)).unwrap(); // one padding token
        w.write(&seq((11..=18).collect(), &[8], 8)).unwrap();
        w.finish().unwrap();
        let r = MdsReader::open(&shards).unwrap();
        for (vocab, dtype, size) in [(1000, DType::U16, 2usize), (128_256, DType::I32, 4)] {
            let prefix = dir.path().join(format!("mega{vocab}/data"));
            let e = export(&r, &prefix, vocab).unwrap();
            assert_eq!((e.sequences, e.tokens_written), (3, 15));
            let idx = read_idx(&e.tokens.1).unwrap();
            assert_eq!(idx.dtype, dtype as u8);
            assert_eq!(idx.sequence_lengths, vec![3, 4, 8]);
            let s = size as i64;
            assert_eq!(idx.sequence_pointers, vec![0, 3 * s, 7 * s]);
            assert_eq!(idx.document_indices, vec![0, 1, 2, 3]);
            let bin = std::fs::read(&e.tokens.0).unwrap();
            assert_eq!(bin.len(), 15 * size);
            let ids: Vec<u32> = bin
                .chunks(size)
                .map(|c| {
                    if size == 2 {
                        u32::from(u16::from_le_bytes([c[0], c[1]]))
                    } else {
                        u32::from_le_bytes([c[0], c[1], c[2], c[3]])
                    }
                })
                .collect();
            assert_eq!(ids, [1, 2, 3, 4, 5, 6, 7, 11, 12, 13, 14, 15, 16, 17, 18]);
            let midx = read_idx(&e.loss_mask.1).unwrap();
            assert_eq!(midx.dtype, DType::U8 as u8);
            assert_eq!(midx.sequence_lengths, idx.sequence_lengths);
            assert_eq!(midx.document_indices, idx.document_indices);
            assert_eq!(midx.sequence_pointers, vec![0, 3, 7]);
            let mask = std::fs::read(&e.loss_mask.0).unwrap();
            assert_eq!(mask, [1, 0, 1, 0, 1, 0, 1, 1, 0, 1, 0, 1, 0, 1, 0]);
            assert!(e.loss_mask.1.to_string_lossy().ends_with("data_loss_mask.idx"));
        }
        assert!(read_idx(&dir.path().join("shards/index.json")).is_err());
    }
}
