//! `repo2agent merge`: the outputs of sharded runs (`run --shard K/N`, one
//! output directory per part) joined into one dataset. The units of every
//! part are assembled in the whole run's order, exactly as a single run
//! assembles its own, so N parts merged equal one run over all repositories:
//! the same `trajectories.jsonl`, the same packed shards, the same counters.
//! Every part must be finished (its `manifest.jsonl` written) with the same
//! config and inputs, every part of N present once, and every unit must still
//! have the hash its manifest recorded.

use crate::config::RunConfig;
use crate::run::assemble::Assembler;
use crate::run::progress::{Progress, ProgressEvent};
use crate::run::report::{PipelineError, RunReport};
use crate::run::units::{ManifestEntry, RunHead, Status, Unit};
use crate::stats::RunStats;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Joins finished parts into `config.output.dir`.
pub fn merge(config: &RunConfig, parts: &[PathBuf], progress: &dyn Progress) -> Result<RunReport, PipelineError> {
    let started = Instant::now();
    let out = &config.output.dir;
    let mismatch = |m: String| Err(PipelineError::Mismatch(m));
    if parts.is_empty() {
        return mismatch("nothing to merge: name the parts' output directories".into());
    }
    let mut heads = Vec::new();
    for part in parts {
        if same_dir(part, out) {
            return mismatch(format!(
                "the output directory {} is also a part to merge",
                out.display()
            ));
        }
        if part.join(crate::run::units::MANIFEST_FILE).is_file() && !part.join(crate::run::units::UNITS_DIR).exists() {
            return mismatch(format!(
                "{} has no units: they were removed after its run (`run --keep-units=false` or `clean`), and a part is merged from them; run it again",
                part.display()
            ));
        }
        let head = RunHead::read(part)?;
        if head.fingerprint != config.fingerprint {
            return mismatch(format!(
                "{} was made with another config than {} (fingerprints differ)",
                part.display(),
                config.source
            ));
        }
        heads.push(head);
    }
    let first = &heads[0];
    for (part, head) in parts.iter().zip(&heads) {
        if head.inputs != first.inputs || head.repos != first.repos {
            return mismatch(format!(
                "{} and {} read other inputs ({:?} vs {:?})",
                parts[0].display(),
                part.display(),
                first.inputs,
                head.inputs
            ));
        }
    }
    check_parts(parts, &heads)?;

    // Every unit of every part, in the whole run's order.
    let mut all: BTreeMap<(u64, Option<u32>), (PathBuf, ManifestEntry)> = BTreeMap::new();
    let mut policy: BTreeMap<String, u64> = BTreeMap::new();
    for part in parts {
        let entries = ManifestEntry::read_all(part).map_err(|e| {
            PipelineError::Mismatch(format!(
                "{e} (a part is merged only once its run has finished; run it again with --resume)"
            ))
        })?;
        let failed = entries.iter().filter(|e| e.outcome.status == Status::Failed).count();
        if failed > 0 {
            tracing::warn!(
                "{}: {failed} repositories failed; `run --resume` on that part retries them",
                part.display()
            );
        }
        for entry in entries {
            let position = entry.outcome.position;
            if let Some((other, _)) = all.insert((position, entry.outcome.part), (part.clone(), entry)) {
                return mismatch(format!(
                    "repository #{position} is in both {} and {}",
                    other.display(),
                    part.display()
                ));
            }
        }
        match std::fs::read(part.join("stats.json"))
            .ok()
            .and_then(|b| serde_json::from_slice::<RunStats>(&b).ok())
        {
            Some(s) => crate::stats::add_counts(&mut policy, &s.simulation.policy),
            None => tracing::warn!(
                "{}: no readable stats.json; its policy counters are left out",
                part.display()
            ),
        }
    }

    std::fs::create_dir_all(out).map_err(PipelineError::io(out))?;
    let head = RunStats {
        ingest: crate::stats::IngestStats {
            repos_other_shards: 0,
            ..first.ingest.clone()
        },
        ..Default::default()
    };
    let mut assembler = Assembler::new(config, out, head)?;
    progress.event(ProgressEvent::Started {
        repos: all.len() as u64,
    });
    for (part, entry) in all.values() {
        let path = part.join(&entry.unit);
        let (unit, sha) = Unit::read(&path)?;
        if sha != entry.sha256 || unit.header.outcome != entry.outcome {
            return mismatch(format!(
                "{} changed after its run finished (the manifest recorded another hash)",
                path.display()
            ));
        }
        // Read back whole: the line and the document are in `unit`.
        let document = unit.segments.is_some().then_some(None);
        let tokens = assembler.push(&unit, &sha, &path, path.display().to_string(), false, document)?;
        progress.event(ProgressEvent::RepoDone {
            repo: &entry.outcome.name,
            bytes: entry.outcome.bytes,
            tokens,
        });
    }
    if assembler.writes_shards() {
        progress.event(ProgressEvent::Finishing {
            what: "writing the merged shards",
        });
    }
    assembler.finish(policy, started)
}

/// The parts of one split, each once and none missing (or one unsplit run).
fn check_parts(parts: &[PathBuf], heads: &[RunHead]) -> Result<(), PipelineError> {
    let parsed: Vec<Option<crate::ingest::Partition>> = heads
        .iter()
        .map(|h| {
            h.partition
                .as_deref()
                .and_then(|p| crate::ingest::Partition::parse(p).ok())
        })
        .collect();
    if parsed.iter().all(Option::is_none) {
        return if parts.len() == 1 {
            Ok(())
        } else {
            Err(PipelineError::Mismatch(
                "these runs were not sharded (`run --shard K/N`): each already holds every repository".into(),
            ))
        };
    }
    let Some(n) = parsed.iter().flatten().map(|p| p.count).next() else {
        return Ok(());
    };
    let mut seen: BTreeMap<u32, &Path> = BTreeMap::new();
    for (part, p) in parts.iter().zip(&parsed) {
        let Some(p) = p.filter(|p| p.count == n) else {
            return Err(PipelineError::Mismatch(format!(
                "{} is not one of {n} parts",
                part.display()
            )));
        };
        if let Some(other) = seen.insert(p.index, part) {
            return Err(PipelineError::Mismatch(format!(
                "part {p} twice: {} and {}",
                other.display(),
                part.display()
            )));
        }
    }
    let missing: Vec<String> = (0..n)
        .filter(|k| !seen.contains_key(k))
        .map(|k| format!("{k}/{n}"))
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(PipelineError::Mismatch(format!(
            "parts missing: {}",
            missing.join(", ")
        )))
    }
}

fn same_dir(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}
