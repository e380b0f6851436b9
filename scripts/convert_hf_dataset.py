#!/usr/bin/env python3
"""Turns a released Visual-RFT data set (Hugging Face parquet) into visual-rft's JSONL.

usage: convert_hf_dataset.py INPUT [INPUT ...] --out DIR

INPUT is a parquet file or a folder searched for *.parquet (a downloaded HF snapshot such as
laolao77/ViRFT_COCO_base65 holds data/train-0000N-of-0000M.parquet shards); files are read
in sorted path order. Each row has the columns (the released data sets' columns on the Hugging Face hub):
  image     the HF Image feature, a struct {bytes, path}, or plain bytes
  problem   the question (string)
  solution  the ground truth, e.g. <answer>[{'Position': [...], 'Confidence': 1}]</answer>

Writes DIR/images/NNNNNN.<ext> (row number over all inputs; the extension from the image's
magic bytes, else from its path), DIR/train.jsonl with {"image": "images/NNNNNN.png",
"problem", "solution"} (image paths relative to DIR, as the JSONL reader resolves them) and
DIR/summary.json (sources and row counts). The image bytes are written unchanged: the released
sets store RGBA PNGs, which visual-rft's image loader flattens as Pillow does.

Why not `datasets.load_from_disk`: the parquet downloads have no dataset_dict.json, the
failure users of the reference hit (#7, #25, #78, #110, #136); pyarrow reads them directly.
A row without image bytes, or with a problem or solution that is not a string, is an error
naming the file and row.
"""
import argparse
import json
import os
import sys

import pyarrow.parquet as pq

MAGIC = [
    (b"\x89PNG\r\n\x1a\n", ".png"),
    (b"\xff\xd8\xff", ".jpg"),
    (b"GIF87a", ".gif"),
    (b"GIF89a", ".gif"),
    (b"BM", ".bmp"),
]


def image_ext(data, path):
    for magic, ext in MAGIC:
        if data.startswith(magic):
            return ext
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return ".webp"
    ext = os.path.splitext(path or "")[1].lower()
    return ext if ext else None


def parquet_files(inputs):
    files = []
    for p in inputs:
        if os.path.isdir(p):
            for root, _, names in os.walk(p):
                files += [os.path.join(root, n) for n in names if n.endswith(".parquet")]
        elif os.path.isfile(p):
            files.append(p)
        else:
            sys.exit(f"error: {p}: no such file or folder")
    if not files:
        sys.exit(f"error: no .parquet file in {', '.join(inputs)}")
    return sorted(files)


def image_of(value, where):
    """(bytes, path) of an image cell: a struct {bytes, path} or plain bytes."""
    if isinstance(value, dict):
        data, path = value.get("bytes"), value.get("path")
    else:
        data, path = value, None
    if not isinstance(data, (bytes, bytearray)) or not data:
        sys.exit(f"error: {where}: the image has no bytes (expected the column image as {{bytes, path}} or binary)")
    return bytes(data), path


def convert(files, out):
    img_dir = os.path.join(out, "images")
    os.makedirs(img_dir, exist_ok=True)
    lines, sources, n = [], [], 0
    for f in files:
        pf = pq.ParquetFile(f)
        names = pf.schema_arrow.names
        for col in ("image", "problem", "solution"):
            if col not in names:
                sys.exit(f"error: {f}: no column '{col}' (columns: {', '.join(names)}; expected image, problem, solution)")
        rows_here = 0
        for batch in pf.iter_batches(batch_size=64, columns=["image", "problem", "solution"]):
            for row in batch.to_pylist():
                where = f"{f}: row {rows_here}"
                data, path = image_of(row["image"], where)
                for col in ("problem", "solution"):
                    if not isinstance(row[col], str):
                        sys.exit(f"error: {where}: '{col}' must be a string, got {type(row[col]).__name__}")
                ext = image_ext(data, path)
                if ext is None:
                    sys.exit(f"error: {where}: unknown image format (not PNG, JPEG, GIF, BMP or WebP, and no file extension)")
                name = f"{n:06d}{ext}"
                with open(os.path.join(img_dir, name), "wb") as fh:
                    fh.write(data)
                rec = {"image": "images/" + name, "problem": row["problem"], "solution": row["solution"]}
                lines.append(json.dumps(rec, ensure_ascii=False))
                n += 1
                rows_here += 1
        sources.append({"file": os.path.abspath(f), "rows": rows_here})
    write_atomic(os.path.join(out, "train.jsonl"), "".join(line + "\n" for line in lines))
    summary = {"sources": sources, "rows": n}
    write_atomic(os.path.join(out, "summary.json"), json.dumps(summary, indent=2) + "\n")
    return n


def write_atomic(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("inputs", nargs="+", help="parquet files or folders holding them")
    ap.add_argument("--out", required=True, help="output folder: train.jsonl, images/, summary.json")
    a = ap.parse_args()
    n = convert(parquet_files(a.inputs), a.out)
    print(f"wrote {n} rows to {os.path.join(a.out, 'train.jsonl')}")


if __name__ == "__main__":
    main()
