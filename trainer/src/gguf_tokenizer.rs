//! A Hugging Face `tokenizer.json` rebuilt from a GGUF file's tokenizer
//! metadata, tokenizing as llama.cpp does (src/llama-vocab.cpp), so that a model
//! shipped only as a GGUF file can be used with the `tokenizers` crate.
//!
//! Supported: `tokenizer.ggml.model = "gpt2"`, llama.cpp's byte-level BPE:
//!
//! - `tokenizer.ggml.tokens` → the BPE vocabulary (ids are array indices; an
//!   empty token becomes `[EMPTY_<id>]` and a duplicate is an error, as in
//!   llama.cpp);
//! - `tokenizer.ggml.merges` (`"a b"`, split at the first space after the first
//!   byte) → the merges, in rank order; a repeated merge keeps its first rank,
//!   and merges that `tokenizers` cannot represent (no space, or a side or the
//!   result missing from the vocabulary) are dropped;
//! - `tokenizer.ggml.token_type`: control (3) and unknown (2) tokens become added
//!   tokens with `special: true`, user-defined (4) ones added tokens with
//!   `special: false`; all of them are matched in the text before the BPE, as
//!   llama.cpp does with `parse_special`;
//! - `tokenizer.ggml.pre` → llama.cpp's pre-tokenizer regexes for that value,
//!   applied one after the other as `Split` pre-tokenizers (matches and the text
//!   between them both kept, `Isolated`), then the GPT-2 byte mapping
//!   (`ByteLevel` without its own regex); `ignore_merges` where llama.cpp sets it.
//!   Absent means `"default"`. Values not in [`pre_tokenizer`]'s table are
//!   [`GgufError::Unsupported`];
//! - `tokenizer.ggml.add_bos_token` / `add_eos_token` (defaults as llama.cpp's
//!   for the `pre` value) → a `TemplateProcessing` post-processor with
//!   `tokenizer.ggml.bos_token_id` / `eos_token_id`, only when one is true.
//!
//! `tokenizer.ggml.unknown_token_id` and `padding_token_id` are checked but not
//! used: llama.cpp's BPE drops a byte that has no token rather than emitting the
//! unknown token (so the model's `unk_token` is null), and padding is the
//! caller's choice (`padding` is null). Other tokenizer models (`llama`
//! SentencePiece, `bert`, `t5`, ...) are [`GgufError::Unsupported`].

use std::collections::{BTreeMap, HashMap, HashSet};

use serde_json::{Map, Value, json};

use crate::gguf::{GgufError, GgufFile, MetaValue};

/// The GPT-2 pre-tokenizer regex (llama.cpp's spelling, without the trailing
/// `|\s+`: whitespace it leaves unmatched is kept as its own piece anyway).
const GPT2: &str = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)";
/// Llama 3's regex as adapted by llama.cpp (case-insensitive contractions
/// spelled out).
const LLAMA3: &str = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
/// Qwen2's regex as adapted by llama.cpp (single digits).
const QWEN2: &str = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// How llama.cpp pre-tokenizes for one `tokenizer.ggml.pre` value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PreTokenizer {
    /// The regexes, applied in order: each splits every piece the previous ones
    /// left into its matches and the text between them.
    pub regexes: Vec<&'static str>,
    /// A whole pre-token that is in the vocabulary is one token, without merges.
    pub ignore_merges: bool,
    /// llama.cpp's `add_bos` when the file has no `tokenizer.ggml.add_bos_token`.
    pub add_bos: bool,
}

/// llama.cpp's pre-tokenizer for a `tokenizer.ggml.pre` value (its
/// `llm_tokenizer_bpe` table, the common entries); `None` for values not here.
/// `"gpt2"` is accepted as an alias of llama.cpp's `"gpt-2"`.
pub fn pre_tokenizer(pre: &str) -> Option<PreTokenizer> {
    let plain = |regexes: Vec<&'static str>| PreTokenizer {
        regexes,
        ignore_merges: false,
        add_bos: false,
    };
    Some(match pre {
        "default" => plain(vec![r"[\p{P}\$\+<=>\^~\|]+", GPT2, r"\p{N}+", r"[0-9][0-9][0-9]"]),
        "llama3" | "llama-v3" | "llama-bpe" | "falcon3" | "falcon-h1" | "pixtral" | "midm-2.0" | "lfm2"
        | "jina-v5-nano" => PreTokenizer {
            regexes: vec![LLAMA3],
            ignore_merges: true,
            add_bos: true,
        },
        "dbrx" | "smaug-bpe" => plain(vec![LLAMA3]),
        "falcon" => plain(vec![r"[\p{P}\$\+<=>\^~\|`]+", GPT2, r"[0-9][0-9][0-9]"]),
        "starcoder" | "refact" | "command-r" | "smollm" | "codeshell" | "exaone" | "minerva-7b" | "mellum2" => {
            plain(vec![r"\p{N}", GPT2])
        }
        "gpt2" | "gpt-2" | "phi-2" | "jina-es" | "jina-de" | "gigachat" | "jina-v2-es" | "jina-v2-de" | "a.x-4.0"
        | "mellum" | "modern-bert" | "exaone4" | "mpt" | "olmo" | "jais" | "trillion" | "granite-docling" => {
            plain(vec![GPT2])
        }
        "qwen2" | "deepseek-r1-qwen" | "kormo" | "f2llmv2" | "megrez" | "stablelm2" | "hunyuan" | "solar-open" => {
            plain(vec![QWEN2])
        }
        _ => return None,
    })
}

/// GGUF token types (`llama_token_type`).
const TYPE_UNKNOWN: i64 = 2;
const TYPE_CONTROL: i64 = 3;
const TYPE_USER_DEFINED: i64 = 4;

/// The `tokenizer.json` (Hugging Face `tokenizers` format) that tokenizes as
/// llama.cpp does with `file`'s tokenizer metadata. See the module docs for
/// what is supported.
pub fn tokenizer_json(file: &GgufFile) -> Result<String, GgufError> {
    let model = str_meta(file, "tokenizer.ggml.model")?.ok_or_else(|| missing("tokenizer.ggml.model"))?;
    if model != "gpt2" {
        return Err(GgufError::Unsupported(format!(
            "tokenizer.ggml.model = '{model}': only byte-level BPE ('gpt2') tokenizers can be rebuilt as a \
             tokenizer.json"
        )));
    }
    let pre_name = str_meta(file, "tokenizer.ggml.pre")?.unwrap_or("default");
    let pre = pre_tokenizer(pre_name).ok_or_else(|| {
        GgufError::Unsupported(format!(
            "tokenizer.ggml.pre = '{pre_name}': no pre-tokenizer regexes known for it (known: default, gpt2, \
             llama3, smollm, qwen2, starcoder, falcon and their aliases)"
        ))
    })?;

    // The vocabulary.
    let tokens: Vec<String> = array_meta(file, "tokenizer.ggml.tokens")?
        .ok_or_else(|| missing("tokenizer.ggml.tokens"))?
        .iter()
        .enumerate()
        .map(|(i, v)| match v.as_str() {
            Some("") => Ok(format!("[EMPTY_{i}]")),
            Some(s) => Ok(s.to_owned()),
            None => Err(format_err(format!("tokenizer.ggml.tokens[{i}] is not a string"))),
        })
        .collect::<Result<_, _>>()?;
    let mut vocab: HashMap<&str, usize> = HashMap::with_capacity(tokens.len());
    for (i, t) in tokens.iter().enumerate() {
        if let Some(first) = vocab.insert(t, i) {
            return Err(format_err(format!(
                "duplicate token '{t}' in tokenizer.ggml.tokens: ids {first} and {i}"
            )));
        }
    }
    let types: Vec<i64> = match array_meta(file, "tokenizer.ggml.token_type")? {
        None => vec![1; tokens.len()],
        Some(a) if a.len() < tokens.len() => {
            return Err(format_err(format!(
                "tokenizer.ggml.token_type has {} entries for {} tokens",
                a.len(),
                tokens.len()
            )));
        }
        Some(a) => a
            .iter()
            .take(tokens.len())
            .enumerate()
            .map(|(i, v)| {
                v.as_i64()
                    .ok_or_else(|| format_err(format!("tokenizer.ggml.token_type[{i}] is not an integer")))
            })
            .collect::<Result<_, _>>()?,
    };

    let merges = merges(file, &vocab)?;

    // Special token ids (llama.cpp ignores an id outside the vocabulary).
    let id = |key: &str| -> Result<Option<usize>, GgufError> {
        match file.meta(key) {
            None => Ok(None),
            Some(v) => {
                let id = v
                    .as_u64()
                    .ok_or_else(|| format_err(format!("{key} is not an unsigned integer")))?;
                Ok(usize::try_from(id).ok().filter(|&id| id < tokens.len()))
            }
        }
    };
    let bos = id("tokenizer.ggml.bos_token_id")?;
    let eos = id("tokenizer.ggml.eos_token_id")?;
    id("tokenizer.ggml.unknown_token_id")?;
    id("tokenizer.ggml.padding_token_id")?;
    let add_bos = bool_meta(file, "tokenizer.ggml.add_bos_token")?.unwrap_or(pre.add_bos);
    let add_eos = bool_meta(file, "tokenizer.ggml.add_eos_token")?.unwrap_or(false);

    let added_tokens: Vec<Value> = types
        .iter()
        .enumerate()
        .filter(|&(_, &t)| matches!(t, TYPE_UNKNOWN | TYPE_CONTROL | TYPE_USER_DEFINED))
        .map(|(i, &t)| {
            json!({
                "id": i,
                "content": tokens[i],
                "single_word": false,
                "lstrip": false,
                "rstrip": false,
                "normalized": false,
                "special": t != TYPE_USER_DEFINED,
            })
        })
        .collect();

    let post_processor = post_processor(&tokens, (add_bos, bos), (add_eos, eos))?;

    let mut pretokenizers: Vec<Value> = pre
        .regexes
        .iter()
        .map(|r| json!({"type": "Split", "pattern": {"Regex": r}, "behavior": "Isolated", "invert": false}))
        .collect();
    pretokenizers
        .push(json!({"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": false, "use_regex": false}));

    let vocab: Map<String, Value> = tokens.iter().enumerate().map(|(i, t)| (t.clone(), json!(i))).collect();
    let out = json!({
        "version": "1.0",
        "truncation": null,
        "padding": null,
        "added_tokens": added_tokens,
        "normalizer": null,
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": pretokenizers},
        "post_processor": post_processor,
        "decoder": {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": false, "use_regex": false},
        "model": {
            "type": "BPE",
            "dropout": null,
            "unk_token": null,
            "continuing_subword_prefix": null,
            "end_of_word_suffix": null,
            "fuse_unk": false,
            "byte_fallback": false,
            "ignore_merges": pre.ignore_merges,
            "vocab": vocab,
            "merges": merges,
        },
    });
    Ok(out.to_string())
}

/// The merges in rank order, as llama.cpp reads them: each split at its first
/// space after the first byte, kept when both parts and their join are in the
/// vocabulary, once.
fn merges(file: &GgufFile, vocab: &HashMap<&str, usize>) -> Result<Vec<Value>, GgufError> {
    let mut seen = HashSet::new();
    let mut merges = Vec::new();
    for (i, m) in array_meta(file, "tokenizer.ggml.merges")?
        .ok_or_else(|| missing("tokenizer.ggml.merges"))?
        .iter()
        .enumerate()
    {
        let m = m
            .as_str()
            .ok_or_else(|| format_err(format!("tokenizer.ggml.merges[{i}] is not a string")))?;
        // llama.cpp: `word.find(' ', 1)` (a space byte is never inside a UTF-8 sequence).
        let Some(pos) = m.bytes().skip(1).position(|b| b == b' ').map(|p| p + 1) else {
            continue;
        };
        let (a, b) = (&m[..pos], &m[pos + 1..]);
        let known = |s: &str| vocab.contains_key(s);
        if known(a) && known(b) && known(&format!("{a}{b}")) && seen.insert((a, b)) {
            merges.push(json!([a, b]));
        }
    }
    Ok(merges)
}

/// The template that adds BOS and/or EOS (`(add, id)` of each), or null.
fn post_processor(
    tokens: &[String],
    (add_bos, bos): (bool, Option<usize>),
    (add_eos, eos): (bool, Option<usize>),
) -> Result<Value, GgufError> {
    if add_bos || add_eos {
        let mut single = Vec::new();
        let mut special_tokens = BTreeMap::new();
        let mut special = |key: &str, id: Option<usize>| -> Result<Value, GgufError> {
            let id = id.ok_or_else(|| missing(&format!("tokenizer.ggml.{key}_token_id (add_{key}_token is true)")))?;
            let content = &tokens[id];
            special_tokens.insert(
                content.clone(),
                json!({"id": content, "ids": [id], "tokens": [content]}),
            );
            Ok(json!({"SpecialToken": {"id": content, "type_id": 0}}))
        };
        if add_bos {
            single.push(special("bos", bos)?);
        }
        single.push(json!({"Sequence": {"id": "A", "type_id": 0}}));
        if add_eos {
            single.push(special("eos", eos)?);
        }
        let pair: Vec<Value> = single
            .iter()
            .cloned()
            .chain(single.iter().map(|piece| match piece.get("Sequence") {
                Some(_) => json!({"Sequence": {"id": "B", "type_id": 1}}),
                None => {
                    let mut piece = piece.clone();
                    piece["SpecialToken"]["type_id"] = json!(1);
                    piece
                }
            }))
            .collect();
        Ok(json!({"type": "TemplateProcessing", "single": single, "pair": pair, "special_tokens": special_tokens}))
    } else {
        Ok(Value::Null)
    }
}

fn missing(key: &str) -> GgufError {
    GgufError::Missing(format!("metadata key {key}"))
}

fn format_err(msg: String) -> GgufError {
    GgufError::Format(msg)
}

fn typed<'a, T>(
    file: &'a GgufFile,
    key: &str,
    what: &str,
    get: impl FnOnce(&'a MetaValue) -> Option<T>,
) -> Result<Option<T>, GgufError> {
    match file.meta(key) {
        None => Ok(None),
        Some(v) => get(v)
            .map(Some)
            .ok_or_else(|| format_err(format!("{key} is not {what}"))),
    }
}

fn str_meta<'a>(file: &'a GgufFile, key: &str) -> Result<Option<&'a str>, GgufError> {
    typed(file, key, "a string", MetaValue::as_str)
}

fn bool_meta(file: &GgufFile, key: &str) -> Result<Option<bool>, GgufError> {
    typed(file, key, "a bool", MetaValue::as_bool)
}

fn array_meta<'a>(file: &'a GgufFile, key: &str) -> Result<Option<&'a [MetaValue]>, GgufError> {
    match file.meta(key) {
        None => Ok(None),
        Some(v) => v
            .as_array()
            .map(Some)
            .ok_or_else(|| format_err(format!("{key} is not an array"))),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::path::Path;

    use super::*;

    /// A metadata value as GGUF bytes (type code, then the value).
    #[derive(Clone, Copy)]
    enum V<'a> {
        Str(&'a str),
        U32(u32),
        Bool(bool),
        Strs(&'a [&'a str]),
        I32s(&'a [i32]),
    }

    fn put_str(out: &mut Vec<u8>, s: &str) {
        out.extend((s.len() as u64).to_le_bytes());
        out.extend(s.as_bytes());
    }

    /// A GGUF file (version 3, no tensors) holding `kv`, opened.
    fn gguf(dir: &Path, kv: &[(&str, V<'_>)]) -> GgufFile {
        let mut out = b"GGUF".to_vec();
        out.extend(3u32.to_le_bytes());
        out.extend(0u64.to_le_bytes());
        out.extend((kv.len() as u64).to_le_bytes());
        for (key, value) in kv {
            put_str(&mut out, key);
            match value {
                V::Str(s) => {
                    out.extend(8u32.to_le_bytes());
                    put_str(&mut out, s);
                }
                V::U32(v) => {
                    out.extend(4u32.to_le_bytes());
                    out.extend(v.to_le_bytes());
                }
                V::Bool(b) => {
                    out.extend(7u32.to_le_bytes());
                    out.push(u8::from(*b));
                }
                V::Strs(a) => {
                    out.extend(9u32.to_le_bytes());
                    out.extend(8u32.to_le_bytes());
                    out.extend((a.len() as u64).to_le_bytes());
                    a.iter().for_each(|s| put_str(&mut out, s));
                }
                V::I32s(a) => {
                    out.extend(9u32.to_le_bytes());
                    out.extend(5u32.to_le_bytes());
                    out.extend((a.len() as u64).to_le_bytes());
                    a.iter().for_each(|v| out.extend(v.to_le_bytes()));
                }
            }
        }
        let path = dir.join(format!("{}.gguf", std::fs::read_dir(dir).unwrap().count()));
        std::fs::write(&path, out).unwrap();
        GgufFile::open(&path).unwrap()
    }

    const TOKENS: &[&str] = &[
        "<|endoftext|>", // 0 control
        "<s>",           // 1 control
        "<tool>",        // 2 user-defined
        "a",
        "b",
        "c",
        "Ġ", // 6: ' '
        "1",
        "2",
        "3",
        "ab", // 10
        "abc",
        "Ġa",
        "Ċ", // 13: '\n'
        "12",
        "Ġab", // 15
        "ca",  // 16: no merge makes it
    ];
    const TYPES: &[i32] = &[3, 3, 4, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1];
    // "x" (no space), a duplicate and a merge whose result is not a token are dropped.
    const MERGES: &[&str] = &["a b", "ab c", "Ġ a", "1 2", "Ġ ab", "x", "a b", "b c"];

    /// The tiny vocabulary with `pre` and extra keys, as a loaded tokenizer.
    fn tokenizer(pre: &str, extra: &[(&str, V<'_>)]) -> tokenizers::Tokenizer {
        let dir = tempfile::tempdir().unwrap();
        let mut kv = vec![
            ("tokenizer.ggml.model", V::Str("gpt2")),
            ("tokenizer.ggml.pre", V::Str(pre)),
            ("tokenizer.ggml.tokens", V::Strs(TOKENS)),
            ("tokenizer.ggml.token_type", V::I32s(TYPES)),
            ("tokenizer.ggml.merges", V::Strs(MERGES)),
            ("tokenizer.ggml.bos_token_id", V::U32(1)),
            ("tokenizer.ggml.eos_token_id", V::U32(0)),
            ("tokenizer.ggml.padding_token_id", V::U32(0)),
        ];
        kv.extend_from_slice(extra);
        let json = tokenizer_json(&gguf(dir.path(), &kv)).unwrap();
        json.parse().unwrap()
    }

    fn ids(t: &tokenizers::Tokenizer, text: &str, add_special: bool) -> Vec<u32> {
        t.encode(text, add_special).unwrap().get_ids().to_vec()
    }

    const TEXT: &str = "abc ab 12<tool><|endoftext|>\nca";

    #[test]
    fn gguf_tokenizer_smollm_splits_digits_and_adds_bos() {
        let t = tokenizer("smollm", &[("tokenizer.ggml.add_bos_token", V::Bool(true))]);
        // "abc" " ab" " " | "1" | "2" | <tool> | <|endoftext|> | "\n" | "ca" (c a: no merge).
        let expected = [11, 15, 6, 7, 8, 2, 0, 13, 5, 3];
        assert_eq!(ids(&t, TEXT, false), expected);
        assert_eq!(ids(&t, TEXT, true), [&[1][..], &expected].concat());
        assert_eq!(ids(&t, "", false), Vec::<u32>::new());
        assert_eq!(t.decode(&ids(&t, TEXT, false), false).unwrap(), TEXT);
        // Control tokens are special, user-defined ones are not.
        assert_eq!(t.decode(&ids(&t, TEXT, true), true).unwrap(), "abc ab 12<tool>\nca");
    }

    #[test]
    fn gguf_tokenizer_gpt2_merges_digits_and_adds_nothing() {
        let t = tokenizer("gpt2", &[]);
        assert_eq!(ids(&t, TEXT, true), [11, 15, 6, 14, 2, 0, 13, 5, 3]);
        let t = tokenizer("default", &[("tokenizer.ggml.add_eos_token", V::Bool(true))]);
        assert_eq!(ids(&t, "ab", true), [10, 0]);
    }

    #[test]
    fn gguf_tokenizer_llama3_ignores_merges_for_whole_words_and_adds_bos_by_default() {
        let t = tokenizer("llama3", &[]);
        assert_eq!(ids(&t, "ca", true), [1, 16]);
        assert_eq!(ids(&t, "ca ab", false), [16, 15]);
    }

    #[test]
    fn gguf_tokenizer_rejects_what_it_cannot_rebuild() {
        let dir = tempfile::tempdir().unwrap();
        let base = |model: &'static str, pre: &'static str| {
            vec![
                ("tokenizer.ggml.model", V::Str(model)),
                ("tokenizer.ggml.pre", V::Str(pre)),
                ("tokenizer.ggml.tokens", V::Strs(TOKENS)),
                ("tokenizer.ggml.merges", V::Strs(MERGES)),
            ]
        };
        let err = |kv: &[(&str, V<'_>)]| tokenizer_json(&gguf(dir.path(), kv)).unwrap_err();
        let e = err(&base("llama", "default"));
        assert!(matches!(&e, GgufError::Unsupported(m) if m.contains("'llama'")), "{e}");
        let e = err(&base("gpt2", "chameleon"));
        assert!(
            matches!(&e, GgufError::Unsupported(m) if m.contains("'chameleon'")),
            "{e}"
        );
        let e = err(&base("gpt2", "smollm")[..3]);
        assert!(matches!(&e, GgufError::Missing(m) if m.contains("merges")), "{e}");
        let mut kv = base("gpt2", "smollm");
        kv.push(("tokenizer.ggml.add_bos_token", V::Bool(true)));
        let e = err(&kv);
        assert!(matches!(&e, GgufError::Missing(m) if m.contains("bos_token_id")), "{e}");
        let mut kv = base("gpt2", "smollm");
        kv[2] = ("tokenizer.ggml.tokens", V::Strs(&["a", "b", "a"]));
        let e = err(&kv);
        assert!(
            matches!(&e, GgufError::Format(m) if m.contains("duplicate token 'a'")),
            "{e}"
        );
        let e = err(&[]);
        assert!(
            matches!(&e, GgufError::Missing(m) if m.contains("tokenizer.ggml.model")),
            "{e}"
        );
    }
}
