//! Our HF export read by the real thing: a model saved by the trainer
//! (`model.safetensors` + `config.json`, as in every checkpoint and `final/`)
//! loads in Hugging Face transformers as a `LlamaForCausalLM` (PyPI, in the
//! interop environment) and gives our logits — with grouped-query attention,
//! an untied output and Llama-3 RoPE scaling; for the f32 and the bf16 export.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::Command;

use burn::tensor::Device;
use repo2agent_trainer::data::Example;
use repo2agent_trainer::model::{Inputs, LlamaConfig, RopeScaling};
use repo2agent_trainer::train::save_hf;
use repo2agent_trainer::weights::{SaveDtype, init_seeded, load_tensors, read_safetensors};

use common::*;

#[test]
fn transformers_loads_our_export_and_computes_our_logits() {
    let cfg = LlamaConfig {
        vocab_size: 100,
        d_model: 64,
        n_layers: 2,
        n_heads: 4,
        n_kv_heads: 2,
        ffn_dim: 96,
        rope_theta: 500_000.0,
        rope_scaling: Some(RopeScaling {
            factor: 8.0,
            low_freq_factor: 1.0,
            high_freq_factor: 4.0,
            original_max_position_embeddings: 64.0,
        }),
        rms_eps: 1e-5,
        tie_embeddings: false,
    };
    let device = Device::flex();
    let model = init_seeded(cfg.init(&device), 11, 0.2);
    let rows: Vec<Vec<u32>> = vec![(0..48).map(|i| (i * 37 + 5) % 100).collect(), vec![7, 3, 99, 0, 42]];
    let logits_of = |model: &repo2agent_trainer::model::Llama| -> Vec<Vec<f32>> {
        rows.iter()
            .map(|ids| {
                let e = Example::from_document(ids);
                model
                    .forward(&Inputs::from_examples(&[e], &device))
                    .into_data()
                    .try_to_vec::<f32>()
                    .unwrap()
            })
            .collect()
    };
    let tmp = tempfile::tempdir().unwrap();
    let ids = tmp.path().join("ids.json");
    std::fs::write(&ids, serde_json::to_string(&rows).unwrap()).unwrap();
    for dtype in [SaveDtype::F32, SaveDtype::Bf16] {
        let dir = tmp.path().join(format!("{dtype:?}"));
        save_hf(&model, &cfg, &dir, dtype).unwrap();
        // Ours from the same file (for bf16: the rounded weights, computed in f32).
        let tensors = read_safetensors(&dir.join("model.safetensors")).unwrap();
        let (reloaded, _) = load_tensors(cfg.init(&device), &tensors).unwrap();
        let ours = logits_of(&reloaded);
        let out = dir.join("logits.json");
        let said = last_line(
            Command::new(interop_python())
                .arg(workspace_root().join("scripts/interop.py"))
                .args([
                    "hf-logits",
                    dir.to_str().unwrap(),
                    ids.to_str().unwrap(),
                    out.to_str().unwrap(),
                ]),
        );
        assert!(said.starts_with("ok:"), "{said}");
        let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
        assert_eq!(v["class"], "LlamaForCausalLM");
        let mut worst = 0f32;
        for (r, theirs) in v["logits"].as_array().unwrap().iter().enumerate() {
            let theirs: Vec<f32> = theirs
                .as_array()
                .unwrap()
                .iter()
                .flat_map(|row| row.as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32))
                .collect();
            assert_eq!(theirs.len(), ours[r].len());
            for (a, b) in ours[r].iter().zip(&theirs) {
                worst = worst.max((a - b).abs());
            }
        }
        eprintln!("transformers vs ours ({dtype:?} export): max |Δ logit| = {worst:e}");
        assert!(worst < 1e-4, "{dtype:?}: max |Δ logit| {worst}");
    }
}
