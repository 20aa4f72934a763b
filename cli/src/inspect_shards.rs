//! `repo2agent inspect SHARD_DIR`: one packed sequence decoded, with the role
//! and loss weight of every span and the document boundaries.

use anyhow::Context;
use repo2agent_core::model::Role;
use repo2agent_core::shard::{DatasetMeta, MdsReader, PAD_ROLE, TOKENIZER_FILE};
use repo2agent_core::stage::TokenEncoder;
use std::io::Write;
use std::path::Path;

/// Whether `path` is a shard directory (has `index.json`).
pub fn is_shard_dir(path: &Path) -> bool {
    path.is_dir() && path.join("index.json").is_file()
}

/// A role id's colour (padding and unknown ids dim).
fn ansi(role: u8) -> &'static str {
    Role::from_id(role).map_or("\x1b[2m", crate::inspect::ansi)
}

fn role_name(role: u8) -> &'static str {
    match Role::from_id(role) {
        Some(r) => r.name(),
        None if role == PAD_ROLE => "pad",
        None => "unknown",
    }
}

/// Prints sequence `index` of the shards in `dir`; at most `max_tokens` tokens
/// are decoded (0 = all).
pub fn print(dir: &Path, index: u64, max_tokens: usize, color: bool) -> anyhow::Result<()> {
    let reader = MdsReader::open(dir)?;
    let meta = DatasetMeta::read(dir)?;
    let encoder = repo2agent_tokenizer::load_saved(&dir.join(TOKENIZER_FILE), meta.tokenizer.clone())
        .map_err(anyhow::Error::msg)?;
    anyhow::ensure!(
        index < reader.len(),
        "no sequence {index}: {} has {} sequences",
        dir.display(),
        reader.len()
    );
    let s = reader
        .sample(index)
        .with_context(|| format!("reading sequence {index}"))?;
    let weights = s.weights();
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "{}: {} sequences in {} shard files · seq_len {} · tokenizer {} (vocab {}) · masker {}",
        dir.display(),
        reader.len(),
        reader.index().shards.len(),
        meta.seq_len,
        meta.tokenizer.kind,
        meta.tokenizer.vocab_size,
        meta.masker
    )?;
    let total = s.input_ids.len();
    let real = s.length as usize;
    let trained: f32 = weights.iter().sum();
    let masked = weights[..real.min(total)].iter().filter(|w| **w == 0.0).count();
    writeln!(
        out,
        "sequence {index}: {total} tokens, {real} real, {} padding · {} documents · loss weight {trained} ({masked} real tokens masked)",
        total - real,
        s.indices.len()
    )?;
    let mut by_role: std::collections::BTreeMap<&str, usize> = Default::default();
    for r in &s.roles {
        *by_role.entry(role_name(*r)).or_default() += 1;
    }
    writeln!(out, "tokens by role: {by_role:?}")?;
    if color {
        let legend: Vec<String> = Role::ALL
            .iter()
            .map(|r| format!("{}{}\x1b[0m", ansi(r.id()), r.name()))
            .collect();
        writeln!(out, "roles: {} · masked spans are struck through\n", legend.join(" "))?;
    } else {
        writeln!(out, "spans: [role] or [role w=WEIGHT] when the weight is not 1\n")?;
    }
    let limit = if max_tokens == 0 { total } else { max_tokens.min(total) };
    let starts: std::collections::BTreeMap<usize, usize> = s
        .indices
        .iter()
        .enumerate()
        .map(|(d, [a, _])| (*a as usize, d))
        .collect();
    let mut i = 0;
    while i < limit {
        if let Some(d) = starts.get(&i) {
            let [a, b] = s.indices[*d];
            writeln!(out, "{}── document {d}: tokens {a}..{b} ──{}", dim(color), reset(color))?;
        }
        if s.roles[i] == PAD_ROLE {
            writeln!(out, "{}[pad × {}]{}", dim(color), total - i, reset(color))?;
            break;
        }
        let mut j = i + 1;
        while j < limit && s.roles[j] == s.roles[i] && weights[j] == weights[i] && !starts.contains_key(&j) {
            j += 1;
        }
        let text = encoder.decode(&s.input_ids[i..j])?;
        let (role, w) = (s.roles[i], weights[i]);
        if color {
            let strike = if w == 0.0 { "\x1b[9m" } else { "" };
            write!(out, "{}{strike}{text}\x1b[0m", ansi(role))?;
        } else if w == 1.0 {
            write!(out, "[{}]{text}", role_name(role))?;
        } else {
            write!(out, "[{} w={w}]{text}", role_name(role))?;
        }
        i = j;
    }
    if limit < total && s.roles[limit.saturating_sub(1)] != PAD_ROLE {
        writeln!(out, "\n… {} more tokens (--max-tokens 0 shows all)", total - limit)?;
    }
    writeln!(out)?;
    out.flush()?;
    Ok(())
}

fn dim(color: bool) -> &'static str {
    if color { "\x1b[2m" } else { "" }
}

fn reset(color: bool) -> &'static str {
    if color { "\x1b[0m" } else { "" }
}
