use crate::encoder::{add_special, prepared};
use repo2agent_core::StageError;
use repo2agent_core::config::Problem;
use repo2agent_core::stage::{TokenEncoder, Tokenizer};
use serde::Deserialize;
use tokenizers::decoders::byte_level::ByteLevel as ByteLevelDecoder;
use tokenizers::models::bpe::{BPE, BpeTrainerBuilder};
use tokenizers::models::{ModelWrapper, TrainerWrapper};
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::{
    AddedToken, DecoderWrapper, NormalizerWrapper, PostProcessorWrapper, PreTokenizerWrapper, TokenizerBuilder,
};

/// Config of the `bpe` tokenizer (used when `[tokenizer]` is absent).
///
/// ```toml
/// [tokenizer]
/// type = "bpe"
/// vocab_size = 16384
/// ```
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BpeTokenizerConfig {
    /// Vocabulary size to train to, special tokens included (training stops
    /// earlier when no pair is frequent enough). Default 16,384; at least 300.
    #[serde(default = "BpeTokenizerConfig::default_vocab_size")]
    pub vocab_size: u32,
    /// A pair must occur this often to be merged. Default 2.
    #[serde(default = "BpeTokenizerConfig::default_min_frequency")]
    pub min_frequency: u64,
    /// Train on at most this many bytes of the corpus (its first documents in
    /// run order); the whole corpus is still tokenized. Default 268,435,456 (256 MiB).
    #[serde(default = "BpeTokenizerConfig::default_max_training_bytes")]
    pub max_training_bytes: u64,
    /// Encode through the exact fast path (as the `hf` tokenizer's `fast`).
    /// Default `true`.
    #[serde(default = "crate::hf::yes")]
    pub fast: bool,
}

impl BpeTokenizerConfig {
    fn default_vocab_size() -> u32 {
        16_384
    }
    fn default_min_frequency() -> u64 {
        2
    }
    fn default_max_training_bytes() -> u64 {
        256 << 20
    }
}

impl Default for BpeTokenizerConfig {
    fn default() -> Self {
        Self {
            vocab_size: Self::default_vocab_size(),
            min_frequency: Self::default_min_frequency(),
            max_training_bytes: Self::default_max_training_bytes(),
            fast: true,
        }
    }
}

/// BOS, EOS and PAD of a trained tokenizer (ids 0, 1, 2).
pub const BPE_CONTROL: [&str; 3] = ["<|begin_of_text|>", "<|end_of_text|>", "<|pad|>"];

/// A byte-level BPE (GPT-2 / Llama 3 style pre-tokenization) trained at run time.
#[derive(Clone, Debug)]
pub struct BpeTokenizer {
    config: BpeTokenizerConfig,
}

impl BpeTokenizer {
    /// Checks the settings.
    pub fn new(config: BpeTokenizerConfig) -> Result<Self, Problem> {
        if config.vocab_size < 300 {
            return Err(Problem::new(format!(
                "vocab_size must be at least 300 (256 bytes + special tokens), got {}",
                config.vocab_size
            )));
        }
        Ok(Self { config })
    }
}

impl Tokenizer for BpeTokenizer {
    fn needs_corpus(&self) -> bool {
        true
    }

    fn prepare(
        &self,
        special_tokens: &[String],
        corpus: Option<&mut (dyn Iterator<Item = String> + Send)>,
    ) -> Result<Box<dyn TokenEncoder>, StageError> {
        let corpus = corpus.ok_or_else(|| StageError::Failed("the bpe tokenizer needs the corpus".into()))?;
        let mut specials: Vec<AddedToken> = BPE_CONTROL.iter().map(|s| AddedToken::from(*s, true)).collect();
        specials.extend(
            special_tokens
                .iter()
                .filter(|s| !BPE_CONTROL.contains(&s.as_str()))
                .map(|s| AddedToken::from(s.clone(), true)),
        );
        let mut trainer = TrainerWrapper::BpeTrainer(
            BpeTrainerBuilder::new()
                .vocab_size(self.config.vocab_size as usize)
                .min_frequency(self.config.min_frequency)
                .special_tokens(specials)
                .initial_alphabet(ByteLevel::alphabet().into_iter().collect())
                .show_progress(false)
                .build(),
        );
        let mut t: tokenizers::Tokenizer = TokenizerBuilder::<
            ModelWrapper,
            NormalizerWrapper,
            PreTokenizerWrapper,
            PostProcessorWrapper,
            DecoderWrapper,
        >::new()
        .with_model(ModelWrapper::BPE(BPE::default()))
        .with_pre_tokenizer(Some(ByteLevel::new(false, false, true).into()))
        .with_decoder(Some(ByteLevelDecoder::new(false, false, true).into()))
        .with_normalizer(None)
        .with_post_processor(None)
        .build()
        .map_err(|e| StageError::Failed(format!("bpe: {e}")))?
        .into();
        let budget = self.config.max_training_bytes;
        let mut seen = 0u64;
        let limited = corpus.take_while(move |doc| {
            let keep = seen < budget;
            seen += doc.len() as u64;
            keep
        });
        t.train(&mut trainer, limited)
            .map_err(|e| StageError::Failed(format!("bpe training: {e}")))?;
        let mut all: Vec<String> = BPE_CONTROL.iter().map(|s| (*s).to_owned()).collect();
        all.extend(special_tokens.iter().cloned());
        let ids = add_special(&mut t, &all)?;
        let control = (Some(ids[0].1), Some(ids[1].1), ids[2].1);
        let source = format!("trained on the run's corpus (vocab_size {})", self.config.vocab_size);
        Ok(prepared(
            t,
            "bpe",
            source,
            control,
            ids[BPE_CONTROL.len()..].to_vec(),
            self.config.fast,
        ))
    }
}
