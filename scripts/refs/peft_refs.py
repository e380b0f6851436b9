#!/usr/bin/env python3
"""LoRA references made with PEFT (the `peft` package) on a tiny random transformers Qwen2-VL,
for the LoRA parity tests (tests/model/test_lora.cpp).

usage: peft_refs.py OUTDIR [--seed S]
         OUTDIR/model/               save_pretrained() of the tiny model (qwen2vl_refs.py's)
         OUTDIR/inputs.safetensors   a left-padded batch with images (qwen2vl_refs.py's)
         OUTDIR/peft_adapter/        PEFT's save_pretrained() of a LoRA adapter with random A
                                     and B (r 4, alpha 8, language and vision targets)
         OUTDIR/peft_outputs.safetensors   logits [B, S, V] of the base model with that adapter
         OUTDIR/peft_merged/         merge_and_unload() of it, saved
       peft_refs.py check BASE_DIR ADAPTER_DIR INPUTS OUT
         loads BASE_DIR with transformers and ADAPTER_DIR with PeftModel.from_pretrained,
         runs INPUTS (input_ids, attention_mask, optional pixel_values and image_grid_thw)
         and writes its logits to OUT
"""
import argparse
import os
import sys

import torch
from safetensors.torch import load_file, save_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import qwen2vl_refs  # noqa: E402

TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj", "qkv", "fc1"]


def logits_of(model, inputs):
    kw = dict(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"])
    if "pixel_values" in inputs:
        kw.update(pixel_values=inputs["pixel_values"], image_grid_thw=inputs["image_grid_thw"],
                  mm_token_type_ids=(inputs["input_ids"] == qwen2vl_refs.IMAGE).int())
    with torch.no_grad():
        return model(**kw).logits.float().contiguous()


def make(out, seed):
    from peft import LoraConfig, get_peft_model
    os.makedirs(out, exist_ok=True)
    model = qwen2vl_refs.make_model("qwen2vl", seed)
    model.save_pretrained(os.path.join(out, "model"))
    ids, mask, pv, grid = qwen2vl_refs.build_inputs("qwen2vl", seed)
    inputs = {"input_ids": ids, "attention_mask": mask, "pixel_values": pv.contiguous(), "image_grid_thw": grid}
    save_file(inputs, os.path.join(out, "inputs.safetensors"))
    torch.manual_seed(seed + 7)
    # init_lora_weights=False: B random too, so that the adapter changes the logits.
    cfg = LoraConfig(r=4, lora_alpha=8, lora_dropout=0.0, target_modules=TARGETS, init_lora_weights=False)
    peft_model = get_peft_model(model, cfg).eval()
    peft_model.save_pretrained(os.path.join(out, "peft_adapter"))
    save_file({"logits": logits_of(peft_model, inputs)}, os.path.join(out, "peft_outputs.safetensors"))
    merged = peft_model.merge_and_unload()
    merged.save_pretrained(os.path.join(out, "peft_merged"))
    print(f"peft adapter on {len(TARGETS)} target names written to {out}")


def check(base_dir, adapter_dir, inputs_path, out):
    from peft import PeftModel
    from transformers import Qwen2VLForConditionalGeneration
    base = Qwen2VLForConditionalGeneration.from_pretrained(base_dir, dtype=torch.float32).eval()
    model = PeftModel.from_pretrained(base, adapter_dir).eval()
    save_file({"logits": logits_of(model, load_file(inputs_path))}, out)
    print(f"peft loaded {adapter_dir} on {base_dir}")


if __name__ == "__main__":
    if len(sys.argv) == 6 and sys.argv[1] == "check":
        check(*sys.argv[2:])
    else:
        ap = argparse.ArgumentParser()
        ap.add_argument("out")
        ap.add_argument("--seed", type=int, default=0)
        a = ap.parse_args()
        make(a.out, a.seed)
