use crate::fast::FastPath;
use repo2agent_core::StageError;
use repo2agent_core::stage::{TokenEncoder, TokenizerInfo};
use std::sync::Arc;
use tokenizers::{AddedToken, Tokenizer};

/// A prepared Hugging Face tokenizer.
#[derive(Clone, Debug)]
pub struct HfEncoder {
    normal: Tokenizer,
    info: TokenizerInfo,
    /// The exact fast path, where the tokenizer allows one (`fast = true`).
    fast: Option<Arc<FastPath>>,
}

impl HfEncoder {
    /// Wraps a tokenizer whose special tokens are already added; encodes
    /// with the tokenizer's own `encode`.
    pub fn new(tokenizer: Tokenizer, info: TokenizerInfo) -> Self {
        Self {
            normal: tokenizer,
            info,
            fast: None,
        }
    }

    /// Like [`Self::new`], encoding through the fast path (a native split of
    /// the known byte-level patterns and a word cache: the same ids, docs/shards.md)
    /// where the tokenizer allows it.
    pub fn with_fast_path(tokenizer: Tokenizer, info: TokenizerInfo) -> Self {
        let fast = FastPath::new(&tokenizer).map(Arc::new);
        Self {
            normal: tokenizer,
            info,
            fast,
        }
    }
}

impl TokenEncoder for HfEncoder {
    fn info(&self) -> &TokenizerInfo {
        &self.info
    }

    fn encode(&self, text: &str) -> Result<Vec<u32>, StageError> {
        if let Some(ids) = self.fast.as_ref().and_then(|f| f.encode(&self.normal, text)) {
            return ids.map_err(|e| StageError::Invalid(format!("tokenizer: {e}")));
        }
        self.normal
            .encode_fast(text, false)
            .map(|e| e.get_ids().to_vec())
            .map_err(|e| StageError::Invalid(format!("tokenizer: {e}")))
    }

    fn pieces<'t>(&self, text: &'t str) -> Option<Vec<repo2agent_core::stage::TextPiece<'t>>> {
        self.fast.as_ref()?.pieces(text)
    }

    fn decode(&self, ids: &[u32]) -> Result<String, StageError> {
        self.normal
            .decode(ids, false)
            .map_err(|e| StageError::Invalid(format!("tokenizer: {e}")))
    }

    fn fast_path(&self) -> Option<String> {
        self.fast.as_ref().map(|f| f.describe())
    }

    fn to_json(&self) -> Result<String, StageError> {
        self.normal
            .to_string(false)
            .map_err(|e| StageError::Failed(format!("tokenizer: {e}")))
    }
}

/// Wraps a tokenizer whose special tokens are added, with its info (the
/// vocabulary rows computed here).
pub(crate) fn prepared(
    t: Tokenizer,
    kind: &str,
    source: String,
    (bos, eos, pad): (Option<u32>, Option<u32>, u32),
    special_tokens: Vec<(String, u32)>,
    fast: bool,
) -> Box<dyn TokenEncoder> {
    let info = TokenizerInfo {
        kind: kind.to_owned(),
        source,
        vocab_size: vocab_rows(&t),
        bos,
        eos,
        pad,
        special_tokens,
    };
    Box::new(if fast {
        HfEncoder::with_fast_path(t, info)
    } else {
        HfEncoder::new(t, info)
    })
}

/// Adds `tokens` as special tokens (those already in the vocabulary keep their
/// id) and returns each with its id.
pub(crate) fn add_special(t: &mut Tokenizer, tokens: &[String]) -> Result<Vec<(String, u32)>, StageError> {
    let added: Vec<AddedToken> = tokens.iter().map(|s| AddedToken::from(s.clone(), true)).collect();
    t.add_special_tokens(&added);
    tokens
        .iter()
        .map(|s| {
            t.token_to_id(s)
                .map(|id| (s.clone(), id))
                .ok_or_else(|| StageError::Failed(format!("special token `{s}` was not added")))
        })
        .collect()
}

/// Rows the embedding needs: one more than the largest id.
fn vocab_rows(t: &Tokenizer) -> u32 {
    t.get_vocab(true).values().copied().max().map_or(0, |m| m + 1)
}

/// Which token to use for BOS/EOS/PAD: `auto` picks the first candidate the
/// vocabulary has, `""` means none, anything else must be in the vocabulary.
pub(crate) fn pick(t: &Tokenizer, wanted: &str, candidates: &[&str], what: &str) -> Result<Option<u32>, String> {
    match wanted {
        "" => Ok(None),
        "auto" => Ok(candidates.iter().find_map(|c| t.token_to_id(c))),
        tok => t
            .token_to_id(tok)
            .map(Some)
            .ok_or_else(|| format!("{what} token `{tok}` is not in the tokenizer's vocabulary")),
    }
}

/// Candidate names, most specific first.
pub(crate) const BOS_CANDIDATES: [&str; 4] = ["<|begin_of_text|>", "<s>", "<bos>", "<|startoftext|>"];
pub(crate) const EOS_CANDIDATES: [&str; 5] = ["<|end_of_text|>", "</s>", "<eos>", "<|endoftext|>", "<|im_end|>"];
pub(crate) const PAD_CANDIDATES: [&str; 4] = ["<|finetune_right_pad_id|>", "<|pad|>", "<pad>", "[PAD]"];
