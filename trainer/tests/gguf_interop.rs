//! Our GGUF reader against the reference implementation, llama.cpp's gguf-py
//! (PyPI `gguf`, installed by `scripts/interop_env`): the real SmolLM2-135M
//! GGUF (fetched by `scripts/llama_server.py --install-only`) and a synthetic
//! file written by gguf-py's `GGUFWriter` with the types SmolLM2 lacks. Tables,
//! metadata and every dequantized value must agree bit for bit.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::*;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use repo2agent_trainer::gguf::{GgmlType, GgufError, GgufFile, MetaValue, dequantize};
use serde_json::Value;

/// `scripts/interop.py ARGS...` in the interop environment.
fn interop(args: &[&str]) -> String {
    let script = workspace_root().join("scripts/interop.py");
    last_line(Command::new(interop_python()).arg(script).args(args))
}

/// What gguf-py reported about a file (`interop.py gguf`'s info.json).
struct Reference {
    dir: PathBuf,
    info: Value,
}

fn reference(file: &Path, dir: &Path, names: &[&str]) -> Reference {
    let mut args = vec!["gguf", file.to_str().unwrap(), dir.to_str().unwrap()];
    if names.is_empty() {
        args.push("--all");
    }
    args.extend(names);
    let said = interop(&args);
    assert!(said.starts_with("ok:"), "{said}");
    let info = serde_json::from_str(&std::fs::read_to_string(dir.join("info.json")).unwrap()).unwrap();
    Reference {
        dir: dir.to_path_buf(),
        info,
    }
}

impl Reference {
    /// gguf-py's dequantized values of a dumped tensor.
    fn values(&self, name: &str) -> Option<Vec<f32>> {
        let file = self.info["dumps"][name].as_str()?;
        let bytes = std::fs::read(self.dir.join(file)).unwrap();
        Some(
            bytes
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect(),
        )
    }
}

/// The checksum `interop.py gguf` computes: sum of bits(v_i) * (i + 1), wrapping.
fn checksum(values: &[f32]) -> u64 {
    values.iter().enumerate().fold(0u64, |s, (i, v)| {
        s.wrapping_add(u64::from(v.to_bits()).wrapping_mul(i as u64 + 1))
    })
}

/// One scalar as interop.py writes it (floats as the decimal string of their bits).
fn scalar_json(v: &MetaValue) -> Value {
    match v {
        MetaValue::F32(f) => Value::String(f.to_bits().to_string()),
        MetaValue::F64(f) => Value::String(f.to_bits().to_string()),
        MetaValue::Bool(b) => Value::Bool(*b),
        MetaValue::String(s) => Value::String(s.clone()),
        MetaValue::Array(_) => Value::Null,
        other => match other.as_u64() {
            Some(u) => Value::from(u),
            None => Value::from(other.as_i64().unwrap()),
        },
    }
}

fn type_code(v: &MetaValue) -> u64 {
    match v {
        MetaValue::U8(_) => 0,
        MetaValue::I8(_) => 1,
        MetaValue::U16(_) => 2,
        MetaValue::I16(_) => 3,
        MetaValue::U32(_) => 4,
        MetaValue::I32(_) => 5,
        MetaValue::F32(_) => 6,
        MetaValue::Bool(_) => 7,
        MetaValue::String(_) => 8,
        MetaValue::Array(_) => 9,
        MetaValue::U64(_) => 10,
        MetaValue::I64(_) => 11,
        MetaValue::F64(_) => 12,
    }
}

/// Header, metadata (types and values) and the tensor table agree with gguf-py's.
fn check_tables(g: &GgufFile, r: &Reference) {
    assert_eq!(u64::from(g.version), r.info["version"].as_u64().unwrap());
    assert_eq!(g.data_offset(), r.info["data_offset"].as_u64().unwrap());
    let meta = r.info["metadata"].as_object().unwrap();
    assert_eq!(g.metadata.keys().collect::<Vec<_>>(), meta.keys().collect::<Vec<_>>());
    for (key, want) in meta {
        let got = &g.metadata[key];
        let types: Vec<u64> = want["types"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t.as_u64().unwrap())
            .collect();
        assert_eq!(type_code(got), types[0], "{key}");
        match got.as_array() {
            Some(items) if types.get(1) == Some(&9) => {
                assert!(want["value"].is_null(), "{key}");
                assert!(items.iter().all(|i| i.as_array().is_some()), "{key}");
            }
            Some(items) => {
                assert_eq!(items.len() as u64, want["value"]["len"].as_u64().unwrap(), "{key}");
                let head: Vec<Value> = items.iter().take(16).map(scalar_json).collect();
                assert_eq!(&Value::from(head), &want["value"]["head"], "{key}");
                assert!(items.iter().all(|i| type_code(i) == types[1]), "{key}");
            }
            None => assert_eq!(scalar_json(got), want["value"], "{key}"),
        }
    }
    let tensors = r.info["tensors"].as_array().unwrap();
    assert_eq!(g.tensors.len(), tensors.len());
    for (t, want) in g.tensors.iter().zip(tensors) {
        assert_eq!(t.name, want["name"].as_str().unwrap());
        assert_eq!(
            u64::from(t.ggml_type.code()),
            want["type_code"].as_u64().unwrap(),
            "{}",
            t.name
        );
        assert_eq!(t.ggml_type.to_string(), want["type"].as_str().unwrap(), "{}", t.name);
        let dims: Vec<u64> = want["dims"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d.as_u64().unwrap())
            .collect();
        assert_eq!(t.dims, dims, "{}", t.name);
        assert_eq!(t.n_elements(), want["n_elements"].as_u64().unwrap(), "{}", t.name);
        assert_eq!(
            g.data_offset() + t.offset,
            want["data_offset"].as_u64().unwrap(),
            "{}",
            t.name
        );
    }
}

/// Dequantizes every tensor gguf-py can and compares: the checksum over all
/// values, and the dumped values bit for bit. Returns the max |ours - gguf-py|
/// per type over the dumped values, and the tensors gguf-py could not do.
fn check_values(g: &GgufFile, r: &Reference) -> (BTreeMap<String, f32>, Vec<String>) {
    let mut max_diff = BTreeMap::new();
    let mut skipped = Vec::new();
    for (t, want) in g.tensors.iter().zip(r.info["tensors"].as_array().unwrap()) {
        let want_sum = want["checksum"].as_str().unwrap();
        if !t.ggml_type.can_dequantize() {
            assert!(matches!(g.read_f32(&t.name), Err(GgufError::Unsupported(m)) if m.contains(&t.name)));
            skipped.push(format!("{} ({})", t.name, t.ggml_type));
            continue;
        }
        let ours = g.read_f32(&t.name).unwrap();
        assert_eq!(ours.len() as u64, t.n_elements(), "{}", t.name);
        if want_sum.is_empty() {
            skipped.push(format!("{} ({}, not in gguf-py)", t.name, t.ggml_type));
            continue;
        }
        assert_eq!(
            checksum(&ours).to_string(),
            want_sum,
            "{} ({}): checksum differs",
            t.name,
            t.ggml_type
        );
        if let Some(theirs) = r.values(&t.name) {
            assert!(!theirs.is_empty() && theirs.len() <= ours.len(), "{}", t.name);
            let mut diff = 0f32;
            for (i, (a, b)) in ours.iter().zip(&theirs).enumerate() {
                assert_eq!(
                    a.to_bits(),
                    b.to_bits(),
                    "{} ({}) element {i}: {a} vs {b}",
                    t.name,
                    t.ggml_type
                );
                if a.is_finite() && b.is_finite() {
                    diff = diff.max((a - b).abs());
                }
            }
            let entry = max_diff.entry(t.ggml_type.to_string()).or_insert(0f32);
            *entry = entry.max(diff);
        }
    }
    (max_diff, skipped)
}

#[test]
fn smollm2_q4_1_gguf_reads_like_gguf_py() {
    let path = smollm2_gguf();
    let g = GgufFile::open(&path).unwrap();
    let u = |k: &str| g.meta(k).and_then(MetaValue::as_u64).unwrap_or_else(|| panic!("{k}"));
    assert_eq!(
        g.meta("general.architecture").and_then(MetaValue::as_str),
        Some("llama")
    );
    assert_eq!(u("llama.block_count"), 30);
    assert_eq!(u("llama.embedding_length"), 576);
    assert_eq!(u("llama.feed_forward_length"), 1536);
    assert_eq!(
        (u("llama.attention.head_count"), u("llama.attention.head_count_kv")),
        (9, 3)
    );
    assert_eq!(u("llama.vocab_size"), 49152);
    assert_eq!(
        g.meta("tokenizer.ggml.tokens")
            .and_then(MetaValue::as_array)
            .map(<[_]>::len),
        Some(49152)
    );
    assert_eq!(g.tensors.len(), 272);
    let embd = g.tensor("token_embd.weight").unwrap();
    assert_eq!(
        (embd.dims.as_slice(), embd.ggml_type),
        ([576, 49152].as_slice(), GgmlType::Q8_0)
    );
    assert_eq!(embd.shape(), vec![49152, 576]);
    let types: std::collections::BTreeSet<String> = g.tensors.iter().map(|t| t.ggml_type.to_string()).collect();
    assert_eq!(types, ["F32", "Q4_1", "Q8_0"].map(String::from).into());

    // Values compared one by one (first 2^20 of each); every tensor by checksum.
    let names = [
        "token_embd.weight",
        "blk.0.attn_norm.weight",
        "blk.0.attn_q.weight",
        "blk.0.attn_k.weight",
        "blk.0.ffn_down.weight",
        "blk.17.ffn_gate.weight",
        "blk.29.attn_v.weight",
        "output_norm.weight",
    ];
    let tmp = tempfile::tempdir().unwrap();
    let r = reference(&path, tmp.path(), &names);
    check_tables(&g, &r);
    let (max_diff, skipped) = check_values(&g, &r);
    eprintln!("SmolLM2: max |ours - gguf-py| per type over the dumped values: {max_diff:?}");
    assert!(skipped.is_empty(), "{skipped:?}");
    assert_eq!(max_diff.keys().collect::<Vec<_>>(), ["F32", "Q4_1", "Q8_0"]);
    assert!(max_diff.values().all(|&d| d == 0.0), "{max_diff:?}");
}

#[test]
fn a_gguf_py_written_file_with_every_dequantized_type_reads_like_gguf_py() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("synthetic.gguf");
    let said = interop(&["gguf-synth", path.to_str().unwrap()]);
    assert!(said.starts_with("ok:"), "{said}");
    let g = GgufFile::open(&path).unwrap();
    assert_eq!((g.version, g.alignment()), (3, 64));
    let r = reference(&path, &tmp.path().join("ref"), &[]);
    check_tables(&g, &r);
    let (max_diff, skipped) = check_values(&g, &r);
    eprintln!("synthetic: max |ours - gguf-py| per type: {max_diff:?}; not compared: {skipped:?}");
    let compared: Vec<&str> = max_diff.keys().map(String::as_str).collect();
    let want = [
        "BF16", "F16", "F32", "Q4_0", "Q4_1", "Q4_K", "Q5_0", "Q5_1", "Q5_K", "Q6_K", "Q8_0",
    ];
    assert_eq!(compared, want);
    assert!(max_diff.values().all(|&d| d == 0.0), "{max_diff:?}");
    assert_eq!(skipped, ["q2_k (Q2_K)", "q8_k (Q8_K, not in gguf-py)"]);

    // Metadata values as written (gguf-py's reader cannot show nested arrays).
    let nested = g.meta("t.nested").and_then(MetaValue::as_array).unwrap();
    let ints = |v: &MetaValue| {
        v.as_array()
            .unwrap()
            .iter()
            .map(|i| i.as_i64().unwrap())
            .collect::<Vec<_>>()
    };
    assert_eq!(nested.iter().map(ints).collect::<Vec<_>>(), [vec![1, 2], vec![3]]);
    assert_eq!(g.meta("t.str").and_then(MetaValue::as_str), Some("h\u{e9}llo \u{2713}"));
    assert_eq!(g.meta("t.u64").and_then(MetaValue::as_u64), Some(u64::MAX));
    assert_eq!(g.meta("t.f32"), Some(&MetaValue::F32(0.1)));

    // Q8_K (no gguf-py dequantization): d (f32) times the i8 values, from the raw blocks.
    let raw = g.read_raw("q8_k").unwrap();
    let want: Vec<f32> = raw
        .chunks_exact(292)
        .flat_map(|b| {
            let d = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
            b[4..260].iter().map(move |&q| d * f32::from(q as i8))
        })
        .collect();
    assert_eq!(
        &want[..2],
        &[0.125 * f32::from(raw[4] as i8), 0.125 * f32::from(raw[5] as i8)]
    );
    assert_eq!(g.read_f32("q8_k").unwrap(), want);
    assert_eq!(dequantize(GgmlType::Q8_K, &raw, 512).unwrap(), want);
}
