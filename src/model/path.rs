//! Retainer path steps: the edge taken (V8's edge type and its name as a pattern) and the
//! class of the node reached.

use crate::input::v8::edge_kind;
use serde::Serialize;

/// V8's edge types, as written in `meta.edge_types`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EdgeType {
    /// A variable of a scope (a closure context).
    Context,
    /// An array element (`[]`).
    Element,
    Property,
    Internal,
    Hidden,
    Shortcut,
    Weak,
    /// A path that reaches no node (unreachable).
    None,
}

impl EdgeType {
    pub fn of(t: u8) -> EdgeType {
        match t {
            edge_kind::CONTEXT => EdgeType::Context,
            edge_kind::ELEMENT => EdgeType::Element,
            edge_kind::PROPERTY => EdgeType::Property,
            edge_kind::INTERNAL => EdgeType::Internal,
            edge_kind::HIDDEN => EdgeType::Hidden,
            edge_kind::SHORTCUT => EdgeType::Shortcut,
            _ => EdgeType::Weak,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            EdgeType::Context => "context",
            EdgeType::Element => "element",
            EdgeType::Property => "property",
            EdgeType::Internal => "internal",
            EdgeType::Hidden => "hidden",
            EdgeType::Shortcut => "shortcut",
            EdgeType::Weak => "weak",
            EdgeType::None => "none",
        }
    }
    /// Whether an edge of this type is named by data a program chose (a variable or a
    /// property), as opposed to an index or V8's own field names.
    pub fn is_named(self) -> bool {
        matches!(self, EdgeType::Context | EdgeType::Property)
    }
}

impl From<&str> for EdgeType {
    /// An edge type by its V8 name (`"context"`, `"element"`, …); an unknown name is
    /// [`EdgeType::None`].
    fn from(name: &str) -> EdgeType {
        match name {
            "context" => EdgeType::Context,
            "element" => EdgeType::Element,
            "property" => EdgeType::Property,
            "internal" => EdgeType::Internal,
            "hidden" => EdgeType::Hidden,
            "shortcut" => EdgeType::Shortcut,
            "weak" => EdgeType::Weak,
            _ => EdgeType::None,
        }
    }
}

/// One step of a retainer path: the edge taken and the class of the node it reaches.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct PathStep {
    /// The edge's name as a pattern (`order:<n>`, `[]` for elements), never raw data.
    pub edge: String,
    /// V8's edge type: `context` (a variable), `property`, `element`, `internal`, …
    pub edge_type: EdgeType,
    /// The class of the node reached.
    pub node: String,
    /// The step repeats (a linked list: `_idleNext → Timeout → _idleNext → …`).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub repeated: bool,
    /// A real edge name, only with `--show-values`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub example: Option<String>,
}

/// What identifies a step: its edge type, name pattern and class (not whether it was seen
/// repeating, nor an example name).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StepKey {
    pub edge_type: EdgeType,
    pub edge: String,
    pub node: String,
}

impl PathStep {
    pub fn key(&self) -> StepKey {
        StepKey {
            edge_type: self.edge_type,
            edge: self.edge.clone(),
            node: self.node.clone(),
        }
    }
}

/// The identity of a path (or a part of one): its steps' keys, repeat marks included,
/// since a folded repetition (a linked list) is part of its shape.
pub fn path_key(steps: &[PathStep]) -> Vec<(StepKey, bool)> {
    steps.iter().map(|s| (s.key(), s.repeated)).collect()
}
