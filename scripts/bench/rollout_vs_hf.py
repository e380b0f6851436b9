#!/usr/bin/env python3
"""Rollout throughput: visual-rft against transformers' generate(num_return_sequences=G), same
model, same prompts, same lengths, same machine.

usage: rollout_vs_hf.py [--preset tiny|100m|2b] [--prompts 4] [--samples 8] [--new-tokens 64]
                        [--text-tokens 48] [--image-size 224] [--device cpu|cuda] [--repeats 2]
                        [--vrft build/visual-rft]

1. `visual-rft bench load --random PRESET --dir D` writes a random checkpoint (an HF folder
   that transformers loads; tested in tests/model);
2. B prompts are made here: chat-like random text around one image of IMAGE_SIZE pixels
   (random pixel values), lengths differing by a few tokens, left-padded;
3. transformers: generate(do_sample=True, temperature=1, top_k=0, num_return_sequences=G,
   min_new_tokens=T, max_new_tokens=T), the reference trainer's call with exactly T tokens;
   one warm-up, the best of REPEATS;
4. `visual-rft bench rollout --model D --inputs prompts.safetensors --ignore-eos` likewise;
5. prints both, the ratio of generated tokens per second, and peak memory.
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

import torch
from safetensors.torch import save_file

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
IMAGE, VSTART, VEND, IM_START, IM_END, PAD = 151655, 151652, 151653, 151644, 151645, 151643


def prompts(b, text_tokens, image_size):
    g = torch.Generator().manual_seed(0)
    grid = image_size // 14
    rows = []
    for i in range(b):
        n = text_tokens + 3 * (i % 4)
        text = torch.randint(100, 5000, (n,), generator=g).tolist()
        rows.append([IM_START] + text[: n // 2] + [VSTART] + [IMAGE] * (grid * grid // 4) + [VEND] + text[n // 2:]
                    + [IM_END, 198, IM_START, 77091, 198])
    S = max(len(r) for r in rows)
    ids = torch.full((b, S), PAD, dtype=torch.long)
    mask = torch.zeros((b, S), dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, S - len(r):] = torch.tensor(r)
        mask[i, S - len(r):] = 1
    pv = torch.randn(b * grid * grid, 1176, generator=g)
    thw = torch.tensor([[1, grid, grid]] * b, dtype=torch.long)
    return ids, mask, pv, thw


def hf_generate(model_dir, inputs, a):
    from transformers import AutoConfig, Qwen2VLForConditionalGeneration, Qwen2_5_VLForConditionalGeneration
    cls = {"qwen2_vl": Qwen2VLForConditionalGeneration,
           "qwen2_5_vl": Qwen2_5_VLForConditionalGeneration}[AutoConfig.from_pretrained(model_dir).model_type]
    dtype = torch.float32 if a.device == "cpu" else torch.bfloat16
    model = cls.from_pretrained(model_dir, dtype=dtype).to(a.device).eval()
    ids, mask, pv, thw = (t.to(a.device) for t in inputs)
    pv = pv.to(dtype)
    kw = dict(input_ids=ids, attention_mask=mask, pixel_values=pv, image_grid_thw=thw, mm_token_type_ids=(ids == IMAGE).int(),
              do_sample=True, temperature=1.0, top_k=0, top_p=1.0, num_return_sequences=a.samples,
              min_new_tokens=a.new_tokens, max_new_tokens=a.new_tokens, pad_token_id=PAD)
    best = None
    for i in range(a.repeats + 1):
        if a.device != "cpu":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        with torch.no_grad():
            out = model.generate(**kw)
        if a.device != "cpu":
            torch.cuda.synchronize()
        dt = time.perf_counter() - t0
        if i > 0 and (best is None or dt < best):
            best = dt
    generated = out.shape[0] * (out.shape[1] - ids.shape[1])
    peak = (torch.cuda.max_memory_allocated() / 1e9) if a.device != "cpu" else 0.0
    return best, generated, peak


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--preset", default="tiny")
    ap.add_argument("--prompts", type=int, default=4)
    ap.add_argument("--samples", type=int, default=8)
    ap.add_argument("--new-tokens", type=int, default=64)
    ap.add_argument("--text-tokens", type=int, default=48)
    ap.add_argument("--image-size", type=int, default=224)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--vrft", default=os.path.join(ROOT, "build", "visual-rft"))
    a = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="vrft-rollout-bench-") as tmp:
        model_dir = os.path.join(tmp, "model")
        dtype = "float32" if a.device == "cpu" else "bfloat16"
        subprocess.run([a.vrft, "bench", "load", "--random", a.preset, "--dir", model_dir, "--dtype", dtype],
                       check=True, stdout=subprocess.DEVNULL)
        inputs = prompts(a.prompts, a.text_tokens, a.image_size)
        path = os.path.join(tmp, "prompts.safetensors")
        save_file(dict(zip(["input_ids", "attention_mask", "pixel_values", "image_grid_thw"],
                           [t.contiguous() for t in inputs])), path)
        # Ours first, in its own process (its peak RSS is its own).
        res = subprocess.run([a.vrft, "bench", "rollout", "--model", model_dir, "--inputs", path, "--samples",
                              str(a.samples), "--new-tokens", str(a.new_tokens), "--ignore-eos", "--repeats",
                              str(a.repeats), "--device", a.device, "--json"], check=True, capture_output=True, text=True)
        ours = json.loads(res.stdout.strip().splitlines()[-1])
        hf_s, hf_tokens, hf_gpu = hf_generate(model_dir, inputs, a)
    hf_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e9
    ours_tps = ours["generated_tokens"] / ours["total_s"]
    hf_tps = hf_tokens / hf_s
    print(f"rollout {a.preset} on {a.device} ({dtype}), B={a.prompts} G={a.samples} T={a.new_tokens}, "
          f"prompt {inputs[0].shape[1]} tokens (padded), torch threads {torch.get_num_threads()}")
    print(f"  transformers generate: {hf_s:.3f} s, {hf_tps:.0f} generated tokens/s, peak RSS {hf_rss:.2f} GB"
          + (f", peak GPU {hf_gpu:.2f} GB" if a.device != "cpu" else ""))
    print(f"  visual-rft:            {ours['total_s']:.3f} s, {ours_tps:.0f} generated tokens/s "
          f"(vision {ours['vision_s']:.3f} s, prefill {ours['prefill_s']:.3f} s, decode {ours['decode_s']:.3f} s, "
          f"{ours['decode_step_ms']:.2f} ms/step), peak RSS {ours['peak_rss_gb']:.2f} GB"
          + (f", peak GPU {ours['peak_gpu_gb']:.2f} GB" if a.device != "cpu" else ""))
    print(f"  ratio: {ours_tps / hf_tps:.2f}x the tokens/s of transformers")


if __name__ == "__main__":
    sys.exit(main())
