//! Dynamic plugins: the example libraries loaded by configs and used by runs,
//! every kind's adapter, and the ways loading can fail.

use repo2agent_core::config::{self, RunConfig};
use repo2agent_core::dylib::{self, DylibError};
use repo2agent_core::model::{FileId, RepoSnapshot, Role};
use repo2agent_core::stage::{FormatInput, ScoreRequest};
use repo2agent_core::{Registry, StageError};
use repo2agent_tests::*;
use std::path::{Path, PathBuf};

fn registry() -> Registry {
    let mut r = Registry::new();
    repo2agent_maskers::register(&mut r).unwrap();
    repo2agent_search::register(&mut r).unwrap();
    r
}

fn resolve(text: &str) -> Result<RunConfig, config::ConfigError> {
    config::parse(text, "plugin.toml", Path::new("."), &mut registry())
}

fn plugins_header(libs: &[&str]) -> String {
    let paths: Vec<String> = libs.iter().map(|l| toml_path(&plugin_library(l))).collect();
    format!("[plugins]\nlibraries = [{}]\n", paths.join(", "))
}

#[test]
fn shell_analyzer_plugin_is_loaded_by_a_config_and_used_by_a_run() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("scripts");
    write_tree(
        &repo,
        &[
            (
                "bin/deploy.sh",
                "#!/bin/bash\nsource ../lib/log.sh\n. \"$(dirname \"$0\")/env.sh\"\n# Ship it.\ndeploy() {\n  log deploying\n}\n",
            ),
            ("bin/env.sh", "export STAGE=prod\n"),
            (
                "lib/log.sh",
                "# Print a line.\nlog() {\n  echo \"$@\"\n}\nfunction warn {\n  log \"warning: $*\"\n}\n",
            ),
            ("README.md", "scripts\n"),
        ],
    );
    let cfg = format!(
        "{}\n[input]\nrepos = [{}]\n\n[analyzers]\nlanguages = [\"shell\"]\n\n[output]\ndir = {}\n",
        plugins_header(&["shell-analyzer"]),
        toml_path(&repo),
        toml_path(&tmp.path().join("out"))
    );
    std::fs::write(tmp.path().join("run.toml"), cfg).unwrap();

    let (code, out, err) = run_cli(tmp.path(), &["run", "-c", "run.toml"]);
    assert_eq!(code, 0, "{out}\n{err}");
    let stats = read_json(tmp.path().join("out/stats.json"));
    let shell = &stats["analysis"]["by_language"]["shell"];
    assert_eq!(shell["files"], 3, "{stats:#}");
    assert_eq!(shell["symbols"], 3);
    assert_eq!(shell["imports"], 2);
    assert_eq!(shell["imports_resolved"], 2);
    assert_eq!(stats["analysis"]["edges"], 2);
    assert_eq!(stats["ingest"]["files_by_language"]["shell"], 3);

    let (code, out, _) = run_cli(tmp.path(), &["plugins", "-c", "run.toml"]);
    assert_eq!(code, 0);
    let row = out
        .lines()
        .find(|l| l.starts_with("analyzer") && l.contains("shell"))
        .unwrap_or_default();
    assert!(row.contains("dylib shell-analyzer"), "{out}");
    assert!(out.contains("loads shell-analyzer 0.1.0 from"), "{out}");
    let (_, builtin_only, _) = run_cli(tmp.path(), &["plugins"]);
    assert!(!builtin_only.contains("shell-analyzer"));
}

#[test]
fn masker_plugin_gets_its_config_as_json_and_answers_with_a_slice() {
    let cfg = resolve(&format!(
        "{}[mask]\ntype = \"role-table\"\ndefault = 0.5\nweights = {{ observation = 0.0, think = 2.0 }}\n",
        plugins_header(&["role-table-masker"])
    ))
    .unwrap();
    let masker = &cfg.masker.as_ref().unwrap().component;
    let w = masker
        .weights(&[Role::Think, Role::Observation, Role::Code, Role::Think])
        .unwrap();
    assert_eq!(w, vec![2.0, 0.0, 0.5, 2.0]);
    assert!(masker.weights(&[]).unwrap().is_empty());

    // The plugin's own validation comes back as a config problem at the section.
    let text = format!(
        "{}\n[mask]\ntype = \"role-table\"\nweights = {{ thoughts = 1.0 }}\n",
        plugins_header(&["role-table-masker"])
    );
    let err = resolve(&text).unwrap_err();
    assert_eq!(err.problems.len(), 1);
    assert_eq!(err.problems[0].line, Some(5));
    assert!(err.problems[0].message.contains("unknown role `thoughts`"), "{err}");
}

#[test]
fn every_synchronous_kind_works_across_the_boundary() {
    let cfg = resolve(&format!(
        "{}[analyzers.probe]\n[scorers.chars]\ntype = \"char-nll\"\nper_char = 0.5\n[format]\ntype = \"path-headers\"\n[mask]\ntype = \"alternate\"\n",
        plugins_header(&["probe-plugin"])
    ))
    .unwrap();
    // analyzer
    let analyzer = &cfg.analyzers.iter().find(|a| a.name == "probe").unwrap().component;
    assert_eq!(analyzer.language().extensions, ["probe"]);
    let snap = RepoSnapshot::new(
        "p",
        "/p",
        vec![
            ("a.probe".into(), Some("probe".into()), "def main\nuse b.probe\n".into()),
            ("b.probe".into(), Some("probe".into()), "def helper\n".into()),
        ],
    );
    let outline = analyzer.outline(&snap.files[0]).unwrap();
    assert_eq!(outline.symbols[0].name, "main");
    assert_eq!(outline.imports[0].raw, "b.probe");
    // scorer
    let scorer = &cfg.scorers["chars"].component;
    let scores = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(scorer.score(&[
            ScoreRequest {
                context: "ctx".into(),
                target: "abcd".into(),
            },
            ScoreRequest {
                context: String::new(),
                target: "é".into(),
            },
        ]))
        .unwrap();
    assert_eq!(scores.iter().map(|s| s.sum()).collect::<Vec<_>>(), [2.0, 0.5]);
    // formatter
    let formatter = &cfg.formatter.as_ref().unwrap().component;
    assert!(!formatter.needs_trajectory());
    let order = [FileId(1), FileId(0)];
    let segs = formatter
        .format(FormatInput {
            snapshot: &snap,
            order: &order,
            trajectory: None,
        })
        .unwrap();
    let text: String = segs.iter().map(|s| s.text.as_str()).collect();
    assert_eq!(text, "### b.probe\ndef helper\n### a.probe\ndef main\nuse b.probe\n");
    assert_eq!(
        segs.iter().map(|s| s.role).collect::<Vec<_>>(),
        [Role::Markup, Role::Code, Role::Markup, Role::Code]
    );
    // masker
    let masker = &cfg.masker.as_ref().unwrap().component;
    assert_eq!(
        masker.weights(&Role::ALL).unwrap(),
        [1.0, 0.0, 1.0, 0.0, 1.0, 0.0, 1.0, 0.0]
    );
}

#[test]
fn a_panic_inside_a_plugin_becomes_an_error_and_the_run_goes_on() {
    let cfg = resolve(&format!("{}[analyzers.probe]\n", plugins_header(&["probe-plugin"]))).unwrap();
    let analyzer = &cfg.analyzers[0].component;
    let snap = RepoSnapshot::new(
        "p",
        "/p",
        vec![
            ("boom.probe".into(), Some("probe".into()), "PANIC\n".into()),
            ("fail.probe".into(), Some("probe".into()), "FAIL\n".into()),
            ("ok.probe".into(), Some("probe".into()), "def fine\n".into()),
        ],
    );
    match analyzer.outline(&snap.files[0]) {
        Err(StageError::PluginPanicked { plugin, message }) => {
            assert_eq!(plugin, "probe-plugin");
            assert_eq!(message, "probe analyzer panicked on purpose");
        }
        other => panic!("expected a caught panic, got {other:?}"),
    }
    assert!(matches!(
        analyzer.outline(&snap.files[1]),
        Err(StageError::Plugin { .. })
    ));
    // The plugin still works after a panic.
    assert_eq!(analyzer.outline(&snap.files[2]).unwrap().symbols[0].name, "fine");

    let mut stats = repo2agent_core::stats::AnalysisStats::default();
    let analysis = repo2agent_core::analyze::analyze(&snap, std::slice::from_ref(analyzer), 0, &mut stats);
    assert_eq!(analysis.outlines.len(), 1);
    assert_eq!(stats.failed.get("plugin_panic"), Some(&1));
    assert_eq!(stats.failed.get("plugin_error"), Some(&1));

    // A panic while building a component is a config problem, not a crash.
    let err = resolve(&format!(
        "{}\n\n[mask]\ntype = \"alternate\"\npanic_on_create = true\n",
        plugins_header(&["probe-plugin"])
    ))
    .unwrap_err();
    assert_eq!(err.problems.len(), 1);
    assert_eq!(err.problems[0].line, Some(6));
    assert!(
        err.problems[0]
            .message
            .contains("panicked: probe-plugin was asked to panic in create"),
        "{err}"
    );
}

/// Compiles a C shared library (the ABI is C, so a plugin need not be Rust).
fn c_library(dir: &Path, name: &str, source: &str) -> PathBuf {
    let c = dir.join(format!("{name}.c"));
    let so = dir.join(format!("lib{name}.so"));
    std::fs::write(&c, source).unwrap();
    let status = std::process::Command::new("cc")
        .args(["-shared", "-fPIC", "-o"])
        .arg(&so)
        .arg(&c)
        .status()
        .expect("cc");
    assert!(status.success(), "cc failed");
    so
}

#[test]
fn a_wrong_abi_version_is_refused_naming_both_versions() {
    let tmp = tempfile::tempdir().unwrap();
    let so = c_library(
        tmp.path(),
        "future",
        "struct entry { unsigned int abi_version; };\nstatic const struct entry E = { 999 };\nconst struct entry *repo2agent_plugin_entry(void) { return &E; }\n",
    );
    let err = dylib::load(&so).unwrap_err();
    assert!(
        matches!(
            err,
            DylibError::IncompatibleVersion {
                plugin: 999,
                host: 1,
                ..
            }
        ),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains("plugin ABI version 999") && msg.contains("speaks version 1"),
        "{msg}"
    );

    // Through a config: a problem at the library's line, exit code 3 from the CLI.
    let cfg = format!(
        "[run]\nseed = 1\n\n[plugins]\nlibraries = [\n  {},\n]\n",
        toml_path(&so)
    );
    std::fs::write(tmp.path().join("c.toml"), cfg).unwrap();
    let (code, _, err) = run_cli(tmp.path(), &["check", "-c", "c.toml"]);
    assert_eq!(code, 3, "{err}");
    assert!(
        err.contains("c.toml:6:3: [plugins.libraries]") && err.contains("ABI version 999"),
        "{err}"
    );
}

#[test]
fn a_library_without_the_entry_symbol_or_not_a_library_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let so = c_library(tmp.path(), "plain", "int add(int a, int b) { return a + b; }\n");
    let err = dylib::load(&so).unwrap_err();
    assert!(
        matches!(
            &err,
            DylibError::MissingSymbol {
                symbol: "repo2agent_plugin_entry",
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("is not a repo2agent plugin"));

    let text = tmp.path().join("notes.so");
    std::fs::write(&text, "not a library").unwrap();
    assert!(matches!(dylib::load(&text), Err(DylibError::OpenLib { .. })));
    assert!(matches!(
        dylib::load(&tmp.path().join("missing.so")),
        Err(DylibError::OpenLib { .. })
    ));
}

#[test]
fn a_plugin_type_that_clashes_with_a_builtin_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let so = c_library(
        tmp.path(),
        "clash",
        r#"#include <stdlib.h>
#include <string.h>
struct buf { unsigned char *ptr; size_t len; size_t cap; };
struct entry { unsigned int abi_version; struct buf (*manifest)(void); void *create, *call, *mask, *destroy; void (*free_buf)(struct buf); };
static const char M[] = "{\"name\":\"clash\",\"components\":[{\"kind\":\"masker\",\"type\":\"roles\"}]}";
static struct buf manifest(void) { struct buf b; b.len = b.cap = strlen(M); b.ptr = malloc(b.len); memcpy(b.ptr, M, b.len); return b; }
static void free_buf(struct buf b) { free(b.ptr); }
static const struct entry E = { 1, manifest, 0, 0, 0, 0, free_buf };
const struct entry *repo2agent_plugin_entry(void) { return &E; }
"#,
    );
    let plugin = dylib::load(&so).unwrap();
    assert_eq!(plugin.manifest.name, "clash");
    let err = dylib::register(&plugin, &mut registry()).unwrap_err();
    assert!(
        err.to_string()
            .contains("masker type `roles` is already registered by built-in"),
        "{err}"
    );
}
