//! repo2agent's integration tests: one binary, one module per topic.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod ablate;
mod analyze;
mod cli;
mod config;
mod config_paths;
mod dylib;
mod engines;
mod ingest;
mod layout;
mod monorepo;
mod msrv;
mod openai;
mod readme;
mod scale;
mod scorers;
mod scripts;
mod search;
mod shards;
mod slurm;
mod slurm_cluster;
mod thoughts;
mod tokenize;
mod trajectories;
