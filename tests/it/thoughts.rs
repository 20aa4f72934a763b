//! The `template` policy's thoughts on real code (this repository, crates from
//! the cargo registry, Python's standard library): each file gets a thought
//! of its own, grounded in its structure, with no body code copied into it,
//! and its rewrites are other views of the file, not other wordings.

use repo2agent_core::analyze::analyze;
use repo2agent_core::config::InputConfig;
use repo2agent_core::ingest::{Ingestor, LanguageTable, expand};
use repo2agent_core::model::{Analysis, PlanStep, RepoSnapshot};
use repo2agent_core::stage::{Policy, RepoContext, ThinkPhase, ThinkRequest};
use repo2agent_core::stats::{AnalysisStats, IngestStats};
use repo2agent_template::{TemplatePolicy, copied_share};
use std::collections::{BTreeMap, BTreeSet};

fn block<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(f)
}

fn real_repos() -> Vec<(RepoSnapshot, Analysis)> {
    let mut roots = vec![repo2agent_tests::workspace_root()];
    roots.extend(repo2agent_tests::registry_crates().into_iter().step_by(9));
    if let Some(stdlib) = repo2agent_tests::python_stdlib() {
        roots.extend(["json", "email", "asyncio", "importlib"].map(|p| stdlib.join(p)));
    }
    analyzed(&roots)
}

/// Each of `roots` walked and analyzed with the built-in analyzers.
fn analyzed(roots: &[std::path::PathBuf]) -> Vec<(RepoSnapshot, Analysis)> {
    let analyzers = repo2agent_treesitter::builtin_analyzers().unwrap();
    let ingestor = Ingestor::new(InputConfig::default(), LanguageTable::for_analyzers(&analyzers));
    let mut istats = IngestStats::default();
    let inputs: Vec<String> = roots.iter().map(|r| r.display().to_string()).collect();
    let mut stats = AnalysisStats::default();
    expand(&inputs, &mut istats)
        .iter()
        .map(|repo| {
            let snapshot = ingestor.snapshot(repo, &mut istats);
            let analysis = analyze(&snapshot, &analyzers, 0, &mut stats);
            (snapshot, analysis)
        })
        .collect()
}

/// Both thoughts of every step of a repository's plan.
/// The default template policy's thoughts on one repository.
fn default_thoughts(root: std::path::PathBuf) -> Vec<(PlanStep, String, String)> {
    let (snapshot, analysis) = analyzed(&[root]).remove(0);
    let ctx = RepoContext {
        snapshot: &snapshot,
        analysis: &analysis,
        order: &analysis.order,
    };
    thoughts(&TemplatePolicy::default(), ctx)
}

fn thoughts(policy: &TemplatePolicy, repo: RepoContext<'_>) -> Vec<(PlanStep, String, String)> {
    let plan = block(policy.plan(repo, 7)).unwrap();
    plan.steps
        .into_iter()
        .map(|step| {
            let think = |phase| {
                block(policy.think(ThinkRequest {
                    repo,
                    step: &step,
                    phase,
                    seed: 11,
                    round: 0,
                }))
                .unwrap()
            };
            let (reading, writing) = (think(ThinkPhase::BeforeReading), think(ThinkPhase::BeforeWriting));
            (step, reading, writing)
        })
        .collect()
}

#[test]
fn every_real_file_gets_its_own_grounded_thought_without_copied_code() {
    let policy = TemplatePolicy::default();
    let close = TemplatePolicy::new(repo2agent_template::TemplatePolicyConfig {
        view: repo2agent_template::View::Close,
        ..Default::default()
    });
    let repos = real_repos();
    assert!(repos.len() > 10, "expected real code on this machine");
    let (mut total, mut duplicates, mut files) = (0usize, 0usize, 0usize);
    let mut worst: (f64, String) = (0.0, String::new());
    for (snapshot, analysis) in &repos {
        let repo = RepoContext {
            snapshot,
            analysis,
            order: &analysis.order,
        };
        let mut seen: BTreeMap<String, usize> = BTreeMap::new();
        for (step, reading, writing) in thoughts(&policy, repo) {
            files += 1;
            for t in [&reading, &writing] {
                total += 1;
                *seen.entry(t.clone()).or_default() += 1;
            }
            let file = snapshot.file(step.file).unwrap();
            let symbols = analysis.outlines.get(&step.file).map_or(&[][..], |o| &o.symbols);
            // The close view (search's first rewrite) says most: it too
            // stays names and signatures.
            let closer = block(close.think(ThinkRequest {
                repo,
                step: &step,
                phase: ThinkPhase::BeforeWriting,
                seed: 11,
                round: 0,
            }))
            .unwrap();
            for t in [&writing, &closer] {
                let share = copied_share(t, &file.text, symbols);
                if share > worst.0 {
                    worst = (share, format!("{}/{}:\n{t}", snapshot.name, step.path));
                }
            }
            assert!(
                writing.contains(&format!("`{}`", step.path)),
                "names its file: {writing}"
            );
            // Grounded: what the outline says is there, the thought names.
            if let Some(first) = symbols.iter().find(|s| !s.name.is_empty()) {
                assert!(
                    writing.contains(first.name.as_str()),
                    "{}: names its first declaration `{}`: {writing}",
                    step.path,
                    first.name
                );
            }
        }
        duplicates += seen.values().map(|n| n - 1).sum::<usize>();
    }
    eprintln!(
        "{} repositories, {files} files, {total} thoughts, {duplicates} exact duplicates; most copied {:.3}",
        repos.len(),
        worst.0
    );
    assert!(files > 1000, "{files} files");
    assert!(
        (duplicates as f64) < 0.02 * total as f64,
        "{duplicates} of {total} thoughts are exact duplicates"
    );
    assert!(
        worst.0 < 0.25,
        "a quarter of a thought is body code copied from its file: {:.3} in {}",
        worst.0,
        worst.1
    );
}

#[test]
fn the_stdlib_json_decoder_thought_reasons_about_its_structure() {
    let Some(stdlib) = repo2agent_tests::python_stdlib() else {
        panic!("python3 is needed for this test")
    };
    let (snapshot, analysis) = analyzed(&[stdlib.join("json")]).remove(0);
    let ctx = RepoContext {
        snapshot: &snapshot,
        analysis: &analysis,
        order: &analysis.order,
    };
    let policy = TemplatePolicy::default();
    let all = thoughts(&policy, ctx);
    let decoder = &all.iter().find(|(s, _, _)| s.path == "decoder.py").unwrap().2;
    for fact in [
        "`decoder.py` is the `decoder` module",      // its role
        "`__init__.py`",                             // who uses it
        "Implementation of JSONDecoder",             // its docstring's first sentence
        "`re`; `json.scanner` (our `scanner.py`)",   // imports, in order, resolved
        "`FLAGS`",                                   // module-level constants
        "class `class JSONDecodeError(ValueError)`", // declarations with signatures
        "`def __init__(self, msg, doc, pos)`",       // methods
        "raises `JSONDecodeError`",                  // errors raised
        "`IndexError`",                              // and caught
    ] {
        assert!(decoder.contains(fact), "{fact:?} missing from:\n{decoder}");
    }
    // The package's init names what it takes from its dependencies.
    let init = &all.iter().find(|(s, _, _)| s.path == "__init__.py").unwrap().2;
    assert!(init.contains("(our `decoder.py`)"), "{init}");

    // Rewrites are other views: other facts, another order, another detail.
    let step = &all.iter().find(|(s, _, _)| s.path == "decoder.py").unwrap().0;
    let req = ThinkRequest {
        repo: ctx,
        step,
        phase: ThinkPhase::BeforeWriting,
        seed: 11,
        round: 0,
    };
    let alternatives = block(policy.propose_rewrites(req, decoder, 8)).unwrap();
    assert_eq!(
        alternatives.len(),
        8,
        "a page of eight of the other views: {alternatives:#?}"
    );
    let names = |t: &str| -> Vec<String> { t.split('`').skip(1).step_by(2).map(str::to_owned).collect() };
    let mut contents = BTreeSet::new();
    contents.insert(names(decoder));
    for a in &alternatives {
        assert_ne!(a, decoder);
        assert!(a.contains("`decoder.py`"), "{a}");
        assert!(
            copied_share(
                a,
                &snapshot.file(step.file).unwrap().text,
                &analysis.outlines[&step.file].symbols
            ) < 0.25
        );
        contents.insert(names(a));
    }
    assert_eq!(
        contents.len(),
        9,
        "each view names other things or in another order: {decoder}\n{alternatives:#?}"
    );
    let lens: BTreeSet<usize> = alternatives.iter().map(|a| a.len() / 100).collect();
    assert!(lens.len() >= 3, "levels of detail differ: {lens:?}");
    // Later rounds edit the thought the search holds: one section (its
    // calls, errors, late imports, module-level names …) added or taken
    // out, the rest kept as it was; in pages, none offered twice.
    let later =
        |round: u32, n: usize| block(policy.propose_rewrites(ThinkRequest { round, ..req }, decoder, n)).unwrap();
    let edits = later(1, 20);
    let lines: Vec<&str> = decoder.lines().collect();
    let (mut added, mut removed) = (0, 0);
    for e in &edits {
        let mine: Vec<&str> = e.lines().collect();
        let (short, long) = if mine.len() < lines.len() {
            removed += 1;
            (&mine, &lines)
        } else {
            added += 1;
            (&lines, &mine)
        };
        assert_eq!(long.len(), short.len() + 1, "one section added or taken out: {e}");
        let at = (0..long.len()).find(|&i| short.get(i) != Some(&long[i])).unwrap();
        let mut rest = long.clone();
        rest.remove(at);
        assert_eq!(&rest, short, "the rest kept as it was: {e}");
        assert!(!alternatives.contains(e), "an edit, not a view: {e}");
        assert!(
            copied_share(
                e,
                &snapshot.file(step.file).unwrap().text,
                &analysis.outlines[&step.file].symbols
            ) < 0.25
        );
    }
    assert!(added > 0 && removed > 0, "sections added and taken out: {edits:#?}");
    assert_eq!(later(1, 2), edits[..2]);
    assert_eq!(later(2, 2), edits[2..4.min(edits.len())]);
    assert!(later(1 + edits.len() as u32, 1).is_empty(), "no edit offered twice");
    // The edits of an edit build on it (the search climbs from the thought
    // it kept); one of them puts its section back (after the first line).
    let again = block(policy.propose_rewrites(ThinkRequest { round: 1, ..req }, &edits[0], 20)).unwrap();
    let sorted = |t: &str| t.lines().map(str::to_owned).collect::<BTreeSet<String>>();
    assert!(again.iter().any(|a| sorted(a) == sorted(decoder)), "{again:#?}");
    assert!(again.len() > 1 && again.iter().all(|a| a != decoder && !edits.contains(a)));
}

#[test]
fn a_declaration_in_full_names_its_derives_variants_fields_and_late_imports() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("colors");
    std::fs::create_dir_all(root.join("src")).unwrap();
    std::fs::write(root.join("src/lib.rs"), "mod color;\npub use color::*;\n").unwrap();
    std::fs::write(
        root.join("src/color.rs"),
        "/// Any color scheme\n\
         #[allow(clippy::exhaustive_enums)]\n\
         #[derive(Copy, Clone, Debug, PartialEq)]\n\
         pub enum Color {\n    /// The palette\n    Ansi(u8),\n    Rgb(u8, u8, u8),\n    #[default]\n    Unset,\n}\n\n\
         /// A style\n#[derive(Default)]\npub struct Style {\n    pub fg: Option<Color>,\n    bold: bool,\n}\n\n\
         impl Style {\n    #[inline]\n    pub fn new() -> Self {\n        Self::default()\n    }\n}\n\n\
         use core::mem::size_of;\n\n\
         const SIZE: usize = size_of::<Color>();\n",
    )
    .unwrap();
    let all = default_thoughts(root);
    let color = &all.iter().find(|(s, _, _)| s.path == "src/color.rs").unwrap().2;
    for fact in [
        "enum `pub enum Color` marked `allow(clippy::exhaustive_enums)`, deriving `Copy`, `Clone`, `Debug` and `PartialEq`",
        "variants `Ansi(u8)`, `Rgb(u8, u8, u8)` and `Unset`",
        "struct `pub struct Style`, deriving `Default`, fields `fg: Option<Color>` and `bold: bool`",
        "Further down it imports `core::mem::size_of`.",
    ] {
        assert!(color.contains(fact), "{fact:?} missing from:\n{color}");
    }
    assert!(
        !color.contains("Imports, in order"),
        "no import above the first declaration:\n{color}"
    );
}

#[test]
fn a_thought_names_aliases_exports_doc_shapes_attributes_and_how_bodies_go() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("frames");
    std::fs::create_dir_all(root.join("src")).unwrap();
    std::fs::create_dir_all(root.join("pkg")).unwrap();
    std::fs::write(
        root.join("pkg/codec.py"),
        "\"\"\"Encode and decode frames.\n\nUsage::\n\n    $ python -m pkg.codec file\n\n\
         >>> from pkg.codec import encode\n>>> encode(b'x')\n\"\"\"\nimport re\n\n\
         try:\n    from _speedups import encode_frame as c_encode_frame\nexcept ImportError:\n    c_encode_frame = None\n\n\
         __all__ = ['encode', 'Frame']\n\nPATTERN = re.compile(r'\\d+')\nTABLE = {'a': 1}\n\n\
         def encode(data, strict=True):\n    \"\"\"Encode data into a frame.\"\"\"\n    if not data:\n        return b''\n\
         \x20   for chunk in split(data):\n        emit(chunk)\n    return finish(data)\n",
    )
    .unwrap();
    std::fs::write(
        root.join("src/lib.rs"),
        "//! [![github]](https://github.com/x/frames)\n//!\n//! [github]: https://img.shields.io/badge/github\n//!\n\
         //! Fast frames for everyone. More text follows.\n//!\n//! # Example\n//!\n//! ```\n\
         //! let f = frames::Frame::new();\n//! ```\n#![no_std]\n#![allow(clippy::cast_lossless)]\n\n\
         /// A frame, as [`Frame::new`] makes it\npub struct Frame(u16);\n\n\
         impl Frame {\n    pub const EMPTY: Self = Frame(0);\n    pub fn new() -> Self {\n        Self::EMPTY\n    }\n}\n",
    )
    .unwrap();
    let all = default_thoughts(root);
    let thought = |path: &str| all.iter().find(|(s, _, _)| s.path == path).unwrap().2.clone();
    let codec = thought("pkg/codec.py");
    for fact in [
        "Its docstring sums it up: Encode and decode frames.",
        "It has a section “Usage” and an example using `encode`.",
        "`_speedups.encode_frame` as `c_encode_frame` if available",
        "It exports `encode` and `Frame` through `__all__`.",
        "`PATTERN` (from `re.compile`) and `TABLE` (a dict)",
        "function `def encode(data, strict=True)` — Encode data into a frame; \
         it branches, loops and returns early, calling `split`, `emit` and `finish`",
    ] {
        assert!(codec.contains(fact), "{fact:?} missing from:\n{codec}");
    }
    let lib = thought("src/lib.rs");
    for fact in [
        "Its doc comment opens with the badges `github`, then sums it up: Fast frames for everyone.",
        "It has a section “Example” and an example using `frames::Frame::new`.",
        "Crate-level attributes: `no_std` and `allow(clippy::cast_lossless)`.",
        "mentions of `Frame::new`",
        "`impl Frame`, declaring `EMPTY`; with `pub fn new() -> Self`",
    ] {
        assert!(lib.contains(fact), "{fact:?} missing from:\n{lib}");
    }
    assert!(!lib.contains("https://"), "no link is quoted:\n{lib}");
}

#[test]
fn the_close_view_names_what_bodies_bind_and_call_and_every_crate_attribute() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("wide");
    std::fs::create_dir_all(root.join("src")).unwrap();
    std::fs::write(
        root.join("src/lib.rs"),
        "#![allow(clippy::cast_lossless, clippy::cast_sign_loss, clippy::identity_op, clippy::similar_names, \
         clippy::unreadable_literal)]\n\n\
         use std::hint;\n\n\
         /// Upper half of a product.\n\
         pub fn mulhi(x: u128, y: u128) -> u128 {\n    let x_lo = x as u64;\n    let (y_lo, y_hi) = split(y);\n    \
         let carry = (u128::from(x_lo) * u128::from(y_lo)) >> 64;\n    hint::black_box(carry) + u128::from(y_hi)\n}\n\n\
         fn split(y: u128) -> (u64, u64) {\n    (y as u64, (y >> 64) as u64)\n}\n",
    )
    .unwrap();
    std::fs::write(
        root.join("Cargo.toml"),
        "[package]\nname = \"wide\"\nversion = \"0.1.0\"\nedition = \"2021\"\nauthors = [\"A\"]\nlicense = \"MIT\"\n\
         description = \"d\"\nrepository = \"r\"\nkeywords = []\ncategories = []\nrust-version = \"1.70\"\n",
    )
    .unwrap();
    let (snapshot, analysis) = analyzed(&[root]).remove(0);
    let ctx = RepoContext {
        snapshot: &snapshot,
        analysis: &analysis,
        order: &analysis.order,
    };
    let close = TemplatePolicy::new(repo2agent_template::TemplatePolicyConfig {
        view: repo2agent_template::View::Close,
        ..Default::default()
    });
    let deep = thoughts(&TemplatePolicy::default(), ctx);
    let all = thoughts(&close, ctx);
    let thought =
        |all: &[(PlanStep, String, String)], path: &str| all.iter().find(|(s, _, _)| s.path == path).unwrap().2.clone();
    let lib = thought(&all, "src/lib.rs");
    for fact in [
        "`allow(clippy::cast_lossless, clippy::cast_sign_loss, clippy::identity_op, clippy::similar_names, \
         clippy::unreadable_literal)`",
        "function `pub fn mulhi(x: u128, y: u128) -> u128` — Upper half of a product; it binds `x_lo`, `y_lo`, \
         `y_hi` and `carry`, calls `split`, `u128::from` and `hint::black_box`",
    ] {
        assert!(lib.contains(fact), "{fact:?} missing from:\n{lib}");
    }
    // The default view says less: the attribute cut short, calls by name.
    let deep_lib = thought(&deep, "src/lib.rs");
    assert!(deep_lib.contains("… 2 more)"), "{deep_lib}");
    assert!(
        !deep_lib.contains("`x_lo`") && !deep_lib.contains("`u128::from`"),
        "{deep_lib}"
    );
    // A manifest's every key, not the first eight.
    let manifest = thought(&all, "Cargo.toml");
    assert!(manifest.contains("`categories` and `rust-version`"), "{manifest}");
    assert!(!thought(&deep, "Cargo.toml").contains("`rust-version`"));
}
