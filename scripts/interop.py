#!/usr/bin/env python3
"""Reads repo2agent's outputs with the real readers of the ecosystem.

    interop.py mds SHARD_DIR EXPECTED_JSON
    interop.py megatron PREFIX EXPECTED_JSON

`mds`: the shards, read with MosaicML's `streaming` package.

EXPECTED_JSON holds the samples as repo2agent wrote them
({"samples": [{"input_ids": [...], "indices": [[a, b], ...], "mask": [...],
"roles": [...], "length": n, "weight": [...]?}, ...]}). The script checks that

1. `streaming.StreamingDataset(local=SHARD_DIR)` gives back exactly these
   arrays, with the dtypes and shapes of ProLong's layout, in order;
2. `streaming.MDSWriter`, given the same samples and the same size limit,
   writes byte-identical shard files and an identical index.json.

`megatron`: PREFIX.bin/.idx and PREFIX_loss_mask.bin/.idx, read with
megatron-core's `IndexedDataset`; EXPECTED_JSON is
{"documents": [{"input_ids": [...], "mask": [...]}, ...]}.

Exit status 0 when everything matches; the first difference is printed.
(scripts/interop_env installs both packages.)
"""
import json
import os
import sys
import tempfile

import numpy as np


def fail(msg):
    print(f"MISMATCH: {msg}", file=sys.stderr)
    sys.exit(1)


def check_mds(shard_dir, expected_path):
    from streaming import MDSWriter, StreamingDataset

    expected = json.load(open(expected_path))["samples"]
    index = json.load(open(os.path.join(shard_dir, "index.json")))

    ds = StreamingDataset(local=shard_dir, shuffle=False, batch_size=1)
    if len(ds) != len(expected):
        fail(f"StreamingDataset has {len(ds)} samples, expected {len(expected)}")
    for i, want in enumerate(expected):
        got = ds[i]
        for key, dtype in [("input_ids", np.uint32), ("mask", np.uint8), ("roles", np.uint8)]:
            arr = got[key]
            if arr.dtype != dtype or arr.ndim != 1:
                fail(f"sample {i} {key}: dtype {arr.dtype} ndim {arr.ndim}")
            if arr.tolist() != want[key]:
                fail(f"sample {i} {key} differs")
        ind = got["indices"]
        if ind.dtype != np.uint32 or ind.ndim != 2 or ind.shape[1] != 2:
            fail(f"sample {i} indices: dtype {ind.dtype} shape {ind.shape}")
        if ind.tolist() != want["indices"]:
            fail(f"sample {i} indices differ: {ind.tolist()} vs {want['indices']}")
        if int(got["length"]) != want["length"]:
            fail(f"sample {i} length {got['length']} vs {want['length']}")
        if "weight" in want:
            w = got["weight"]
            if w.dtype != np.float32 or not np.array_equal(w, np.array(want["weight"], np.float32)):
                fail(f"sample {i} weight differs")
        elif "weight" in got:
            fail(f"sample {i} has an unexpected weight column")
    # Iteration (what a training loop does) gives the same samples in order.
    n = 0
    for i, got in enumerate(ds):
        if got["input_ids"].tolist() != expected[i]["input_ids"]:
            fail(f"iterated sample {i} differs")
        n += 1
    if n != len(expected):
        fail(f"iteration gave {n} samples")

    # The reference writer produces the same bytes.
    first = index["shards"][0]
    columns = dict(zip(first["column_names"], first["column_encodings"]))
    with tempfile.TemporaryDirectory() as tmp:
        ref = os.path.join(tmp, "ref")
        with MDSWriter(out=ref, columns=columns, size_limit=first["size_limit"]) as w:
            for want in expected:
                sample = {
                    "input_ids": np.array(want["input_ids"], np.uint32),
                    "indices": np.array(want["indices"], np.uint32).reshape(-1, 2),
                    "mask": np.array(want["mask"], np.uint8),
                    "roles": np.array(want["roles"], np.uint8),
                    "length": want["length"],
                }
                if "weight" in want:
                    sample["weight"] = np.array(want["weight"], np.float32)
                w.write(sample)
        ref_index = json.load(open(os.path.join(ref, "index.json")))
        if ref_index != index:
            fail(f"index.json differs from MDSWriter's:\n{json.dumps(ref_index)}\n{json.dumps(index)}")
        for s in index["shards"]:
            name = s["raw_data"]["basename"]
            a = open(os.path.join(shard_dir, name), "rb").read()
            b = open(os.path.join(ref, name), "rb").read()
            if a != b:
                fail(f"{name} differs from MDSWriter's ({len(a)} vs {len(b)} bytes)")
    print(f"ok: {len(expected)} samples in {len(index['shards'])} shards read back by streaming; "
          f"MDSWriter wrote identical bytes")


def check_megatron(prefix, expected_path):
    from megatron.core.datasets.indexed_dataset import IndexedDataset

    expected = json.load(open(expected_path))["documents"]
    tokens = IndexedDataset(prefix)
    mask = IndexedDataset(prefix + "_loss_mask")
    for name, ds in [("tokens", tokens), ("loss mask", mask)]:
        if len(ds) != len(expected):
            fail(f"{name}: {len(ds)} sequences, expected {len(expected)}")
        if list(ds.document_indices) != list(range(len(expected) + 1)):
            fail(f"{name}: document indices {list(ds.document_indices)[:10]}…")
    if mask.index.dtype != np.uint8:
        fail(f"loss mask dtype {mask.index.dtype}")
    if list(tokens.sequence_lengths) != list(mask.sequence_lengths):
        fail("the loss mask's sequence lengths differ from the tokens'")
    for i, want in enumerate(expected):
        if tokens[i].tolist() != want["input_ids"]:
            fail(f"document {i} tokens differ")
        if mask[i].tolist() != want["mask"]:
            fail(f"document {i} loss mask differs")
    print(f"ok: {len(expected)} documents read back by megatron-core IndexedDataset "
          f"(tokens {tokens.index.dtype.__name__}, loss mask uint8)")


if __name__ == "__main__":
    what, path, expected_path = sys.argv[1], sys.argv[2], sys.argv[3]
    {"mds": check_mds, "megatron": check_megatron}[what](path, expected_path)
