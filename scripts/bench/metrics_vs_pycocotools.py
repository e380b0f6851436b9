#!/usr/bin/env python3
"""COCO bbox evaluation speed: `visual-rft metrics coco --json` against pycocotools on the
same random files, with a check that the 12 stats agree (<= 1e-12).

usage: metrics_vs_pycocotools.py [--images 5000] [--dets 50000] [--cats 80] [--repeat 3]
                                 [--seed 0] [--vrft build/visual-rft] [--keep DIR]

Makes a COCO-like ground truth (about 7 boxes per image over 80 categories with COCO's ids,
a few crowd boxes, areas below the box area like segmentation areas) and a results file of
--dets detections (jittered true boxes with scores in 2 decimals, plus false positives), then
times, best of --repeat:
  pycocotools: COCO(gt) is loaded once outside the timing (as a training loop would keep
               it); timed: loadRes + evaluate + accumulate + summarize;
  visual-rft:  the whole `visual-rft metrics coco --json` process (reading both files,
               evaluating, printing), including the executable's start-up (loading
               LibTorch's shared libraries), which is also shown on its own.
"""
import argparse
import contextlib
import io
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
COCO_IDS = [i for i in range(1, 91) if i not in (12, 26, 29, 30, 45, 66, 68, 69, 71, 83)]
NAMES = ["AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs", "ARm", "ARl"]


def make_data(rng, n_img, n_det, n_cat):
    cats = COCO_IDS[:n_cat] if n_cat <= 80 else list(range(1, n_cat + 1))
    images, anns = [], []
    for i in range(n_img):
        img_id = int(1000 + 7 * i)
        images.append({"id": img_id, "width": 640, "height": 480, "file_name": f"{img_id:012d}.jpg"})
        for _ in range(int(rng.poisson(7))):
            w, h = float(np.exp(rng.uniform(np.log(4), np.log(500)))), float(np.exp(rng.uniform(np.log(4), np.log(400))))
            x, y = float(rng.uniform(0, 640 - min(w, 600))), float(rng.uniform(0, 480 - min(h, 440)))
            anns.append({"id": len(anns) + 1, "image_id": img_id, "category_id": int(rng.choice(cats)),
                         "bbox": [round(x, 2), round(y, 2), round(w, 2), round(h, 2)],
                         "area": round(w * h * float(rng.uniform(0.5, 0.9)), 2), "iscrowd": int(rng.random() < 0.01)})
    dets = []
    for a in anns:  # true positives, jittered, most of the budget
        if len(dets) >= int(n_det * 0.7):
            break
        x, y, w, h = a["bbox"]
        s = rng.choice([0.03, 0.1, 0.25])
        dets.append({"image_id": a["image_id"], "category_id": a["category_id"] if rng.random() > 0.05 else int(rng.choice(cats)),
                     "bbox": [round(x + rng.normal(0, s * w), 2), round(y + rng.normal(0, s * h), 2),
                              round(max(1.0, w * (1 + rng.normal(0, s))), 2), round(max(1.0, h * (1 + rng.normal(0, s))), 2)],
                     "score": round(float(rng.random()), 2)})
    while len(dets) < n_det:  # false positives anywhere
        im = images[int(rng.integers(n_img))]["id"]
        w, h = float(np.exp(rng.uniform(np.log(4), np.log(400)))), float(np.exp(rng.uniform(np.log(4), np.log(300))))
        dets.append({"image_id": im, "category_id": int(rng.choice(cats)),
                     "bbox": [round(float(rng.uniform(0, 600)), 2), round(float(rng.uniform(0, 440)), 2), round(w, 2), round(h, 2)],
                     "score": round(float(rng.random()) * 0.6, 2)})
    dets = [dets[i] for i in rng.permutation(len(dets))]
    return {"images": images, "annotations": anns, "categories": [{"id": c, "name": f"c{c}"} for c in cats]}, dets


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=5000)
    ap.add_argument("--dets", type=int, default=50000)
    ap.add_argument("--cats", type=int, default=80)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--vrft", default=os.path.join(ROOT, "build", "visual-rft"))
    ap.add_argument("--keep", help="write the files here and keep them")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        d = a.keep or tmp
        os.makedirs(d, exist_ok=True)
        gt, dets = make_data(np.random.default_rng(a.seed), a.images, a.dets, a.cats)
        gt_path, res_path = os.path.join(d, "gt.json"), os.path.join(d, "results.json")
        json.dump(gt, open(gt_path, "w"))
        json.dump(dets, open(res_path, "w"))
        print(f"data: {len(gt['images'])} images, {len(gt['annotations'])} GT boxes, {len(dets)} detections, "
              f"{len(gt['categories'])} categories")

        with contextlib.redirect_stdout(io.StringIO()):
            coco_gt = COCO(gt_path)
        py_best, py_stats = 1e30, None
        for _ in range(a.repeat):
            t0 = time.perf_counter()
            with contextlib.redirect_stdout(io.StringIO()):
                ev = COCOeval(coco_gt, coco_gt.loadRes(res_path), "bbox")
                ev.evaluate()
                ev.accumulate()
                ev.summarize()
            py_best = min(py_best, time.perf_counter() - t0)
            py_stats = [float(s) for s in ev.stats]

        cmd = [a.vrft, "metrics", "coco", "--json", "--gt", gt_path, "--results", res_path]
        ours_best, start_best, ours = 1e30, 1e30, None
        for _ in range(a.repeat):
            t0 = time.perf_counter()
            subprocess.run([a.vrft, "--version"], check=True, capture_output=True)
            start_best = min(start_best, time.perf_counter() - t0)
            t0 = time.perf_counter()
            out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
            ours_best = min(ours_best, time.perf_counter() - t0)
            ours = json.loads(out)["stats"]

        worst = max(abs(ours[n] - py_stats[i]) for i, n in enumerate(NAMES))
        exact = sum(ours[n] == py_stats[i] for i, n in enumerate(NAMES))
        print(f"stats: AP {py_stats[0]:.6f} AP50 {py_stats[1]:.6f} AR100 {py_stats[8]:.6f}; "
              f"{exact}/12 bit-equal, max |difference| {worst:.3g}")
        print(f"pycocotools (loadRes+evaluate+accumulate+summarize), best of {a.repeat}: {py_best:.3f} s")
        print(f"visual-rft metrics coco --json (whole process), best of {a.repeat}: {ours_best:.3f} s "
              f"(of which process start-up, `visual-rft --version`: {start_best:.3f} s)")
        print(f"ratio: visual-rft is {py_best / ours_best:.1f}x pycocotools "
              f"({py_best / max(ours_best - start_best, 1e-9):.1f}x without the start-up)")
        if worst > 1e-12:
            sys.exit("stats differ by more than 1e-12")


if __name__ == "__main__":
    main()
