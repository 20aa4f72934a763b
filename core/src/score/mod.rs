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
