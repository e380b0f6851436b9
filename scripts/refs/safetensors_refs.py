#!/usr/bin/env python3
"""Reference safetensors files for tests/core/test_safetensors.cpp, made with the Python
`safetensors` package (the format's reference implementation).

usage:
  safetensors_refs.py make OUTDIR      writes OUTDIR/py_dtypes.safetensors (+ .json with the
                                       bit patterns of every value) and OUTDIR/py_sharded/
  safetensors_refs.py roundtrip IN OUT loads IN with safetensors (values and metadata) and
                                       saves them again to OUT, so the C++ side can check that
                                       Python read exactly what it wrote
"""
import json
import os
import shutil
import sys
import tempfile

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

# Integer views of each dtype, so that values compare bit for bit (NaN and -0.0 included).
BITS = {
    torch.float64: torch.int64, torch.float32: torch.int32, torch.float16: torch.int16,
    torch.bfloat16: torch.int16,
}


def bit_list(t):
    t = t.contiguous()
    if t.dtype in BITS:
        t = t.view(BITS[t.dtype])
    return t.to(torch.int64).flatten().tolist() if t.dtype != torch.bool else t.flatten().int().tolist()


def make(final):
    # Tests running in parallel may ask for the same files at once: build them in a private
    # folder and move them into place, the file that tests look for (the .json) last.
    os.makedirs(final, exist_ok=True)
    out = tempfile.mkdtemp(dir=final, prefix=".tmp-")
    g = torch.Generator().manual_seed(1234)
    f = torch.randn(3, 5, generator=g)
    tensors = {
        "f64": torch.randn(2, 3, generator=g, dtype=torch.float64),
        "f32": torch.cat([f.flatten(), torch.tensor([float("nan"), float("inf"), -0.0, 1e-40])]).reshape(19),
        "f16": torch.randn(4, 2, generator=g).half(),
        "bf16": torch.randn(7, generator=g).bfloat16(),
        "i64": torch.randint(-2**40, 2**40, (5,), generator=g),
        "i32": torch.randint(-2**31, 2**31 - 1, (2, 2), generator=g, dtype=torch.int32),
        "i16": torch.randint(-2**15, 2**15 - 1, (3,), generator=g, dtype=torch.int16),
        "i8": torch.randint(-128, 127, (6,), generator=g, dtype=torch.int8),
        "u8": torch.randint(0, 255, (2, 3, 1), generator=g, dtype=torch.uint8),
        "bool": torch.tensor([True, False, True]),
        "scalar": torch.tensor(3.5),
        "empty": torch.zeros(0, 4),
        "model.layers.0.self_attn.q_proj.weight": torch.randn(4, 4, generator=g),
    }
    meta = {"format": "pt", "note": "made by scripts/refs/safetensors_refs.py"}
    save_file(tensors, os.path.join(out, "py_dtypes.safetensors"), metadata=meta)
    expect = {k: {"dtype": str(v.dtype), "shape": list(v.shape), "bits": bit_list(v)} for k, v in tensors.items()}
    with open(os.path.join(out, "py_dtypes.json"), "w") as fh:
        json.dump({"tensors": expect, "metadata": meta}, fh)

    # A sharded folder as transformers' save_pretrained lays it out.
    shard_dir = os.path.join(out, "py_sharded")
    os.makedirs(shard_dir, exist_ok=True)
    parts = [{"a.weight": torch.arange(6.0).reshape(2, 3), "a.bias": torch.ones(3)},
             {"b.weight": torch.full((2, 2), -1.5, dtype=torch.bfloat16)}]
    weight_map = {}
    for i, part in enumerate(parts):
        name = f"model-{i + 1:05d}-of-{len(parts):05d}.safetensors"
        save_file(part, os.path.join(shard_dir, name), metadata={"format": "pt"})
        weight_map.update({k: name for k in part})
    with open(os.path.join(shard_dir, "model.safetensors.index.json"), "w") as fh:
        json.dump({"metadata": {"total_size": 0}, "weight_map": weight_map}, fh)

    os.makedirs(os.path.join(final, "py_sharded"), exist_ok=True)
    for name in sorted(os.listdir(shard_dir)):  # the index sorts after the shards
        os.replace(os.path.join(shard_dir, name), os.path.join(final, "py_sharded", name))
    os.replace(os.path.join(out, "py_dtypes.safetensors"), os.path.join(final, "py_dtypes.safetensors"))
    os.replace(os.path.join(out, "py_dtypes.json"), os.path.join(final, "py_dtypes.json"))
    shutil.rmtree(out)


def roundtrip(src, dst):
    tensors = load_file(src)
    with safe_open(src, framework="pt") as fh:
        meta = fh.metadata()
    save_file(tensors, dst, metadata=meta)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "make":
        make(sys.argv[2])
    elif len(sys.argv) == 4 and sys.argv[1] == "roundtrip":
        roundtrip(sys.argv[2], sys.argv[3])
    else:
        sys.exit(__doc__)
