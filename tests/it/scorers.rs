//! The `openai-logprobs` scorer against the fake completions server: exactly
//! the target's tokens are scored (checked against the server's known fake
//! logprobs), text offsets are characters, faults are retried, and bad configs
//! fail with their line.

use repo2agent_core::StageError;
use repo2agent_core::config;
use repo2agent_core::registry::Registry;
use repo2agent_core::stage::{ScoreRequest, Scorer};
use repo2agent_openai::{OpenAiLogprobsConfig, OpenAiLogprobsScorer};
use repo2agent_tests::llm_server::{FakeLlm, Fault, fake_logprob, fake_tokens};
use std::path::Path;

fn settings(server: &FakeLlm) -> OpenAiLogprobsConfig {
    serde_json::from_value(serde_json::json!({
        "base_url": server.base_url(),
        "model": "fake",
        "max_retries": 6,
        "backoff_initial_ms": 1,
        "backoff_max_ms": 5,
        "timeout_s": 5.0,
    }))
    .unwrap()
}

fn scorer(server: &FakeLlm) -> OpenAiLogprobsScorer {
    OpenAiLogprobsScorer::new(settings(server)).unwrap()
}

fn req(context: &str, target: &str) -> ScoreRequest {
    ScoreRequest {
        context: context.into(),
        target: target.into(),
    }
}

fn nll(tokens: &[&str]) -> Vec<f64> {
    tokens.iter().map(|t| -fake_logprob(t)).collect()
}

fn counter(s: &OpenAiLogprobsScorer, name: &str) -> u64 {
    s.usage()
        .snapshot()
        .into_iter()
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
        .unwrap()
}

#[tokio::test]
async fn only_the_target_tokens_are_scored_with_the_servers_logprobs() {
    let server = FakeLlm::start();
    let s = scorer(&server);
    // A clean boundary (the target starts a token): the target's tokens are its
    // own tokenization.
    let (context, target) = ("def add(a, b):", "\n    return a + b\n");
    let out = s.score(&[req(context, target)]).await.unwrap();
    let own = fake_tokens(target);
    let own: Vec<&str> = own.iter().map(String::as_str).collect();
    assert_eq!(out[0].token_nll, nll(&own));
    assert_eq!(out[0].context_tokens, fake_tokens(context).len() as u64);
    // The request is the legacy completions shape.
    let sent = server.last_request();
    assert_eq!(sent["prompt"], format!("{context}{target}"));
    assert_eq!(sent["echo"], true);
    assert_eq!(sent["logprobs"], 1);
    assert_eq!(sent["max_tokens"], 1);
    assert_eq!(sent["temperature"], 0);
    assert_eq!(sent["model"], "fake");
    assert_eq!(counter(&s, "calls"), 1);
    assert_eq!(counter(&s, "retries"), 0);
    assert_eq!(
        counter(&s, "prompt_tokens"),
        fake_tokens(&format!("{context}{target}")).len() as u64
    );
}

#[tokio::test]
async fn a_boundary_inside_a_token_scores_the_straddling_token_as_target() {
    let server = FakeLlm::start();
    let s = scorer(&server);
    // "hello world again" → "hell" "o" " wor" "ld" " aga" "in"; the context
    // ends inside " wor".
    assert_eq!(
        fake_tokens("hello world again"),
        ["hell", "o", " wor", "ld", " aga", "in"]
    );
    let out = s.score(&[req("hello wo", "rld again")]).await.unwrap();
    assert_eq!(out[0].token_nll, nll(&[" wor", "ld", " aga", "in"]));
    assert_eq!(out[0].context_tokens, 2);
}

#[tokio::test]
async fn offsets_are_characters_and_split_characters_stay_with_the_target() {
    let server = FakeLlm::start();
    let s = scorer(&server);
    // Multi-byte characters in the context: a byte count would put the
    // boundary 6 characters too far.
    let context = "π ≈ 3.14 # é ü ";
    let target = "çà été";
    let prompt = format!("{context}{target}");
    assert_eq!(
        fake_tokens(&prompt),
        ["π", " ≈", " 3.1", "4", " #", " é", " ü", " çà", " été"]
    );
    // The context's trailing space starts " çà": that token straddles.
    let out = s.score(&[req(context, target)]).await.unwrap();
    assert_eq!(out[0].token_nll, nll(&[" çà", " été"]));
    assert_eq!(out[0].context_tokens, 7);

    // An emoji is two tokens: one with empty text (its first bytes), then the
    // one completing it. Both belong to a target that starts with it.
    assert_eq!(fake_tokens("ok 😀!"), ["ok", " ", "", "😀!"]);
    let out = s.score(&[req("ok ", "😀!")]).await.unwrap();
    assert_eq!(out[0].token_nll, nll(&["", "😀!"]));
    assert_eq!(out[0].context_tokens, 2);
}

#[tokio::test]
async fn an_empty_target_is_scored_without_a_call_and_batches_keep_their_order() {
    let server = FakeLlm::start();
    let mut cfg = settings(&server);
    cfg.max_concurrency = 2;
    let s = OpenAiLogprobsScorer::new(cfg).unwrap();
    let out = s.score(&[req("some context", "")]).await.unwrap();
    assert!(out[0].token_nll.is_empty());
    assert_eq!(server.requests(), 0);

    let batch: Vec<ScoreRequest> = (0..7)
        .map(|i| {
            req(
                &format!("fn f{i}() {{"),
                &format!(" call({i}, \"{}\") }}", "x".repeat(i)),
            )
        })
        .collect();
    let out = s.score(&batch).await.unwrap();
    assert_eq!(out.len(), batch.len());
    for (r, o) in batch.iter().zip(&out) {
        let own = fake_tokens(&r.target);
        let own: Vec<&str> = own.iter().map(String::as_str).collect();
        assert_eq!(o.token_nll, nll(&own), "{r:?}");
        assert_eq!(o.context_tokens, fake_tokens(&r.context).len() as u64);
    }
    assert_eq!(server.requests(), 7);
    assert!(s.score(&[]).await.unwrap().is_empty());
}

#[tokio::test]
async fn requests_sharing_a_prefix_wait_for_the_first_so_the_servers_cache_is_warm() {
    let server = FakeLlm::start();
    server.delay(std::time::Duration::from_millis(40));
    let s = scorer(&server);
    // A search round (one trajectory prefix, three thoughts, the same code)
    // between two unrelated requests.
    let prefix = "fn helper(x: u32) -> u32 { x + 1 }\n".repeat(12);
    let code = "fn main() { helper(1); }\n";
    let batch = vec![
        req("unrelated one", code),
        req(&format!("{prefix}// thought A\n"), code),
        req(&format!("{prefix}// thought B, longer\n"), code),
        req("unrelated two", code),
        req(&format!("{prefix}// thought C\n"), code),
    ];
    let out = s.score(&batch).await.unwrap();
    let events = server.completion_events();
    assert_eq!(server.requests(), 5);
    for (r, o) in batch.iter().zip(&out) {
        let alone = s.score(std::slice::from_ref(r)).await.unwrap();
        assert_eq!(*o, alone[0], "answers stay in request order");
    }
    let at = |arrived: bool, i: usize| {
        let prompt = format!("{}{}", batch[i].context, batch[i].target);
        events.iter().position(|(a, p)| *a == arrived && *p == prompt).unwrap()
    };
    // The group's first request is answered before the others arrive.
    for follower in [2, 4] {
        assert!(at(false, 1) < at(true, follower), "{events:?}");
    }
    // Groups do not wait for each other: the unrelated requests and the
    // group's first were in flight together.
    for other in [0, 3] {
        assert!(
            at(true, other) < at(false, 1) && at(true, 1) < at(false, other),
            "{events:?}"
        );
    }
}

#[tokio::test]
async fn the_prompt_prefix_is_conditioned_on_and_an_empty_context_needs_one() {
    let server = FakeLlm::start();
    let s = scorer(&server);
    let e = s.score(&[req("", "x y")]).await.unwrap_err();
    assert!(e.to_string().contains("set prompt_prefix"), "{e}");
    assert_eq!(server.requests(), 0);
    // A context shorter than the first token: the server's null first logprob
    // falls in the target; not retried.
    let e = s.score(&[req("de", "f")]).await.unwrap_err();
    assert!(e.to_string().contains("no logprob"), "{e}");
    assert_eq!(server.requests(), 1);

    let mut cfg = settings(&server);
    cfg.prompt_prefix = "<|im_start|>".into();
    let s = OpenAiLogprobsScorer::new(cfg).unwrap();
    assert_eq!(fake_tokens("<|im_start|>x y"), ["<|im", "_sta", "rt|>", "x", " y"]);
    let out = s.score(&[req("", "x y")]).await.unwrap();
    assert_eq!(out[0].token_nll, nll(&["x", " y"]));
    assert_eq!(out[0].context_tokens, 3);
    assert_eq!(server.last_request()["prompt"], "<|im_start|>x y");
    assert_eq!(
        s.fingerprint().unwrap(),
        format!("openai-logprobs|{}|fake|<|im_start|>", server.base_url())
    );
}

#[tokio::test]
async fn offsets_that_leave_out_a_stripped_bos_are_aligned_like_llama_cpp_python() {
    // llama-cpp-python strips a leading BOS from the echoed tokens and counts
    // offsets from after it (and nulls the first remaining token's logprob).
    let server = FakeLlm::start();
    server.strip_bos("<|im_start|>");
    let mut cfg = settings(&server);
    cfg.prompt_prefix = "<|im_start|>".into();
    let s = OpenAiLogprobsScorer::new(cfg).unwrap();
    let (context, target) = ("é = 1", "\nü = 2 # 😀");
    assert_eq!(
        fake_tokens(&format!("{context}{target}")),
        ["é", " =", " 1", "\nü", " =", " 2", " #", " ", "", "😀"]
    );
    let out = s.score(&[req(context, target)]).await.unwrap();
    assert_eq!(out[0].token_nll, nll(&["\nü", " =", " 2", " #", " ", "", "😀"]));
    assert_eq!(out[0].context_tokens, 3);
    assert_eq!(
        server.last_request()["prompt"],
        format!("<|im_start|>{context}{target}")
    );
}

#[tokio::test]
async fn every_injected_fault_is_retried() {
    let server = FakeLlm::start();
    let mut cfg = settings(&server);
    cfg.timeout_s = 0.3;
    cfg.max_retries = 7;
    let s = OpenAiLogprobsScorer::new(cfg).unwrap();
    server.inject([
        Fault::Status(500),
        Fault::Status(429),
        Fault::Garbage,
        Fault::Drop,
        Fault::Malformed,
        Fault::Empty,
        Fault::Hang(std::time::Duration::from_secs(1)),
    ]);
    let out = s.score(&[req("x = 1", "\ny = 2\n")]).await.unwrap();
    let own = fake_tokens("\ny = 2\n");
    let own: Vec<&str> = own.iter().map(String::as_str).collect();
    assert_eq!(out[0].token_nll, nll(&own));
    assert_eq!(counter(&s, "calls"), 8);
    assert_eq!(counter(&s, "retries"), 7);
    assert_eq!(counter(&s, "malformed_answers"), 3, "garbage, null logprob, no choices");
    assert_eq!(counter(&s, "failed_calls"), 0);
}

#[tokio::test]
async fn a_server_that_keeps_failing_fails_the_batch_with_the_reason() {
    let server = FakeLlm::start();
    let mut cfg = settings(&server);
    cfg.max_retries = 2;
    let s = OpenAiLogprobsScorer::new(cfg).unwrap();
    server.inject([Fault::Status(503), Fault::Status(503), Fault::Status(503)]);
    let e = s.score(&[req("a = 1\n", "b = 2\n")]).await.unwrap_err();
    assert!(matches!(e, StageError::Unavailable { reason: "http_5xx", .. }), "{e:?}");
    assert_eq!(e.reason(), "http_5xx");
    let msg = e.to_string();
    assert!(msg.contains("gave up after 3 attempts") && msg.contains("503"), "{msg}");
    assert_eq!(counter(&s, "retries"), 2);
    assert_eq!(counter(&s, "failed_calls"), 1);

    server.inject([Fault::Malformed, Fault::Malformed, Fault::Malformed]);
    let msg = s.score(&[req("a = 1\n", "b = 2\n")]).await.unwrap_err().to_string();
    assert!(msg.contains("null logprob"), "{msg}");

    // A client error is not worth retrying.
    server.inject([Fault::Status(400)]);
    let before = server.requests();
    let msg = s.score(&[req("a = 1\n", "b = 2\n")]).await.unwrap_err().to_string();
    assert!(msg.contains("400"), "{msg}");
    assert_eq!(server.requests(), before + 1);
}

fn parse(text: &str) -> Result<config::RunConfig, Vec<(Option<usize>, String)>> {
    let mut r = Registry::new();
    repo2agent_openai::register(&mut r).unwrap();
    config::parse(text, "test.toml", Path::new("/base"), &mut r).map_err(|e| {
        e.problems
            .into_iter()
            .map(|p| (p.line, format!("[{}] {}", p.path, p.message)))
            .collect()
    })
}

#[tokio::test]
async fn the_scorer_is_configured_by_toml_and_bad_configs_fail_with_their_line() {
    let server = FakeLlm::start();
    let cfg = parse(&format!(
        "[scorers.ref]\ntype = \"openai-logprobs\"\nbase_url = \"{}\"\nmodel = \"fake\"\nprompt_prefix = \"<|im_start|>\"\n",
        server.base_url()
    ))
    .unwrap();
    let s = &cfg.scorers["ref"];
    assert_eq!(s.type_name, "openai-logprobs");
    let out = s.component.score(&[req("", "x y")]).await.unwrap();
    assert_eq!(out[0].token_nll, nll(&["x", " y"]));

    let e = parse(
        "[run]\nseed = 1\n\n[scorers.ref]\ntype = \"openai-logprobs\"\nbase_url = \"http://x/v1\"\nmodel = \"m\"\nlogprob = 5\n",
    )
    .unwrap_err();
    assert_eq!(e.len(), 1, "{e:?}");
    assert_eq!(e[0].0, Some(8), "{e:?}");
    assert!(e[0].1.contains("unknown field `logprob`"), "{e:?}");

    let e = parse("[scorers.ref]\ntype = \"openai-logprobs\"\nmodel = \"m\"\n").unwrap_err();
    assert_eq!(e.len(), 1, "{e:?}");
    assert_eq!(e[0].0, Some(1), "{e:?}");
    assert!(e[0].1.contains("missing field `base_url`"), "{e:?}");

    let e = parse(
        "[scorers.ref]\ntype = \"openai-logprobs\"\nbase_url = \"http://x/v1\"\nmodel = \"m\"\napi_key_env = \"R2A_TEST_NO_SUCH_KEY\"\n",
    )
    .unwrap_err();
    assert!(
        e[0].1.contains("R2A_TEST_NO_SUCH_KEY") && e[0].1.contains("not set"),
        "{e:?}"
    );
}
