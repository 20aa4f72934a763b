//! The ablation's results: one row per corpus, one per evaluated model, and
//! the Markdown table of both.

use crate::data::SplitMix64;
use crate::heldout::{HeldoutReport, HeldoutSettings, HeldoutUnits};
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
    /// The last step's loss.
    pub final_loss: Option<f64>,
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

/// The Markdown table: the corpora, then each model on the held-out repositories.
pub fn markdown(corpora: &[CorpusResult], evals: &[(String, HeldoutReport)], s: &HeldoutSettings) -> String {
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
    t.push_str("| model | code NLL | cross-file NLL with deps | without | gain |");
    for l in &s.retrieval_lengths {
        t.push_str(&format!(" retrieval @{l} |"));
    }
    t.push_str("\n|---|---|---|---|---|");
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
        for p in &r.retrieval {
            t.push_str(&format!(" {:.2} ({:.2}) |", p.accuracy, p.value_nll));
        }
        t.push('\n');
    }
    t.push_str(
        "\nNLL in nats per token on the held-out repositories (code NLL with its 95 % bootstrap interval over the held-out windows); retrieval: exact-match accuracy of the needle's value (its NLL in parentheses).\n",
    );
    t.push_str(&differences(evals, s));
    t
}

/// What a paired interval is taken over.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Measure {
    /// Code NLL: token-weighted over windows.
    Code,
    /// Cross-file NLL with the imports in context: the mean over files.
    CrossFile,
    /// The retrieval value's NLL at the `k`-th length: the mean over probes.
    Retrieval(usize),
}

impl Measure {
    /// How many units the measure has in `u`.
    fn units(self, u: &HeldoutUnits) -> usize {
        match self {
            Measure::Code => u.code.len(),
            Measure::CrossFile => u.cross_file.len(),
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
    use crate::heldout::{CodeNll, CrossFileNll, RetrievalResult};

    fn units(code: &[(f64, u64)]) -> HeldoutUnits {
        HeldoutUnits {
            code: code.to_vec(),
            cross_file: code.iter().map(|(s, n)| (s / *n as f64, 0.0)).collect(),
            retrieval: vec![Vec::new()],
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
        let mut better = trained.clone();
        better.units = units(&[(100.0, 100), (60.0, 100), (80.0, 100)]);
        let evals = [
            ("initial".to_owned(), report),
            ("raw-repos".to_owned(), trained),
            ("repo2agent".to_owned(), better),
        ];
        let t = markdown(&[corpus, agent], &evals, &settings);
        assert!(t.contains("| raw-repos | 1.2500 [0.8000, 1.2000] |"), "{t}");
        assert!(
            t.contains(
                "| repo2agent − raw-repos | -0.2000 [-0.2000, -0.2000] * | -0.2000 [-0.2000, -0.2000] * | – | – |"
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
            t.contains("| initial | 1.2500 | 1.0000 | 1.5000 | +0.5000 | 0.50 (3.00) | 0.50 (3.00) |"),
            "{t}"
        );
    }
}
