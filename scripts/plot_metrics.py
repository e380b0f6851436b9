#!/usr/bin/env python3
"""Draws the curves of a training run's metrics.jsonl into one PNG.

usage: plot_metrics.py RUN_DIR_OR_METRICS_JSONL [--out curves.png]

Panels: total reward (mean and +-std), each reward's mean, KL to the reference, completion
length (mean, max), entropy and clip ratios, learning rate and gradient norm.
"""
import argparse
import json
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("path")
    ap.add_argument("--out")
    a = ap.parse_args()
    path = os.path.join(a.path, "metrics.jsonl") if os.path.isdir(a.path) else a.path
    rows = []
    with open(path) as fh:
        for n, line in enumerate(fh, 1):
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as e:
                raise SystemExit(f"{path}:{n}: not a JSON line ({e})")
    if not rows:
        raise SystemExit(f"{path}: no metrics yet")
    step = [r["step"] for r in rows]
    get = lambda *keys: [_dig(r, keys) for r in rows]
    fig, ax = plt.subplots(2, 3, figsize=(15, 8))
    mean, std = get("reward", "mean"), get("reward", "std")
    ax[0, 0].plot(step, mean, label="reward")
    ax[0, 0].fill_between(step, [m - s for m, s in zip(mean, std)], [m + s for m, s in zip(mean, std)], alpha=0.2)
    ax[0, 0].set_title("total reward (mean ± std)")
    for name in rows[-1].get("rewards", {}):
        ax[0, 1].plot(step, get("rewards", name, "mean"), label=name)
    ax[0, 1].set_title("rewards (mean)")
    ax[0, 1].legend()
    ax[0, 2].plot(step, get("kl"))
    ax[0, 2].set_title("KL to the reference (k3, token mean)")
    ax[1, 0].plot(step, get("completion_length", "mean"), label="mean")
    ax[1, 0].plot(step, get("completion_length", "max"), label="max")
    ax[1, 0].set_title("completion length")
    ax[1, 0].legend()
    ax[1, 1].plot(step, get("entropy"), label="entropy")
    ax[1, 1].plot(step, get("clip_ratio", "region"), label="clip ratio")
    ax[1, 1].set_title("entropy, clip ratio")
    ax[1, 1].legend()
    ax[1, 2].plot(step, get("lr"), label="lr")
    ax2 = ax[1, 2].twinx()
    ax2.plot(step, get("grad_norm"), color="tab:orange", label="grad norm")
    ax[1, 2].set_title("learning rate (blue), gradient norm (orange)")
    for x in ax.flat:
        x.set_xlabel("step")
    fig.tight_layout()
    out = a.out or os.path.join(os.path.dirname(path), "curves.png")
    fig.savefig(out, dpi=100)
    print(f"wrote {out}")


def _dig(row, keys):
    for k in keys:
        if not isinstance(row, dict) or row.get(k) is None:
            return float("nan")
        row = row[k]
    return row


if __name__ == "__main__":
    main()
