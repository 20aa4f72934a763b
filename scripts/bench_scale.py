#!/usr/bin/env python3
"""Scale benchmark of `repo2agent run` (issue #8): the template pipeline
(Repo2Agent variant: template policy, agent format, roles mask, Llama 3
tokenizer, 65,536-token packing) over real crate sources from the cargo
registry, at 1x and 10x corpus size. Prints repositories/s, MB/s of code,
tokens/s and the peak RSS of each run (wait4's ru_maxrss), as a Markdown table.

    scripts/bench_scale.py [--base 12] [--factors 1,10] [--workers 0] [--keep DIR]
    scripts/bench_scale.py --monorepo 1024 [--whole] [--workers 0] [--keep DIR]
    scripts/bench_scale.py --base 1000 --factors 1 --vs-hf

With --vs-hf every run is followed by Hugging Face `tokenizers` alone on the
same output text (`--example hf_alone` of repo2agent-tokenizer: the documents
of the run's shards decoded back to text, then encoded by the library's own
`encode`, one document per call, on 1 thread and on one per core), and the
table adds the run's wall time over each: how the whole pipeline compares to
tokenizing its output alone.

The release binary is built first. The corpus is the first BASE*factor crate
directories of $CARGO_HOME/registry/src (sorted by name, so a machine with the
same registry gets the same corpus); the 10x corpus contains the 1x one. With
--replicate the 10x corpus is instead the 1x corpus copied 10 times (same size
distribution, so peak memory compares like with like: it is set by the largest
repositories in flight, not by the corpus size).

With --monorepo MB the corpus is one generated repository of about MB
megabytes: a Cargo workspace whose members are copies of the registry's crates
(`crates/NAME-copyI`, cycling through them in name order), run with the default
`input.max_repo_bytes`, so it is split into its packages; with --whole it is
one unit of work (`max_repo_bytes = 0`), which shows how a worker's memory
grows with one repository's size. Every row also gives
the outputs' size on disk (units, trajectories, shards, manifest, stats) over
the bytes of code kept.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def crates():
    home = Path(os.environ.get("CARGO_HOME", Path.home() / ".cargo"))
    found = []
    for index in sorted((home / "registry" / "src").glob("*")):
        found.extend(p for p in index.iterdir() if p.is_dir())
    return sorted(found, key=lambda p: p.name)


def llama3_tokenizer():
    out = subprocess.run(
        [str(ROOT / "scripts" / "assets"), "llama3-tokenizer"], check=True, capture_output=True, text=True
    ).stdout.strip().splitlines()
    return out[-1]


def run(binary, corpus, tokenizer, workers, work, whole=False):
    work.mkdir(parents=True, exist_ok=True)
    (work / "repos.txt").write_text("".join(f"{p}\n" for p in corpus))
    (work / "bench.toml").write_text(
        f"""[input]
repos = ["repos.txt"]
{"max_repo_bytes = 0" if whole else ""}

[policies.template]
type = "template"

[format]
type = "agent"

[mask]
type = "roles"
weights = {{ observation = 0.0 }}

[tokenizer]
path = {json.dumps(tokenizer)}

[output]
dir = "out"
seq_len = 65536
"""
    )
    args = [str(binary), "run", "-c", str(work / "bench.toml"), "-q"]
    if workers:
        args += ["--workers", str(workers)]
    started = time.monotonic()
    proc = subprocess.Popen(args, cwd=work, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.monotonic() - started
    if status != 0:
        sys.exit(f"run failed with status {status}")
    stats = json.loads((work / "out" / "stats.json").read_text())
    disk = sum(p.stat().st_size for p in (work / "out").rglob("*") if p.is_file())
    return wall, usage.ru_maxrss / 1024, stats, disk


def tree_bytes(path):
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def monorepo(dest, megabytes, crates):
    """A Cargo workspace of about `megabytes` MB: copies of `crates`, cycled."""
    (dest / "crates").mkdir(parents=True, exist_ok=True)
    (dest / "Cargo.toml").write_text('[workspace]\nmembers = ["crates/*"]\nresolver = "2"\n')
    (dest / "README.md").write_text("# mono\n\nA generated workspace of real crate sources.\n")
    total, i = 0, 0
    while total < megabytes * 1e6:
        c = crates[i % len(crates)]
        target = dest / "crates" / f"{c.name}-copy{i // len(crates)}"
        shutil.copytree(c, target, symlinks=True)
        total += tree_bytes(target)
        i += 1
    return i


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base", type=int, default=12, help="crates in the 1x corpus")
    ap.add_argument("--factors", default="1,10")
    ap.add_argument("--workers", type=int, default=0, help="0: one per core")
    ap.add_argument("--keep", type=Path, help="keep the runs' outputs here")
    ap.add_argument("--replicate", action="store_true", help="Nx = the 1x corpus copied N times")
    ap.add_argument("--monorepo", type=int, metavar="MB", help="one generated workspace of about MB megabytes")
    ap.add_argument(
        "--whole", action="store_true", help="with --monorepo: one unit of work (input.max_repo_bytes = 0), not split"
    )
    ap.add_argument("--vs-hf", action="store_true", help="time HF tokenizers alone on each run's output text")
    a = ap.parse_args()

    subprocess.run(["cargo", "build", "--release", "-q", "-p", "repo2agent-cli"], cwd=ROOT, check=True)
    target = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
    binary = target / "release" / "repo2agent"
    if a.vs_hf:
        subprocess.run(
            ["cargo", "build", "--release", "-q", "-p", "repo2agent-tokenizer", "--example", "hf_alone"],
            cwd=ROOT,
            check=True,
        )
    cores = a.workers or os.cpu_count() or 1
    tokenizer = llama3_tokenizer()
    all_crates = crates()
    tmp = Path(tempfile.mkdtemp(prefix="bench-scale-"))
    rows = []
    try:
        if a.monorepo:
            mono = tmp / "corpus" / "mono"
            members = monorepo(mono, a.monorepo, all_crates)
            print(f"monorepo: {members} member crates, {tree_bytes(mono) / 1e6:.0f} MB on disk", file=sys.stderr)
        for f in ([1] if a.monorepo else (int(x) for x in a.factors.split(","))):
            corpus = [tmp / "corpus" / "mono"] if a.monorepo else all_crates[: a.base * f]
            if a.replicate and not a.monorepo:
                corpus = []
                for i in range(f):
                    for c in all_crates[: a.base]:
                        dest = tmp / "corpus" / f"{c.name}-copy{i}"
                        if not dest.exists():
                            shutil.copytree(c, dest, symlinks=True)
                        corpus.append(dest)
            if len(corpus) < a.base * f and not a.monorepo:
                print(f"note: only {len(corpus)} crates in the registry for {f}x", file=sys.stderr)
            work = (a.keep or tmp) / f"x{f}"
            wall, rss, s, disk = run(binary, corpus, tokenizer, a.workers, work, a.whole and bool(a.monorepo))
            mb = s["ingest"]["bytes_kept"] / 1e6
            tokens = s.get("tokens", {}).get("tokens", 0)
            repos = s["repos"]["total"]
            hf = []
            if a.vs_hf:
                for threads in sorted({1, cores}):
                    out = subprocess.run(
                        [str(target / "release" / "examples" / "hf_alone"), str(work / "out" / "shards"), str(threads)],
                        check=True,
                        capture_output=True,
                        text=True,
                    ).stdout
                    hf.append(json.loads(out.strip().splitlines()[-1]))
                    print(f"{f}x: HF tokenizers alone, {threads} thread(s): {hf[-1]}", file=sys.stderr)
            rows.append((f, repos, s["ingest"]["files_kept"], mb, tokens, wall, rss, disk / 1e6, s["seconds"], hf))
            print(
                f"{f}x: {repos} repos, {mb:.1f} MB, {tokens:,} tokens in {wall:.1f} s; peak RSS {rss:.0f} MB; "
                f"outputs {disk / 1e6:.1f} MB; split {s['ingest'].get('repos_split', 0)} into "
                f"{s['ingest'].get('packages', 0)}, skipped {s['repos'].get('skipped', {})}",
                file=sys.stderr,
            )
    finally:
        if not a.keep:
            shutil.rmtree(tmp, ignore_errors=True)

    print(
            "| corpus | repos | files | MB of code | tokens | wall s | repos/s | MB/s | tokens/s | peak RSS MB "
            "| outputs MB (× code) |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for f, repos, files, mb, tokens, wall, rss, disk, _, _ in rows:
        name = f"monorepo {a.monorepo} MB" if a.monorepo else f"{f}x"
        print(
            f"| {name} | {repos} | {files:,} | {mb:.1f} | {tokens:,} | {wall:.1f} | {repos / wall:.2f} | "
            f"{mb / wall:.2f} | {tokens / wall:,.0f} | {rss:.0f} | {disk:.1f} ({disk / mb:.2f}×) |"
        )
    for f, *_, seconds, _ in rows:
        parts = ", ".join(f"{k} {v:.1f}" for k, v in sorted(seconds.items()))
        print(f"\n{f}x seconds per stage (summed over workers): {parts}")
    if a.vs_hf:
        print("\n| corpus | whole run | HF tokenizers alone on its output text | run / HF alone |")
        print("|---|---|---|---|")
        for f, *_, wall, _, _, _, hf in rows:
            for h in hf:
                print(
                    f"| {f}x | {wall:.1f} s | {h['seconds']:.1f} s ({h['threads']} thread(s), {h['tokens']:,} tokens, "
                    f"{h['tokens'] / h['seconds']:,.0f} tokens/s) | **{wall / h['seconds']:.2f}×** |"
                )


if __name__ == "__main__":
    main()
