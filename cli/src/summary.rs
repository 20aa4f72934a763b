//! What `repo2agent` prints after a command: the run summary, the
//! `run --estimate` table, the plugin list, the `clean` result.

use anyhow::Context;
use repo2agent_core::Registry;
use repo2agent_core::config::RunConfig;
use repo2agent_core::run::pipeline;

/// Removes a finished run's units and says what that freed (`clean`, `run --keep-units=false`).
pub(crate) fn print_cleaned(out: &std::path::Path) -> anyhow::Result<()> {
    let units = out.join(repo2agent_core::run::units::UNITS_DIR);
    match repo2agent_core::run::units::remove_units(out).context("the units were kept")? {
        Some(freed) => println!(
            "units: removed {} ({:.1} MB); `run --resume` starts over from here",
            units.display(),
            freed as f64 / 1e6
        ),
        None => println!("units: none in {}", out.display()),
    }
    Ok(())
}

/// The `run --estimate` table.
pub(crate) fn print_estimate(e: &repo2agent_core::run::estimate::Estimate) {
    let Some(policy) = &e.policy else {
        println!("estimate: no policy configured, so no model calls");
        return;
    };
    if !e.calls_models {
        println!("estimate: the `{policy}` policy makes no model calls");
        return;
    }
    let counted = if e.exact_tokens {
        "prompt tokens counted with the policy's tokenizer"
    } else {
        "prompt tokens approximated as bytes / 4 (set the policy's `tokenizer` for exact counts)"
    };
    println!("estimate of the `{policy}` policy's model calls (none made; {counted}; retries not included):");
    let searched = e.repos.iter().any(|r| r.search.calls > 0);
    let name_width = e.repos.iter().map(|r| r.name.len()).max().unwrap_or(0).max(10);
    print!(
        "{:<name_width$} {:>6} {:>7} {:>14} {:>18}",
        "repository", "files", "calls", "prompt tokens", "completion (max)"
    );
    if searched {
        print!(
            " {:>14} {:>14} {:>18}",
            "rewrite calls", "prompt tokens", "completion (max)"
        );
    }
    println!();
    for r in &e.repos {
        print!(
            "{:<name_width$} {:>6} {:>7} {:>14} {:>18}",
            r.name, r.files, r.policy.calls, r.policy.prompt_tokens, r.policy.max_completion_tokens
        );
        if searched {
            print!(
                " {:>14} {:>14} {:>18}",
                r.search.calls, r.search.prompt_tokens, r.search.max_completion_tokens
            );
        }
        println!();
    }
    let t = &e.total;
    println!(
        "total: {} repositories, {} calls, {} prompt tokens, at most {} completion tokens",
        e.repos.len(),
        t.calls,
        t.prompt_tokens,
        t.max_completion_tokens
    );
}

/// `repo2agent plugins`: every registered component, and the libraries a config loads.
pub(crate) fn print_plugins(registry: &Registry, cfg: Option<&RunConfig>) {
    println!("{:<10} {:<16} {:<40} SUMMARY", "KIND", "TYPE", "ORIGIN");
    for l in registry.list() {
        println!(
            "{:<10} {:<16} {:<40} {}",
            l.kind.name(),
            l.type_name,
            l.origin.to_string(),
            l.summary
        );
    }
    if let Some(cfg) = cfg {
        println!();
        if cfg.plugins.is_empty() {
            println!("{} loads no plugin library", cfg.source);
        }
        for p in &cfg.plugins {
            println!(
                "{} loads {} {} from {} ({} components)",
                cfg.source,
                p.manifest.name,
                p.manifest.version,
                p.path.display(),
                p.manifest.components.len()
            );
        }
    }
}

/// What a run (or `merge`) did, stage by stage.
pub(crate) fn print_run_summary(report: &pipeline::RunReport) {
    print_inputs(report);
    print_simulation(report);
    print_outputs(report);
}

/// What was read: repositories, files, the analysis.
fn print_inputs(report: &pipeline::RunReport) {
    let r = &report.stats.repos;
    println!(
        "processed: {} repositories, {} done, {} empty, {} failed{}{}{}",
        r.total,
        r.done,
        r.empty,
        r.failed.values().sum::<u64>(),
        if r.failed.is_empty() {
            String::new()
        } else {
            format!(" {:?} (run again with --resume to retry them)", r.failed)
        },
        if r.skipped.is_empty() {
            String::new()
        } else {
            format!(", {} skipped {:?}", r.skipped.values().sum::<u64>(), r.skipped)
        },
        match report.resumed {
            0 => String::new(),
            n => format!("; {n} reused from the interrupted run"),
        }
    );
    let s = &report.stats.ingest;
    println!(
        "repositories: {} seen, {} ingested, {} empty, {} failed{}{}",
        s.repos_seen,
        s.repos_ingested,
        s.repos_empty,
        s.repos_failed.values().sum::<u64>(),
        match s.repos_split {
            0 => String::new(),
            n => format!(", {n} over input.max_repo_bytes split into {} packages", s.packages),
        },
        match report.stats.ingest.repos_other_shards {
            0 => String::new(),
            n => format!(", {n} left to other shards"),
        }
    );
    println!("files kept: {} ({} bytes)", s.files_kept, s.bytes_kept);
    for (lang, n) in &s.files_by_language {
        println!("  {lang:<12} {n}");
    }
    if !s.skipped.is_empty() {
        println!("skipped:");
        for (reason, n) in &s.skipped {
            println!("  {reason:<16} {n}");
        }
    }
    let a = &report.stats.analysis;
    for (lang, l) in &a.by_language {
        println!(
            "analyzed {lang}: {} files, {} symbols, {} imports ({} resolved, {} external, {} unresolved)",
            l.files, l.symbols, l.imports, l.imports_resolved, l.imports_external, l.imports_unresolved
        );
    }
    if !a.failed.is_empty() {
        println!("analysis failures: {:?}", a.failed);
    }
}

/// What was simulated: trajectories, model calls, search, thought value.
fn print_simulation(report: &pipeline::RunReport) {
    let sim = &report.stats.simulation;
    if let Some(path) = &report.trajectories_path {
        println!(
            "trajectories: {} written ({} sub-agents, {} reads; plans repaired: {} invented, {} duplicated, {} missing) -> {}",
            sim.trajectories,
            sim.sub_agents,
            sim.reads,
            sim.plan_invented,
            sim.plan_duplicated,
            sim.plan_missing,
            path.display()
        );
    }
    let c = |k: &str| sim.policy.get(k).copied().unwrap_or(0);
    if c("calls") + c("cache_hits") > 0 {
        let (prompt, cached) = (c("prompt_tokens"), c("cached_prompt_tokens"));
        println!(
            "model calls: {} sent ({} retries), {} from the call cache; {} prompt tokens ({:.0}% from the server's prefix cache), {} completion tokens; {} plans ({} on the first attempt), {} template fallbacks",
            c("calls"),
            c("retries"),
            c("cache_hits"),
            prompt,
            100.0 * cached as f64 / prompt.max(1) as f64,
            c("completion_tokens"),
            c("plans"),
            c("plans_first_attempt"),
            c("template_fallbacks"),
        );
    }
    if !sim.grounding_failures.is_empty() || !sim.failed.is_empty() {
        println!(
            "simulation failures: {:?} grounding: {:?}",
            sim.failed, sim.grounding_failures
        );
    }
    if let Some(s) = &report.stats.search {
        println!(
            "search ({}): {} of {} thoughts searched, {} accepted ({:.0}%); code NLL {:.4} -> {:.4} nats/token over {} tokens; {} scorer calls, {} cache hits, {} tokens scored ({} computed), {} policy calls{}{}",
            s.strategy,
            s.thinks_searched,
            s.thinks_eligible,
            s.thinks_accepted,
            100.0 * s.acceptance_rate,
            s.initial_nll_per_token,
            s.final_nll_per_token,
            s.target_tokens,
            s.scorer_calls,
            s.scorer_cache_hits,
            s.scorer_tokens,
            s.scorer_tokens_computed,
            s.policy_calls,
            if s.budget_exhausted > 0 {
                format!("; budget reached in {} repositories", s.budget_exhausted)
            } else {
                String::new()
            },
            if s.failed.is_empty() {
                String::new()
            } else {
                format!("; failed: {:?}", s.failed)
            }
        );
    }
    if let Some(e) = &report.stats.evaluation {
        println!("{}", evaluation_line(e));
        if e.files > 0 && e.value_after_search_per_token < 0.0 {
            println!(
                "warning: the thoughts make the real code less likely ({:+.3} nats per code token under `{}`); see docs/method.md, \"Thought value\"",
                e.value_after_search_per_token, e.scorer
            );
        }
    }
}

/// What was written: documents, tokens and shards, where the stats are.
fn print_outputs(report: &pipeline::RunReport) {
    if report.stats.format.documents > 0 {
        println!(
            "formatted: {} documents, characters by role {:?}",
            report.stats.format.documents, report.stats.format.chars_by_role
        );
    }
    if let (Some(t), Some(dir)) = (&report.stats.tokens, &report.shards_dir) {
        println!(
            "tokens: {} in {} sequences of {} ({} documents, {} split into {} chunks; masked {:.1}%, padding {:.1}%; tokenizer {}{}, vocab {}) -> {}",
            t.pack.tokens,
            t.pack.sequences,
            t.seq_len,
            t.pack.documents,
            t.pack.documents_split,
            t.pack.chunks,
            100.0 * t.masked_share,
            100.0 * t.padding_share,
            t.tokenizer,
            t.fast_path.as_ref().map(|f| format!(" ({f})")).unwrap_or_default(),
            t.vocab_size,
            dir.display()
        );
        if !t.failed.is_empty() {
            println!("documents not tokenized: {:?}", t.failed);
        }
    }
    println!(
        "stats: {}; manifest: {}",
        report.stats_path.display(),
        report.manifest_path.display()
    );
    let peak = repo2agent_trainer::device::peak_rss_mb();
    if peak > 0.0 {
        println!("peak memory: {peak:.0} MB");
    }
}

/// The run summary's thought-value line.
fn evaluation_line(e: &repo2agent_core::stats::EvaluationStats) -> String {
    let languages: Vec<String> = e
        .by_language
        .iter()
        .map(|(l, v)| format!("{l} {:+.3} ({} files)", v.value_per_token, v.files))
        .collect();
    format!(
        "thought value ({}): {:+.3} nats/code token ({:.3} -> {:.3}) over {} files, {} code tokens{}; helped {} of {} files; by language: {}; {} scorer calls, {} cache hits, {} tokens scored{}{}",
        e.scorer,
        e.value_per_token,
        e.nll_without_per_token,
        e.nll_with_per_token,
        e.files,
        e.code_tokens,
        if e.search_gain_per_token != 0.0 {
            format!(
                "; after search {:+.3} (gain {:+.3})",
                e.value_after_search_per_token, e.search_gain_per_token
            )
        } else {
            String::new()
        },
        e.files_helped,
        e.files,
        if languages.is_empty() {
            "none".to_owned()
        } else {
            languages.join(", ")
        },
        e.scorer_calls,
        e.scorer_cache_hits,
        e.scorer_tokens,
        if e.budget_exhausted > 0 {
            format!(
                "; budget reached in {} repositories ({} of {} files scored)",
                e.budget_exhausted, e.files, e.files_eligible
            )
        } else {
            String::new()
        },
        if e.failed.is_empty() {
            String::new()
        } else {
            format!("; failed: {:?}", e.failed)
        }
    )
}
