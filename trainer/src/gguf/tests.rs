//! Tests of the GGUF container: hand-written files parsed back, truncated and
//! corrupt files rejected with clear errors.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

use super::*;

const ONE_HALF: u16 = 0x3800; // 0.5 as f16
const TWO: u16 = 0x4000;

fn f16(v: u16) -> [u8; 2] {
    v.to_le_bytes()
}

/// A hand-written GGUF file.
struct Builder {
    kv: Vec<u8>,
    n_kv: u64,
    infos: Vec<u8>,
    n_tensors: u64,
    data: Vec<u8>,
    alignment: usize,
}

impl Builder {
    fn new() -> Self {
        Self {
            kv: Vec::new(),
            n_kv: 0,
            infos: Vec::new(),
            n_tensors: 0,
            data: Vec::new(),
            alignment: 32,
        }
    }

    fn str(out: &mut Vec<u8>, s: &str) {
        out.extend((s.len() as u64).to_le_bytes());
        out.extend(s.as_bytes());
    }

    /// A metadata entry: key, type code, value bytes.
    fn kv(mut self, key: &str, ty: u32, value: &[u8]) -> Self {
        Self::str(&mut self.kv, key);
        self.kv.extend(ty.to_le_bytes());
        self.kv.extend(value);
        self.n_kv += 1;
        self
    }

    fn kv_str(self, key: &str, s: &str) -> Self {
        let mut v = Vec::new();
        Self::str(&mut v, s);
        self.kv(key, 8, &v)
    }

    fn alignment(mut self, a: u32) -> Self {
        self.alignment = a as usize;
        self.kv("general.alignment", 4, &a.to_le_bytes())
    }

    /// A tensor whose data is appended (aligned) to the data section.
    fn tensor(mut self, name: &str, dims: &[u64], ty: u32, bytes: &[u8]) -> Self {
        while !self.data.len().is_multiple_of(self.alignment) {
            self.data.push(0);
        }
        Self::str(&mut self.infos, name);
        self.infos.extend((dims.len() as u32).to_le_bytes());
        dims.iter().for_each(|d| self.infos.extend(d.to_le_bytes()));
        self.infos.extend(ty.to_le_bytes());
        self.infos.extend((self.data.len() as u64).to_le_bytes());
        self.data.extend(bytes);
        self.n_tensors += 1;
        self
    }

    fn build(&self, version: u32) -> Vec<u8> {
        let mut out = b"GGUF".to_vec();
        out.extend(version.to_le_bytes());
        out.extend(self.n_tensors.to_le_bytes());
        out.extend(self.n_kv.to_le_bytes());
        out.extend(&self.kv);
        out.extend(&self.infos);
        while !out.len().is_multiple_of(self.alignment) {
            out.push(0);
        }
        out.extend(&self.data);
        out
    }
}

fn sample() -> Builder {
    let f32s: Vec<u8> = (0..6).flat_map(|i| (i as f32 - 2.5).to_le_bytes()).collect();
    let mut q8 = Vec::new();
    for (d, base) in [(ONE_HALF, -16i8), (TWO, 0)] {
        q8.extend(f16(d));
        q8.extend((0..32).map(|i| (base + i) as u8));
    }
    let mut strings = 8u32.to_le_bytes().to_vec();
    strings.extend(2u64.to_le_bytes());
    Builder::str(&mut strings, "a");
    Builder::str(&mut strings, "β");
    let mut nested = 9u32.to_le_bytes().to_vec();
    nested.extend(1u64.to_le_bytes());
    nested.extend(5u32.to_le_bytes());
    nested.extend(2u64.to_le_bytes());
    nested.extend((-1i32).to_le_bytes());
    nested.extend(7i32.to_le_bytes());
    Builder::new()
        .kv_str("general.architecture", "llama")
        .alignment(64)
        .kv("t.u8", 0, &[200])
        .kv("t.i8", 1, &[0xff])
        .kv("t.u16", 2, &65535u16.to_le_bytes())
        .kv("t.i16", 3, &(-2i16).to_le_bytes())
        .kv("llama.block_count", 4, &30u32.to_le_bytes())
        .kv("t.i32", 5, &(-5i32).to_le_bytes())
        .kv("t.f32", 6, &0.1f32.to_le_bytes())
        .kv("t.bool", 7, &[1])
        .kv("t.strings", 9, &strings)
        .kv("t.nested", 9, &nested)
        .kv("t.u64", 10, &u64::MAX.to_le_bytes())
        .kv("t.i64", 11, &i64::MIN.to_le_bytes())
        .kv("t.f64", 12, &1e300f64.to_le_bytes())
        .tensor("norm", &[3, 2], 0, &f32s)
        .tensor("embd", &[32, 2], 8, &q8)
}

fn write(dir: &tempfile::TempDir, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

#[test]
fn a_hand_written_file_parses_back() {
    let dir = tempfile::tempdir().unwrap();
    for version in [2, 3] {
        let bytes = sample().build(version);
        let g = GgufFile::open(&write(&dir, "s.gguf", &bytes)).unwrap();
        assert_eq!(g.version, version);
        assert_eq!(g.alignment(), 64);
        assert_eq!(g.data_offset() % 64, 0);
        assert_eq!(g.metadata.len(), 15);
        assert_eq!(
            g.meta("general.architecture").and_then(MetaValue::as_str),
            Some("llama")
        );
        assert_eq!(g.meta("llama.block_count").and_then(MetaValue::as_u64), Some(30));
        assert_eq!(g.meta("t.u8"), Some(&MetaValue::U8(200)));
        assert_eq!(g.meta("t.i8"), Some(&MetaValue::I8(-1)));
        assert_eq!(g.meta("t.i8").unwrap().as_u64(), None);
        assert_eq!(g.meta("t.u16"), Some(&MetaValue::U16(65535)));
        assert_eq!(g.meta("t.i16").and_then(MetaValue::as_i64), Some(-2));
        assert_eq!(g.meta("t.i32").and_then(MetaValue::as_f64), Some(-5.0));
        assert_eq!(g.meta("t.f32"), Some(&MetaValue::F32(0.1)));
        assert_eq!(g.meta("t.bool").and_then(MetaValue::as_bool), Some(true));
        assert_eq!(g.meta("t.u64").and_then(MetaValue::as_u64), Some(u64::MAX));
        assert_eq!(g.meta("t.i64"), Some(&MetaValue::I64(i64::MIN)));
        assert_eq!(g.meta("t.f64").and_then(MetaValue::as_f64), Some(1e300));
        let strings = g.meta("t.strings").and_then(MetaValue::as_array).unwrap();
        assert_eq!(strings, [MetaValue::String("a".into()), MetaValue::String("β".into())]);
        let nested = g.meta("t.nested").and_then(MetaValue::as_array).unwrap();
        assert_eq!(nested, [MetaValue::Array(vec![MetaValue::I32(-1), MetaValue::I32(7)])]);

        assert_eq!(g.tensors.len(), 2);
        let norm = g.tensor("norm").unwrap();
        assert_eq!(
            (norm.dims.as_slice(), norm.ggml_type, norm.offset),
            ([3, 2].as_slice(), GgmlType::F32, 0)
        );
        assert_eq!(norm.shape(), vec![2, 3]);
        assert_eq!(g.read_f32("norm").unwrap(), vec![-2.5, -1.5, -0.5, 0.5, 1.5, 2.5]);
        let embd = g.tensor("embd").unwrap();
        assert_eq!(
            (embd.ggml_type, embd.offset, embd.n_elements(), embd.n_bytes()),
            (GgmlType::Q8_0, 64, 64, Some(68))
        );
        let want: Vec<f32> = (-16..16)
            .map(|q| q as f32 * 0.5)
            .chain((0..32).map(|q| q as f32 * 2.0))
            .collect();
        assert_eq!(g.read_f32("embd").unwrap(), want);
        assert_eq!(g.read_raw("embd").unwrap().len(), 68);
        assert!(matches!(g.read_f32("nope"), Err(GgufError::Missing(m)) if m.contains("'nope'")));
    }
}

#[test]
fn default_alignment_is_32() {
    let dir = tempfile::tempdir().unwrap();
    let b = Builder::new()
        .kv_str("general.architecture", "x")
        .tensor("t", &[1], 0, &1.0f32.to_le_bytes());
    let g = GgufFile::open(&write(&dir, "a.gguf", &b.build(3))).unwrap();
    assert_eq!((g.alignment(), g.data_offset() % 32), (32, 0));
    assert_eq!(g.read_f32("t").unwrap(), vec![1.0]);
}

#[test]
fn every_truncation_is_an_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = sample().build(3);
    for n in 0..bytes.len() {
        let path = write(&dir, "t.gguf", &bytes[..n]);
        match GgufFile::open(&path) {
            Err(GgufError::Format(m)) => assert!(m.contains("t.gguf"), "{m}"),
            other => panic!("prefix of {n} bytes: {other:?}"),
        }
    }
}

fn open_err(bytes: &[u8]) -> String {
    let dir = tempfile::tempdir().unwrap();
    match GgufFile::open(&write(&dir, "c.gguf", bytes)) {
        Err(e @ GgufError::Format(_)) => e.to_string(),
        other => panic!("expected a format error, got {other:?}"),
    }
}

#[test]
fn corrupt_headers_are_clear_errors() {
    let good = sample().build(3);
    let with = |at: usize, patch: &[u8]| {
        let mut b = good.clone();
        b[at..at + patch.len()].copy_from_slice(patch);
        b
    };
    assert!(open_err(&with(0, b"GGUX")).contains("bad magic"));
    assert!(open_err(&with(4, &1u32.to_le_bytes())).contains("version 1"));
    assert!(open_err(&with(4, &4u32.to_le_bytes())).contains("unsupported GGUF version 4"));
    assert!(open_err(&with(4, &3u32.to_be_bytes())).contains("big-endian"));
    // Counts far beyond the file's size fail before any allocation.
    assert!(open_err(&with(8, &u64::MAX.to_le_bytes())).contains("cannot fit"));
    assert!(open_err(&with(16, &(1u64 << 60).to_le_bytes())).contains("cannot fit"));
    // The first key's length.
    assert!(open_err(&with(24, &u64::MAX.to_le_bytes())).contains("string length"));
    // The first value's type (after the 20-byte key "general.architecture").
    assert!(open_err(&with(24 + 8 + 20, &77u32.to_le_bytes())).contains("unknown metadata value type 77"));

    let huge_array = Builder::new().kv("a", 9, &[4, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x0f]);
    assert!(open_err(&huge_array.build(3)).contains("cannot fit"));
    let bad_elem = Builder::new().kv("a", 9, &[99, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    assert!(open_err(&bad_elem.build(3)).contains("element type 99"));
    let mut deep = Vec::new();
    for _ in 0..20 {
        deep.extend(9u32.to_le_bytes());
        deep.extend(1u64.to_le_bytes());
    }
    deep.extend([0; 64]);
    let deep = Builder::new().kv("a", 9, &deep);
    assert!(open_err(&deep.build(3)).contains("nested deeper"));
    let bad_utf8 = Builder::new().kv("a", 8, &[2, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xfe]);
    assert!(open_err(&bad_utf8.build(3)).contains("not UTF-8"));
    let dup = Builder::new().kv("a", 0, &[1]).kv("a", 0, &[2]);
    assert!(open_err(&dup.build(3)).contains("duplicate metadata key 'a'"));
}

#[test]
fn corrupt_tensor_tables_are_clear_errors() {
    let f32x4 = [0u8; 16];
    let b = Builder::new().tensor("t", &[4], 0, &f32x4).tensor("t", &[4], 0, &f32x4);
    assert!(open_err(&b.build(3)).contains("duplicate tensor name 't'"));
    let b = Builder::new().tensor("t", &[1, 1, 1, 1, 1], 0, &[0; 4]);
    assert!(open_err(&b.build(3)).contains("5 dimensions"));
    let b = Builder::new().tensor("t", &[4], 77, &f32x4);
    assert!(open_err(&b.build(3)).contains("unknown ggml type 77"));
    let b = Builder::new().tensor("t", &[16, 2], 8, &[0; 34]);
    assert!(open_err(&b.build(3)).contains("not a multiple of the Q8_0 block size 32"));
    let b = Builder::new().tensor("t", &[u64::MAX, 4], 0, &[]);
    assert!(open_err(&b.build(3)).contains("overflows"));
    let b = Builder::new().tensor("t", &[8], 0, &f32x4);
    assert!(open_err(&b.build(3)).contains("extends past the end"));
    let mut b = Builder::new().tensor("t", &[4], 0, &f32x4);
    let at = b.infos.len() - 8;
    b.infos[at..].copy_from_slice(&u64::MAX.to_le_bytes());
    assert!(open_err(&b.build(3)).contains("extends past the end"));
    let b = Builder::new().kv("general.alignment", 4, &48u32.to_le_bytes());
    assert!(open_err(&b.build(3)).contains("not a power of two"));
    let b = Builder::new().kv("general.alignment", 4, &0u32.to_le_bytes());
    assert!(open_err(&b.build(3)).contains("not a power of two"));
}

#[test]
fn tensors_of_other_types_are_listed_but_not_dequantized() {
    let dir = tempfile::tempdir().unwrap();
    let b = Builder::new().tensor("q2", &[256], 10, &[0; 84]);
    let g = GgufFile::open(&write(&dir, "q2.gguf", &b.build(3))).unwrap();
    assert_eq!(g.tensor("q2").unwrap().ggml_type.to_string(), "Q2_K");
    assert_eq!(g.read_raw("q2").unwrap().len(), 84);
    match g.read_f32("q2") {
        Err(GgufError::Unsupported(m)) => assert!(m.contains("'q2'") && m.contains("Q2_K"), "{m}"),
        other => panic!("{other:?}"),
    }
}
