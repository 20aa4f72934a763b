//! `repo2agent inspect`: a trajectory, readable — roles coloured in the
//! terminal, or an HTML page with the plan, the spans and their roles.

use anyhow::{Context, bail};
use repo2agent_core::model::{RepoSnapshot, Role, Segment, StepKind, Trajectory};
use repo2agent_core::stage::{FormatInput, Formatter};
use repo2agent_formatters::AgentFormatter;
use std::io::{BufRead, IsTerminal, Write};
use std::path::Path;

/// Reads the trajectory of `repo` (or the first one) from a JSONL file.
pub fn load(path: &Path, repo: Option<&str>) -> anyhow::Result<Trajectory> {
    let file =
        repo2agent_core::output::open_trajectories(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut names = Vec::new();
    for (i, line) in file.lines().enumerate() {
        let line = line.with_context(|| format!("cannot read {}", path.display()))?;
        if line.trim().is_empty() {
            continue;
        }
        let t = Trajectory::from_json_line(&line)
            .with_context(|| format!("{}:{}: not a trajectory", path.display(), i + 1))?;
        if repo.is_none_or(|r| r == t.repo) {
            return Ok(t);
        }
        names.push(t.repo);
    }
    match repo {
        Some(r) => bail!(
            "no trajectory for repository `{r}` in {} (it has: {})",
            path.display(),
            names.join(", ")
        ),
        None => bail!("{} holds no trajectory", path.display()),
    }
}

/// The trajectory's segments per the serialization spec.
pub fn segments(t: &Trajectory) -> anyhow::Result<Vec<Segment>> {
    // The agent format reads only the trajectory; the snapshot is not needed.
    let empty = RepoSnapshot::new(t.repo.clone(), "", Vec::new());
    Ok(AgentFormatter::default().format(FormatInput {
        snapshot: &empty,
        order: &[],
        trajectory: Some(t),
    })?)
}

/// The terminal colour of a role (shared by trajectory and shard inspection).
pub fn ansi(role: Role) -> &'static str {
    match role {
        Role::System => "\x1b[2m",
        Role::Context => "\x1b[36m",
        Role::Plan => "\x1b[35m",
        Role::Think => "\x1b[33m",
        Role::Action => "\x1b[1;34m",
        Role::Code => "\x1b[32m",
        Role::Observation => "\x1b[2;37m",
        Role::Markup => "\x1b[1;31m",
    }
}

/// Prints the sequence with a colour per role (plain text when not a terminal
/// unless `color` is forced).
pub fn print_terminal(t: &Trajectory, color: Option<bool>) -> anyhow::Result<()> {
    let segs = segments(t)?;
    let color = color.unwrap_or_else(|| std::io::stdout().is_terminal());
    let mut out = std::io::stdout().lock();
    let sub_agents = t
        .main
        .steps
        .iter()
        .filter(|s| matches!(s.kind, StepKind::Delegate { .. }))
        .count();
    writeln!(
        out,
        "repository {} · policy {} · seed {} · {sub_agents} sub-agents",
        t.repo, t.policy, t.seed
    )?;
    if color {
        let legend: Vec<String> = Role::ALL
            .iter()
            .map(|r| format!("{}{}\x1b[0m", ansi(*r), r.name()))
            .collect();
        writeln!(out, "roles: {}\n", legend.join(" "))?;
        for s in &segs {
            write!(out, "{}{}\x1b[0m", ansi(s.role), s.text)?;
        }
    } else {
        for s in &segs {
            write!(out, "[{}]{}", s.role.name(), s.text)?;
        }
    }
    out.flush()?;
    Ok(())
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A self-contained HTML page: summary, plan, legend, and every span with its role.
pub fn html(t: &Trajectory) -> anyhow::Result<String> {
    let segs = segments(t)?;
    let mut h = String::new();
    h.push_str("<!doctype html>\n<html><head><meta charset=\"utf-8\">");
    h.push_str(&format!("<title>{} — repo2agent trajectory</title>", escape(&t.repo)));
    h.push_str(
        "<style>body{font-family:system-ui,sans-serif;margin:2em;max-width:110ch}\
         pre{white-space:pre-wrap;font:13px/1.45 ui-monospace,monospace;background:#fafafa;padding:1em;border:1px solid #ddd}\
         .system{color:#777}.context{color:#0a7d8c}.plan{color:#8e24aa}.think{color:#b26a00;background:#fff7e0}\
         .action{color:#1a4fd6;font-weight:bold}.code{color:#1b5e20}.observation{color:#888;background:#f0f0f0}\
         .markup{color:#c62828;font-weight:bold}table{border-collapse:collapse}td,th{border:1px solid #ddd;padding:2px 8px;text-align:left}\
         .legend span{margin-right:1em}.hurt{color:#c62828}.helped{color:#1b5e20}table.value td{vertical-align:top}</style></head><body>\n",
    );
    h.push_str(&format!(
        "<h1>{}</h1>\n<p>policy <b>{}</b> · seed {}</p>\n",
        escape(&t.repo),
        escape(&t.policy),
        t.seed
    ));
    if let Some(StepKind::Plan { plan }) = t
        .main
        .steps
        .iter()
        .map(|s| &s.kind)
        .find(|k| matches!(k, StepKind::Plan { .. }))
    {
        h.push_str("<h2>Requirements</h2>\n<pre class=\"plan\">");
        h.push_str(&escape(&plan.requirements));
        h.push_str("</pre>\n<h2>Plan</h2>\n<table><tr><th>#</th><th>file</th><th>purpose</th><th>reads</th></tr>\n");
        for (i, s) in plan.steps.iter().enumerate() {
            h.push_str(&format!(
                "<tr><td>{}</td><td><code>{}</code></td><td>{}</td><td>{}</td></tr>\n",
                i + 1,
                escape(&s.path),
                escape(&s.purpose),
                s.reads.len()
            ));
        }
        h.push_str("</table>\n");
    }
    if let Some(e) = &t.evaluation {
        h.push_str(&value_table(t, e));
    }
    let mut chars = std::collections::BTreeMap::new();
    for s in &segs {
        *chars.entry(s.role.name()).or_insert(0usize) += s.text.chars().count();
    }
    h.push_str("<h2>Sequence</h2>\n<p class=\"legend\">");
    for r in Role::ALL {
        h.push_str(&format!(
            "<span class=\"{0}\">{0} ({1} chars)</span>",
            r.name(),
            chars.get(r.name()).unwrap_or(&0)
        ));
    }
    h.push_str("</p>\n<pre>");
    for s in &segs {
        h.push_str(&format!(
            "<span class=\"{0}\" title=\"{0}\">{1}</span>",
            s.role.name(),
            escape(&s.text)
        ));
    }
    h.push_str("</pre>\n</body></html>\n");
    Ok(h)
}

/// The thoughts of one agent, in order.
fn thoughts_of<'t>(t: &'t Trajectory, agent: &repo2agent_core::model::AgentId) -> Vec<&'t str> {
    t.main
        .walk()
        .into_iter()
        .filter(|s| &s.agent == agent)
        .filter_map(|s| match &s.kind {
            StepKind::Think { text } => Some(text.as_str()),
            _ => None,
        })
        .collect()
}

/// "Thought value": per written file, its thoughts and what they are worth.
fn value_table(t: &Trajectory, e: &repo2agent_core::model::EvaluationRecord) -> String {
    let sums = repo2agent_core::stats::ValueSums::of(&e.files);
    let searched = e.files.iter().any(|f| f.nll_after_search.is_some());
    let mut h = format!(
        "<h2>Thought value</h2>\n<p>scorer <b>{}</b> · {} files, {} code tokens · value <b>{:+.3}</b> nats per code token{}</p>\n",
        escape(&e.scorer),
        sums.files,
        sums.code_tokens,
        sums.value_per_token,
        if searched {
            format!(" · after search <b>{:+.3}</b>", sums.value_after_search_per_token)
        } else {
            String::new()
        }
    );
    h.push_str("<table class=\"value\"><tr><th>file</th><th>language</th><th>code tokens</th><th>NLL/token without thoughts</th><th>with</th>");
    if searched {
        h.push_str("<th>after search</th>");
    }
    h.push_str("<th>value/token</th><th>thoughts</th></tr>\n");
    for f in &e.files {
        let per_file = |x: f64| {
            if f.code_tokens == 0 {
                0.0
            } else {
                x / f.code_tokens as f64
            }
        };
        let value = f.value_after_search_per_token();
        h.push_str(&format!(
            "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{:.3}</td><td>{:.3}</td>",
            escape(&f.path),
            escape(&f.language),
            f.code_tokens,
            per_file(f.nll_without),
            per_file(f.nll_with)
        ));
        if searched {
            h.push_str(&format!(
                "<td>{:.3}</td>",
                per_file(f.nll_after_search.unwrap_or(f.nll_with))
            ));
        }
        let thoughts: Vec<String> = thoughts_of(t, &f.agent)
            .iter()
            .map(|s| format!("<div class=\"think\">{}</div>", escape(s)))
            .collect();
        h.push_str(&format!(
            "<td class=\"{}\"><b>{:+.3}</b></td><td>{}</td></tr>\n",
            if value < 0.0 { "hurt" } else { "helped" },
            value,
            thoughts.concat()
        ));
    }
    h.push_str("</table>\n");
    h
}
