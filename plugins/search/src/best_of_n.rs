//! `best-of-n`: the policy proposes N thoughts once; the one after which the
//! real code is likeliest replaces the initial thought if it beats it.

use crate::options::{Options, Run};
use repo2agent_core::StageError;
use repo2agent_core::model::{Candidate, SearchRecord, ThinkSearch, Trajectory};
use repo2agent_core::stage::{SearchContext, SearchStrategy};

/// The strategy.
#[derive(Debug)]
pub struct BestOfN {
    /// Scorer, N, window, budgets, cache.
    pub options: Options,
}

#[async_trait::async_trait]
impl SearchStrategy for BestOfN {
    fn rewrite_bound(&self) -> Option<repo2agent_core::stage::RewriteBound> {
        Some(self.options.rewrite_bound())
    }

    async fn search(
        &self,
        trajectory: &mut Trajectory,
        context: SearchContext<'_>,
    ) -> Result<Option<SearchRecord>, StageError> {
        let mut run = Run::start(&self.options, trajectory, context)?;
        while let Some((slot, initial)) = run.next_slot() {
            let texts = run.particles(&slot, initial, self.options.candidates).await?;
            let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
            let scores = run.score(&slot, &refs).await?;
            let (initial, proposed) = (&texts[0], &texts[1..]);
            let initial_nll = scores.first().map_or(0.0, |s| s.sum());
            let mut record = ThinkSearch {
                agent: slot.agent.clone(),
                step: slot.step,
                initial_nll,
                target_tokens: scores.first().map_or(0, |s| s.token_nll.len() as u64),
                initial_think_nll: None,
                initial_log_weight: None,
                candidates: proposed
                    .iter()
                    .zip(&scores[1..])
                    .map(|(text, s)| Candidate {
                        text: text.clone(),
                        nll: s.sum(),
                        round: 0,
                        think_nll: None,
                        log_weight: None,
                    })
                    .collect(),
                accepted: None,
            };
            let best = record
                .candidates
                .iter()
                .enumerate()
                .min_by(|a, b| a.1.nll.total_cmp(&b.1.nll))
                .filter(|(_, c)| c.nll < initial_nll)
                .map(|(i, _)| i);
            record.accepted = best;
            let kept = best.map_or_else(|| initial.clone(), |i| record.candidates[i].text.clone());
            run.record(&slot, record, kept);
        }
        Ok(Some(run.finish(trajectory, "best-of-n")))
    }
}
