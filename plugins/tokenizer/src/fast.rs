//! The same ids as a Hugging Face tokenizer's `encode`, computed faster: the
//! split done by [`crate::pretokenize`]'s scanners where the tokenizer's
//! pre-tokenizer is one of the known byte-level patterns (its own
//! pre-tokenizer otherwise), and each distinct split tokenized once by the
//! tokenizer's own model, then looked up (a per-thread word cache).
//!
//! Added tokens (the format's markers, the tokenizer's own specials) are
//! split out first as `encode` does: leftmost-longest matches, each its id,
//! the text between them split and tokenized on its own.
//!
//! Only taken where it provably gives `encode`'s ids: no normalizer, no
//! truncation or padding, a BPE model without dropout (its ids depend on the
//! split alone); a text with an added token whose matching is not plain (a
//! `single_word`, `lstrip`, `rstrip` or `normalized` token, or
//! `encode_special_tokens` set) goes through `encode`. The tests compare both
//! on real code and on generated text.

use crate::pretokenize::{GPT2_NO_TAIL, LLAMA3, Pattern, QWEN2, split};
use aho_corasick::AhoCorasick;
use serde_json::{Value, json};
use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use tokenizers::models::ModelWrapper;
use tokenizers::{Model, OffsetReferential, OffsetType, PreTokenizedString, PreTokenizer, Tokenizer};

/// How a text is split into words.
#[derive(Debug)]
enum Splitter {
    /// A hand-written scanner, then bytes mapped to the byte-level alphabet.
    Native(Pattern),
    /// The tokenizer's own pre-tokenizer.
    Own,
}

/// The added tokens, found as `encode` finds them.
#[derive(Debug)]
struct Added {
    /// Every added token's text, leftmost-longest.
    matcher: AhoCorasick,
    /// The id of each pattern.
    ids: Vec<u32>,
    /// Whether every token matches plainly (no stripping, no word
    /// boundaries, not normalized, specials not encoded as text): then the
    /// matches are split out here; otherwise a text with one takes `encode`.
    plain: bool,
}

/// The fast path of one prepared tokenizer.
#[derive(Debug)]
pub(crate) struct FastPath {
    splitter: Splitter,
    added: Option<Added>,
    /// GPT-2's byte → character map of the byte-level alphabet.
    byte_chars: [char; 256],
    /// Which tokenizer the thread's word cache belongs to.
    id: u64,
}

/// Words kept per thread before the cache starts over (about 20 MB).
const CACHE_WORDS: usize = 1 << 18;

#[derive(Default)]
struct WordCache {
    owner: u64,
    words: HashMap<Box<str>, Box<[u32]>>,
}

thread_local! {
    static CACHE: RefCell<WordCache> = RefCell::new(WordCache::default());
}

/// GPT-2's `bytes_to_unicode`: printable bytes stand for themselves, the
/// others for the code points from 256 on, in byte order.
fn byte_chars() -> [char; 256] {
    let mut out = ['\0'; 256];
    let mut next = 256u32;
    for (b, slot) in out.iter_mut().enumerate() {
        let printable = (33..=126).contains(&b) || (161..=172).contains(&b) || (174..=255).contains(&b);
        let code = if printable {
            b as u32
        } else {
            next += 1;
            next - 1
        };
        *slot = char::from_u32(code).unwrap_or('\0');
    }
    out
}

fn split_of(regex: &str) -> Value {
    json!({"type": "Split", "pattern": {"Regex": regex}, "behavior": "Isolated", "invert": false})
}

/// A `ByteLevel` pre-tokenizer without a prefix space, `use_regex` as given
/// (`trim_offsets` only moves offsets).
fn is_byte_level(v: &Value, use_regex: bool) -> bool {
    v["type"] == "ByteLevel" && v["add_prefix_space"] == false && v["use_regex"] == use_regex
}

/// Which scanner reproduces a pre-tokenizer (its JSON), if any.
fn native_pattern(pre: &Value) -> Option<Pattern> {
    if is_byte_level(pre, true) {
        return Some(Pattern::Gpt2 { isolate_numbers: false });
    }
    let parts = pre.get("pretokenizers")?.as_array()?;
    if pre["type"] != "Sequence" {
        return None;
    }
    match parts.as_slice() {
        [s, b] if is_byte_level(b, false) => [(LLAMA3, 3), (QWEN2, 1)]
            .into_iter()
            .find(|(re, _)| *s == split_of(re))
            .map(|(_, max_digits)| Pattern::Cl100k { max_digits }),
        [d, s, b] if is_byte_level(b, false) && *d == split_of(r"\p{N}") && *s == split_of(GPT2_NO_TAIL) => {
            Some(Pattern::Gpt2 { isolate_numbers: true })
        }
        _ => None,
    }
}

impl FastPath {
    /// The fast path for `t`, or `None` where it could give other ids.
    pub(crate) fn new(t: &Tokenizer) -> Option<Self> {
        let ModelWrapper::BPE(bpe) = t.get_model() else {
            return None;
        };
        if bpe.dropout.is_some()
            || t.get_normalizer().is_some()
            || t.get_truncation().is_some()
            || t.get_padding().is_some()
        {
            return None;
        }
        let pre = serde_json::to_value(t.get_pre_tokenizer()?).ok()?;
        let splitter = native_pattern(&pre).map_or(Splitter::Own, Splitter::Native);
        let mut tokens: Vec<(u32, tokenizers::AddedToken)> = t.get_added_tokens_decoder().into_iter().collect();
        tokens.sort_by_key(|(id, _)| *id);
        tokens.retain(|(_, a)| !a.content.is_empty());
        let mut contents: Vec<&str> = tokens.iter().map(|(_, a)| a.content.as_str()).collect();
        let plain = !t.get_encode_special_tokens()
            && tokens
                .iter()
                .all(|(_, a)| !a.single_word && !a.lstrip && !a.rstrip && !a.normalized)
            && {
                contents.sort_unstable();
                contents.windows(2).all(|w| w[0] != w[1])
            };
        let added = if tokens.is_empty() {
            None
        } else {
            let matcher = AhoCorasick::builder()
                .match_kind(aho_corasick::MatchKind::LeftmostLongest)
                .build(tokens.iter().map(|(_, a)| a.content.as_str()))
                .ok()?;
            Some(Added {
                matcher,
                ids: tokens.iter().map(|(id, _)| *id).collect(),
                plain,
            })
        };
        static IDS: AtomicU64 = AtomicU64::new(1);
        Some(Self {
            splitter,
            added,
            byte_chars: byte_chars(),
            id: IDS.fetch_add(1, Ordering::Relaxed),
        })
    }

    /// The pattern scanned natively, if any.
    #[cfg(test)]
    pub(crate) fn native(&self) -> Option<Pattern> {
        match self.splitter {
            Splitter::Native(p) => Some(p),
            Splitter::Own => None,
        }
    }

    /// For the run's report: "fast path: …".
    pub(crate) fn describe(&self) -> String {
        let split = match self.splitter {
            Splitter::Native(Pattern::Cl100k { max_digits: 3 }) => "Llama 3 split",
            Splitter::Native(Pattern::Cl100k { .. }) => "Qwen2 split",
            Splitter::Native(Pattern::Gpt2 { isolate_numbers: false }) => "GPT-2 split",
            Splitter::Native(Pattern::Gpt2 { isolate_numbers: true }) => "SmolLM2 split",
            Splitter::Own => "its own split",
        };
        format!("fast path: {split}, word cache")
    }

    /// `encode(text)`'s ids, or `None` where `text` holds an added token
    /// that is not matched plainly (then the caller encodes it the usual way).
    pub(crate) fn encode(&self, t: &Tokenizer, text: &str) -> Option<Result<Vec<u32>, String>> {
        let mut ids = Vec::with_capacity(text.len() / 3);
        let Some(added) = &self.added else {
            return Some(self.words(t, text, &mut ids).map(|()| ids));
        };
        if !added.plain {
            return match added.matcher.is_match(text) {
                true => None,
                false => Some(self.words(t, text, &mut ids).map(|()| ids)),
            };
        }
        let mut at = 0;
        for m in added.matcher.find_iter(text) {
            if let Err(e) = self.words(t, &text[at..m.start()], &mut ids) {
                return Some(Err(e));
            }
            ids.push(added.ids[m.pattern().as_usize()]);
            at = m.end();
        }
        Some(self.words(t, &text[at..], &mut ids).map(|()| ids))
    }

    /// How [`FastPath::encode`] splits `text` around its added tokens, where
    /// it does (every added token matched plainly); `None` otherwise.
    pub(crate) fn pieces<'t>(&self, text: &'t str) -> Option<Vec<repo2agent_core::stage::TextPiece<'t>>> {
        use repo2agent_core::stage::TextPiece;
        let Some(added) = &self.added else {
            return Some(vec![TextPiece::Text(text)]);
        };
        if !added.plain {
            return None;
        }
        let mut pieces = Vec::new();
        let mut at = 0;
        for m in added.matcher.find_iter(text) {
            if m.start() > at {
                pieces.push(TextPiece::Text(&text[at..m.start()]));
            }
            pieces.push(TextPiece::Token(added.ids[m.pattern().as_usize()]));
            at = m.end();
        }
        if at < text.len() {
            pieces.push(TextPiece::Text(&text[at..]));
        }
        Some(pieces)
    }

    /// Appends the ids of `text`, which holds no added token.
    fn words(&self, t: &Tokenizer, text: &str, ids: &mut Vec<u32>) -> Result<(), String> {
        if text.is_empty() {
            return Ok(());
        }
        CACHE.with_borrow_mut(|cache| {
            if cache.owner != self.id || cache.words.len() > CACHE_WORDS {
                cache.words.clear();
                cache.owner = self.id;
            }
            let mut word = |w: &str, mapped: &dyn Fn(&str) -> String| -> Result<(), String> {
                if let Some(hit) = cache.words.get(w) {
                    ids.extend_from_slice(hit);
                    return Ok(());
                }
                let toks = t.get_model().tokenize(&mapped(w)).map_err(|e| e.to_string())?;
                let v: Box<[u32]> = toks.iter().map(|t| t.id).collect();
                ids.extend_from_slice(&v);
                cache.words.insert(w.into(), v);
                Ok(())
            };
            match self.splitter {
                Splitter::Native(p) => {
                    let map = |w: &str| w.bytes().map(|b| self.byte_chars[b as usize]).collect::<String>();
                    let mut err = Ok(());
                    split(p, text, |w| {
                        if err.is_ok() {
                            err = word(w, &map);
                        }
                    });
                    err?;
                }
                Splitter::Own => {
                    let pre = t.get_pre_tokenizer().ok_or("no pre-tokenizer")?;
                    let mut p = PreTokenizedString::from(text);
                    pre.pre_tokenize(&mut p).map_err(|e| e.to_string())?;
                    for (w, _, _) in p.get_splits(OffsetReferential::Original, OffsetType::Byte) {
                        word(w, &|w: &str| w.to_owned())?;
                    }
                }
            }
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pretokenize::GPT2;
    use crate::{BpeTokenizer, BpeTokenizerConfig};
    use repo2agent_core::stage::Tokenizer as _;

    /// Text of every kind the splits treat apart: code, prose, contractions
    /// in any case, numbers of every length and script, whitespace runs of
    /// every kind, marks, CJK, emoji, the added tokens.
    fn samples() -> Vec<String> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut out: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
            .collect();
        out.sort();
        out.push(
            "It's 'S 'RE 'Ve 'ſ 'LL 'd, x'y ''s\r\n\r\n\t\t(x)\n \n  \u{a0}é e\u{301} \u{3000}中文 ١٢٣٤ ²³ Ⅻ 😀!"
                .into(),
        );
        out.push("1 12 123 1234 12345 a1b22c333 \t\t  \n\n   x   \u{85}\u{2028}  ".into());
        out.push("<|think|>plan<|end|>\n<|call|>write(a.rs)\n".into());
        out.push("<|think|><|end|><|think|>  <|end|>\n\n<|end|>".into());
        // Every byte-level character class next to every other.
        let pieces = [
            "a", "Z", "é", "中", "1", "٣", "²", " ", "  ", "\t", "\n", "\r\n", "\u{3000}", "'", "'s", "'LL", "(", "_",
            "😀", "\u{301}", "",
        ];
        let mut all = String::new();
        for a in pieces {
            for b in pieces {
                for c in pieces {
                    all.push_str(a);
                    all.push_str(b);
                    all.push_str(c);
                    all.push('|');
                }
            }
        }
        out.push(all);
        out
    }

    /// A BPE trained on `samples()` (GPT-2's split), then given `pre` as its
    /// pre-tokenizer.
    fn tokenizer(pre: Option<Value>) -> Tokenizer {
        let docs = samples();
        let enc = BpeTokenizer::new(BpeTokenizerConfig {
            vocab_size: 600,
            fast: false,
            ..Default::default()
        })
        .unwrap()
        .prepare(
            &["<|think|>".to_owned(), "<|end|>".to_owned()],
            Some(&mut docs.into_iter()),
        )
        .unwrap();
        let mut json: Value = serde_json::from_str(&enc.to_json().unwrap()).unwrap();
        if let Some(pre) = pre {
            json["pre_tokenizer"] = pre;
        }
        json.to_string().parse().unwrap()
    }

    fn byte_level(use_regex: bool) -> Value {
        json!({"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": use_regex})
    }

    #[test]
    fn the_same_ids_as_encode_for_every_known_pattern() {
        let shapes = [
            (None, Some(Pattern::Gpt2 { isolate_numbers: false })),
            (
                Some(json!({"type": "Sequence", "pretokenizers": [split_of(LLAMA3), byte_level(false)]})),
                Some(Pattern::Cl100k { max_digits: 3 }),
            ),
            (
                Some(json!({"type": "Sequence", "pretokenizers": [split_of(QWEN2), byte_level(false)]})),
                Some(Pattern::Cl100k { max_digits: 1 }),
            ),
            (
                Some(
                    json!({"type": "Sequence", "pretokenizers": [split_of(r"\p{N}"), split_of(GPT2_NO_TAIL), byte_level(false)]}),
                ),
                Some(Pattern::Gpt2 { isolate_numbers: true }),
            ),
            // Unknown to the scanners: the tokenizer's own split, still cached.
            (
                Some(json!({"type": "Sequence", "pretokenizers": [split_of(r"\s+|\w+"), byte_level(false)]})),
                None,
            ),
            (
                Some(json!({"type": "Sequence", "pretokenizers": [split_of(GPT2), byte_level(false)]})),
                None,
            ),
        ];
        for (pre, native) in shapes {
            let t = tokenizer(pre.clone());
            let fast = FastPath::new(&t).unwrap();
            assert_eq!(fast.native(), native, "{pre:?}");
            for text in samples() {
                let want = t.encode_fast(text.as_str(), false).unwrap().get_ids().to_vec();
                match fast.encode(&t, &text) {
                    Some(got) => assert_eq!(got.unwrap(), want, "{pre:?} on {:?}", &text[..text.len().min(80)]),
                    None => assert!(
                        t.get_added_tokens_decoder().values().any(|a| text.contains(&a.content)),
                        "only a text with an added token takes encode"
                    ),
                }
                // Again, from the word cache.
                if let Some(got) = fast.encode(&t, &text) {
                    assert_eq!(got.unwrap(), want);
                }
                // The pieces, each text encoded alone by `encode` itself, give
                // the whole text's ids.
                let pieces = fast.pieces(&text).unwrap();
                let mut joined = Vec::new();
                for piece in pieces {
                    match piece {
                        repo2agent_core::stage::TextPiece::Token(id) => joined.push(id),
                        repo2agent_core::stage::TextPiece::Text(p) => {
                            assert!(!p.is_empty());
                            joined.extend(t.encode_fast(p, false).unwrap().get_ids());
                        }
                    }
                }
                assert_eq!(joined, want, "pieces of {:?}", &text[..text.len().min(80)]);
            }
        }
    }

    /// With an added token that strips the spaces around it, a text with any
    /// added token is left to `encode`; texts without one still take the fast path.
    #[test]
    fn texts_with_a_stripping_added_token_take_encode() {
        let mut t = tokenizer(None);
        t.add_special_tokens(&[tokenizers::AddedToken::from("<mask>", true).lstrip(true)]);
        let fast = FastPath::new(&t).unwrap();
        assert!(fast.encode(&t, "a  <mask> b").is_none());
        assert!(fast.pieces("a <|think|> b").is_none(), "no pieces where a token strips");
        assert!(fast.encode(&t, "a <|think|> b").is_none());
        let plain = "a <think> b";
        assert_eq!(
            fast.encode(&t, plain).unwrap().unwrap(),
            t.encode_fast(plain, false).unwrap().get_ids()
        );
    }

    #[test]
    fn no_fast_path_where_encode_could_differ() {
        let mut t = tokenizer(None);
        t.with_normalizer(Some(tokenizers::normalizers::Lowercase));
        assert!(FastPath::new(&t).is_none());
        let mut t = tokenizer(None);
        t.with_truncation(Some(tokenizers::TruncationParams::default()))
            .unwrap();
        assert!(FastPath::new(&t).is_none());
        let mut json: Value = serde_json::from_str(&tokenizer(None).to_string(false).unwrap()).unwrap();
        json["model"]["dropout"] = json!(0.1);
        let t: Tokenizer = json.to_string().parse().unwrap();
        assert!(FastPath::new(&t).is_none());
    }
}
