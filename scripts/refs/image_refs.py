#!/usr/bin/env python3
"""Reference pixel_values for tests/image/test_image_processor.cpp, made with transformers'
slow Qwen2VLImageProcessor (use_fast=False, Pillow bicubic).

usage: image_refs.py FIXTURE_IMAGES_DIR OUTDIR [--n 50] [--seed 0]

Writes OUTDIR/gen_NN.png (generated images of random sizes and aspect ratios, tiny to large,
up to the 200:1 limit) and OUTDIR/refs.jsonl: one line per (image, setting) with the image
path, min/max pixels, the expected image_grid_thw and the name of the tensor in
OUTDIR/pixel_values.safetensors holding the expected pixel_values.

It also writes OUTDIR/fmt_*: one photo saved in the formats and modes a user may hand over
(alpha, LA, palette with and without transparency, grayscale PNG/JPEG, 16-bit PNG, WebP
lossless/lossy/alpha, BMP, a JPEG with an EXIF orientation tag), each processed as Image.open
gives it, like the reference trainer loads images.
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


def formats(photo, out):
    """The photo (cut small) in every mode and container the loader must handle."""
    rgb = Image.open(photo).convert("RGB").resize((173, 131), Image.BICUBIC)
    a = np.asarray(rgb)
    h, w = a.shape[:2]
    alpha = ((np.add.outer(np.arange(h), np.arange(w)) * 7) % 256).astype(np.uint8)
    alpha[:10, :] = 0  # fully transparent rows take the background as is
    rgba = Image.fromarray(np.dstack([a, alpha]), "RGBA")
    gray = rgb.convert("L")
    pal = rgb.quantize(64)
    pal_t = pal.copy()
    pal_t.info["transparency"] = 3
    g16 = Image.fromarray((np.asarray(gray).astype(np.uint16) * 3))  # I;16, some values > 255
    rgb16 = (a.astype(np.uint16) * 257 + 11).astype(">u2")
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 on display; Image.open ignores it
    cases = {
        "fmt_rgba.png": lambda p: rgba.save(p),
        "fmt_la.png": lambda p: Image.merge("LA", [gray, Image.fromarray(alpha)]).save(p),
        "fmt_palette.png": lambda p: pal.save(p),
        "fmt_palette_trns.png": lambda p: pal_t.save(p, transparency=3),
        "fmt_gray.png": lambda p: gray.save(p),
        "fmt_gray.jpg": lambda p: gray.save(p, quality=90),
        "fmt_gray16.png": lambda p: g16.save(p),
        "fmt_lossless.webp": lambda p: rgb.save(p, lossless=True),
        "fmt_lossy.webp": lambda p: rgb.save(p, quality=80),
        "fmt_alpha.webp": lambda p: rgba.save(p, lossless=True),
        "fmt_rgb.bmp": lambda p: rgb.save(p),
        "fmt_exif6.jpg": lambda p: rgb.save(p, quality=92, exif=exif),
    }
    paths = []
    for name, save in cases.items():
        p = os.path.join(out, name)
        save(p)
        paths.append(p)
    # 16-bit RGB PNG, written by hand: Pillow cannot save one.
    import zlib, struct
    raw = b"".join(b"\0" + row.tobytes() for row in rgb16)
    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xffffffff)
    p = os.path.join(out, "fmt_rgb16.png")
    with open(p, "wb") as fh:
        fh.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, 2, 0, 0, 0))
                 + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
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
    images += [(p, [SETTINGS[2]]) for p in formats(photos[0], a.out)]
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
