//! Registry and configuration: every problem reported together with its line,
//! references checked, unknown types listing the known ones.

use repo2agent_core::config::{self, BuildContext, Problem, RunConfig};
use repo2agent_core::model::{Plan, PlanStep};
use repo2agent_core::registry::{Origin, Registry, RegistryError};
use repo2agent_core::stage::{Policy, RepoContext, ScoreRequest, Scorer, TargetScore, ThinkRequest};
use repo2agent_core::{Kind, StageError};
use serde::Deserialize;
use std::path::Path;
use std::sync::Arc;
use toml::Spanned;

/// A policy for registry tests: plans the files in the given order, thinks a
/// fixed phrase. Deterministic and offline.
struct ListPolicy {
    phrase: String,
}

#[async_trait::async_trait]
impl Policy for ListPolicy {
    async fn plan(&self, repo: RepoContext<'_>, _seed: u64) -> Result<Plan, StageError> {
        let steps = repo
            .order
            .iter()
            .filter_map(|id| repo.snapshot.file(*id))
            .map(|f| PlanStep {
                file: f.id,
                path: f.path.clone(),
                purpose: self.phrase.clone(),
                reads: vec![],
            })
            .collect();
        Ok(Plan {
            requirements: self.phrase.clone(),
            steps,
        })
    }

    async fn think(&self, request: ThinkRequest<'_>) -> Result<String, StageError> {
        Ok(format!("{} {}", self.phrase, request.step.path))
    }

    async fn propose_rewrites(&self, _r: ThinkRequest<'_>, current: &str, n: usize) -> Result<Vec<String>, StageError> {
        Ok((0..n).map(|i| format!("{current} ({i})")).collect())
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListPolicyConfig {
    #[serde(default = "default_phrase")]
    phrase: String,
}

fn default_phrase() -> String {
    "write".into()
}

/// A scorer that refers to a policy by name (as `openai-logprobs` will).
struct LengthScorer {
    _policy: Arc<dyn Policy>,
}

#[async_trait::async_trait]
impl Scorer for LengthScorer {
    async fn score(&self, batch: &[ScoreRequest]) -> Result<Vec<TargetScore>, StageError> {
        Ok(batch
            .iter()
            .map(|r| TargetScore {
                token_nll: vec![1.0; r.target.len()],
                context_tokens: r.context.len() as u64,
                reused_tokens: 0,
            })
            .collect())
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LengthScorerConfig {
    policy: Spanned<String>,
}

fn registry() -> Registry {
    let mut r = Registry::new();
    repo2agent_maskers::register(&mut r).unwrap();
    repo2agent_search::register(&mut r).unwrap();
    r.register::<dyn Policy, ListPolicyConfig, _>("list", Origin::BuiltIn("tests"), "test policy", |c, _| {
        Ok(Arc::new(ListPolicy { phrase: c.phrase }) as Arc<dyn Policy>)
    })
    .unwrap();
    r.register::<dyn Scorer, LengthScorerConfig, _>(
        "length",
        Origin::BuiltIn("tests"),
        "test scorer",
        |c, ctx: &BuildContext<'_>| {
            Ok(Arc::new(LengthScorer {
                _policy: ctx.policy(&c.policy)?,
            }) as Arc<dyn Scorer>)
        },
    )
    .unwrap();
    r
}

fn parse(text: &str) -> Result<RunConfig, Vec<(Option<usize>, String)>> {
    config::parse(text, "test.toml", Path::new("/base"), &mut registry()).map_err(|e| {
        e.problems
            .into_iter()
            .map(|p| (p.line, format!("[{}] {}", p.path, p.message)))
            .collect()
    })
}

#[test]
fn a_config_with_several_errors_reports_every_one_with_its_line() {
    let text = r#"[run]
seed = "seven"

[input]
repos = ["corpus/*"]
colour = "red"

[policies.teacher]
type = "openai"

[policies.local]
type = "list"
phrase = 3

[scorers.ref]
type = "length"
policy = "nobody"

[mask]
type = "roles"
weights = { thinking = 1.0 }

[format]
type = "agent"

[extra]
x = 1
"#;
    let problems = parse(text).unwrap_err();
    let lines: Vec<Option<usize>> = problems.iter().map(|(l, _)| *l).collect();
    assert_eq!(
        lines,
        [
            Some(2),
            Some(6),
            Some(9),
            Some(13),
            Some(17),
            Some(20),
            Some(24),
            Some(26)
        ],
        "{problems:#?}"
    );
    let all = problems.iter().map(|(_, m)| m.as_str()).collect::<Vec<_>>().join("\n");
    for fragment in [
        "[run] invalid type: string \"seven\", expected u64",
        "[input] unknown field `colour`",
        "[policies.teacher] unknown policy type `openai`; known policy types: list",
        "[policies.local] invalid type: integer `3`, expected a string",
        "no policy named `nobody`; declare it as [policies.nobody] (declared: none)",
        "[mask] unknown role `thinking`",
        "[format] unknown formatter type `agent`; known formatter types: (none registered)",
        "[extra] unknown section `extra`",
    ] {
        assert!(all.contains(fragment), "missing {fragment:?} in\n{all}");
    }
}

#[test]
fn references_resolve_to_declared_components_and_run_policy_selects_one() {
    let ok = parse(
        "[run]\npolicy = \"b\"\n[policies.a]\ntype = \"list\"\n[policies.b]\ntype = \"list\"\nphrase = \"go\"\n[scorers.s]\ntype = \"length\"\npolicy = \"a\"\n[search]\ntype = \"none\"\n",
    )
    .unwrap();
    assert_eq!(ok.policy.as_deref(), Some("b"));
    assert_eq!(ok.scorers["s"].type_name, "length");
    let kinds: Vec<(Kind, &str)> = ok.components().into_iter().map(|(k, n, _, _)| (k, n)).collect();
    assert_eq!(
        kinds,
        [
            (Kind::Policy, "a"),
            (Kind::Policy, "b"),
            (Kind::Scorer, "s"),
            (Kind::Search, "search")
        ]
    );

    let ambiguous = parse("[policies.a]\ntype = \"list\"\n[policies.b]\ntype = \"list\"\n").unwrap_err();
    assert!(
        ambiguous[0]
            .1
            .contains("several policies are declared (a, b); choose one with run.policy"),
        "{ambiguous:?}"
    );

    let wrong = parse("[run]\npolicy = \"c\"\n[policies.a]\ntype = \"list\"\n").unwrap_err();
    assert_eq!(
        wrong,
        [(Some(2), "[run.policy] no policy named `c` (declared: a)".to_owned())]
    );

    // A reference to a component that is itself invalid says so instead of "not declared".
    let broken = parse("[policies.a]\ntype = \"list\"\nphrase = 1\n[scorers.s]\ntype = \"length\"\npolicy = \"a\"\n")
        .unwrap_err();
    assert_eq!(broken.len(), 2, "{broken:?}");
    assert!(
        broken[1].1.contains("policy `a` is invalid: invalid type: integer `1`"),
        "{broken:?}"
    );
}

#[test]
fn unknown_types_list_the_known_ones_and_missing_type_is_reported() {
    let e = parse("[mask]\ntype = \"rolez\"\n").unwrap_err();
    assert_eq!(
        e,
        [(
            Some(2),
            "[mask] unknown masker type `rolez`; known masker types: none, roles".to_owned()
        )]
    );
    let e = parse("[output]\nseq_len = 512\nshard_compression = \"zstd:99\"\n").unwrap_err();
    assert_eq!(
        e,
        [(
            Some(3),
            "[output] unknown compression `zstd:99`: expected \"none\", \"zstd\" or \"zstd:LEVEL\" (1 to 22)"
                .to_owned()
        )]
    );
    assert!(parse("[output]\nshard_compression = \"zstd:19\"\n").is_ok());
    let e = parse("[search]\nrounds = 3\n").unwrap_err();
    assert_eq!(
        e,
        [(
            Some(1),
            "[search] missing `type`; known search types: best-of-n, greedy-rewrite, importance, none".to_owned()
        )]
    );
    let e = parse("[analyzers]\nlanguages = [\"python\", 3]\n").unwrap_err();
    assert_eq!(e.len(), 2, "{e:?}");
    assert!(
        e[0].1
            .contains("unknown analyzer type `python`; known analyzer types: (none registered)")
    );
    assert!(e[1].1.contains("expected a language name"));
}

#[test]
fn relative_paths_are_relative_to_the_config_file_and_defaults_apply() {
    let cfg = parse("[input]\nrepos = [\"corpus/*\", \"/abs\"]\n[output]\ndir = \"out/x\"\n").unwrap();
    assert_eq!(cfg.input.repos, ["/base/corpus/*", "/abs"]);
    assert_eq!(cfg.output.dir, Path::new("/base/out/x"));
    assert_eq!(cfg.input.max_file_bytes, 1_000_000);
    assert!(cfg.input.vendored_dirs.iter().any(|d| d == "node_modules"));
    assert!(cfg.masker.is_none() && cfg.search.is_none());
    assert_eq!(cfg.run.seed, 0);
}

#[test]
fn the_embedded_default_config_resolves() {
    let mut r = registry();
    repo2agent_template::register(&mut r).unwrap();
    repo2agent_formatters::register(&mut r).unwrap();
    let cfg = config::parse(config::DEFAULT_CONFIG, "<default>", &config::current_dir(), &mut r).unwrap();
    assert_eq!(cfg.policy.as_deref(), Some("template"));
    assert_eq!(cfg.formatter.as_ref().map(|f| f.type_name.as_str()), Some("agent"));
    assert_eq!(cfg.masker.as_ref().map(|m| m.type_name.as_str()), Some("roles"));
    // Relative to the current directory, absolute.
    let cwd = std::env::current_dir().unwrap();
    assert_eq!(cfg.input.repos, [cwd.display().to_string()]);
    assert_eq!(cfg.output.dir, cwd.join("out/repo2agent"));
}

#[test]
fn syntax_errors_are_all_reported_with_lines() {
    let e = parse("[mask\ntype = \"roles\"\n[x]]\n").unwrap_err();
    assert_eq!(e.iter().map(|(l, _)| *l).collect::<Vec<_>>(), [Some(1), Some(3)]);
    assert!(e[0].1.contains("TOML syntax"));
}

#[test]
fn duplicate_registration_is_refused_naming_the_first() {
    let mut r = registry();
    let err = repo2agent_maskers::register(&mut r).unwrap_err();
    assert!(matches!(&err, RegistryError::Duplicate { kind: Kind::Masker, type_name, .. } if type_name == "roles"));
    assert_eq!(
        err.to_string(),
        "masker type `roles` is already registered by built-in (repo2agent-maskers)"
    );
}

#[test]
fn factory_errors_are_placed_at_the_component() {
    let mut r = Registry::new();
    r.register::<dyn Policy, ListPolicyConfig, _>("picky", Origin::BuiltIn("tests"), "", |c, _| {
        if c.phrase.is_empty() {
            Err(Problem::new("phrase must not be empty"))
        } else {
            unreachable_policy()
        }
    })
    .unwrap();
    let e = config::parse(
        "\n\n[policies.p]\ntype = \"picky\"\nphrase = \"\"\n",
        "t.toml",
        Path::new("."),
        &mut r,
    )
    .unwrap_err();
    assert_eq!(e.problems.len(), 1);
    assert_eq!(
        (e.problems[0].line, e.problems[0].path.as_str()),
        (Some(4), "policies.p")
    );
    assert_eq!(
        e.to_string(),
        "t.toml has 1 problem:\n  t.toml:4:8: [policies.p] phrase must not be empty"
    );
}

fn unreachable_policy() -> Result<Arc<dyn Policy>, Problem> {
    Err(Problem::new("this test only builds with an empty phrase"))
}

#[test]
fn bad_exclude_patterns_are_config_problems() {
    let e = parse("[run]\nseed = 1\n[input]\nexclude = [\"docs/\", \"src/[z-a\"]\n").unwrap_err();
    assert_eq!(e.len(), 1, "{e:?}");
    assert_eq!(e[0].0, Some(3));
    assert!(
        e[0].1.starts_with("[input.exclude] bad exclude pattern `src/[z-a`"),
        "{e:?}"
    );
}
