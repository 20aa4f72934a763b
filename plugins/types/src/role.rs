//! Roles: what each span of the flattened sequence is, with the ids frozen in
//! shards; a masker plugin receives these ids.

use serde::{Deserialize, Serialize};

/// The role of a span of the flattened sequence; kept per token so a masker can
/// weight the loss per role. The numeric ids are stored in shards (`roles`
/// column, uint8) and are frozen: append, never renumber.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[repr(u8)]
pub enum Role {
    /// Instructions that frame the episode (system prompt).
    System = 0,
    /// Injected repository structure: tree, dependency graph, outlines, README.
    Context = 1,
    /// The main agent's requirements and plan.
    Plan = 2,
    /// An agent's reasoning.
    Think = 3,
    /// Tool-call syntax (`Read(path)`, `Write(path)` headers).
    Action = 4,
    /// File content an agent writes (the real code).
    Code = 5,
    /// Tool results fed back to an agent (what Read returns).
    Observation = 6,
    /// Structural markup between documents and files (separators, path headers).
    Markup = 7,
}

impl Role {
    /// Every role, in id order.
    pub const ALL: [Role; 8] = [
        Role::System,
        Role::Context,
        Role::Plan,
        Role::Think,
        Role::Action,
        Role::Code,
        Role::Observation,
        Role::Markup,
    ];

    /// The shard id of this role.
    pub fn id(self) -> u8 {
        self as u8
    }

    /// The role with this shard id.
    pub fn from_id(id: u8) -> Option<Role> {
        Self::ALL.get(usize::from(id)).copied()
    }

    /// The name used in configs and JSON.
    pub fn name(self) -> &'static str {
        match self {
            Role::System => "system",
            Role::Context => "context",
            Role::Plan => "plan",
            Role::Think => "think",
            Role::Action => "action",
            Role::Code => "code",
            Role::Observation => "observation",
            Role::Markup => "markup",
        }
    }

    /// The role with this name.
    pub fn from_name(name: &str) -> Option<Role> {
        Self::ALL.into_iter().find(|r| r.name() == name)
    }
}

/// A span of the flattened sequence with its role.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Segment {
    /// The text.
    pub text: String,
    /// Its role.
    pub role: Role,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_ids_and_names_round_trip() {
        for (i, r) in Role::ALL.into_iter().enumerate() {
            assert_eq!(usize::from(r.id()), i);
            assert_eq!(Role::from_id(r.id()), Some(r));
            assert_eq!(Role::from_name(r.name()), Some(r));
            assert_eq!(serde_json::to_string(&r).unwrap(), format!("\"{}\"", r.name()));
        }
        assert_eq!(Role::from_id(8), None);
        assert_eq!(Role::from_name("nope"), None);
    }
}
