//! The ablation's results: one row per corpus, one per evaluated model, and
//! the Markdown table of both.

use crate::data::SplitMix64;
use crate::heldout::{HeldoutReport, HeldoutSettings, HeldoutUnits, RepoHeldout};
use serde::{Deserialize, Serialize};

/// Bootstrap resamples behind every interval.
pub const BOOTSTRAP_ROUNDS: usize = 1000;

/// One corpus's numbers.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CorpusResult {
    /// The corpus's name.
    pub name: String,
    /// Repositories trained on.
    pub repos: u64,
    /// Documents in its shards.
    pub documents: u64,
    /// Tokens in the corpus's shards (real, not padding).
    pub tokens: u64,
    /// Of them with loss weight > 0.
    pub trained_tokens: u64,
    /// Packed sequences.
    pub sequences: u64,
    /// Optimizer steps.
    pub steps: u64,
    /// How many times the training went over the corpus.
    pub epochs: f64,
    /// Sequence positions trained on (`steps × batch × seq_len`).
    pub positions: u64,
    /// Wall time of the training.
    pub train_seconds: f64,
    /// The last step's loss (the mean over the training seeds).
    pub final_loss: Option<f64>,
    /// With several training seeds: each seed's last loss, in seed order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub final_losses: Vec<f64>,
    /// What the corpus's thoughts are worth, from its run's `[evaluate]`
    /// (`stats.json` `evaluation`); `None` without one (Raw-Repos has no thoughts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thought_value: Option<ThoughtValue>,
}

/// A corpus's thought value (nats per code token, see docs/method.md).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct ThoughtValue {
    /// Files scored.
    pub files: u64,
    /// Of the policy's thoughts.
    pub initial: f64,
    /// Of the thoughts the corpus trains on (after its search; the policy's when none ran).
    pub trained: f64,
}

/// A corpus trained with several seeds: each seed's headline numbers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SeedGroup {
    /// The corpus.
    pub corpus: String,
    /// Its training seeds, in order.
    pub seeds: Vec<u64>,
    /// Each seed's model's code NLL on the held-out repositories.
    pub code_nll: Vec<f64>,
    /// Each seed's model's cross-file NLL with the imports in context.
    pub cross_file_nll: Vec<f64>,
}

/// The mean and the sample standard deviation of `v` (0 for one value).
pub fn mean_sd(v: &[f64]) -> (f64, f64) {
    let n = v.len().max(1) as f64;
    let mean = v.iter().sum::<f64>() / n;
    let var = if v.len() > 1 {
        v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0)
    } else {
        0.0
    };
    (mean, var.sqrt())
}

/// A report's overall measures, as a repository's.
fn overall(r: &HeldoutReport) -> RepoHeldout {
    RepoHeldout {
        code: r.code,
        cross_file: r.cross_file,
        cross_probe: r.cross_probe,
        retrieval: r.retrieval.clone(),
        ..RepoHeldout::default()
    }
}

/// The mean of several models' measures of the same repository (or of the
/// same reports overall); name and counts are the first's.
fn measures_mean(each: &[RepoHeldout]) -> RepoHeldout {
    let mut o = each.first().cloned().unwrap_or_default();
    let n = each.len().max(1) as f64;
    let mean = |f: &dyn Fn(&RepoHeldout) -> f64| each.iter().map(f).sum::<f64>() / n;
    o.code.nll = mean(&|r| r.code.nll);
    o.code.ppl = o.code.nll.exp();
    o.cross_file.with_deps = mean(&|r| r.cross_file.with_deps);
    o.cross_file.without_deps = mean(&|r| r.cross_file.without_deps);
    o.cross_file.gain = mean(&|r| r.cross_file.gain);
    o.cross_probe.exact_with_deps = mean(&|r| r.cross_probe.exact_with_deps);
    o.cross_probe.exact_without_deps = mean(&|r| r.cross_probe.exact_without_deps);
    o.cross_probe.nll_with_deps = mean(&|r| r.cross_probe.nll_with_deps);
    o.cross_probe.nll_without_deps = mean(&|r| r.cross_probe.nll_without_deps);
    for (k, p) in o.retrieval.iter_mut().enumerate() {
        p.accuracy = mean(&|r| r.retrieval.get(k).map_or(0.0, |x| x.accuracy));
        p.value_nll = mean(&|r| r.retrieval.get(k).map_or(0.0, |x| x.value_nll));
    }
    o
}

/// The mean of several models' reports on the same held-out units (one
/// corpus trained with several seeds): every measure, every repository's and
/// every unit averaged, so that the intervals and the paired differences
/// compare corpora with the noise of a single training averaged out. Token,
/// file and probe counts are the first report's (the units are the same).
pub fn seed_mean(reports: &[&HeldoutReport]) -> HeldoutReport {
    let Some(first) = reports.first() else {
        return HeldoutReport::default();
    };
    let mut out = (*first).clone();
    let m = measures_mean(&reports.iter().map(|r| overall(r)).collect::<Vec<_>>());
    (out.code, out.cross_file, out.cross_probe, out.retrieval) = (m.code, m.cross_file, m.cross_probe, m.retrieval);
    for (i, o) in out.repos.iter_mut().enumerate() {
        let each: Vec<RepoHeldout> = reports
            .iter()
            .map(|r| r.repos.get(i).cloned().unwrap_or_default())
            .collect();
        let m = measures_mean(&each);
        (o.code, o.cross_file, o.cross_probe, o.retrieval) = (m.code, m.cross_file, m.cross_probe, m.retrieval);
    }
    let n = reports.len() as f64;
    let u = &mut out.units;
    for (i, c) in u.code.iter_mut().enumerate() {
        c.0 = reports
            .iter()
            .map(|r| r.units.code.get(i).map_or(0.0, |x| x.0))
            .sum::<f64>()
            / n;
    }
    for (i, c) in u.cross_file.iter_mut().enumerate() {
        let at = |r: &&HeldoutReport| r.units.cross_file.get(i).copied().unwrap_or_default();
        c.0 = reports.iter().map(|r| at(r).0).sum::<f64>() / n;
        c.1 = reports.iter().map(|r| at(r).1).sum::<f64>() / n;
    }
    // A name's exact match over seeds is kept only where every seed got it.
    for (i, c) in u.cross_probe.iter_mut().enumerate() {
        let at = |r: &&HeldoutReport| r.units.cross_probe.get(i).copied().unwrap_or_default();
        c.0 = reports.iter().map(|r| at(r).0).sum::<f64>() / n;
        c.1 = reports.iter().map(|r| at(r).1).sum::<f64>() / n;
        c.2 = reports.iter().all(|r| at(r).2);
        c.3 = reports.iter().all(|r| at(r).3);
    }
    for (k, probes) in u.retrieval.iter_mut().enumerate() {
        for (i, v) in probes.iter_mut().enumerate() {
            *v = reports
                .iter()
                .map(|r| r.units.retrieval.get(k).and_then(|p| p.get(i)).copied().unwrap_or(0.0))
                .sum::<f64>()
                / n;
        }
    }
    out
}

/// The spread over training seeds, one row per corpus trained with several.
fn seed_spread(groups: &[SeedGroup]) -> String {
    if groups.is_empty() {
        return String::new();
    }
    let mut t = String::from(
        "\n| corpus | seeds | code NLL per seed | mean ± sd | cross-file NLL with deps per seed | mean ± sd |\n|---|---|---|---|---|---|\n",
    );
    let list = |v: &[f64]| v.iter().map(|x| format!("{x:.4}")).collect::<Vec<_>>().join(", ");
    for g in groups {
        let (cm, cs) = mean_sd(&g.code_nll);
        let (xm, xs) = mean_sd(&g.cross_file_nll);
        t.push_str(&format!(
            "| {} | {} | {} | {cm:.4} ± {cs:.4} | {} | {xm:.4} ± {xs:.4} |\n",
            g.corpus,
            g.seeds.iter().map(u64::to_string).collect::<Vec<_>>().join(", "),
            list(&g.code_nll),
            list(&g.cross_file_nll),
        ));
    }
    t.push_str(
        "\nSpread over training seeds (sample standard deviation). A corpus trained with several seeds appears above as the mean of its seeds' models, unit by unit.\n",
    );
    t
}

/// The Markdown table: the corpora, then each model on the held-out
/// repositories, the differences between them and, with several training
/// seeds, the spread over seeds.
pub fn markdown(
    corpora: &[CorpusResult],
    evals: &[(String, HeldoutReport)],
    s: &HeldoutSettings,
    seeds: &[SeedGroup],
) -> String {
    let mut t = String::new();
    t.push_str(
        "| corpus | documents | tokens (trained) | steps | epochs | final loss | thought value (after search) |\n|---|---|---|---|---|---|---|\n",
    );
    for c in corpora {
        t.push_str(&format!(
            "| {} | {} | {} ({}) | {} | {:.2} | {} | {} |\n",
            c.name,
            c.documents,
            c.tokens,
            c.trained_tokens,
            c.steps,
            c.epochs,
            c.final_loss.map_or("–".into(), |l| format!("{l:.4}")),
            c.thought_value.map_or("–".into(), |v| format!(
                "{:+.3} ({:+.3}), {} files",
                v.initial, v.trained, v.files
            ))
        ));
    }
    t.push('\n');
    t.push_str(
        "| model | code NLL | cross-file NLL with deps | without | gain | cross-file probe with deps (without) |",
    );
    for l in &s.retrieval_lengths {
        t.push_str(&format!(" retrieval @{l} |"));
    }
    t.push_str("\n|---|---|---|---|---|---|");
    for _ in &s.retrieval_lengths {
        t.push_str("---|");
    }
    t.push('\n');
    for (name, r) in evals {
        let code = interval(&r.units, s.seed, Measure::Code);
        t.push_str(&format!(
            "| {name} | {:.4}{} | {:.4} | {:.4} | {:+.4} |",
            r.code.nll,
            code.map_or(String::new(), |(lo, hi)| format!(" [{lo:.4}, {hi:.4}]")),
            r.cross_file.with_deps,
            r.cross_file.without_deps,
            r.cross_file.gain
        ));
        let p = r.cross_probe;
        t.push_str(&if p.probes == 0 {
            " – |".to_owned()
        } else {
            format!(
                " {:.2} ({:.2}) of {} |",
                p.exact_with_deps, p.exact_without_deps, p.probes
            )
        });
        for p in &r.retrieval {
            t.push_str(&format!(" {:.2} ({:.2}) |", p.accuracy, p.value_nll));
        }
        t.push('\n');
    }
    t.push_str(
        "\nNLL in nats per token on the held-out repositories (code NLL with its 95 % bootstrap interval over the held-out windows); cross-file probe: exact-match accuracy of the names a file takes from the files it imports, at their first use, with those files in context (without them in parentheses) and how many names; retrieval: exact-match accuracy of the needle's value (its NLL in parentheses).\n",
    );
    t.push_str(&differences(evals, s));
    t.push_str(&seed_spread(seeds));
    t
}

/// What a paired interval is taken over.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Measure {
    /// Code NLL: token-weighted over windows.
    Code,
    /// Cross-file NLL with the imports in context: the mean over files.
    CrossFile,
    /// The cross-file probe's name NLL with the imports in context: the mean over names.
    CrossProbe,
    /// The retrieval value's NLL at the `k`-th length: the mean over probes.
    Retrieval(usize),
}

impl Measure {
    /// How many units the measure has in `u`.
    fn units(self, u: &HeldoutUnits) -> usize {
        match self {
            Measure::Code => u.code.len(),
            Measure::CrossFile => u.cross_file.len(),
            Measure::CrossProbe => u.cross_probe.len(),
            Measure::Retrieval(k) => u.retrieval.get(k).map_or(0, Vec::len),
        }
    }

    /// The measure over all units.
    fn mean(self, u: &HeldoutUnits) -> f64 {
        self.value(u, &(0..self.units(u)).collect::<Vec<_>>())
    }

    /// The measure over the units at `picks` (with repeats).
    fn value(self, u: &HeldoutUnits, picks: &[usize]) -> f64 {
        match self {
            Measure::Code => {
                let (sum, n) = picks
                    .iter()
                    .fold((0f64, 0u64), |(s, n), &i| (s + u.code[i].0, n + u.code[i].1));
                sum / n.max(1) as f64
            }
            Measure::CrossFile => picks.iter().map(|&i| u.cross_file[i].0).sum::<f64>() / picks.len().max(1) as f64,
            Measure::CrossProbe => picks.iter().map(|&i| u.cross_probe[i].0).sum::<f64>() / picks.len().max(1) as f64,
            Measure::Retrieval(k) => picks.iter().map(|&i| u.retrieval[k][i]).sum::<f64>() / picks.len().max(1) as f64,
        }
    }
}

/// The 95 % bootstrap interval of `measure` on one model's units (seeded,
/// [`BOOTSTRAP_ROUNDS`] resamples); `None` without units.
pub fn interval(u: &HeldoutUnits, seed: u64, measure: Measure) -> Option<(f64, f64)> {
    bootstrap(measure.units(u), seed, |picks| measure.value(u, picks))
}

/// The 95 % paired bootstrap interval of `b − a`: each resample draws the same
/// units for both models; `None` when they have no units or not the same number.
pub fn paired_difference(a: &HeldoutUnits, b: &HeldoutUnits, seed: u64, measure: Measure) -> Option<(f64, f64)> {
    let n = measure.units(b);
    if measure.units(a) != n {
        return None;
    }
    bootstrap(n, seed, |picks| measure.value(b, picks) - measure.value(a, picks))
}

/// The 2.5th and 97.5th percentiles of `stat` over [`BOOTSTRAP_ROUNDS`]
/// seeded resamples (with repeats) of `n` units.
fn bootstrap(n: usize, seed: u64, stat: impl Fn(&[usize]) -> f64) -> Option<(f64, f64)> {
    if n == 0 {
        return None;
    }
    let mut rng = SplitMix64(seed ^ 0xb007_57a9);
    let mut picks = vec![0usize; n];
    let mut stats: Vec<f64> = (0..BOOTSTRAP_ROUNDS)
        .map(|_| {
            for p in &mut picks {
                *p = (rng.next_u64() % n as u64) as usize;
            }
            stat(&picks)
        })
        .collect();
    stats.sort_by(f64::total_cmp);
    let at = |q: f64| stats[((q * (BOOTSTRAP_ROUNDS - 1) as f64).round() as usize).min(BOOTSTRAP_ROUNDS - 1)];
    Some((at(0.025), at(0.975)))
}

/// The differences between the trained models (each later corpus minus each
/// earlier one: every variant against Raw-Repos, then the agent variants
/// against each other), each with its paired interval; `*` where the
/// interval excludes 0.
fn differences(evals: &[(String, HeldoutReport)], s: &HeldoutSettings) -> String {
    let trained: Vec<&(String, HeldoutReport)> = evals.iter().filter(|(n, _)| n != "initial").collect();
    if trained.len() < 2 {
        return String::new();
    }
    let mut measures = vec![
        (Measure::Code, "code NLL".to_owned()),
        (Measure::CrossFile, "cross-file NLL with deps".to_owned()),
        (Measure::CrossProbe, "cross-file probe NLL".to_owned()),
    ];
    for (k, l) in s.retrieval_lengths.iter().enumerate() {
        measures.push((Measure::Retrieval(k), format!("retrieval NLL @{l}")));
    }
    let mut t = String::from("\n| difference |");
    for (_, name) in &measures {
        t.push_str(&format!(" {name} |"));
    }
    t.push_str("\n|---|");
    t.push_str(&"---|".repeat(measures.len()));
    t.push('\n');
    for (j, (b_name, b)) in trained.iter().enumerate() {
        for (a_name, a) in &trained[..j] {
            t.push_str(&format!("| {b_name} − {a_name} |"));
            for (m, _) in &measures {
                let cell = match paired_difference(&a.units, &b.units, s.seed, *m) {
                    Some((lo, hi)) => {
                        let d = m.mean(&b.units) - m.mean(&a.units);
                        let star = if lo > 0.0 || hi < 0.0 { " *" } else { "" };
                        format!(" {d:+.4} [{lo:+.4}, {hi:+.4}]{star} |")
                    }
                    None => " – |".to_owned(),
                };
                t.push_str(&cell);
            }
            t.push('\n');
        }
    }
    t.push_str(&format!(
        "\nDifferences in nats per token (negative: the later model predicts better), with 95 % paired bootstrap intervals ({BOOTSTRAP_ROUNDS} resamples of the held-out windows, files or probes, seed {}); * marks an interval that excludes 0.\n",
        s.seed
    ));
    t
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::heldout::{CodeNll, CrossFileNll, CrossFileProbe, RetrievalResult};

    fn units(code: &[(f64, u64)]) -> HeldoutUnits {
        HeldoutUnits {
            code: code.to_vec(),
            cross_file: code.iter().map(|(s, n)| (s / *n as f64, 0.0)).collect(),
            retrieval: vec![Vec::new()],
            cross_probe: code
                .iter()
                .map(|(s, n)| (2.0 * s / *n as f64, 4.0, true, false))
                .collect(),
        }
    }

    #[test]
    fn paired_intervals_see_a_shift_and_not_noise() {
        let a: Vec<(f64, u64)> = (0..40).map(|i| (100.0 + f64::from(i % 7) * 10.0, 50)).collect();
        // The same windows, each 0.1 nats per token better.
        let b: Vec<(f64, u64)> = a.iter().map(|(s, n)| (s - 5.0, *n)).collect();
        let (ua, ub) = (units(&a), units(&b));
        let (lo, hi) = paired_difference(&ua, &ub, 1, Measure::Code).unwrap();
        assert!((lo + 0.1).abs() < 1e-9 && (hi + 0.1).abs() < 1e-9, "{lo} {hi}");
        let (lo, hi) = paired_difference(&ua, &ua, 1, Measure::Code).unwrap();
        assert_eq!((lo, hi), (0.0, 0.0));
        // One model alone: an interval around its mean, the same for the same seed.
        let (lo, hi) = interval(&ua, 1, Measure::Code).unwrap();
        let mean = a.iter().map(|x| x.0).sum::<f64>() / (a.len() * 50) as f64;
        assert!(lo < mean && mean < hi, "{lo} {mean} {hi}");
        assert_eq!(interval(&ua, 1, Measure::Code), Some((lo, hi)));
        // Different unit counts or none: no interval.
        assert_eq!(paired_difference(&ua, &units(&a[..10]), 1, Measure::Code), None);
        assert_eq!(paired_difference(&ua, &ub, 1, Measure::Retrieval(0)), None);
    }

    #[test]
    fn the_table_has_a_row_per_corpus_and_model_and_a_column_per_length() {
        let corpus = CorpusResult {
            name: "raw-repos".into(),
            repos: 3,
            documents: 3,
            tokens: 1200,
            trained_tokens: 1000,
            sequences: 2,
            steps: 4,
            epochs: 2.0,
            positions: 4096,
            train_seconds: 1.0,
            final_loss: Some(2.5),
            final_losses: Vec::new(),
            thought_value: None,
        };
        let agent = CorpusResult {
            name: "repo2agent".into(),
            thought_value: Some(ThoughtValue {
                files: 12,
                initial: 0.25,
                trained: 0.3125,
            }),
            ..corpus.clone()
        };
        let settings = HeldoutSettings {
            retrieval_lengths: vec![256, 512],
            ..HeldoutSettings::default()
        };
        let report = HeldoutReport {
            code: CodeNll {
                nll: 1.25,
                ..CodeNll::default()
            },
            cross_file: CrossFileNll {
                with_deps: 1.0,
                without_deps: 1.5,
                gain: 0.5,
                ..CrossFileNll::default()
            },
            retrieval: [256, 512]
                .map(|length| RetrievalResult {
                    length,
                    probes: 8,
                    accuracy: 0.5,
                    value_nll: 3.0,
                })
                .to_vec(),
            ..HeldoutReport::default()
        };
        let mut trained = report.clone();
        trained.units = units(&[(120.0, 100), (80.0, 100), (100.0, 100)]);
        trained.cross_probe = CrossFileProbe {
            probes: 12,
            exact_with_deps: 0.75,
            exact_without_deps: 0.25,
            nll_with_deps: 0.5,
            nll_without_deps: 2.0,
        };
        let mut better = trained.clone();
        better.units = units(&[(100.0, 100), (60.0, 100), (80.0, 100)]);
        let evals = [
            ("initial".to_owned(), report),
            ("raw-repos".to_owned(), trained),
            ("repo2agent".to_owned(), better),
        ];
        let t = markdown(&[corpus, agent], &evals, &settings, &[]);
        assert!(t.contains("| raw-repos | 1.2500 [0.8000, 1.2000] |"), "{t}");
        assert!(
            t.contains(
                "| repo2agent − raw-repos | -0.2000 [-0.2000, -0.2000] * | -0.2000 [-0.2000, -0.2000] * | -0.4000 [-0.4000, -0.4000] * | – | – |"
            ),
            "{t}"
        );
        assert!(
            t.contains("| raw-repos | 3 | 1200 (1000) | 4 | 2.00 | 2.5000 | – |"),
            "{t}"
        );
        assert!(
            t.contains("| repo2agent | 3 | 1200 (1000) | 4 | 2.00 | 2.5000 | +0.250 (+0.312), 12 files |"),
            "{t}"
        );
        assert!(t.contains("| retrieval @256 | retrieval @512 |"), "{t}");
        assert!(
            t.contains("| initial | 1.2500 | 1.0000 | 1.5000 | +0.5000 | – | 0.50 (3.00) | 0.50 (3.00) |"),
            "{t}"
        );
        assert!(
            t.contains("| raw-repos | 1.2500 [0.8000, 1.2000] | 1.0000 | 1.5000 | +0.5000 | 0.75 (0.25) of 12 |"),
            "{t}"
        );
    }

    #[test]
    fn several_seeds_average_unit_by_unit_and_show_their_spread() {
        let report = |nll: f64, code: &[(f64, u64)]| HeldoutReport {
            code: CodeNll {
                nll,
                ppl: nll.exp(),
                tokens: 300,
                windows: 3,
            },
            cross_file: CrossFileNll {
                with_deps: nll - 0.5,
                without_deps: nll,
                gain: 0.5,
                ..CrossFileNll::default()
            },
            retrieval: vec![RetrievalResult {
                length: 256,
                probes: 2,
                accuracy: nll / 4.0,
                value_nll: nll,
            }],
            cross_probe: CrossFileProbe {
                probes: 2,
                exact_with_deps: nll / 2.0,
                ..CrossFileProbe::default()
            },
            units: HeldoutUnits {
                retrieval: vec![vec![nll, nll + 1.0]],
                ..units(code)
            },
            ..HeldoutReport::default()
        };
        let a = report(1.0, &[(120.0, 100), (80.0, 100)]);
        let b = report(2.0, &[(100.0, 100), (60.0, 100)]);
        let m = seed_mean(&[&a, &b]);
        assert_eq!(m.code.nll, 1.5);
        assert_eq!((m.code.tokens, m.code.windows), (300, 3), "the same units");
        assert_eq!(m.cross_file.with_deps, 1.0);
        assert_eq!((m.retrieval[0].accuracy, m.retrieval[0].value_nll), (0.375, 1.5));
        assert_eq!(m.units.code, [(110.0, 100), (70.0, 100)]);
        assert_eq!(m.units.cross_file, [(1.1, 0.0), (0.7, 0.0)]);
        assert_eq!(m.units.retrieval, [vec![1.5, 2.5]]);
        assert_eq!((m.cross_probe.probes, m.cross_probe.exact_with_deps), (2, 0.75));
        assert_eq!(m.units.cross_probe, [(2.2, 4.0, true, false), (1.4, 4.0, true, false)]);
        assert_eq!(mean_sd(&[1.0, 2.0, 3.0]), (2.0, 1.0));
        assert_eq!(mean_sd(&[4.0]), (4.0, 0.0));

        let settings = HeldoutSettings {
            retrieval_lengths: vec![256],
            ..HeldoutSettings::default()
        };
        let group = SeedGroup {
            corpus: "repo2agent".into(),
            seeds: vec![0, 5],
            code_nll: vec![1.0, 2.0],
            cross_file_nll: vec![0.5, 1.5],
        };
        let t = markdown(&[], &[("repo2agent".into(), m)], &settings, &[group]);
        assert!(
            t.contains("| repo2agent | 0, 5 | 1.0000, 2.0000 | 1.5000 ± 0.7071 | 0.5000, 1.5000 | 1.0000 ± 0.7071 |"),
            "{t}"
        );
        assert!(
            !markdown(&[], &[], &settings, &[]).contains("seeds"),
            "no spread with one seed"
        );
    }
}
