#!/usr/bin/env python3
"""Edge accuracy of repo2agent's dependency graph against established tools.

- Python: grimp (the import graph behind import-linter) on packages of the
  standard library; module-level edges inside each package.
- JavaScript: madge (precinct + filing-cabinet) on npm's own dependencies;
  file-level edges between .js/.cjs/.mjs files.
- TypeScript: madge on the `src/` of npm packages that ship their TypeScript
  sources; file-level edges between .ts/.tsx files.

Installs both into ~/.cache/repo2agent/accuracy (PyPI, npm), runs
`repo2agent analyze --format json` on the same directories, and prints
precision, recall and F1 per language and per target, plus the differing edges
with --verbose. Usage:

    scripts/accuracy.py [--binary target/release/repo2agent] [--verbose] [--min-f1 0.97]
"""
import argparse
import json
import os
import subprocess
import sys
import sysconfig

CACHE = os.path.expanduser("~/.cache/repo2agent/accuracy")
GRIMP = "grimp==3.9"
MADGE = "madge@8.0.0"
TYPESCRIPT = "typescript@5.6.3"  # madge parses TypeScript with it
# npm packages that ship their TypeScript sources (`src/`).
TS_PACKAGES = ["@tanstack/query-core@5.59.0", "@tanstack/react-query@5.59.0", "immer@10.1.1", "@trpc/server@10.45.2"]
TS_EXTS = (".ts", ".tsx", ".mts", ".cts")
PY_PACKAGES = ["email", "json", "asyncio", "importlib", "concurrent", "xml", "unittest", "http",
               "logging", "multiprocessing", "urllib", "sqlite3", "tomllib", "zoneinfo", "wsgiref",
               "dbm", "html", "collections", "encodings", "pydoc_data", "lib2to3", "idlelib"]
JS_EXTS = (".js", ".cjs", ".mjs")


def sh(cmd, **kw):
    return subprocess.run(cmd, check=True, capture_output=True, text=True, **kw).stdout


def install():
    py = os.path.join(CACHE, "py")
    if not os.path.isdir(os.path.join(py, "grimp")):
        sh([sys.executable, "-m", "pip", "install", "-q", "--target", py, GRIMP])
    sys.path.insert(0, py)
    # grimp's worker processes import from there too.
    os.environ["PYTHONPATH"] = py + os.pathsep + os.environ.get("PYTHONPATH", "")
    npm = os.path.join(CACHE, "npm")
    madge = os.path.join(npm, "node_modules", ".bin", "madge")
    if not os.path.exists(madge):
        os.makedirs(npm, exist_ok=True)
        sh(["npm", "install", "--silent", "--no-audit", "--no-fund", "--prefix", npm, MADGE, TYPESCRIPT])
    return madge


def ours(binary, directory):
    """repo2agent's edges and the set of files it kept (skipped files, e.g.
    vendored or too large, are left out of the comparison on both sides)."""
    out = json.loads(sh([binary, "analyze", directory, "--format", "json"]))
    path = {f["id"]: f["path"] for f in out["files"]}
    return {(path[e["from"]], path[e["to"]]) for e in out["analysis"]["graph"]["edges"]}, set(path.values())


def score(name, mine, theirs, verbose):
    tp = len(mine & theirs)
    fp = len(mine - theirs)
    fn = len(theirs - mine)
    if verbose:
        for e in sorted(mine - theirs):
            print(f"    {name}: only repo2agent: {e[0]} -> {e[1]}")
        for e in sorted(theirs - mine):
            print(f"    {name}: only reference:  {e[0]} -> {e[1]}")
    return tp, fp, fn


def prf(tp, fp, fn):
    p = tp / (tp + fp) if tp + fp else 1.0
    r = tp / (tp + fn) if tp + fn else 1.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return p, r, f


def python_edges(binary, verbose):
    import grimp  # noqa: E402 (installed above)
    stdlib = sysconfig.get_paths()["stdlib"]
    total = [0, 0, 0]
    rows = []
    for pkg in PY_PACKAGES:
        d = os.path.join(stdlib, pkg)
        if not os.path.isfile(os.path.join(d, "__init__.py")):
            continue
        g = grimp.build_graph(pkg, include_external_packages=False, cache_dir=None)
        theirs = set()
        for m in g.modules:
            for n in g.find_modules_directly_imported_by(m):
                if m != n:
                    theirs.add((m, n))

        def module(p):
            if not p.endswith(".py"):
                return None
            stem = p[:-3]
            stem = stem[: -len("/__init__")] if stem.endswith("/__init__") else ("" if stem == "__init__" else stem)
            return pkg + ("." + stem.replace("/", ".") if stem else "")

        mine = set()
        edges, _ = ours(binary, d)
        for a, b in edges:
            ma, mb = module(a), module(b)
            if ma and mb and ma in g.modules and mb in g.modules:
                mine.add((ma, mb))
        tp, fp, fn = score(pkg, mine, theirs, verbose)
        rows.append((pkg, tp, fp, fn))
        total = [total[0] + tp, total[1] + fp, total[2] + fn]
    return rows, total


def js_edges(binary, madge, verbose):
    import shutil
    root = os.path.join(sh(["npm", "root", "-g"]).strip(), "npm", "node_modules")
    # madge skips anything under a node_modules path: analyze copies.
    work = os.path.join(CACHE, "js")
    shutil.rmtree(work, ignore_errors=True)
    total = [0, 0, 0]
    rows = []
    for name in sorted(os.listdir(root)):
        d = os.path.join(root, name)
        if name.startswith(".") or not os.path.isdir(d):
            continue
        if name.startswith("@"):
            continue
        d = shutil.copytree(d, os.path.join(work, name), symlinks=True, ignore=shutil.ignore_patterns("node_modules"))
        raw = json.loads(sh([madge, "--json", "--extensions", "js,cjs,mjs", d]))
        edges, kept = ours(binary, d)
        theirs = {(a, b) for a, deps in raw.items() for b in deps
                  if a.endswith(JS_EXTS) and b.endswith(JS_EXTS) and a in kept and b in kept}
        mine = {(a, b) for a, b in edges if a.endswith(JS_EXTS) and b.endswith(JS_EXTS)}
        if not mine and not theirs:
            continue
        tp, fp, fn = score(name, mine, theirs, verbose)
        rows.append((name, tp, fp, fn))
        total = [total[0] + tp, total[1] + fp, total[2] + fn]
    return rows, total


def ts_edges(binary, madge, verbose):
    import shutil
    import tarfile
    work = os.path.join(CACHE, "ts")
    os.makedirs(work, exist_ok=True)
    total = [0, 0, 0]
    rows = []
    for spec in TS_PACKAGES:
        name = spec.rsplit("@", 1)[0].replace("/", "-").lstrip("@")
        src = os.path.join(work, name, "src")
        if not os.path.isdir(src):
            tgz = sh(["npm", "pack", "--silent", spec], cwd=work).strip().splitlines()[-1]
            with tarfile.open(os.path.join(work, tgz)) as t:
                t.extractall(os.path.join(work, name), filter="data")
            shutil.move(os.path.join(work, name, "package", "src"), src)
        raw = json.loads(sh([madge, "--json", "--extensions", "ts,tsx", src]))
        edges, kept = ours(binary, src)
        theirs = {(a, b) for a, deps in raw.items() for b in deps
                  if a.endswith(TS_EXTS) and b.endswith(TS_EXTS) and a in kept and b in kept}
        mine = {(a, b) for a, b in edges if a.endswith(TS_EXTS) and b.endswith(TS_EXTS)}
        tp, fp, fn = score(name, mine, theirs, verbose)
        rows.append((name, tp, fp, fn))
        total = [total[0] + tp, total[1] + fp, total[2] + fn]
    return rows, total


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", default="target/release/repo2agent")
    ap.add_argument("--verbose", action="store_true")
    ap.add_argument("--min-f1", type=float, default=None, help="exit 1 if a language's F1 is below this")
    args = ap.parse_args()
    madge = install()
    ok = True
    passed = failed = 0
    for lang, (rows, total) in [("python (grimp)", python_edges(args.binary, args.verbose)),
                                ("javascript (madge)", js_edges(args.binary, madge, args.verbose)),
                                ("typescript (madge)", ts_edges(args.binary, madge, args.verbose))]:
        p, r, f = prf(*total)
        print(f"{lang}: {len(rows)} targets, {total[0]} common edges, {total[1]} only ours, "
              f"{total[2]} only theirs: precision {p:.4f}, recall {r:.4f}, F1 {f:.4f}")
        if args.verbose:
            for name, tp, fp, fn in rows:
                print(f"  {name}: tp {tp} fp {fp} fn {fn} F1 {prf(tp, fp, fn)[2]:.3f}")
        if args.min_f1 is not None:
            if f < args.min_f1:
                ok = False
                failed += 1
                print(f"{lang}: F1 {f:.4f} is below {args.min_f1}")
            else:
                passed += 1
    if args.min_f1 is not None:
        print(f"accuracy: {passed} passed, {failed} failed")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
