use crate::error::StageError;
use serde::{Deserialize, Serialize};

/// What the trainer and the shard readers need to know about a prepared
/// tokenizer; written to `repo2agent.json` beside the shards.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenizerInfo {
    /// The tokenizer's type (`hf`, `bpe`, …).
    pub kind: String,
    /// Where it came from (the `tokenizer.json` path, or `trained on the run's corpus`).
    pub source: String,
    /// Vocabulary size including added and special tokens: the embedding rows
    /// the trainer needs.
    pub vocab_size: u32,
    /// Token put at the start of every document, when the tokenizer has one.
    pub bos: Option<u32>,
    /// Token put at the end of every document, when the tokenizer has one.
    pub eos: Option<u32>,
    /// Token that fills padding (loss weight 0, role [`crate::shard::PAD_ROLE`]).
    pub pad: u32,
    /// The serialization spec's special tokens and their ids.
    pub special_tokens: Vec<(String, u32)>,
}

/// A tokenizer as configured (`[tokenizer]`): either ready to use or trained on
/// the run's own corpus first.
///
/// Contract: [`prepare`](Tokenizer::prepare) adds every special token given as
/// one indivisible token and is deterministic for the same inputs; it is called
/// with a corpus exactly when [`needs_corpus`](Tokenizer::needs_corpus) is true.
pub trait Tokenizer: Send + Sync {
    /// Whether [`prepare`](Tokenizer::prepare) needs the run's corpus (a tokenizer trained on it).
    fn needs_corpus(&self) -> bool;

    /// The tokenizer ready to encode, with `special_tokens` added. `corpus`
    /// yields the run's documents as text when [`needs_corpus`](Tokenizer::needs_corpus).
    fn prepare(
        &self,
        special_tokens: &[String],
        corpus: Option<&mut (dyn Iterator<Item = String> + Send)>,
    ) -> Result<Box<dyn TokenEncoder>, StageError>;
}

/// A prepared tokenizer.
///
/// Contract: `encode` never adds BOS/EOS (the caller places them); text that
/// spells a special token becomes that token (as Hugging Face tokenizers do by
/// default); `decode` of `encode(text)` gives `text` back for any UTF-8 text
/// (byte-level tokenizers).
/// A piece of a text as a tokenizer splits it ([`TokenEncoder::pieces`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TextPiece<'t> {
    /// Text without an added token, encoded on its own.
    Text(&'t str),
    /// An added token's id.
    Token(u32),
}

pub trait TokenEncoder: Send + Sync {
    /// Sizes and special ids.
    fn info(&self) -> &TokenizerInfo;

    /// Token ids of `text`.
    fn encode(&self, text: &str) -> Result<Vec<u32>, StageError>;

    /// Text of `ids` (special tokens included).
    fn decode(&self, ids: &[u32]) -> Result<String, StageError>;

    /// The tokenizer as Hugging Face `tokenizer.json` text, saved beside the shards.
    fn to_json(&self) -> Result<String, StageError>;

    /// The pieces `encode` splits `text` into before encoding each on its
    /// own: its added tokens (each one id) and the text between them. Only
    /// `Some` where that provably holds: `encode(text)` is the pieces' ids
    /// in order, a `Text` piece's being `encode` of that piece alone. Then a
    /// file's bytes inside an observation (`<|result|>` + bytes + `<|end|>`)
    /// share the tokens of the same bytes written as code. Default `None`.
    fn pieces<'t>(&self, text: &'t str) -> Option<Vec<TextPiece<'t>>> {
        let _ = text;
        None
    }

    /// How `encode` gets its ids when it does not simply run the tokenizer
    /// (a faster path giving the same ids), for the run's report; `None`: it does.
    fn fast_path(&self) -> Option<String> {
        None
    }
}
