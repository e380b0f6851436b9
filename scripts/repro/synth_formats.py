#!/usr/bin/env python3
"""scripts/repro/synth_formats.py: the synthetic world in the paper's data formats (smoke mode).

`visual-rft data synth` writes Visual-RFT JSONL. The table scripts' real mode reads COCO and
LVIS instance files with existence maps, classification split lists and LISA ReasonSeg
folders, so smoke mode rewrites the synthetic world in those formats and runs the very same
commands on them:

  OUT/coco/instances_{train,val}.json   COCO instances: det fewshot_train (+ base_train) / det eval
  OUT/coco/exist_map.json               {image id: [the category the row asks about]}
  OUT/lvis/lvis_{train,val}.json        the same as LVIS v1 (coco_url, frequency "r", neg_category_ids)
  OUT/cls/{train,test}.tsv              classification lists relpath<TAB>label<TAB>classname
  OUT/cls/classnames.txt                the novel categories, one a line
  OUT/lisa/{train,val,test}/*.json      LabelMe annotations beside a link to the image
  OUT/categories/{novel,base}.txt       category lists (the stand-ins of data/categories/*.txt)

Each synthetic detection row asks about one category of its image, so only that category's
boxes are annotated (a 'No Objects' row: none; LVIS lists it in neg_category_ids).
usage: synth_formats.py --synth W --out OUT
"""
import argparse
import json
import os
import re
import sys


def read_jsonl(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


def boxes_of(solution):
    """0-1000 boxes of a detection solution (empty for 'No Objects')."""
    return [[int(v) for v in m] for m in re.findall(r"\[(\d+), (\d+), (\d+), (\d+)\]", solution)]


def det_category(problem):
    m = re.search(r"the category '([^']+)'", problem)
    if not m:
        sys.exit(f"synth_formats: no category in detection problem: {problem[:80]}")
    return m.group(1)


def to_px(box, size):
    x1, y1, x2, y2 = (v * size / 1000.0 for v in box)
    return [round(x1, 2), round(y1, 2), round(x2 - x1, 2), round(y2 - y1, 2)]


def detection_files(w, size, categories, splits_train, out):
    """COCO and LVIS files of the det task: a train file (from splits_train) and a val file."""
    cat_id = {c["name"]: i + 1 for i, c in enumerate(categories)}
    cats = [{"id": cat_id[c["name"]], "name": c["name"]} for c in categories]
    lvis_cats = [dict(c, frequency="r", synset=c["name"].replace(" ", "_") + ".n.01", synonyms=[c["name"]])
                 for c in cats]
    det = os.path.join(w, "det")
    for split, sources in (("train", splits_train), ("val", ["eval"])):
        images, anns, exist = [], [], {}
        for src in sources:
            for row in read_jsonl(os.path.join(det, src + ".jsonl")):
                image_id = len(images) + 1
                name = det_category(row["problem"])
                boxes = boxes_of(row["solution"])
                images.append({"id": image_id, "file_name": row["image"], "width": size, "height": size,
                               "coco_url": "http://synth/" + row["image"],  # LVIS: DIR/images/<name>
                               "not_exhaustive_category_ids": [],
                               "neg_category_ids": [] if boxes else [cat_id[name]]})
                exist[str(image_id)] = [name]
                for b in boxes:
                    xywh = to_px(b, size)
                    anns.append({"id": len(anns) + 1, "image_id": image_id, "category_id": cat_id[name],
                                 "bbox": xywh, "area": round(xywh[2] * xywh[3], 2), "iscrowd": 0})
        coco_images = [{k: im[k] for k in ("id", "file_name", "width", "height")} for im in images]
        write(os.path.join(out, "coco", f"instances_{split}.json"),
              json.dumps({"images": coco_images, "annotations": anns, "categories": cats}))
        lvis_anns = [{k: a[k] for k in ("id", "image_id", "category_id", "bbox", "area")} for a in anns]
        write(os.path.join(out, "lvis", f"lvis_{split}.json"),
              json.dumps({"images": images, "annotations": lvis_anns, "categories": lvis_cats}))
        if split == "val":
            write(os.path.join(out, "coco", "exist_map.json"), json.dumps(exist))
            write(os.path.join(out, "lvis", "exist_map.json"), json.dumps(exist))


def classification_files(w, novel, out):
    label = {n: i for i, n in enumerate(novel)}
    write(os.path.join(out, "cls", "classnames.txt"), "".join(n + "\n" for n in novel))
    for split, src in (("train", "fewshot_train"), ("test", "eval")):
        lines = ["relpath\tlabel\tclassname"]
        for row in read_jsonl(os.path.join(w, "cls", src + ".jsonl")):
            name = re.search(r"<answer>(.*?)</answer>", row["solution"]).group(1).strip()
            lines.append(f"{row['image']}\t{label[name]}\t{name}")
        write(os.path.join(out, "cls", f"{split}.tsv"), "\n".join(lines) + "\n")


def lisa_folders(w, size, out):
    """ReasonSeg-style folders: <stem>.json (LabelMe) beside <stem>.png, a link to the image."""
    rows = read_jsonl(os.path.join(w, "ground", "eval.jsonl"))
    half = max(1, len(rows) // 2)
    parts = {"train": read_jsonl(os.path.join(w, "ground", "fewshot_train.jsonl")),
             "val": rows[:half], "test": rows[half:] or rows[:half]}
    for split, split_rows in parts.items():
        d = os.path.join(out, "lisa", split)
        os.makedirs(d, exist_ok=True)
        for i, row in enumerate(split_rows):
            m = re.search(r"instruction: (.*?)\.? Output the thinking", row["problem"], re.S)
            x1, y1, x2, y2 = (v * size / 1000.0 for v in
                              map(int, re.findall(r"\d+", re.search(r"<answer>(.*?)</answer>", row["solution"]).group(1))))
            stem = f"{split}_{i:05d}"
            link = os.path.join(d, stem + ".png")
            if os.path.lexists(link):
                os.remove(link)
            os.symlink(os.path.abspath(os.path.join(w, "ground", row["image"])), link)
            ann = {"text": [m.group(1)], "is_sentence": False, "imageWidth": size, "imageHeight": size,
                   "shapes": [{"label": "target", "shape_type": "polygon",
                               "points": [[x1, y1], [x2, y1], [x2, y2], [x1, y2]]}]}
            write(os.path.join(d, stem + ".json"), json.dumps(ann))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--synth", required=True, help="a folder written by visual-rft data synth")
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    summary = json.load(open(os.path.join(a.synth, "summary.json"), encoding="utf-8"))
    cats = json.load(open(os.path.join(a.synth, "categories.json"), encoding="utf-8"))["categories"]
    size = summary["image_size"]
    novel = [c["name"] for c in cats if c["split"] == "novel"]
    base = [c["name"] for c in cats if c["split"] == "base"]
    write(os.path.join(a.out, "categories", "novel.txt"), "".join(n + "\n" for n in novel))
    write(os.path.join(a.out, "categories", "base.txt"), "".join(n + "\n" for n in base))
    tasks = summary["tasks"]
    if "det" in tasks:
        train = ["fewshot_train"] + (["base_train"] if tasks["det"]["base_train"]["rows"] else [])
        detection_files(a.synth, size, cats, train, a.out)
    if "cls" in tasks:
        classification_files(a.synth, novel, a.out)
    if "ground" in tasks:
        lisa_folders(a.synth, size, a.out)


if __name__ == "__main__":
    main()
