//! The tokenizers' fast path (the split patterns scanned natively, each
//! distinct word tokenized once) against the `tokenizers` library's own
//! `encode`: the same ids on real code and text for the real Llama 3 and
//! SmolLM2 tokenizers, and the same shards, byte for byte, with and without it.

use repo2agent_core::stage::{TokenEncoder, Tokenizer};
use repo2agent_tests::*;
use repo2agent_tokenizer::{HfTokenizer, HfTokenizerConfig};
use std::path::{Path, PathBuf};

/// Real text of many kinds, about 2.5 MB: Rust (a crate of Unicode tables,
/// a JSON library), Python's standard library with its Unicode and codec
/// tests (every script, odd whitespace, combining marks), JavaScript and
/// Markdown from npm's own packages.
fn real_texts() -> Vec<(PathBuf, String)> {
    let mut files = Vec::new();
    let mut walk = |dir: &Path, exts: &[&str], limit: usize| {
        let mut found = Vec::new();
        collect(dir, exts, &mut found);
        found.sort();
        let mut total = 0;
        for p in found {
            if total > limit {
                break;
            }
            if let Ok(text) = std::fs::read_to_string(&p) {
                total += text.len();
                files.push((p, text));
            }
        }
    };
    walk(&crate_source_dir("regex-syntax"), &["rs"], 600_000);
    walk(&crate_source_dir("serde_json"), &["rs", "md"], 400_000);
    if let Some(py) = python_stdlib() {
        for f in [
            "test/test_unicode.py",
            "test/test_codecs.py",
            "test/test_unicodedata.py",
        ] {
            walk(&py.join(f), &["py"], usize::MAX);
        }
        walk(&py.join("json"), &["py"], 200_000);
        walk(&py.join("email"), &["py"], 400_000);
        walk(&py.join("encodings"), &["py"], 300_000);
    }
    if let Some(npm) = npm_dir() {
        walk(&npm, &["js", "md"], 300_000);
    }
    assert!(files.len() > 100, "real text found: {}", files.len());
    files
}

fn collect(path: &Path, exts: &[&str], out: &mut Vec<PathBuf>) {
    if path.is_file() {
        if path.extension().is_some_and(|e| exts.iter().any(|x| e == *x)) {
            out.push(path.to_path_buf());
        }
        return;
    }
    for e in std::fs::read_dir(path).into_iter().flatten().flatten() {
        collect(&e.path(), exts, out);
    }
}

fn smollm2_tokenizer(dir: &Path) -> PathBuf {
    let out = dir.join("smollm2-tokenizer.json");
    let gguf = smollm2_gguf();
    run_ok(
        dir,
        &["gguf-tokenizer", gguf.to_str().unwrap(), "--out", out.to_str().unwrap()],
    );
    out
}

/// Both encoders of one `tokenizer.json` (`fast = false`, then the
/// default), with the agent format's special tokens added as a run adds them.
fn encoders(path: &Path) -> (Box<dyn TokenEncoder>, Box<dyn TokenEncoder>) {
    let special = repo2agent_formatters::SPECIAL_TOKENS.map(str::to_owned);
    let make = |fast| {
        let config = HfTokenizerConfig {
            path: path.to_path_buf(),
            bos: "auto".into(),
            eos: "auto".into(),
            pad: "auto".into(),
            fast,
        };
        HfTokenizer::new(config).unwrap().prepare(&special, None).unwrap()
    };
    (make(false), make(true))
}

#[test]
fn the_fast_path_gives_the_tokenizers_own_ids_on_real_text() {
    let tmp = tempfile::tempdir().unwrap();
    let texts = real_texts();
    for (path, split) in [
        (llama3_tokenizer(), "Llama 3"),
        (smollm2_tokenizer(tmp.path()), "SmolLM2"),
    ] {
        let (plain, fast) = encoders(&path);
        assert_eq!(plain.fast_path(), None);
        assert_eq!(fast.fast_path(), Some(format!("fast path: {split} split, word cache")));
        let mut tokens = 0;
        for (file, text) in &texts {
            let want = plain.encode(text).unwrap();
            assert_eq!(
                fast.encode(text).unwrap(),
                want,
                "{} on {}",
                path.display(),
                file.display()
            );
            tokens += want.len();
        }
        // The format's markers split out around real text, and a warm cache.
        let marked = format!("<|think|>{}<|end|>\n<|call|>write(x)\n{}", texts[0].1, texts[1].1);
        assert_eq!(fast.encode(&marked).unwrap(), plain.encode(&marked).unwrap());
        assert_eq!(fast.encode(&texts[0].1).unwrap(), plain.encode(&texts[0].1).unwrap());
        assert!(tokens > 500_000, "{tokens} tokens compared");
    }
}

/// A run's shards are the same bytes with `fast = false` (the tokenizer's own
/// `encode` for every segment) as with the default fast path, for the Llama 3
/// tokenizer and for a BPE trained on the run.
#[test]
fn shards_are_identical_with_and_without_the_fast_path() {
    let tmp = tempfile::tempdir().unwrap();
    let fixtures = workspace_root().join("plugins/treesitter/tests/fixtures");
    let llama = llama3_tokenizer();
    for (tokenizer, split) in [
        (format!("path = {}", toml_path(&llama)), "Llama 3"),
        ("type = \"bpe\"\nvocab_size = 800".to_owned(), "GPT-2"),
    ] {
        let shards = |fast: &str, name: &str| {
            let cfg = tmp.path().join(format!("{name}.toml"));
            std::fs::write(
                &cfg,
                format!(
                    "[input]\nrepos = [{}]\n\n[policies.template]\ntype = \"template\"\n\n[format]\ntype = \"agent\"\n\n\
                     [tokenizer]\n{tokenizer}\n{fast}\n\n[output]\nseq_len = 4096\n",
                    toml_path(&fixtures.join("*"))
                ),
            )
            .unwrap();
            let out = tmp.path().join(name);
            let summary = run_ok(
                tmp.path(),
                &["run", "-c", cfg.to_str().unwrap(), "--out", out.to_str().unwrap()],
            );
            let fast_path = read_json(out.join("stats.json"))["tokens"]["fast_path"].clone();
            if fast.is_empty() {
                let said = fast_path.as_str().unwrap_or_default().to_owned();
                assert_eq!(said, format!("fast path: {split} split, word cache"));
                assert!(summary.contains(&format!("({said})")), "{summary}");
            } else {
                assert!(fast_path.is_null(), "fast = false: {fast_path}");
            }
            shard_files(&out)
        };
        let a = shards("", "fast");
        let b = shards("fast = false", "plain");
        assert!(
            a.iter().any(|(n, _)| n.starts_with("shard.")),
            "{tokenizer}: shards written"
        );
        assert_same_outputs(&a, &b, &tokenizer);
    }
}
