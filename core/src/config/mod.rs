//! One TOML file describes a run (shape in docs/architecture.md, reference in the
//! README). [`parse`] reads it, loads the plugin libraries it names, builds every
//! component through the [`Registry`] and checks every reference; it collects
//! *every* problem, each with its line, and returns them together before any
//! work starts.

mod sections;

pub use crate::ingest::InputConfig;
pub use crate::plugin::{
    BuildContext, ConfigError, Problem, Section, SourceText, config_dir, current_dir, deserialize_document,
    missing_file, parse_document, resolve_path,
};
pub use sections::{OutputConfig, PluginsSection, RunSection};

use crate::plugin::dylib::{self, LoadedPlugin};
use crate::plugin::registry::{Kind, Origin, Registry, StageObject};
use crate::stage::{Analyzer, Formatter, Masker, Policy, Scorer, SearchStrategy, Tokenizer};
use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use toml::Spanned;
use toml::de::{DeString, DeTable, DeValue};

/// The embedded default run: the template pipeline on the current directory.
pub const DEFAULT_CONFIG: &str = include_str!("default.toml");

/// The top-level sections a config may have.
pub const SECTIONS: [&str; 13] = [
    "run",
    "input",
    "plugins",
    "analyzers",
    "simulation",
    "policies",
    "scorers",
    "search",
    "evaluate",
    "format",
    "mask",
    "tokenizer",
    "output",
];

/// A built component with the name and type it was declared with.
#[derive(Clone, Debug)]
pub struct Named<T: ?Sized> {
    /// Name in the config (`teacher` for `[policies.teacher]`; the section name for singletons).
    pub name: String,
    /// The `type` that built it.
    pub type_name: String,
    /// Where its factory came from.
    pub origin: Origin,
    /// The component.
    pub component: Arc<T>,
}

/// A fully resolved run: every component built, every reference checked.
#[derive(Debug)]
pub struct RunConfig {
    /// The config's name (file path or `<default>`).
    pub source: String,
    /// Directory relative paths were resolved against.
    pub base_dir: PathBuf,
    /// `[run]`.
    pub run: RunSection,
    /// Only the repositories of this part (`run --shard K/N`); `None`: all.
    pub partition: Option<crate::ingest::Partition>,
    /// Reuse the repositories an earlier, interrupted run of this config
    /// finished in the output directory (`run --resume`).
    pub resume: bool,
    /// Hex SHA-256 of the config text: a resumed run or a merge checks that
    /// the work it reuses was made with the same config.
    pub fingerprint: String,
    /// `[input]`, with `repos` resolved against `base_dir`.
    pub input: InputConfig,
    /// `[output]`, with `dir` resolved against `base_dir`.
    pub output: OutputConfig,
    /// `[simulation]`.
    pub simulation: crate::simulate::SimulationConfig,
    /// Plugin libraries loaded for this run.
    pub plugins: Vec<LoadedPlugin>,
    /// Analyzers, one per language.
    pub analyzers: Vec<Named<dyn Analyzer>>,
    /// Declared policies by name.
    pub policies: BTreeMap<String, Named<dyn Policy>>,
    /// The policy the agents use (`run.policy`, or the only one declared).
    pub policy: Option<String>,
    /// Declared scorers by name.
    pub scorers: BTreeMap<String, Named<dyn Scorer>>,
    /// `[search]`.
    pub search: Option<Named<dyn SearchStrategy>>,
    /// `[evaluate]`: the thought value of every trajectory.
    pub evaluate: Option<crate::score::evaluate::Evaluation>,
    /// `[format]`.
    pub formatter: Option<Named<dyn Formatter>>,
    /// `[mask]` (the built-in `roles` masker when absent and a formatter is configured).
    pub masker: Option<Named<dyn Masker>>,
    /// `[tokenizer]` (the built-in `bpe`, trained on the run's corpus, when
    /// absent and a formatter is configured).
    pub tokenizer: Option<Named<dyn Tokenizer>>,
}

impl RunConfig {
    /// Every built component as `(kind, name, type, origin)`, for listings.
    pub fn components(&self) -> Vec<(Kind, &str, &str, &Origin)> {
        fn row<T: ?Sized>(k: Kind, n: &Named<T>) -> (Kind, &str, &str, &Origin) {
            (k, n.name.as_str(), n.type_name.as_str(), &n.origin)
        }
        let mut v = Vec::new();
        v.extend(self.analyzers.iter().map(|a| row(Kind::Analyzer, a)));
        v.extend(self.policies.values().map(|p| row(Kind::Policy, p)));
        v.extend(self.scorers.values().map(|s| row(Kind::Scorer, s)));
        v.extend(self.search.iter().map(|s| row(Kind::Search, s)));
        v.extend(self.formatter.iter().map(|f| row(Kind::Formatter, f)));
        v.extend(self.masker.iter().map(|m| row(Kind::Masker, m)));
        v.extend(self.tokenizer.iter().map(|t| row(Kind::Tokenizer, t)));
        v
    }
}

/// Reads and resolves a config file. Relative paths inside it are relative to
/// the file's directory.
pub fn load(path: &Path, registry: &mut Registry) -> Result<RunConfig, ConfigError> {
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
        file: name.clone(),
        problems: vec![Problem::new(format!("cannot read the config: {e}"))],
    })?;
    parse(&text, &name, &config_dir(path), registry)
}

/// Resolves config text. `name` labels messages; `base_dir` anchors relative paths.
pub fn parse(text: &str, name: &str, base_dir: &Path, registry: &mut Registry) -> Result<RunConfig, ConfigError> {
    let source = SourceText { name, text };
    let doc = parse_document(&source).map_err(|p| ConfigError::sorted(name, p))?;
    let mut r = Resolver {
        source,
        base_dir,
        registry,
        problems: Vec::new(),
    };
    let config = r.resolve(doc.into_inner());
    if r.problems.is_empty() {
        Ok(config)
    } else {
        Err(ConfigError::sorted(name, r.problems))
    }
}

/// Declared policies and scorers by (kind, name), each with why it failed to
/// build if it did.
/// Components of one kind by their name in the config.
type Components<T> = BTreeMap<String, Named<T>>;

/// The stages a config builds, as the checks across sections see them.
struct Stages<'s> {
    has_policy: bool,
    formatter: Option<&'s Named<dyn Formatter>>,
    search: Option<&'s Named<dyn SearchStrategy>>,
    evaluate: bool,
}

type Declared = BTreeMap<(Kind, String), Option<String>>;

struct Resolver<'a, 'r> {
    source: SourceText<'a>,
    base_dir: &'a Path,
    registry: &'r mut Registry,
    problems: Vec<Problem>,
}

type Entry<'a> = (Spanned<DeString<'a>>, Spanned<DeValue<'a>>);

impl<'a> Resolver<'a, '_> {
    fn problem(&mut self, span: Range<usize>, path: &str, message: impl Into<String>) {
        let p = self.source.problem(Some(span), path, message);
        self.problems.push(p);
    }

    fn resolve(&mut self, root: DeTable<'a>) -> RunConfig {
        let mut sections: BTreeMap<String, Entry<'a>> = BTreeMap::new();
        for (key, value) in root {
            let k = key.get_ref().to_string();
            if SECTIONS.contains(&k.as_str()) {
                sections.insert(k, (key, value));
            } else {
                let span = key.span();
                self.problem(
                    span,
                    &k,
                    format!("unknown section `{k}`; known sections: {}", SECTIONS.join(", ")),
                );
            }
        }
        let mut take = |k: &str| sections.remove(k);

        let run: RunSection = take("run").and_then(|e| self.plain(e, "run")).unwrap_or_default();
        let input_entry = take("input");
        let input_span = input_entry.as_ref().map_or(0..0, |(k, _)| k.span());
        let mut input: InputConfig = input_entry.and_then(|e| self.plain(e, "input")).unwrap_or_default();
        for message in crate::ingest::check_exclude_patterns(&input.exclude) {
            self.problem(input_span.clone(), "input.exclude", message);
        }
        let output_entry = take("output");
        let output_span = output_entry.as_ref().map_or(0..0, |(k, _)| k.span());
        let mut output: OutputConfig = output_entry.and_then(|e| self.plain(e, "output")).unwrap_or_default();
        for message in output.check() {
            self.problem(output_span.clone(), "output", message);
        }
        input.repos = input
            .repos
            .iter()
            .map(|r| resolve_path(self.base_dir, Path::new(r)).display().to_string())
            .collect();
        output.dir = resolve_path(self.base_dir, &output.dir);

        let simulation: crate::simulate::SimulationConfig = take("simulation")
            .and_then(|e| self.plain(e, "simulation"))
            .unwrap_or_default();
        let plugins_section: PluginsSection = take("plugins")
            .and_then(|e| self.plain(e, "plugins"))
            .unwrap_or_default();
        let plugins = self.load_plugins(&plugins_section);

        // Every declared policy and scorer, with why it failed to build once it has.
        let mut declared: Declared = BTreeMap::new();
        let analyzer_entries = take("analyzers");
        let policy_entries = take("policies")
            .map(|e| self.named_tables(e, "policies"))
            .unwrap_or_default();
        let scorer_entries = take("scorers")
            .map(|e| self.named_tables(e, "scorers"))
            .unwrap_or_default();
        for (n, _) in &policy_entries {
            declared.insert((Kind::Policy, n.clone()), None);
        }
        for (n, _) in &scorer_entries {
            declared.insert((Kind::Scorer, n.clone()), None);
        }
        let search_entry = take("search");
        let search_span = search_entry.as_ref().map(|(k, _)| k.span()).unwrap_or(0..0);
        let evaluate_entry = take("evaluate");
        let evaluate_span = evaluate_entry.as_ref().map(|(k, _)| k.span()).unwrap_or(0..0);
        let format_entry = take("format");
        let mask_entry = take("mask");
        let tokenizer_entry = take("tokenizer");

        // Analyzers and policies depend on nothing.
        let analyzers = self.analyzers(analyzer_entries, run.seed, &declared);
        let (policies, scorers) = self.models(run.seed, policy_entries, scorer_entries, &mut declared);
        let policy_objects: BTreeMap<String, Arc<dyn Policy>> = policies
            .iter()
            .map(|(k, v)| (k.clone(), Arc::clone(&v.component)))
            .collect();
        let scorer_objects: BTreeMap<String, Arc<dyn Scorer>> = scorers
            .iter()
            .map(|(k, v)| (k.clone(), Arc::clone(&v.component)))
            .collect();
        let ctx = self.ctx(run.seed, &policy_objects, &scorer_objects, &declared);
        let search =
            search_entry.and_then(|(_, v)| self.component::<dyn SearchStrategy>("search", "search", v, None, &ctx));
        let evaluate = evaluate_entry.and_then(|e| {
            let c: crate::score::evaluate::EvaluateConfig = self.plain(e, "evaluate")?;
            match crate::score::evaluate::Evaluation::build(c, &ctx) {
                Ok(v) => Some(v),
                Err(mut p) => {
                    if p.line.is_none() {
                        p = self.source.problem(Some(evaluate_span.clone()), "evaluate", p.message);
                    }
                    if p.path.is_empty() {
                        p.path = "evaluate".into();
                    }
                    self.problems.push(p);
                    None
                }
            }
        });
        let formatter =
            format_entry.and_then(|(_, v)| self.component::<dyn Formatter>("format", "format", v, None, &ctx));
        let implied = |registered: bool| {
            (formatter.is_some() && registered).then(|| Spanned::new(0..0, DeValue::Table(DeTable::new())))
        };
        let masker_value = match mask_entry {
            Some((_, v)) => Some(v),
            None => implied(self.registry.get::<dyn Masker>("roles").is_some()),
        };
        let masker = masker_value.and_then(|v| self.component::<dyn Masker>("mask", "mask", v, Some("roles"), &ctx));
        let (tokenizer_value, tokenizer_type) = match tokenizer_entry {
            Some((_, v)) => {
                let has_path =
                    matches!(v.get_ref(), DeValue::Table(t) if t.keys().any(|k| k.get_ref().as_ref() == "path"));
                (Some(v), if has_path { "hf" } else { "bpe" })
            }
            None => (implied(self.registry.get::<dyn Tokenizer>("bpe").is_some()), "bpe"),
        };
        let tokenizer = tokenizer_value
            .and_then(|v| self.component::<dyn Tokenizer>("tokenizer", "tokenizer", v, Some(tokenizer_type), &ctx));

        let policy = self.select_policy(&run, &policies);
        let stages = Stages {
            has_policy: !policies.is_empty(),
            formatter: formatter.as_ref(),
            search: search.as_ref(),
            evaluate: evaluate.is_some(),
        };
        self.check_stages(&stages, search_span, evaluate_span);
        RunConfig {
            source: self.source.name.to_owned(),
            base_dir: self.base_dir.to_path_buf(),
            run,
            partition: None,
            resume: false,
            fingerprint: crate::cache::CallCache::digest(self.source.text.as_bytes()),
            input,
            output,
            simulation,
            plugins,
            analyzers,
            policies,
            policy,
            scorers,
            search,
            evaluate,
            formatter,
            masker,
            tokenizer,
        }
    }

    /// Builds the policies, then the scorers (which may refer to policies: a
    /// scorer served by the teacher's server); a failure is recorded in `declared`.
    fn models(
        &mut self,
        seed: u64,
        policy_entries: Vec<(String, Spanned<DeValue<'a>>)>,
        scorer_entries: Vec<(String, Spanned<DeValue<'a>>)>,
        declared: &mut Declared,
    ) -> (Components<dyn Policy>, Components<dyn Scorer>) {
        let (empty_policies, empty_scorers) = (BTreeMap::new(), BTreeMap::new());
        let mut policies: BTreeMap<String, Named<dyn Policy>> = BTreeMap::new();
        for (name, value) in policy_entries {
            let ctx = self.ctx(seed, &empty_policies, &empty_scorers, declared);
            let before = self.problems.len();
            match self.component::<dyn Policy>(&format!("policies.{name}"), &name, value, None, &ctx) {
                Some(c) => {
                    policies.insert(name, c);
                }
                None => self.record_failure(declared, Kind::Policy, name, before),
            }
        }
        let policy_objects: BTreeMap<String, Arc<dyn Policy>> = policies
            .iter()
            .map(|(k, v)| (k.clone(), Arc::clone(&v.component)))
            .collect();

        // Scorers may refer to policies (a scorer served by the teacher's server).
        let mut scorers: BTreeMap<String, Named<dyn Scorer>> = BTreeMap::new();
        for (name, value) in scorer_entries {
            let ctx = self.ctx(seed, &policy_objects, &empty_scorers, declared);
            let before = self.problems.len();
            match self.component::<dyn Scorer>(&format!("scorers.{name}"), &name, value, None, &ctx) {
                Some(c) => {
                    scorers.insert(name, c);
                }
                None => self.record_failure(declared, Kind::Scorer, name, before),
            }
        }
        (policies, scorers)
    }

    /// Checks that need several sections: a format that renders trajectories
    /// needs a policy; a search that rewrites thoughts and an evaluation need a
    /// policy and an agent format.
    fn check_stages(&mut self, stages: &Stages<'_>, search_span: Range<usize>, evaluate_span: Range<usize>) {
        if let Some(f) = stages.formatter
            && f.component.needs_trajectory()
            && !stages.has_policy
        {
            self.problems.push(Problem {
                path: "format".into(),
                ..Problem::new(format!(
                    "the `{}` format renders trajectories, but no policy is declared; add [policies.NAME] (e.g. type = \"template\") or use type = \"raw-repos\"",
                    f.type_name
                ))
            });
        }

        if let Some(s) = stages.search
            && s.component.rewrites_thoughts()
        {
            let renders_thoughts = stages.formatter.is_some_and(|f| f.component.needs_trajectory());
            if !stages.has_policy || !renders_thoughts {
                let message = format!(
                    "the `{}` search rewrites thoughts and scores them as the trained model sees them: it needs a policy ([policies.NAME]) and an agent format ([format] type = \"agent\")",
                    s.type_name
                );
                self.problem(search_span, "search", message);
            }
        }
        if stages.evaluate {
            let renders_thoughts = stages.formatter.is_some_and(|f| f.component.needs_trajectory());
            if !stages.has_policy || !renders_thoughts {
                self.problem(
                    evaluate_span,
                    "evaluate",
                    "[evaluate] scores the real code after the thoughts as the trained model sees them: it needs a policy ([policies.NAME]) and an agent format ([format] type = \"agent\")",
                );
            }
        }
    }

    fn ctx<'c>(
        &self,
        seed: u64,
        policies: &'c BTreeMap<String, Arc<dyn Policy>>,
        scorers: &'c BTreeMap<String, Arc<dyn Scorer>>,
        declared: &'c Declared,
    ) -> BuildContext<'c>
    where
        'a: 'c,
    {
        BuildContext {
            source: self.source,
            base_dir: self.base_dir,
            seed,
            policies,
            scorers,
            declared,
        }
    }

    /// Notes why a declared component failed to build (its first problem), so
    /// a component referring to it can say so on its own line.
    fn record_failure(&self, declared: &mut Declared, kind: Kind, name: String, problems_before: usize) {
        let why = self.problems[problems_before..]
            .first()
            .map_or_else(|| "see its own problems".to_owned(), |p| p.message.clone());
        declared.insert((kind, name), Some(why));
    }

    fn select_policy(&mut self, run: &RunSection, policies: &BTreeMap<String, Named<dyn Policy>>) -> Option<String> {
        match &run.policy {
            Some(name) if policies.contains_key(name.get_ref()) => Some(name.get_ref().clone()),
            Some(name) => {
                let known: Vec<&str> = policies.keys().map(String::as_str).collect();
                let msg = format!(
                    "no policy named `{}` (declared: {})",
                    name.get_ref(),
                    if known.is_empty() {
                        "none".to_owned()
                    } else {
                        known.join(", ")
                    }
                );
                self.problem(name.span(), "run.policy", msg);
                None
            }
            None if policies.len() == 1 => policies.keys().next().cloned(),
            None if policies.len() > 1 => {
                let known: Vec<&str> = policies.keys().map(String::as_str).collect();
                self.problems.push(Problem {
                    path: "run.policy".into(),
                    ..Problem::new(format!(
                        "several policies are declared ({}); choose one with run.policy",
                        known.join(", ")
                    ))
                });
                None
            }
            None => None,
        }
    }

    /// Deserializes a plain section.
    fn plain<T: serde::de::DeserializeOwned>(&mut self, (key, value): Entry<'a>, path: &str) -> Option<T> {
        let section = match Section::table(path, value, key.span(), self.source) {
            Ok(s) => s,
            Err(p) => {
                self.problems.push(p);
                return None;
            }
        };
        match section.deserialize() {
            Ok(v) => Some(v),
            Err(ps) => {
                self.problems.extend(ps);
                None
            }
        }
    }

    /// `[policies.NAME]`-style tables: name → value, in name order.
    fn named_tables(&mut self, (key, value): Entry<'a>, path: &str) -> Vec<(String, Spanned<DeValue<'a>>)> {
        match value.into_inner() {
            DeValue::Table(t) => t.into_iter().map(|(k, v)| (k.get_ref().to_string(), v)).collect(),
            other => {
                self.problem(
                    key.span(),
                    path,
                    format!("`{path}` must hold named tables, found a {}", other.type_str()),
                );
                Vec::new()
            }
        }
    }

    fn load_plugins(&mut self, section: &PluginsSection) -> Vec<LoadedPlugin> {
        let mut loaded = Vec::new();
        for lib in &section.libraries {
            let path = resolve_path(self.base_dir, Path::new(lib.get_ref()));
            match dylib::load(&path).and_then(|p| dylib::register(&p, self.registry).map(|()| p)) {
                Ok(p) => loaded.push(p),
                Err(e) => self.problem(lib.span(), "plugins.libraries", e.to_string()),
            }
        }
        loaded
    }

    fn analyzers(&mut self, entry: Option<Entry<'a>>, seed: u64, declared: &Declared) -> Vec<Named<dyn Analyzer>> {
        let empty_p = BTreeMap::new();
        let empty_s = BTreeMap::new();
        let mut wanted: Vec<(String, String, Spanned<DeValue<'a>>)> = Vec::new(); // (name, path, table)
        let mut languages_key = false;
        if let Some((key, value)) = entry {
            let key_span = key.span();
            match value.into_inner() {
                DeValue::Table(t) => {
                    for (k, v) in t {
                        let name = k.get_ref().to_string();
                        if name == "languages" {
                            languages_key = true;
                            self.language_list(v, &mut wanted);
                        } else if v.get_ref().is_table() {
                            wanted.push((name.clone(), format!("analyzers.{name}"), v));
                        } else {
                            self.problem(
                                k.span(),
                                &format!("analyzers.{name}"),
                                "expected `languages = [...]` or an `[analyzers.NAME]` table",
                            );
                        }
                    }
                }
                other => self.problem(
                    key_span,
                    "analyzers",
                    format!("`analyzers` must be a table, found a {}", other.type_str()),
                ),
            }
        }
        if !languages_key {
            // Default: every built-in analyzer, with its default configuration.
            let configured: BTreeSet<String> = wanted.iter().map(|(n, _, _)| n.clone()).collect();
            for t in self.registry.default_type_names::<dyn Analyzer>() {
                if !configured.contains(t) {
                    wanted.push((
                        t.to_owned(),
                        format!("analyzers.{t}"),
                        Spanned::new(0..0, DeValue::Table(DeTable::new())),
                    ));
                }
            }
        }
        let mut out: Vec<Named<dyn Analyzer>> = Vec::new();
        let mut by_language: BTreeMap<String, String> = BTreeMap::new();
        for (name, path, value) in wanted {
            let ctx = self.ctx(seed, &empty_p, &empty_s, declared);
            let span = value.span();
            if let Some(a) = self.component::<dyn Analyzer>(&path, &name, value, Some(&name), &ctx) {
                let lang = a.component.language().name.clone();
                if let Some(prev) = by_language.insert(lang.clone(), name.clone()) {
                    self.problem(
                        span,
                        &path,
                        format!("language `{lang}` is already handled by analyzer `{prev}`"),
                    );
                } else {
                    out.push(a);
                }
            }
        }
        out
    }

    fn language_list(&mut self, value: Spanned<DeValue<'a>>, wanted: &mut Vec<(String, String, Spanned<DeValue<'a>>)>) {
        let span = value.span();
        match value.into_inner() {
            DeValue::Array(items) => {
                for item in items {
                    let ispan = item.span();
                    match item.get_ref().as_str() {
                        Some(s) => {
                            let mut t = DeTable::new();
                            t.insert(
                                Spanned::new(ispan.clone(), DeString::from("type")),
                                Spanned::new(ispan.clone(), DeValue::String(DeString::from(s.to_owned()))),
                            );
                            wanted.push((
                                s.to_owned(),
                                "analyzers.languages".to_owned(),
                                Spanned::new(ispan, DeValue::Table(t)),
                            ));
                        }
                        None => self.problem(ispan, "analyzers.languages", "expected a language name (a string)"),
                    }
                }
            }
            other => self.problem(
                span,
                "analyzers.languages",
                format!("expected an array of names, found a {}", other.type_str()),
            ),
        }
    }

    /// Builds one component from its table: reads `type`, finds the factory,
    /// deserializes and builds; records problems and returns `None` on failure.
    fn component<T: StageObject + ?Sized>(
        &mut self,
        path: &str,
        name: &str,
        value: Spanned<DeValue<'a>>,
        default_type: Option<&str>,
        ctx: &BuildContext<'_>,
    ) -> Option<Named<T>> {
        let table_span = value.span();
        let mut table = match value.into_inner() {
            DeValue::Table(t) => t,
            other => {
                self.problem(
                    table_span,
                    path,
                    format!("expected a table, found a {}", other.type_str()),
                );
                return None;
            }
        };
        let type_key = table.keys().find(|k| k.get_ref().as_ref() == "type").cloned();
        let (type_name, anchor) = match type_key.and_then(|k| table.remove(&k)) {
            Some(v) => {
                let span = v.span();
                match v.get_ref().as_str() {
                    Some(s) => (s.to_owned(), span),
                    None => {
                        self.problem(span, path, "`type` must be a string");
                        return None;
                    }
                }
            }
            None => match default_type {
                Some(t) => (t.to_owned(), table_span.clone()),
                None => {
                    let known = self.registry.type_names::<T>().join(", ");
                    self.problem(
                        table_span,
                        path,
                        format!("missing `type`; known {} types: {}", T::KIND, or_none(&known)),
                    );
                    return None;
                }
            },
        };
        let Some(factory) = self.registry.get::<T>(&type_name) else {
            let known = self.registry.type_names::<T>().join(", ");
            self.problem(
                anchor,
                path,
                format!(
                    "unknown {} type `{type_name}`; known {} types: {}",
                    T::KIND,
                    T::KIND,
                    or_none(&known)
                ),
            );
            return None;
        };
        let section = Section::new(
            path,
            Spanned::new(table_span, DeValue::Table(table)),
            anchor,
            self.source,
        );
        match factory.build(&section, ctx) {
            Ok(component) => Some(Named {
                name: name.to_owned(),
                type_name,
                origin: factory.origin.clone(),
                component,
            }),
            Err(ps) => {
                self.problems.extend(ps.into_iter().map(|p| section.locate(p)));
                None
            }
        }
    }
}

/// `path` relative to `base` (unchanged when absolute or when `base` is `.`).
fn or_none(s: &str) -> &str {
    if s.is_empty() { "(none registered)" } else { s }
}
