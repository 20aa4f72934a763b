//! The prompts: the real structure (tree, dependency edges, outlines, README)
//! is injected so the model does not invent files (docs/method.md step 4), and the
//! answers are parsed strictly.

use repo2agent_core::model::{FileId, Plan, PlanStep};
use repo2agent_core::render::{outline_text, symbols_text};
use repo2agent_core::stage::{RepoContext, ThinkPhase, ThinkRequest};
use serde::Deserialize;

/// Longest excerpt of any one injected text, in characters.
const EXCERPT: usize = 6000;

fn excerpt(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let cut: String = s.chars().take(max).collect();
    format!("{cut}\n[… truncated]")
}

pub const PLAN_SYSTEM: &str = "You are the lead engineer (the main agent) reconstructing how a software repository was \
built. Given its real file tree, dependency edges and outlines, write the project's requirements and a file-level \
implementation plan: every file of the tree exactly once, dependencies before the files that import them, each with a \
one-sentence purpose. Answer with JSON only: {\"requirements\": \"...\", \"plan\": [{\"path\": \"...\", \"purpose\": \"...\"}]}";

pub const THINK_SYSTEM: &str = "You are a sub-agent implementing one file of a repository, after the files it depends on \
were written. Think aloud briefly in plain prose: no code, no code blocks, no file contents.";

/// The plan prompt.
pub fn plan_prompt(repo: RepoContext<'_>) -> String {
    let snap = repo.snapshot;
    let mut p = format!("Repository: {}\n\nFiles:\n", snap.name);
    for f in &snap.files {
        p.push_str(&format!("- {}\n", f.path));
    }
    let edges = repo.analysis.graph.edges();
    if !edges.is_empty() {
        p.push_str("\nDependency edges (A -> B means A imports B):\n");
        let mut text = String::new();
        for (a, b, _) in edges {
            if let (Some(a), Some(b)) = (snap.file(a), snap.file(b)) {
                text.push_str(&format!("{} -> {}\n", a.path, b.path));
            }
        }
        p.push_str(&excerpt(&text, EXCERPT));
    }
    let mut outlines = String::new();
    for (id, o) in &repo.analysis.outlines {
        if let Some(f) = snap.file(*id) {
            let o = symbols_text(&o.symbols);
            if !o.is_empty() {
                outlines.push_str(&format!("## {}\n{o}", f.path));
            }
        }
    }
    if !outlines.is_empty() {
        p.push_str("\nOutlines:\n");
        p.push_str(&excerpt(&outlines, EXCERPT));
    }
    if let Some(readme) = snap
        .files
        .iter()
        .find(|f| !f.path.contains('/') && f.path.to_ascii_lowercase().starts_with("readme"))
    {
        p.push_str("\nREADME:\n");
        p.push_str(&excerpt(&readme.text, 2000));
    }
    p.push_str("\nWrite the requirements and the plan as JSON.");
    p
}

#[derive(Deserialize)]
struct RawPlan {
    requirements: String,
    plan: Vec<RawStep>,
}

#[derive(Deserialize)]
struct RawStep {
    path: String,
    #[serde(default)]
    purpose: String,
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
    if raw.requirements.trim().is_empty() || raw.plan.is_empty() {
        return Err("empty requirements or plan".into());
    }
    let steps = raw
        .plan
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

/// The prompt for one thought.
pub fn think_prompt(req: ThinkRequest<'_>) -> String {
    let repo = req.repo;
    let snap = repo.snapshot;
    let mut p = format!("Repository: {}\nFile to implement: {}\n", snap.name, req.step.path);
    if !req.step.purpose.is_empty() {
        p.push_str(&format!("Its purpose: {}\n", req.step.purpose));
    }
    let deps: Vec<&str> = req
        .step
        .reads
        .iter()
        .filter_map(|id| snap.file(*id))
        .map(|f| f.path.as_str())
        .collect();
    if !deps.is_empty() {
        p.push_str(&format!("Already-written files it depends on: {}\n", deps.join(", ")));
    }
    if let Some(o) = repo.analysis.outlines.get(&req.step.file) {
        let text = outline_text(o);
        if !text.is_empty() {
            p.push_str("Its outline (what it must define and import):\n");
            p.push_str(&excerpt(&text, EXCERPT));
        }
    }
    p.push_str(match req.phase {
        ThinkPhase::BeforeReading => {
            "\nIn two to four sentences: why is this file needed, and which of the files above must you read first?"
        }
        ThinkPhase::BeforeWriting => {
            "\nYou have read its dependencies. In three to six sentences: how will you implement it — which definitions, \
             with which signatures, and how does it use what it imports?"
        }
    });
    p
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

/// The prompt for alternative thoughts.
pub fn rewrite_prompt(req: ThinkRequest<'_>, current: &str, n: usize) -> String {
    format!(
        "{}\n\nA first version of this thought:\n{current}\n\nWrite {n} different, better versions of it (same facts, \
         clearer reasoning). Answer with JSON only: {{\"thoughts\": [\"...\"]}}",
        think_prompt(req)
    )
}

/// Parses alternative thoughts.
pub fn parse_rewrites(answer: &str, current: &str) -> Result<Vec<String>, String> {
    #[derive(Deserialize)]
    struct Raw {
        thoughts: Vec<String>,
    }
    let json = json_object(answer).ok_or("no JSON object in the answer")?;
    let raw: Raw = serde_json::from_str(json).map_err(|e| format!("not a list of thoughts: {e}"))?;
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
}
