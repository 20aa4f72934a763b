//! The `tokenizer.json` rebuilt from SmolLM2-135M-Instruct's GGUF metadata
//! (`gguf_tokenizer::tokenizer_json`) against llama.cpp's own tokenizer on the
//! same file: its server's `/tokenize` (PyPI `xllamacpp`, started by
//! `scripts/llama_server.py`), with and without `add_special`, on code, digits,
//! unicode, emoji, chat markup and whitespace edge cases; and decoding gives the
//! text back.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::*;

use std::str::FromStr;

use repo2agent_trainer::gguf::GgufFile;
use repo2agent_trainer::gguf_tokenizer::tokenizer_json;
use serde_json::json;
use tokenizers::Tokenizer;

const TEXTS: &[&str] = &[
    "",
    " ",
    "\n",
    "hello world",
    "   leading and trailing spaces   ",
    "  \n\n  x  \n",
    "def fibonacci(n):\n    \"\"\"Return the n-th Fibonacci number.\"\"\"\n    if n < 2:\n        return n\n    return fibonacci(n - 1) + fibonacci(n - 2)\n",
    "class A:\n\tdef f(self):\n\t\treturn {'a': [1, 2, 3]}\n\n\n# tabs\tand  spaces \t mixed\n",
    "fn main() {\n    let v: Vec<u32> = (0..10).collect();\n    println!(\"{:?}\", v.iter().map(|x| x * 2).sum::<u32>());\n}\n",
    "impl<'a, T: Clone + 'a> Iterator for It<'a, T> { type Item = &'a T; }",
    "1234567",
    "x = 3.14159e-10 + 0xFF - 1_000_000; v1.2.3 -> 2024-06-01",
    "naïve café 日本語",
    "Ünïcödé: Ελληνικά, русский, العربية ١٢٣, हिन्दी, 한국어, ไทย",
    "emoji: 👍🏽 🎉 👨‍👩‍👧 ❤️ 🇫🇷",
    "<|im_start|>user\nhi<|im_end|>",
    "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n<|im_start|>user\nWhat is the capital of France?<|im_end|>\n<|im_start|>assistant\n",
    "<|endoftext|><repo_name>repo2agent<file_sep>src/lib.rs\n<|im_start <|im_end|x",
    "don't, I'M, you'll, we've, she'd, it's, THEY'RE",
    "\r\nwindows\r\nline endings\r\n",
    "!!!...??? ---> <== ||| &&& $$$ ^^^ ~~~ ``` @@@ ###",
    "    ",
    "\t",
    "a\u{00a0}b\u{2003}c\u{3000}d",
];

#[test]
fn rebuilt_tokenizer_matches_llama_cpp_tokenize_on_smollm2() {
    let gguf = smollm2_gguf();
    let port = 30000 + (std::process::id() % 9000) as u16;
    let (server, stdout) = start_server(&gguf, port, &[]);

    let file = GgufFile::open(&gguf).unwrap();
    assert_eq!(file.meta("tokenizer.ggml.pre").and_then(|v| v.as_str()), Some("smollm"));
    let tokenizer = Tokenizer::from_str(&tokenizer_json(&file).unwrap()).unwrap();
    assert_eq!(tokenizer.get_vocab_size(true), 49_152);

    // Chat markup: the control tokens are matched in the text (<|im_start|> = 1, <|im_end|> = 2).
    let chat = tokenizer
        .encode("<|im_start|>user\nhi<|im_end|>", false)
        .unwrap()
        .get_ids()
        .to_vec();
    assert_eq!((chat.first(), chat.last()), (Some(&1), Some(&2)), "{chat:?}");

    ready(&server, stdout);
    let mut compared = 0;
    for text in TEXTS {
        for add_special in [false, true] {
            let theirs: Vec<u32> = post(
                port,
                "/tokenize",
                &json!({"content": text, "add_special": add_special, "parse_special": true}),
            )["tokens"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| u32::try_from(t.as_u64().unwrap()).unwrap())
                .collect();
            let ours = tokenizer.encode(*text, add_special).unwrap().get_ids().to_vec();
            assert_eq!(ours, theirs, "{text:?} (add_special = {add_special})");
            compared += 1;
        }
        let ids = tokenizer.encode(*text, false).unwrap().get_ids().to_vec();
        assert_eq!(
            tokenizer.decode(&ids, false).unwrap(),
            *text,
            "decode(encode({text:?}))"
        );
    }
    eprintln!(
        "{} texts, {compared} tokenizations: identical ids to llama.cpp",
        TEXTS.len()
    );
}
