//! `greedy-rewrite`, the paper's search (docs/method.md step 5): for each thought
//! that precedes a Write, R rounds; each round the policy proposes K rewrites
//! of the current best thought, and the best candidate replaces it only if the
//! real code's NLL after it is lower. Defaults K = 2, R = 3.

use crate::options::{Options, Run};
use repo2agent_core::StageError;
use repo2agent_core::model::{Candidate, SearchRecord, ThinkSearch, Trajectory};
use repo2agent_core::stage::{SearchContext, SearchStrategy};

/// The strategy.
#[derive(Debug)]
pub struct GreedyRewrite {
    /// Scorer, K, R, window, budgets, cache.
    pub options: Options,
}

#[async_trait::async_trait]
impl SearchStrategy for GreedyRewrite {
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
            let mut current = initial.clone();
            let mut record: Option<ThinkSearch> = None;
            let mut best = f64::INFINITY;
            for round in 0..self.options.rounds {
                if round > 0 && !run.meter.can_spend() {
                    break;
                }
                let proposed = run.propose(&slot, round, &current, self.options.candidates).await?;
                // Round 0 scores the initial thought in the same batch.
                let mut texts: Vec<&str> = Vec::new();
                if record.is_none() {
                    texts.push(&initial);
                }
                texts.extend(proposed.iter().map(String::as_str));
                if texts.is_empty() {
                    break;
                }
                let scores = run.score(&slot, &texts).await?;
                let mut scores = scores.into_iter();
                let r = match &mut record {
                    Some(r) => r,
                    None => {
                        let s = scores.next().unwrap_or_default();
                        best = s.sum();
                        record.insert(ThinkSearch {
                            agent: slot.agent.clone(),
                            step: slot.step,
                            initial_nll: best,
                            target_tokens: s.token_nll.len() as u64,
                            initial_think_nll: None,
                            initial_log_weight: None,
                            candidates: Vec::new(),
                            accepted: None,
                        })
                    }
                };
                let mut round_best: Option<(usize, f64)> = None;
                for (text, s) in proposed.iter().zip(scores) {
                    let nll = s.sum();
                    r.candidates.push(Candidate {
                        text: text.clone(),
                        nll,
                        round,
                        think_nll: None,
                        log_weight: None,
                    });
                    if round_best.is_none_or(|(_, b)| nll < b) {
                        round_best = Some((r.candidates.len() - 1, nll));
                    }
                }
                match round_best {
                    Some((i, nll)) if nll < best => {
                        best = nll;
                        r.accepted = Some(i);
                        current.clone_from(&r.candidates[i].text);
                    }
                    Some(_) => {}
                    None => break, // the policy had nothing to offer
                }
            }
            // Round 0 always scores the initial thought, so there is a record.
            let Some(r) = record else { break };
            run.record(&slot, r, current);
        }
        Ok(Some(run.finish(trajectory, "greedy-rewrite")))
    }
}
