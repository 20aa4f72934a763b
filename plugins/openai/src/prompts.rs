//! The prompts: the real structure (files, dependency edges, outlines, README)
//! is injected so the model does not invent files (docs/method.md step 4), and
//! the answers are parsed strictly.
//!
//! Every call of one repository is laid out for a server's prefix cache: the
//! same system message for every call, then the repository's context (the
//! same bytes for each of its calls, see [`repo_context`]), and the call's own
//! task last. vLLM's automatic prefix caching and llama.cpp's slot cache then
//! compute the shared part once per repository.
//!
//! Structured answers (a plan, alternative thoughts) have a JSON schema
//! derived from the types they are read into ([`plan_schema`],
//! [`rewrites_schema`]), narrowed to the repository: a plan step's `path` is
//! one of its real files, and the plan has one step per file.

use repo2agent_core::model::{FileId, Plan, PlanStep};
use repo2agent_core::render::{edges_text, imports_text, outline_text, symbols_text};
use repo2agent_core::stage::{RepoContext, ThinkPhase, ThinkRequest};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};
use std::fmt::Write as _;

/// The one system message of every call.
pub const SYSTEM: &str = "You help reconstruct how a software repository was built, from its real structure. As the \
lead engineer (the main agent) you write the project's requirements and a file-level implementation plan. As a \
sub-agent implementing one file, after the files it depends on were written, you think aloud briefly in plain prose: \
no code, no code blocks, no file contents. The repository comes first; the task is at the end of the message.";

/// Longest requirements of a structured plan, in characters.
pub const REQUIREMENTS_CHARS: usize = 400;
/// Longest purpose of one plan step, in characters.
pub const PURPOSE_CHARS: usize = 120;
/// Shortest requirements and purpose of a structured plan (a sentence, not a word).
const MIN_REQUIREMENTS_CHARS: usize = 40;
const MIN_PURPOSE_CHARS: usize = 12;

/// How large the injected texts may be.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Characters of a repository's shared context ([`repo_context`]).
    pub context_chars: usize,
    /// Files a structured plan lists at most (the rest are appended by the plan repair).
    pub plan_max_files: usize,
    /// Characters of one alternative thought.
    pub thought_chars: usize,
}

/// A text that stops growing at its budget (so building a context costs its
/// budget, not the repository's size).
struct Bounded {
    text: String,
    max: usize,
    full: bool,
}

impl Bounded {
    fn new(max: usize) -> Self {
        Self {
            text: String::new(),
            max,
            full: false,
        }
    }

    /// Adds `line` (and a newline) if it fits; false once the budget is spent.
    fn line(&mut self, line: &str) -> bool {
        if self.full {
            return false;
        }
        if self.text.len() + line.len() + 1 > self.max {
            self.full = true;
            self.text.push_str("[… more not shown]\n");
            return false;
        }
        self.text.push_str(line);
        self.text.push('\n');
        true
    }

    /// Adds each line of `text` while they fit; false once the budget is spent.
    fn lines(&mut self, text: &str) -> bool {
        text.lines().all(|l| self.line(l))
    }
}

/// The repository's files in implementation order (in path order when it has none).
fn implementation_order(repo: RepoContext<'_>) -> Vec<FileId> {
    if repo.order.is_empty() {
        repo.snapshot.files.iter().map(|f| f.id).collect()
    } else {
        repo.order.to_vec()
    }
}

/// A repository's shared context ([`repo_context`]).
#[derive(Debug)]
pub struct Context {
    /// The text every call of the repository starts with.
    pub text: String,
    /// The files whose outline it shows in full.
    pub outlined: std::collections::BTreeSet<FileId>,
}

/// The repository's shared context: its name, files in implementation order,
/// dependency edges, outlines and README excerpt, at most about
/// `context_chars` characters (shares: files 30 %, edges 20 %, outlines 35 %,
/// README 15 %, a section's unused share passed on to the next). The same
/// bytes for every call of the repository.
pub fn repo_context(repo: RepoContext<'_>, context_chars: usize) -> Context {
    let mut outlined = std::collections::BTreeSet::new();
    let snap = repo.snapshot;
    let mut p = format!("Repository: {} ({} files)\n", snap.name, snap.files.len());
    if let Some(w) = &snap.workspace {
        p.push_str(&w.describe());
        p.push('\n');
    }
    p.push_str("\nFiles:\n");
    let mut spare = 0usize;
    let share = |percent: usize, spare: &mut usize| {
        let s = context_chars * percent / 100 + *spare;
        *spare = 0;
        s
    };
    // Files, dependencies first (the order the plan should follow).
    let mut files = Bounded::new(share(30, &mut spare));
    let listed = implementation_order(repo);
    for f in listed.iter().filter_map(|id| snap.file(*id)) {
        if !files.line(&format!("- {}", f.path)) {
            break;
        }
    }
    spare += files.max.saturating_sub(files.text.len());
    p.push_str(&files.text);

    let mut edges = Bounded::new(share(20, &mut spare));
    edges.lines(&edges_text(snap, repo.analysis).join("\n"));
    if !edges.text.is_empty() {
        p.push_str("\nDependency edges (A -> B means A imports B):\n");
        p.push_str(&edges.text);
    }
    spare += edges.max.saturating_sub(edges.text.len());

    let mut outlines = Bounded::new(share(35, &mut spare));
    for id in &listed {
        let (Some(f), Some(o)) = (snap.file(*id), repo.analysis.outlines.get(id)) else {
            continue;
        };
        let text = symbols_text(&o.symbols);
        if text.is_empty() {
            continue;
        }
        if !(outlines.line(&format!("## {}", f.path)) && outlines.lines(&text)) {
            break;
        }
        outlined.insert(*id);
    }
    if !outlines.text.is_empty() {
        p.push_str("\nOutlines:\n");
        p.push_str(&outlines.text);
    }
    spare += outlines.max.saturating_sub(outlines.text.len());

    if let Some(readme) = snap
        .files
        .iter()
        .find(|f| !f.path.contains('/') && f.path.to_ascii_lowercase().starts_with("readme"))
    {
        let mut text = Bounded::new(share(15, &mut spare));
        text.lines(&readme.text);
        p.push_str("\nREADME:\n");
        p.push_str(&text.text);
    }
    p.push('\n');
    Context { text: p, outlined }
}

/// The plan's user message: the context, then the task.
pub fn plan_prompt(context: &Context) -> String {
    format!(
        "{}Task (main agent): write the requirements and the plan. The requirements: what the project must \
         do, in a short paragraph. The plan: every file listed above exactly once, dependencies before the files \
         that import them (the list above is in such an order), each with a one-sentence purpose. Answer with JSON \
         only: {{\"requirements\": \"...\", \"steps\": [{{\"path\": \"...\", \"purpose\": \"...\"}}]}}",
        context.text
    )
}

/// A plan as a model writes it (its JSON schema: [`plan_schema`]).
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct RawPlan {
    /// What the project must do.
    requirements: String,
    /// Every file, dependencies first. (Named so that it sorts after
    /// `requirements`: JSON maps here are sorted, and a server generates a
    /// schema's properties in their order.)
    #[serde(alias = "plan")]
    steps: Vec<RawStep>,
}

/// One step of a plan.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct RawStep {
    /// A file of the repository.
    path: String,
    /// What the file is for, in one sentence.
    #[serde(default)]
    purpose: String,
}

/// Alternative thoughts as a model writes them.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct RawRewrites {
    /// The alternative versions of the thought.
    thoughts: Vec<String>,
}

/// The inline JSON schema of `T`, with every property required and no other
/// allowed (what `strict` structured output asks), without the meta keys.
fn schema_of<T: JsonSchema>() -> Value {
    let generator = schemars::generate::SchemaSettings::draft2020_12()
        .with(|s| s.inline_subschemas = true)
        .into_generator();
    let mut v = generator.into_root_schema_for::<T>().to_value();
    fn strict(v: &mut Value) {
        match v {
            Value::Object(o) => {
                o.remove("$schema");
                o.remove("title");
                o.remove("default");
                if let Some(Value::Object(props)) = o.get("properties") {
                    let names: Vec<Value> = props.keys().map(|k| Value::String(k.clone())).collect();
                    o.insert("required".into(), Value::Array(names));
                    o.insert("additionalProperties".into(), Value::Bool(false));
                }
                o.values_mut().for_each(strict);
            }
            Value::Array(a) => a.iter_mut().for_each(strict),
            _ => {}
        }
    }
    strict(&mut v);
    v
}

/// The files a structured plan lists: the first `max` in implementation order.
pub fn planned_paths<'a>(repo: RepoContext<'a>, max: usize) -> Vec<&'a str> {
    implementation_order(repo)
        .iter()
        .filter_map(|id| repo.snapshot.file(*id))
        .map(|f| f.path.as_str())
        .take(max.max(1))
        .collect()
}

/// The plan's JSON schema ([`RawPlan`]'s), narrowed to `paths`: one step per
/// path, in their order (`prefixItems`, each step's `path` a `const`), so a
/// plan from the model lists every file once in implementation order and
/// writes only its requirements and purposes; texts bounded.
pub fn plan_schema(paths: &[&str]) -> Value {
    let mut s = schema_of::<RawPlan>();
    s["properties"]["requirements"]["minLength"] = json!(MIN_REQUIREMENTS_CHARS);
    s["properties"]["requirements"]["maxLength"] = json!(REQUIREMENTS_CHARS);
    let plan = &mut s["properties"]["steps"];
    let mut step = plan["items"].take();
    step["properties"]["purpose"]["minLength"] = json!(MIN_PURPOSE_CHARS);
    step["properties"]["purpose"]["maxLength"] = json!(PURPOSE_CHARS);
    let steps: Vec<Value> = paths
        .iter()
        .map(|p| {
            let mut one = step.clone();
            one["properties"]["path"] = json!({ "const": p });
            one
        })
        .collect();
    plan["prefixItems"] = Value::Array(steps);
    // No `items: false` (llama.cpp's grammar wants a schema object there):
    // `maxItems` ends the list after the last prefix item.
    plan.as_object_mut().map(|o| o.remove("items"));
    plan["minItems"] = json!(paths.len());
    plan["maxItems"] = json!(paths.len());
    s
}

/// Most tokens a plan over `paths` takes (what its request allows): the
/// schema's longest texts at one token per character (a small model that
/// loops fills a string with short tokens: 1.8 characters per token seen),
/// and 48 tokens of JSON punctuation and whitespace per step.
pub fn plan_token_bound(paths: &[&str]) -> u32 {
    let tokens: usize = REQUIREMENTS_CHARS + 64 + paths.iter().map(|p| p.len() + PURPOSE_CHARS + 48).sum::<usize>();
    u32::try_from(tokens).unwrap_or(u32::MAX)
}

/// The alternative thoughts' JSON schema ([`RawRewrites`]'s): 1 to `n` of at
/// most `chars` characters.
pub fn rewrites_schema(n: usize, chars: usize) -> Value {
    let mut s = schema_of::<RawRewrites>();
    let t = &mut s["properties"]["thoughts"];
    t["minItems"] = json!(1);
    t["maxItems"] = json!(n.max(1));
    t["items"]["maxLength"] = json!(chars);
    s
}

/// The first JSON object in a text (models wrap JSON in prose or code fences).
fn json_object(text: &str) -> Option<&str> {
    let start = text.find('{')?;
    let end = text.rfind('}')?;
    (end > start).then(|| &text[start..=end])
}

/// Parses a plan answer. Paths are kept as the model wrote them; the simulation
/// repairs invented, duplicate and missing files.
pub fn parse_plan(answer: &str, repo: RepoContext<'_>) -> Result<Plan, String> {
    let json = json_object(answer).ok_or("no JSON object in the answer")?;
    let raw: RawPlan = serde_json::from_str(json).map_err(|e| format!("not a plan: {e}"))?;
    if raw.requirements.trim().is_empty() || raw.steps.is_empty() {
        return Err("empty requirements or plan".into());
    }
    let steps = raw
        .steps
        .into_iter()
        .map(|s| {
            let path = s.path.trim().trim_start_matches("./").to_owned();
            let file = repo.snapshot.by_path(&path).map_or(FileId(u32::MAX), |f| f.id);
            PlanStep {
                file,
                path,
                purpose: s.purpose.trim().to_owned(),
                reads: Vec::new(),
            }
        })
        .collect();
    Ok(Plan {
        requirements: raw.requirements.trim().to_owned(),
        steps,
    })
}

/// The task of one thought (after the context). The file's outline is in it
/// unless the context shows it already (then only its imports are).
pub fn think_task(context: &Context, req: ThinkRequest<'_>) -> String {
    let repo = req.repo;
    let snap = repo.snapshot;
    let mut p = format!("Task (sub-agent):\nFile to implement: {}\n", req.step.path);
    if !req.step.purpose.is_empty() {
        let _ = writeln!(p, "Its purpose: {}", req.step.purpose);
    }
    let deps: Vec<&str> = req
        .step
        .reads
        .iter()
        .filter_map(|id| snap.file(*id))
        .map(|f| f.path.as_str())
        .collect();
    if !deps.is_empty() {
        let _ = writeln!(p, "Already-written files it depends on: {}", deps.join(", "));
    }
    if let Some(o) = repo.analysis.outlines.get(&req.step.file) {
        let shown = context.outlined.contains(&req.step.file);
        let text = if shown {
            let t = imports_text(o);
            if !t.is_empty() {
                p.push_str("Its outline is under Outlines above; its imports:\n");
            }
            t
        } else {
            outline_text(o)
        };
        if !shown && !text.is_empty() {
            p.push_str("Its outline (what it must define and import):\n");
        }
        if !text.is_empty() {
            let mut b = Bounded::new(3000);
            b.lines(&text);
            p.push_str(&b.text);
        }
    }
    p.push_str(match req.phase {
        ThinkPhase::BeforeReading => {
            "In two to four sentences: why is this file needed, and which of the files above must you read first?"
        }
        ThinkPhase::BeforeWriting => {
            "You have read its dependencies. In three to six sentences: how will you implement it — which \
             definitions, with which signatures, and how does it use what it imports?"
        }
    });
    p
}

/// The user message of one thought.
pub fn think_prompt(context: &Context, req: ThinkRequest<'_>) -> String {
    format!("{}{}", context.text, think_task(context, req))
}

/// Accepts a thought: prose without code blocks (code a model writes is never kept).
pub fn parse_thought(answer: &str) -> Result<String, String> {
    let mut out = String::new();
    let mut in_code = false;
    for line in answer.lines() {
        if line.trim_start().starts_with("```") {
            in_code = !in_code;
            continue;
        }
        if !in_code {
            out.push_str(line);
            out.push('\n');
        }
    }
    let out = out.trim().to_owned();
    if out.len() < 8 {
        Err("no prose in the answer".into())
    } else {
        Ok(out)
    }
}

/// The user message asking for alternative thoughts.
pub fn rewrite_prompt(context: &Context, req: ThinkRequest<'_>, current: &str, n: usize) -> String {
    format!(
        "{}\n\nA first version of this thought:\n{current}\n\nWrite {n} different, better versions of it (same facts, \
         clearer reasoning). Answer with JSON only: {{\"thoughts\": [\"...\"]}}",
        think_prompt(context, req)
    )
}

/// Parses alternative thoughts.
pub fn parse_rewrites(answer: &str, current: &str) -> Result<Vec<String>, String> {
    let json = json_object(answer).ok_or("no JSON object in the answer")?;
    let raw: RawRewrites = serde_json::from_str(json).map_err(|e| format!("not a list of thoughts: {e}"))?;
    let out: Vec<String> = raw
        .thoughts
        .iter()
        .filter_map(|t| parse_thought(t).ok())
        .filter(|t| t != current)
        .collect();
    if out.is_empty() {
        Err("no usable thought".into())
    } else {
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use repo2agent_core::model::{Analysis, RepoSnapshot};

    #[test]
    fn plans_are_read_from_json_in_prose_and_rejected_when_malformed() {
        let snap = RepoSnapshot::new("r", "/r", vec![("a.py".into(), None, String::new())]);
        let analysis = Analysis::default();
        let repo = RepoContext {
            snapshot: &snap,
            analysis: &analysis,
            order: &[],
        };
        let plan = parse_plan(
            "Sure!\n```json\n{\"requirements\": \"Do it.\", \"plan\": [{\"path\": \"./a.py\", \"purpose\": \"x\"}, {\"path\": \"b.py\"}]}\n```",
            repo,
        )
        .unwrap();
        assert_eq!(plan.requirements, "Do it.");
        assert_eq!(plan.steps[0].path, "a.py");
        assert_eq!(plan.steps[0].file, FileId(0));
        assert_eq!(
            plan.steps[1].file,
            FileId(u32::MAX),
            "unknown paths are left for the repair"
        );
        assert!(parse_plan("no json here", repo).is_err());
        assert!(parse_plan("{\"requirements\": \"\", \"plan\": []}", repo).is_err());
        assert!(parse_plan("{\"plan\": \"nope\"}", repo).is_err());
    }

    #[test]
    fn thoughts_lose_code_blocks_and_rewrites_need_json() {
        assert_eq!(
            parse_thought("I will add a parser.\n```rust\nfn x() {}\n```\nThen test it.").unwrap(),
            "I will add a parser.\nThen test it."
        );
        assert!(parse_thought("```\ncode only\n```").is_err());
        let r = parse_rewrites(
            "{\"thoughts\": [\"same\", \"A better plan here.\", \"```x```\"]}",
            "same",
        )
        .unwrap();
        assert_eq!(r, ["A better plan here."]);
        assert!(parse_rewrites("not json", "x").is_err());
    }

    /// The schema is the plan type's: every field it reads, required, nothing
    /// else allowed; paths limited to the repository's, one step per file.
    #[test]
    fn the_plan_schema_is_the_plan_types_narrowed_to_the_repository() {
        let s = plan_schema(&["a.py", "pkg/b.py"]);
        assert_eq!(s["type"], "object");
        assert_eq!(s["required"], json!(["requirements", "steps"]));
        // The order a server generates them in: requirements, then the steps.
        let text = s.to_string();
        assert!(text.find("\"requirements\"") < text.find("\"steps\""), "{text}");
        assert_eq!(s["additionalProperties"], false);
        assert_eq!(s["properties"]["requirements"]["type"], "string");
        assert_eq!(s["properties"]["requirements"]["maxLength"], REQUIREMENTS_CHARS);
        let plan = &s["properties"]["steps"];
        assert_eq!(plan["type"], "array");
        assert_eq!(
            (plan["minItems"].as_u64(), plan["maxItems"].as_u64()),
            (Some(2), Some(2))
        );
        assert!(plan.get("items").is_none(), "{plan}");
        let steps = plan["prefixItems"].as_array().unwrap();
        assert_eq!(steps.len(), 2);
        for (step, path) in steps.iter().zip(["a.py", "pkg/b.py"]) {
            assert_eq!(step["required"], json!(["path", "purpose"]));
            assert_eq!(step["additionalProperties"], false);
            assert_eq!(step["properties"]["path"], json!({ "const": path }));
            assert_eq!(step["properties"]["purpose"]["type"], "string");
            assert_eq!(step["properties"]["purpose"]["maxLength"], PURPOSE_CHARS);
        }
        assert!(s.get("$schema").is_none() && s.get("$defs").is_none(), "{s}");
        // An answer of the schema's shape is a plan.
        let snap = RepoSnapshot::new(
            "r",
            "/r",
            vec![
                ("a.py".into(), None, String::new()),
                ("pkg/b.py".into(), None, String::new()),
            ],
        );
        let analysis = Analysis::default();
        let repo = RepoContext {
            snapshot: &snap,
            analysis: &analysis,
            order: &[],
        };
        let answer = json!({"requirements": "R.", "steps": [{"path": "a.py", "purpose": "p"}, {"path": "pkg/b.py", "purpose": "q"}]});
        assert_eq!(parse_plan(&answer.to_string(), repo).unwrap().steps.len(), 2);
        assert_eq!(planned_paths(repo, 1), ["a.py"]);
        assert!(plan_token_bound(&["a.py", "pkg/b.py"]) > 2 * PURPOSE_CHARS as u32 / 2);

        let r = rewrites_schema(3, 900);
        assert_eq!(r["required"], json!(["thoughts"]));
        assert_eq!(r["properties"]["thoughts"]["maxItems"], 3);
        assert_eq!(r["properties"]["thoughts"]["items"]["maxLength"], 900);
    }

    /// Every call of a repository starts with the same context, within its budget.
    #[test]
    fn the_context_is_bounded_and_shared_by_every_call() {
        let files: Vec<(String, Option<String>, String)> = (0..400)
            .map(|i| (format!("src/module_{i:03}.py"), None, String::new()))
            .collect();
        let snap = RepoSnapshot::new("big", "/big", files);
        let analysis = Analysis::default();
        let repo = RepoContext {
            snapshot: &snap,
            analysis: &analysis,
            order: &[],
        };
        let context = repo_context(repo, 4000);
        let c = &context.text;
        assert!(c.len() <= 4000 + 200, "{}", c.len());
        assert!(
            c.starts_with("Repository: big (400 files)\n\nFiles:\n- src/module_000.py\n"),
            "{c}"
        );
        assert!(c.contains("[… more not shown]"), "{c}");
        let step = PlanStep {
            file: FileId(3),
            path: "src/module_003.py".into(),
            purpose: "p".into(),
            reads: vec![],
        };
        let ask = |phase| ThinkRequest {
            repo,
            step: &step,
            phase,
            seed: 1,
            round: 0,
        };
        for p in [
            plan_prompt(&context),
            think_prompt(&context, ask(ThinkPhase::BeforeReading)),
            think_prompt(&context, ask(ThinkPhase::BeforeWriting)),
            rewrite_prompt(&context, ask(ThinkPhase::BeforeWriting), "t", 2),
        ] {
            assert!(p.starts_with(c.as_str()) && p.len() > c.len());
        }
    }
}
