#!/usr/bin/env python3
"""llama-cpp-python's OpenAI-compatible server (PyPI `llama-cpp-python[server]`),
the one local server that returns prompt-token logprobs (`/v1/completions` with
`echo: true` + `logprobs`), which the `openai-logprobs` scorer needs.

PyPI ships it as source only: the first run compiles llama.cpp into a venv under
~/.cache/repo2agent/llama-cpp-python (12-15 minutes on 2 cores); later runs reuse
that venv. The build is portable AVX2 (`-DGGML_NATIVE=OFF ...`): the native build
picks AMX on some CPUs and crashes on the first request.

    scripts/llama_cpp_python.py --install-only       # builds if needed, prints the venv's python
    scripts/llama_cpp_python.py --model X.gguf --port 18182 [--kv-cache f32]
        # execs `python -m llama_cpp.server` (same pid) with --logits_all true;
        # the server prints "Uvicorn running on http://127.0.0.1:PORT" once ready

Its `/v1/completions` with `echo` + `logprobs` pairs each prompt token with the
logprobs computed at that token's own position unless the prompt starts with
the model's BOS token, which it then strips from the answer (and counts
`text_offset` from after it). For a model that adds no BOS (SmolLM2), start
every prompt with the BOS text (`<|im_start|>`), e.g. the `openai-logprobs`
scorer's `prompt_prefix`; otherwise every logprob is off by one token.
"""
import argparse
import fcntl
import os
import subprocess
import sys

VENV = os.path.expanduser("~/.cache/repo2agent/llama-cpp-python")
PACKAGE = "llama-cpp-python[server]==0.3.36"
CMAKE_ARGS = "-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON"
# Written after a successful install; its content is the package spec, so a
# version bump here rebuilds.
MARKER = os.path.join(VENV, "repo2agent-installed")


def venv_python():
    return os.path.join(VENV, "bin", "python")


def installed():
    try:
        with open(MARKER) as f:
            return f.read().strip() == PACKAGE
    except OSError:
        return False


def install():
    if installed():
        return venv_python()
    # One build at a time: a second caller (scripts/test's background build and
    # a test asking for the server) waits for the first, then finds it done.
    os.makedirs(os.path.dirname(VENV), exist_ok=True)
    with open(VENV + ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if installed():
            return venv_python()
        return build()


def build():
    print(f"llama_cpp_python.py: building {PACKAGE} into {VENV} (12-15 minutes on 2 cores)",
          file=sys.stderr, flush=True)
    if not os.path.exists(venv_python()):
        subprocess.run([sys.executable, "-m", "venv", VENV], check=True)
    env = dict(os.environ)
    env["CMAKE_ARGS"] = CMAKE_ARGS
    env.setdefault("CMAKE_BUILD_PARALLEL_LEVEL", str(os.cpu_count() or 2))
    subprocess.run([venv_python(), "-m", "pip", "install", "-q", PACKAGE],
                   check=True, env=env)
    # Import check: a broken build should fail here, not on the first request.
    subprocess.run([venv_python(), "-c", "import llama_cpp, llama_cpp.server"], check=True)
    with open(MARKER, "w") as f:
        f.write(PACKAGE + "\n")
    return venv_python()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--install-only", action="store_true", help="build/reuse the venv, print its python, exit")
    ap.add_argument("--model", help="GGUF file to serve")
    ap.add_argument("--port", type=int, default=18182)
    ap.add_argument("--ctx", type=int, default=4096)
    ap.add_argument("--kv-cache", choices=["f16", "f32"], default="f16", help="K/V cache type (default f16)")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="CPU threads (default: all)")
    args = ap.parse_args()
    py = install()
    if args.install_only:
        print(py, flush=True)
        return
    if args.model is None or not os.path.isfile(args.model):
        sys.exit(f"no such model file: {args.model}")
    argv = [py, "-m", "llama_cpp.server", "--model", os.path.abspath(args.model),
            "--host", "127.0.0.1", "--port", str(args.port), "--n_ctx", str(args.ctx),
            "--logits_all", "true", "--n_threads", str(args.threads), "--n_threads_batch", str(args.threads)]
    if args.kv_cache == "f32":
        argv += ["--type_k", "0", "--type_v", "0"]  # GGML_TYPE_F32
    sys.stdout.flush()
    os.execv(py, argv)


if __name__ == "__main__":
    main()
