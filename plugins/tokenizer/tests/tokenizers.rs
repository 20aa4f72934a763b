#![allow(clippy::unwrap_used)]
//! The `bpe` tokenizer trained on real text, and the `hf` tokenizer loading
//! what `bpe` saved.

use repo2agent_core::stage::{TokenEncoder, Tokenizer};
use repo2agent_tokenizer::{BpeTokenizer, BpeTokenizerConfig, HfTokenizer, HfTokenizerConfig};

const SPECIAL: [&str; 3] = ["<|think|>", "<|call|>", "<|end|>"];

/// Real code: this crate's own sources, repeated enough to train merges.
fn corpus() -> Vec<String> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/src");
    let mut docs: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .collect();
    docs.sort();
    docs
}

fn special() -> Vec<String> {
    SPECIAL.map(str::to_owned).to_vec()
}

fn train(vocab_size: u32) -> Box<dyn TokenEncoder> {
    let t = BpeTokenizer::new(BpeTokenizerConfig {
        vocab_size,
        ..Default::default()
    })
    .unwrap();
    assert!(t.needs_corpus());
    let mut docs = corpus().into_iter();
    t.prepare(&special(), Some(&mut docs)).unwrap()
}

#[test]
fn bpe_round_trips_any_text_and_keeps_special_tokens_whole() {
    let enc = train(600);
    let info = enc.info().clone();
    assert_eq!(info.kind, "bpe");
    assert!(info.vocab_size <= 600 + 3, "{}", info.vocab_size);
    assert!(info.vocab_size > 256 + 3);
    assert_eq!((info.bos, info.eos, info.pad), (Some(0), Some(1), 2));
    let ids: Vec<u32> = info.special_tokens.iter().map(|(_, id)| *id).collect();
    assert_eq!(
        info.special_tokens.iter().map(|(s, _)| s.as_str()).collect::<Vec<_>>(),
        SPECIAL
    );
    for (tok, id) in &info.special_tokens {
        assert_eq!(enc.encode(tok).unwrap(), vec![*id], "{tok} is one token");
    }
    let text = "fn main() {\n\tlet s = \"héllo 🌍 世界\";\n}\n<|think|>why<|end|>\r\n\u{0}";
    let enc_ids = enc.encode(text).unwrap();
    assert!(enc_ids.contains(&ids[0]) && enc_ids.contains(&ids[2]));
    assert_eq!(enc.decode(&enc_ids).unwrap(), text);
    // Merges were learned: real code takes fewer tokens than bytes.
    let code = &corpus()[0];
    assert!(enc.encode(code).unwrap().len() * 2 < code.len());
}

/// An `hf` config for `dir/file` (a factory hands the tokenizer a resolved path).
fn hf_config(dir: &std::path::Path, file: &str, rest: &str) -> HfTokenizerConfig {
    toml::from_str(&format!("path = {:?}\n{rest}", dir.join(file).display().to_string())).unwrap()
}

#[test]
fn bpe_training_is_deterministic_and_reloads_as_hf() {
    let a = train(500);
    let b = train(500);
    assert_eq!(a.to_json().unwrap(), b.to_json().unwrap());

    // What the run saves beside the shards loads back through `hf` and encodes the same.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("tokenizer.json"), a.to_json().unwrap()).unwrap();
    let config: HfTokenizerConfig = hf_config(dir.path(), "tokenizer.json", "");
    let hf = HfTokenizer::new(config).unwrap();
    assert!(!hf.needs_corpus());
    let h = hf.prepare(&special(), None).unwrap();
    let text = corpus().concat();
    assert_eq!(h.encode(&text).unwrap(), a.encode(&text).unwrap());
    assert_eq!(h.info().bos, Some(0), "auto finds <|begin_of_text|>");
    assert_eq!(h.info().eos, Some(1), "auto finds <|end_of_text|>");
    assert_eq!(h.info().pad, 2, "auto finds <|pad|>");
    assert_eq!(h.info().vocab_size, a.info().vocab_size);
}

#[test]
fn bad_settings_are_config_problems() {
    assert!(
        BpeTokenizer::new(BpeTokenizerConfig {
            vocab_size: 10,
            ..Default::default()
        })
        .unwrap_err()
        .message
        .contains("at least 300")
    );
    let dir = tempfile::tempdir().unwrap();
    let missing: HfTokenizerConfig = hf_config(dir.path(), "nope.json", "");
    let e = HfTokenizer::new(missing).unwrap_err();
    assert!(
        e.message == format!("tokenizer {} does not exist", dir.path().join("nope.json").display()),
        "{}",
        e.message
    );
    std::fs::write(dir.path().join("bad.json"), "{ not json").unwrap();
    let bad: HfTokenizerConfig = hf_config(dir.path(), "bad.json", "");
    assert!(HfTokenizer::new(bad).is_err());
    // A named token that the vocabulary lacks.
    let a = train(400);
    std::fs::write(dir.path().join("t.json"), a.to_json().unwrap()).unwrap();
    let c: HfTokenizerConfig = hf_config(dir.path(), "t.json", "bos = \"<s>\"\neos = \"\"");
    let e = HfTokenizer::new(c).unwrap_err();
    assert!(e.message.contains("bos token `<s>` is not in"), "{}", e.message);
    let c: HfTokenizerConfig = hf_config(dir.path(), "t.json", "bos = \"\"\neos = \"\"");
    let t = HfTokenizer::new(c).unwrap().prepare(&[], None).unwrap();
    assert_eq!((t.info().bos, t.info().eos), (None, None));
    assert!(toml::from_str::<HfTokenizerConfig>("path = \"t.json\"\nvocab = 3").is_err());
}

#[test]
fn bpe_without_a_corpus_is_an_error() {
    let t = BpeTokenizer::new(BpeTokenizerConfig::default()).unwrap();
    assert!(t.prepare(&[], None).is_err());
}
