//! Every command in README.md runs as written.
//!
//! The test reads README.md, takes every fenced block tagged `sh`, and runs
//! each of its commands with `bash` from the root of a fresh copy of the
//! repository (relative paths, in the README's order), then checks the exit
//! code and what the command promises. The only rewrites are the ones a
//! reader's shell would do for them:
//! - `cargo run [--release] --` and a leading `repo2agent` are this build's
//!   binary (a second, release build of the workspace would double CI's time);
//! - `path/to/tree-sitter-lua/src`, the README's placeholder, is the
//!   tree-sitter-lua crate's sources;
//! - commands too long for CI get the flag the README names for that
//!   (`ablate … --check`, `train … --stop-after 1`);
//! - `scripts/test` (what runs this test) and `cargo build --workspace` (done
//!   by the test harness, whose build the copy's `target/` links to) are not
//!   run again.
//!
//! A README command this file has no expectation for fails the test: a new
//! command comes with what it should do.

use repo2agent_tests::*;
use std::path::Path;
use std::process::Command;

/// The commands of README.md's `sh` blocks, in order, continuation lines
/// joined and trailing `# comments` dropped.
fn readme_commands(readme: &str) -> Vec<String> {
    let mut commands = Vec::new();
    let mut in_sh = false;
    let mut pending = String::new();
    for line in readme.lines() {
        let fence = line.trim_start();
        if fence.starts_with("```") {
            in_sh = !in_sh && fence.trim_start_matches('`').trim() == "sh";
            continue;
        }
        if !in_sh {
            continue;
        }
        let code = strip_comment(line).trim_end().to_owned();
        if let Some(head) = code.strip_suffix('\\') {
            pending.push_str(head);
            continue;
        }
        pending.push_str(&code);
        let command = pending.trim().to_owned();
        pending.clear();
        if !command.is_empty() {
            commands.push(command);
        }
    }
    commands
}

/// `line` without a shell comment (a `#` at the start or after whitespace,
/// outside quotes).
fn strip_comment(line: &str) -> &str {
    let (mut single, mut double) = (false, false);
    let mut previous = ' ';
    for (i, c) in line.char_indices() {
        match c {
            '\'' if !double => single = !single,
            '"' if !single => double = !double,
            '#' if !single && !double && previous.is_whitespace() => return &line[..i],
            _ => {}
        }
        previous = c;
    }
    line
}

/// The command as bash should run it in the copy, or `None` if it is not run
/// again here (see the module docs).
fn as_run(command: &str, bin: &str, lua_src: &str) -> Option<String> {
    if command == "scripts/test" || command == "cargo build --workspace" {
        return None;
    }
    let mut c = command.to_owned();
    for prefix in ["cargo run --release -- ", "cargo run -- ", "repo2agent "] {
        if let Some(rest) = c.strip_prefix(prefix) {
            c = format!("{bin} {rest}");
        }
    }
    c = c.replace("path/to/tree-sitter-lua/src", lua_src);
    if c.contains(" ablate ") && !c.contains("--check") {
        c.push_str(" --check");
    }
    if c.contains(" train ") && !c.contains("--check") && !c.contains("--stop-after") {
        c.push_str(" --stop-after 1");
    }
    Some(c)
}

/// What a README command promises, checked after it ran (exit 0 already
/// asserted). Panics for a command it does not know.
fn check_promise(command: &str, root: &Path, out: &str, err: &str) {
    let args = command
        .split_once("-- ")
        .map_or(command, |(_, a)| a)
        .trim_start_matches("repo2agent ");
    let shards = |dir: &str| {
        let index = root.join(dir).join("shards/index.json");
        let index = read_json(&index);
        assert!(
            !index["shards"].as_array().expect("shards").is_empty(),
            "{dir}: no shards"
        );
    };
    match args {
        "run" => {
            // The embedded default: this repository, template policy, BPE.
            assert!(out.contains("repositories: 1 seen, 1 ingested"), "{out}");
            shards("out/repo2agent");
            let trajectories = read_trajectories(&root.join("out/repo2agent/trajectories.jsonl"));
            assert_eq!(trajectories.lines().count(), 1);
        }
        "run -c examples/train-data.toml" => {
            shards("out/train-data");
            let stats = read_json(root.join("out/train-data/stats.json"));
            assert_eq!(stats["ingest"]["repos_ingested"], 3, "core, plugins, cli");
        }
        "run -c examples/train-heldout.toml" => {
            shards("out/train-heldout");
            // The held-out shards use the training data's tokenizer.
            assert_eq!(
                std::fs::read(root.join("out/train-heldout/shards/tokenizer.json")).unwrap(),
                std::fs::read(root.join("out/train-data/shards/tokenizer.json")).unwrap()
            );
        }
        "train -c examples/train-tiny.toml" => {
            assert!(out.contains("trained 0 -> 1 steps"), "{out}");
            assert!(
                root.join("out/train-tiny/checkpoints/step-00000001/model.safetensors")
                    .is_file()
            );
        }
        "python3 scripts/llama_server.py --install-only" => {
            let gguf = out.lines().last().unwrap_or_default().trim();
            assert!(gguf.ends_with(".gguf") && Path::new(gguf).is_file(), "{out}");
        }
        "ablate -c examples/ablation.toml" => assert!(out.contains(": ok"), "{out}{err}"),
        "run -c examples/repo2agent-openai.toml --estimate" => {
            assert!(
                out.contains("estimate of the `openai` policy's model calls (none made;"),
                "{out}{err}"
            );
            assert!(out.contains("total: 1 repositories, "), "{out}");
            assert!(
                !root.join("out/repo2agent-openai").exists(),
                "an estimate writes nothing"
            );
        }
        "analyze plugins/treesitter/tests/fixtures/python" => {
            assert!(out.starts_with("# python — 9 files, 8 edges"), "{out}");
        }
        "analyze plugins/treesitter/tests/fixtures/python --format dot | dot -Tsvg > graph.svg" => {
            let svg = std::fs::read_to_string(root.join("graph.svg")).unwrap();
            assert!(svg.contains("<svg") && svg.contains("src/app/util.py"), "{svg}");
        }
        "analyze examples/languages/lua/demo -c examples/lua.toml" => {
            assert!(out.contains("main.lua -> lib/util.lua"), "{out}");
        }
        "plugins -c examples/shell-plugin.toml" => {
            assert!(out.contains("shell") && out.contains("role-table"), "{out}");
        }
        "run -c examples/shell-plugin.toml" => {
            let stats = read_json(root.join("out/shell-plugin/stats.json"));
            assert!(
                stats["ingest"]["files_by_language"]["shell"].as_u64().unwrap_or(0) > 0,
                "{stats}"
            );
        }
        _ if args.starts_with("examples/languages/build-grammar.sh ") => {
            assert!(root.join("examples/languages/lua/liblua.so").is_file());
        }
        _ => panic!("README.md has a command this test does not check: `{command}`; add what it promises"),
    }
}

#[test]
fn every_readme_command_runs_as_written_from_a_fresh_copy() {
    let readme = std::fs::read_to_string(workspace_root().join("README.md")).unwrap();
    let commands = readme_commands(&readme);
    // The two commands README.md starts with: the main job, then the tests.
    assert_eq!(
        commands.first().map(String::as_str),
        Some("cargo run --release -- run"),
        "{commands:?}"
    );
    assert_eq!(commands.get(1).map(String::as_str), Some("scripts/test"));

    // The Ablations block needs SmolLM2's GGUF; the harness's build has the
    // example plugins the `cargo build --workspace` line would build.
    smollm2_gguf();
    for lib in ["shell-analyzer", "role-table-masker"] {
        assert!(plugin_library(lib).is_file(), "{lib} is built by the harness");
    }
    let tmp = tempfile::tempdir().unwrap();
    let root = fresh_copy(tmp.path());
    let bin = binary().display().to_string();
    let lua_src = crate_source_dir("tree-sitter-lua").join("src").display().to_string();
    let mut ran = 0;
    for command in &commands {
        let Some(script) = as_run(command, &bin, &lua_src) else {
            continue;
        };
        let output = Command::new("bash")
            .args(["-euo", "pipefail", "-c", &script])
            .current_dir(&root)
            .output()
            .unwrap();
        let out = String::from_utf8_lossy(&output.stdout);
        let err = String::from_utf8_lossy(&output.stderr);
        assert!(
            output.status.success(),
            "README command `{command}` (run as `{script}`) exited {:?}\n{out}\n{err}",
            output.status.code()
        );
        check_promise(command, &root, &out, &err);
        ran += 1;
    }
    assert!(ran >= 12, "only {ran} README commands ran: {commands:?}");
}

#[test]
fn readme_commands_are_read_with_continuations_and_without_comments() {
    let text = "x\n```sh\na b   # note\nc \\\n  d\n\n```\n```text\nnot me\n```\n```sh\ne '#x' \"#y\" f#g\n```\n";
    assert_eq!(readme_commands(text), ["a b", "c   d", "e '#x' \"#y\" f#g"]);
    assert_eq!(
        as_run("cargo run --release -- ablate -c x.toml", "BIN", "L").as_deref(),
        Some("BIN ablate -c x.toml --check")
    );
    assert_eq!(as_run("scripts/test", "BIN", "L"), None);
}

/// Regression: README.md linked the method and the architecture to
/// a `shared/` folder beside the clone, outside the repository (dead links for anyone who clones
/// it). Every relative link of README.md and docs/ names a file of the
/// repository, and nothing cites `shared/`.
#[test]
fn regression_readme_and_docs_link_only_files_of_the_repository() {
    let root = workspace_root();
    let mut pages = vec![root.join("README.md")];
    for entry in std::fs::read_dir(root.join("docs")).unwrap().flatten() {
        if entry.path().extension().is_some_and(|e| e == "md") {
            pages.push(entry.path());
        }
    }
    let mut links = 0;
    for page in &pages {
        let text = std::fs::read_to_string(page).unwrap();
        for (at, _) in text.match_indices("](") {
            let rest = &text[at + 2..];
            let Some(end) = rest.find(')') else { continue };
            let target = rest[..end].split('#').next().unwrap_or_default();
            if target.is_empty() || target.contains("://") || target.starts_with("mailto:") {
                continue;
            }
            let path = page.parent().unwrap().join(target);
            assert!(
                path.exists(),
                "{}: link to {target}, which does not exist",
                page.display()
            );
            let path = path.canonicalize().unwrap();
            assert!(
                path.starts_with(root.canonicalize().unwrap()),
                "{}: link to {target}, outside the repository",
                page.display()
            );
            links += 1;
        }
    }
    assert!(links >= 10, "{links} links");
    assert!(root.join("docs/method.md").is_file() && root.join("docs/architecture.md").is_file());

    // No file of the repository cites the developers' notes outside it.
    let out = Command::new("git")
        .current_dir(&root)
        .args([
            "grep",
            "--untracked",
            "-n",
            "-I",
            "-e",
            "\\.\\./shared/",
            "-e",
            "shared/[A-Z]*\\.md",
            "--",
            ".",
        ])
        .output()
        .unwrap();
    let hits = String::from_utf8_lossy(&out.stdout);
    let hits: Vec<&str> = hits.lines().filter(|l| !l.starts_with("tests/it/readme.rs:")).collect();
    assert!(hits.is_empty(), "{hits:#?}");
}
