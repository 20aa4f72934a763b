//! The ablation's results: one row per corpus, one per evaluated model, and
//! the Markdown table of both.

use crate::heldout::{HeldoutReport, HeldoutSettings};
use serde::{Deserialize, Serialize};

/// One corpus's numbers.
#[derive(Debug, Serialize, Deserialize)]
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
}

/// The Markdown table: the corpora, then each model on the held-out repositories.
pub fn markdown(corpora: &[CorpusResult], evals: &[(String, HeldoutReport)], s: &HeldoutSettings) -> String {
    let mut t = String::new();
    t.push_str("| corpus | documents | tokens (trained) | steps | epochs | final loss |\n|---|---|---|---|---|---|\n");
    for c in corpora {
        t.push_str(&format!(
            "| {} | {} | {} ({}) | {} | {:.2} | {} |\n",
            c.name,
            c.documents,
            c.tokens,
            c.trained_tokens,
            c.steps,
            c.epochs,
            c.final_loss.map_or("–".into(), |l| format!("{l:.4}"))
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
        t.push_str(&format!(
            "| {name} | {:.4} | {:.4} | {:.4} | {:+.4} |",
            r.code.nll, r.cross_file.with_deps, r.cross_file.without_deps, r.cross_file.gain
        ));
        for p in &r.retrieval {
            t.push_str(&format!(" {:.2} ({:.2}) |", p.accuracy, p.value_nll));
        }
        t.push('\n');
    }
    t.push_str(
        "\nNLL in nats per token on the held-out repositories; retrieval: exact-match accuracy of the needle's value (its NLL in parentheses).\n",
    );
    t
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::heldout::{CodeNll, CrossFileNll, RetrievalResult};

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
        let t = markdown(&[corpus], &[("initial".into(), report)], &settings);
        assert!(t.contains("| raw-repos | 3 | 1200 (1000) | 4 | 2.00 | 2.5000 |"), "{t}");
        assert!(t.contains("| retrieval @256 | retrieval @512 |"), "{t}");
        assert!(
            t.contains("| initial | 1.2500 | 1.0000 | 1.5000 | +0.5000 | 0.50 (3.00) | 0.50 (3.00) |"),
            "{t}"
        );
    }
}
