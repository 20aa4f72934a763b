use crate::error::StageError;
use crate::model::Role;

/// Maps the role of each token to its loss weight (docs/method.md step 7).
///
/// Contract: returns exactly one finite, non-negative weight per role given, in
/// order. Weights are per token, so a masker never needs the text.
pub trait Masker: Send + Sync {
    /// Loss weights for a run of tokens with these roles.
    fn weights(&self, roles: &[Role]) -> Result<Vec<f32>, StageError>;

    /// Whether each weight depends on its own token's role alone (not on its
    /// place or its neighbours). The host then asks for one weight per role
    /// once and holds a document's weights as that table, never one per token.
    fn by_role(&self) -> bool {
        false
    }
}
