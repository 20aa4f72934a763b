use repo2agent_core::StageError;
use repo2agent_core::model::Role;
use repo2agent_core::stage::Masker;
use serde::Deserialize;

/// Config of the `none` masker: it has no options.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoneMaskerConfig {}

/// Every token weighs 1 (the Raw-Repos setting, or loss on observations too).
#[derive(Clone, Copy, Debug, Default)]
pub struct NoneMasker;

impl Masker for NoneMasker {
    fn weights(&self, roles: &[Role]) -> Result<Vec<f32>, StageError> {
        Ok(vec![1.0; roles.len()])
    }

    fn by_role(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_role_weighs_one() {
        assert_eq!(NoneMasker.weights(&Role::ALL).unwrap(), vec![1.0; Role::ALL.len()]);
        assert!(NoneMasker.weights(&[]).unwrap().is_empty());
    }
}
