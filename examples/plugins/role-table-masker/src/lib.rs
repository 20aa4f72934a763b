//! Example dynamic plugin: a masker (`type = "role-table"`) that weights the
//! loss by role from a table, with a default for roles not listed.
//!
//! ```toml
//! [plugins]
//! libraries = ["target/release/librole_table_masker.so"]
//!
//! [mask]
//! type = "role-table"
//! default = 1.0
//! weights = { observation = 0.0, think = 2.0 }
//! ```
//!
//! Role ids cross the boundary as `u8` (the frozen ids of
//! `repo2agent_plugin_types::Role`, the host's own type), weights come back as
//! `f32`, through the ABI's `mask` entry: no JSON per token.

use repo2agent_plugin_abi::{Component, declare_plugin};
use repo2agent_plugin_types::Role;
use serde::Deserialize;
use std::collections::BTreeMap;

const MANIFEST: &str = r#"{
  "name": "role-table-masker",
  "version": "0.1.0",
  "components": [
    {"kind": "masker", "type": "role-table", "summary": "loss weight per role from a table, with a default"}
  ]
}"#;

declare_plugin!(manifest = MANIFEST, factory = build);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    /// Weight of roles not in `weights` (default 1.0).
    #[serde(default = "one")]
    default: f32,
    /// Weight per role name.
    #[serde(default)]
    weights: BTreeMap<String, f32>,
}

fn one() -> f32 {
    1.0
}

fn build(kind: &str, type_name: &str, config: &str) -> Result<Box<dyn Component>, String> {
    if kind != "masker" || type_name != "role-table" {
        return Err(format!("this plugin has no {kind} `{type_name}`"));
    }
    let config: Config = serde_json::from_str(config).map_err(|e| e.to_string())?;
    let mut table = [config.default; Role::ALL.len()];
    for (name, w) in &config.weights {
        let role = Role::from_name(name).ok_or_else(|| {
            let names: Vec<&str> = Role::ALL.iter().map(|r| r.name()).collect();
            format!("unknown role `{name}`; roles: {}", names.join(", "))
        })?;
        if !w.is_finite() || *w < 0.0 {
            return Err(format!("weight of `{name}` must be finite and >= 0"));
        }
        table[usize::from(role.id())] = *w;
    }
    Ok(Box::new(RoleTable { table }))
}

struct RoleTable {
    table: [f32; Role::ALL.len()],
}

impl Component for RoleTable {
    fn call(&self, method: &str, _input: &str) -> Result<String, String> {
        Err(format!("a masker has no method `{method}`"))
    }

    fn mask(&self, roles: &[u8], weights: &mut [f32]) -> Result<(), String> {
        for (r, w) in roles.iter().zip(weights.iter_mut()) {
            *w = *self
                .table
                .get(usize::from(*r))
                .ok_or_else(|| format!("unknown role id {r}"))?;
        }
        Ok(())
    }
}
