//! The `template` policy: grounded, deterministic for a seed, offline — the
//! embedded default of repo2agent.
//!
//! It writes the main agent's requirements (from the README, docstrings and
//! outlines), plan purposes (from outlines and import edges) and the sub-agents'
//! thoughts (the dependencies to read, the symbols to define with their
//! signatures, how the file uses what it imports). Phrasings are drawn from
//! several variants by a seeded generator, so the same seed gives the same text
//! and the corpus does not repeat one sentence. It also proposes alternative
//! thoughts for search. Owns nothing else.

mod body;
mod copied;
mod describe;
mod doc;
mod edits;
mod facts;
mod mirror;
mod opening;
mod phrases;
mod rng;
mod text;
mod views;

pub use copied::{MIN_COPIED_LINE, copied_share};
use describe::{file_role, first_sentence, join_list, main_symbols, paths, symbol_summary};
use facts::Facts;
use repo2agent_core::StageError;
use repo2agent_core::model::{FileId, Plan, PlanStep, Symbol};
use repo2agent_core::registry::{Origin, Registry, RegistryError};
use repo2agent_core::stage::{Policy, RepoContext, ThinkPhase, ThinkRequest};
use rng::Rng;
use serde::Deserialize;
use std::sync::Arc;
pub use views::View;
use views::{Budget, render};

/// The largest share of a before-writing thought that may be text copied
/// from the file's body ([`copied_share`]): a view is cut until it is under,
/// an edit over it is not offered.
const MAX_COPIED_SHARE: f64 = 0.2;

/// What a before-writing thought is made from: the file's facts, its text
/// and its outline's symbols.
type Known<'a> = (Facts<'a>, &'a str, &'a [Symbol]);

/// Config of the `template` policy.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TemplatePolicyConfig {
    /// Sentences of the README quoted in the requirements. Default 6.
    #[serde(default = "TemplatePolicyConfig::default_readme_sentences")]
    pub readme_sentences: usize,
    /// Declarations named per file in a "before writing" thought; the rest
    /// are counted. Default 12.
    #[serde(default = "TemplatePolicyConfig::default_max_symbols")]
    pub max_symbols: usize,
    /// The view a "before writing" thought is written in (`deep`, `close`,
    /// `plain`, `detailed`, `contract`, `walk`, `opening`, `data-flow`,
    /// `brief`, `dependencies-first`, `lean`, `overview`); search proposes
    /// the others as rewrites, then edits of the one it keeps. Default `deep`.
    #[serde(default)]
    pub view: View,
    /// A "before writing" thought is cut to about this many characters by
    /// naming later declarations instead of detailing them. Default 1500.
    #[serde(default = "TemplatePolicyConfig::default_max_thought_chars")]
    pub max_thought_chars: usize,
}

impl TemplatePolicyConfig {
    fn default_readme_sentences() -> usize {
        6
    }
    fn default_max_symbols() -> usize {
        12
    }
    fn default_max_thought_chars() -> usize {
        1500
    }
}

impl Default for TemplatePolicyConfig {
    fn default() -> Self {
        Self {
            readme_sentences: Self::default_readme_sentences(),
            max_symbols: Self::default_max_symbols(),
            view: View::default(),
            max_thought_chars: Self::default_max_thought_chars(),
        }
    }
}

/// The policy.
#[derive(Clone, Debug, Default)]
pub struct TemplatePolicy {
    config: TemplatePolicyConfig,
}

/// Registers `template`.
pub fn register(registry: &mut Registry) -> Result<(), RegistryError> {
    registry.register::<dyn Policy, TemplatePolicyConfig, _>(
        "template",
        Origin::BuiltIn("repo2agent-template"),
        "grounded, deterministic, offline plans and thoughts (the default)",
        |config, _| Ok(Arc::new(TemplatePolicy::new(config)) as Arc<dyn Policy>),
    )
}

impl TemplatePolicy {
    /// A policy with this configuration.
    pub fn new(config: TemplatePolicyConfig) -> Self {
        Self { config }
    }

    fn readme(&self, repo: RepoContext<'_>) -> Option<String> {
        let file = repo
            .snapshot
            .files
            .iter()
            .find(|f| !f.path.contains('/') && f.path.to_ascii_lowercase().starts_with("readme"))?;
        let mut prose = Vec::new();
        let mut in_code = false;
        for line in file.text.lines() {
            let t = line.trim();
            if t.starts_with("```") {
                in_code = !in_code;
                continue;
            }
            if in_code
                || t.is_empty()
                || t.starts_with('#')
                || t.starts_with('!')
                || t.starts_with("[!")
                || t.starts_with('<')
                || t.starts_with('|')
                || t.starts_with("==")
                || t.starts_with("--")
            {
                continue;
            }
            prose.push(t.trim_start_matches(['-', '*', ' ']).to_owned());
        }
        let text = prose.join(" ");
        let mut sentences = Vec::new();
        let mut rest = text.as_str();
        while sentences.len() < self.config.readme_sentences && !rest.is_empty() {
            let end = rest.find(". ").map_or(rest.len(), |i| i + 1);
            sentences.push(rest[..end].trim().to_owned());
            rest = rest[end..].trim_start();
        }
        let out = sentences.join(" ");
        (!out.is_empty()).then_some(out)
    }

    fn requirements(&self, repo: RepoContext<'_>, rng: &mut Rng) -> String {
        let snap = repo.snapshot;
        let mut out = String::new();
        let opener = rng.pick(&[
            "Requirements for `{}`.",
            "What `{}` must do.",
            "The goal: build `{}`.",
            "Project `{}`: requirements.",
        ]);
        out.push_str(&opener.replace("{}", &snap.name));
        out.push('\n');
        if let Some(w) = &snap.workspace {
            out.push_str(&w.describe());
            out.push('\n');
        }
        if let Some(readme) = self.readme(repo) {
            out.push_str(&readme);
            out.push('\n');
        } else {
            let docs: Vec<String> = repo
                .analysis
                .outlines
                .values()
                .flat_map(|o| o.symbols.iter())
                .filter_map(|s| s.doc.as_deref().map(first_sentence))
                .filter(|d| d.len() > 12)
                .take(3)
                .collect();
            if !docs.is_empty() {
                out.push_str(&docs.join(" "));
                out.push('\n');
            }
        }
        // Languages.
        let mut langs: std::collections::BTreeMap<&str, usize> = Default::default();
        for f in &snap.files {
            if let Some(l) = f.language.as_deref() {
                *langs.entry(l).or_default() += 1;
            }
        }
        let langs: Vec<String> = langs.iter().map(|(l, n)| format!("{n} {l}")).collect();
        let files_line = if langs.is_empty() {
            format!("- {} files in all.", snap.files.len())
        } else {
            format!(
                "- {} files in all, of them {} source files.",
                snap.files.len(),
                join_list(&langs)
            )
        };
        out.push_str(&files_line);
        out.push('\n');
        // The files most depended on, with what they define.
        let mut core: Vec<(usize, FileId)> = snap
            .files
            .iter()
            .map(|f| (repo.analysis.graph.dependents(f.id).len(), f.id))
            .filter(|(n, _)| *n > 0)
            .collect();
        core.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        let lead = rng.pick(&["- Core modules:", "- The foundations:", "- Most-used parts:"]);
        if !core.is_empty() {
            out.push_str(lead);
            out.push('\n');
            for (n, id) in core.iter().take(5) {
                let Some(f) = snap.file(*id) else { continue };
                let defs = repo
                    .analysis
                    .outlines
                    .get(id)
                    .map(|o| symbol_summary(&o.symbols, 4))
                    .unwrap_or_default();
                let used = if *n == 1 {
                    "used by 1 file".to_owned()
                } else {
                    format!("used by {n} files")
                };
                if defs.is_empty() {
                    out.push_str(&format!("  - `{}` ({used})\n", f.path));
                } else {
                    out.push_str(&format!("  - `{}` ({used}): {defs}\n", f.path));
                }
            }
        }
        out.push_str(&format!(
            "- {} files, dependencies first; each is written after the files it imports.",
            rng.pick(&["Implement the", "Write the", "Build the"])
        ));
        out
    }

    fn purpose(&self, repo: RepoContext<'_>, id: FileId, rng: &mut Rng) -> String {
        let Some(file) = repo.snapshot.file(id) else {
            return String::new();
        };
        let outline = repo.analysis.outlines.get(&id);
        let mut parts = Vec::new();
        if let Some(o) = outline.filter(|o| !main_symbols(&o.symbols).is_empty()) {
            let verb = rng.pick(&["defines", "provides", "implements", "holds"]);
            parts.push(format!("{verb} {}", symbol_summary(&o.symbols, 5)));
            if let Some(doc) = o.symbols.iter().find_map(|s| s.doc.as_deref()) {
                let d = first_sentence(doc);
                if !d.is_empty() {
                    parts.push(format!("({})", d.trim_end_matches('.')));
                }
            }
        } else if let Some(role) = file_role(&file.path) {
            parts.push(rng.pick(&["{}", "this is {}", "the file with {}"]).replace("{}", role));
        } else {
            parts.push(rng.pick(&["supporting file", "part of the project"]).to_owned());
        }
        let users = repo.analysis.graph.dependents(id);
        if !users.is_empty() {
            let u = paths(repo, &users[..users.len().min(3)]);
            let more = if users.len() > 3 {
                format!(" and {} more", users.len() - 3)
            } else {
                String::new()
            };
            parts.push(format!(
                "{} {}{more}",
                rng.pick(&["; used by", "; needed by", "; imported by"]),
                join_list(&u)
            ));
        }
        let mut s = parts.join(" ").replace(" ;", ";");
        if let Some(c) = s.get(..1) {
            s = c.to_uppercase() + &s[1..];
        }
        s
    }

    fn before_reading(&self, req: ThinkRequest<'_>, rng: &mut Rng) -> String {
        let path = &req.step.path;
        let opener = rng
            .pick(&["Next: `{}`.", "Now `{}`.", "Time for `{}`.", "Moving on to `{}`."])
            .replace("{}", path);
        // What it reads besides its dependencies: the README its docs follow.
        let deps = req.repo.analysis.graph.dependencies(req.step.file);
        let (dep_reads, doc_reads): (Vec<FileId>, Vec<FileId>) = req.step.reads.iter().partition(|r| deps.contains(r));
        let reads = paths(req.repo, &dep_reads);
        let docs = paths(req.repo, &doc_reads);
        let follows = match docs.len() {
            0 => String::new(),
            _ => rng
                .pick(&[
                    " Its docs follow {}, so I'll have that open too.",
                    " Its opening docs repeat {}; I'll read it as well.",
                ])
                .replace("{}", &join_list(&docs)),
        };
        let code = req
            .repo
            .snapshot
            .file(req.step.file)
            .is_some_and(|f| f.language.is_some());
        let needs = match reads.len() {
            0 if !docs.is_empty() => String::new(),
            0 if !code => rng
                .pick(&[
                    " Nothing to read first.",
                    " No other file bears on it, so I can write it now.",
                ])
                .to_owned(),
            0 => rng
                .pick(&[
                    " It imports nothing from the repository, so I can write it straight away.",
                    " Nothing in the repository is a prerequisite, so no reading first.",
                    " It stands on its own; no other file needs reading.",
                ])
                .to_owned(),
            1 => rng
                .pick(&[
                    " It builds on {}, so I'll read that first.",
                    " It needs {}; let me look at it before writing.",
                    " First I'll check {}, which it depends on.",
                ])
                .replace("{}", &reads[0]),
            _ => rng
                .pick(&[
                    " It builds on {}, so I'll read those first.",
                    " It needs {}; I'll look at them before writing.",
                    " Its dependencies are {}; reading them first.",
                ])
                .replace("{}", &join_list(&reads)),
        };
        // The task already says what the file is for: not repeated here.
        format!("{opener}{needs}{follows}")
    }

    /// The before-writing thought in each of `views`: as detailed as fits in
    /// `max_thought_chars`, with the last doc sentences dropped while they
    /// make more than a fifth of it text copied from the file. The file's
    /// facts are read once for all views.
    fn before_writing(&self, req: ThinkRequest<'_>, views: &[View], seed: u64) -> Vec<String> {
        match Self::facts(req) {
            Some(known) => self.views_of(&known, views, seed),
            None => vec![format!("I write `{}`.", req.step.path)],
        }
    }

    /// [`Self::before_writing`] from the facts already read.
    fn views_of(&self, (facts, file, symbols): &Known<'_>, views: &[View], seed: u64) -> Vec<String> {
        views
            .iter()
            .map(|v| self.fitted(facts, *v, file, symbols, seed))
            .collect()
    }

    /// The facts of the file a request writes, its text and its outline.
    fn facts<'a>(req: ThinkRequest<'a>) -> Option<Known<'a>> {
        let mut facts = Facts::of(req.repo, req.step.file)?;
        // A read that is not a dependency: the README its docs retell.
        let deps = req.repo.analysis.graph.dependencies(req.step.file);
        facts.follows = req
            .step
            .reads
            .iter()
            .filter(|r| !deps.contains(r))
            .find_map(|r| req.repo.snapshot.file(*r))
            .map(|f| f.path.as_str());
        let file = req.repo.snapshot.file(req.step.file).map_or("", |f| f.text.as_str());
        let symbols = req
            .repo
            .analysis
            .outlines
            .get(&req.step.file)
            .map_or(&[][..], |o| &o.symbols);
        Some((facts, file, symbols))
    }

    /// [`edits::edits`] of `current` that stay within the thought's length
    /// and copy no more of the file than a view may; none for a text file,
    /// whose thought is one paragraph.
    fn edits(&self, (facts, file, symbols): &Known<'_>, current: &str) -> Vec<String> {
        if facts.is_text() {
            return Vec::new();
        }
        edits::edits(facts, self.start_budget(View::Deep), current)
            .into_iter()
            .filter(|t| {
                t.chars().count() <= self.config.max_thought_chars && copied_share(t, file, symbols) <= MAX_COPIED_SHARE
            })
            .collect()
    }

    /// The budget a view starts from before it is cut to fit.
    fn start_budget(&self, view: View) -> Budget {
        let listed = self.config.max_symbols.max(1);
        Budget {
            detailed: 3.min(listed),
            listed,
            docs: listed + 1,
            plans: true,
            signed: listed,
            close: view == View::Close,
            full_attributes: view == View::Close,
        }
    }

    /// One view of `facts`, cut to fit (see [`Self::before_writing`]).
    fn fitted(&self, facts: &Facts<'_>, view: View, file: &str, symbols: &[Symbol], seed: u64) -> String {
        let mut budget = self.start_budget(view);
        loop {
            let text = render(facts, view, budget, &mut Rng::new(seed));
            let fits = text.chars().count() <= self.config.max_thought_chars;
            if copied_share(&text, file, symbols) > MAX_COPIED_SHARE {
                // Cut long attributes short first (a file of lint lines),
                // then quote fewer docs, then name fewer things.
                if budget.full_attributes {
                    budget.full_attributes = false;
                } else if budget.docs > 0 {
                    budget.docs -= 1;
                } else if budget.listed > 0 {
                    budget.listed = budget.listed * 2 / 3;
                    budget.detailed = budget.detailed.min(budget.listed);
                } else {
                    return text;
                }
            } else if fits || budget.listed <= 1 {
                return text;
            } else if budget.plans {
                budget.plans = false;
            } else if budget.detailed > 0 {
                budget.detailed -= 1;
            } else if budget.signed > 1 {
                // Later declarations' methods by name, the first ones' in full …
                budget.signed = budget.signed.min(budget.listed) - 1;
            } else {
                // … then fewer declarations, the rest named at the end.
                budget.listed -= 1;
            }
        }
    }

    /// The before-writing thought in every view whose content differs from
    /// `current`'s and from the others', each once. A view rendered with
    /// another round's seed differs from the thought in that view only in
    /// its connecting words: that is no alternative, and is left out.
    fn other_views(all: &[String], current: &str) -> Vec<String> {
        let mut seen = vec![content_key(current)];
        let mut out: Vec<String> = Vec::new();
        for t in all {
            let key = content_key(t);
            if !seen.contains(&key) {
                seen.push(key);
                out.push(t.clone());
            }
        }
        out
    }

    fn think_with(&self, req: ThinkRequest<'_>, seed: u64) -> String {
        let mut rng = Rng::new(seed);
        match req.phase {
            ThinkPhase::BeforeReading => self.before_reading(req, &mut rng),
            ThinkPhase::BeforeWriting => self.before_writing(req, &[self.config.view], seed).remove(0),
        }
    }
}

/// The implementation order with each README that a file's docs follow
/// (see [`mirror`]) written before that file, and which README each such
/// file follows. A README moves up only when it depends on nothing, so the
/// order stays dependencies-first; one that cannot be written first is not
/// read.
fn order_with_followed_docs(repo: RepoContext<'_>) -> (Vec<FileId>, std::collections::HashMap<FileId, FileId>) {
    let mut order: Vec<FileId> = repo.order.to_vec();
    let mut mirrors = mirror::Mirrors::new(repo.snapshot);
    let mut follows = std::collections::HashMap::new();
    let mut i = 0;
    while i < order.len() {
        let doc = repo
            .snapshot
            .file(order[i])
            .and_then(|f| mirrors.followed(repo.snapshot, f));
        if let Some(doc) = doc {
            match order.iter().position(|id| *id == doc).filter(|p| *p != i) {
                Some(p) if p < i => {
                    follows.insert(order[i], doc);
                }
                Some(p) if repo.analysis.graph.dependencies(doc).is_empty() => {
                    order.remove(p);
                    order.insert(i, doc);
                    i += 1; // the README now at `i`, the file at `i + 1`
                    follows.insert(order[i], doc);
                }
                _ => {}
            }
        }
        i += 1;
    }
    (order, follows)
}

/// What a thought says, without its connecting words: the names in
/// backticks, the quoted headings and the numbers, in order, and its number
/// of lines. Two renderings of one view with different seeds share it.
fn content_key(thought: &str) -> Vec<&str> {
    let mut key: Vec<&str> = Vec::new();
    key.extend(thought.split('`').skip(1).step_by(2));
    key.extend(thought.split(['“', '”']).skip(1).step_by(2));
    key.extend(thought.split(|c: char| !c.is_ascii_digit()).filter(|d| !d.is_empty()));
    key.push(if thought.lines().count() > 1 {
        "multi-line"
    } else {
        "one line"
    });
    key
}

#[async_trait::async_trait]
impl Policy for TemplatePolicy {
    async fn plan(&self, repo: RepoContext<'_>, seed: u64) -> Result<Plan, StageError> {
        let mut rng = Rng::new(seed);
        let requirements = self.requirements(repo, &mut rng);
        let (order, follows) = order_with_followed_docs(repo);
        let position: std::collections::HashMap<FileId, usize> =
            order.iter().enumerate().map(|(i, id)| (*id, i)).collect();
        let steps = order
            .iter()
            .enumerate()
            .filter_map(|(i, id)| Some((i, repo.snapshot.file(*id)?)))
            .map(|(i, f)| {
                let mut r = Rng::new(repo2agent_core::order::seeded_hash(seed, &f.path));
                // A file whose docs follow a README reads it after its
                // dependencies; the others leave their reads to the plan's
                // repair (their dependencies).
                let reads = match follows.get(&f.id) {
                    Some(doc) => {
                        let mut reads: Vec<FileId> = repo
                            .analysis
                            .graph
                            .dependencies(f.id)
                            .into_iter()
                            .filter(|d| position.get(d).is_some_and(|p| *p < i))
                            .collect();
                        reads.push(*doc);
                        reads
                    }
                    None => Vec::new(),
                };
                PlanStep {
                    file: f.id,
                    path: f.path.clone(),
                    purpose: self.purpose(repo, f.id, &mut r),
                    reads,
                }
            })
            .collect();
        Ok(Plan { requirements, steps })
    }

    async fn think(&self, request: ThinkRequest<'_>) -> Result<String, StageError> {
        Ok(self.think_with(request, request.seed))
    }

    async fn propose_rewrites(
        &self,
        request: ThinkRequest<'_>,
        current: &str,
        n: usize,
    ) -> Result<Vec<String>, StageError> {
        if request.phase == ThinkPhase::BeforeWriting {
            // Round 0 is offered the best other views of the file; each
            // later round `r` edits the thought the search holds (a section
            // added or taken out, page `r - 1` of `n`), so the search climbs
            // from the winner. A thought with no sections to edit (a text
            // file's paragraph) is offered the views' page `r` instead. A
            // round past the last page is offered nothing (the search stops
            // there) rather than what it has already scored.
            let n = n.max(1);
            let round = request.round as usize;
            let known = Self::facts(request);
            if round > 0
                && let Some(known) = &known
            {
                let mut edits = self.edits(known, current);
                if !edits.is_empty() {
                    edits.drain(..((round - 1) * n).min(edits.len()));
                    edits.truncate(n);
                    return Ok(edits);
                }
            }
            let all = match &known {
                Some(known) => self.views_of(known, &View::ALL, request.seed),
                None => self.before_writing(request, &View::ALL, request.seed),
            };
            let mut views = Self::other_views(&all, current);
            views.drain(..(round * n).min(views.len()));
            views.truncate(n);
            return Ok(views);
        }
        let mut out: Vec<String> = Vec::new();
        for k in 1..=(4 * n as u64) {
            if out.len() == n {
                break;
            }
            let t = self.think_with(request, request.seed ^ k.wrapping_mul(0x9e37_79b9_7f4a_7c15));
            if t != current && !out.contains(&t) {
                out.push(t);
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use repo2agent_core::model::{Analysis, DependencyGraph, FileTree, ImportSite, RepoSnapshot};

    fn repo() -> (RepoSnapshot, Analysis) {
        let snap = RepoSnapshot::new(
            "demo",
            "/demo",
            (0..12)
                .map(|i| {
                    (
                        format!("m{i:02}.py"),
                        Some("python".to_owned()),
                        format!("import m{:02}\n", (i + 1) % 12),
                    )
                })
                .chain([(
                    "README.md".to_owned(),
                    None,
                    "# Demo\n\nDemo greets. It is small.\n".to_owned(),
                )])
                .collect(),
        );
        let mut graph = DependencyGraph::for_snapshot(&snap);
        let id = |i: u32| snap.by_path(&format!("m{i:02}.py")).unwrap().id;
        for i in 1..12u32 {
            graph.add_import(
                id(i - 1),
                id(i),
                ImportSite {
                    raw: format!("m{i:02}"),
                    line: 1,
                },
            );
        }
        let order = repo2agent_core::order::implementation_order(&snap, &graph, 0);
        (
            snap.clone(),
            Analysis {
                tree: FileTree::of(&snap),
                graph,
                outlines: Default::default(),
                order,
            },
        )
    }

    fn block<T>(f: impl std::future::Future<Output = T>) -> T {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
    }

    #[test]
    fn same_seed_same_text_other_seeds_other_words() {
        let (snap, analysis) = repo();
        let ctx = RepoContext {
            snapshot: &snap,
            analysis: &analysis,
            order: &analysis.order,
        };
        let p = TemplatePolicy::default();
        let a = block(p.plan(ctx, 1)).unwrap();
        assert_eq!(a, block(p.plan(ctx, 1)).unwrap(), "deterministic for a seed");
        assert!(
            a.requirements.contains("Demo greets. It is small."),
            "{}",
            a.requirements
        );
        assert_eq!(a.steps.len(), 13);
        // Thoughts across the files of one repository do not all repeat one sentence.
        let mut openers = std::collections::BTreeSet::new();
        for step in &a.steps {
            let req = ThinkRequest {
                repo: ctx,
                step,
                phase: ThinkPhase::BeforeReading,
                seed: repo2agent_core::order::seeded_hash(1, &step.path),
                round: 0,
            };
            let t = block(p.think(req)).unwrap();
            assert!(t.contains(&format!("`{}`", step.path)), "{t}");
            openers.insert(t.split('`').next().unwrap_or_default().to_owned());
        }
        assert!(openers.len() >= 3, "phrasings vary: {openers:?}");
        let plans: std::collections::BTreeSet<String> =
            (0..8).map(|s| block(p.plan(ctx, s)).unwrap().requirements).collect();
        assert!(plans.len() >= 3, "seeds change the wording");
    }

    #[test]
    fn a_crate_root_whose_docs_retell_the_readme_reads_it_first() {
        let readme = "# demo\n\nThis crate provides a fast conversion of integer primitives to decimal\nstrings, without going through the formatter.\n";
        let lib = "//! This crate provides a fast conversion of integer primitives\n//! to decimal strings, without going through the formatter.\n\nmod a;\n";
        let snap = RepoSnapshot::new(
            "demo",
            "/demo",
            vec![
                ("README.md".into(), None, readme.into()),
                ("src/a.rs".into(), Some("rust".into()), "pub fn a() {}\n".into()),
                ("src/lib.rs".into(), Some("rust".into()), lib.into()),
            ],
        );
        let id = |p: &str| snap.by_path(p).unwrap().id;
        let mut graph = DependencyGraph::for_snapshot(&snap);
        graph.add_import(
            id("src/lib.rs"),
            id("src/a.rs"),
            ImportSite {
                raw: "a".into(),
                line: 4,
            },
        );
        // The README last in the order: the plan moves it before the crate root.
        let analysis = Analysis {
            tree: FileTree::of(&snap),
            graph,
            outlines: Default::default(),
            order: vec![id("src/a.rs"), id("src/lib.rs"), id("README.md")],
        };
        let ctx = RepoContext {
            snapshot: &snap,
            analysis: &analysis,
            order: &analysis.order,
        };
        let p = TemplatePolicy::default();
        let plan = block(p.plan(ctx, 3)).unwrap();
        let paths: Vec<&str> = plan.steps.iter().map(|s| s.path.as_str()).collect();
        assert_eq!(paths, ["src/a.rs", "README.md", "src/lib.rs"]);
        let step = &plan.steps[2];
        assert_eq!(
            step.reads,
            [id("src/a.rs"), id("README.md")],
            "its dependency, then the README"
        );
        assert!(
            plan.steps[..2].iter().all(|s| s.reads.is_empty()),
            "the others read their dependencies"
        );
        let t = block(p.think(ThinkRequest {
            repo: ctx,
            step,
            phase: ThinkPhase::BeforeReading,
            seed: 1,
            round: 0,
        }))
        .unwrap();
        assert!(t.contains("`src/a.rs`") && t.contains("`README.md`"), "{t}");
        assert!(
            !t.contains("`src/a.rs` and `README.md`"),
            "the README is not called a dependency: {t}"
        );
    }

    #[test]
    fn thoughts_name_the_dependencies_and_rewrites_differ() {
        let (snap, analysis) = repo();
        let ctx = RepoContext {
            snapshot: &snap,
            analysis: &analysis,
            order: &analysis.order,
        };
        let p = TemplatePolicy::default();
        let id = |p: &str| snap.by_path(p).unwrap().id;
        let step = PlanStep {
            file: id("m03.py"),
            path: "m03.py".into(),
            purpose: String::new(),
            reads: vec![id("m04.py")],
        };
        let req = ThinkRequest {
            repo: ctx,
            step: &step,
            phase: ThinkPhase::BeforeReading,
            seed: 5,
            round: 0,
        };
        let t = block(p.think(req)).unwrap();
        assert!(t.contains("`m04.py`"), "names what it reads: {t}");
        let w = block(p.think(ThinkRequest {
            phase: ThinkPhase::BeforeWriting,
            ..req
        }))
        .unwrap();
        assert!(
            w.contains("It builds on `m04.py` through `m04`."),
            "says how it uses the dependency: {w}"
        );
        let alts = block(p.propose_rewrites(req, &t, 3)).unwrap();
        assert!(!alts.is_empty() && alts.len() <= 3);
        assert!(alts.iter().all(|a| a != &t && a.contains("`m04.py`")), "{alts:?}");
        // Before writing, the rewrites are the other views of the file.
        let writing = ThinkRequest {
            phase: ThinkPhase::BeforeWriting,
            ..req
        };
        let views = block(p.propose_rewrites(writing, &w, 9)).unwrap();
        assert!(views.len() >= 3, "{views:?}");
        assert!(views.iter().all(|v| v != &w && v.contains("`m03.py`")), "{views:?}");
        assert!(
            views
                .iter()
                .any(|v| v.contains("`m03.py` takes `m04.py` through `m04`.")),
            "dependencies first: {views:?}"
        );
        // Search rounds page through them: round r is offered page r, and
        // nothing once every view was offered. (This thought has no section
        // to edit, so later rounds are offered views too: tests/it/thoughts.rs
        // has a file whose later rounds are edits.)
        let page = |round: u32, seed: u64| {
            let r = ThinkRequest { round, seed, ..writing };
            block(p.propose_rewrites(r, &w, 1)).unwrap()
        };
        assert_eq!(page(0, 5), views[..1]);
        assert_eq!(page(1, 5), views[1..2]);
        assert_ne!(page(1, 77), page(0, 77));
        assert!(page(views.len() as u32, 5).is_empty(), "no view offered twice");
        // The thought's own view rendered with another round's seed only
        // rewords it: never offered, whatever the seed.
        for seed in [5, 6, 77, 1234] {
            let r = ThinkRequest { seed, ..writing };
            let all = block(p.propose_rewrites(r, &w, 20)).unwrap();
            let own = block(p.think(r)).unwrap();
            assert!(!all.contains(&own), "seed {seed}: the default view again: {own}");
            assert!(!all.iter().any(|a| content_key(a) == content_key(&w)), "seed {seed}");
        }
    }
}
