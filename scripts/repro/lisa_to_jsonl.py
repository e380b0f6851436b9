#!/usr/bin/env python3
"""scripts/repro/lisa_to_jsonl.py: a LISA ReasonSeg split folder as Visual-RFT JSONL (Table 6).

ReasonSeg keeps each image.jpg beside a LabelMe image.json ({"text": [...], "shapes":
[{"label": "target"|"ignore"|"flag", "points": [[x, y], ...]}], ...}). Visual-RFT turns it
into grounding rows with lisa_evaluation/gen_box_ann.py + gen_sft.py (reference §2.5, §4.6):

  --style train   one row per instruction, grpo_lisa.py's training prompt
  --style eval    one row per image with its first instruction, the eval script's prompt
                  ("...instruction: {text}. Output..."; the eval adds the R1 system prompt,
                  which lisa.sh passes as data.system_prompt)

The solution is "<answer> (x1,y1),(x2,y2) </answer>" in 0-1000 integers of the image size.
The box is the bounding box of all "target" polygons, rounded to nearest, as
include/visual_rft/data/lisa.h reads it (deviation: gen_box_ann.py takes shapes[0] whatever its
label and truncates; the two agree when the first shape is the only target). The prompt texts
are those of src/data/task_prompts.cpp. (A `visual-rft data lisa` subcommand would be the
natural home of this; there is none yet.)
usage: lisa_to_jsonl.py --dir ReasonSeg/train --style train --out train.jsonl
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
    a = ap.parse_args()
    files = sorted(glob.glob(os.path.join(a.dir, "*.json")))
    if not files:
        sys.exit(f"lisa_to_jsonl: no *.json annotations in {a.dir}")
    rows = []
    for path in files:
        ann = read_annotation(path)
        texts = ann["text"] if isinstance(ann["text"], list) else [ann["text"]]
        points = [p for s in ann["shapes"] if s["label"] == "target" for p in s["points"]]
        if not points or not texts:
            sys.exit(f"lisa_to_jsonl: {path}: no target shape or no instruction")
        image = image_beside(path)
        w, h = ann.get("imageWidth"), ann.get("imageHeight")
        if not w or not h:
            from PIL import Image  # only for files without the LabelMe size
            w, h = Image.open(image).size
        xs, ys = [min(max(p[0], 0), w) for p in points], [min(max(p[1], 0), h) for p in points]
        box = (unit1000(min(xs), w), unit1000(min(ys), h), unit1000(max(xs), w), unit1000(max(ys), h))
        solution = "<answer> ({},{}),({},{}) </answer>".format(*box)
        for text in texts if a.style == "train" else texts[:1]:
            rows.append({"image": os.path.abspath(image), "problem": prompt(text.strip(), a.style), "solution": solution})
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    with open(a.out, "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    print(f"lisa_to_jsonl: {len(rows)} rows from {len(files)} annotations in {a.dir} -> {a.out}")


if __name__ == "__main__":
    main()
