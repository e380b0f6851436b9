#!/usr/bin/env python3
"""Reference pixel_values for tests/image/test_image_processor.cpp, made with transformers'
slow Qwen2VLImageProcessor (use_fast=False, Pillow bicubic).

usage: image_refs.py FIXTURE_IMAGES_DIR OUTDIR [--n 50] [--seed 0]

Writes OUTDIR/gen_NN.png (generated images of random sizes and aspect ratios, tiny to large,
up to the 200:1 limit) and OUTDIR/refs.jsonl: one line per (image, setting) with the image
path, min/max pixels, the expected image_grid_thw and the name of the tensor in
OUTDIR/pixel_values.safetensors holding the expected pixel_values.
"""
import argparse
import glob
import json
import os
import random

import numpy as np
import torch
from PIL import Image
from safetensors.torch import save_file
try:  # the PIL (slow, use_fast=False) processor; its name since transformers 5.x
    from transformers import Qwen2VLImageProcessorPil as SlowProcessor
except ImportError:
    from transformers import Qwen2VLImageProcessor as SlowProcessor

SETTINGS = [(3136, 1003520), (3136, 401408), (56 * 56, 28 * 28 * 64), (200000, 300000)]


def generated(rng, out, n):
    paths = []
    sizes = [(1, 1), (3, 600), (600, 3), (28, 28), (27, 29), (2, 399), (57, 13)]
    while len(sizes) < n:
        h = rng.randint(1, 1200)
        w = max(1, min(1600, int(h * rng.choice([0.1, 0.3, 0.75, 1, 1.33, 2.5, 8]) + rng.randint(-5, 5))))
        if max(h, w) / min(h, w) <= 200:
            sizes.append((h, w))
    for i, (h, w) in enumerate(sizes[:n]):
        yy, xx = np.mgrid[0:h, 0:w]
        base = np.stack([(xx * 255 // max(w, 1)), (yy * 255 // max(h, 1)), ((xx + yy) % 256)], -1)
        noise = np.array([[rng.randint(0, 60) for _ in range(w)] for _ in range(min(h, 40))]) if h * w < 40000 else 0
        img = (base + (np.resize(noise, (h, w))[..., None] if isinstance(noise, np.ndarray) else 0)) % 256
        p = os.path.join(out, f"gen_{i:02d}.png")
        Image.fromarray(img.astype(np.uint8), "RGB").save(p)
        paths.append(p)
    return paths


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("fixtures")
    ap.add_argument("out")
    ap.add_argument("--n", type=int, default=50)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    rng = random.Random(a.seed)
    photos = sorted(p for p in glob.glob(os.path.join(a.fixtures, "*")) if p.lower().endswith((".png", ".jpg", ".jpeg")))
    images = [(p, SETTINGS[:2]) for p in photos] + [(p, [rng.choice(SETTINGS)]) for p in generated(rng, a.out, a.n)]
    tensors, rows = {}, []
    for path, settings in images:
        for mn, mx in settings:
            proc = SlowProcessor(min_pixels=mn, max_pixels=mx)
            img = Image.open(path)
            out = proc(images=[img], return_tensors="pt")
            name = f"t{len(rows)}"
            tensors[name] = out["pixel_values"].float().contiguous()
            rows.append({"image": path, "min_pixels": mn, "max_pixels": mx, "tensor": name,
                         "grid": out["image_grid_thw"][0].tolist()})
    save_file(tensors, os.path.join(a.out, "pixel_values.safetensors"))
    with open(os.path.join(a.out, "refs.jsonl.tmp"), "w") as fh:
        for r in rows:
            fh.write(json.dumps(r) + "\n")
    os.replace(os.path.join(a.out, "refs.jsonl.tmp"), os.path.join(a.out, "refs.jsonl"))


if __name__ == "__main__":
    main()
