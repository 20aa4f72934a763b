use repo2agent_core::StageError;
use repo2agent_core::config::Problem;
use repo2agent_core::model::Role;
use repo2agent_core::stage::Masker;
use serde::Deserialize;
use std::collections::BTreeMap;

/// Config of the `roles` masker.
///
/// ```toml
/// [mask]
/// type = "roles"
/// weights = { observation = 0.1 }   # keep a little loss on observations (ECHO)
/// ```
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RolesMaskerConfig {
    /// Loss weight per role name (`system`, `context`, `plan`, `think`, `action`,
    /// `code`, `observation`, `markup`). Roles not listed keep their default:
    /// `observation = 0.0`, every other role `1.0`. Weights must be finite and >= 0.
    #[serde(default)]
    pub weights: BTreeMap<String, f64>,
}

/// A loss weight per role.
#[derive(Clone, Debug, PartialEq)]
pub struct RolesMasker {
    table: [f32; Role::ALL.len()],
}

impl RolesMasker {
    /// Builds the weight table; unknown role names and invalid weights are errors.
    pub fn new(config: RolesMaskerConfig) -> Result<Self, Problem> {
        let mut table = [1.0f32; Role::ALL.len()];
        table[usize::from(Role::Observation.id())] = 0.0;
        let mut bad = Vec::new();
        for (name, w) in &config.weights {
            match Role::from_name(name) {
                Some(_) if !w.is_finite() || *w < 0.0 => {
                    bad.push(format!("weight of `{name}` must be finite and >= 0, got {w}"))
                }
                Some(r) => table[usize::from(r.id())] = *w as f32,
                None => bad.push(format!(
                    "unknown role `{name}` in weights; roles: {}",
                    Role::ALL.map(Role::name).join(", ")
                )),
            }
        }
        if bad.is_empty() {
            Ok(Self { table })
        } else {
            Err(Problem::new(bad.join("; ")))
        }
    }

    /// The weight of one role.
    pub fn weight(&self, role: Role) -> f32 {
        self.table[usize::from(role.id())]
    }
}

impl Masker for RolesMasker {
    fn weights(&self, roles: &[Role]) -> Result<Vec<f32>, StageError> {
        Ok(roles.iter().map(|r| self.weight(*r)).collect())
    }

    fn by_role(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(toml_text: &str) -> RolesMaskerConfig {
        toml::from_str(toml_text).unwrap()
    }

    #[test]
    fn defaults_mask_observations_only() {
        let m = RolesMasker::new(RolesMaskerConfig::default()).unwrap();
        let w = m
            .weights(&[Role::Think, Role::Observation, Role::Code, Role::Context])
            .unwrap();
        assert_eq!(w, vec![1.0, 0.0, 1.0, 1.0]);
    }

    #[test]
    fn configured_weights_override_defaults() {
        let m = RolesMasker::new(config("weights = { observation = 0.25, context = 0.0 }")).unwrap();
        assert_eq!(m.weight(Role::Observation), 0.25);
        assert_eq!(m.weight(Role::Context), 0.0);
        assert_eq!(m.weight(Role::Think), 1.0);
    }

    #[test]
    fn unknown_roles_and_bad_weights_are_reported_together() {
        let err = RolesMasker::new(config("weights = { thinking = 1.0, code = -1.0 }")).unwrap_err();
        assert!(err.message.contains("unknown role `thinking`"), "{}", err.message);
        assert!(
            err.message.contains("weight of `code` must be finite and >= 0"),
            "{}",
            err.message
        );
    }

    #[test]
    fn example_config_round_trips_and_rejects_unknown_fields() {
        assert!(toml::from_str::<RolesMaskerConfig>("weights = { observation = 0.1 }").is_ok());
        assert!(toml::from_str::<RolesMaskerConfig>("weight = {}").is_err());
    }
}
