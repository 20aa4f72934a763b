//! A file as the host hands it to an analyzer (`outline`'s input), and how an
//! analyzer says which files are its language (`describe`'s output).

use serde::{Deserialize, Serialize};

/// Identifies a file within one repository snapshot: its index in the
/// snapshot's path-sorted file list. The same repository content always yields the same ids.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct FileId(pub u32);

impl FileId {
    /// The id as a vector index.
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

impl std::fmt::Display for FileId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// One text file of a repository, exactly as it is on disk.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceFile {
    /// Stable id (see [`FileId`]).
    pub id: FileId,
    /// Path relative to the repository root, `/`-separated.
    pub path: String,
    /// Detected language (by extension, file name or shebang); `None` for other text.
    pub language: Option<String>,
    /// The file's bytes, which are valid UTF-8 (others are skipped at ingestion).
    pub text: String,
}

/// How files of a language are recognised at ingestion.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LanguageSpec {
    /// Language name (`python`, `rust`, …); what [`SourceFile::language`](crate::SourceFile::language) holds.
    pub name: String,
    /// File extensions without the dot (`py`, `pyi`).
    #[serde(default)]
    pub extensions: Vec<String>,
    /// Exact file names (`Makefile`, `BUILD`).
    #[serde(default)]
    pub file_names: Vec<String>,
    /// Interpreter names recognised in a `#!` line (`python3`, `bash`).
    #[serde(default)]
    pub shebangs: Vec<String>,
}
