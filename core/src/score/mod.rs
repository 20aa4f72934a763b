//! Scoring the real code as the trained model will see it: the flattened
//! trajectory with its thoughts as slots ([`document`]), every scorer call
//! cached and counted against a budget ([`meter`]), and the thought value of a
//! trajectory ([`evaluate`], the `[evaluate]` section). The search strategies
//! (the `repo2agent-search` plugin) build on the same two pieces.

pub mod document;
pub mod evaluate;
pub mod meter;
