#!/usr/bin/env python3
"""References for tests/eval/test_coco_eval.cpp: pycocotools COCOeval(iouType="bbox") and
lvis-api LVISEval(iou_type="bbox") on random ground-truth/detection sets, on the COCO fixture
pair and on the LVIS fixture with random detections.

usage: coco_eval_refs.py FIXTURES_DIR OUTDIR [--n 24] [--seed 0]

Writes OUTDIR/case_NN_gt.json and case_NN_res.json (seeded numpy; each GT file is both a
COCO and an LVIS ground truth: iscrowd for COCO, ignore / neg_category_ids /
not_exhaustive_category_ids / frequency for LVIS), OUTDIR/lvis100_res.json (detections for
FIXTURES_DIR/lvis/lvis_val_100.json: jittered, dropped and extra boxes, one image with more
than 300), and last OUTDIR/refs.json:
  {"thresholds": {"iou": [...], "rec": [...]},
   "cases": [{"name", "gt", "res", "coco": EVAL, "lvis": EVAL}, ...],
   "coco_fixture": EVAL, "coco_fixture_filtered": EVAL + {"img_ids", "cat_ids"},
   "lvis_fixture": {"gt", "res", ...EVAL}, "lvis_fixture_filtered": EVAL + {"img_ids", "cat_ids"}}
EVAL = {"stats": [...] (COCO, 12) or {"AP": ...} (LVIS, 13), "per_category": [{"id", "ap",
"ap50" | "ap_all_areas"}], "summary": the lines summarize() / print_results() print}.
Floats are written with repr, so they read back as the same doubles.

The random sets cover crowd boxes, ignored GTs, tied scores (2-decimal scores and runs of
equal ones), empty categories, zero-area boxes and GT areas on the range bounds, GT id 0,
ids near 9e11, images without detections, more than 100 detections of one category on an
image and more than 300 on one image, duplicate GT boxes and detections of absent categories.
"""
import argparse
import contextlib
import io
import json
import logging
import os

import numpy as np

if not hasattr(np, "float"):  # lvis-api 0.5.3 still uses np.float (removed in numpy 1.24)
    np.float = float

from lvis import LVIS, LVISEval, LVISResults  # noqa: E402
from pycocotools.coco import COCO  # noqa: E402
from pycocotools.cocoeval import COCOeval  # noqa: E402

logging.getLogger("lvis").setLevel(logging.ERROR)


def mean_valid(x):
    x = x[x > -1]
    return float(np.mean(x)) if x.size else -1.0


def coco_eval(gt_path, res_path, img_ids=None, cat_ids=None):
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(gt_path)
        dt = gt.loadRes(res_path)
        ev = COCOeval(gt, dt, "bbox")
        if img_ids is not None:
            ev.params.imgIds = img_ids
        if cat_ids is not None:
            ev.params.catIds = cat_ids
        ev.evaluate()
        ev.accumulate()
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        ev.summarize()
    p = ev.eval["precision"]  # [T, R, K, A, M]
    per = [{"id": int(k), "ap": mean_valid(p[:, :, i, 0, -1]), "ap50": mean_valid(p[0, :, i, 0, -1])}
           for i, k in enumerate(ev.params.catIds)]
    return {"stats": [float(s) for s in ev.stats], "per_category": per, "summary": out.getvalue()}


def lvis_eval(gt_path, res_path, img_ids=None, cat_ids=None):
    gt = LVIS(gt_path)
    dt = LVISResults(gt, res_path, max_dets=300)
    ev = LVISEval(gt, dt, "bbox")
    if img_ids is not None:
        ev.params.img_ids = img_ids
    if cat_ids is not None:
        ev.params.cat_ids = cat_ids
    ev.run()
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        ev.print_results()
    p = ev.eval["precision"]  # [T, R, K, A]
    per = [{"id": int(k), "ap": mean_valid(p[:, :, i, 0]), "ap_all_areas": mean_valid(p[:, :, i, :])}
           for i, k in enumerate(ev.params.cat_ids)]
    return {"stats": {k: float(v) for k, v in ev.results.items()}, "per_category": per, "summary": out.getvalue()}


def rand_box(rng, size_scale=1.0):
    w = float(np.exp(rng.uniform(0, np.log(400)))) * size_scale
    h = float(np.exp(rng.uniform(0, np.log(400)))) * size_scale
    x, y = float(rng.uniform(0, 500)), float(rng.uniform(0, 500))
    if rng.random() < 0.5:
        x, y, w, h = (round(v, 2) for v in (x, y, w, h))
    if rng.random() < 0.03:
        w = 0.0
    if rng.random() < 0.02:
        h = 0.0
    return [x, y, w, h]


def jitter(rng, b):
    x, y, w, h = b
    s = rng.choice([0.02, 0.1, 0.3])
    return [round(x + rng.normal(0, s * max(w, 1)), 2), round(y + rng.normal(0, s * max(h, 1)), 2),
            round(max(0.0, w * (1 + rng.normal(0, s))), 2), round(max(0.0, h * (1 + rng.normal(0, s))), 2)]


def score(rng):
    r = rng.random()
    if r < 0.2:
        return 0.5  # a run of equal scores
    if r < 0.7:
        return round(float(rng.random()), 2)  # 2-decimal ties
    return float(rng.random())


def make_case(rng, idx):
    n_img = int(rng.integers(1, 30))
    n_cat = int(rng.integers(1, 9))
    img_ids = [int(v) for v in rng.choice(np.arange(1, 2000), n_img, replace=False)]  # file order unsorted
    cat_ids = [int(v) for v in rng.choice(np.arange(1, 100), n_cat, replace=False)]
    empty = cat_ids[-1] if n_cat > 1 and rng.random() < 0.5 else None  # a category without GT
    gt_cats = [c for c in cat_ids if c != empty]
    freqs = rng.choice(["r", "c", "f"], n_cat) if idx % 3 else np.array(["c"] * n_cat)  # some groups empty
    anns, dets = [], []
    big = int(rng.integers(10 ** 11, 10 ** 12))
    for im in img_ids:
        k = int(rng.poisson(3))
        present = set()
        for _ in range(k):
            c = int(rng.choice(gt_cats))
            if anns and anns[-1]["image_id"] == im and rng.random() < 0.05:
                b = list(anns[-1]["bbox"])  # duplicate box
                c = anns[-1]["category_id"]
            else:
                b = rand_box(rng)
            r = rng.random()
            area = b[2] * b[3] if r < 0.5 else b[2] * b[3] * float(rng.uniform(0.4, 1.0))
            if rng.random() < 0.06:
                area = float(rng.choice([1024.0, 9216.0, 0.0]))
            crowd = int(rng.random() < 0.08)
            a = {"id": 0, "image_id": im, "category_id": c, "bbox": b, "area": area, "iscrowd": crowd}
            if rng.random() < 0.05:
                a["ignore"] = 1
            anns.append(a)
            present.add(c)
            if rng.random() < 0.75:
                dets.append({"image_id": im, "category_id": c if rng.random() > 0.1 else int(rng.choice(cat_ids)),
                             "bbox": jitter(rng, b), "score": score(rng)})
        for _ in range(int(rng.poisson(2))):
            dets.append({"image_id": im, "category_id": int(rng.choice(cat_ids)), "bbox": rand_box(rng), "score": score(rng)})
        if rng.random() < 0.2:  # an image without detections
            dets = [d for d in dets if d["image_id"] != im]
    # Unique annotation ids in a shuffled order; some near 9e11, one case with id 0.
    ids = rng.choice(np.arange(1, 10 ** 6), len(anns), replace=False)
    for i, a in enumerate(anns):
        a["id"] = int(ids[i]) if rng.random() > 0.1 else big + i
    if idx % 5 == 0 and anns:
        anns[int(rng.integers(len(anns)))]["id"] = 0
    if idx % 4 == 1:  # more than 100 detections of one category on one image
        im, c = img_ids[0], gt_cats[0]
        base = next((a["bbox"] for a in anns if a["image_id"] == im and a["category_id"] == c), [50, 50, 100, 80])
        for _ in range(130):
            dets.append({"image_id": im, "category_id": c, "bbox": jitter(rng, base), "score": round(float(rng.random()), 2)})
    if idx % 6 == 2:  # more than 300 detections on one image, across categories
        im = img_ids[-1]
        for _ in range(340):
            dets.append({"image_id": im, "category_id": int(rng.choice(cat_ids)), "bbox": rand_box(rng), "score": score(rng)})
    if not dets:
        dets.append({"image_id": img_ids[0], "category_id": cat_ids[0], "bbox": rand_box(rng), "score": 0.3})
    order = rng.permutation(len(dets))
    dets = [dets[i] for i in order]
    images = []
    for im in img_ids:
        present = {a["category_id"] for a in anns if a["image_id"] == im}
        neg = [c for c in cat_ids if c not in present and rng.random() < 0.5]
        nel = [c for c in cat_ids if (c in present and rng.random() < 0.2) or rng.random() < 0.05]
        images.append({"id": im, "width": 640, "height": 480, "neg_category_ids": neg, "not_exhaustive_category_ids": nel})
    cats = [{"id": c, "name": f"cat{c}", "frequency": str(f)} for c, f in zip(cat_ids, freqs)]
    return {"images": images, "annotations": anns, "categories": cats}, dets


def lvis_fixture_results(rng, gt_path):
    d = json.load(open(gt_path))
    cats = [c["id"] for c in d["categories"]]
    dets = []
    by_img = {}
    for a in d["annotations"]:
        by_img.setdefault(a["image_id"], []).append(a)
    for img in d["images"]:
        for a in by_img.get(img["id"], []):
            if rng.random() < 0.8:
                dets.append({"image_id": img["id"], "category_id": a["category_id"], "bbox": jitter(rng, a["bbox"]),
                             "score": score(rng)})
        for _ in range(int(rng.poisson(3))):
            pool = img["neg_category_ids"] if img["neg_category_ids"] and rng.random() < 0.6 else cats
            dets.append({"image_id": img["id"], "category_id": int(rng.choice(pool)), "bbox": rand_box(rng),
                         "score": score(rng)})
        for c in img["not_exhaustive_category_ids"][:2]:
            dets.append({"image_id": img["id"], "category_id": c, "bbox": rand_box(rng), "score": score(rng)})
    im = d["images"][0]  # more than 300 on one image
    anns = by_img.get(im["id"], [])
    for _ in range(320):
        a = anns[int(rng.integers(len(anns)))] if anns and rng.random() < 0.5 else None
        dets.append({"image_id": im["id"], "category_id": a["category_id"] if a else int(rng.choice(cats)),
                     "bbox": jitter(rng, a["bbox"]) if a else rand_box(rng), "score": round(float(rng.random()), 2)})
    return [dets[i] for i in rng.permutation(len(dets))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("fixtures")
    ap.add_argument("outdir")
    ap.add_argument("--n", type=int, default=24)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    os.makedirs(a.outdir, exist_ok=True)
    from pycocotools.cocoeval import Params
    p = Params("bbox")
    refs = {"thresholds": {"iou": [float(v) for v in p.iouThrs], "rec": [float(v) for v in p.recThrs]}, "cases": []}
    for i in range(a.n):
        rng = np.random.default_rng(a.seed * 1000 + i)
        gt, dets = make_case(rng, i)
        gp, rp = os.path.join(a.outdir, f"case_{i:02d}_gt.json"), os.path.join(a.outdir, f"case_{i:02d}_res.json")
        json.dump(gt, open(gp, "w"))
        json.dump(dets, open(rp, "w"))
        refs["cases"].append({"name": f"case_{i:02d}", "gt": gp, "res": rp, "coco": coco_eval(gp, rp),
                              "lvis": lvis_eval(gp, rp)})
    coco_gt = os.path.join(a.fixtures, "coco", "instances_val2014_100.json")
    coco_res = os.path.join(a.fixtures, "coco", "instances_val2014_fakebbox100_results.json")
    if os.path.exists(coco_gt):
        refs["coco_fixture"] = coco_eval(coco_gt, coco_res)
        g = json.load(open(coco_gt))
        img_ids = sorted(im["id"] for im in g["images"])[::3]
        cat_ids = sorted(c["id"] for c in g["categories"])[1::2]
        refs["coco_fixture_filtered"] = dict(coco_eval(coco_gt, coco_res, img_ids, cat_ids), img_ids=img_ids, cat_ids=cat_ids)
    lvis_gt = os.path.join(a.fixtures, "lvis", "lvis_val_100.json")
    if os.path.exists(lvis_gt):
        rng = np.random.default_rng(a.seed + 77)
        res = os.path.join(a.outdir, "lvis100_res.json")
        json.dump(lvis_fixture_results(rng, lvis_gt), open(res, "w"))
        refs["lvis_fixture"] = dict(lvis_eval(lvis_gt, res), gt=lvis_gt, res=res)
        g = json.load(open(lvis_gt))
        img_ids = sorted(im["id"] for im in g["images"])[:60]
        cat_ids = sorted({an["category_id"] for an in g["annotations"]})[::2] + [1, 2, 3]
        cat_ids = sorted(set(cat_ids))
        refs["lvis_fixture_filtered"] = dict(lvis_eval(lvis_gt, res, img_ids, cat_ids), img_ids=img_ids, cat_ids=cat_ids)
    tmp = os.path.join(a.outdir, "refs.json.tmp")
    json.dump(refs, open(tmp, "w"))
    os.replace(tmp, os.path.join(a.outdir, "refs.json"))


if __name__ == "__main__":
    main()
