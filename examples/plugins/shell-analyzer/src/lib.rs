//! Example dynamic plugin: a repo2agent analyzer for shell scripts, built as a
//! `cdylib` and loaded by a config:
//!
//! ```toml
//! [plugins]
//! libraries = ["target/release/libshell_analyzer.so"]
//!
//! [analyzers]
//! languages = ["shell"]
//! ```
//!
//! It outlines functions (`name() {` and `function name {`, with the `#`
//! comment block above as doc) and reports `source FILE` / `. FILE` as imports.
//! It depends only on the ABI crate, the plugin types crate (the host's own
//! `LanguageSpec`, `SourceFile` and `FileOutline`) and serde: the data it
//! exchanges with the host is JSON of those types.

use repo2agent_plugin_abi::{Component, declare_plugin};
use repo2agent_plugin_types::{FileOutline, Import, LanguageSpec, SourceFile, Symbol, SymbolKind, TextSpan};
use serde::Deserialize;

const MANIFEST: &str = r#"{
  "name": "shell-analyzer",
  "version": "0.1.0",
  "components": [
    {"kind": "analyzer", "type": "shell", "summary": "shell scripts: functions and `source` imports"}
  ]
}"#;

declare_plugin!(manifest = MANIFEST, factory = build);

/// The plugin's configuration (the `[analyzers.shell]` table).
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Config {
    /// Extra file extensions to treat as shell (default none).
    #[serde(default)]
    extra_extensions: Vec<String>,
}

fn build(kind: &str, type_name: &str, config: &str) -> Result<Box<dyn Component>, String> {
    if kind != "analyzer" || type_name != "shell" {
        return Err(format!("this plugin has no {kind} `{type_name}`"));
    }
    let config: Config = serde_json::from_str(config).map_err(|e| e.to_string())?;
    Ok(Box::new(ShellAnalyzer { config }))
}

struct ShellAnalyzer {
    config: Config,
}

impl Component for ShellAnalyzer {
    fn call(&self, method: &str, input: &str) -> Result<String, String> {
        match method {
            "describe" => {
                let mut extensions = vec!["sh".to_owned(), "bash".to_owned()];
                extensions.extend(self.config.extra_extensions.iter().cloned());
                let spec = LanguageSpec {
                    name: "shell".into(),
                    extensions,
                    file_names: Vec::new(),
                    shebangs: ["sh", "bash", "dash"].map(String::from).to_vec(),
                };
                serde_json::to_string(&spec).map_err(|e| e.to_string())
            }
            "outline" => {
                let file: SourceFile = serde_json::from_str(input).map_err(|e| e.to_string())?;
                serde_json::to_string(&outline(&file.text)).map_err(|e| e.to_string())
            }
            other => Err(format!("unknown method `{other}`")),
        }
    }
}

/// Lines with their byte offsets.
fn lines(text: &str) -> Vec<(usize, &str)> {
    let mut out = Vec::new();
    let mut start = 0;
    for line in text.split_inclusive('\n') {
        out.push((start, line.trim_end_matches(['\n', '\r'])));
        start += line.len();
    }
    out
}

fn outline(text: &str) -> FileOutline {
    let lines = lines(text);
    let mut symbols = Vec::new();
    let mut imports = Vec::new();
    for (i, &(offset, line)) in lines.iter().enumerate() {
        let trimmed = line.trim_start();
        if let Some(name) = function_name(trimmed) {
            let indent = line.len() - trimmed.len();
            let end = lines[i + 1..]
                .iter()
                .position(|(_, l)| l.len() > indent && l[..indent].trim().is_empty() && l[indent..].starts_with('}'))
                .map_or(i, |k| i + 1 + k);
            let (end_off, end_line) = lines[end];
            symbols.push(Symbol {
                kind: SymbolKind::Function,
                name: name.to_owned(),
                signature: trimmed.trim_end_matches('{').trim().to_owned(),
                doc: doc_above(&lines, i),
                span: TextSpan {
                    start_byte: offset,
                    end_byte: end_off + end_line.len(),
                    start_line: i as u32 + 1,
                    end_line: end as u32 + 1,
                },
                children: Vec::new(),
            });
        } else if let Some(path) = sourced_path(trimmed) {
            imports.push(Import {
                raw: path,
                line: i as u32 + 1,
            });
        }
    }
    FileOutline {
        symbols,
        imports,
        references: Vec::new(),
    }
}

/// `name() {`, `name () {`, `function name {`, `function name() {`.
fn function_name(line: &str) -> Option<&str> {
    let rest = line.strip_prefix("function ").map(str::trim_start);
    let candidate = rest.unwrap_or(line);
    let end = candidate.find(|c: char| !(c.is_alphanumeric() || c == '_' || c == '-' || c == ':'))?;
    let (name, after) = candidate.split_at(end);
    if name.is_empty() {
        return None;
    }
    let after = after.trim_start();
    let is_fn = if rest.is_some() {
        after.is_empty() || after.starts_with('{') || after.starts_with("()")
    } else {
        after.starts_with("()")
    };
    is_fn.then_some(name)
}

/// `source FILE` or `. FILE`, with quotes removed and a leading directory
/// variable (`"$(dirname "$0")"/x.sh`, `$DIR/x.sh`) read as "next to this script".
fn sourced_path(line: &str) -> Option<String> {
    let rest = line.strip_prefix("source ").or_else(|| line.strip_prefix(". "))?;
    let word = rest.split([';', '#']).next()?.trim();
    let word = word.replace(['"', '\''], "");
    if word.is_empty() {
        return None;
    }
    if word.starts_with('$') {
        let slash = word
            .rfind(['}', ')'])
            .map_or_else(|| word.find('/'), |i| word[i..].find('/').map(|j| i + j))?;
        return Some(format!("./{}", &word[slash + 1..]));
    }
    Some(word)
}

fn doc_above(lines: &[(usize, &str)], i: usize) -> Option<String> {
    let mut doc: Vec<&str> = lines[..i]
        .iter()
        .rev()
        .map(|(_, l)| l.trim())
        .take_while(|l| l.starts_with('#') && !l.starts_with("#!"))
        .map(|l| l.trim_start_matches('#').trim())
        .collect();
    doc.reverse();
    (!doc.is_empty()).then(|| doc.join("\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outlines_functions_docs_and_sources() {
        let text = "#!/bin/bash\n. \"$(dirname \"$0\")/lib.sh\"\nsource ../common.sh\n# Greets.\n# Twice.\ngreet() {\n  echo hi\n}\nfunction bye {\n  echo bye\n}\n";
        let o = outline(text);
        let names: Vec<&str> = o.symbols.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["greet", "bye"]);
        assert_eq!(o.symbols[0].doc.as_deref(), Some("Greets.\nTwice."));
        assert_eq!((o.symbols[0].span.start_line, o.symbols[0].span.end_line), (6, 8));
        assert_eq!(
            &text[o.symbols[1].span.start_byte..o.symbols[1].span.end_byte],
            "function bye {\n  echo bye\n}"
        );
        let raws: Vec<&str> = o.imports.iter().map(|i| i.raw.as_str()).collect();
        assert_eq!(raws, ["./lib.sh", "../common.sh"]);
    }
}
