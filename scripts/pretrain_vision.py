#!/usr/bin/env python3
"""scripts/pretrain_vision.py MODEL DENSE_JSONL OUT: dense pre-training of a demo model's vision tower.

The demo's base model learns from scratch, and SFT on answers alone reaches its vision tower
only through the language model: a weak signal for a tower that must learn what colour,
pattern and shape each patch shows. This stage gives the tower a direct signal first, as real
vision-language models start from a separately pre-trained vision encoder. Every merged
visual token (the vectors the language model receives; 8 x 8 of them for a 112-pixel image
with 7-pixel patches) is trained, through linear heads that are thrown away afterwards, to say:

  - the colour, pattern and shape of the object under its centre (or background),
  - the distances from its centre to that object's box edges (relative: a 2D-rotary tower can
    learn them), and, with --absolute-weight > 0, the box itself in 0-1000 coordinates.

With --hue-fraction P, a share P of each step's images is shown with every hue turned by a
random angle (a rotation of RGB space about its grey axis: greys stay, colours move round the
colour wheel), and the colour of their objects left untaught. Without it, a tower that only
ever sees some colour x pattern x shape combinations learns shape through colour and pattern
(red and solid means hexagon) and cannot read the shape of a combination it never saw; with it,
every shape is seen in every hue, so shape must be read from the outline alone. Grey copies do
not do this: the palette's colours keep distinct grey levels, and the tower keys on those.

The targets come from the dense rows of `visual-rft data synth --dense-base` (every object of
an image with its box and category; the object under a token's centre is the smallest box that
holds it). Only the vision tower's weights change: OUT is MODEL's folder with new visual.*
tensors, ready for `visual-rft train` (scripts/make_demo_model.sh runs this stage with
VISION_STEPS=N). It prints held-out accuracy per attribute and the box error every 100 steps
(with --hue-fraction also pattern and shape on the held-out images with their hues turned).
Runs with PyTorch and transformers (the vision tower's reference implementation) on the CPU or
--device cuda.
"""
import argparse
import ast
import json
import math
import os
import re
import shutil
import time

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from safetensors.torch import load_file, save_file
from transformers import Qwen2VLConfig
from transformers.models.qwen2_vl.modeling_qwen2_vl import Qwen2VisionTransformerPretrainedModel

try:  # transformers 5 names the PIL processor apart; its output equals the torch one's
    from transformers import Qwen2VLImageProcessorPil as ImageProcessor
except ImportError:
    from transformers import Qwen2VLImageProcessor as ImageProcessor


def token_targets(objects, gh, gw, vocab):
    """Per merged token (gh x gw, row-major): attribute ids [N, 3] (len(vocab[k]) = background),
    relative edge distances and the absolute box [N, 8] in 0-1 units, and a mask [N] of tokens
    whose centre lies in a box."""
    n = gh * gw
    ids = np.array([[len(v) for v in vocab]] * n, np.int64)
    box = np.zeros((n, 8), np.float32)
    mask = np.zeros(n, np.float32)
    for i in range(gh):
        for j in range(gw):
            cx, cy = (j + 0.5) / gw * 1000, (i + 0.5) / gh * 1000
            inside = [o for o in objects if o["Position"][0] <= cx <= o["Position"][2] and o["Position"][1] <= cy <= o["Position"][3]]
            if not inside:
                continue
            o = min(inside, key=lambda o: (o["Position"][2] - o["Position"][0]) * (o["Position"][3] - o["Position"][1]))
            x1, y1, x2, y2 = o["Position"]
            words = o["Category"].split()
            k = i * gw + j
            ids[k] = [vocab[a].index(w) for a, w in enumerate(words)]
            box[k] = [(cx - x1) / 1000, (cy - y1) / 1000, (x2 - cx) / 1000, (y2 - cy) / 1000,
                      x1 / 1000, y1 / 1000, x2 / 1000, y2 / 1000]
            mask[k] = 1
    return ids, box, mask


def rotate_hue(pv, mean, std, angle):
    """Patches [N, 3 * T * P * P] (channel first, normalised by mean and std) of the image with
    every colour rotated by `angle` radians about RGB's grey axis (Rodrigues' formula; greys
    stay), clipped to the RGB cube."""
    k = torch.full((3,), 1 / math.sqrt(3))
    cross = torch.tensor([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    turn = math.cos(angle) * torch.eye(3) + math.sin(angle) * cross + (1 - math.cos(angle)) * torch.outer(k, k)
    x = pv.reshape(pv.shape[0], 3, -1) * std + mean  # [N, 3, T*P*P] in 0-1
    x = torch.einsum("ij,njp->nip", turn, x).clamp(0, 1)
    return ((x - mean) / std).reshape(pv.shape)


def load_rows(path, proc, vocab, limit):
    """The dense rows of `path` as (pixel_values, grid_thw, ids, box, mask) per image."""
    root = os.path.dirname(path)
    rows = []
    with open(path) as f:
        for n, line in enumerate(f, 1):
            if limit and len(rows) >= limit:
                break
            r = json.loads(line)
            m = re.search(r"<answer>(.*)</answer>", r["solution"], re.S)
            if not m:
                raise SystemExit(f"{path}:{n}: the solution has no <answer>...</answer>")
            objects = ast.literal_eval(m.group(1).strip())
            if not isinstance(objects, list) or not all("Position" in o and "Category" in o for o in objects):
                raise SystemExit(f"{path}:{n}: expected a dense row ([{{'Position': [...], 'Category': ...}}, ...])")
            img = Image.open(os.path.join(root, r["image"])).convert("RGB")
            out = proc(images=[img], return_tensors="pt")
            grid = out["image_grid_thw"]
            gh, gw = int(grid[0, 1]) // 2, int(grid[0, 2]) // 2
            ids, box, mask = token_targets(objects, gh, gw, vocab)
            rows.append((out["pixel_values"], grid, torch.from_numpy(ids), torch.from_numpy(box), torch.from_numpy(mask)))
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("model", help="an HF model folder (e.g. `visual-rft model init --preset demo`)")
    ap.add_argument("data", help="dense rows: OUT/dense/base_train.jsonl of `visual-rft data synth --dense-base`")
    ap.add_argument("out", help="the model folder to write (MODEL with the trained vision tower)")
    ap.add_argument("--categories", help="categories.json of the world (default: beside the data's folder)")
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--batch", type=int, default=32, help="images per step")
    ap.add_argument("--lr", type=float, default=1e-3, help="AdamW, cosine to 0 after 50 warm-up steps")
    ap.add_argument("--absolute-weight", type=float, default=0.0, help="weight of the absolute-box loss")
    ap.add_argument("--hue-fraction", type=float, default=0.0,
                    help="share of each step's images shown with their hues turned at random, their objects' colour untaught")
    ap.add_argument("--held-out", type=int, default=256, help="the last N rows, for the printed accuracy")
    ap.add_argument("--limit", type=int, default=0, help="read only the first N rows (0 = all)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", default="cpu")
    a = ap.parse_args()
    if not 0 <= a.hue_fraction <= 1:
        raise SystemExit(f"--hue-fraction {a.hue_fraction}: expected a share from 0 to 1")

    torch.manual_seed(a.seed)
    cats_path = a.categories or os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(a.data))), "categories.json")
    with open(cats_path) as f:
        cats = json.load(f)
    vocab = [cats["colours"], cats["patterns"], cats["shapes"]]
    cfg = Qwen2VLConfig.from_pretrained(a.model)
    tower = Qwen2VisionTransformerPretrainedModel._from_config(cfg.vision_config)
    weights = load_file(os.path.join(a.model, "model.safetensors"))
    tower.load_state_dict({k[len("visual."):]: v for k, v in weights.items() if k.startswith("visual.")}, strict=True)
    tower.to(a.device)

    t0 = time.time()
    proc = ImageProcessor.from_pretrained(a.model)
    mean, std = (torch.tensor(v, dtype=torch.float32).view(1, 3, 1) for v in (proc.image_mean, proc.image_std))
    rows = load_rows(a.data, proc, vocab, a.limit)
    if len(rows) <= a.held_out + a.batch:
        raise SystemExit(f"{a.data}: {len(rows)} rows, need more than --held-out {a.held_out} + --batch {a.batch}")
    train, held = rows[:-a.held_out], rows[-a.held_out:]
    print(f"pretrain_vision: {len(train)} training and {len(held)} held-out images ({time.time() - t0:.0f} s)", flush=True)

    hidden = cfg.text_config.hidden_size  # the merger's output: what the language model receives
    heads = torch.nn.ModuleList([torch.nn.Linear(hidden, len(v) + 1) for v in vocab] +
                                [torch.nn.Linear(hidden, 4), torch.nn.Linear(hidden, 4)]).to(a.device)
    params = list(tower.parameters()) + list(heads.parameters())
    opt = torch.optim.AdamW(params, lr=a.lr, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / 50) * 0.5 * (1 + math.cos(math.pi * min(s, a.steps) / a.steps)))

    def recolour(row, angle):
        """A row with its hues turned by `angle`: the objects' colour ids become -100 (ignored);
        the background's stays."""
        pv, grid, ids, box, mask = row
        ids = ids.clone()
        ids[mask > 0, 0] = -100
        return rotate_hue(pv, mean, std, angle), grid, ids, box, mask

    def run(batch):
        pv = torch.cat([r[0] for r in batch]).to(a.device)
        grid = torch.cat([r[1] for r in batch]).to(a.device)
        feats = tower(pv, grid_thw=grid)
        if not torch.is_tensor(feats):  # transformers 5 returns an output object
            feats = feats.pooler_output
        ids, box, mask = (torch.cat([r[k] for r in batch]).to(a.device) for k in (2, 3, 4))
        logits = [h(feats) for h in heads[:3]]
        rel, ab = heads[3](feats), heads[4](feats)
        n_obj = mask.sum().clamp(min=1)
        loss = sum(F.cross_entropy(lg, ids[:, k], ignore_index=-100) for k, lg in enumerate(logits))
        loss = loss + 5 * (F.smooth_l1_loss(rel, box[:, :4], reduction="none", beta=0.05).sum(1) * mask).sum() / n_obj
        if a.absolute_weight > 0:
            loss = loss + 5 * a.absolute_weight * (
                F.smooth_l1_loss(ab, box[:, 4:], reduction="none", beta=0.05).sum(1) * mask).sum() / n_obj
        with torch.no_grad():
            acc = [((lg.argmax(1) == ids[:, k]).float() * mask).sum().item() / n_obj.item() for k, lg in enumerate(logits)]
            rel_err = ((rel - box[:, :4]).abs().mean(1) * mask).sum().item() / n_obj.item() * 1000
        return loss, acc, rel_err

    rng = np.random.default_rng(a.seed)
    t0 = time.time()
    for step in range(1, a.steps + 1):
        batch = [train[i] for i in rng.choice(len(train), a.batch, replace=False)]
        if a.hue_fraction > 0:  # drawn only when asked for, so that the batches without it stay those of earlier runs
            turned = rng.random(a.batch) < a.hue_fraction
            angles = rng.uniform(0, 2 * math.pi, a.batch)
            batch = [recolour(r, t) if g else r for r, g, t in zip(batch, turned, angles)]
        loss, _, _ = run(batch)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        sched.step()
        if step % 100 == 0 or step == a.steps:
            with torch.no_grad():
                _, acc, err = run(held)
                # The held-out images once more, their hues turned evenly round the circle.
                in_hues = ""
                if a.hue_fraction > 0:
                    turned_acc = run([recolour(r, 2 * math.pi * (i + 0.5) / len(held)) for i, r in enumerate(held)])[1]
                    in_hues = f"  hues turned {turned_acc[1]:.2f}/{turned_acc[2]:.2f}"
            print(f"pretrain_vision: step {step}/{a.steps} loss {loss.item():.3f}  held-out colour/pattern/shape "
                  f"{acc[0]:.2f}/{acc[1]:.2f}/{acc[2]:.2f}{in_hues}  edge distance error {err:.0f}/1000  "
                  f"{(time.time() - t0) / step:.2f} s/step", flush=True)

    # OUT: MODEL's files, the vision tower's tensors replaced (written to OUT.partial, then moved).
    tmp = a.out.rstrip("/") + ".partial"
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(a.model, tmp)
    for k, v in tower.state_dict().items():
        weights["visual." + k] = v.detach().to("cpu", weights["visual." + k].dtype).contiguous()
    save_file(weights, os.path.join(tmp, "model.safetensors"), metadata={"format": "pt"})
    shutil.rmtree(a.out, ignore_errors=True)
    os.replace(tmp, a.out)
    print(f"pretrain_vision: wrote {a.out}")


if __name__ == "__main__":
    main()
