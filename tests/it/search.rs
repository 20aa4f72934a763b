//! Search strategies through the real pipeline (`pipeline::run`) with a
//! scripted policy and a transparent scorer, so every decision can be checked:
//! what is scored (the formatted prefix, the thought, the real code), which
//! candidate is kept, what is recorded, the budgets, and that a second run
//! answers every score from the cache.

use repo2agent_core::StageError;
use repo2agent_core::config::BuildContext;
use repo2agent_core::model::{Plan, StepKind, Trajectory};
use repo2agent_core::registry::{Origin, Registry};
use repo2agent_core::stage::{Policy, RepoContext, ScoreRequest, Scorer, TargetScore, ThinkRequest};
use repo2agent_tests::*;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};

/// Every request each tagged scorer received.
fn seen() -> &'static Mutex<BTreeMap<String, Vec<ScoreRequest>>> {
    static S: OnceLock<Mutex<BTreeMap<String, Vec<ScoreRequest>>>> = OnceLock::new();
    S.get_or_init(Mutex::default)
}

/// NLL 0.5 per whitespace-separated target token found in the context, 2.0
/// otherwise: a thought that names what the code uses makes the code likelier.
struct WordScorer {
    tag: String,
}

#[async_trait::async_trait]
impl Scorer for WordScorer {
    async fn score(&self, batch: &[ScoreRequest]) -> Result<Vec<TargetScore>, StageError> {
        seen()
            .lock()
            .unwrap()
            .entry(self.tag.clone())
            .or_default()
            .extend(batch.iter().cloned());
        if self.tag.starts_with("fail") {
            return Err(StageError::Failed("the judge is down".into()));
        }
        Ok(batch.iter().map(word_score).collect())
    }

    fn fingerprint(&self) -> Option<String> {
        Some("words-v1".into())
    }
}

fn word_score(r: &ScoreRequest) -> TargetScore {
    TargetScore {
        token_nll: r
            .target
            .split_whitespace()
            .map(|w| if r.context.contains(w) { 0.5 } else { 2.0 })
            .collect(),
        context_tokens: r.context.split_whitespace().count() as u64,
        reused_tokens: 0,
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WordScorerConfig {
    tag: String,
}

/// Plans like the template; thinks "I write PATH."; rewrites append one word
/// of the file per candidate (round-dependent through the seed), except for
/// `noise.py`, whose rewrites name nothing of the file.
struct Scripted;

fn words_of(text: &str) -> Vec<String> {
    let mut v: Vec<String> = Vec::new();
    for w in text.split_whitespace() {
        if !v.iter().any(|x| x == w) {
            v.push(w.to_owned());
        }
    }
    v
}

#[async_trait::async_trait]
impl Policy for Scripted {
    async fn plan(&self, repo: RepoContext<'_>, seed: u64) -> Result<Plan, StageError> {
        repo2agent_template::TemplatePolicy::default().plan(repo, seed).await
    }

    async fn think(&self, request: ThinkRequest<'_>) -> Result<String, StageError> {
        Ok(format!("I write {}.", request.step.path))
    }

    async fn propose_rewrites(
        &self,
        request: ThinkRequest<'_>,
        current: &str,
        n: usize,
    ) -> Result<Vec<String>, StageError> {
        if request.step.path == "noise.py" {
            return Ok((0..n).map(|k| format!("{current} Zebra{k}.")).collect());
        }
        let file = request.repo.snapshot.file(request.step.file).unwrap();
        let words = words_of(&file.text);
        Ok((0..n)
            .map(|k| {
                let w = &words[(request.seed as usize + k) % words.len()];
                format!("{current} Uses {w}")
            })
            .collect())
    }
}

fn registry() -> Registry {
    let mut r = Registry::new();
    repo2agent_maskers::register(&mut r).unwrap();
    repo2agent_search::register(&mut r).unwrap();
    repo2agent_treesitter::register(&mut r).unwrap();
    repo2agent_formatters::register(&mut r).unwrap();
    repo2agent_template::register(&mut r).unwrap();
    repo2agent_openai::register(&mut r).unwrap();
    r.register::<dyn Policy, BTreeMap<String, String>, _>("scripted", Origin::BuiltIn("tests"), "test", |_, _| {
        Ok(Arc::new(Scripted) as Arc<dyn Policy>)
    })
    .unwrap();
    r.register::<dyn Scorer, WordScorerConfig, _>(
        "words",
        Origin::BuiltIn("tests"),
        "test scorer",
        |c, _: &BuildContext<'_>| Ok(Arc::new(WordScorer { tag: c.tag }) as Arc<dyn Scorer>),
    )
    .unwrap();
    r
}

const FILES: &[(&str, &str)] = &[
    (
        "util.py",
        "def slugify(text):\n    return text.lower().replace(' ', '-')\n",
    ),
    (
        "models.py",
        "from util import slugify\n\nclass Article:\n    def __init__(self, title):\n        self.slug = slugify(title)\n",
    ),
    (
        "app.py",
        "from models import Article\n\ndef main():\n    print(Article('Hello World').slug)\n",
    ),
    ("noise.py", "import util\nVALUE = 42\n"),
];

/// Runs the pipeline on the fixture; returns the trajectory and stats.json.
fn run(dir: &Path, tag: &str, search: &str) -> (Trajectory, serde_json::Value) {
    run_with(dir, tag, "[policies.scripted]\ntype = \"scripted\"", search)
}

fn run_with(dir: &Path, tag: &str, policy: &str, search: &str) -> (Trajectory, serde_json::Value) {
    let repo = dir.join("repo");
    if !repo.exists() {
        write_tree(&repo, FILES);
    }
    let out = dir.join(format!("out-{tag}"));
    let text = format!(
        "[input]\nrepos = [{}]\n{policy}\n[scorers.words]\ntype = \"words\"\ntag = \"{tag}\"\n{search}\n[format]\ntype = \"agent\"\n[output]\ndir = {}\nshards = false\n",
        toml_path(&repo),
        toml_path(&out),
    );
    let config = repo2agent_core::config::parse(&text, "search.toml", dir, &mut registry()).unwrap();
    let report = repo2agent_core::run::pipeline::run(&config).unwrap();
    let line = read_trajectories(&report.trajectories_path.unwrap());
    let t = Trajectory::from_json_line(line.trim()).unwrap();
    (t, read_json(report.stats_path))
}

fn think_text(t: &Trajectory, agent: &str, step: usize) -> String {
    let e = t
        .main
        .walk()
        .into_iter()
        .find_map(|s| match &s.kind {
            StepKind::Delegate { episode } if episode.agent.0 == agent => Some(episode.clone()),
            _ => None,
        })
        .unwrap();
    match &e.steps[step].kind {
        StepKind::Think { text } => text.clone(),
        other => panic!("not a thought: {other:?}"),
    }
}

fn cache(dir: &Path) -> String {
    format!("cache_dir = {}", toml_path(&dir.join("cache")))
}

#[test]
fn greedy_rewrite_keeps_only_rewrites_that_make_the_real_code_likelier() {
    let tmp = tempfile::tempdir().unwrap();
    let search = format!(
        "[search]\ntype = \"greedy-rewrite\"\nscorer = \"words\"\n{}",
        cache(tmp.path())
    );
    let (t, stats) = run(tmp.path(), "greedy", &search);
    let record = t.search.as_ref().unwrap();
    assert_eq!(record.strategy, "greedy-rewrite");
    // One searched thought per file: the one right before its Write.
    assert_eq!(record.thinks.len(), FILES.len());
    assert_eq!(record.usage.thinks_eligible, FILES.len() as u64);
    for r in &record.thinks {
        assert!(r.candidates.len() <= 2 * 3, "K = 2, R = 3");
        let kept = think_text(&t, &r.agent.0, r.step);
        let min = r.candidates.iter().map(|c| c.nll).fold(r.initial_nll, f64::min);
        match r.accepted {
            Some(i) => {
                let c = &r.candidates[i];
                assert!(c.nll < r.initial_nll, "{r:?}");
                assert_eq!(c.nll, min, "greedy keeps the best it saw");
                assert_eq!(kept, c.text, "the trajectory holds the accepted thought");
            }
            None => {
                assert_eq!(min, r.initial_nll, "nothing better was seen: {r:?}");
                assert!(kept.starts_with("I write "), "{kept}");
            }
        }
        let target = FILES.iter().find(|(p, _)| kept.contains(p)).unwrap().1;
        assert_eq!(r.target_tokens, target.split_whitespace().count() as u64);
    }
    // noise.py's rewrites name nothing of the file: rejected; the others win.
    let noise = record
        .thinks
        .iter()
        .find(|r| think_text(&t, &r.agent.0, r.step).contains("noise.py"))
        .unwrap();
    assert_eq!(noise.accepted, None);
    assert_eq!(noise.candidates.len(), 6, "three rounds of two were tried");
    assert!(record.thinks.iter().filter(|r| r.accepted.is_some()).count() >= 2);

    // What was scored: the flattened prefix, the thought, the write call, then the code.
    let requests = seen().lock().unwrap()["greedy"].clone();
    let models = FILES[1].1;
    let for_models: Vec<&ScoreRequest> = requests.iter().filter(|r| r.target == models).collect();
    assert!(!for_models.is_empty());
    for r in &for_models {
        assert!(
            r.context.ends_with("<|end|>\n<|call|>write(models.py)\n"),
            "{}",
            r.context
        );
        assert!(r.context.contains("<|think|>I write models.py."), "{}", r.context);
        assert!(
            r.context.contains(FILES[0].1),
            "util.py was written before: it is in the context"
        );
        assert!(r.context.contains("<|plan|>"));
    }
    // The initial thought is scored once, every candidate once (a candidate
    // proposed again in a later round is answered by the cache).
    let per_think: usize = record.thinks.iter().map(|r| 1 + r.candidates.len()).sum();
    let u = &record.usage;
    assert_eq!(requests.len() as u64, u.scorer_calls);
    assert_eq!(u.scorer_calls + u.scorer_cache_hits, per_think as u64);
    assert!(u.scorer_cache_hits > 0, "noise.py's rewrites repeat each round");
    // What the model computed: every request it answered, whole (this scorer
    // reuses no prefix).
    let words = |s: &str| s.split_whitespace().count() as u64;
    let computed: u64 = requests.iter().map(|r| words(&r.context) + words(&r.target)).sum();
    assert_eq!(u.scorer_tokens_computed, computed);
    assert!(
        u.scorer_tokens_computed < u.scorer_tokens,
        "cached answers cost nothing"
    );

    // stats.json sums the records.
    let s = &stats["search"];
    assert_eq!(s["strategy"], "greedy-rewrite");
    assert_eq!(s["thinks_searched"], FILES.len() as u64);
    assert_eq!(s["scorer_calls"], u.scorer_calls);
    assert_eq!(s["scorer_cache_hits"], u.scorer_cache_hits);
    assert_eq!(s["scorer_tokens_computed"], u.scorer_tokens_computed);
    let accepted = record.thinks.iter().filter(|r| r.accepted.is_some()).count() as f64;
    assert!((s["acceptance_rate"].as_f64().unwrap() - accepted / FILES.len() as f64).abs() < 1e-12);
    assert!(s["mean_nll_gain"].as_f64().unwrap() > 0.0, "{s}");
    assert_eq!(s["policy_calls"].as_u64().unwrap(), record.usage.policy_calls);
    assert_eq!(stats["simulation"]["grounding_failures"], serde_json::json!({}));

    // A second run (a resumed or repeated one) answers every score from the cache.
    let (mut again, stats2) = run(tmp.path(), "greedy-again", &search);
    let usage = again.search.as_mut().map(|r| std::mem::take(&mut r.usage)).unwrap();
    assert_eq!(usage.scorer_tokens, u.scorer_tokens, "budgets count cached answers too");
    again.search.as_mut().unwrap().usage = u.clone();
    assert_eq!(again, t, "same trajectory, same record");
    assert_eq!(stats2["search"]["scorer_calls"], 0);
    assert_eq!(stats2["search"]["scorer_cache_hits"], per_think as u64);
    assert!(!seen().lock().unwrap().contains_key("greedy-again"));
}

/// The `openai` policy proposes the rewrites (a real HTTP server on 127.0.0.1;
/// its retries and faults are tested in `openai.rs`): one request per thought,
/// its alternatives scored and recorded.
#[test]
fn the_openai_policy_proposes_rewrites_over_http() {
    use repo2agent_tests::llm_server::FakeLlm;
    let server = FakeLlm::start();
    let tmp = tempfile::tempdir().unwrap();
    let policy = format!(
        "[policies.teacher]\ntype = \"openai\"\nbase_url = \"{}\"\nmodel = \"fake\"\nbackoff_initial_ms = 5\nbackoff_max_ms = 20\ncache_dir = \"\"",
        server.base_url()
    );
    let search = "[search]\ntype = \"best-of-n\"\nscorer = \"words\"\ncandidates = 2\ncache_dir = \"\"";
    // The plan and the 8 thoughts come first (one request each); then the rewrites.
    let before = 1 + 2 * FILES.len();
    let (t, stats) = run_with(tmp.path(), "openai", &policy, search);
    let record = t.search.unwrap();
    assert_eq!(record.thinks.len(), FILES.len());
    for r in &record.thinks {
        let texts: Vec<&str> = r.candidates.iter().map(|c| c.text.as_str()).collect();
        assert_eq!(texts.len(), 2, "{texts:?}");
        assert!(texts[0].starts_with("Alternative one for ") && texts[1].starts_with("Alternative two for "));
    }
    assert_eq!(server.requests(), before + FILES.len());
    assert_eq!(stats["simulation"]["policy"]["template_fallbacks"], 0);
    assert_eq!(stats["search"]["policy_calls"], FILES.len() as u64);
}

#[test]
fn contexts_keep_their_last_characters_and_targets_their_first() {
    let tmp = tempfile::tempdir().unwrap();
    let search = "[search]\ntype = \"best-of-n\"\nscorer = \"words\"\ncandidates = 1\ncontext_chars = 40\ntarget_chars = 10\ncache_dir = \"\"";
    let (t, _) = run(tmp.path(), "window", search);
    let requests = seen().lock().unwrap()["window"].clone();
    assert!(!requests.is_empty());
    for r in &requests {
        assert_eq!(r.context.chars().count(), 40, "{:?}", r.context);
        assert_eq!(r.target.chars().count(), 10);
        let (path, _) = FILES.iter().find(|(_, text)| text.starts_with(&r.target)).unwrap();
        assert!(
            r.context.ends_with(&format!("<|call|>write({path})\n")),
            "{:?}",
            r.context
        );
    }
    assert_eq!(t.search.unwrap().usage.scorer_calls as usize, requests.len());

    // A window that reaches before the thought: every candidate of a thought
    // is scored after the same prefix, the policy's thought fixing its start.
    let search =
        "[search]\ntype = \"best-of-n\"\nscorer = \"words\"\ncandidates = 3\ncontext_chars = 300\ncache_dir = \"\"";
    let (t, _) = run(tmp.path(), "fixed-start", search);
    let requests = seen().lock().unwrap()["fixed-start"].clone();
    for record in &t.search.unwrap().thinks {
        let target = &requests
            .iter()
            .find(|r| r.context.contains(&record.candidates[0].text))
            .unwrap()
            .target;
        let of_file: Vec<&ScoreRequest> = requests.iter().filter(|r| r.target == *target).collect();
        assert_eq!(
            of_file.len(),
            1 + record.candidates.len(),
            "the thought and its candidates"
        );
        let before = |r: &ScoreRequest| r.context[..r.context.rfind("<|think|>").unwrap()].to_owned();
        assert!(before(of_file[0]).chars().count() > 100, "{:?}", of_file[0].context);
        assert!(of_file.iter().all(|r| before(r) == before(of_file[0])), "{of_file:?}");
        assert!(of_file.iter().any(|r| r.context.chars().count() != 300), "{of_file:?}");
    }
}

#[test]
fn best_of_n_scores_n_once_and_keeps_the_best_if_it_beats_the_initial() {
    let tmp = tempfile::tempdir().unwrap();
    let search = "[search]\ntype = \"best-of-n\"\nscorer = \"words\"\ncandidates = 3\ncache_dir = \"\"";
    let (t, stats) = run(tmp.path(), "best", search);
    let record = t.search.as_ref().unwrap();
    for r in &record.thinks {
        assert_eq!(r.candidates.len(), 3);
        assert!(r.candidates.iter().all(|c| c.round == 0));
        let best = r.candidates.iter().map(|c| c.nll).fold(f64::INFINITY, f64::min);
        match r.accepted {
            Some(i) => assert!(r.candidates[i].nll == best && best < r.initial_nll),
            None => assert!(best >= r.initial_nll),
        }
    }
    assert_eq!(
        stats["search"]["policy_calls"],
        FILES.len() as u64,
        "one proposal call per thought"
    );
}

#[test]
fn importance_weights_by_thought_and_code_likelihood_and_is_seeded() {
    let tmp = tempfile::tempdir().unwrap();
    let search = "[search]\ntype = \"importance\"\nscorer = \"words\"\ncandidates = 3\ncache_dir = \"\"";
    let (t, _) = run(tmp.path(), "importance", search);
    let record = t.search.as_ref().unwrap();
    assert_eq!(record.strategy, "importance");
    for r in &record.thinks {
        let w0 = r.initial_log_weight.unwrap();
        assert_eq!(w0, -(r.initial_nll + r.initial_think_nll.unwrap()));
        for c in &r.candidates {
            assert_eq!(c.log_weight.unwrap(), -(c.nll + c.think_nll.unwrap()));
        }
        let kept = think_text(&t, &r.agent.0, r.step);
        match r.accepted {
            Some(i) => assert_eq!(kept, r.candidates[i].text),
            None => assert!(kept.starts_with("I write "), "{kept}"),
        }
    }
    // The thought's own likelihood counts: each scored thought was a target once.
    let requests = seen().lock().unwrap()["importance"].clone();
    assert!(requests.iter().any(|q| q.target.starts_with("I write ")));
    // Seeded: the same run gives the same draw.
    let (again, _) = run(tmp.path(), "importance-again", search);
    assert_eq!(again, t);
}

#[test]
fn a_policy_call_budget_stops_the_search_and_says_so() {
    let tmp = tempfile::tempdir().unwrap();
    let search = "[search]\ntype = \"greedy-rewrite\"\nscorer = \"words\"\nmax_policy_calls = 1\ncache_dir = \"\"";
    let (t, stats) = run(tmp.path(), "budget", search);
    let record = t.search.unwrap();
    assert_eq!(record.thinks.len(), 1, "one call: the first thought's first round");
    assert_eq!(record.usage.policy_calls, 1);
    assert!(record.usage.budget_exhausted);
    assert_eq!(stats["search"]["budget_exhausted"], 1);
    assert_eq!(stats["search"]["thinks_eligible"], FILES.len() as u64);
    // A scorer-token budget: the first thought is searched, then the cap is hit.
    let search = "[search]\ntype = \"best-of-n\"\nscorer = \"words\"\nmax_scorer_tokens = 1\ncache_dir = \"\"";
    let (t, _) = run(tmp.path(), "tokens", search);
    let record = t.search.unwrap();
    assert_eq!(record.thinks.len(), 1);
    assert!(record.usage.scorer_tokens >= 1 && record.usage.budget_exhausted);
}

#[test]
fn bad_search_configs_are_reported_with_their_lines() {
    let tmp = tempfile::tempdir().unwrap();
    let parse = |text: &str| {
        repo2agent_core::config::parse(text, "s.toml", tmp.path(), &mut registry())
            .unwrap_err()
            .to_string()
    };
    let base = "[policies.scripted]\ntype = \"scripted\"\n[scorers.words]\ntype = \"words\"\ntag = \"x\"\n[format]\ntype = \"agent\"\n";
    let e = parse(&format!(
        "{base}[search]\ntype = \"best-of-n\"\nscorer = \"words\"\nrounds = 2\n"
    ));
    assert!(
        e.contains("s.toml:9:") && e.contains("`rounds` applies to `greedy-rewrite` only"),
        "{e}"
    );
    let e = parse(&format!(
        "{base}[search]\ntype = \"greedy-rewrite\"\nscorer = \"nope\"\n"
    ));
    assert!(e.contains("s.toml:10:") && e.contains("no scorer named `nope`"), "{e}");
    let e = parse(&format!(
        "{base}[search]\ntype = \"greedy-rewrite\"\nscorer = \"words\"\ncandidates = 0\n"
    ));
    assert!(e.contains("candidates must be at least 1"), "{e}");
    let e = parse(
        "[policies.scripted]\ntype = \"scripted\"\n[scorers.words]\ntype = \"words\"\ntag = \"x\"\n[format]\ntype = \"raw-repos\"\n[search]\ntype = \"greedy-rewrite\"\nscorer = \"words\"\n",
    );
    assert!(e.contains("s.toml:8:") && e.contains("needs a policy"), "{e}");
}

/// `[evaluate]` without a search: every written file scored after its
/// prefix with and without the sub-agents' thoughts, recorded per file and
/// summed in stats.json per language and policy.
#[test]
fn evaluate_scores_every_file_with_and_without_its_thoughts() {
    let tmp = tempfile::tempdir().unwrap();
    let evaluate = "[evaluate]\nscorer = \"words\"\nbatch_files = 3\ncache_dir = \"\"";
    let (t, stats) = run_with(
        tmp.path(),
        "evaluate",
        "[policies.template]\ntype = \"template\"",
        evaluate,
    );
    assert!(t.search.is_none());
    let e = t.evaluation.as_ref().expect("an evaluation record");
    assert_eq!(e.scorer, "words");
    assert_eq!(e.files.len(), FILES.len(), "one entry per written file");
    let requests = seen().lock().unwrap()["evaluate"].clone();
    // With and without for each file, batched three files (six requests) a call.
    assert_eq!(requests.len(), 2 * FILES.len());
    assert_eq!(e.usage.scorer_calls, 2 * FILES.len() as u64);
    for f in &e.files {
        let code = FILES.iter().find(|(p, _)| *p == f.path).unwrap().1;
        let asked: Vec<&ScoreRequest> = requests.iter().filter(|r| r.target == code).collect();
        assert_eq!(asked.len(), 2, "{}", f.path);
        let (with, without): (Vec<&ScoreRequest>, Vec<&ScoreRequest>) =
            asked.iter().partition(|r| r.context.contains("<|think|>"));
        assert_eq!(
            (with.len(), without.len()),
            (1, 1),
            "one context with thoughts, one without"
        );
        let thought = think_text(&t, &f.agent.0, 0);
        assert!(with[0].context.contains(&thought));
        assert!(!without[0].context.contains(&thought), "{}", without[0].context);
        assert!(with[0].context.ends_with(&format!("<|call|>write({})\n", f.path)));
        assert!(without[0].context.ends_with(&format!("<|call|>write({})\n", f.path)));
        // The numbers are the scorer's, file by file.
        assert_eq!(f.nll_with, word_score(with[0]).sum());
        assert_eq!(f.nll_without, word_score(without[0]).sum());
        assert_eq!(f.code_tokens, code.split_whitespace().count() as u64);
        assert_eq!(f.language, "python");
        assert!(f.nll_after_search.is_none());
    }
    // stats.json: sums, per token, per language, per policy.
    let s = &stats["evaluation"];
    let tokens: u64 = e.files.iter().map(|f| f.code_tokens).sum();
    let value: f64 = e.files.iter().map(|f| f.nll_without - f.nll_with).sum::<f64>() / tokens as f64;
    assert_eq!(s["files"], FILES.len() as u64);
    assert_eq!(s["code_tokens"], tokens);
    assert!((s["value_per_token"].as_f64().unwrap() - value).abs() < 1e-12, "{s}");
    assert!(
        value > 0.0,
        "thoughts naming the file's symbols make its code likelier under the word scorer"
    );
    assert_eq!(s["value_after_search_per_token"], s["value_per_token"]);
    assert_eq!(s["search_gain_per_token"], 0.0);
    assert!((s["by_language"]["python"]["value_per_token"].as_f64().unwrap() - value).abs() < 1e-12);
    assert_eq!(s["by_policy"]["template"]["files"], FILES.len() as u64);
    assert!(stats["seconds"]["evaluate"].as_f64().is_some());
}

/// With a search, the thought value is measured before and after it; the
/// search's own scores come from the shared cache where the pair is the same.
#[test]
fn evaluate_after_search_reports_what_the_search_added() {
    let tmp = tempfile::tempdir().unwrap();
    let config = format!(
        "[search]\ntype = \"greedy-rewrite\"\nscorer = \"words\"\n{0}\n[evaluate]\nscorer = \"words\"\n{0}",
        cache(tmp.path())
    );
    let (t, stats) = run(tmp.path(), "evaluate-search", &config);
    let record = t.search.as_ref().unwrap();
    let e = t.evaluation.as_ref().unwrap();
    assert_eq!(e.files.len(), FILES.len());
    for f in &e.files {
        let after = f.nll_after_search.expect("scored after search");
        assert!(after <= f.nll_with, "greedy never keeps a worse thought: {f:?}");
        let searched = record
            .thinks
            .iter()
            .find(|r| r.agent == f.agent)
            .expect("the file's thought was searched");
        // After search: the pair the search kept (later thoughts are not in
        // an earlier file's context), so the same number.
        let kept = searched
            .accepted
            .map_or(searched.initial_nll, |i| searched.candidates[i].nll);
        assert_eq!(after, kept);
    }
    // The first file's initial pair is the search's too (nothing before it changed).
    let first = &e.files[0];
    assert_eq!(
        first.nll_with,
        record
            .thinks
            .iter()
            .find(|r| r.agent == first.agent)
            .unwrap()
            .initial_nll
    );
    let u = &e.usage;
    assert_eq!(u.scorer_calls + u.scorer_cache_hits, 3 * FILES.len() as u64);
    assert!(u.scorer_cache_hits > FILES.len() as u64, "{u:?}");
    let s = &stats["evaluation"];
    let gain = s["value_after_search_per_token"].as_f64().unwrap() - s["value_per_token"].as_f64().unwrap();
    assert!(gain > 0.0, "{s}");
    assert!((s["search_gain_per_token"].as_f64().unwrap() - gain).abs() < 1e-12);
}

/// A budget stops the evaluation (and says so); a failing scorer loses the
/// figure, not the trajectory; a bad `[evaluate]` is a config problem.
#[test]
fn evaluate_budget_failure_and_bad_configs() {
    let tmp = tempfile::tempdir().unwrap();
    let (t, stats) = run(
        tmp.path(),
        "evaluate-budget",
        "[evaluate]\nscorer = \"words\"\nbatch_files = 1\nmax_scorer_tokens = 1\ncache_dir = \"\"",
    );
    let e = t.evaluation.unwrap();
    assert_eq!(e.files.len(), 1, "the first file, then the cap");
    assert!(e.usage.budget_exhausted);
    assert_eq!(e.usage.files_eligible, FILES.len() as u64);
    assert_eq!(stats["evaluation"]["budget_exhausted"], 1);

    let (t, stats) = run(
        tmp.path(),
        "fail-evaluate",
        "[evaluate]\nscorer = \"words\"\ncache_dir = \"\"",
    );
    assert!(t.evaluation.is_none(), "no figure");
    assert!(!t.main.walk().is_empty());
    assert_eq!(stats["evaluation"]["failed"]["failed"], 1, "{}", stats["evaluation"]);
    assert_eq!(stats["repos"]["done"], 1, "the trajectory is still written");

    let parse = |text: &str| {
        repo2agent_core::config::parse(text, "e.toml", tmp.path(), &mut registry())
            .unwrap_err()
            .to_string()
    };
    let base = "[policies.scripted]\ntype = \"scripted\"\n[scorers.words]\ntype = \"words\"\ntag = \"x\"\n";
    let e = parse(&format!(
        "{base}[format]\ntype = \"agent\"\n[evaluate]\nscorer = \"nope\"\n"
    ));
    assert!(e.contains("e.toml:9:") && e.contains("no scorer named `nope`"), "{e}");
    let e = parse(&format!(
        "{base}[format]\ntype = \"agent\"\n[evaluate]\nscorer = \"words\"\nwindow = 3\n"
    ));
    assert!(e.contains("e.toml:10:") && e.contains("window"), "{e}");
    let e = parse(&format!(
        "{base}[format]\ntype = \"agent\"\n[evaluate]\nscorer = \"words\"\nbatch_files = 0\n"
    ));
    assert!(
        e.contains("e.toml:8:") && e.contains("batch_files must be at least 1"),
        "{e}"
    );
    let e = parse(&format!(
        "{base}[format]\ntype = \"raw-repos\"\n[evaluate]\nscorer = \"words\"\n"
    ));
    assert!(e.contains("e.toml:8:") && e.contains("needs a policy"), "{e}");
}

/// The real thing, small: `repo2agent run` with the template policy proposing
/// rewrites and SmolLM2-135M (the `burn` scorer, offline) scoring them. Greedy
/// never keeps a thought after which the code is less likely, every score is a
/// real NLL, and a second run repeats no scorer call.
#[test]
fn greedy_rewrite_with_smollm2_through_the_cli() {
    let gguf = smollm2_gguf();
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("repo");
    write_tree(&repo, FILES);
    let config = tmp.path().join("search.toml");
    let write_config = |out: &str| {
        std::fs::write(
            &config,
            format!(
                "[input]\nrepos = [{}]\n[policies.template]\ntype = \"template\"\n[scorers.smol]\ntype = \"burn\"\nmodel = {}\nmax_context_tokens = 192\n[search]\ntype = \"greedy-rewrite\"\nscorer = \"smol\"\nrounds = 1\ncontext_chars = 500\ntarget_chars = 200\ncache_dir = \"cache\"\n[evaluate]\nscorer = \"smol\"\ncontext_chars = 500\ntarget_chars = 200\ncache_dir = \"cache\"\n[format]\ntype = \"agent\"\n[output]\ndir = \"{out}\"\nshards = false\n",
                toml_path(&repo),
                toml_path(&gguf),
            ),
        )
        .unwrap();
    };
    write_config("out");
    let (code, stdout, err) = run_cli(tmp.path(), &["run", "-c", config.to_str().unwrap()]);
    assert_eq!(code, 0, "{stdout}{err}");
    assert!(
        stdout.contains("search (greedy-rewrite): 4 of 4 thoughts searched"),
        "{stdout}"
    );
    let line = read_trajectories(&tmp.path().join("out/trajectories.jsonl"));
    let t = Trajectory::from_json_line(line.trim()).unwrap();
    let record = t.search.as_ref().unwrap();
    assert_eq!(record.thinks.len(), FILES.len());
    for r in &record.thinks {
        assert!(r.initial_nll.is_finite() && r.initial_nll > 0.0, "{r:?}");
        assert!(r.target_tokens > 0, "{r:?}");
        assert!(!r.candidates.is_empty(), "the template policy proposes rewrites");
        let kept = r.accepted.map_or(r.initial_nll, |i| r.candidates[i].nll);
        assert!(kept <= r.initial_nll);
        if let Some(i) = r.accepted {
            assert_eq!(think_text(&t, &r.agent.0, r.step), r.candidates[i].text);
        }
    }
    let stats = read_json(tmp.path().join("out/stats.json"));
    eprintln!("{}", serde_json::to_string_pretty(&stats["search"]).unwrap());
    assert!(stats["search"]["scorer_calls"].as_u64().unwrap() >= FILES.len() as u64 * 2);
    assert!(stats["search"]["mean_nll_gain"].as_f64().unwrap() >= 0.0);
    assert_eq!(stats["simulation"]["grounding_failures"], serde_json::json!({}));
    // Thought value under the real model, before and after search.
    assert!(stdout.contains("thought value (smol): "), "{stdout}");
    let e = t.evaluation.as_ref().unwrap();
    assert_eq!(e.files.len(), FILES.len());
    for f in &e.files {
        assert!(f.nll_with > 0.0 && f.nll_without > 0.0 && f.code_tokens > 0, "{f:?}");
        assert!(f.nll_after_search.unwrap() <= f.nll_with + 1e-9, "{f:?}");
    }
    eprintln!("{}", serde_json::to_string_pretty(&stats["evaluation"]).unwrap());
    // `inspect --html` shows it per file, with the thoughts.
    let html = tmp.path().join("t.html");
    let jsonl = tmp.path().join("out/trajectories.jsonl.zst");
    let (code, _, err) = run_cli(
        tmp.path(),
        &["inspect", jsonl.to_str().unwrap(), "--html", html.to_str().unwrap()],
    );
    assert_eq!(code, 0, "{err}");
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(
        page.contains("<h2>Thought value</h2>") && page.contains("scorer <b>smol</b>"),
        "{page}"
    );
    for (path, _) in FILES {
        assert!(
            page.contains(&format!("<tr><td><code>{path}</code></td><td>python</td>")),
            "{path}"
        );
    }

    write_config("again");
    let (code, _, err) = run_cli(tmp.path(), &["run", "-c", config.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let again = read_json(tmp.path().join("again/stats.json"));
    assert_eq!(again["search"]["scorer_calls"], 0, "every score came from the cache");
    assert_eq!(again["evaluation"]["scorer_calls"], 0, "the evaluation's too");
    let mut second =
        Trajectory::from_json_line(read_trajectories(&tmp.path().join("again/trajectories.jsonl")).trim()).unwrap();
    second.search.as_mut().unwrap().usage = record.usage.clone();
    second.evaluation.as_mut().unwrap().usage = e.usage.clone();
    assert_eq!(second, t, "the same thoughts kept, the same record");
}
