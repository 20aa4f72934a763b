//! Test plugin: one component of each synchronous kind, small but real, plus
//! deliberate failures, so the tests can drive every path of the host's
//! dynamic-plugin adapters.
//!
//! - analyzer `probe`: language `probe` (`*.probe`); every line `def NAME` is a
//!   function, every line `use PATH` an import. A file containing `PANIC` makes
//!   it panic; a file containing `FAIL` makes it return an error.
//! - scorer `char-nll`: each target character costs `per_char` nats (config).
//! - formatter `path-headers`: `### path` then the file, in the given order.
//! - masker `alternate`: weight 1 for even role ids, 0 for odd ones.
//! - any component whose config has `panic_on_create = true` panics in `create`.

use repo2agent_plugin_abi::{Component, declare_plugin};
use serde::Deserialize;
use serde_json::{Value, json};

const MANIFEST: &str = r#"{
  "name": "probe-plugin",
  "version": "0.1.0",
  "components": [
    {"kind": "analyzer", "type": "probe", "summary": "test analyzer for *.probe files"},
    {"kind": "scorer", "type": "char-nll", "summary": "test scorer: a fixed NLL per character"},
    {"kind": "formatter", "type": "path-headers", "summary": "test formatter: path headers and files"},
    {"kind": "masker", "type": "alternate", "summary": "test masker: even role ids 1, odd 0"}
  ]
}"#;

declare_plugin!(manifest = MANIFEST, factory = build);

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Config {
    #[serde(default)]
    panic_on_create: bool,
    #[serde(default)]
    per_char: Option<f64>,
}

fn build(kind: &str, type_name: &str, config: &str) -> Result<Box<dyn Component>, String> {
    let config: Config = serde_json::from_str(config).map_err(|e| e.to_string())?;
    if config.panic_on_create {
        panic!("probe-plugin was asked to panic in create");
    }
    match (kind, type_name) {
        ("analyzer", "probe") => Ok(Box::new(Probe)),
        ("scorer", "char-nll") => Ok(Box::new(CharNll {
            per_char: config.per_char.unwrap_or(1.0),
        })),
        ("formatter", "path-headers") => Ok(Box::new(PathHeaders)),
        ("masker", "alternate") => Ok(Box::new(Alternate)),
        _ => Err(format!("probe-plugin has no {kind} `{type_name}`")),
    }
}

fn parse(input: &str) -> Result<Value, String> {
    serde_json::from_str(input).map_err(|e| e.to_string())
}

struct Probe;

impl Component for Probe {
    fn call(&self, method: &str, input: &str) -> Result<String, String> {
        match method {
            "describe" => Ok(json!({"name": "probe", "extensions": ["probe"]}).to_string()),
            "outline" => {
                let file = parse(input)?;
                let text = file["text"].as_str().ok_or("no text")?;
                if text.contains("PANIC") {
                    panic!("probe analyzer panicked on purpose");
                }
                if text.contains("FAIL") {
                    return Err("probe analyzer refused the file".into());
                }
                let (mut symbols, mut imports, mut offset) = (Vec::new(), Vec::new(), 0usize);
                for (i, line) in text.split_inclusive('\n').enumerate() {
                    let body = line.trim_end();
                    let n = i as u32 + 1;
                    if let Some(name) = body.strip_prefix("def ") {
                        symbols.push(json!({
                            "kind": "function", "name": name, "signature": body,
                            "span": {"start_byte": offset, "end_byte": offset + body.len(), "start_line": n, "end_line": n}
                        }));
                    } else if let Some(path) = body.strip_prefix("use ") {
                        imports.push(json!({"raw": path, "line": n}));
                    }
                    offset += line.len();
                }
                Ok(json!({"symbols": symbols, "imports": imports}).to_string())
            }
            other => Err(format!("unknown method `{other}`")),
        }
    }
}

struct CharNll {
    per_char: f64,
}

impl Component for CharNll {
    fn call(&self, method: &str, input: &str) -> Result<String, String> {
        if method != "score" {
            return Err(format!("unknown method `{method}`"));
        }
        let batch = parse(input)?;
        let scores: Vec<Value> = batch
            .as_array()
            .ok_or("batch must be an array")?
            .iter()
            .map(|r| {
                let n = r["target"].as_str().map_or(0, |t| t.chars().count());
                json!({"token_nll": vec![self.per_char; n]})
            })
            .collect();
        Ok(Value::Array(scores).to_string())
    }
}

struct PathHeaders;

impl Component for PathHeaders {
    fn call(&self, method: &str, input: &str) -> Result<String, String> {
        match method {
            "describe" => Ok(json!({"needs_trajectory": false}).to_string()),
            "format" => {
                let input = parse(input)?;
                let files = input["snapshot"]["files"].as_array().ok_or("no files")?;
                let mut segments = Vec::new();
                for id in input["order"].as_array().ok_or("no order")? {
                    let f = id.as_u64().and_then(|i| files.get(i as usize)).ok_or("bad file id")?;
                    segments
                        .push(json!({"text": format!("### {}\n", f["path"].as_str().unwrap_or("")), "role": "markup"}));
                    segments.push(json!({"text": f["text"], "role": "code"}));
                }
                Ok(Value::Array(segments).to_string())
            }
            other => Err(format!("unknown method `{other}`")),
        }
    }
}

struct Alternate;

impl Component for Alternate {
    fn call(&self, method: &str, _input: &str) -> Result<String, String> {
        Err(format!("a masker has no method `{method}`"))
    }

    fn mask(&self, roles: &[u8], weights: &mut [f32]) -> Result<(), String> {
        for (r, w) in roles.iter().zip(weights.iter_mut()) {
            *w = if r % 2 == 0 { 1.0 } else { 0.0 };
        }
        Ok(())
    }
}
