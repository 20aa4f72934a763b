use std::ops::Range;

/// The text of a config file, for turning byte offsets into lines.
#[derive(Clone, Copy, Debug)]
pub struct SourceText<'a> {
    /// File name as shown in messages.
    pub name: &'a str,
    /// The TOML text.
    pub text: &'a str,
}

impl SourceText<'_> {
    /// 1-based line and column of a byte offset.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let before = &self.text.as_bytes()[..offset];
        let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
        let line_start = before.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        (line, offset - line_start + 1)
    }

    /// A problem at a span of this text.
    pub fn problem(&self, span: Option<Range<usize>>, path: &str, message: impl Into<String>) -> Problem {
        let mut p = Problem::new(message);
        p.path = path.to_owned();
        if let Some(span) = span {
            p.set_span(self, span);
        }
        p
    }
}

/// One thing wrong with a config: where (line, column, key path) and what.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// 1-based column, when known.
    pub column: Option<usize>,
    /// Dotted key path (`policies.teacher.temperature`), when known.
    pub path: String,
    /// What is wrong, with a hint where one helps.
    pub message: String,
}

impl Problem {
    /// A problem not yet placed; the resolver places it at the component's section.
    pub fn new(message: impl Into<String>) -> Self {
        Problem {
            line: None,
            column: None,
            path: String::new(),
            message: message.into(),
        }
    }

    pub(crate) fn set_span(&mut self, source: &SourceText<'_>, span: Range<usize>) {
        let (line, column) = source.line_col(span.start);
        self.line = Some(line);
        self.column = Some(column);
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(line) = self.line {
            write!(f, "line {line}")?;
            if let Some(col) = self.column {
                write!(f, ", column {col}")?;
            }
            f.write_str(": ")?;
        }
        if !self.path.is_empty() {
            write!(f, "[{}] ", self.path)?;
        }
        f.write_str(&self.message)
    }
}

/// Every problem found in a config, reported together.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct ConfigError {
    /// The file.
    pub file: String,
    /// All problems, sorted by line.
    pub problems: Vec<Problem>,
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.problems.len();
        write!(f, "{} has {n} problem{}:", self.file, if n == 1 { "" } else { "s" })?;
        for p in &self.problems {
            write!(f, "\n  {}:", self.file)?;
            if let Some(line) = p.line {
                write!(f, "{line}:")?;
                if let Some(col) = p.column {
                    write!(f, "{col}:")?;
                }
            }
            if !p.path.is_empty() {
                write!(f, " [{}]", p.path)?;
            }
            write!(f, " {}", p.message)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_map_to_lines_and_columns() {
        let s = SourceText {
            name: "x",
            text: "a = 1\n[b]\nc = 2\n",
        };
        assert_eq!(s.line_col(0), (1, 1));
        assert_eq!(s.line_col(6), (2, 1));
        assert_eq!(s.line_col(12), (3, 3));
        assert_eq!(s.line_col(999), (4, 1));
    }
}
