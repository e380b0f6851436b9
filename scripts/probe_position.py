#!/usr/bin/env python3
"""scripts/probe_position.py MODEL IMAGES_DIR: does the model know where its visual tokens are?

A linear probe (ridge regression, fitted on two thirds of the images, scored on the rest) from
the features of each merged visual token to its grid row and column. Read at the vision
tower's output (the merged tokens the language model receives) and after every language-model
layer at the image's positions. R^2 near 0 means the features say nothing about where they are,
so the model cannot tell where an object is; near 1, it can. Qwen2-VL's vision tower has no
absolute position embedding (2D rotary only), so its R^2 stays low unless the image content
itself says where a patch is; the language model can learn positions through M-RoPE.

Runs the model with transformers (visual-rft saves HF folders), on the CPU. Prints one line
per layer and, with --json FILE, writes the numbers.
"""
import argparse
import glob
import json
import os
import sys

import numpy as np
import torch
from PIL import Image
from transformers import PreTrainedTokenizerFast, Qwen2VLForConditionalGeneration

try:  # transformers 5 names the PIL processor apart; its output equals the torch one's
    from transformers import Qwen2VLImageProcessorPil as ImageProcessor
except ImportError:
    from transformers import Qwen2VLImageProcessor as ImageProcessor


def ridge_r2(x_train, y_train, x_test, y_test, lam=1e-2):
    """R^2 and exact-index accuracy of a ridge fit (features standardised on the train part)."""
    mu, sd = x_train.mean(0), x_train.std(0) + 1e-6
    a, b = (x_train - mu) / sd, (x_test - mu) / sd
    a = np.hstack([a, np.ones((len(a), 1))])
    b = np.hstack([b, np.ones((len(b), 1))])
    w = np.linalg.solve(a.T @ a + lam * len(a) * np.eye(a.shape[1]), a.T @ y_train)
    pred = b @ w
    r2 = 1 - ((pred - y_test) ** 2).sum() / ((y_test - y_test.mean()) ** 2).sum()
    exact = float((np.rint(pred) == y_test).mean())
    return float(r2), exact


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("model", help="HF model folder (e.g. models/vrft-demo)")
    ap.add_argument("images", help="folder of images (e.g. the eval images of `visual-rft data synth`)")
    ap.add_argument("--limit", type=int, default=300, help="images to use (default 300)")
    ap.add_argument("--json", help="write the results here")
    ap.add_argument("--question-first", action="store_true",
                    help="put the text before the image, as a model trained with data.image_position: after_text "
                         "reads its prompts")
    args = ap.parse_args()

    files = sorted(glob.glob(os.path.join(args.images, "*.png")) + glob.glob(os.path.join(args.images, "*.jpg")))
    files = files[: args.limit]
    if len(files) < 30:
        sys.exit(f"probe_position: {args.images}: {len(files)} images; need at least 30")
    torch.manual_seed(0)
    pre = json.load(open(os.path.join(args.model, "preprocessor_config.json")))
    images = ImageProcessor(min_pixels=pre["min_pixels"], max_pixels=pre["max_pixels"],
                            patch_size=pre.get("patch_size", 14), merge_size=pre.get("merge_size", 2))
    tok = PreTrainedTokenizerFast(tokenizer_file=os.path.join(args.model, "tokenizer.json"))
    model = Qwen2VLForConditionalGeneration.from_pretrained(args.model, dtype=torch.float32).eval()
    merge = model.config.vision_config.spatial_merge_size
    image_id = model.config.image_token_id

    feats = {}  # layer name -> list of [tokens, hidden]
    rows, cols = [], []
    for path in files:
        inputs = dict(images(images=[Image.open(path).convert("RGB")], return_tensors="pt"))
        t, h, w = inputs["image_grid_thw"][0].tolist()
        gh, gw = h // merge, w // merge
        # The chat template's text around one image, in the layout the model was trained in.
        vision, question = "<|vision_start|>" + "<|image_pad|>" * (gh * gw) + "<|vision_end|>", "Describe the image."
        turn = question + vision if args.question_first else vision + question
        text = "<|im_start|>user\n" + turn + "<|im_end|>\n<|im_start|>assistant\n"
        inputs["input_ids"] = torch.tensor([tok(text)["input_ids"]])
        inputs["mm_token_type_ids"] = (inputs["input_ids"] == image_id).int()  # 1 at image tokens
        with torch.no_grad():
            out = model(**inputs, output_hidden_states=True)
        where = inputs["input_ids"][0] == image_id
        # hidden_states[0] is the embedding layer's output: at the image positions, the merged
        # visual tokens themselves.
        for i, hs in enumerate(out.hidden_states):
            name = "vision tower (merged tokens)" if i == 0 else f"language layer {i}"
            feats.setdefault(name, []).append(hs[0][where].float().numpy())
        r, c = np.meshgrid(np.arange(gh), np.arange(gw), indexing="ij")
        rows.append(r.reshape(-1))
        cols.append(c.reshape(-1))

    n_train = len(files) * 2 // 3
    split = sum(len(r) for r in rows[:n_train])
    y_row = np.concatenate(rows).astype(np.float64)
    y_col = np.concatenate(cols).astype(np.float64)
    result = {"model": args.model, "images": len(files), "grid": [int(gh), int(gw)],
              "question_first": args.question_first, "layers": {}}
    print(f"position probe: {len(files)} images, {gh}x{gw} visual tokens each; R^2 (exact index) on held-out images")
    for name, xs in feats.items():
        x = np.concatenate(xs).astype(np.float64)
        rr, re = ridge_r2(x[:split], y_row[:split], x[split:], y_row[split:])
        cr, ce = ridge_r2(x[:split], y_col[:split], x[split:], y_col[split:])
        result["layers"][name] = {"row_r2": rr, "row_exact": re, "col_r2": cr, "col_exact": ce}
        print(f"  {name:30s} row {rr:6.3f} ({100 * re:5.1f}%)   column {cr:6.3f} ({100 * ce:5.1f}%)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)
            f.write("\n")


if __name__ == "__main__":
    main()
