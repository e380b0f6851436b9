#!/usr/bin/env python3
"""scripts/probe_attributes.py MODEL DENSE_JSONL CATEGORIES_JSON: can the model's visual features
tell the colour, pattern and shape of an object whose combination it has never seen?

A novel category of the demo's world is a new combination of known words ("red solid
circle" where the base categories hold red, solid and circle only in other combinations).
Naming or detecting it needs each attribute read from the pixels. Among the world's few
base categories, though, colour and pattern nearly tell the shape, so a model trained on
them can get the shape right without seeing it.

This probe reads the features of the merged visual tokens under each object (their mean, at
the embedding layer: the vision tower's output as the language model receives it, and after
every language layer), and fits a ridge classifier per attribute:

  base -> novel        fitted on objects of the world's base categories, scored on objects
                       of its novel ones (what the demo asks of a base model);
  known -> novel       fitted on objects of every other combination, scored on the novel ones;
  disjoint combinations  fitted on two thirds of the other combinations, scored on the rest
                       (no novel category involved);
  same combinations    fitted and scored on alternate objects of the same combinations.

Chance is 1/6 for shape, 1/5 colour, 1/3 pattern. A shape score far below "same
combinations" on new combinations means the shape is read through colour and pattern.

DENSE_JSONL: single-object dense rows (`visual-rft data synth --dense-base
--dense-max-objects 1`) of a world that holds the MODEL's novel combinations among its base
categories, e.g. all 90 (`--categories 90`); CATEGORIES_JSON: the MODEL's world
(`categories.json` of any `data synth --seed S` folder of its seed). Runs the model with
transformers on the CPU; prints one line per layer (--json writes them).
"""
import argparse
import json
import os
import re
import sys

import numpy as np
import torch
from PIL import Image
from transformers import PreTrainedTokenizerFast, Qwen2VLForConditionalGeneration

try:  # transformers 5 names the PIL processor apart; its output equals the torch one's
    from transformers import Qwen2VLImageProcessorPil as ImageProcessor
except ImportError:
    from transformers import Qwen2VLImageProcessor as ImageProcessor

OBJECT = re.compile(r"'Position': \[(\d+), (\d+), (\d+), (\d+)\], 'Category': '([a-z ]+)'")
ATTRIBUTES = ("colour", "pattern", "shape")


def ridge_accuracy(x_fit, y_fit, x_test, y_test, lam=0.1):
    """Accuracy of a one-vs-rest ridge classifier (features standardised on the fitted part)."""
    classes = sorted(set(y_fit) | set(y_test))
    index = {c: i for i, c in enumerate(classes)}
    mu, sd = x_fit.mean(0), x_fit.std(0) + 1e-6
    a = np.hstack([(x_fit - mu) / sd, np.ones((len(x_fit), 1))])
    b = np.hstack([(x_test - mu) / sd, np.ones((len(x_test), 1))])
    targets = np.eye(len(classes))[[index[c] for c in y_fit]]
    w = np.linalg.solve(a.T @ a + lam * len(a) * np.eye(a.shape[1]), a.T @ targets)
    return float((np.argmax(b @ w, 1) == np.array([index[c] for c in y_test])).mean())


def object_features(model, tok, images, path, box):
    """Per layer, the mean feature [hidden] of the merged visual tokens whose centre lies in box
    (0-1000 units; the nearest token when none does)."""
    inputs = dict(images(images=[Image.open(path).convert("RGB")], return_tensors="pt"))
    _, h, w = inputs["image_grid_thw"][0].tolist()
    merge = model.config.vision_config.spatial_merge_size
    gh, gw = h // merge, w // merge
    text = ("<|im_start|>user\nWhich category is the object?<|vision_start|>" + "<|image_pad|>" * (gh * gw) +
            "<|vision_end|><|im_end|>\n<|im_start|>assistant\n")
    inputs["input_ids"] = torch.tensor([tok(text)["input_ids"]])
    image_id = model.config.image_token_id
    inputs["mm_token_type_ids"] = (inputs["input_ids"] == image_id).int()
    with torch.no_grad():
        out = model(**inputs, output_hidden_states=True)
    where = inputs["input_ids"][0] == image_id
    rows, cols = np.meshgrid((np.arange(gh) + 0.5) / gh * 1000, (np.arange(gw) + 0.5) / gw * 1000, indexing="ij")
    inside = ((cols >= box[0]) & (cols <= box[2]) & (rows >= box[1]) & (rows <= box[3])).reshape(-1)
    if not inside.any():
        cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
        inside[np.argmin(((cols - cx) ** 2 + (rows - cy) ** 2).reshape(-1))] = True
    return [hs[0][where].float().numpy()[inside].mean(0) for hs in out.hidden_states]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("model", help="HF model folder (e.g. models/vrft-demo)")
    ap.add_argument("dense", help="single-object dense rows (data synth --dense-base --dense-max-objects 1)")
    ap.add_argument("categories", help="categories.json of the model's world")
    ap.add_argument("--limit", type=int, default=2000, help="rows to use (default 2000)")
    ap.add_argument("--json", help="write the results here")
    a = ap.parse_args()

    world = json.load(open(a.categories))["categories"]
    split = {c["name"]: c["split"] for c in world}
    pre = json.load(open(os.path.join(a.model, "preprocessor_config.json")))
    images = ImageProcessor(min_pixels=pre["min_pixels"], max_pixels=pre["max_pixels"],
                            patch_size=pre.get("patch_size", 14), merge_size=pre.get("merge_size", 2))
    tok = PreTrainedTokenizerFast(tokenizer_file=os.path.join(a.model, "tokenizer.json"))
    model = Qwen2VLForConditionalGeneration.from_pretrained(a.model, dtype=torch.float32).eval()
    torch.manual_seed(0)

    feats, names = [], []
    with open(a.dense) as f:
        for n, line in enumerate(f, 1):
            if len(names) == a.limit:
                break
            row = json.loads(line)
            objects = OBJECT.findall(row["solution"])
            if len(objects) != 1:
                sys.exit(f"probe_attributes: {a.dense}:{n}: {len(objects)} objects; need single-object rows "
                         "(data synth --dense-max-objects 1)")
            *box, name = objects[0]
            path = os.path.join(os.path.dirname(a.dense), row["image"])
            feats.append(object_features(model, tok, images, path, [int(v) for v in box]))
            names.append(name)
    names = np.array(names)
    kind = np.array([split.get(n, "other") for n in names])
    attrs = np.array([n.split() for n in names])  # [objects, 3]: colour, pattern, shape
    if (kind == "base").sum() < 30 or (kind == "novel").sum() < 10:
        sys.exit(f"probe_attributes: {a.dense}: {(kind == 'base').sum()} objects of base categories and "
                 f"{(kind == 'novel').sum()} of novel ones; need at least 30 and 10")

    combos = sorted(set(names[kind != "novel"]))
    np.random.default_rng(0).shuffle(combos)
    fit_combos = set(combos[: len(combos) * 2 // 3])
    in_fit = np.array([n in fit_combos for n in names])
    known = kind != "novel"
    splits = {
        "base -> novel": (kind == "base", kind == "novel"),
        "known -> novel": (known, kind == "novel"),
        "disjoint combinations": (known & in_fit, known & ~in_fit),
        "same combinations": (known & (np.arange(len(names)) % 2 == 0), known & (np.arange(len(names)) % 2 == 1)),
    }
    result = {"model": a.model, "objects": len(names), "novel_objects": int((kind == "novel").sum()), "layers": {}}
    print(f"attribute probe: {len(names)} objects ({result['novel_objects']} of novel categories); "
          "accuracy colour / pattern / shape")
    for layer in range(len(feats[0])):
        x = np.array([f[layer] for f in feats])
        name = "vision tower (merged tokens)" if layer == 0 else f"language layer {layer}"
        scores = {s: {k: ridge_accuracy(x[fit], attrs[fit, j], x[test], attrs[test, j]) for j, k in enumerate(ATTRIBUTES)}
                  for s, (fit, test) in splits.items()}
        result["layers"][name] = scores
        print(f"  {name:30s} " + " | ".join(f"{s}: " + " / ".join(f"{v[k]:.2f}" for k in ATTRIBUTES)
                                            for s, v in scores.items()))
    if a.json:
        with open(a.json + ".partial", "w") as f:
            json.dump(result, f, indent=2)
            f.write("\n")
        os.replace(a.json + ".partial", a.json)


if __name__ == "__main__":
    main()
