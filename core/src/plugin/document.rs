//! Reading a TOML config document: one mechanism for run configs, TRAIN.toml
//! and ablation files — syntax errors as problems with their lines, sections
//! deserialized with their spans, every problem reported together, in order.

use super::problem::{ConfigError, Problem, SourceText};
use super::section::Section;
use serde::de::DeserializeOwned;
use std::ops::Range;
use toml::Spanned;
use toml::de::{DeTable, DeValue};

/// The document's top-level table with spans; TOML syntax errors as problems
/// (all of them, each at its line).
pub fn parse_document<'a>(source: &SourceText<'a>) -> Result<Spanned<DeTable<'a>>, Vec<Problem>> {
    let (doc, syntax) = DeTable::parse_recoverable(source.text);
    if syntax.is_empty() {
        return Ok(doc);
    }
    Err(syntax
        .iter()
        .map(|e| source.problem(e.span(), "", format!("TOML syntax: {}", e.message().trim_end())))
        .collect())
}

/// The whole document deserialized into `T` (unknown keys and type errors at
/// their lines, as `T`'s serde attributes say).
pub fn deserialize_document<T: DeserializeOwned>(source: &SourceText<'_>) -> Result<T, Vec<Problem>> {
    let doc = parse_document(source)?;
    let span = doc.span();
    let value = Spanned::new(span.clone(), DeValue::Table(doc.into_inner()));
    Section::new("", value, span, *source).deserialize()
}

impl ConfigError {
    /// The problems of `file`, sorted by position.
    pub fn sorted(file: &str, mut problems: Vec<Problem>) -> Self {
        problems.sort_by_key(|p| (p.line.unwrap_or(0), p.column.unwrap_or(0)));
        ConfigError {
            file: file.to_owned(),
            problems,
        }
    }
}

impl<'a> Section<'a> {
    /// The table at `path` (its key's span `anchor`) of `source`; a value that
    /// is not a table is a problem at the key.
    pub fn table(
        path: &str,
        value: Spanned<DeValue<'a>>,
        anchor: Range<usize>,
        source: SourceText<'a>,
    ) -> Result<Self, Problem> {
        if !value.get_ref().is_table() {
            let found = value.get_ref().type_str();
            return Err(source.problem(Some(anchor), path, format!("`{path}` must be a table, found a {found}")));
        }
        Ok(Self::new(path, value, anchor, source))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Doc {
        #[allow(dead_code)]
        a: A,
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct A {
        #[allow(dead_code)]
        n: u32,
    }

    #[test]
    fn problems_carry_their_lines() {
        let source = SourceText {
            name: "x.toml",
            text: "[a]\nn = 1\nm = 2\n",
        };
        let p = deserialize_document::<Doc>(&source).unwrap_err();
        assert_eq!(p[0].line, Some(3), "{p:?}");
        assert!(p[0].message.contains("unknown field `m`"), "{p:?}");
        let bad = SourceText {
            name: "x.toml",
            text: "[a]\nn = \n",
        };
        let p = parse_document(&bad).unwrap_err();
        assert!(p[0].message.starts_with("TOML syntax"), "{p:?}");
        assert_eq!(p[0].line, Some(2));
        let one = SourceText {
            name: "x.toml",
            text: "a = 1\n",
        };
        let table = parse_document(&one).unwrap().into_inner();
        let (k, v) = table.into_iter().next().unwrap();
        let p = Section::table("a", v, k.span(), one).unwrap_err();
        assert_eq!(p.message, "`a` must be a table, found a integer");
        let e = ConfigError::sorted("f", vec![Problem::new("late"), source.problem(Some(4..5), "", "early")]);
        assert_eq!(e.problems[1].message, "early", "no line sorts first");
    }
}
