#!/usr/bin/env python3
"""Reference generations for tests/rollout/test_generator.cpp: transformers' greedy
generate() on the tiny random models of qwen2vl_refs.py (same construction and seed).

usage: rollout_refs.py OUTDIR

For each variant (qwen2vl, qwen25vl) writes OUTDIR/NAME/model/ (save_pretrained),
inputs.safetensors (the left-padded batch with images of qwen2vl_refs.build_inputs) and
outputs.safetensors:
  greedy      [B, 20] generate(do_sample=False, max_new_tokens=20) with an eos id no row
              produces (151935), i.e. 20 tokens per row
  eos_id      [1] a token that row 0 produces at step 6
  greedy_eos  [B, <=20] the same with eos_token_id=eos_id: rows stop at it, padded after
  greedy_rep  [B, 20] repetition_penalty=1.3 (no eos)
  greedy_folder_rep [B, 20] do_sample=False with no penalty passed, from a copy of the model
              saved with generation_config.repetition_penalty = 0.5 (NAME/model_rep/; below 1 it
              favours seen tokens, which changes these random models' answers where 1.05
              and 1.3 change none): generate() applies the folder's penalty, as it does
              Qwen2-VL-Instruct's 1.05
"""
import os
import sys

import torch
from safetensors.torch import save_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from qwen2vl_refs import IMAGE, build_inputs, make_model  # noqa: E402

NO_EOS = 151935
PAD = 151643


def main():
    out = sys.argv[1]
    for variant in ("qwen2vl", "qwen25vl"):
        d = os.path.join(out, variant)
        os.makedirs(d, exist_ok=True)
        model = make_model(variant, 0)
        model.save_pretrained(os.path.join(d, "model"))
        ids, mask, pv, grid = build_inputs(variant, 0)
        kw = dict(input_ids=ids, attention_mask=mask, pixel_values=pv, image_grid_thw=grid,
                  mm_token_type_ids=(ids == IMAGE).int(), do_sample=False, max_new_tokens=20, pad_token_id=PAD)
        with torch.no_grad():
            full = model.generate(**kw, eos_token_id=NO_EOS)[:, ids.shape[1]:]
            eos = int(full[0, 6])
            stop = model.generate(**kw, eos_token_id=eos)[:, ids.shape[1]:]
            rep = model.generate(**kw, eos_token_id=NO_EOS, repetition_penalty=1.3)[:, ids.shape[1]:]
        model.generation_config.repetition_penalty = 0.5
        model.save_pretrained(os.path.join(d, "model_rep"))
        folder = type(model).from_pretrained(os.path.join(d, "model_rep"))
        with torch.no_grad():
            folder_rep = folder.generate(**kw, eos_token_id=NO_EOS)[:, ids.shape[1]:]
        save_file({"input_ids": ids, "attention_mask": mask, "pixel_values": pv.contiguous(), "image_grid_thw": grid},
                  os.path.join(d, "inputs.safetensors"))
        save_file({"greedy": full.contiguous(), "eos_id": torch.tensor([eos]), "greedy_eos": stop.contiguous(),
                   "greedy_rep": rep.contiguous(), "greedy_folder_rep": folder_rep.contiguous()}, os.path.join(d, "outputs.safetensors"))
        print(variant, full.tolist(), stop.tolist(), rep.tolist())


if __name__ == "__main__":
    main()
