//! What an analyzer returns for one file (the `outline` method): its
//! declarations, its imports as written and the names it uses.

use serde::{Deserialize, Serialize};

/// Byte and line range of a piece of a file (bytes half-open, lines 1-based inclusive).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TextSpan {
    /// First byte.
    pub start_byte: usize,
    /// One past the last byte.
    pub end_byte: usize,
    /// First line, 1-based.
    pub start_line: u32,
    /// Last line, 1-based, inclusive.
    pub end_line: u32,
}

/// What kind of declaration a [`Symbol`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SymbolKind {
    /// A class.
    Class,
    /// A struct or record.
    Struct,
    /// An enum.
    Enum,
    /// A trait.
    Trait,
    /// An interface or protocol.
    Interface,
    /// A free function.
    Function,
    /// A function inside a class, impl or interface.
    Method,
    /// A constant or static.
    Constant,
    /// A module-level variable.
    Variable,
    /// A type alias or typedef.
    TypeAlias,
    /// A module or namespace.
    Module,
    /// A macro.
    Macro,
    /// An impl block or similar container.
    Impl,
    /// A field of a struct or class.
    Field,
}

impl SymbolKind {
    /// The name used in JSON and renderings (`type_alias`, `method` …).
    pub fn name(self) -> &'static str {
        match self {
            SymbolKind::Class => "class",
            SymbolKind::Struct => "struct",
            SymbolKind::Enum => "enum",
            SymbolKind::Trait => "trait",
            SymbolKind::Interface => "interface",
            SymbolKind::Function => "function",
            SymbolKind::Method => "method",
            SymbolKind::Constant => "constant",
            SymbolKind::Variable => "variable",
            SymbolKind::TypeAlias => "type_alias",
            SymbolKind::Module => "module",
            SymbolKind::Macro => "macro",
            SymbolKind::Impl => "impl",
            SymbolKind::Field => "field",
        }
    }
}

/// One declaration in a file's outline.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Symbol {
    /// Kind of declaration.
    pub kind: SymbolKind,
    /// Declared name.
    pub name: String,
    /// The declaration's header as written (up to the body), whitespace-normalised.
    pub signature: String,
    /// Doc comment or docstring, without comment markers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub doc: Option<String>,
    /// Where it is.
    pub span: TextSpan,
    /// Nested declarations (methods of a class, items of a module).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub children: Vec<Symbol>,
}

/// An import as written in a file, before resolution.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Import {
    /// The imported module / path / include as written (`os.path`, `./util`, `"a.h"` → `a.h`).
    pub raw: String,
    /// Line of the import, 1-based.
    pub line: u32,
}

/// How a file refers to a name it does not declare there.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReferenceKind {
    /// Called: `f(x)`, `obj.f(x)`, `Type::f(x)`, `f!(x)`.
    Call,
    /// An attribute or field read or written: `obj.attr`.
    Attribute,
    /// A module, type or value named: `json` in `json.dumps`, `User` in `User(...)`.
    Reference,
    /// An exception raised or thrown.
    Raise,
    /// An exception caught.
    Handle,
}

impl ReferenceKind {
    /// The kind's name (as in the query captures and JSON).
    pub fn name(self) -> &'static str {
        match self {
            ReferenceKind::Call => "call",
            ReferenceKind::Attribute => "attribute",
            ReferenceKind::Reference => "reference",
            ReferenceKind::Raise => "raise",
            ReferenceKind::Handle => "handle",
        }
    }
}

/// A name a file uses (from the language's `references` query): each
/// (kind, name) once, at its first line.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reference {
    /// How it is used.
    pub kind: ReferenceKind,
    /// The name as written (the last segment of a path or attribute chain).
    pub name: String,
    /// First line it is used on, 1-based.
    pub line: u32,
    /// How many times it is used so.
    pub count: u32,
}

/// A file's structure: its declarations, its raw imports and the names it uses.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileOutline {
    /// Top-level declarations, in file order, with nesting.
    pub symbols: Vec<Symbol>,
    /// Imports, in file order.
    pub imports: Vec<Import>,
    /// Names used (calls, attributes, raised and caught errors), in order of
    /// first use; empty for a language without a references query.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub references: Vec<Reference>,
}

impl FileOutline {
    /// Number of symbols including nested ones.
    pub fn symbol_count(&self) -> usize {
        fn count(s: &[Symbol]) -> usize {
            s.iter().map(|x| 1 + count(&x.children)).sum()
        }
        count(&self.symbols)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symbol_kind_names_match_their_json() {
        use SymbolKind::*;
        for k in [
            Class, Struct, Enum, Trait, Interface, Function, Method, Constant, Variable, TypeAlias, Module, Macro,
            Impl, Field,
        ] {
            assert_eq!(serde_json::to_value(k).unwrap(), k.name());
        }
    }

    #[test]
    fn reference_kind_names_match_their_json() {
        use ReferenceKind::*;
        for k in [Call, Attribute, Reference, Raise, Handle] {
            assert_eq!(serde_json::to_value(k).unwrap(), k.name());
        }
    }
}
