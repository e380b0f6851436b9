#!/usr/bin/env python3
"""References for tests/train/test_optim.cpp: torch.optim.AdamW (single-tensor path) on random
parameters and gradients, driven by transformers' linear schedule with warm-up; the learning
rate multipliers of transformers' constant, linear and cosine schedules with warm-up; and
torch.nn.utils.clip_grad_norm_.

usage: optim_refs.py OUTDIR
"""
import json
import os
import sys

import torch
from safetensors.torch import save_file
from transformers import (get_constant_schedule_with_warmup, get_cosine_schedule_with_warmup,
                          get_linear_schedule_with_warmup)

STEPS, WARMUP = 6, 2


def multipliers(make, total, warmup):
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=1.0)
    sched = make(opt, warmup, total) if make is not get_constant_schedule_with_warmup else make(opt, warmup)
    out = []
    for _ in range(total):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return out


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    g = torch.Generator().manual_seed(0)
    a = torch.randn(7, 5, generator=g)
    b = torch.randn(11, generator=g)
    grads = [(torch.randn(7, 5, generator=g), torch.randn(11, generator=g)) for _ in range(STEPS)]
    pa, pb = torch.nn.Parameter(a.clone()), torch.nn.Parameter(b.clone())
    opt = torch.optim.AdamW([pa, pb], lr=1e-2, betas=(0.9, 0.95), eps=1e-8, weight_decay=0.1, foreach=False)
    sched = get_linear_schedule_with_warmup(opt, WARMUP, STEPS)
    tensors = {"a0": a, "b0": b}
    for i, (ga, gb) in enumerate(grads):
        pa.grad, pb.grad = ga.clone(), gb.clone()
        tensors[f"ga{i}"], tensors[f"gb{i}"] = ga, gb
        opt.step()
        sched.step()
        tensors[f"a{i + 1}"], tensors[f"b{i + 1}"] = pa.detach().clone(), pb.detach().clone()
    tensors["exp_avg_sq_a"] = opt.state[pa]["exp_avg_sq"].clone()
    # clip_grad_norm_ on the last gradients
    ca, cb = torch.nn.Parameter(a.clone()), torch.nn.Parameter(b.clone())
    ca.grad, cb.grad = grads[0][0].clone(), grads[0][1].clone()
    norm = torch.nn.utils.clip_grad_norm_([ca, cb], 2.0)
    tensors.update({"clip_norm": norm.view(1), "clip_ga": ca.grad, "clip_gb": cb.grad})
    save_file({k: v.contiguous() for k, v in tensors.items()}, os.path.join(out, "adamw.safetensors"))
    sched_refs = {name: multipliers(f, 10, 3) for name, f in [("constant", get_constant_schedule_with_warmup),
                                                              ("linear", get_linear_schedule_with_warmup),
                                                              ("cosine", get_cosine_schedule_with_warmup)]}
    with open(os.path.join(out, "schedules.json.tmp"), "w") as fh:
        json.dump({"steps": STEPS, "warmup": WARMUP, "schedules": sched_refs}, fh)
    os.replace(os.path.join(out, "schedules.json.tmp"), os.path.join(out, "schedules.json"))


if __name__ == "__main__":
    main()
