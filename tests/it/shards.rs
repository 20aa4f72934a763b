//! Tokens, masks and shards end to end: `repo2agent run` → MDS shards read back
//! by our reader, by the real `streaming` package and (after `export`) by
//! megatron-core (its GPT samples masked as ours); tokens re-derived from the trajectories; the Llama 3
//! tokenizer; determinism for a seed; bad tokenizer settings.

use repo2agent_core::model::{Role, Trajectory};
use repo2agent_core::shard::{DatasetMeta, MdsReader, PAD_ROLE, tokenize};
use repo2agent_core::stage::{FormatInput, Formatter, TokenEncoder};
use repo2agent_formatters::AgentFormatter;
use repo2agent_tests::*;
use serde_json::json;
use std::path::{Path, PathBuf};

fn fixtures() -> PathBuf {
    workspace_root().join("plugins/treesitter/tests/fixtures")
}

fn config(dir: &Path, extra: &str) -> PathBuf {
    let text = format!(
        r#"
[input]
repos = [{fixtures}]

[policies.template]
type = "template"

[format]
type = "agent"

{extra}
"#,
        fixtures = toml_path(&fixtures().join("*")),
    );
    let path = dir.join("run.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn run(dir: &Path, config: &Path, out: &Path) -> String {
    let (code, stdout, err) = run_cli(
        dir,
        &["run", "-c", config.to_str().unwrap(), "--out", out.to_str().unwrap()],
    );
    assert_eq!(code, 0, "{stdout}\n{err}");
    stdout
}

fn encoder(shards: &Path) -> (DatasetMeta, Box<dyn TokenEncoder>) {
    let meta = DatasetMeta::read(shards).unwrap();
    let enc = repo2agent_tokenizer::load_saved(&shards.join("tokenizer.json"), meta.tokenizer.clone()).unwrap();
    (meta, Box::new(enc))
}

/// Every document range of every sample, in sample order: (ids, roles, mask, weights).
type Range = (Vec<u32>, Vec<u8>, Vec<u8>, Vec<f32>);
fn ranges(reader: &MdsReader) -> Vec<Range> {
    let mut out = Vec::new();
    for shard in 0..reader.index().shards.len() {
        for s in reader.shard_samples(shard).unwrap() {
            let w = s.weights();
            for [a, b] in &s.indices {
                let (a, b) = (*a as usize, *b as usize);
                out.push((
                    s.input_ids[a..b].to_vec(),
                    s.roles[a..b].to_vec(),
                    s.mask[a..b].to_vec(),
                    w[a..b].to_vec(),
                ));
            }
        }
    }
    out
}

fn trajectories(out: &Path) -> Vec<Trajectory> {
    read_trajectories(&out.join("trajectories.jsonl"))
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn shards_round_trip_and_open_with_streaming_and_megatron() {
    let tmp = tempfile::tempdir().unwrap();
    let settings = r#"
[mask]
type = "roles"
weights = { observation = 0.25, think = 0.0 }

[tokenizer]
type = "bpe"
vocab_size = 1000

[output]
seq_len = 1024
shard_size_limit = 40000
pack_window = 4
shard_compression = "none"
"#;
    let cfg = config(tmp.path(), settings);
    let out = tmp.path().join("out");
    let stdout = run(tmp.path(), &cfg, &out);
    assert!(stdout.contains("tokens: "), "{stdout}");
    let shards = out.join("shards");
    let stats = read_json(out.join("stats.json"));
    let t = &stats["tokens"];
    let reader = MdsReader::open(&shards).unwrap();
    let (meta, enc) = encoder(&shards);
    assert_eq!(t["tokenizer"], "bpe");
    assert_eq!(t["sequences"].as_u64().unwrap(), reader.len());
    assert!(
        reader.index().shards.len() > 1,
        "a 40 kB limit gives several shard files"
    );
    assert!(t["documents_split"].as_u64().unwrap() > 0, "{t}");
    assert_eq!(t["documents"], 6);
    assert!(meta.weight_column);
    assert_eq!(meta.role_weights["observation"], 0.25);

    // Re-derive every document from the trajectories: same tokens and roles.
    let formatter = AgentFormatter::default();
    let fast = repo2agent_tokenizer::load_saved_fast(&shards.join("tokenizer.json"), meta.tokenizer.clone()).unwrap();
    let mut shared = 0;
    let mut docs: Vec<(Vec<u32>, Vec<u8>)> = trajectories(&out)
        .iter()
        .map(|tr| {
            let empty = repo2agent_core::model::RepoSnapshot::new(tr.repo.clone(), "", Vec::new());
            let segs = formatter
                .format(FormatInput {
                    snapshot: &empty,
                    order: &[],
                    trajectory: Some(tr),
                })
                .unwrap();
            let d = tokenize(enc.as_ref(), &segs).unwrap();
            // Reused tokens (a file read after it was written) are exactly
            // what encoding every segment gives.
            let mut naive = vec![meta.tokenizer.bos.unwrap()];
            for s in &segs {
                naive.extend(enc.encode(&s.text).unwrap());
            }
            naive.push(meta.tokenizer.eos.unwrap());
            assert_eq!(d.ids(), naive, "{}", tr.repo);
            // Through the fast path, split around the markers: the same ids,
            // and a file written and then read is held once.
            let f = tokenize(&fast, &segs).unwrap();
            assert_eq!(
                (f.ids(), f.roles(), f.boundaries()),
                (d.ids(), d.roles(), d.boundaries())
            );
            shared += d.held_tokens() - f.held_tokens();
            (d.ids(), d.roles())
        })
        .collect();
    assert!(shared > 0, "the fast path shares a read file's tokens with its write");
    let got = ranges(&reader);
    let total: usize = docs.iter().map(|d| d.0.len()).sum();
    assert_eq!(
        got.iter().map(|r| r.0.len()).sum::<usize>(),
        total,
        "no token lost or doubled"
    );
    assert_eq!(t["tokens"].as_u64().unwrap() as usize, total);
    for (ids, roles) in &docs {
        assert_eq!(ids[0], meta.tokenizer.bos.unwrap());
        assert_eq!(*ids.last().unwrap(), meta.tokenizer.eos.unwrap());
        if ids.len() <= 1024 {
            assert!(
                got.iter().any(|r| &r.0 == ids && &r.1 == roles),
                "an unsplit document appears whole with its roles"
            );
        }
    }
    // Split documents: their chunks (placed best-fit, so not necessarily in
    // sample order) rebuild them exactly.
    docs.retain(|d| d.0.len() > 1024);
    let mut used = vec![false; got.len()];
    for (ids, _) in &docs {
        let mut at = 0;
        while at < ids.len() {
            let next = (0..got.len()).find(|&i| !used[i] && ids[at..].starts_with(&got[i].0));
            let i = next.unwrap_or_else(|| panic!("no chunk continues a split document at token {at}"));
            used[i] = true;
            assert!(got[i].0.len() <= 1024);
            at += got[i].0.len();
        }
    }
    // Weights are the role table's; mask is weight > 0; padding is never trained.
    let table = |r: u8| match Role::from_id(r) {
        Some(Role::Observation) => 0.25,
        Some(Role::Think) => 0.0,
        _ => 1.0,
    };
    for (_, roles, mask, weights) in &got {
        for ((r, m), w) in roles.iter().zip(mask).zip(weights) {
            assert_eq!(*w, table(*r));
            assert_eq!(*m, u8::from(*w > 0.0));
        }
    }
    for i in 0..reader.len() {
        let s = reader.sample(i).unwrap();
        assert_eq!(s.input_ids.len(), 1024);
        for j in s.length as usize..1024 {
            assert_eq!((s.roles[j], s.mask[j]), (PAD_ROLE, 0));
        }
    }

    // The real `streaming` package reads the same arrays, and its MDSWriter
    // writes the same bytes.
    let mut samples = Vec::new();
    for i in 0..reader.len() {
        let s = reader.sample(i).unwrap();
        samples.push(json!({
            "input_ids": s.input_ids, "indices": s.indices, "mask": s.mask, "roles": s.roles,
            "length": s.length, "weight": s.weight,
        }));
    }
    let expected = tmp.path().join("expected.json");
    std::fs::write(&expected, json!({ "samples": samples }).to_string()).unwrap();
    let script = workspace_root().join("scripts/interop.py");
    let check = |args: &[&Path]| {
        let (ok, text) = run_interop(tmp.path(), &[&[script.as_path()], args].concat());
        assert!(ok, "{text}");
        text
    };
    let text = check(&[Path::new("mds"), &shards, &expected]);
    assert!(text.contains("MDSWriter wrote identical bytes"), "{text}");

    // The same run with zstd-compressed shards: only `.mds.zstd` files, the
    // same samples in fewer bytes, read back by `streaming` and by us.
    let zipped = config(
        tmp.path(),
        &settings.replace("shard_compression = \"none\"", "shard_compression = \"zstd\""),
    );
    let out_zip = tmp.path().join("out-zstd");
    run(tmp.path(), &zipped, &out_zip);
    let shards_zip = out_zip.join("shards");
    let names: Vec<String> = std::fs::read_dir(&shards_zip)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("shard."))
        .collect();
    assert!(
        !names.is_empty() && names.iter().all(|n| n.ends_with(".mds.zstd")),
        "{names:?}"
    );
    let on_disk: u64 = names
        .iter()
        .map(|n| std::fs::metadata(shards_zip.join(n)).unwrap().len())
        .sum();
    let zip_stats = read_json(out_zip.join("stats.json"));
    assert_eq!(zip_stats["tokens"]["shard_bytes"].as_u64().unwrap(), on_disk);
    assert!(
        on_disk * 2 < t["shard_bytes"].as_u64().unwrap(),
        "{on_disk} bytes compressed vs {}",
        t["shard_bytes"]
    );
    let reader_zip = MdsReader::open(&shards_zip).unwrap();
    assert_eq!(reader_zip.len(), reader.len());
    for i in 0..reader.len() {
        assert_eq!(reader_zip.sample(i).unwrap(), reader.sample(i).unwrap());
    }
    let text = check(&[Path::new("mds"), &shards_zip, &expected]);
    assert!(
        text.contains("zstd-compressed shards read back by streaming; MDSWriter wrote identical bytes"),
        "{text}"
    );

    // Megatron export, read back by megatron-core.
    let prefix = tmp.path().join("megatron/corpus");
    let (code, stdout, err) = run_cli(
        tmp.path(),
        &[
            "export",
            shards.to_str().unwrap(),
            "--format",
            "megatron",
            "--out",
            prefix.to_str().unwrap(),
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert!(stdout.contains(&format!("{} sequences", got.len())), "{stdout}");
    let documents: Vec<_> = got.iter().map(|r| json!({"input_ids": r.0, "mask": r.2})).collect();
    let expected = tmp.path().join("megatron.json");
    std::fs::write(&expected, json!({ "documents": documents }).to_string()).unwrap();
    let text = check(&[Path::new("megatron"), &prefix, &expected]);
    assert!(text.contains("megatron-core IndexedDataset"), "{text}");
    // Megatron's own GPT samples, trained where our mask says
    // (scripts/megatron_dataset.py).
    assert!(text.contains("through MaskedGPTDataset"), "{text}");

    // `inspect` decodes a sequence with its roles and weights.
    let (code, stdout, err) = run_cli(
        tmp.path(),
        &[
            "inspect",
            shards.to_str().unwrap(),
            "--sequence",
            "1",
            "--color",
            "never",
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert!(stdout.contains("── document 0: tokens 0.."), "{stdout}");
    assert!(
        stdout.contains("[think w=0]") || stdout.contains("[observation w=0.25]"),
        "{stdout}"
    );
    let (code, _, err) = run_cli(tmp.path(), &["inspect", shards.to_str().unwrap(), "--sequence", "9999"]);
    assert_eq!(code, 1);
    assert!(err.contains("no sequence 9999"), "{err}");
}

#[test]
fn llama3_tokenizer_adds_the_spec_tokens_and_bos_eos() {
    let llama = llama3_tokenizer();
    let tmp = tempfile::tempdir().unwrap();
    let cfg = config(
        tmp.path(),
        &format!(
            "[tokenizer]\npath = {}\n\n[output]\nseq_len = 4096\n",
            toml_path(&llama)
        ),
    );
    let out = tmp.path().join("out");
    run(tmp.path(), &cfg, &out);
    let shards = out.join("shards");
    let (meta, enc) = encoder(&shards);
    assert_eq!(meta.tokenizer.kind, "hf");
    assert_eq!(meta.tokenizer.bos, Some(128_000));
    assert_eq!(meta.tokenizer.eos, Some(128_001));
    // 128,256 base ids plus the nine tokens of the serialization spec.
    assert_eq!(meta.tokenizer.vocab_size, 128_265);
    let ids: Vec<u32> = meta.tokenizer.special_tokens.iter().map(|t| t.1).collect();
    assert_eq!(ids, (128_256..128_265).collect::<Vec<_>>());
    assert_eq!(enc.encode("Hello world").unwrap(), vec![9906, 1917]);
    assert_eq!(enc.encode("<|think|>x<|end|>").unwrap()[0], 128_260);
    let reader = MdsReader::open(&shards).unwrap();
    let mut starts = 0;
    for r in ranges(&reader) {
        assert!(r.0.iter().all(|id| *id < 128_265));
        starts += usize::from(r.0[0] == 128_000);
    }
    assert_eq!(starts, 6, "every document opens with BOS");
    assert_eq!(read_json(out.join("stats.json"))["tokens"]["vocab_size"], 128_265);
}

#[test]
fn shards_are_deterministic_for_a_seed_and_shuffled_by_it() {
    let tmp = tempfile::tempdir().unwrap();
    let body = "[tokenizer]\nvocab_size = 600\n\n[output]\nseq_len = 512\n";
    let cfg = config(tmp.path(), body);
    let a = tmp.path().join("a");
    let b = tmp.path().join("b");
    run(tmp.path(), &cfg, &a);
    run(tmp.path(), &cfg, &b);
    assert_eq!(shard_files(&a), shard_files(&b), "same seed, same bytes");

    let seeded = config(tmp.path(), &format!("[run]\nseed = 7\n\n{body}"));
    let c = tmp.path().join("c");
    run(tmp.path(), &seeded, &c);
    let repo_order = |dir: &Path| trajectories(dir).iter().map(|t| t.repo.clone()).collect::<Vec<_>>();
    let (oa, oc) = (repo_order(&a), repo_order(&c));
    assert_ne!(oa, oc, "another seed, another document order");
    let mut sa = oa.clone();
    let mut sc = oc.clone();
    sa.sort();
    sc.sort();
    assert_eq!(sa, sc);
    assert_ne!(shard_files(&a), shard_files(&c));
    // `shuffle = false` keeps input (sorted) order.
    let plain = config(tmp.path(), &format!("[run]\nshuffle = false\n\n{body}"));
    let d = tmp.path().join("d");
    run(tmp.path(), &plain, &d);
    assert_eq!(repo_order(&d), sa);
}

#[test]
fn bad_tokenizer_and_packing_settings_fail_before_any_work() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = config(
        tmp.path(),
        "[tokenizer]\npath = \"missing/tokenizer.json\"\n\n[output]\nseq_len = 1\npack_window = 0\n",
    );
    let out = tmp.path().join("out");
    let (code, _, err) = run_cli(
        tmp.path(),
        &["run", "-c", cfg.to_str().unwrap(), "--out", out.to_str().unwrap()],
    );
    assert_eq!(code, 3, "{err}");
    assert!(
        err.contains(&format!(
            "tokenizer {} does not exist",
            tmp.path().join("missing/tokenizer.json").display()
        )),
        "{err}"
    );
    assert!(err.contains("seq_len must be at least 2"), "{err}");
    assert!(err.contains("pack_window must be at least 1"), "{err}");
    assert!(
        err.contains(":11:") || err.contains("line 11"),
        "problems carry their line: {err}"
    );
    assert!(!out.exists(), "nothing was done");
    let cfg = config(tmp.path(), "[tokenizer]\ntype = \"bpe\"\nvocab_size = 5\n");
    let (code, _, err) = run_cli(tmp.path(), &["check", "-c", cfg.to_str().unwrap()]);
    assert_eq!(code, 3);
    assert!(err.contains("vocab_size must be at least 300"), "{err}");
}

/// `repo2agent gguf-tokenizer` writes SmolLM2's tokenizer (rebuilt from its
/// GGUF); Raw-Repos shards made with it have the model's vocabulary, agent
/// shards 9 more tokens, and the trainer starts from the GGUF on them (growing
/// the embedding) and takes a step.
#[test]
fn a_gguf_models_tokenizer_makes_shards_the_model_can_train_on() {
    let gguf = smollm2_gguf();
    let tmp = tempfile::tempdir().unwrap();
    let tok = tmp.path().join("smollm2-tokenizer.json");
    let (code, stdout, err) = run_cli(
        tmp.path(),
        &["gguf-tokenizer", gguf.to_str().unwrap(), "--out", tok.to_str().unwrap()],
    );
    assert_eq!(code, 0, "{err}");
    assert!(stdout.contains("wrote"));
    // Raw-Repos' markers (<repo_name>, <file_sep>) are SmolLM2 tokens already.
    let cfg = tmp.path().join("raw.toml");
    std::fs::write(
        &cfg,
        format!(
            "[input]\nrepos = [{}]\n[format]\ntype = \"raw-repos\"\n[tokenizer]\npath = {}\nbos = \"\"\n[output]\ndir = \"out\"\nseq_len = 1024\n",
            toml_path(&workspace_root().join("plugins/formatters/tests/golden/demo")),
            toml_path(&tok)
        ),
    )
    .unwrap();
    let (code, _, err) = run_cli(tmp.path(), &["run", "-c", cfg.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let meta = DatasetMeta::read(&tmp.path().join("out/shards")).unwrap();
    assert_eq!(meta.tokenizer.vocab_size, 49_152);
    let train = tmp.path().join("train.toml");
    std::fs::write(
        &train,
        format!(
            "[model]\nfrom = {}\n[data]\ntrain = \"out/shards\"\n[train]\nsteps = 1\n",
            toml_path(&gguf)
        ),
    )
    .unwrap();
    let (code, stdout, err) = run_cli(tmp.path(), &["train", "-c", train.to_str().unwrap(), "--check"]);
    assert_eq!(code, 0, "{err}");
    assert!(stdout.contains(": ok"), "{stdout}");
    // The agent format adds its 9 markers to SmolLM2's vocabulary: the trainer
    // grows the embedding for them and trains (one step here).
    let agent = tmp.path().join("agent.toml");
    let text = std::fs::read_to_string(&cfg).unwrap().replace(
        "[format]\ntype = \"raw-repos\"",
        "[policies.template]\ntype = \"template\"\n[format]\ntype = \"agent\"",
    );
    std::fs::write(
        &agent,
        text.replace("dir = \"out\"", "dir = \"agent\"")
            .replace("seq_len = 1024", "seq_len = 256"),
    )
    .unwrap();
    let (code, _, err) = run_cli(tmp.path(), &["run", "-c", agent.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let meta = DatasetMeta::read(&tmp.path().join("agent/shards")).unwrap();
    assert_eq!(meta.tokenizer.vocab_size, 49_152 + 9);
    std::fs::write(
        &train,
        format!(
            "[model]\nfrom = {}\n[data]\ntrain = \"agent/shards\"\n[train]\nsteps = 1\noutput = \"smol\"\n",
            toml_path(&gguf)
        ),
    )
    .unwrap();
    let (code, stdout, err) = run_cli(tmp.path(), &["train", "-c", train.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(stdout.contains("trained 0 -> 1 steps"), "{stdout}");
    let config = read_json(tmp.path().join("smol/final/config.json"));
    assert_eq!(config["vocab_size"], 49_161);
}
