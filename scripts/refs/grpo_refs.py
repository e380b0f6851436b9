#!/usr/bin/env python3
"""Reference GRPO losses and gradients for tests/train/test_grpo.cpp: the formulas of TRL's
GRPOTrainer._compute_loss written out in plain PyTorch, in float64, on
random inputs.

usage: grpo_refs.py OUTDIR

Writes OUTDIR/cases.json (per case: options) and OUTDIR/tensors.safetensors: shared inputs
(hidden [N*T, H], weight [V, H], tokens [N*T], mask [N, T], rewards [N], old_noise and
ref_noise [N, T]) and per case CASE.loss, CASE.grad_hidden, CASE.grad_weight, CASE.adv,
CASE.kl, CASE.clip_low, CASE.clip_high, plus entropy [N*T] at temperature 1.
"""
import json
import os
import sys

import torch
from safetensors.torch import save_file

B, G, T, H, V = 3, 4, 7, 16, 50
N = B * G


def advantages(rewards, scale, eps=1e-4):
    r = rewards.view(-1, G)
    mean = r.mean(1).repeat_interleave(G)
    if scale == "none":
        return rewards - mean
    std = r.std(1).repeat_interleave(G) if scale == "group" else rewards.std().expand(N)
    return (rewards - mean) / (std + eps)


def loss_of(inputs, c):
    hidden = inputs["hidden"].clone().requires_grad_(True)
    weight = inputs["weight"].clone().requires_grad_(True)
    logits = hidden @ weight.t() / c["temperature"]
    logp = torch.log_softmax(logits, -1).gather(1, inputs["tokens"].view(-1, 1)).view(N, T)
    old = logp.detach() + inputs["old_noise"] if c["old"] else logp.detach()
    ref = logp.detach() + inputs["ref_noise"]
    adv = advantages(inputs["rewards"], c["scale"])
    mask = inputs["mask"]
    coef_1 = torch.exp(logp - old)
    coef_2 = torch.clamp(coef_1, 1 - c["eps_low"], 1 + c["eps_high"])
    per_token_loss = -torch.min(coef_1 * adv.unsqueeze(1), coef_2 * adv.unsqueeze(1))
    kl = torch.exp(ref - logp) - (ref - logp) - 1
    if c["beta"] != 0.0:
        per_token_loss = per_token_loss + c["beta"] * kl
    ga = c["grad_accum"]
    if c["loss_type"] == "grpo":
        loss = ((per_token_loss * mask).sum(-1) / mask.sum(-1).clamp(min=1.0)).mean() / ga
    elif c["loss_type"] == "bnpo":
        loss = (per_token_loss * mask).sum() / mask.sum().clamp(min=1.0) / ga
    elif c["loss_type"] == "dr_grpo":
        loss = (per_token_loss * mask).sum() / (per_token_loss.size(0) * c["max_completion_length"]) / ga
    else:  # dapo
        loss = (per_token_loss * mask).sum() / c["num_items"]
    loss.backward()
    low = ((coef_1 < 1 - c["eps_low"]) & (adv.unsqueeze(1) < 0)).double()
    high = ((coef_1 > 1 + c["eps_high"]) & (adv.unsqueeze(1) > 0)).double()
    n = mask.sum().clamp(min=1.0)
    return {"loss": loss.detach().view(1), "grad_hidden": hidden.grad, "grad_weight": weight.grad, "adv": adv,
            "kl": ((kl * mask).sum() / n).detach().view(1), "clip_low": ((low * mask).sum() / n).view(1),
            "clip_high": ((high * mask).sum() / n).view(1)}


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    g = torch.Generator().manual_seed(0)
    d = torch.float64
    mask = torch.ones(N, T, dtype=d)
    lengths = torch.randint(1, T + 1, (N,), generator=g)
    for i in range(N):
        mask[i, lengths[i]:] = 0
    mask[5] = 0  # an empty completion: clamp(min=1) matters
    rewards = torch.randint(0, 4, (N,), generator=g).to(d) / 2
    rewards[G:2 * G] = 1.0  # a group with equal rewards
    inputs = {"hidden": torch.randn(N * T, H, generator=g, dtype=d), "weight": torch.randn(V, H, generator=g, dtype=d) * 0.5,
              "tokens": torch.randint(0, V, (N * T,), generator=g), "mask": mask, "rewards": rewards,
              "old_noise": torch.randn(N, T, generator=g, dtype=d) * 0.3, "ref_noise": torch.randn(N, T, generator=g, dtype=d) * 0.5}
    base = dict(temperature=1.0, old=False, scale="group", eps_low=0.2, eps_high=0.2, beta=0.04, grad_accum=1,
                loss_type="grpo", max_completion_length=T, num_items=float(mask.sum()))
    cases = {
        "visual_rft": dict(base),                                           # the reference: ratio 1, beta 0.04
        "grpo_clip": dict(base, old=True),
        "bnpo": dict(base, old=True, loss_type="bnpo", grad_accum=2),
        "dr_grpo": dict(base, old=True, loss_type="dr_grpo", scale="none", max_completion_length=10),
        "dapo": dict(base, old=True, loss_type="dapo", eps_high=0.28, beta=0.0, num_items=123.0),
        "batch_scale_temp": dict(base, old=True, scale="batch", temperature=0.7, beta=0.1),
    }
    tensors = dict(inputs)
    for name, c in cases.items():
        for k, v in loss_of(inputs, c).items():
            tensors[f"{name}.{k}"] = v.contiguous()
    logits = inputs["hidden"] @ inputs["weight"].t()
    p = torch.softmax(logits, -1)
    tensors["entropy"] = -(p * torch.log_softmax(logits, -1)).sum(-1)
    save_file(tensors, os.path.join(out, "tensors.safetensors"))
    with open(os.path.join(out, "cases.json.tmp"), "w") as fh:
        json.dump({"B": B, "G": G, "T": T, "cases": cases}, fh, indent=1)
    os.replace(os.path.join(out, "cases.json.tmp"), os.path.join(out, "cases.json"))


if __name__ == "__main__":
    main()
