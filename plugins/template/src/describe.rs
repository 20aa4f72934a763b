//! Facts about files, read off the analysis, that the prose is built from.

use repo2agent_core::model::{FileId, Symbol, SymbolKind};
use repo2agent_core::stage::RepoContext;

/// A file's name, lower-cased, read as the kind it is a backup or template
/// of (`Cargo.toml.orig`, `setup.cfg.in` → `cargo.toml`, `setup.cfg`).
pub fn kind_name(path: &str) -> String {
    let name = path.rsplit('/').next().unwrap_or(path).to_ascii_lowercase();
    ["orig", "in", "example", "sample", "template", "dist"]
        .iter()
        .find_map(|s| name.strip_suffix(&format!(".{s}")))
        .filter(|n| n.contains('.'))
        .map_or_else(|| name.clone(), str::to_owned)
}

/// What kind of file this is, from its name, when it holds no code outline.
pub fn file_role(path: &str) -> Option<&'static str> {
    let name = kind_name(path);
    let lower = path.to_ascii_lowercase();
    Some(match name.as_str() {
        n if n.starts_with("readme") => "the project's documentation",
        n if n.starts_with("license") || n.starts_with("copying") => "the license",
        n if n.starts_with("changelog") || n.starts_with("changes") => "the change log",
        "cargo.toml" | "package.json" | "pyproject.toml" | "setup.py" | "setup.cfg" | "go.mod" | "pom.xml"
        | "build.gradle" | "cmakelists.txt" | "makefile" => "the build and package manifest",
        "tsconfig.json" | "jsconfig.json" => "the TypeScript compiler settings",
        ".gitignore" | ".ignore" => "the list of files version control ignores",
        _ if lower.contains("test") => "tests",
        _ if lower.contains("example") => "an example",
        _ if lower.contains(".github/") || lower.contains(".ci/") => "continuous-integration setup",
        n if n.ends_with(".md") || n.ends_with(".rst") || n.ends_with(".txt") => "documentation",
        n if n.ends_with(".toml")
            || n.ends_with(".yaml")
            || n.ends_with(".yml")
            || n.ends_with(".json")
            || n.ends_with(".ini")
            || n.ends_with(".cfg") =>
        {
            "configuration"
        }
        _ => return None,
    })
}

pub fn kind_word(kind: SymbolKind) -> &'static str {
    match kind {
        SymbolKind::TypeAlias => "type alias",
        SymbolKind::Impl => "impl block",
        other => other.name(),
    }
}

/// Top-level symbols worth naming (not impls, fields or plain variables).
pub fn main_symbols(symbols: &[Symbol]) -> Vec<&Symbol> {
    symbols
        .iter()
        .filter(|s| !matches!(s.kind, SymbolKind::Field | SymbolKind::Variable | SymbolKind::Impl))
        .collect()
}

/// `class A`, `functions b, c` style summary of a file's main symbols.
pub fn symbol_summary(symbols: &[Symbol], limit: usize) -> String {
    let main = main_symbols(symbols);
    let mut groups: Vec<(&'static str, Vec<&str>)> = Vec::new();
    for s in main.iter().take(limit) {
        let w = kind_word(s.kind);
        match groups.iter_mut().find(|(k, _)| *k == w) {
            Some((_, names)) => names.push(&s.name),
            None => groups.push((w, vec![&s.name])),
        }
    }
    let mut parts: Vec<String> = groups
        .into_iter()
        .map(|(k, names)| {
            let plural = if names.len() > 1 { plural(k) } else { k.to_owned() };
            format!(
                "{plural} {}",
                names.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ")
            )
        })
        .collect();
    if main.len() > limit {
        parts.push(format!("{} more", main.len() - limit));
    }
    join_list(&parts)
}

fn plural(word: &str) -> String {
    match word {
        "class" => "classes".into(),
        "type alias" => "type aliases".into(),
        "impl block" => "impl blocks".into(),
        w => format!("{w}s"),
    }
}

/// `a`, `a and b`, `a, b and c`.
pub fn join_list(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

/// The first sentence of a doc string.
pub fn first_sentence(doc: &str) -> String {
    let line = doc.split("\n\n").next().unwrap_or(doc).replace('\n', " ");
    let end = line.find(". ").map_or(line.len(), |i| i + 1);
    line[..end].trim().to_owned()
}

/// Paths of files, formatted as code.
pub fn paths(repo: RepoContext<'_>, ids: &[FileId]) -> Vec<String> {
    ids.iter()
        .filter_map(|id| repo.snapshot.file(*id))
        .map(|f| format!("`{}`", f.path))
        .collect()
}
