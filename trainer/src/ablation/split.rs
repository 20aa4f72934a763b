//! The held-out split: which repositories are never trained on, and the
//! held-out repositories as the evaluation reads them.

use crate::heldout::{HeldoutFile, HeldoutRepo};
use repo2agent_core::config::RunConfig;
use repo2agent_core::ingest::RepoInput;
use repo2agent_core::model::SymbolKind;
use repo2agent_core::order::seeded_hash;
use repo2agent_core::run::pipeline;
use repo2agent_core::stats::{AnalysisStats, IngestStats};
use std::collections::BTreeMap;

/// `repos` in a seeded order: the first `heldout` are held out, the rest are
/// trained on. The same seed and names give the same split, whatever order the
/// repositories were listed in.
pub fn split(mut repos: Vec<RepoInput>, seed: u64, heldout: usize) -> (Vec<RepoInput>, Vec<RepoInput>) {
    repos.sort_by_cached_key(|r| (seeded_hash(seed, &r.name), r.name.clone()));
    let training = repos.split_off(heldout.min(repos.len()));
    (repos, training)
}

/// The held-out repositories as the evaluation wants them: files in
/// dependency order (analyzed as the run config `cfg` would), each with the
/// earlier files it imports and the names it declares at its top level
/// (impl blocks and modules aside); empty files left out.
pub fn heldout_repos(cfg: &RunConfig, repos: &[RepoInput]) -> Vec<HeldoutRepo> {
    let (ingestor, analyzers) = pipeline::ingestor(cfg);
    let mut out = Vec::new();
    for repo in repos {
        let snapshot = ingestor.snapshot(repo, &mut IngestStats::default());
        let analysis =
            repo2agent_core::analyze::analyze(&snapshot, &analyzers, cfg.run.seed, &mut AnalysisStats::default());
        // Empty files are left out before the indices are taken, so that a
        // dependency's index is its place among the files kept.
        let kept: Vec<_> = analysis
            .order
            .iter()
            .filter(|id| !snapshot.files[id.index()].text.is_empty())
            .collect();
        let place: BTreeMap<_, usize> = kept.iter().enumerate().map(|(i, id)| (**id, i)).collect();
        let files = kept
            .iter()
            .enumerate()
            .map(|(i, &id)| {
                let f = &snapshot.files[id.index()];
                let mut deps: Vec<usize> = analysis
                    .graph
                    .dependencies(*id)
                    .iter()
                    .filter_map(|d| place.get(d).copied())
                    .filter(|&j| j < i)
                    .collect();
                deps.sort_unstable();
                let defines = analysis.outlines.get(id).map_or_else(Vec::new, |o| {
                    o.symbols
                        .iter()
                        .filter(|s| !matches!(s.kind, SymbolKind::Impl | SymbolKind::Module))
                        .map(|s| s.name.clone())
                        .collect()
                });
                HeldoutFile {
                    path: f.path.clone(),
                    text: f.text.clone(),
                    deps,
                    defines,
                }
            })
            .collect::<Vec<_>>();
        out.push(HeldoutRepo {
            name: repo.name.clone(),
            files,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repos(names: &[&str]) -> Vec<RepoInput> {
        names
            .iter()
            .map(|n| RepoInput {
                name: (*n).to_owned(),
                root: std::path::PathBuf::from(n),
                package: None,
            })
            .collect()
    }

    fn names(r: &[RepoInput]) -> Vec<&str> {
        r.iter().map(|r| r.name.as_str()).collect()
    }

    #[test]
    fn the_split_is_seeded_disjoint_and_independent_of_listing_order() {
        let all = ["a", "b", "c", "d", "e", "f", "g", "h"];
        let (held, train) = split(repos(&all), 7, 3);
        assert_eq!(held.len(), 3);
        assert_eq!(train.len(), 5);
        let mut both: Vec<&str> = names(&held).into_iter().chain(names(&train)).collect();
        both.sort_unstable();
        assert_eq!(both, all);
        let mut reversed = all;
        reversed.reverse();
        let (held2, train2) = split(repos(&reversed), 7, 3);
        assert_eq!(names(&held), names(&held2));
        assert_eq!(names(&train), names(&train2));
        let differs = (0..8).any(|seed| names(&split(repos(&all), seed, 3).0) != names(&held));
        assert!(differs, "another seed holds out other repositories");
    }
}
