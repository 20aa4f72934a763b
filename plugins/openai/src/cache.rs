//! The call cache is core's content-addressed store (shared with the search's
//! score cache).

pub use repo2agent_core::cache::CallCache;
