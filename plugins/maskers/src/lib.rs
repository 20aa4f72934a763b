//! Built-in maskers (docs/method.md step 7): `roles`, a loss weight per role with
//! observations masked by default, and `none`, weight 1 everywhere.
//!
//! Owns only the two maskers and their config types; tokenization and packing
//! live elsewhere.

mod none;
mod roles;

pub use none::{NoneMasker, NoneMaskerConfig};
pub use roles::{RolesMasker, RolesMaskerConfig};

use repo2agent_core::registry::{Origin, Registry, RegistryError};
use repo2agent_core::stage::Masker;
use std::sync::Arc;

const CRATE: &str = "repo2agent-maskers";

/// Registers `roles` and `none`.
pub fn register(registry: &mut Registry) -> Result<(), RegistryError> {
    registry.register::<dyn Masker, RolesMaskerConfig, _>(
        "roles",
        Origin::BuiltIn(CRATE),
        "a loss weight per role; observation 0, the rest 1 by default",
        |c, _| RolesMasker::new(c).map(|m| Arc::new(m) as Arc<dyn Masker>),
    )?;
    registry.register::<dyn Masker, NoneMaskerConfig, _>(
        "none",
        Origin::BuiltIn(CRATE),
        "no masking: every token weighs 1",
        |_, _| Ok(Arc::new(NoneMasker) as Arc<dyn Masker>),
    )
}
