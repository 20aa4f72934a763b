//! Scoring the real code as the trained model will see it: the flattened
//! trajectory with its thoughts as slots ([`document`]), every scorer call
//! cached and counted against a budget ([`meter`]), and the thought value of a
//! trajectory ([`evaluate`], the `[evaluate]` section). The search strategies
//! (the `repo2agent-search` plugin) build on the same two pieces.

pub mod document;
pub mod evaluate;
pub mod meter;

use crate::cache::CallCache;
use crate::plugin::{BuildContext, Problem};

/// The score cache a `cache_dir` option names: `""` disables it, a path is
/// relative to the config file, none is `~/.cache/repo2agent/calls`.
pub fn score_cache(cache_dir: Option<&str>, ctx: &BuildContext<'_>) -> CallCache {
    CallCache::new(match cache_dir {
        Some("") => None,
        Some(d) => Some(ctx.resolve_path(d)),
        None => CallCache::default_dir(),
    })
}

/// Checks the scored windows (`context_chars`, `target_chars`).
pub fn check_windows(context_chars: usize, target_chars: usize) -> Result<(), Problem> {
    if context_chars == 0 || target_chars == 0 {
        return Err(Problem::new("context_chars and target_chars must be at least 1"));
    }
    Ok(())
}

/// How many leading elements two sequences have in common.
pub fn common_prefix<T: PartialEq>(a: &[T], b: &[T]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

/// Groups sequences (a batch's contexts) by common prefix, so work on a
/// shared prefix is done once (a scorer's keys and values, a server's prefix
/// cache): `(members, shared length)`, members in input order, groups in the
/// order of their first member. The sequences are sorted so common beginnings
/// are neighbours and the sorted list is cut into runs that save the most (a
/// run of `m` sharing `n` elements saves `(m − 1)·n`); a run's shared part is
/// the shortest common prefix of its neighbours, at least `min_shared`, and
/// never a whole sequence (each keeps its last element, which a scorer needs
/// to predict the first target token). A sequence alone has `shared = 0`.
pub fn prefix_groups<T: Ord>(seqs: &[&[T]], min_shared: usize) -> Vec<(Vec<usize>, usize)> {
    let mut order: Vec<usize> = (0..seqs.len()).collect();
    order.sort_by(|&a, &b| seqs[a].cmp(seqs[b]).then(a.cmp(&b)));
    let own = |i: usize| seqs[i].len().saturating_sub(1);
    let n = order.len();
    // best[j]: (elements saved, start of the last run, its shared length)
    // over the first j sorted sequences.
    let mut best: Vec<(usize, usize, usize)> = vec![(0, 0, 0); n + 1];
    for j in 1..=n {
        best[j] = (best[j - 1].0, j - 1, 0);
        let mut shared = own(order[j - 1]);
        for a in (0..j - 1).rev() {
            shared = shared
                .min(common_prefix(seqs[order[a]], seqs[order[a + 1]]))
                .min(own(order[a]));
            if shared < min_shared.max(1) {
                break;
            }
            let saved = best[a].0 + (j - 1 - a) * shared;
            if saved > best[j].0 {
                best[j] = (saved, a, shared);
            }
        }
    }
    let mut groups = Vec::new();
    let mut j = n;
    while j > 0 {
        let (_, a, shared) = best[j];
        let mut members = order[a..j].to_vec();
        members.sort_unstable();
        groups.push((members, shared));
        j = a;
    }
    groups.sort_by_key(|(members, _)| members[0]);
    groups
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_groups_keep_the_runs_that_save_the_most() {
        let seqs: Vec<Vec<char>> = ["abcdefX", "zzz", "abcdefY", "abcQ", "abcdefZ"]
            .iter()
            .map(|s| s.chars().collect())
            .collect();
        let refs: Vec<&[char]> = seqs.iter().map(Vec::as_slice).collect();
        // Three share "abcdef" (saving 12); adding "abcQ" would share only
        // "abc" (saving 9), so it stays alone.
        assert_eq!(
            prefix_groups(&refs, 3),
            vec![(vec![0, 2, 4], 6), (vec![1], 0), (vec![3], 0)]
        );
        // Below the minimum nothing is shared; identical sequences keep their last element.
        assert!(prefix_groups(&refs, 7).iter().all(|(_, n)| *n == 0));
        let same: Vec<&[char]> = vec![refs[0], refs[0]];
        assert_eq!(prefix_groups(&same, 1), vec![(vec![0, 1], 6)]);
        assert!(prefix_groups::<char>(&[], 1).is_empty());
    }
}
