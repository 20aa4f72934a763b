#!/usr/bin/env python3
"""Continue pretraining a Hugging Face Llama on repo2agent's shards with
PyTorch, Hugging Face transformers and MosaicML `streaming` — the same
TRAIN.toml as `repo2agent train`, the same loss.

    $(scripts/interop_env) scripts/train_torch.py -c TRAIN.toml [--out DIR] [--steps N]

What it shares with our trainer (docs/training.md, "Training on other
engines"):
- the shards are read with `streaming.StreamingDataset` (random access, so no
  copy and no conversion);
- each packed sequence is split at its `indices`: the target of a position
  is the next token of the same document, positions restart at 0 per
  document, attention is causal inside each document only (a 4-D mask given
  to `LlamaForCausalLM`), padding attends only to itself and is never a
  target;
- the loss weight of a position is the shards' weight of the token it
  predicts (`weight` column, or the `mask` column as 0/1): an observation
  masked to 0 is read but never trained on — the same as labels = -100 in
  the usual Hugging Face recipe, and fractional weights are honoured too;
- cross-entropy weighted per token and divided by the total weight of the
  global batch (`micro_batch` x `grad_accum` sequences);
- AdamW (`beta1`, `beta2`, `eps`, decoupled `weight_decay`, none for the
  parameters whose name contains a `no_decay` string), clipping by the
  global gradient norm (`clip_norm`), linear warmup then cosine to `min_lr`;
- a vocabulary the shards' tokenizer extends grows with the mean of the
  existing embedding rows.

What differs: the data order (a seeded permutation per epoch, but not our
trainer's generator), `precision = "bf16"` uses torch.autocast, and only
`[model] from` = a Hugging Face directory is read (convert a GGUF with
llama.cpp's tools, or start our trainer from it). `[eval]`, `[checkpoint]`,
`device`, `attention*` and `loss_chunk` are ours and ignored here.

Writes OUT/metrics.jsonl (one line per step: step, loss, lr, grad_norm,
clipped, tokens, tokens_per_s, step_s, as our trainer) and OUT/final/ (the
model, `save_pretrained`).
"""
import argparse
import json
import math
import os
import sys
import time
import tomllib

import numpy as np
import torch
import torch.nn.functional as F


def fail(msg):
    print(f"scripts/train_torch.py: {msg}", file=sys.stderr)
    sys.exit(3)


def load_config(path):
    try:
        with open(path, "rb") as f:
            c = tomllib.load(f)
    except (OSError, tomllib.TOMLDecodeError) as e:
        fail(f"{path}: {e}")
    base = os.path.dirname(os.path.abspath(path))

    def resolve(p):
        p = os.path.expanduser(p)
        return p if os.path.isabs(p) else os.path.normpath(os.path.join(base, p))

    model, data = c.get("model", {}), c.get("data", {})
    train, opt = c.get("train", {}), c.get("optimizer", {})
    problems = []
    if "from" not in model:
        problems.append("[model] from must name a Hugging Face directory (config.json + safetensors)")
    elif not os.path.isfile(os.path.join(resolve(model["from"]), "config.json")):
        problems.append(f"[model] from = {model['from']!r}: no config.json there (a .gguf is read by our trainer only)")
    if "train" not in data:
        problems.append("[data] train is missing")
    elif not os.path.isfile(os.path.join(resolve(data["train"]), "index.json")):
        problems.append(f"[data] train = {data['train']!r}: no index.json there (make the shards with repo2agent run)")
    if train.get("precision", "f32") not in ("f32", "bf16"):
        problems.append(f"[train] precision = {train['precision']!r}: f32 or bf16")
    cfg = {
        "model": resolve(model["from"]) if "from" in model else None,
        "train_data": resolve(data["train"]) if "train" in data else None,
        "output": resolve(train.get("output", "train-out")),
        "seed": int(train.get("seed", 0)),
        "steps": int(train.get("steps", 100)),
        "micro_batch": int(train.get("micro_batch", 1)),
        "grad_accum": int(train.get("grad_accum", 1)),
        "precision": train.get("precision", "f32"),
        "lr": float(opt.get("lr", 3e-4)),
        "min_lr": float(opt.get("min_lr", 3e-5)),
        "warmup_steps": int(opt.get("warmup_steps", 0)),
        "beta1": float(opt.get("beta1", 0.9)),
        "beta2": float(opt.get("beta2", 0.95)),
        "eps": float(opt.get("eps", 1e-8)),
        "weight_decay": float(opt.get("weight_decay", 0.1)),
        "no_decay": list(opt.get("no_decay", ["norm", "embed_tokens"])),
        "clip_norm": float(opt.get("clip_norm", 1.0)),
    }
    for k in ("steps", "micro_batch", "grad_accum"):
        if cfg[k] < 1:
            problems.append(f"[train] {k} = {cfg[k]} must be >= 1")
    if problems:
        fail(f"{path}: " + "; ".join(problems))
    return cfg


def lr_at(cfg, step):
    """Our trainer's schedule (trainer/src/schedule.rs), `step` 0-based."""
    peak, low, warm, total = cfg["lr"], cfg["min_lr"], cfg["warmup_steps"], cfg["steps"]
    if warm > 0 and step < warm:
        return peak * (step + 1) / warm
    decay = total - warm
    if decay <= 0 or step >= total:
        return low
    progress = (step - warm) / decay
    return low + 0.5 * (peak - low) * (1.0 + math.cos(math.pi * progress))


def example(sample):
    """(inputs, targets, weights, positions, documents) of one packed sequence."""
    ids = np.asarray(sample["input_ids"], dtype=np.int64)
    n = len(ids)
    if "weight" in sample and sample["weight"] is not None:
        w = np.asarray(sample["weight"], dtype=np.float32)
    else:
        w = np.asarray(sample["mask"], dtype=np.float32)
    targets = np.zeros(n, dtype=np.int64)
    weights = np.zeros(n, dtype=np.float32)
    positions = np.zeros(n, dtype=np.int64)
    documents = np.full(n, -1, dtype=np.int64)
    for d, (a, b) in enumerate(np.asarray(sample["indices"]).reshape(-1, 2)):
        a, b = int(a), min(int(b), n)
        positions[a:b] = np.arange(b - a)
        documents[a:b] = d
        targets[a : b - 1] = ids[a + 1 : b]
        weights[a : b - 1] = w[a + 1 : b]
    return ids, targets, weights, positions, documents


def batch_tensors(examples, dtype):
    """Pads a micro-batch to its longest sequence; the 4-D additive mask."""
    t = max(len(e[0]) for e in examples)

    def pad(a, value):
        return np.concatenate([a, np.full(t - len(a), value, dtype=a.dtype)])

    ids = torch.tensor(np.stack([pad(e[0], 0) for e in examples]))
    targets = torch.tensor(np.stack([pad(e[1], 0) for e in examples]))
    weights = torch.tensor(np.stack([pad(e[2], 0.0) for e in examples]))
    positions = torch.tensor(np.stack([pad(e[3], 0) for e in examples]))
    docs = torch.tensor(np.stack([pad(e[4], -1) for e in examples]))
    causal = torch.tril(torch.ones(t, t, dtype=torch.bool))
    same = (docs[:, :, None] == docs[:, None, :]) & (docs[:, :, None] >= 0)
    allowed = (same & causal) | torch.eye(t, dtype=torch.bool)
    mask = torch.zeros(allowed.shape, dtype=dtype).masked_fill(~allowed, torch.finfo(dtype).min)
    return ids, targets, weights, positions, mask[:, None]


def grow_vocab(model, size):
    """The embedding (and an untied head) grown to `size` rows, new rows the mean."""
    old = model.get_input_embeddings().weight.shape[0]
    if size <= old:
        return
    tied = model.config.tie_word_embeddings
    emb = model.get_input_embeddings().weight.detach().clone()
    head = None if tied else model.get_output_embeddings().weight.detach().clone()
    model.resize_token_embeddings(size, mean_resizing=False)
    with torch.no_grad():
        e = model.get_input_embeddings().weight
        e[:old] = emb
        e[old:] = emb.mean(0)
        if head is not None:
            h = model.get_output_embeddings().weight
            h[:old] = head
            h[old:] = head.mean(0)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-c", "--config", required=True, help="TRAIN.toml (the same file as repo2agent train)")
    ap.add_argument("--out", help="output directory (default: [train] output)")
    ap.add_argument("--steps", type=int, help="optimizer steps (default: [train] steps)")
    args = ap.parse_args()
    cfg = load_config(args.config)
    if args.steps is not None:
        cfg["steps"] = args.steps
    out = os.path.abspath(args.out) if args.out else cfg["output"]

    from streaming import StreamingDataset
    from transformers import LlamaForCausalLM

    torch.manual_seed(cfg["seed"])
    ds = StreamingDataset(local=cfg["train_data"], shuffle=False, batch_size=1)
    if len(ds) == 0:
        fail(f"{cfg['train_data']}: no samples")
    model = LlamaForCausalLM.from_pretrained(cfg["model"], dtype=torch.float32, attn_implementation="eager")
    meta_path = os.path.join(cfg["train_data"], "repo2agent.json")
    if os.path.isfile(meta_path):
        with open(meta_path) as f:
            vocab = json.load(f)["tokenizer"]["vocab_size"]
        grow_vocab(model, vocab)
    model.train()
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        (no_decay if any(s in name for s in cfg["no_decay"]) else decay).append(p)
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": cfg["weight_decay"]}, {"params": no_decay, "weight_decay": 0.0}],
        lr=cfg["lr"],
        betas=(cfg["beta1"], cfg["beta2"]),
        eps=cfg["eps"],
    )

    def stream():
        epoch = 0
        while True:
            g = torch.Generator().manual_seed(cfg["seed"] * 1_000_003 + epoch)
            for i in torch.randperm(len(ds), generator=g).tolist():
                yield ds[i]
            epoch += 1

    samples = stream()
    os.makedirs(out, exist_ok=True)
    tokens = 0
    amp = cfg["precision"] == "bf16"
    with open(os.path.join(out, "metrics.jsonl"), "w") as metrics:
        for step in range(cfg["steps"]):
            t0 = time.perf_counter()
            micro = [
                [example(next(samples)) for _ in range(cfg["micro_batch"])] for _ in range(cfg["grad_accum"])
            ]
            total_weight = sum(float(e[2].sum()) for m in micro for e in m) or 1.0
            loss_sum, inputs = 0.0, 0
            for m in micro:
                ids, targets, weights, positions, mask = batch_tensors(m, torch.float32)
                with torch.autocast("cpu", dtype=torch.bfloat16, enabled=amp):
                    logits = model(input_ids=ids, attention_mask=mask, position_ids=positions).logits
                nll = F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), targets.reshape(-1), reduction="none")
                loss = (nll * weights.reshape(-1)).sum() / total_weight
                loss.backward()
                loss_sum += loss.item()
                inputs += ids.numel()
                tokens += int((weights > 0).sum())
            params = [p for p in model.parameters() if p.grad is not None]
            norm = float(torch.nn.utils.clip_grad_norm_(params, cfg["clip_norm"] if cfg["clip_norm"] > 0 else float("inf")))
            lr = lr_at(cfg, step)
            for group in opt.param_groups:
                group["lr"] = lr
            opt.step()
            opt.zero_grad(set_to_none=True)
            if not math.isfinite(loss_sum):
                fail(f"the loss became {loss_sum} at step {step + 1}")
            dt = time.perf_counter() - t0
            line = {
                "step": step + 1,
                "loss": loss_sum,
                "lr": lr,
                "grad_norm": norm,
                "clipped": cfg["clip_norm"] > 0 and norm > cfg["clip_norm"],
                "tokens": tokens,
                "tokens_per_s": inputs / max(dt, 1e-9),
                "step_s": dt,
            }
            metrics.write(json.dumps(line) + "\n")
            metrics.flush()
            print(f"step {step + 1}/{cfg['steps']}: loss {loss_sum:.4f}  lr {lr:.2e}  grad-norm {norm:.3f}", flush=True)
    model.save_pretrained(os.path.join(out, "final"), safe_serialization=True)
    print(f"ok: {cfg['steps']} steps, final model in {os.path.join(out, 'final')}")


if __name__ == "__main__":
    main()
