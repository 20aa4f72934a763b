//! The run machinery: what turns the stages into a resumable, parallel run
//! over a corpus. [`pipeline`] drives it (listing, workers, the ordered
//! assembly), [`worker`] takes one repository through the stages, [`units`]
//! are the per-repository results that make a killed run resumable,
//! [`assemble`] writes them in input order into trajectories and shards,
//! [`merge`] joins the outputs of partitioned runs, [`report`] says how a run
//! ended, [`progress`] reports what happens, and [`estimate`] prices a run's model calls before any is made.

mod assemble;
pub mod estimate;
pub mod merge;
pub mod pipeline;
pub mod progress;
pub mod report;
pub mod units;
mod worker;
