#!/usr/bin/env python3
"""Reads repo2agent's outputs with the real readers of the ecosystem.

    interop.py mds SHARD_DIR EXPECTED_JSON
    interop.py megatron PREFIX EXPECTED_JSON
    interop.py gguf FILE.gguf OUT_DIR [--limit N] [--all | NAME ...]
    interop.py gguf-synth OUT.gguf
    interop.py gguf-f32 IN.gguf OUT.gguf
    interop.py hf-logits MODEL_DIR IDS_JSON OUT_JSON
    interop.py hf-tiny MODEL_DIR VOCAB
    interop.py max-diff A.safetensors B.safetensors

`mds`: the shards, read with MosaicML's `streaming` package.

EXPECTED_JSON holds the samples as repo2agent wrote them
({"samples": [{"input_ids": [...], "indices": [[a, b], ...], "mask": [...],
"roles": [...], "length": n, "weight": [...]?}, ...]}). The script checks that

1. `streaming.StreamingDataset(local=SHARD_DIR)` gives back exactly these
   arrays, with the dtypes and shapes of ProLong's layout, in order;
2. `streaming.MDSWriter`, given the same samples, size limit and
   compression, writes byte-identical shard files and an identical index.json
   (compressed shards: identical once decompressed by `streaming`, and an
   identical index.json but for the compressed sizes, which depend on the
   zstd library's version).

`megatron`: PREFIX.bin/.idx and PREFIX_loss_mask.bin/.idx, read with
megatron-core's `IndexedDataset`; EXPECTED_JSON is
{"documents": [{"input_ids": [...], "mask": [...]}, ...]}.

`gguf`: FILE.gguf read with llama.cpp's gguf-py (`gguf.GGUFReader`) and
dequantized with its reference `gguf.quants.dequantize`. Writes OUT_DIR/info.json
({"version", "data_offset", "metadata": {key: {"types": [value type codes],
"value": ...}}, "tensors": [{"name", "type", "type_code", "dims" (ne0 first),
"n_elements", "data_offset" (absolute), "checksum"}], "dumps": {name: file}})
and, for each NAME (every tensor with --all), the first N (--limit) dequantized
values as little-endian f32 in OUT_DIR/<k>.bin. In metadata, f32/f64 values are
given as their IEEE bits (decimal string), arrays as {"len", "head"} (first 16).
A tensor's checksum covers all its dequantized values: the sum over i of
(bits of f32 value i) * (i + 1), wrapping at 2^64, as a decimal string ("" for
a type gguf-py cannot dequantize).

`gguf-synth`: writes with gguf-py's `GGUFWriter` a small file holding every
metadata value type, a custom alignment (64) and tensors of types F32, F16 (all
65536 bit patterns), BF16 (likewise), Q4_0, Q4_1, Q5_0, Q5_1, Q8_0 (quantized by
gguf-py from random values), Q4_K, Q5_K, Q6_K, Q8_K and Q2_K (random blocks with
valid scales; gguf-py only dequantizes these).

`gguf-f32`: a copy of IN.gguf with every tensor dequantized to F32 by gguf-py
(same names, order and GGUF layout: nothing un-permuted), every metadata key and
value kept (tokenizer arrays included) except general.file_type, set to 0
(ALL_F32). Written to OUT.gguf.tmp, then renamed; nothing is done when OUT.gguf
exists. Prints "ok: OUT.gguf".

Exit status 0 when everything matches; the first difference is printed.
(scripts/interop_env installs these packages.)
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
        compression = first["compression"]
        with MDSWriter(out=ref, columns=columns, size_limit=first["size_limit"],
                       compression=compression) as w:
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

        def sizeless(ix):
            ix = json.loads(json.dumps(ix))
            for s in ix["shards"]:
                if s.get("zip_data"):
                    s["zip_data"]["bytes"] = None
            return ix

        if sizeless(ref_index) != sizeless(index):
            fail(f"index.json differs from MDSWriter's:\n{json.dumps(ref_index)}\n{json.dumps(index)}")

        def raw_bytes(directory, shard):
            if not compression:
                return open(os.path.join(directory, shard["raw_data"]["basename"]), "rb").read()
            from streaming.base.compression import decompress
            zip_path = os.path.join(directory, shard["zip_data"]["basename"])
            zipped = open(zip_path, "rb").read()
            if len(zipped) != shard["zip_data"]["bytes"]:
                fail(f"{zip_path} is {len(zipped)} bytes, index.json says {shard['zip_data']['bytes']}")
            return decompress(compression, zipped)

        for s, r in zip(index["shards"], ref_index["shards"]):
            a, b = raw_bytes(shard_dir, s), raw_bytes(ref, r)
            if a != b:
                fail(f"{s['raw_data']['basename']} differs from MDSWriter's ({len(a)} vs {len(b)} bytes)")
    how = f"{compression}-compressed " if compression else ""
    print(f"ok: {len(expected)} samples in {len(index['shards'])} {how}shards read back by streaming; "
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
    check_masked_gpt_dataset(prefix, tokens, expected)


def check_masked_gpt_dataset(prefix, tokens, expected, seq=48):
    """Megatron's GPT samples (`seq` tokens, across document boundaries,
    shuffled) through `scripts/megatron_dataset.py`: each sample's tokens and
    loss mask equal those rebuilt from EXPECTED's documents by the sample's
    own index (the mask of the token each position predicts)."""
    import torch
    from megatron.core.datasets.gpt_dataset import GPTDatasetConfig
    from megatron.core.datasets.utils import Split

    sys.dont_write_bytecode = True  # no __pycache__ left in the repository's scripts/
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from megatron_dataset import MaskedGPTDataset

    class Tokenizer:
        eod = -1  # no --eod-mask-loss here: the mask alone decides
        pad = -1
        vocab_size = 1 << 20
        unique_identifiers = {"class": "repo2agent-test"}

    config = GPTDatasetConfig(
        random_seed=1, sequence_length=seq, blend=None, split="1,0,0", tokenizer=Tokenizer(),
        reset_position_ids=False, reset_attention_mask=False, eod_mask_loss=False,
        path_to_cache=None, mmap_bin_files=False,
    )
    ds = MaskedGPTDataset(tokens, prefix, np.arange(len(tokens)), None, Split.train, config)
    trained = masked = 0
    for i in range(len(ds)):
        got = ds[i]
        j = ds.shuffle_index[i]
        (b, b_off), (e, e_off) = ds.sample_index[j], ds.sample_index[j + 1]
        ids, mask = [], []
        for k in range(int(b), int(e) + 1):
            doc = expected[int(ds.document_index[k])]
            lo = int(b_off) if k == b else 0
            hi = int(e_off) + 1 if k == e else len(doc["input_ids"])
            ids += doc["input_ids"][lo:hi]
            mask += doc["mask"][lo:hi]
        real = len(ids) - 1  # positions with a label
        ids += [0] * (seq + 1 - len(ids))
        mask += [0] * (seq + 1 - len(mask))
        if got["tokens"].tolist() != ids[:seq]:
            fail(f"sample {i}: tokens differ")
        want = torch.tensor(mask[1 : seq + 1], dtype=torch.float32)
        if not torch.equal(got["loss_mask"], want):
            fail(f"sample {i}: loss mask {got['loss_mask'].tolist()} expected {want.tolist()}")
        trained += int(want[:real].sum())
        masked += int((want[:real] == 0).sum())
    if trained == 0 or masked == 0:
        fail(f"the mask is trivial: {trained} trained, {masked} masked")
    print(f"ok: {len(ds)} Megatron GPT samples of {seq} through MaskedGPTDataset: "
          f"{trained} positions trained, {masked} masked (padding aside), as our mask says")


def _gguf_json_value(types, value):
    import struct

    from gguf import GGUFValueType as T

    def one(t, v):
        if t == T.FLOAT32:
            return str(struct.unpack("<I", struct.pack("<f", v))[0])
        if t == T.FLOAT64:
            return str(struct.unpack("<Q", struct.pack("<d", v))[0])
        return v

    if types[0] == T.ARRAY:
        return {"len": len(value), "head": [one(types[-1], v) for v in value[:16]]}
    return one(types[0], value)


def dump_gguf(args):
    import argparse

    from gguf import GGUFReader, GGUFValueType
    from gguf.quants import dequantize

    ap = argparse.ArgumentParser(prog="interop.py gguf")
    ap.add_argument("file")
    ap.add_argument("out_dir")
    ap.add_argument("--limit", type=int, default=1 << 20)
    ap.add_argument("--all", action="store_true")
    ap.add_argument("names", nargs="*")
    a = ap.parse_args(args)
    os.makedirs(a.out_dir, exist_ok=True)
    r = GGUFReader(a.file)
    metadata = {}
    for key, field in r.fields.items():
        if key.startswith("GGUF."):
            continue
        types = [int(t) for t in field.types]
        nested = len(field.types) > 2 and field.types[1] == GGUFValueType.ARRAY
        value = None if nested else _gguf_json_value(field.types, field.contents())
        metadata[key] = {"types": types, "value": value}
    wanted = [t.name for t in r.tensors] if a.all else a.names
    known = {t.name for t in r.tensors}
    for name in wanted:
        if name not in known:
            fail(f"no tensor {name!r} in {a.file}")
    tensors, dumps = [], {}
    for t in r.tensors:
        try:
            values = np.ascontiguousarray(dequantize(t.data, t.tensor_type), dtype=np.float32).reshape(-1)
        except NotImplementedError:
            values = None
        checksum = ""
        if values is not None:
            bits = values.view(np.uint32).astype(np.uint64)
            weights = np.arange(1, bits.size + 1, dtype=np.uint64)
            checksum = str(int(np.sum(bits * weights, dtype=np.uint64)))
        tensors.append({
            "name": t.name, "type": t.tensor_type.name, "type_code": int(t.tensor_type),
            "dims": [int(d) for d in t.shape], "n_elements": int(t.n_elements),
            "data_offset": int(t.data_offset), "checksum": checksum,
        })
        if t.name in wanted and values is not None:
            file = f"{len(dumps)}.bin"
            values[: a.limit].astype("<f4").tofile(os.path.join(a.out_dir, file))
            dumps[t.name] = file
    info = {"version": int(r.fields["GGUF.version"].contents()), "data_offset": int(r.data_offset),
            "metadata": metadata, "tensors": tensors, "dumps": dumps}
    with open(os.path.join(a.out_dir, "info.json"), "w") as f:
        json.dump(info, f)
    print(f"ok: {len(tensors)} tensors, {len(metadata)} metadata keys, {len(dumps)} dumped")


def write_synthetic_gguf(path):
    from gguf import GGMLQuantizationType as Q
    from gguf import GGUFValueType as T
    from gguf import GGUFWriter
    from gguf.constants import GGML_QUANT_SIZES
    from gguf.quants import quantize

    rng = np.random.default_rng(20260)
    w = GGUFWriter(path, "llama")
    w.add_custom_alignment(64)
    w.add_uint8("t.u8", 255)
    w.add_int8("t.i8", -128)
    w.add_uint16("t.u16", 65535)
    w.add_int16("t.i16", -32768)
    w.add_uint32("t.u32", 2**32 - 1)
    w.add_int32("t.i32", -(2**31))
    w.add_float32("t.f32", 0.1)
    w.add_uint64("t.u64", 2**64 - 1)
    w.add_int64("t.i64", -(2**63))
    w.add_float64("t.f64", 1e300)
    w.add_bool("t.true", True)
    w.add_bool("t.false", False)
    w.add_string("t.str", "h\u00e9llo \u2713")
    w.add_key_value("t.arr_u64", [0, 1, 2**64 - 1], T.ARRAY, sub_type=T.UINT64)
    w.add_key_value("t.arr_f32", [1.5, -0.1], T.ARRAY, sub_type=T.FLOAT32)
    w.add_array("t.arr_str", ["a", "", "\u00fcber"])
    w.add_array("t.arr_bool", [True, False, True])
    w.add_array("t.nested", [[1, 2], [3]])

    w.add_tensor("f32", rng.standard_normal((2, 3, 64)).astype(np.float32))
    w.add_tensor("f16", np.arange(65536, dtype=np.uint16).view(np.float16).reshape(2048, 32))
    w.add_tensor("bf16", np.arange(65536, dtype=np.uint16).view(np.uint8).reshape(2048, 64), raw_dtype=Q.BF16)
    for q in [Q.Q4_0, Q.Q4_1, Q.Q5_0, Q.Q5_1, Q.Q8_0]:
        values = (rng.standard_normal((8, 256)) * 0.05).astype(np.float32)
        values[0, :32] = 0.0  # an all-zero block (d = 0)
        w.add_tensor(q.name.lower(), quantize(values, q), raw_dtype=q)
    # gguf-py does not quantize the k-quants: random blocks with valid scales.
    for q, rows, scale_at, n_scales in [(Q.Q4_K, 4, 0, 2), (Q.Q5_K, 4, 0, 2), (Q.Q6_K, 4, 208, 1),
                                        (Q.Q2_K, 1, 80, 2)]:
        size = GGML_QUANT_SIZES[q][1]
        raw = rng.integers(0, 256, (rows, 3, size), dtype=np.uint8)
        halves = (rng.standard_normal((rows, 3, n_scales)) * 0.01).astype(np.float16)
        raw[:, :, scale_at:scale_at + 2 * n_scales] = halves.view(np.uint8)
        w.add_tensor(q.name.lower(), raw.reshape(rows, 3 * size), raw_dtype=q)
    size = GGML_QUANT_SIZES[Q.Q8_K][1]
    raw = rng.integers(0, 256, (2, size), dtype=np.uint8)
    raw[:, :4] = np.array([[0.125], [-3.0]], dtype=np.float32).view(np.uint8)
    w.add_tensor("q8_k", raw, raw_dtype=Q.Q8_K)

    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    print(f"ok: wrote {path}")


def gguf_to_f32(src, dst):
    from gguf import GGMLQuantizationType as Q
    from gguf import GGUFReader, GGUFValueType, GGUFWriter, Keys
    from gguf.quants import dequantize

    if os.path.exists(dst):
        print(f"ok: {dst} (exists)")
        return
    r = GGUFReader(src)
    arch = r.fields[Keys.General.ARCHITECTURE].contents()
    tmp = dst + ".tmp"
    w = GGUFWriter(tmp, arch)
    for field in r.fields.values():
        if field.name == Keys.General.ARCHITECTURE or field.name.startswith("GGUF."):
            continue  # written by GGUFWriter itself
        if field.name == Keys.General.ALIGNMENT:
            w.add_custom_alignment(int(field.contents()))
            continue
        vtype = field.types[0]
        sub_type = field.types[-1] if vtype == GGUFValueType.ARRAY else None
        if sub_type is not None and len(field.types) > 2 and field.types[1] == GGUFValueType.ARRAY:
            fail(f"{field.name}: nested arrays are not copied")
        value = 0 if field.name == Keys.General.FILE_TYPE else field.contents()
        w.add_key_value(field.name, value, vtype, sub_type=sub_type)
    if Keys.General.FILE_TYPE not in r.fields:
        w.add_file_type(0)

    def f32(t):
        # numpy shape is the reverse of GGUF's ne (ne0 last), as GGUFWriter expects.
        shape = tuple(int(d) for d in reversed(t.shape))
        return np.ascontiguousarray(dequantize(t.data, t.tensor_type), dtype=np.float32).reshape(shape)

    for t in r.tensors:
        shape = tuple(int(d) for d in reversed(t.shape))
        n = int(t.n_elements)
        w.add_tensor_info(t.name, shape, np.dtype(np.float32), n * 4, raw_dtype=Q.F32)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_ti_data_to_file()
    for t in r.tensors:  # one tensor in memory at a time
        w.write_tensor_data(f32(t))
    w.close()
    os.rename(tmp, dst)
    print(f"ok: {dst}")


def hf_logits(model_dir, ids_path, out_path):
    """`hf-logits`: loads MODEL_DIR with Hugging Face transformers'
    `LlamaForCausalLM.from_pretrained` (f32) and writes the logits of the token
    ids in IDS_JSON ([[...], ...], one sequence per row) to OUT_JSON."""
    import torch
    from transformers import LlamaForCausalLM

    with open(ids_path) as f:
        rows = json.load(f)
    model = LlamaForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    model.eval()
    out = []
    with torch.no_grad():
        for ids in rows:
            logits = model(torch.tensor([ids])).logits[0]
            out.append(logits.tolist())
    with open(out_path, "w") as f:
        json.dump({"logits": out, "class": type(model).__name__}, f)
    print(f"ok: {len(out)} sequences")


def hf_tiny(model_dir, vocab):
    """`hf-tiny`: writes a small seeded `LlamaForCausalLM` (tied embeddings,
    grouped-query attention) made by transformers itself to MODEL_DIR."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=int(vocab),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=2048,
        rope_theta=10000.0,
        rms_norm_eps=1e-5,
        tie_word_embeddings=True,
    )
    LlamaForCausalLM(config).save_pretrained(model_dir, safe_serialization=True)
    print(f"ok: {model_dir}")


def max_diff(a_path, b_path):
    """`max-diff`: the largest |a - b| over the tensors two safetensors files
    share; fails when their tensor names differ."""
    from safetensors.numpy import load_file

    a, b = load_file(a_path), load_file(b_path)
    if set(a) != set(b):
        fail(f"tensor names differ: {sorted(set(a) ^ set(b))}")
    worst = max(float(abs(a[k].astype("float64") - b[k].astype("float64")).max()) for k in a)
    print(f"ok: max |diff| {worst:.3e} over {len(a)} tensors")


if __name__ == "__main__":
    what = sys.argv[1]
    if what == "gguf":
        dump_gguf(sys.argv[2:])
    elif what == "gguf-synth":
        write_synthetic_gguf(sys.argv[2])
    elif what == "gguf-f32":
        gguf_to_f32(sys.argv[2], sys.argv[3])
    elif what == "hf-logits":
        hf_logits(sys.argv[2], sys.argv[3], sys.argv[4])
    elif what == "hf-tiny":
        hf_tiny(sys.argv[2], sys.argv[3])
    elif what == "max-diff":
        max_diff(sys.argv[2], sys.argv[3])
    else:
        path, expected_path = sys.argv[2], sys.argv[3]
        {"mds": check_mds, "megatron": check_megatron}[what](path, expected_path)
