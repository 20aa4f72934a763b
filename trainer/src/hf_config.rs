//! Model shapes: presets and Hugging Face `config.json` files.

use crate::model::LlamaConfig;

/// The fields of a Hugging Face Llama `config.json` that fix the shape.
#[derive(Clone, Debug, serde::Deserialize)]
pub struct HfLlamaConfig {
    /// `vocab_size`.
    pub vocab_size: usize,
    /// `hidden_size`.
    pub hidden_size: usize,
    /// `num_hidden_layers`.
    pub num_hidden_layers: usize,
    /// `num_attention_heads`.
    pub num_attention_heads: usize,
    /// `num_key_value_heads` (defaults to `num_attention_heads`).
    pub num_key_value_heads: Option<usize>,
    /// `intermediate_size`.
    pub intermediate_size: usize,
    /// `rope_theta` (default 10,000).
    #[serde(default = "default_theta")]
    pub rope_theta: f64,
    /// `rope_scaling` (only `rope_type` `llama3` is supported; `null` for none).
    #[serde(default)]
    pub rope_scaling: Option<HfRopeScaling>,
    /// `rms_norm_eps` (default 1e-6).
    #[serde(default = "default_eps")]
    pub rms_norm_eps: f64,
    /// `tie_word_embeddings` (default false).
    #[serde(default)]
    pub tie_word_embeddings: bool,
    /// `model_type`; only `llama` is accepted.
    #[serde(default)]
    pub model_type: Option<String>,
}

/// HF's `rope_scaling` object.
#[derive(Clone, Debug, serde::Deserialize)]
pub struct HfRopeScaling {
    /// `rope_type` (or the older `type`).
    #[serde(alias = "type")]
    pub rope_type: String,
    /// `factor`.
    pub factor: f64,
    /// `low_freq_factor` (default 1).
    #[serde(default = "one")]
    pub low_freq_factor: f64,
    /// `high_freq_factor` (default 4).
    #[serde(default = "four")]
    pub high_freq_factor: f64,
    /// `original_max_position_embeddings` (default 8192).
    #[serde(default = "eight_k")]
    pub original_max_position_embeddings: f64,
}

fn one() -> f64 {
    1.0
}

fn four() -> f64 {
    4.0
}

fn eight_k() -> f64 {
    8192.0
}

fn default_theta() -> f64 {
    10_000.0
}

fn default_eps() -> f64 {
    1e-6
}

/// Why a config cannot describe a model we build.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ShapeError(pub String);

impl TryFrom<HfLlamaConfig> for LlamaConfig {
    type Error = ShapeError;

    fn try_from(c: HfLlamaConfig) -> Result<Self, ShapeError> {
        if let Some(t) = c.model_type.as_deref().filter(|t| *t != "llama") {
            return Err(ShapeError(format!("model_type `{t}` is not llama")));
        }
        let kv = c.num_key_value_heads.unwrap_or(c.num_attention_heads);
        let rope_scaling = match c.rope_scaling {
            None => None,
            Some(r) if r.rope_type == "llama3" => Some(crate::model::RopeScaling {
                factor: r.factor,
                low_freq_factor: r.low_freq_factor,
                high_freq_factor: r.high_freq_factor,
                original_max_position_embeddings: r.original_max_position_embeddings,
            }),
            Some(r) => {
                return Err(ShapeError(format!(
                    "rope_scaling type `{}` is not supported (only `llama3`)",
                    r.rope_type
                )));
            }
        };
        let cfg = LlamaConfig {
            vocab_size: c.vocab_size,
            d_model: c.hidden_size,
            n_layers: c.num_hidden_layers,
            n_heads: c.num_attention_heads,
            n_kv_heads: kv,
            ffn_dim: c.intermediate_size,
            rope_theta: c.rope_theta,
            rope_scaling,
            rms_eps: c.rms_norm_eps,
            tie_embeddings: c.tie_word_embeddings,
        };
        cfg.check()?;
        Ok(cfg)
    }
}

impl LlamaConfig {
    /// Parses a Hugging Face `config.json`.
    pub fn from_hf_json(text: &str) -> Result<Self, ShapeError> {
        let c: HfLlamaConfig = serde_json::from_str(text).map_err(|e| ShapeError(format!("config.json: {e}")))?;
        c.try_into()
    }

    /// Llama-3-8B's shape (the paper's model).
    pub fn llama3_8b() -> Self {
        Self {
            vocab_size: 128_256,
            d_model: 4096,
            n_layers: 32,
            n_heads: 32,
            n_kv_heads: 8,
            ffn_dim: 14_336,
            rope_theta: 500_000.0,
            rope_scaling: None,
            rms_eps: 1e-5,
            tie_embeddings: false,
        }
    }

    /// A preset by name: `tiny` (tests; vocabulary given), `llama3-8b`.
    pub fn preset(name: &str, vocab_size: usize) -> Result<Self, ShapeError> {
        match name {
            "tiny" => Ok(Self::tiny(vocab_size)),
            "llama3-8b" => Ok(Self::llama3_8b()),
            other => Err(ShapeError(format!(
                "unknown preset `{other}`; presets: tiny, llama3-8b"
            ))),
        }
    }

    /// Checks that the heads divide the sizes.
    pub fn check(&self) -> Result<(), ShapeError> {
        let mut p = Vec::new();
        if self.n_heads == 0 || !self.d_model.is_multiple_of(self.n_heads) {
            p.push(format!(
                "hidden size {} is not a multiple of {} heads",
                self.d_model, self.n_heads
            ));
        } else if !self.head_dim().is_multiple_of(2) {
            p.push(format!("head size {} must be even for RoPE", self.head_dim()));
        }
        if self.n_kv_heads == 0 || !self.n_heads.is_multiple_of(self.n_kv_heads) {
            p.push(format!(
                "{} heads are not a multiple of {} kv heads",
                self.n_heads, self.n_kv_heads
            ));
        }
        if self.vocab_size == 0 || self.n_layers == 0 || self.ffn_dim == 0 {
            p.push("vocab_size, layers and intermediate size must be positive".into());
        }
        if p.is_empty() {
            Ok(())
        } else {
            Err(ShapeError(p.join("; ")))
        }
    }

    /// Parameters of the model.
    pub fn parameter_count(&self) -> u64 {
        let (d, f, v) = (self.d_model as u64, self.ffn_dim as u64, self.vocab_size as u64);
        let kv = (self.n_kv_heads * self.head_dim()) as u64;
        let per_layer = d * d * 2 + 2 * d * kv + 3 * d * f + 2 * d;
        let out = if self.tie_embeddings { 0 } else { v * d };
        v * d + self.n_layers as u64 * per_layer + d + out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smollm2_135m_config_json() {
        // SmolLM2-135M's published config.json (the fields that fix the shape).
        let text = r#"{"architectures": ["LlamaForCausalLM"], "model_type": "llama", "vocab_size": 49152,
            "hidden_size": 576, "intermediate_size": 1536, "num_hidden_layers": 30,
            "num_attention_heads": 9, "num_key_value_heads": 3, "rope_theta": 100000,
            "rms_norm_eps": 1e-05, "tie_word_embeddings": true, "max_position_embeddings": 8192}"#;
        let c = LlamaConfig::from_hf_json(text).unwrap();
        assert_eq!((c.d_model, c.n_heads, c.n_kv_heads, c.head_dim()), (576, 9, 3, 64));
        assert!(c.tie_embeddings);
        assert_eq!(c.rope_theta, 100_000.0);
        // 134.5 M parameters: the "135M" of its name.
        assert_eq!(c.parameter_count(), 134_515_008);
    }

    #[test]
    fn llama31_rope_scaling_divides_long_wavelengths_only() {
        let text = r#"{"model_type": "llama", "vocab_size": 128256, "hidden_size": 4096, "intermediate_size": 14336,
            "num_hidden_layers": 32, "num_attention_heads": 32, "num_key_value_heads": 8, "rope_theta": 500000.0,
            "rope_scaling": {"factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                             "original_max_position_embeddings": 8192, "rope_type": "llama3"}}"#;
        let c = LlamaConfig::from_hf_json(text).unwrap();
        let plain = LlamaConfig {
            rope_scaling: None,
            ..c.clone()
        };
        let (scaled, base) = (c.inv_freq(), plain.inv_freq());
        assert_eq!(scaled.len(), 64);
        let wavelen = |f: f32| 2.0 * std::f32::consts::PI / f;
        let mut blended = 0;
        for (s, b) in scaled.iter().zip(&base) {
            if wavelen(*b) < 2048.0 {
                assert_eq!(s, b, "short wavelengths are kept");
            } else if wavelen(*b) > 8192.0 {
                assert!(
                    (s - b / 8.0).abs() <= 1e-6 * b,
                    "long wavelengths divided by the factor"
                );
            } else {
                blended += 1;
                assert!(*s < *b && *s > b / 8.0, "in between: a blend");
            }
        }
        assert!(blended > 0);
        let bad = text.replace("llama3", "yarn");
        assert!(LlamaConfig::from_hf_json(&bad).unwrap_err().0.contains("yarn"));
    }

    #[test]
    fn llama3_8b_preset_has_8b_parameters() {
        let c = LlamaConfig::preset("llama3-8b", 0).unwrap();
        assert_eq!(c.parameter_count(), 8_030_261_248);
        assert!(LlamaConfig::preset("gpt", 0).is_err());
    }

    #[test]
    fn bad_shapes_are_reported() {
        let bad = r#"{"vocab_size": 10, "hidden_size": 30, "intermediate_size": 8, "num_hidden_layers": 1,
            "num_attention_heads": 4, "num_key_value_heads": 3}"#;
        let e = LlamaConfig::from_hf_json(bad).unwrap_err().0;
        assert!(e.contains("not a multiple of 4 heads") && e.contains("kv heads"), "{e}");
        let e = LlamaConfig::from_hf_json(r#"{"model_type": "gpt2"}"#).unwrap_err().0;
        assert!(e.contains("config.json"), "{e}");
    }
}
