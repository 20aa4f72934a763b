//! GGUF files, llama.cpp's model format: header, metadata and tensor table
//! parsed without loading tensor data, and tensors dequantized to `f32` exactly
//! as ggml's reference `dequantize_row_*` (ggml-quants.c) does.
//!
//! Layout (little-endian, versions 2 and 3): magic `GGUF`, version `u32`, tensor
//! count `u64`, metadata count `u64`; the metadata entries (key string, value
//! type `u32`, value); one entry per tensor (name, `n_dims: u32`, `dims: [u64]`
//! with `dims[0]` the fastest-varying, ggml type `u32`, offset `u64` into the
//! data section); then the data section, starting at the next multiple of
//! `general.alignment` (32 when absent). Strings are a `u64` length and UTF-8.
//!
//! Every length and count is checked against the bytes left in the file before
//! anything is allocated, so a truncated or corrupt file is a [`GgufError`],
//! never a panic or an allocation the file cannot back. Dequantized types: F32,
//! F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q4_K, Q5_K, Q6_K, Q8_K; tensors of
//! other ggml types are listed (their sizes are known) but reading them as `f32`
//! is [`GgufError::Unsupported`].

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

mod quant;
#[cfg(test)]
mod tests;

pub use quant::{GgmlType, QK_K, bf16_to_f32, dequantize, f16_to_f32};

/// Data-section alignment when the file has no `general.alignment`.
pub const DEFAULT_ALIGNMENT: u64 = 32;
/// Most dimensions a ggml tensor has (`GGML_MAX_DIMS`).
pub const MAX_DIMS: usize = 4;
/// Deepest nesting of metadata arrays accepted (arrays of arrays of ...).
const MAX_ARRAY_DEPTH: usize = 8;

/// Why a GGUF file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum GgufError {
    /// The file could not be opened or read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The bytes are not a valid GGUF file (bad magic, unsupported version,
    /// truncated, unknown type, size mismatch, ...).
    #[error("invalid GGUF: {0}")]
    Format(String),
    /// Valid GGUF, but a feature this reader does not implement (a
    /// quantization type it cannot dequantize).
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// A tensor or metadata key that the file does not have.
    #[error("missing: {0}")]
    Missing(String),
}

/// One metadata value, tagged with its GGUF value type.
#[derive(Clone, Debug, PartialEq)]
pub enum MetaValue {
    /// Type 0.
    U8(u8),
    /// Type 1.
    I8(i8),
    /// Type 2.
    U16(u16),
    /// Type 3.
    I16(i16),
    /// Type 4.
    U32(u32),
    /// Type 5.
    I32(i32),
    /// Type 6.
    F32(f32),
    /// Type 7 (one byte; non-zero is true).
    Bool(bool),
    /// Type 8.
    String(String),
    /// Type 9: element type, count, elements (all of one type).
    Array(Vec<MetaValue>),
    /// Type 10.
    U64(u64),
    /// Type 11.
    I64(i64),
    /// Type 12.
    F64(f64),
}

impl MetaValue {
    /// The value as an unsigned integer: any integer type holding a value `>= 0`.
    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            MetaValue::U8(v) => Some(v.into()),
            MetaValue::U16(v) => Some(v.into()),
            MetaValue::U32(v) => Some(v.into()),
            MetaValue::U64(v) => Some(v),
            MetaValue::I8(v) => u64::try_from(v).ok(),
            MetaValue::I16(v) => u64::try_from(v).ok(),
            MetaValue::I32(v) => u64::try_from(v).ok(),
            MetaValue::I64(v) => u64::try_from(v).ok(),
            _ => None,
        }
    }

    /// The value as a signed integer: any integer type whose value fits `i64`.
    pub fn as_i64(&self) -> Option<i64> {
        match *self {
            MetaValue::I8(v) => Some(v.into()),
            MetaValue::I16(v) => Some(v.into()),
            MetaValue::I32(v) => Some(v.into()),
            MetaValue::I64(v) => Some(v),
            _ => self.as_u64().and_then(|v| i64::try_from(v).ok()),
        }
    }

    /// The value as a float: `f32`, `f64`, or an integer (converted; 64-bit
    /// integers beyond 2^53 round).
    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            MetaValue::F32(v) => Some(v.into()),
            MetaValue::F64(v) => Some(v),
            MetaValue::U8(v) => Some(v.into()),
            MetaValue::I8(v) => Some(v.into()),
            MetaValue::U16(v) => Some(v.into()),
            MetaValue::I16(v) => Some(v.into()),
            MetaValue::U32(v) => Some(v.into()),
            MetaValue::I32(v) => Some(v.into()),
            MetaValue::U64(v) => Some(v as f64),
            MetaValue::I64(v) => Some(v as f64),
            _ => None,
        }
    }

    /// The value as a string, for type 8.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            MetaValue::String(s) => Some(s),
            _ => None,
        }
    }

    /// The value as a bool, for type 7.
    pub fn as_bool(&self) -> Option<bool> {
        match *self {
            MetaValue::Bool(b) => Some(b),
            _ => None,
        }
    }

    /// The elements, for type 9.
    pub fn as_array(&self) -> Option<&[MetaValue]> {
        match self {
            MetaValue::Array(v) => Some(v),
            _ => None,
        }
    }
}

/// One entry of the tensor table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TensorInfo {
    /// The tensor's name (`blk.0.attn_q.weight`).
    pub name: String,
    /// Dimensions in GGUF order: `dims[0]` (ggml's `ne0`) varies fastest, so
    /// the row-major (numpy) shape is `dims` reversed.
    pub dims: Vec<u64>,
    /// How the elements are stored.
    pub ggml_type: GgmlType,
    /// Byte offset of the data, relative to the start of the data section.
    pub offset: u64,
}

impl TensorInfo {
    /// Number of elements (the product of `dims`; saturates on overflow, which
    /// [`GgufFile::open`] rejects).
    pub fn n_elements(&self) -> u64 {
        self.dims.iter().fold(1u64, |n, &d| n.saturating_mul(d))
    }

    /// The row-major shape, slowest dimension first (`dims` reversed).
    pub fn shape(&self) -> Vec<u64> {
        self.dims.iter().rev().copied().collect()
    }

    /// Bytes of the tensor's data; `None` when its type or element count does
    /// not give a whole number of blocks (rejected by [`GgufFile::open`]).
    pub fn n_bytes(&self) -> Option<u64> {
        self.ggml_type.bytes_for(self.n_elements())
    }
}

/// An opened GGUF file: its header, metadata and tensor table. Tensor data
/// stays on disk until [`GgufFile::read_f32`] or [`GgufFile::read_raw`].
#[derive(Clone, Debug)]
pub struct GgufFile {
    /// Format version (2 or 3).
    pub version: u32,
    /// Metadata entries by key.
    pub metadata: BTreeMap<String, MetaValue>,
    /// The tensor table, in file order.
    pub tensors: Vec<TensorInfo>,
    path: PathBuf,
    alignment: u64,
    data_offset: u64,
    by_name: BTreeMap<String, usize>,
}

impl GgufFile {
    /// Parses the header, metadata and tensor table of `path` and checks that
    /// every tensor's data lies inside the file. Reads no tensor data.
    pub fn open(path: &Path) -> Result<Self, GgufError> {
        let io = |source| GgufError::Io {
            path: path.to_path_buf(),
            source,
        };
        let file = File::open(path).map_err(io)?;
        let len = file.metadata().map_err(io)?.len();
        let mut r = Reader {
            inner: BufReader::with_capacity(1 << 16, file),
            pos: 0,
            len,
            path,
        };
        Self::parse(&mut r).map_err(|e| match e {
            GgufError::Format(msg) => GgufError::Format(format!("{}: {msg}", path.display())),
            e => e,
        })
    }

    fn parse(r: &mut Reader<'_>) -> Result<Self, GgufError> {
        let magic: [u8; 4] = r.array("the magic")?;
        if &magic != b"GGUF" {
            return Err(format_err(format!("bad magic {magic:02x?} (expected \"GGUF\")")));
        }
        let version = r.u32("the version")?;
        match version {
            2 | 3 => {}
            1 => return Err(format_err("GGUF version 1 (32-bit counts) is not supported".into())),
            v if (1..=3).contains(&v.swap_bytes()) => {
                return Err(format_err("big-endian GGUF is not supported".into()));
            }
            v => return Err(format_err(format!("unsupported GGUF version {v} (supported: 2, 3)"))),
        }
        let n_tensors = r.u64("the tensor count")?;
        let n_kv = r.u64("the metadata count")?;
        // The smallest entries: key length + type + a one-byte value; name
        // length + n_dims + type + offset.
        r.check_count(n_kv, 13, "metadata entries")?;
        r.check_count(n_tensors, 24, "tensors")?;

        let mut metadata = BTreeMap::new();
        for i in 0..n_kv {
            let key = r.string(&format!("the key of metadata entry {i}"))?;
            let ty = r.u32(&format!("the type of '{key}'"))?;
            let value = r.value(ty, &key, 0)?;
            if metadata.insert(key.clone(), value).is_some() {
                return Err(format_err(format!("duplicate metadata key '{key}'")));
            }
        }

        let mut tensors = Vec::with_capacity(usize::try_from(n_tensors).unwrap_or(0).min(1 << 16));
        let mut by_name = BTreeMap::new();
        for i in 0..n_tensors {
            let name = r.string(&format!("the name of tensor {i}"))?;
            let n_dims = r.u32(&format!("the dimension count of '{name}'"))?;
            if n_dims as usize > MAX_DIMS {
                return Err(format_err(format!(
                    "tensor '{name}' has {n_dims} dimensions (at most {MAX_DIMS})"
                )));
            }
            let mut dims = Vec::with_capacity(n_dims as usize);
            for _ in 0..n_dims {
                dims.push(r.u64(&format!("the dimensions of '{name}'"))?);
            }
            let code = r.u32(&format!("the type of '{name}'"))?;
            let ggml_type = GgmlType::from_code(code);
            let offset = r.u64(&format!("the offset of '{name}'"))?;
            if ggml_type.block_layout().is_none() {
                return Err(format_err(format!("tensor '{name}' has unknown ggml type {code}")));
            }
            if by_name.insert(name.clone(), tensors.len()).is_some() {
                return Err(format_err(format!("duplicate tensor name '{name}'")));
            }
            tensors.push(TensorInfo {
                name,
                dims,
                ggml_type,
                offset,
            });
        }

        let alignment = match metadata.get("general.alignment") {
            None => DEFAULT_ALIGNMENT,
            Some(v) => match v.as_u64() {
                Some(a) if a.is_power_of_two() => a,
                _ => return Err(format_err(format!("general.alignment {v:?} is not a power of two"))),
            },
        };
        let data_offset = r
            .pos
            .checked_next_multiple_of(alignment)
            .ok_or_else(|| format_err("data section offset overflows".into()))?;
        for t in &tensors {
            check_tensor(t, data_offset, r.len)?;
        }
        Ok(Self {
            version,
            metadata,
            tensors,
            path: r.path.to_path_buf(),
            alignment,
            data_offset,
            by_name,
        })
    }

    /// A metadata value.
    pub fn meta(&self, key: &str) -> Option<&MetaValue> {
        self.metadata.get(key)
    }

    /// A tensor's table entry.
    pub fn tensor(&self, name: &str) -> Option<&TensorInfo> {
        self.by_name.get(name).map(|&i| &self.tensors[i])
    }

    /// The file this was read from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The data-section alignment (`general.alignment`, default 32).
    pub fn alignment(&self) -> u64 {
        self.alignment
    }

    /// Absolute file offset of the data section (tensor offsets are relative to it).
    pub fn data_offset(&self) -> u64 {
        self.data_offset
    }

    /// A tensor's bytes as stored (quantized blocks, little-endian).
    pub fn read_raw(&self, name: &str) -> Result<Vec<u8>, GgufError> {
        let t = self.lookup(name)?;
        // Checked by open(); a file modified since fails in read_exact.
        let n = t
            .n_bytes()
            .and_then(|n| usize::try_from(n).ok())
            .ok_or_else(|| GgufError::Format(format!("tensor '{name}': size overflows")))?;
        let start = self
            .data_offset
            .checked_add(t.offset)
            .ok_or_else(|| GgufError::Format(format!("tensor '{name}': offset overflows")))?;
        let io = |source| GgufError::Io {
            path: self.path.clone(),
            source,
        };
        let mut file = File::open(&self.path).map_err(io)?;
        file.seek(SeekFrom::Start(start)).map_err(io)?;
        let mut bytes = vec![0u8; n];
        file.read_exact(&mut bytes).map_err(io)?;
        Ok(bytes)
    }

    /// A tensor dequantized to `f32`, row-major with `dims[0]` fastest (the
    /// numpy shape is [`TensorInfo::shape`]). Reads only this tensor's bytes.
    pub fn read_f32(&self, name: &str) -> Result<Vec<f32>, GgufError> {
        let t = self.lookup(name)?;
        if !t.ggml_type.can_dequantize() {
            return Err(GgufError::Unsupported(format!(
                "tensor '{name}' in {} has type {}, which this reader does not dequantize \
                 (it does F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q4_K, Q5_K, Q6_K, Q8_K)",
                self.path.display(),
                t.ggml_type
            )));
        }
        let bytes = self.read_raw(name)?;
        let n = usize::try_from(t.n_elements())
            .map_err(|_| GgufError::Format(format!("tensor '{name}': too many elements")))?;
        dequantize(t.ggml_type, &bytes, n).map_err(|e| match e {
            GgufError::Format(msg) => GgufError::Format(format!("tensor '{name}': {msg}")),
            e => e,
        })
    }

    fn lookup(&self, name: &str) -> Result<&TensorInfo, GgufError> {
        self.tensor(name)
            .ok_or_else(|| GgufError::Missing(format!("tensor '{name}' in {}", self.path.display())))
    }
}

fn format_err(msg: String) -> GgufError {
    GgufError::Format(msg)
}

/// A tensor's block structure and data range against the file.
fn check_tensor(t: &TensorInfo, data_offset: u64, file_len: u64) -> Result<(), GgufError> {
    let name = &t.name;
    let n = t
        .dims
        .iter()
        .try_fold(1u64, |n, &d| n.checked_mul(d))
        .ok_or_else(|| format_err(format!("tensor '{name}': element count of {:?} overflows", t.dims)))?;
    let (block, _) = t.ggml_type.block_layout().unwrap_or((1, 1));
    let row = t.dims.first().copied().unwrap_or(1);
    if row % block as u64 != 0 {
        return Err(format_err(format!(
            "tensor '{name}': dims[0] = {row} is not a multiple of the {} block size {block}",
            t.ggml_type
        )));
    }
    let bytes = t
        .ggml_type
        .bytes_for(n)
        .ok_or_else(|| format_err(format!("tensor '{name}': byte size overflows")))?;
    let end = data_offset.checked_add(t.offset).and_then(|s| s.checked_add(bytes));
    match end {
        Some(end) if end <= file_len => Ok(()),
        _ => Err(format_err(format!(
            "tensor '{name}' ({bytes} bytes at data offset {}) extends past the end of the file \
             ({file_len} bytes, data section at {data_offset}); truncated?",
            t.offset
        ))),
    }
}

/// A little-endian reader that knows how many bytes the file has left.
struct Reader<'a> {
    inner: BufReader<File>,
    pos: u64,
    len: u64,
    path: &'a Path,
}

impl Reader<'_> {
    fn remaining(&self) -> u64 {
        self.len.saturating_sub(self.pos)
    }

    fn truncated(&self, what: &str, need: u64) -> GgufError {
        format_err(format!(
            "truncated: {what} needs {need} bytes at offset {} but the file has {} bytes",
            self.pos, self.len
        ))
    }

    /// Fails unless `count` items of at least `min_size` bytes each fit in the rest of the file.
    fn check_count(&self, count: u64, min_size: u64, what: &str) -> Result<(), GgufError> {
        match count.checked_mul(min_size) {
            Some(n) if n <= self.remaining() => Ok(()),
            _ => Err(format_err(format!(
                "{count} {what} at offset {} cannot fit in the {} bytes left in the file",
                self.pos,
                self.remaining()
            ))),
        }
    }

    fn fill(&mut self, buf: &mut [u8], what: &str) -> Result<(), GgufError> {
        let need = buf.len() as u64;
        if need > self.remaining() {
            return Err(self.truncated(what, need));
        }
        self.inner.read_exact(buf).map_err(|e| {
            if e.kind() == std::io::ErrorKind::UnexpectedEof {
                self.truncated(what, need)
            } else {
                GgufError::Io {
                    path: self.path.to_path_buf(),
                    source: e,
                }
            }
        })?;
        self.pos += need;
        Ok(())
    }

    fn array<const N: usize>(&mut self, what: &str) -> Result<[u8; N], GgufError> {
        let mut b = [0u8; N];
        self.fill(&mut b, what)?;
        Ok(b)
    }

    fn u32(&mut self, what: &str) -> Result<u32, GgufError> {
        self.array(what).map(u32::from_le_bytes)
    }

    fn u64(&mut self, what: &str) -> Result<u64, GgufError> {
        self.array(what).map(u64::from_le_bytes)
    }

    fn string(&mut self, what: &str) -> Result<String, GgufError> {
        let n = self.u64(what)?;
        if n > self.remaining() {
            return Err(format_err(format!(
                "{what}: string length {n} at offset {} exceeds the {} bytes left in the file",
                self.pos,
                self.remaining()
            )));
        }
        let mut bytes = vec![0u8; n as usize];
        self.fill(&mut bytes, what)?;
        String::from_utf8(bytes).map_err(|e| format_err(format!("{what} is not UTF-8: {e}")))
    }

    fn value(&mut self, ty: u32, key: &str, depth: usize) -> Result<MetaValue, GgufError> {
        let what = format!("the value of '{key}'");
        Ok(match ty {
            0 => MetaValue::U8(u8::from_le_bytes(self.array(&what)?)),
            1 => MetaValue::I8(i8::from_le_bytes(self.array(&what)?)),
            2 => MetaValue::U16(u16::from_le_bytes(self.array(&what)?)),
            3 => MetaValue::I16(i16::from_le_bytes(self.array(&what)?)),
            4 => MetaValue::U32(u32::from_le_bytes(self.array(&what)?)),
            5 => MetaValue::I32(i32::from_le_bytes(self.array(&what)?)),
            6 => MetaValue::F32(f32::from_le_bytes(self.array(&what)?)),
            7 => MetaValue::Bool(self.array::<1>(&what)?[0] != 0),
            8 => MetaValue::String(self.string(&what)?),
            9 => {
                if depth >= MAX_ARRAY_DEPTH {
                    return Err(format_err(format!(
                        "'{key}': arrays nested deeper than {MAX_ARRAY_DEPTH}"
                    )));
                }
                let elem = self.u32(&what)?;
                let n = self.u64(&what)?;
                let min_size = match elem {
                    0 | 1 | 7 => 1,
                    2 | 3 => 2,
                    4..=6 => 4,
                    8 | 10..=12 => 8,
                    9 => 12,
                    t => return Err(format_err(format!("'{key}': unknown array element type {t}"))),
                };
                self.check_count(n, min_size, &format!("elements of '{key}'"))?;
                // Grows as elements are actually read, so a large count costs
                // memory only as far as the file backs it.
                let mut items = Vec::with_capacity(usize::try_from(n).unwrap_or(usize::MAX).min(1 << 16));
                for _ in 0..n {
                    items.push(self.value(elem, key, depth + 1)?);
                }
                MetaValue::Array(items)
            }
            10 => MetaValue::U64(u64::from_le_bytes(self.array(&what)?)),
            11 => MetaValue::I64(i64::from_le_bytes(self.array(&what)?)),
            12 => MetaValue::F64(f64::from_le_bytes(self.array(&what)?)),
            t => return Err(format_err(format!("'{key}': unknown metadata value type {t}"))),
        })
    }
}
