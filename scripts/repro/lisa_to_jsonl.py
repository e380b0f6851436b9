#!/usr/bin/env python3
"""scripts/repro/lisa_to_jsonl.py: a LISA ReasonSeg split folder as Visual-RFT JSONL (Table 6).

ReasonSeg keeps each image.jpg beside a LabelMe image.json ({"text": [...], "shapes":
[{"label": "target"|"ignore"|"flag", "points": [[x, y], ...]}], ...}). Visual-RFT turns it
into grounding rows with lisa_evaluation/gen_box_ann.py + gen_sft.py (reference §2.5, §4.6):

  --style train   one row per instruction, grpo_lisa.py's training prompt
  --style eval    one row per image with its first instruction, the eval script's prompt
                  ("...instruction: {text}. Output..."; the eval adds the R1 system prompt,
                  which lisa.sh passes as data.system_prompt)

The solution is "<answer> (x1,y1),(x2,y2) </answer>" in 0-1000 units of the image size:

  --box reference (the default, Table 6's protocol) gen_box_ann.py's box: the bounding box of
                  the first shape's points, whatever its label, not clipped to the image, kept as
                  a fraction (six decimals of the 0-1000 unit, 1e-9 of the image side; the
                  evaluation divides by 1000 as the reference divides the pixel box by W and H)
  --box union     a strict variant: the bounding box of all "target" polygons, clipped to the
                  image and rounded to integers, as include/visual_rft/data/lisa.h reads it

The two agree when the first shape is the only target; the script says for how many files
they differ. The prompt texts are those of src/data/task_prompts.cpp.
usage: lisa_to_jsonl.py --dir ReasonSeg/train --style train --out train.jsonl [--box reference|union]
"""
import argparse
import glob
import json
import math
import os
import sys

PREFIX = "Output the bounding box in the image corresponding to the instruction: "
SUFFIX = ("Output the thinking process in <think> </think> and your grouding box. Following \"<think> thinking "
          "process </think>\n<answer>(x1,y1),(x2,y2)</answer>)\" format.")


def prompt(instruction, style):
    return PREFIX + instruction + (". " if style == "eval" else " ") + SUFFIX


def unit1000(v, size):
    return min(1000, max(0, math.floor(v / size * 1000.0 + 0.5)))


def unit1000_exact(v, size):
    """v / size * 1000 with six decimals and no exponent (the solution parser reads digits)."""
    return ("%.6f" % (v / size * 1000.0)).rstrip("0").rstrip(".")


def reference_box(ann, w, h):
    """gen_box_ann.py: shapes[:1], its points' min and max, as floats, unclipped."""
    pts = ann["shapes"][0]["points"] if ann["shapes"] else []
    if not pts:
        return None
    xs, ys = [p[0] for p in pts], [p[1] for p in pts]
    return tuple(unit1000_exact(v, s) for v, s in ((min(xs), w), (min(ys), h), (max(xs), w), (max(ys), h)))


def union_box(ann, w, h):
    points = [p for s in ann["shapes"] if s["label"] == "target" for p in s["points"]]
    if not points:
        return None
    xs, ys = [min(max(p[0], 0), w) for p in points], [min(max(p[1], 0), h) for p in points]
    return tuple(str(v) for v in (unit1000(min(xs), w), unit1000(min(ys), h), unit1000(max(xs), w), unit1000(max(ys), h)))


def read_annotation(path):
    raw = open(path, "rb").read()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("cp1252")  # LISA's own fallback
    return json.loads(text)


def image_beside(path):
    stem = os.path.splitext(path)[0]
    for ext in (".jpg", ".jpeg", ".png"):
        if os.path.exists(stem + ext):
            return stem + ext
    sys.exit(f"lisa_to_jsonl: no image beside {path} (.jpg, .jpeg or .png)")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dir", required=True, help="a ReasonSeg split folder (train, val or test)")
    ap.add_argument("--style", choices=["train", "eval"], required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--box", choices=["reference", "union"], default="reference",
                    help="reference: gen_box_ann.py's first-shape box (Table 6); union: all target polygons")
    a = ap.parse_args()
    files = sorted(glob.glob(os.path.join(a.dir, "*.json")))
    if not files:
        sys.exit(f"lisa_to_jsonl: no *.json annotations in {a.dir}")
    rows, differ = [], 0
    for path in files:
        ann = read_annotation(path)
        texts = ann["text"] if isinstance(ann["text"], list) else [ann["text"]]
        if not texts:
            sys.exit(f"lisa_to_jsonl: {path}: no instruction")
        image = image_beside(path)
        w, h = ann.get("imageWidth"), ann.get("imageHeight")
        if not w or not h:
            from PIL import Image  # only for files without the LabelMe size
            w, h = Image.open(image).size
        ref, union = reference_box(ann, w, h), union_box(ann, w, h)
        box = ref if a.box == "reference" else union
        if box is None:
            sys.exit(f"lisa_to_jsonl: {path}: no shape to take the box of ({a.box})")
        differ += ref is None or union is None or [round(float(v)) for v in ref] != [int(v) for v in union]
        solution = "<answer> ({},{}),({},{}) </answer>".format(*box)
        for text in texts if a.style == "train" else texts[:1]:
            rows.append({"image": os.path.abspath(image), "problem": prompt(text.strip(), a.style), "solution": solution})
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    with open(a.out, "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    print(f"lisa_to_jsonl: {len(rows)} rows from {len(files)} annotations in {a.dir} -> {a.out} (--box {a.box}; "
          f"the reference and union boxes differ, after rounding, in {differ} of {len(files)} files)")


if __name__ == "__main__":
    main()
