//! `importance` (BoLT-style, "Reasoning to Learn from Latent Thoughts"): the
//! initial thought and N proposals are particles z; each is weighted by
//! log p(z, x) − log q(z | x) = −NLL(z | prefix) − NLL(x | prefix, z) + const,
//! and one is resampled in proportion to its weight (seeded). The proposal
//! log-likelihood q is taken as uniform over the particles: neither the
//! template policy nor a chat server reports the probability of a whole
//! rewrite, so it cancels. Unlike the greedy strategies this may keep a
//! thought with a higher code NLL: it samples the posterior, it does not
//! maximise.

use crate::options::{Options, Run};
use repo2agent_core::StageError;
use repo2agent_core::model::{Candidate, SearchRecord, ThinkSearch, Trajectory};
use repo2agent_core::stage::{ScoreRequest, SearchContext, SearchStrategy};

/// The strategy.
#[derive(Debug)]
pub struct Importance {
    /// Scorer, N, window, budgets, cache.
    pub options: Options,
}

/// Draws an index with probability proportional to `exp(log_w)`, from `u` in [0, 1).
pub fn resample(log_w: &[f64], u: f64) -> usize {
    let max = log_w.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let w: Vec<f64> = log_w.iter().map(|l| (l - max).exp()).collect();
    let total: f64 = w.iter().sum();
    let mut at = u * total;
    for (i, x) in w.iter().enumerate() {
        if at < *x {
            return i;
        }
        at -= x;
    }
    w.len().saturating_sub(1)
}

#[async_trait::async_trait]
impl SearchStrategy for Importance {
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
            let particles = run.particles(&slot, initial, self.options.candidates).await?;
            let proposed = &particles[1..];
            // One batch: the code after each particle, then each particle after the prefix.
            let mut batch: Vec<ScoreRequest> = particles.iter().map(|z| run.doc.request(&slot, z)).collect();
            batch.extend(particles.iter().map(|z| run.doc.think_request(&slot, z)));
            let scores = run.meter.score(&batch).await?;
            let (code, think) = scores.split_at(particles.len());
            let log_w: Vec<f64> = code.iter().zip(think).map(|(x, z)| -(x.sum() + z.sum())).collect();
            let seed = repo2agent_core::order::seeded_hash(
                run.ctx.seed,
                &format!("importance/{}/{}", slot.agent.0, slot.step),
            );
            let u = (seed >> 11) as f64 / (1u64 << 53) as f64;
            let drawn = resample(&log_w, u);
            let record = ThinkSearch {
                agent: slot.agent.clone(),
                step: slot.step,
                initial_nll: code[0].sum(),
                target_tokens: code[0].token_nll.len() as u64,
                initial_think_nll: Some(think[0].sum()),
                initial_log_weight: Some(log_w[0]),
                candidates: proposed
                    .iter()
                    .enumerate()
                    .map(|(i, text)| Candidate {
                        text: text.clone(),
                        nll: code[i + 1].sum(),
                        round: 0,
                        think_nll: Some(think[i + 1].sum()),
                        log_weight: Some(log_w[i + 1]),
                    })
                    .collect(),
                accepted: drawn.checked_sub(1),
            };
            let kept = particles[drawn].clone();
            run.record(&slot, record, kept);
        }
        Ok(Some(run.finish(trajectory, "importance")))
    }
}

#[cfg(test)]
mod tests {
    use super::resample;

    #[test]
    fn resampling_follows_the_weights() {
        let log_w = [0.0, (3.0f64).ln()]; // weights 1 : 3
        assert_eq!(resample(&log_w, 0.0), 0);
        assert_eq!(resample(&log_w, 0.24), 0);
        assert_eq!(resample(&log_w, 0.26), 1);
        assert_eq!(resample(&log_w, 0.999), 1);
        let counts = (0..1000)
            .filter(|k| resample(&log_w, (*k as f64 + 0.5) / 1000.0) == 1)
            .count();
        assert_eq!(counts, 750);
        // Huge magnitudes do not overflow.
        assert_eq!(resample(&[-1e6, -1e6 + 50.0], 0.5), 1);
    }
}
