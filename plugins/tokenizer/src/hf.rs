use crate::encoder::{BOS_CANDIDATES, EOS_CANDIDATES, PAD_CANDIDATES, add_special, pick, prepared};
use repo2agent_core::StageError;
use repo2agent_core::config::Problem;
use repo2agent_core::stage::{TokenEncoder, Tokenizer};
use serde::Deserialize;
use std::path::PathBuf;

/// Config of the `hf` tokenizer.
///
/// ```toml
/// [tokenizer]
/// path = "tokenizer.json"      # type = "hf" is implied by `path`
/// bos = "auto"                 # "<|begin_of_text|>" for Llama 3; "" for none
/// ```
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HfTokenizerConfig {
    /// A Hugging Face `tokenizer.json`, relative to the config file.
    pub path: PathBuf,
    /// Token put before every document: a token of the vocabulary, `"auto"`
    /// (the first of `<|begin_of_text|>`, `<s>`, `<bos>`, `<|startoftext|>` the
    /// vocabulary has; none otherwise) or `""` (none). Default `"auto"`.
    #[serde(default = "auto")]
    pub bos: String,
    /// Token put after every document: like `bos`; `"auto"` tries
    /// `<|end_of_text|>`, `</s>`, `<eos>`, `<|endoftext|>`, `<|im_end|>`. Default `"auto"`.
    #[serde(default = "auto")]
    pub eos: String,
    /// Padding token: like `bos`; `"auto"` tries `<|finetune_right_pad_id|>`,
    /// `<|pad|>`, `<pad>`, `[PAD]`, then falls back to EOS, then id 0. Padding
    /// always has loss weight 0, so the choice only matters to readers. Default `"auto"`.
    #[serde(default = "auto")]
    pub pad: String,
    /// Encode through the fast path where the tokenizer allows it: the known
    /// byte-level split patterns (Llama 3, Qwen2, GPT-2, SmolLM2) scanned
    /// natively and each distinct word tokenized once per thread, giving
    /// exactly the ids of the tokenizer's own `encode` (docs/shards.md).
    /// `false`: the tokenizer's `encode` for every segment. Default `true`.
    #[serde(default = "yes")]
    pub fast: bool,
}

fn auto() -> String {
    "auto".to_owned()
}

pub(crate) fn yes() -> bool {
    true
}

/// A Hugging Face tokenizer loaded when the config is read.
#[derive(Debug)]
pub struct HfTokenizer {
    path: PathBuf,
    tokenizer: tokenizers::Tokenizer,
    bos: Option<u32>,
    eos: Option<u32>,
    pad: u32,
    fast: bool,
}

impl HfTokenizer {
    /// Loads and checks the file (a missing or malformed file is a config
    /// problem). `config.path` is used as it is: a config's factory has
    /// resolved it against the config's directory already.
    pub fn new(config: HfTokenizerConfig) -> Result<Self, Problem> {
        let path = config.path.clone();
        if let Some(missing) = repo2agent_core::config::missing_file("tokenizer", &path) {
            return Err(Problem::new(missing));
        }
        let tokenizer = tokenizers::Tokenizer::from_file(&path)
            .map_err(|e| Problem::new(format!("cannot load tokenizer {}: {e}", path.display())))?;
        let mut bad = Vec::new();
        let mut get = |wanted: &str, cands: &[&str], what: &str| {
            pick(&tokenizer, wanted, cands, what).unwrap_or_else(|e| {
                bad.push(e);
                None
            })
        };
        let bos = get(&config.bos, &BOS_CANDIDATES, "bos");
        let eos = get(&config.eos, &EOS_CANDIDATES, "eos");
        let pad = get(&config.pad, &PAD_CANDIDATES, "pad");
        if !bad.is_empty() {
            return Err(Problem::new(bad.join("; ")));
        }
        Ok(Self {
            pad: pad.or(eos).unwrap_or(0),
            path,
            tokenizer,
            bos,
            eos,
            fast: config.fast,
        })
    }
}

impl Tokenizer for HfTokenizer {
    fn needs_corpus(&self) -> bool {
        false
    }

    fn prepare(
        &self,
        special_tokens: &[String],
        _corpus: Option<&mut (dyn Iterator<Item = String> + Send)>,
    ) -> Result<Box<dyn TokenEncoder>, StageError> {
        let mut t = self.tokenizer.clone();
        let special = add_special(&mut t, special_tokens)?;
        let source = self.path.display().to_string();
        Ok(prepared(
            t,
            "hf",
            source,
            (self.bos, self.eos, self.pad),
            special,
            self.fast,
        ))
    }
}
