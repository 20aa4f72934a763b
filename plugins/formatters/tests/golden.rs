//! Pins the serialization spec (docs/serialization.md): a small real
//! repository, simulated with the template policy at a fixed seed, formatted
//! with `agent` and `raw-repos`, compared with the golden files. Rewrite them
//! with `UPDATE_GOLDEN=1` and review the diff together with the spec.
#![allow(clippy::unwrap_used)]

use repo2agent_core::analyze::analyze;
use repo2agent_core::config::InputConfig;
use repo2agent_core::grounding::verify;
use repo2agent_core::ingest::{Ingestor, LanguageTable, expand};
use repo2agent_core::model::{Role, Segment, Trajectory};
use repo2agent_core::simulate::{SimulationConfig, simulate};
use repo2agent_core::stage::{Analyzer, FormatInput, Formatter, RepoContext};
use repo2agent_core::stats::{AnalysisStats, IngestStats, SimulationStats};
use repo2agent_formatters::{AgentFormatter, RawReposConfig, RawReposFormatter, RawStyle, SPECIAL_TOKENS};
use repo2agent_template::TemplatePolicy;
use std::path::Path;
use std::sync::Arc;

fn golden_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

fn demo() -> (
    repo2agent_core::model::RepoSnapshot,
    repo2agent_core::model::Analysis,
    Trajectory,
) {
    let analyzers: Vec<Arc<dyn Analyzer>> = vec![Arc::new(
        repo2agent_treesitter::TreeSitterAnalyzer::builtin("python")
            .unwrap()
            .unwrap(),
    )];
    let table = LanguageTable::for_analyzers(&analyzers);
    let mut istats = IngestStats::default();
    let repos = expand(&[golden_dir().join("demo").display().to_string()], &mut istats);
    let snapshot = Ingestor::new(InputConfig::default(), table).snapshot(&repos[0], &mut istats);
    let analysis = analyze(&snapshot, &analyzers, 7, &mut AnalysisStats::default());
    let ctx = RepoContext {
        snapshot: &snapshot,
        analysis: &analysis,
        order: &analysis.order,
    };
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let policy = TemplatePolicy::default();
    let mut stats = SimulationStats::default();
    let t = rt
        .block_on(simulate(
            ctx,
            &policy,
            "template",
            7,
            &SimulationConfig::default(),
            &mut stats,
        ))
        .unwrap();
    verify(&t, &snapshot).unwrap();
    (snapshot, analysis, t)
}

/// Segments as text with role brackets: `[think]…[/think]`.
fn annotate(segments: &[Segment]) -> String {
    segments
        .iter()
        .map(|s| format!("[{r}]{}[/{r}]", s.text, r = s.role.name()))
        .collect()
}

fn check(name: &str, actual: &str) {
    let path = golden_dir().join(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, actual).unwrap();
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|_| panic!("missing {}", path.display()));
    assert_eq!(
        actual, expected,
        "{name} differs from the golden file (UPDATE_GOLDEN=1 to accept)"
    );
}

#[test]
fn agent_format_matches_the_golden_file() {
    let (snapshot, analysis, t) = demo();
    let segments = AgentFormatter::default()
        .format(FormatInput {
            snapshot: &snapshot,
            order: &analysis.order,
            trajectory: Some(&t),
        })
        .unwrap();
    check("demo.agent.txt", &annotate(&segments));

    // The spec's invariants, independent of the golden text.
    let text: String = segments.iter().map(|s| s.text.as_str()).collect();
    assert!(text.starts_with("<|repo|>demo\n<|agent|>main\n<|task|>"));
    assert!(text.ends_with("<|agent_end|>\n"));
    for w in segments.windows(2) {
        assert_ne!(w[0].role, w[1].role, "neighbouring segments of one role are merged");
    }
    // Every file's exact content appears as a `code` segment, once.
    for f in &snapshot.files {
        let n = segments
            .iter()
            .filter(|s| s.role == Role::Code && s.text == f.text)
            .count();
        assert_eq!(n, usize::from(!f.text.is_empty()), "{}", f.path);
    }
    // Observations hold the real bytes of what was read.
    assert!(
        segments
            .iter()
            .any(|s| s.role == Role::Observation && s.text.contains("def shout(text):"))
    );
    // Only the documented special tokens occur.
    let mut rest = text.as_str();
    while let Some(i) = rest.find("<|") {
        let end = rest[i..].find("|>").unwrap() + i + 2;
        assert!(
            SPECIAL_TOKENS.contains(&&rest[i..end]),
            "undocumented marker {}",
            &rest[i..end]
        );
        rest = &rest[end..];
    }
    // The same seed gives the same document.
    let (_, _, again) = demo();
    assert_eq!(t, again);
}

#[test]
fn raw_repos_formats_match_the_golden_files() {
    let (snapshot, analysis, _) = demo();
    for (style, name) in [
        (RawStyle::Starcoder, "demo.raw-starcoder.txt"),
        (RawStyle::PathComment, "demo.raw-path-comment.txt"),
    ] {
        let f = RawReposFormatter::new(RawReposConfig { style });
        let segments = f
            .format(FormatInput {
                snapshot: &snapshot,
                order: &analysis.order,
                trajectory: None,
            })
            .unwrap();
        check(name, &annotate(&segments));
    }
}

#[test]
fn agent_format_refuses_to_run_without_a_trajectory() {
    let (snapshot, analysis, _) = demo();
    let err = AgentFormatter::default()
        .format(FormatInput {
            snapshot: &snapshot,
            order: &analysis.order,
            trajectory: None,
        })
        .unwrap_err();
    assert!(err.to_string().contains("needs a trajectory"));
}

#[test]
fn segments_handed_on_one_by_one_are_the_document_and_an_error_stops_them() {
    let (snapshot, analysis, t) = demo();
    let input = FormatInput {
        snapshot: &snapshot,
        order: &analysis.order,
        trajectory: Some(&t),
    };
    let formatters: Vec<Box<dyn Formatter>> = vec![
        Box::new(AgentFormatter::default()),
        Box::new(RawReposFormatter::new(RawReposConfig::default())),
        Box::new(RawReposFormatter::new(RawReposConfig {
            style: RawStyle::PathComment,
        })),
    ];
    for f in formatters {
        let whole = f.format(input).unwrap();
        assert!(whole.len() > 3);
        let mut each = Vec::new();
        f.format_each(input, &mut |s| {
            each.push(s);
            Ok(())
        })
        .unwrap();
        assert_eq!(each, whole);
        // The agent format hands on whole segments: no neighbours share a role.
        if f.needs_trajectory() {
            assert!(each.windows(2).all(|w| w[0].role != w[1].role));
        }
        let mut calls = 0;
        let err = f
            .format_each(input, &mut |_| {
                calls += 1;
                if calls == 3 {
                    Err(repo2agent_core::StageError::Invalid("full".into()))
                } else {
                    Ok(())
                }
            })
            .unwrap_err();
        assert_eq!((calls, err.to_string().contains("full")), (3, true), "{err}");
    }
}
