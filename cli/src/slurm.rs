//! `repo2agent slurm`: Slurm job scripts that run the pipeline sharded over an
//! array of N tasks (`run --shard K/N --resume`) and merge the parts afterwards.
//!
//! [`scripts`] builds the text (pure, unit-tested); [`write`] puts it on disk.
//! Every path is shell-quoted ([`sh_quote`]) in the script bodies and quoted for
//! sbatch's own parser ([`sbatch_quote`]) in `#SBATCH` lines.

use anyhow::Context;
use std::path::{Path, PathBuf};

/// What the scripts run and how they ask Slurm for resources. Paths should be
/// absolute: the jobs start in whatever directory sbatch was called from.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The `repo2agent` binary the jobs execute.
    pub binary: PathBuf,
    /// The run config (TOML).
    pub config: PathBuf,
    /// Output root: workers write `parts/K`, the merge `merged`, logs go to `logs/`.
    pub out: PathBuf,
    /// Where `worker.sbatch`, `merge.sbatch` and `submit.sh` are written.
    pub scripts: PathBuf,
    /// Array tasks (shards), at least 1.
    pub tasks: u32,
    /// `--cpus-per-task`, also the workers' `--workers` when Slurm does not say.
    pub cpus_per_task: u32,
    /// `--mem`, e.g. `8G`.
    pub mem: Option<String>,
    /// `--time`, e.g. `04:00:00`.
    pub time: Option<String>,
    /// `--partition`.
    pub partition: Option<String>,
    /// `--account`.
    pub account: Option<String>,
    /// Extra `#SBATCH` lines for both jobs, written as given (`--qos=low`).
    pub extra: Vec<String>,
    /// Array throttle: at most this many tasks at once (`--array=0-(N-1)%M`).
    pub max_parallel: Option<u32>,
}

/// The three scripts' text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scripts {
    /// The array job: task K runs part K of N.
    pub worker: String,
    /// The merge job, after every worker succeeded.
    pub merge: String,
    /// Submits both, the merge depending on the array.
    pub submit: String,
}

/// Where [`write`] put the scripts.
#[derive(Debug, Clone)]
pub struct Written {
    pub worker: PathBuf,
    pub merge: PathBuf,
    pub submit: PathBuf,
}

/// Characters a word may consist of to be left unquoted.
fn is_plain(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '/' | '-' | ':' | '=' | ',' | '+' | '@' | '%')
}

/// `text` as one shell word: unchanged when it consists of plain characters
/// only, otherwise in single quotes with each `'` written as `'\''`.
pub fn sh_quote(text: &str) -> String {
    if !text.is_empty() && text.chars().all(is_plain) {
        return text.to_string();
    }
    format!("'{}'", text.replace('\'', r"'\''"))
}

/// `text` as one argument of an `#SBATCH` line. sbatch's parser treats a
/// backslash as an escape even inside quotes and an unquoted `#` as a comment,
/// so this uses double quotes with `\` and `"` escaped.
pub fn sbatch_quote(text: &str) -> String {
    if !text.is_empty() && text.chars().all(is_plain) {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        if matches!(c, '\\' | '"') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// A path as UTF-8 text that fits on one script line.
fn text_of<'a>(what: &str, path: &'a Path) -> anyhow::Result<&'a str> {
    let text = path
        .to_str()
        .with_context(|| format!("the {what} path {} is not valid UTF-8", path.display()))?;
    anyhow::ensure!(
        !text.contains(['\n', '\r']),
        "the {what} path {text:?} contains a line break"
    );
    Ok(text)
}

/// `text` with a trailing `/`.
fn dir_prefix(text: &str) -> String {
    if text.ends_with('/') {
        text.to_string()
    } else {
        format!("{text}/")
    }
}

/// The `#SBATCH` header lines both jobs share after their name and log.
fn common_header(s: &Settings) -> anyhow::Result<String> {
    let mut h = format!("#SBATCH --cpus-per-task={}\n", s.cpus_per_task);
    for (flag, value) in [
        ("mem", &s.mem),
        ("time", &s.time),
        ("partition", &s.partition),
        ("account", &s.account),
    ] {
        if let Some(v) = value {
            anyhow::ensure!(!v.contains(['\n', '\r']), "--{flag} {v:?} contains a line break");
            h.push_str(&format!("#SBATCH --{flag}={}\n", sbatch_quote(v)));
        }
    }
    for line in &s.extra {
        anyhow::ensure!(!line.contains(['\n', '\r']), "--sbatch {line:?} contains a line break");
        h.push_str(&format!("#SBATCH {}\n", line.trim()));
    }
    Ok(h)
}

/// The three scripts for `s`. Errors on a path that is not UTF-8 or holds a
/// line break, a value with a line break, or zero tasks.
pub fn scripts(s: &Settings) -> anyhow::Result<Scripts> {
    anyhow::ensure!(s.tasks >= 1, "--tasks must be at least 1");
    let n = s.tasks;
    let bin = sh_quote(text_of("binary", &s.binary)?);
    let config = sh_quote(text_of("config", &s.config)?);
    let out = text_of("output", &s.out)?;
    let (parts, merged, logs) = (s.out.join("parts"), s.out.join("merged"), s.out.join("logs"));
    let (parts, merged, logs) = (
        text_of("output", &parts)?,
        text_of("output", &merged)?,
        text_of("output", &logs)?,
    );
    let worker_path = sh_quote(text_of("scripts", &s.scripts.join("worker.sbatch"))?);
    let merge_path = sh_quote(text_of("scripts", &s.scripts.join("merge.sbatch"))?);
    // In `--output`, `%` starts a Slurm filename pattern; `%%` is a literal one.
    let log = |name: &str| sbatch_quote(&format!("{}{name}", dir_prefix(logs).replace('%', "%%")));
    let common = common_header(s)?;
    let throttle = s.max_parallel.map(|m| format!("%{m}")).unwrap_or_default();
    let last = n - 1;

    let worker = format!(
        r#"#!/bin/bash
#SBATCH --job-name=repo2agent-worker
#SBATCH --array=0-{last}{throttle}
#SBATCH --output={worker_log}
#SBATCH --open-mode=append
{common}
# Written by `repo2agent slurm`. Array task K processes part K of {n} of the
# config's repositories into {out}/parts/K; --resume skips repositories
# already finished there, so a re-queued or resubmitted task continues.
# One task again: sbatch --array=K {worker_path}
set -euo pipefail
if [ -z "${{SLURM_ARRAY_TASK_ID:-}}" ]; then
    echo "worker.sbatch: SLURM_ARRAY_TASK_ID is not set; submit it as an array job (bash submit.sh, or sbatch --array=0-{last} worker.sbatch)" >&2
    exit 2
fi
exec {bin} run -c {config} --out {parts_prefix}"$SLURM_ARRAY_TASK_ID" --shard "$SLURM_ARRAY_TASK_ID"/{n} --resume --workers "${{SLURM_CPUS_PER_TASK:-{cpus}}}" -q
"#,
        worker_log = log("worker-%a.log"),
        parts_prefix = sh_quote(&dir_prefix(parts)),
        cpus = s.cpus_per_task,
    );

    let mut part_args = String::new();
    for k in 0..n {
        part_args.push_str(&format!(" \\\n    {}", sh_quote(&format!("{}{k}", dir_prefix(parts)))));
    }
    let merge = format!(
        r#"#!/bin/bash
#SBATCH --job-name=repo2agent-merge
#SBATCH --output={merge_log}
#SBATCH --open-mode=append
{common}
# Written by `repo2agent slurm`. Joins the {n} workers' parts into one dataset;
# every part is listed, so a missing one is an error rather than skipped.
set -euo pipefail
exec {bin} merge -c {config} --out {merged}{part_args}
"#,
        merge_log = log("merge.log"),
        merged = sh_quote(merged),
    );

    let submit = format!(
        r#"#!/bin/bash
# Written by `repo2agent slurm`. Submits the {n} workers as an array job and the
# merge to run after all of them succeed. Arguments go to both sbatch calls,
# e.g. bash submit.sh --partition=short --qos=low
set -euo pipefail
mkdir -p {logs_q}
jid=$(sbatch --parsable "$@" {worker_path})
jid=${{jid%%;*}}
mid=$(sbatch --parsable --dependency=afterok:"$jid" "$@" {merge_path})
mid=${{mid%%;*}}
printf 'workers: job %s, %s array tasks writing %s/K (logs %s/worker-K.log)\n' "$jid" {n} {parts_q} {logs_q}
printf 'merge:   job %s, after all workers succeed, writing %s (log %s/merge.log)\n' "$mid" {merged_q} {logs_q}
"#,
        logs_q = sh_quote(logs),
        parts_q = sh_quote(parts),
        merged_q = sh_quote(merged),
    );
    Ok(Scripts { worker, merge, submit })
}

/// Writes the scripts into `s.scripts` (created; `submit.sh` executable) and
/// creates the log directory, which Slurm needs to exist before a job starts.
pub fn write(s: &Settings) -> anyhow::Result<Written> {
    let text = scripts(s)?;
    std::fs::create_dir_all(&s.scripts).with_context(|| format!("cannot create {}", s.scripts.display()))?;
    let logs = s.out.join("logs");
    std::fs::create_dir_all(&logs).with_context(|| format!("cannot create {}", logs.display()))?;
    let written = Written {
        worker: s.scripts.join("worker.sbatch"),
        merge: s.scripts.join("merge.sbatch"),
        submit: s.scripts.join("submit.sh"),
    };
    for (path, body) in [
        (&written.worker, &text.worker),
        (&written.merge, &text.merge),
        (&written.submit, &text.submit),
    ] {
        std::fs::write(path, body).with_context(|| format!("cannot write {}", path.display()))?;
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&written.submit, std::fs::Permissions::from_mode(0o755))
            .with_context(|| format!("cannot make {} executable", written.submit.display()))?;
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> Settings {
        Settings {
            binary: PathBuf::from("/opt/bin/repo2agent"),
            config: PathBuf::from("/home/me/run.toml"),
            out: PathBuf::from("/scratch/out"),
            scripts: PathBuf::from("/scratch/out/slurm"),
            tasks: 4,
            cpus_per_task: 2,
            mem: None,
            time: None,
            partition: None,
            account: None,
            extra: vec![],
            max_parallel: None,
        }
    }

    #[test]
    fn quoting_leaves_plain_words_and_single_quotes_the_rest() {
        assert_eq!(sh_quote("/a/b-c_d.toml"), "/a/b-c_d.toml");
        assert_eq!(sh_quote("/my dir/it's"), r"'/my dir/it'\''s'");
        assert_eq!(sh_quote(""), "''");
        assert_eq!(sh_quote("$HOME"), "'$HOME'");
        assert_eq!(sbatch_quote("/a b/#x\\\""), r#""/a b/#x\\\"""#);
        assert_eq!(sbatch_quote("04:00:00"), "04:00:00");
    }

    #[test]
    fn worker_is_an_array_over_the_shards() {
        let t = scripts(&settings()).unwrap();
        assert!(
            t.worker
                .starts_with("#!/bin/bash\n#SBATCH --job-name=repo2agent-worker\n")
        );
        assert!(t.worker.contains("\n#SBATCH --array=0-3\n"), "{}", t.worker);
        assert!(t.worker.contains("\n#SBATCH --cpus-per-task=2\n"));
        assert!(
            t.worker
                .contains("\n#SBATCH --output=/scratch/out/logs/worker-%a.log\n")
        );
        assert!(t.worker.contains("\nset -euo pipefail\n"));
        assert!(t.worker.contains("exit 2\n"));
        assert!(t.worker.contains(
            "\nexec /opt/bin/repo2agent run -c /home/me/run.toml --out /scratch/out/parts/\"$SLURM_ARRAY_TASK_ID\" \
             --shard \"$SLURM_ARRAY_TASK_ID\"/4 --resume --workers \"${SLURM_CPUS_PER_TASK:-2}\" -q\n"
        ));
        assert!(!t.worker.contains("--mem"));

        let mut s = settings();
        s.tasks = 1;
        s.max_parallel = Some(8);
        s.cpus_per_task = 16;
        s.mem = Some("8G".into());
        s.time = Some("04:00:00".into());
        s.partition = Some("cpu".into());
        s.account = Some("proj 1".into());
        s.extra = vec!["--qos=low".into()];
        let t = scripts(&s).unwrap();
        for line in [
            "#SBATCH --array=0-0%8",
            "#SBATCH --cpus-per-task=16",
            "#SBATCH --mem=8G",
            "#SBATCH --time=04:00:00",
            "#SBATCH --partition=cpu",
            "#SBATCH --account=\"proj 1\"",
            "#SBATCH --qos=low",
        ] {
            assert!(t.worker.lines().any(|l| l == line), "{line}:\n{}", t.worker);
        }
        assert!(t.worker.contains("--shard \"$SLURM_ARRAY_TASK_ID\"/1 "));
        assert!(t.worker.contains("${SLURM_CPUS_PER_TASK:-16}"));
        // Both jobs get the resources.
        assert!(t.merge.lines().any(|l| l == "#SBATCH --qos=low"));
        assert!(t.merge.lines().any(|l| l == "#SBATCH --mem=8G"));
        assert!(!t.merge.contains("--array"));
    }

    #[test]
    fn merge_lists_every_part() {
        let t = scripts(&settings()).unwrap();
        assert!(t.merge.contains("#SBATCH --job-name=repo2agent-merge\n"));
        assert!(t.merge.contains("#SBATCH --output=/scratch/out/logs/merge.log\n"));
        assert!(
            t.merge
                .contains("exec /opt/bin/repo2agent merge -c /home/me/run.toml --out /scratch/out/merged \\\n")
        );
        let parts: Vec<&str> = t
            .merge
            .lines()
            .filter_map(|l| l.trim().strip_prefix("/scratch/out/parts/"))
            .map(|l| l.trim_end_matches(" \\"))
            .collect();
        assert_eq!(parts, ["0", "1", "2", "3"]);
    }

    #[test]
    fn submit_chains_the_merge_after_the_array() {
        let t = scripts(&settings()).unwrap();
        let lines: Vec<&str> = t.submit.lines().collect();
        assert!(lines.contains(&"set -euo pipefail"));
        assert!(lines.contains(&"jid=$(sbatch --parsable \"$@\" /scratch/out/slurm/worker.sbatch)"));
        assert!(lines.contains(&"jid=${jid%%;*}"));
        assert!(lines.contains(
            &"mid=$(sbatch --parsable --dependency=afterok:\"$jid\" \"$@\" /scratch/out/slurm/merge.sbatch)"
        ));
        assert!(t.submit.contains("mkdir -p /scratch/out/logs\n"));
    }

    #[test]
    fn paths_with_spaces_and_quotes_are_quoted_everywhere() {
        let mut s = settings();
        s.binary = PathBuf::from("/opt/my tools/repo2agent");
        s.config = PathBuf::from("/home/o'brien/run.toml");
        s.out = PathBuf::from("/scratch/it's out 100%");
        s.scripts = PathBuf::from("/scratch/my scripts");
        s.tasks = 2;
        let t = scripts(&s).unwrap();
        assert!(t.worker.contains(
            r#"exec '/opt/my tools/repo2agent' run -c '/home/o'\''brien/run.toml' --out '/scratch/it'\''s out 100%/parts/'"$SLURM_ARRAY_TASK_ID" "#
        ), "{}", t.worker);
        assert!(
            t.worker
                .contains("#SBATCH --output=\"/scratch/it's out 100%%/logs/worker-%a.log\"\n")
        );
        assert!(t.merge.contains(r#"--out '/scratch/it'\''s out 100%/merged' \"#));
        assert!(t.merge.contains(r#"    '/scratch/it'\''s out 100%/parts/0' \"#));
        assert!(t.merge.contains("    '/scratch/it'\\''s out 100%/parts/1'\n"));
        assert!(t.submit.contains("\"$@\" '/scratch/my scripts/worker.sbatch')\n"));
        assert!(t.submit.contains("\"$@\" '/scratch/my scripts/merge.sbatch')\n"));
    }

    #[test]
    fn line_breaks_are_refused() {
        let mut s = settings();
        s.out = PathBuf::from("/a\nb");
        assert!(scripts(&s).is_err());
        let mut s = settings();
        s.extra = vec!["--qos=low\nrm -rf /".into()];
        assert!(scripts(&s).is_err());
    }
}
