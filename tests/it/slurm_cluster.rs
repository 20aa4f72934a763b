//! `repo2agent slurm` on a real Slurm cluster (issue #10): a one-machine
//! cluster from Debian's `slurm-wlm` and `munge` (`scripts/slurm_cluster.sh`,
//! which installs them when missing), the generated scripts submitted as they
//! are (`bash submit.sh`: a 3-task array and a merge that depends on it), and
//! the merged dataset compared with a single-process run; then a task cancelled
//! with `scancel` in the middle of its part, resubmitted, resumes.

use repo2agent_tests::*;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// The cluster; stopped (by its PIDs) when dropped.
struct Cluster {
    state: PathBuf,
    conf: String,
}

impl Cluster {
    fn start(state: &Path) -> Cluster {
        let script = workspace_root().join("scripts/slurm_cluster.sh");
        let out = Command::new(&script)
            .args(["start", state.to_str().unwrap(), "4"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "the cluster did not start: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let conf = state.join("slurm.conf").display().to_string();
        Cluster {
            state: state.to_path_buf(),
            conf,
        }
    }

    /// A Slurm client command with this cluster's config.
    fn cmd(&self, program: &str) -> Command {
        let mut c = Command::new(program);
        c.env("SLURM_CONF", &self.conf);
        c
    }

    fn run(&self, program: &str, args: &[&str]) -> String {
        let out = self.cmd(program).args(args).output().unwrap();
        assert!(
            out.status.success(),
            "{program} {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Waits until the job (every task of an array) has left the queue; returns
    /// each task's state as `scontrol` reports it.
    fn wait(&self, job: &str) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(600);
        while !self.run("squeue", &["-h", "-j", job]).trim().is_empty() {
            assert!(Instant::now() < deadline, "job {job} still queued after 10 minutes");
            std::thread::sleep(Duration::from_millis(200));
        }
        self.states(job)
    }

    fn states(&self, job: &str) -> Vec<String> {
        self.run("scontrol", &["show", "job", job])
            .split_whitespace()
            .filter_map(|w| w.strip_prefix("JobState="))
            .map(str::to_owned)
            .collect()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = Command::new(workspace_root().join("scripts/slurm_cluster.sh"))
            .args(["stop", self.state.to_str().unwrap()])
            .output();
    }
}

fn units(part: &Path) -> Vec<(String, std::time::SystemTime)> {
    let mut u: Vec<_> = std::fs::read_dir(part.join("units"))
        .map(|d| {
            d.flatten()
                .filter(|e| e.path().extension().is_some_and(|x| x == "zst"))
                .map(|e| {
                    (
                        e.file_name().to_string_lossy().into_owned(),
                        e.metadata().unwrap().modified().unwrap(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    u.sort();
    u
}

#[test]
fn the_slurm_scripts_run_on_a_real_cluster_and_a_cancelled_task_resumes() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let cluster = Cluster::start(&dir.join("slurm"));

    // A small real corpus: crate sources, 3 parts of a few repositories each.
    let crates = [
        "itoa",
        "ryu",
        "heck",
        "anstyle",
        "cfg-if",
        "once_cell",
        "scopeguard",
        "either",
        "smallvec",
        "fnv",
        "hex",
        "strsim",
        "memchr",
        "bitflags",
        "log",
    ];
    let list: String = crates
        .iter()
        .map(|c| format!("{}\n", crate_source_dir(c).display()))
        .collect();
    std::fs::write(dir.join("repos.txt"), list).unwrap();
    std::fs::write(
        dir.join("run.toml"),
        "[input]\nrepos = [\"repos.txt\"]\n[policies.template]\ntype = \"template\"\n[format]\ntype = \"agent\"\n[tokenizer]\ntype = \"bpe\"\nvocab_size = 1024\n[output]\ndir = \"out\"\nseq_len = 4096\n",
    )
    .unwrap();
    let cfg = dir.join("run.toml").display().to_string();
    let (code, _, err) = run_cli(dir, &["run", "-c", &cfg, "--out", "single", "-q"]);
    assert_eq!(code, 0, "{err}");
    let single = run_outputs(&dir.join("single"));

    // 1. The scripts as generated: `bash submit.sh` submits the array and the
    //    merge; the merged dataset is the single run's.
    let scripts = |job: &Path| {
        let (code, _, err) = run_cli(
            dir,
            &[
                "slurm",
                "-c",
                &cfg,
                "--tasks",
                "3",
                "--out",
                job.to_str().unwrap(),
                "--cpus-per-task",
                "1",
            ],
        );
        assert_eq!(code, 0, "{err}");
    };
    let job = dir.join("job");
    scripts(&job);
    let out = cluster
        .cmd("bash")
        .arg(job.join("slurm/submit.sh"))
        .current_dir(dir)
        .output()
        .unwrap();
    let submitted = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{submitted}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // "workers: job N, …" and "merge:   job M, …"
    let job_id = |prefix: &str| -> String {
        let line = submitted
            .lines()
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no `{prefix}` line in: {submitted}"));
        let after = &line[line.find("job ").unwrap() + 4..];
        after.chars().take_while(char::is_ascii_digit).collect()
    };
    let ids = [job_id("workers:"), job_id("merge:")];
    let (array, merge) = (&ids[0], &ids[1]);
    let states = cluster.wait(array);
    assert_eq!(states, ["COMPLETED"; 3], "the array's tasks");
    assert_eq!(cluster.wait(merge), ["COMPLETED"], "the merge, after the array");
    assert_same_outputs(&single, &run_outputs(&job.join("merged")), "merged on Slurm");
    for k in 0..3 {
        assert!(job.join(format!("logs/worker-{k}.log")).is_file());
    }

    // 2. A task cancelled in the middle of its part and submitted again resumes:
    //    what it had finished is reused, the merge equals the single run.
    let job2 = dir.join("job2");
    scripts(&job2);
    let worker = job2.join("slurm/worker.sbatch");
    let array = cluster.run("sbatch", &["--parsable", worker.to_str().unwrap()]);
    let array = array.trim().split(';').next().unwrap().to_owned();
    // The part with the most repositories is the one to cancel.
    let part = (0..3u32)
        .max_by_key(|k| {
            crates
                .iter()
                .filter(|c| {
                    let name = crate_source_dir(c).file_name().unwrap().to_string_lossy().into_owned();
                    repo2agent_core::ingest::Partition { index: *k, count: 3 }.contains(&name)
                })
                .count()
        })
        .unwrap();
    let part_dir = job2.join(format!("parts/{part}"));
    let deadline = Instant::now() + Duration::from_secs(300);
    while units(&part_dir).is_empty() {
        assert!(Instant::now() < deadline, "task {part} wrote no unit");
        std::thread::sleep(Duration::from_millis(2));
    }
    cluster.run("scancel", &[&format!("{array}_{part}")]);
    let states = cluster.wait(&array);
    assert!(
        states.iter().any(|s| s == "CANCELLED"),
        "task {part} was cancelled: {states:?}"
    );
    assert!(
        !part_dir.join("manifest.jsonl").exists(),
        "the cancelled task had not finished its part"
    );
    let before = units(&part_dir);
    assert!(!before.is_empty());
    let again = cluster.run(
        "sbatch",
        &["--parsable", &format!("--array={part}"), worker.to_str().unwrap()],
    );
    let again = again.trim().split(';').next().unwrap().to_owned();
    assert_eq!(cluster.wait(&again), ["COMPLETED"]);
    let after = units(&part_dir);
    for unit in &before {
        assert!(after.contains(unit), "{} was reused, not written again", unit.0);
    }
    let merge = cluster.run(
        "sbatch",
        &["--parsable", job2.join("slurm/merge.sbatch").to_str().unwrap()],
    );
    let merge = merge.trim().split(';').next().unwrap().to_owned();
    assert_eq!(cluster.wait(&merge), ["COMPLETED"]);
    assert_same_outputs(
        &single,
        &run_outputs(&job2.join("merged")),
        "merged after a cancelled task resumed",
    );
}
