//! repo2agent's integration tests: one binary, one module per topic.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod analyze;
mod cli;
mod config;
mod dylib;
mod ingest;
mod openai;
mod scorers;
mod search;
mod shards;
mod trajectories;
