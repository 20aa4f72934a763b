//! Model weights in files: Hugging Face safetensors (one file or sharded with
//! `model.safetensors.index.json`; F32, F16 and BF16 read, F32 or BF16 written),
//! GGUF (llama.cpp; dequantized, q/k rows un-permuted), and a seeded
//! initialisation.
//!
//! Names are HF Llama names ([`crate::params::hf_name`]); 2-d projection weights
//! are stored `[out, in]` as in PyTorch. Reading is strict: a missing or
//! mis-shaped tensor is an error naming it; unused tensors in the file are
//! reported back to the caller (e.g. `rotary_emb.inv_freq` buffers).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use burn::tensor::{Tensor, TensorData};
use safetensors::SafeTensors;
use safetensors::tensor::{Dtype, TensorView};

use crate::data::SplitMix64;
use crate::gguf::{GgufFile, MetaValue};
use crate::model::Llama;
use crate::model::LlamaConfig;
use crate::params::{map_named, named_params};

/// Why weights could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum WeightsError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A file is not what it should be.
    #[error("{path}: {message}")]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// Tensors the model needs are absent or have the wrong shape.
    #[error("weights do not fit the model: {0}")]
    Mismatch(String),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> WeightsError + '_ {
    move |source| WeightsError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn format(path: &Path, message: impl Into<String>) -> WeightsError {
    WeightsError::Format {
        path: path.to_path_buf(),
        message: message.into(),
    }
}

/// Host tensors by HF name: shape and row-major f32 values.
pub type HostTensors = BTreeMap<String, (Vec<usize>, Vec<f32>)>;

/// The safetensors files of a model: `path` itself if it is a file, else the
/// shards listed by `DIR/model.safetensors.index.json`, else `DIR/model.safetensors`.
pub fn safetensors_files(path: &Path) -> Result<Vec<PathBuf>, WeightsError> {
    if path.is_file() {
        return Ok(vec![path.to_path_buf()]);
    }
    let index = path.join("model.safetensors.index.json");
    if index.is_file() {
        let text = std::fs::read_to_string(&index).map_err(io(&index))?;
        let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| format(&index, e.to_string()))?;
        let map = v
            .get("weight_map")
            .and_then(|m| m.as_object())
            .ok_or_else(|| format(&index, "no `weight_map` object"))?;
        let files: BTreeSet<&str> = map.values().filter_map(|f| f.as_str()).collect();
        return Ok(files.into_iter().map(|f| path.join(f)).collect());
    }
    let single = path.join("model.safetensors");
    if single.is_file() {
        return Ok(vec![single]);
    }
    Err(format(
        path,
        "neither a .safetensors file nor a directory with model.safetensors(.index.json)",
    ))
}

/// Reads every tensor of the safetensors files at `path` as f32.
pub fn read_safetensors(path: &Path) -> Result<HostTensors, WeightsError> {
    let mut out = HostTensors::new();
    for file in safetensors_files(path)? {
        let bytes = std::fs::read(&file).map_err(io(&file))?;
        let st = SafeTensors::deserialize(&bytes).map_err(|e| format(&file, e.to_string()))?;
        for (name, view) in st.tensors() {
            let data = view.data();
            let values: Vec<f32> = match view.dtype() {
                Dtype::F32 => data
                    .chunks_exact(4)
                    .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                    .collect(),
                Dtype::BF16 => data
                    .chunks_exact(2)
                    .map(|b| half::bf16::from_le_bytes([b[0], b[1]]).to_f32())
                    .collect(),
                Dtype::F16 => data
                    .chunks_exact(2)
                    .map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32())
                    .collect(),
                other => {
                    return Err(format(
                        &file,
                        format!("tensor `{name}` has dtype {other:?}; F32, F16, BF16 are read"),
                    ));
                }
            };
            out.insert(name, (view.shape().to_vec(), values));
        }
    }
    Ok(out)
}

/// Element type of written weights.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SaveDtype {
    /// 32-bit floats (exact).
    #[default]
    F32,
    /// bfloat16 (what HF Llama checkpoints ship as).
    Bf16,
}

/// Writes host tensors as one safetensors file (atomically: a temporary file
/// renamed into place), with `metadata` in the header.
pub fn write_safetensors(
    path: &Path,
    tensors: &HostTensors,
    dtype: SaveDtype,
    metadata: Option<std::collections::HashMap<String, String>>,
) -> Result<(), WeightsError> {
    let bytes: Vec<(String, Vec<usize>, Vec<u8>)> = tensors
        .iter()
        .map(|(name, (shape, values))| {
            let raw = match dtype {
                SaveDtype::F32 => values.iter().flat_map(|v| v.to_le_bytes()).collect(),
                SaveDtype::Bf16 => values
                    .iter()
                    .flat_map(|v| half::bf16::from_f32(*v).to_le_bytes())
                    .collect(),
            };
            (name.clone(), shape.clone(), raw)
        })
        .collect();
    let st_dtype = match dtype {
        SaveDtype::F32 => Dtype::F32,
        SaveDtype::Bf16 => Dtype::BF16,
    };
    let mut views = Vec::with_capacity(bytes.len());
    for (name, shape, raw) in &bytes {
        let view = TensorView::new(st_dtype, shape.clone(), raw).map_err(|e| format(path, e.to_string()))?;
        views.push((name.clone(), view));
    }
    let tmp = path.with_extension("safetensors.tmp");
    safetensors::serialize_to_file(views, metadata, &tmp).map_err(|e| format(&tmp, e.to_string()))?;
    std::fs::File::open(&tmp).and_then(|f| f.sync_all()).map_err(io(&tmp))?;
    std::fs::rename(&tmp, path).map_err(io(path))
}

/// The model's weights as host tensors in HF layout.
pub fn model_tensors(model: &Llama) -> HostTensors {
    named_params(model)
        .into_iter()
        .map(|p| {
            let dims = p.hf_dims();
            let values = p.hf_values();
            (p.name, (dims, values))
        })
        .collect()
}

/// Writes the model as an HF `model.safetensors`.
pub fn save_model(model: &Llama, path: &Path, dtype: SaveDtype) -> Result<(), WeightsError> {
    let mut meta = std::collections::HashMap::new();
    meta.insert("format".to_string(), "pt".to_string());
    write_safetensors(path, &model_tensors(model), dtype, Some(meta))
}

/// Loads HF-named host tensors into `model` (every parameter must be present
/// with the right shape). Returns the names in `tensors` the model did not use.
pub fn load_tensors(model: Llama, tensors: &HostTensors) -> Result<(Llama, Vec<String>), WeightsError> {
    let mut problems = Vec::new();
    let mut used = BTreeSet::new();
    for p in named_params(&model) {
        match tensors.get(&p.name) {
            None => problems.push(format!("`{}` is missing", p.name)),
            Some((shape, _)) if *shape != p.hf_dims() => problems.push(format!(
                "`{}` has shape {:?}, the model needs {:?}",
                p.name,
                shape,
                p.hf_dims()
            )),
            Some(_) => {
                used.insert(p.name.clone());
            }
        }
    }
    if !problems.is_empty() {
        return Err(WeightsError::Mismatch(problems.join("; ")));
    }
    let mut f = |p: &crate::params::Named| {
        let (shape, values) = &tensors[&p.name];
        let device = p.value.device();
        // HF row-major [out, in] → burn [in, out] for projections.
        let flat = if p.transposed {
            let (o, i) = (shape[0], shape[1]);
            Tensor::<2>::from_data(TensorData::new(values.clone(), [o, i]), &device)
                .transpose()
                .reshape([o * i])
        } else {
            Tensor::<1>::from_data(TensorData::new(values.clone(), [values.len()]), &device)
        };
        Some(flat)
    };
    let model = map_named(model, &mut f);
    let unused = tensors.keys().filter(|k| !used.contains(*k)).cloned().collect();
    Ok((model, unused))
}

/// Initialises every parameter from `seed` (independent of thread timing and of
/// burn's global RNG): norms to 1, other weights normal(0, `std`), each tensor
/// from its own stream derived from its name.
pub fn init_seeded(model: Llama, seed: u64, std: f64) -> Llama {
    let mut f = |p: &crate::params::Named| {
        let n: usize = p.dims.iter().product();
        let device = p.value.device();
        let values: Vec<f32> = if p.name.ends_with("norm.weight") {
            vec![1.0; n]
        } else {
            let mut h = seed ^ 0x5851_f42d_4c95_7f2d;
            for b in p.name.bytes() {
                h = (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
            }
            let mut rng = SplitMix64(h);
            let unit = |r: &mut SplitMix64| ((r.next_u64() >> 11) as f64 + 0.5) / (1u64 << 53) as f64;
            (0..n)
                .map(|_| {
                    // Box–Muller.
                    let (u1, u2) = (unit(&mut rng), unit(&mut rng));
                    ((-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos() * std) as f32
                })
                .collect()
        };
        Some(Tensor::<1>::from_data(TensorData::new(values, [n]), &device))
    };
    map_named(model, &mut f)
}

/// Grows a model's vocabulary to `vocab` (no-op if it is not larger): new rows
/// of the embedding (and of an untied output projection) are the mean of the
/// existing rows, the usual start for tokens a tokenizer added (a new token
/// then begins as an "average" token rather than noise).
pub fn grow_vocab(shape: &mut LlamaConfig, tensors: &mut HostTensors, vocab: usize) {
    if vocab <= shape.vocab_size {
        return;
    }
    for name in ["model.embed_tokens.weight", "lm_head.weight"] {
        if let Some((dims, values)) = tensors.get_mut(name) {
            let (rows, d) = (dims[0], dims[1]);
            let mut mean = vec![0f64; d];
            for r in 0..rows {
                for (m, v) in mean.iter_mut().zip(&values[r * d..(r + 1) * d]) {
                    *m += f64::from(*v) / rows as f64;
                }
            }
            for _ in rows..vocab {
                values.extend(mean.iter().map(|m| *m as f32));
            }
            dims[0] = vocab;
        }
    }
    shape.vocab_size = vocab;
}

/// The shape described by a GGUF file's `llama.*` metadata (tied output when
/// the file has no `output.weight`).
pub fn gguf_config(file: &GgufFile) -> Result<LlamaConfig, WeightsError> {
    let path = file.path();
    let arch = file
        .meta("general.architecture")
        .and_then(MetaValue::as_str)
        .unwrap_or("");
    if arch != "llama" {
        return Err(format(path, format!("general.architecture is `{arch}`, not `llama`")));
    }
    let int = |key: &str| {
        file.meta(&format!("llama.{key}"))
            .and_then(MetaValue::as_u64)
            .map(|v| v as usize)
            .ok_or_else(|| format(path, format!("metadata `llama.{key}` is missing")))
    };
    let n_heads = int("attention.head_count")?;
    let vocab_size = match file.meta("llama.vocab_size").and_then(MetaValue::as_u64) {
        Some(v) => v as usize,
        None => file
            .meta("tokenizer.ggml.tokens")
            .and_then(MetaValue::as_array)
            .map(<[MetaValue]>::len)
            .ok_or_else(|| format(path, "neither llama.vocab_size nor tokenizer.ggml.tokens"))?,
    };
    if file.tensor("rope_freqs.weight").is_some() {
        return Err(format(
            path,
            "`rope_freqs.weight` (Llama-3.1 RoPE scaling in GGUF) is not supported; load the HF safetensors with its config.json",
        ));
    }
    let cfg = LlamaConfig {
        vocab_size,
        d_model: int("embedding_length")?,
        n_layers: int("block_count")?,
        n_heads,
        n_kv_heads: int("attention.head_count_kv").unwrap_or(n_heads),
        ffn_dim: int("feed_forward_length")?,
        rope_theta: file
            .meta("llama.rope.freq_base")
            .and_then(MetaValue::as_f64)
            .unwrap_or(10_000.0),
        rope_scaling: None,
        rms_eps: file
            .meta("llama.attention.layer_norm_rms_epsilon")
            .and_then(MetaValue::as_f64)
            .unwrap_or(1e-5),
        tie_embeddings: file.tensor("output.weight").is_none(),
    };
    cfg.check().map_err(|e| format(path, e.0))?;
    Ok(cfg)
}

/// Undoes llama.cpp's converter permutation of q/k projection rows: per head,
/// GGUF interleaves the two RoPE halves (row `2j + s`), HF keeps them apart
/// (row `s·hd/2 + j`).
pub fn unpermute_rows(values: &[f32], n_heads: usize, cols: usize) -> Vec<f32> {
    let rows = values.len() / cols.max(1);
    let hd = rows / n_heads.max(1);
    let mut out = vec![0.0; values.len()];
    for h in 0..n_heads {
        for j in 0..hd / 2 {
            for s in 0..2 {
                let from = (h * hd + 2 * j + s) * cols;
                let to = (h * hd + s * hd / 2 + j) * cols;
                out[to..to + cols].copy_from_slice(&values[from..from + cols]);
            }
        }
    }
    out
}

/// Reads a llama GGUF file: its shape and its weights dequantized to f32 under
/// HF names, q/k rows un-permuted.
pub fn read_gguf(path: &Path) -> Result<(LlamaConfig, HostTensors), WeightsError> {
    let file = GgufFile::open(path).map_err(|e| format(path, e.to_string()))?;
    let cfg = gguf_config(&file)?;
    let mut out = HostTensors::new();
    for info in &file.tensors {
        let name = match gguf_to_hf(&info.name) {
            Some(n) => n,
            None => continue,
        };
        let values = file.read_f32(&info.name).map_err(|e| format(path, e.to_string()))?;
        let shape: Vec<usize> = info.shape().iter().map(|d| *d as usize).collect();
        let values = if name.ends_with("q_proj.weight") {
            unpermute_rows(&values, cfg.n_heads, shape[1])
        } else if name.ends_with("k_proj.weight") {
            unpermute_rows(&values, cfg.n_kv_heads, shape[1])
        } else {
            values
        };
        out.insert(name, (shape, values));
    }
    Ok((cfg, out))
}

/// GGUF tensor names → HF names (`None` for tensors the model has no use for).
pub fn gguf_to_hf(name: &str) -> Option<String> {
    let fixed = match name {
        "token_embd.weight" => Some("model.embed_tokens.weight"),
        "output_norm.weight" => Some("model.norm.weight"),
        "output.weight" => Some("lm_head.weight"),
        _ => None,
    };
    if let Some(f) = fixed {
        return Some(f.to_string());
    }
    let rest = name.strip_prefix("blk.")?;
    let (i, what) = rest.split_once('.')?;
    let hf = match what {
        "attn_norm.weight" => "input_layernorm.weight",
        "ffn_norm.weight" => "post_attention_layernorm.weight",
        "attn_q.weight" => "self_attn.q_proj.weight",
        "attn_k.weight" => "self_attn.k_proj.weight",
        "attn_v.weight" => "self_attn.v_proj.weight",
        "attn_output.weight" => "self_attn.o_proj.weight",
        "ffn_gate.weight" => "mlp.gate_proj.weight",
        "ffn_up.weight" => "mlp.up_proj.weight",
        "ffn_down.weight" => "mlp.down_proj.weight",
        _ => return None,
    };
    Some(format!("model.layers.{i}.{hf}"))
}

/// A pretrained model's shape and weights: a `.gguf` file, or a directory with
/// `config.json` and safetensors (one file or sharded).
pub fn read_pretrained(path: &Path) -> Result<(LlamaConfig, HostTensors), WeightsError> {
    if path.extension().is_some_and(|e| e == "gguf") {
        return read_gguf(path);
    }
    let dir = if path.is_file() {
        path.parent().unwrap_or(Path::new("."))
    } else {
        path
    };
    let config = dir.join("config.json");
    let text = std::fs::read_to_string(&config).map_err(io(&config))?;
    let cfg = LlamaConfig::from_hf_json(&text).map_err(|e| format(&config, e.0))?;
    Ok((cfg, read_safetensors(path)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Example;
    use crate::model::{Inputs, LlamaConfig};
    use burn::tensor::Device;
    use repo2agent_core::shard::mds::Sample;

    fn logits(m: &Llama) -> Vec<f32> {
        let e = Example::from_sample(&Sample {
            input_ids: vec![3, 1, 4, 1, 5, 9, 2, 6],
            indices: vec![[0, 5], [5, 8]],
            mask: vec![1; 8],
            roles: vec![5; 8],
            length: 8,
            weight: None,
        });
        let out = m.forward(&Inputs::from_examples(&[e], &Device::flex()));
        out.into_data().try_to_vec::<f32>().unwrap()
    }

    #[test]
    fn saved_safetensors_load_back_to_identical_logits() {
        let dir = tempfile::tempdir().unwrap();
        let device = Device::flex();
        for tie in [true, false] {
            let cfg = LlamaConfig {
                tie_embeddings: tie,
                ..LlamaConfig::tiny(40)
            };
            let a = init_seeded(cfg.init(&device), 7, 0.2);
            let path = dir.path().join("model.safetensors");
            save_model(&a, &path, SaveDtype::F32).unwrap();
            let tensors = read_safetensors(dir.path()).unwrap();
            // HF names and PyTorch layout.
            assert_eq!(tensors["model.layers.1.self_attn.k_proj.weight"].0, vec![16, 32]);
            assert_eq!(tensors["model.layers.0.mlp.down_proj.weight"].0, vec![32, 64]);
            assert_eq!(tensors.contains_key("lm_head.weight"), !tie);
            let b = init_seeded(cfg.init(&device), 8, 0.2);
            assert_ne!(logits(&a), logits(&b));
            let (b, unused) = load_tensors(b, &tensors).unwrap();
            assert!(unused.is_empty());
            assert_eq!(logits(&a), logits(&b), "bit-identical after the round trip");
        }
    }

    #[test]
    fn sharded_bf16_checkpoints_load_and_problems_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let device = Device::flex();
        let cfg = LlamaConfig::tiny(40);
        let a = init_seeded(cfg.init(&device), 1, 0.2);
        let all = model_tensors(&a);
        // Two shards and the index, as HF writes them, in bf16.
        let (first, second): (HostTensors, HostTensors) = all.clone().into_iter().partition(|(n, _)| n.contains(".0."));
        write_safetensors(
            &dir.path().join("model-00001-of-00002.safetensors"),
            &first,
            SaveDtype::Bf16,
            None,
        )
        .unwrap();
        write_safetensors(
            &dir.path().join("model-00002-of-00002.safetensors"),
            &second,
            SaveDtype::Bf16,
            None,
        )
        .unwrap();
        let map: serde_json::Map<String, serde_json::Value> = all
            .keys()
            .map(|n| {
                let f = if first.contains_key(n) {
                    "model-00001-of-00002"
                } else {
                    "model-00002-of-00002"
                };
                (n.clone(), serde_json::Value::from(format!("{f}.safetensors")))
            })
            .collect();
        std::fs::write(
            dir.path().join("model.safetensors.index.json"),
            serde_json::json!({"metadata": {}, "weight_map": map}).to_string(),
        )
        .unwrap();
        let mut read = read_safetensors(dir.path()).unwrap();
        assert_eq!(read.len(), all.len());
        for (name, (shape, values)) in &all {
            assert_eq!(&read[name].0, shape);
            for (x, y) in values.iter().zip(&read[name].1) {
                assert_eq!(half::bf16::from_f32(*x).to_f32(), *y, "{name}: bf16 rounding only");
            }
        }
        read.insert("model.rotary_emb.inv_freq".into(), (vec![4], vec![0.0; 4]));
        let (_, unused) = load_tensors(cfg.init(&device), &read).unwrap();
        assert_eq!(unused, vec!["model.rotary_emb.inv_freq".to_string()]);
        read.remove("model.norm.weight");
        read.insert(
            "model.layers.0.mlp.up_proj.weight".into(),
            (vec![64, 31], vec![0.0; 64 * 31]),
        );
        let e = load_tensors(cfg.init(&device), &read).unwrap_err().to_string();
        assert!(e.contains("`model.norm.weight` is missing"), "{e}");
        assert!(
            e.contains("up_proj.weight` has shape [64, 31], the model needs [64, 32]"),
            "{e}"
        );
        let e = read_safetensors(&dir.path().join("nothing")).unwrap_err().to_string();
        assert!(e.contains("neither a .safetensors file"), "{e}");
        std::fs::write(dir.path().join("bad.safetensors"), b"\x08\0\0\0\0\0\0\0{garbage").unwrap();
        assert!(read_safetensors(&dir.path().join("bad.safetensors")).is_err());
    }

    #[test]
    fn a_grown_vocabulary_keeps_old_rows_and_adds_mean_rows() {
        let device = Device::flex();
        for tie in [true, false] {
            let mut shape = LlamaConfig {
                tie_embeddings: tie,
                ..LlamaConfig::tiny(40)
            };
            let a = init_seeded(shape.init(&device), 2, 0.2);
            let mut t = model_tensors(&a);
            let before = t.clone();
            grow_vocab(&mut shape, &mut t, 30);
            assert_eq!(t, before, "never shrinks");
            grow_vocab(&mut shape, &mut t, 43);
            assert_eq!(shape.vocab_size, 43);
            let (dims, e) = &t["model.embed_tokens.weight"];
            assert_eq!(dims, &vec![43, 32]);
            assert_eq!(e[..40 * 32], before["model.embed_tokens.weight"].1[..]);
            let mean0: f32 = (0..40).map(|r| e[r * 32]).sum::<f32>() / 40.0;
            assert!((e[41 * 32] - mean0).abs() < 1e-6);
            assert_eq!(t.contains_key("lm_head.weight"), !tie);
            let (b, _) = load_tensors(shape.init(&device), &t).unwrap();
            // The old tokens' logits are unchanged.
            let la = logits(&a);
            let lb = logits(&b);
            assert_eq!(la.len() / 40, lb.len() / 43);
            for p in 0..la.len() / 40 {
                for v in 0..40 {
                    assert!((la[p * 40 + v] - lb[p * 43 + v]).abs() < 1e-5);
                }
            }
        }
    }

    #[test]
    fn seeded_initialisation_is_deterministic() {
        let device = Device::flex();
        let cfg = LlamaConfig::tiny(40);
        let a = model_tensors(&init_seeded(cfg.init(&device), 3, 0.02));
        let b = model_tensors(&init_seeded(cfg.init(&device), 3, 0.02));
        let c = model_tensors(&init_seeded(cfg.init(&device), 4, 0.02));
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert!(a["model.norm.weight"].1.iter().all(|x| *x == 1.0));
        let w = &a["model.embed_tokens.weight"].1;
        let mean = w.iter().sum::<f32>() / w.len() as f32;
        let std = (w.iter().map(|x| (x - mean) * (x - mean)).sum::<f32>() / w.len() as f32).sqrt();
        assert!(mean.abs() < 0.002 && (std - 0.02).abs() < 0.002, "{mean} {std}");
    }
}

#[cfg(test)]
mod gguf_tests {
    use super::*;

    #[test]
    fn unpermuting_inverts_llama_cpp_s_permutation() {
        // llama.cpp's convert_hf_to_gguf: w.reshape(n_head, 2, hd/2, cols).swapaxes(1, 2).
        let (n_heads, hd, cols) = (3, 4, 2);
        let hf: Vec<f32> = (0..n_heads * hd * cols).map(|x| x as f32).collect();
        let mut gguf = vec![0.0; hf.len()];
        for h in 0..n_heads {
            for s in 0..2 {
                for j in 0..hd / 2 {
                    for c in 0..cols {
                        gguf[((h * hd / 2 + j) * 2 + s) * cols + c] = hf[((h * 2 + s) * hd / 2 + j) * cols + c];
                    }
                }
            }
        }
        assert_ne!(gguf, hf);
        assert_eq!(unpermute_rows(&gguf, n_heads, cols), hf);
    }

    #[test]
    fn gguf_names_map_to_hf_names() {
        assert_eq!(
            gguf_to_hf("blk.12.attn_k.weight").unwrap(),
            "model.layers.12.self_attn.k_proj.weight"
        );
        assert_eq!(
            gguf_to_hf("blk.0.ffn_norm.weight").unwrap(),
            "model.layers.0.post_attention_layernorm.weight"
        );
        assert_eq!(gguf_to_hf("token_embd.weight").unwrap(), "model.embed_tokens.weight");
        assert_eq!(gguf_to_hf("rope_freqs.weight"), None);
    }
}
