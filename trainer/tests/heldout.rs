//! Held-out evaluation (`heldout`) with a tiny seeded model on `flex` and a
//! byte-level tokenizer: deterministic; the code NLL scores exactly the content
//! tokens (checked against a hand computation); cross-file pairs only files
//! with imports; retrieval probes have exactly `L` tokens with the needle first
//! and query + value last; invalid inputs are errors.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use burn::tensor::Device;
use repo2agent_core::StageError;
use repo2agent_core::stage::{TokenEncoder, TokenizerInfo};
use repo2agent_trainer::data::Example;
use repo2agent_trainer::heldout::{
    HeldoutFile, HeldoutRepo, HeldoutReport, HeldoutSettings, evaluate_heldout, render_file, retrieval_probe,
};
use repo2agent_trainer::model::{Inputs, Llama, LlamaConfig};
use repo2agent_trainer::train::{TrainError, token_nll};
use repo2agent_trainer::weights::init_seeded;

const VOCAB: usize = 260;
const BOS: u32 = 256;

/// Token ids = UTF-8 bytes; optionally a BOS id (256).
struct Bytes(TokenizerInfo);

impl Bytes {
    fn new(bos: bool) -> Self {
        Bytes(TokenizerInfo {
            kind: "bytes".into(),
            source: "test".into(),
            vocab_size: VOCAB as u32,
            bos: bos.then_some(BOS),
            eos: None,
            pad: 0,
            special_tokens: vec![],
        })
    }
}

impl TokenEncoder for Bytes {
    fn info(&self) -> &TokenizerInfo {
        &self.0
    }

    fn encode(&self, text: &str) -> Result<Vec<u32>, StageError> {
        Ok(text.bytes().map(u32::from).collect())
    }

    fn decode(&self, ids: &[u32]) -> Result<String, StageError> {
        let bytes: Vec<u8> = ids.iter().filter(|i| **i < 256).map(|i| *i as u8).collect();
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }

    fn to_json(&self) -> Result<String, StageError> {
        Ok("{}".into())
    }
}

fn model(device: &Device) -> Llama {
    init_seeded(LlamaConfig::tiny(VOCAB).init(device), 7, 0.2)
}

fn file(path: &str, text: &str, deps: &[usize]) -> HeldoutFile {
    HeldoutFile {
        path: path.into(),
        text: text.into(),
        deps: deps.to_vec(),
        defines: vec![],
    }
}

/// "### a.rs\n" (9) + "fn a() {}\n" (10) + "### b.rs\n" (9) + "use a;" + "\n" (7): 35 tokens, 17 content.
fn two_files() -> HeldoutRepo {
    HeldoutRepo {
        name: "two".into(),
        files: vec![file("a.rs", "fn a() {}\n", &[]), file("b.rs", "use a;", &[0])],
    }
}

fn repos() -> Vec<HeldoutRepo> {
    vec![
        HeldoutRepo {
            name: "alpha".into(),
            files: vec![
                file(
                    "src/util.rs",
                    "pub fn add(a: u32, b: u32) -> u32 {\n    a + b\n}\n",
                    &[],
                ),
                file("src/lib.rs", "mod util;\npub use util::add;\n", &[0]),
                file(
                    "src/main.rs",
                    "use alpha::add;\nfn main() {\n    println!(\"{}\", add(1, 2));\n}\n",
                    &[1, 0],
                ),
            ],
        },
        HeldoutRepo {
            name: "beta".into(),
            files: vec![
                file("README.md", "# beta\nA small crate.\n", &[]),
                file("src/lib.rs", "pub const LIMIT: usize = 16;\n", &[]),
            ],
        },
    ]
}

fn settings() -> HeldoutSettings {
    HeldoutSettings {
        context: 64,
        max_tokens_per_repo: 0,
        max_cross_files: 8,
        retrieval_lengths: vec![96, 160],
        probes: 3,
        retrieval_distractors: 0,
        seed: 5,
    }
}

fn invalid(r: Result<impl std::fmt::Debug, TrainError>) -> String {
    match r {
        Err(TrainError::Invalid(m)) => m,
        other => panic!("expected TrainError::Invalid, got {other:?}"),
    }
}

#[test]
fn results_are_deterministic_and_overall_means_are_weighted() {
    let device = Device::flex();
    let m = model(&device);
    let enc = Bytes::new(false);
    let a = evaluate_heldout(&m, &enc, &repos(), &settings(), &device).unwrap();
    let b = evaluate_heldout(&m, &enc, &repos(), &settings(), &device).unwrap();
    assert_eq!(serde_json::to_string(&a).unwrap(), serde_json::to_string(&b).unwrap());
    assert_eq!(a.repos.len(), 2);
    assert!(a.code.nll.is_finite() && a.code.nll > 0.0);
    // Token-weighted code NLL, file-weighted cross-file NLL, probe-weighted retrieval.
    let tokens: u64 = a.repos.iter().map(|r| r.code.tokens).sum();
    assert_eq!(tokens, a.code.tokens);
    let weighted: f64 = a.repos.iter().map(|r| r.code.nll * r.code.tokens as f64).sum::<f64>() / tokens as f64;
    assert!((weighted - a.code.nll).abs() < 1e-9);
    // beta has no imports: alpha's files are all of them.
    assert_eq!(a.repos[1].cross_file.files, 0);
    assert!(a.repos[1].cross_file.with_deps.is_nan());
    assert_eq!(a.cross_file, a.repos[0].cross_file);
    for (k, r) in a.retrieval.iter().enumerate() {
        let per_repo: u64 = a.repos.iter().map(|x| x.retrieval[k].probes).sum();
        assert_eq!(per_repo, r.probes);
    }
    // JSON: NaN means are null.
    let json: serde_json::Value = serde_json::to_value(&a).unwrap();
    assert!(json["repos"][1]["cross_file"]["with_deps"].is_null());
    // ... and read back as NaN: a report round-trips (the ablation reuses them).
    let text = serde_json::to_string(&a).unwrap();
    let back: HeldoutReport = serde_json::from_str(&text).unwrap();
    assert!(back.repos[1].cross_file.with_deps.is_nan());
    let reread: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(serde_json::to_value(&back).unwrap(), reread);
}

#[test]
fn code_nll_scores_only_content_tokens() {
    let device = Device::flex();
    let m = model(&device);
    let repo = two_files();
    assert_eq!(render_file(&repo.files[1]), "### b.rs\nuse a;\n");
    let plain = Bytes::new(false);
    let s = |context, max| HeldoutSettings {
        context,
        max_tokens_per_repo: max,
        max_cross_files: 0,
        retrieval_lengths: vec![],
        probes: 0,
        retrieval_distractors: 0,
        seed: 0,
    };

    // One window: every content token is scored (the stream starts with a header).
    let r = evaluate_heldout(&m, &plain, std::slice::from_ref(&repo), &s(64, 0), &device).unwrap();
    assert_eq!((r.code.tokens, r.code.windows), (17, 1));
    // The same number by hand: one forward pass over the rendered files.
    let text = render_file(&repo.files[0]) + &render_file(&repo.files[1]);
    let ids: Vec<u32> = text.bytes().map(u32::from).collect();
    assert_eq!(ids.len(), 35);
    let content: Vec<bool> = (0..35).map(|i| (9..19).contains(&i) || (28..35).contains(&i)).collect();
    let e = Example::from_document(&ids);
    let nll = token_nll(
        m.forward(&Inputs::from_examples(std::slice::from_ref(&e), &device)),
        &e.targets,
    );
    let (sum, n) = (0..34)
        .filter(|k| content[k + 1])
        .fold((0f64, 0u64), |(s, n), k| (s + f64::from(nll[k]), n + 1));
    assert_eq!(n, 17);
    assert!(
        (sum / n as f64 - r.code.nll).abs() < 1e-5,
        "{} vs {}",
        sum / n as f64,
        r.code.nll
    );

    // Windows of 16 at 0, 16, 32: tokens 16 and 32 (both content) start a
    // window cold and are not scored.
    let r = evaluate_heldout(&m, &plain, std::slice::from_ref(&repo), &s(16, 0), &device).unwrap();
    assert_eq!((r.code.tokens, r.code.windows), (15, 3));
    // With a BOS every window has 15 stream tokens after it and every content token is scored.
    let bos = Bytes::new(true);
    let r = evaluate_heldout(&m, &bos, std::slice::from_ref(&repo), &s(16, 0), &device).unwrap();
    assert_eq!((r.code.tokens, r.code.windows), (17, 3));
    // A budget of 20 tokens: a's 10 content tokens (stream 9..19), b's header begins at 19.
    let r = evaluate_heldout(&m, &plain, std::slice::from_ref(&repo), &s(64, 20), &device).unwrap();
    assert_eq!((r.code.tokens, r.code.windows), (10, 1));
}

#[test]
fn cross_file_pairs_files_with_imports() {
    let device = Device::flex();
    let m = model(&device);
    let enc = Bytes::new(false);
    let mut s = settings();
    s.retrieval_lengths.clear();
    let r = evaluate_heldout(&m, &enc, &repos(), &s, &device).unwrap();
    let c = r.repos[0].cross_file;
    assert_eq!(c.files, 2, "util.rs imports nothing");
    assert!(c.with_deps.is_finite() && c.without_deps.is_finite());
    assert!(c.with_deps != c.without_deps, "the imports change a random model's NLL");
    assert!((c.gain - (c.without_deps - c.with_deps)).abs() < 1e-12);
    // Content capped at context / 2 = 32 tokens: lib.rs has 29, main.rs 61.
    assert_eq!(c.tokens, 29 + 32);

    s.max_cross_files = 1;
    let one = evaluate_heldout(&m, &enc, &repos(), &s, &device).unwrap();
    assert_eq!(one.repos[0].cross_file.files, 1);
    assert_eq!(one.repos[0].cross_file.tokens, 29);
    // The code NLL does not depend on the cross-file settings.
    assert_eq!(one.code, r.code);

    // An import longer than the context: only its last tokens are kept.
    let long = HeldoutRepo {
        name: "long".into(),
        files: vec![
            file("big.rs", &"pub const X: u8 = 1;\n".repeat(20), &[]),
            file("use.rs", "use big::X;\n", &[0]),
        ],
    };
    let r = evaluate_heldout(&m, &enc, &[long], &s, &device).unwrap();
    assert_eq!((r.cross_file.files, r.cross_file.tokens), (1, 12));
    assert!(r.cross_file.with_deps.is_finite() && r.cross_file.with_deps != r.cross_file.without_deps);
}

#[test]
fn probes_have_exactly_l_tokens_needle_first_query_and_value_last() {
    let repos = repos();
    for bos in [false, true] {
        let enc = Bytes::new(bos);
        for (length, index) in [(66, 0), (100, 1), (300, 2), (1000, 7)] {
            let p = retrieval_probe(&enc, &repos, length, 9, index, 0).unwrap();
            assert_eq!(p.ids.len(), length);
            assert_eq!(
                p.prefix_len + p.needle_len + p.haystack_len + p.query_len + p.value.len(),
                length
            );
            assert_eq!(p.value.end, length);
            let after_prefix = &p.ids[p.prefix_len..];
            if bos {
                assert_eq!(p.ids[0], BOS);
            }
            let needle = format!("const {} = {};\n", p.key, p.value_text);
            assert_eq!(enc.decode(&after_prefix[..p.needle_len]).unwrap(), needle);
            let word = p.key.strip_prefix("KEY_").unwrap();
            assert!(word.len() == 6 && word.bytes().all(|b| b.is_ascii_lowercase()));
            assert!(p.value_text.len() == 6 && p.value_text.bytes().all(|b| b.is_ascii_digit()));
            let tail = enc.decode(&p.ids[length - p.query_len - p.value.len()..]).unwrap();
            assert_eq!(tail, format!("\nassert_eq!({}, {}", p.key, p.value_text));
            assert_eq!(enc.decode(&p.ids[p.value.clone()]).unwrap(), p.value_text);
            assert_eq!(p.repo, index % repos.len());
            // Deterministic; another index gives another probe.
            assert_eq!(retrieval_probe(&enc, &repos, length, 9, index, 0).unwrap(), p);
            assert_ne!(
                retrieval_probe(&enc, &repos, length, 9, index + 1, 0).unwrap().key,
                p.key
            );
        }
    }
    // The haystack is repository content: at 1000 tokens it cycles through both repositories.
    let enc = Bytes::new(false);
    let p = retrieval_probe(&enc, &repos, 1000, 9, 0, 0).unwrap();
    let hay = enc.decode(&p.ids[p.needle_len..p.needle_len + p.haystack_len]).unwrap();
    assert!(hay.contains("### src/util.rs\n") && hay.contains("### README.md\n"));
}

#[test]
fn distractors_are_other_needles_at_seeded_places() {
    let repos = repos();
    let enc = Bytes::new(true);
    let mut places = std::collections::BTreeSet::new();
    for index in 0..8 {
        let p = retrieval_probe(&enc, &repos, 400, 3, index, 3).unwrap();
        assert_eq!(p.ids.len(), 400);
        assert_eq!(
            p.prefix_len + p.needle_len + p.distractors_len + p.haystack_len + p.query_len + p.value.len(),
            400
        );
        assert_eq!(p.ids[0], BOS);
        let text = enc.decode(&p.ids).unwrap();
        let asked = format!("\nconst {} = {};\n", p.key, p.value_text);
        assert_eq!(
            enc.decode(&p.ids[p.needle_at..p.needle_at + p.needle_len]).unwrap(),
            asked
        );
        assert!(text.ends_with(&format!("\nassert_eq!({}, {}", p.key, p.value_text)));
        assert_eq!(p.distractors.len(), 3);
        // Every distractor is a line of its own with another key and another value.
        let mut keys = vec![p.key.clone()];
        let mut values = vec![p.value_text.clone()];
        for k in &p.distractors {
            let at = text.find(&format!("\nconst {k} = ")).expect("a distractor line");
            let v = &text[at + k.len() + 10..at + k.len() + 16];
            assert!(v.bytes().all(|b| b.is_ascii_digit()), "{v}");
            assert_eq!(text.matches(k.as_str()).count(), 1, "{k} is never asked for");
            keys.push(k.clone());
            values.push(v.to_owned());
        }
        keys.sort_unstable();
        keys.dedup();
        values.sort_unstable();
        values.dedup();
        assert_eq!((keys.len(), values.len()), (4, 4), "distinct keys and values");
        assert_eq!(text.matches(&p.key).count(), 2, "the key: its needle and the query");
        assert_eq!(retrieval_probe(&enc, &repos, 400, 3, index, 3).unwrap(), p);
        places.insert(p.needle_at);
    }
    assert!(places.len() > 4, "the needle asked for moves: {places:?}");
    assert!(places.iter().any(|&a| a > 200), "{places:?}");
}

#[test]
fn the_cross_file_probe_scores_names_from_the_imports_at_their_first_use() {
    let device = Device::flex();
    let m = model(&device);
    let enc = Bytes::new(false);
    let dep = HeldoutFile {
        defines: vec![
            "parse_header".into(),
            "Limit".into(),
            "add".into(),
            "unused_name".into(),
        ],
        ..file(
            "src/dep.rs",
            "pub fn parse_header() {}\npub struct Limit;\npub fn add() {}\n",
            &[],
        )
    };
    let user_text = "use dep::{parse_header, add, Limit};\nfn own_fn() { parse_header(); }\n";
    let user = HeldoutFile {
        // A name the file declares itself is not a cross-file name.
        defines: vec!["own_fn".into(), "Limit".into()],
        ..file("src/user.rs", user_text, &[0])
    };
    let repo = HeldoutRepo {
        name: "probe".into(),
        files: vec![dep, user],
    };
    let mut s = settings();
    s.retrieval_lengths.clear();
    s.context = 160;
    let r = evaluate_heldout(&m, &enc, std::slice::from_ref(&repo), &s, &device).unwrap();
    // `parse_header` only: `add` is too short, `Limit` is the file's own,
    // `unused_name` is never used.
    let p = r.cross_probe;
    assert_eq!(p.probes, 1, "{p:?}");
    assert_eq!(r.repos[0].cross_probe, p);
    assert_eq!(r.units.cross_probe.len(), 1);
    assert!((0.0..=1.0).contains(&p.exact_with_deps) && (0.0..=1.0).contains(&p.exact_without_deps));
    assert!(
        p.nll_with_deps != p.nll_without_deps,
        "the import changes a random model's NLL"
    );
    // By hand: the name's tokens at its first use (byte 10), after only the
    // file's header.
    let ids: Vec<u32> = format!("### src/user.rs\n{user_text}").bytes().map(u32::from).collect();
    let e = Example::from_document(&ids);
    let nll = token_nll(
        m.forward(&Inputs::from_examples(std::slice::from_ref(&e), &device)),
        &e.targets,
    );
    let at = "### src/user.rs\n".len() + 10;
    let by_hand = (at..at + 12).map(|j| f64::from(nll[j - 1])).sum::<f64>() / 12.0;
    assert!(
        (by_hand - p.nll_without_deps).abs() < 1e-5,
        "{by_hand} vs {}",
        p.nll_without_deps
    );

    // A name used only past the scored tokens (context / 2) is not probed.
    s.context = 40;
    let r = evaluate_heldout(&m, &enc, &[repo], &s, &device).unwrap();
    assert_eq!(r.cross_probe.probes, 0);
    assert!(r.cross_probe.exact_with_deps.is_nan());
}

#[test]
fn retrieval_accuracy_is_a_share_and_value_nll_finite() {
    let device = Device::flex();
    let m = model(&device);
    for bos in [false, true] {
        let r = evaluate_heldout(&m, &Bytes::new(bos), &repos(), &settings(), &device).unwrap();
        assert_eq!(r.retrieval.len(), 2);
        for (res, l) in r.retrieval.iter().zip([96, 160]) {
            assert_eq!(res.length, l);
            assert_eq!(res.probes, 3);
            assert!((0.0..=1.0).contains(&res.accuracy));
            assert!(res.value_nll.is_finite() && res.value_nll > 0.0);
        }
        // Probes 0 and 2 start in alpha, probe 1 in beta.
        assert_eq!(r.repos[0].retrieval[0].probes, 2);
        assert_eq!(r.repos[1].retrieval[0].probes, 1);
    }
}

#[test]
fn invalid_inputs_are_errors() {
    let device = Device::flex();
    let m = model(&device);
    let enc = Bytes::new(false);
    let s = settings();
    let msg = invalid(evaluate_heldout(&m, &enc, &[], &s, &device));
    assert!(msg.contains("at least one repository"), "{msg}");

    let mut empty = repos();
    empty[1].files[0].text.clear();
    let msg = invalid(evaluate_heldout(&m, &enc, &empty, &s, &device));
    assert!(msg.contains("beta/README.md") && msg.contains("empty"), "{msg}");

    let mut no_files = repos();
    no_files[0].files.clear();
    let msg = invalid(evaluate_heldout(&m, &enc, &no_files, &s, &device));
    assert!(msg.contains("alpha") && msg.contains("no files"), "{msg}");

    let mut later = repos();
    later[0].files[1].deps = vec![2];
    let msg = invalid(evaluate_heldout(&m, &enc, &later, &s, &device));
    assert!(msg.contains("not earlier"), "{msg}");

    let mut short = s.clone();
    short.retrieval_lengths = vec![96, 40];
    let msg = invalid(evaluate_heldout(&m, &enc, &repos(), &short, &device));
    assert!(msg.contains("retrieval length 40 is too short"), "{msg}");
    let msg = invalid(retrieval_probe(&enc, &repos(), 50, 0, 0, 0));
    assert!(msg.contains("too short"), "{msg}");
    let msg = invalid(retrieval_probe(&enc, &repos(), 100, 0, 0, 3));
    assert!(msg.contains("4 needles") && msg.contains("too short"), "{msg}");

    let mut tiny = s;
    tiny.context = 8;
    let msg = invalid(evaluate_heldout(&m, &enc, &repos(), &tiny, &device));
    assert!(msg.contains("context 8"), "{msg}");
}
