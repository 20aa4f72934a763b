#!/usr/bin/env python3
"""The configurations of our benches in PyTorch (CPU, 2 threads), to compare
side by side. Run with the interop environment's Python:

    $(scripts/interop_env) scripts/bench_torch.py [SEQ_LEN]
    $(scripts/interop_env) scripts/bench_torch.py score [CONTEXT TARGET PAIRS]

The first is `cargo bench -p repo2agent-trainer --bench train`: a Llama with
RMSNorm, rotate-half RoPE, GQA, SwiGLU, tied embeddings; cross-entropy,
backward, global-norm clipping and AdamW per step. `score` is `cargo bench -p
repo2agent-scorers --bench score`: SmolLM2-135M in f32 (transformers, from the
same GGUF, dequantized) scoring PAIRS (context, target) pairs cut from the same
sources the same way, the output head on the target positions only. Both
print tokens/s.
"""
import math
import sys
import time

import torch
import torch.nn.functional as F

V, D, L, H, KV, FF = 4096, 256, 4, 8, 4, 704
HD = D // H


class Block(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.n1 = torch.nn.RMSNorm(D, eps=1e-5)
        self.q = torch.nn.Linear(D, H * HD, bias=False)
        self.k = torch.nn.Linear(D, KV * HD, bias=False)
        self.v = torch.nn.Linear(D, KV * HD, bias=False)
        self.o = torch.nn.Linear(H * HD, D, bias=False)
        self.n2 = torch.nn.RMSNorm(D, eps=1e-5)
        self.g = torch.nn.Linear(D, FF, bias=False)
        self.u = torch.nn.Linear(D, FF, bias=False)
        self.d = torch.nn.Linear(FF, D, bias=False)

    def forward(self, x, cos, sin):
        b, t, _ = x.shape
        h = self.n1(x)
        q = self.q(h).view(b, t, H, HD).transpose(1, 2)
        k = self.k(h).view(b, t, KV, HD).transpose(1, 2)
        v = self.v(h).view(b, t, KV, HD).transpose(1, 2)

        def rope(z):
            a, c = z[..., : HD // 2], z[..., HD // 2 :]
            return z * cos + torch.cat([-c, a], -1) * sin

        q, k = rope(q), rope(k)
        k = k.repeat_interleave(H // KV, 1)
        v = v.repeat_interleave(H // KV, 1)
        a = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.o(a.transpose(1, 2).reshape(b, t, D))
        h = self.n2(x)
        return x + self.d(F.silu(self.g(h)) * self.u(h))


class Llama(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = torch.nn.Embedding(V, D)
        self.blocks = torch.nn.ModuleList([Block() for _ in range(L)])
        self.norm = torch.nn.RMSNorm(D, eps=1e-5)

    def forward(self, ids):
        t = ids.shape[1]
        inv = 10000.0 ** (-torch.arange(0, HD, 2).float() / HD)
        ang = torch.outer(torch.arange(t).float(), inv)
        ang = torch.cat([ang, ang], -1)
        cos, sin = ang.cos()[None, None], ang.sin()[None, None]
        x = self.emb(ids)
        for blk in self.blocks:
            x = blk(x, cos, sin)
        return self.norm(x) @ self.emb.weight.T


def score(args):
    """`cargo bench -p repo2agent-scorers --bench score`'s pairs in transformers."""
    import pathlib
    import subprocess

    from transformers import AutoModelForCausalLM, AutoTokenizer

    ctx, tgt, pairs = (int(a) for a in (args + ["600", "250", "3"][len(args):]))
    torch.set_num_threads(2)
    root = pathlib.Path(__file__).resolve().parent.parent
    gguf = subprocess.run(
        ["python3", str(root / "scripts/llama_server.py"), "--install-only"],
        check=True, capture_output=True, text=True,
    ).stdout.strip().splitlines()[-1].strip()
    path = pathlib.Path(gguf)
    tok = AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name)
    model = AutoModelForCausalLM.from_pretrained(path.parent, gguf_file=path.name, dtype=torch.float32).eval()
    sources = ["plugins/scorers/src/burn_scorer.rs", "trainer/src/model.rs", "trainer/src/attention.rs"]
    text = "".join((root / p).read_text() for p in sources if (root / p).exists())

    def cut(start, n):
        return text[start:start + n]

    def ids(t):
        return tok(t, add_special_tokens=False)["input_ids"]

    rows = []
    for i in range(pairs):
        c = ids(cut(i * 97, ctx * 4))[-ctx:]
        t = ids(cut(ctx * 4 + 2000, tgt * 4))
        rows.append((c, t))
    width = max(len(c) + len(t) for c, t in rows)
    pad = tok.pad_token_id if tok.pad_token_id is not None else 0
    # Left padding: every target ends the row, so one slice of the last
    # positions holds all of them.
    batch = torch.tensor([[pad] * (width - len(c) - len(t)) + c + t for c, t in rows])
    mask = torch.tensor([[0] * (width - len(c) - len(t)) + [1] * (len(c) + len(t)) for c, t in rows])
    keep = max(len(t) for _, t in rows) + 1
    tokens = sum(len(c) + len(t) for c, t in rows)

    def run():
        with torch.inference_mode():
            logits = model(input_ids=batch, attention_mask=mask, logits_to_keep=keep).logits
            nll = []
            for r, (_, t) in enumerate(rows):
                lp = torch.log_softmax(logits[r, -len(t) - 1:-1].float(), -1)
                nll.append(-lp.gather(1, torch.tensor(t)[:, None]).mean().item())
            return nll

    run()  # warm-up
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        nll = run()
        times.append(time.perf_counter() - t0)
    med = sorted(times)[1]
    print(
        f"pytorch {torch.__version__}, transformers, SmolLM2-135M f32: {pairs} pairs, {tokens} tokens per call: "
        f"{med:.2f} s, {tokens / med:.0f} tokens/s (mean NLL of the first pair {nll[0]:.4f})"
    )


def main():
    if sys.argv[1:2] == ["score"]:
        return score(sys.argv[2:])
    seq = int(sys.argv[1]) if len(sys.argv) > 1 else 1024
    torch.set_num_threads(2)
    torch.manual_seed(0)
    m = Llama()
    opt = torch.optim.AdamW(m.parameters(), lr=1e-3, betas=(0.9, 0.95), weight_decay=0.1)
    ids = torch.randint(0, V, (2, seq))
    params = sum(p.numel() for p in m.parameters())
    times = []
    for step in range(4):
        t0 = time.perf_counter()
        logits = m(ids[:, :-1])
        loss = F.cross_entropy(logits.reshape(-1, V), ids[:, 1:].reshape(-1))
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(m.parameters(), 1.0)
        opt.step()
        if step > 0:
            times.append(time.perf_counter() - t0)
    mean = sum(times) / len(times)
    print(f"pytorch {torch.__version__}: {params} parameters; batch 2 x {seq}: step {mean:.3f} s, {2 * seq / mean:.0f} tokens/s")


if __name__ == "__main__":
    main()
