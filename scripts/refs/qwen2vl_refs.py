#!/usr/bin/env python3
"""Reference models and outputs for the Qwen2-VL / Qwen2.5-VL parity tests, made with
transformers from the project venv (no hub access: the models are tiny and random).

usage: qwen2vl_refs.py OUTDIR [--seed S] [--variant NAME ...]
       qwen2vl_refs.py check MODEL_DIR CASE_DIR   loads MODEL_DIR with transformers, runs
                       CASE_DIR/inputs.safetensors and compares the logits with
                       CASE_DIR/outputs.safetensors (exit 1 when max |diff| > 1e-4)

For each variant it writes OUTDIR/NAME/ with
  model/            save_pretrained() of a tiny random model (real special-token ids)
  inputs.safetensors   input_ids [B,S] i64, attention_mask [B,S] i64 (left padding),
                       pixel_values [N,1176] f32, image_grid_thw [I,3] i64
  outputs.safetensors  logits [B,S,V] f32, position_ids [3,B,S] i64, rope_deltas [B] i64,
                       generated [B,8] i64 (greedy, generate(do_sample=False)),
                       logits_bf16 [B,S,V] (the model cast to bfloat16, logits upcast to f32)
Variants:
  qwen2vl          2 decoder layers, 2 vision blocks, tied lm_head (like Qwen2-VL-2B)
  qwen2vl_untied   3 decoder layers, untied lm_head, other image sizes
  qwen25vl         Qwen2.5-VL: 4 vision blocks, windowed and full attention, SwiGLU, RMSNorm
"""
import argparse
import os

import torch
from safetensors.torch import save_file

IMAGE, VSTART, VEND, IM_START, IM_END = 151655, 151652, 151653, 151644, 151645
VOCAB = 151936


def text_config(layers, tied):
    return dict(vocab_size=VOCAB, hidden_size=64, intermediate_size=96, num_hidden_layers=layers,
                num_attention_heads=4, num_key_value_heads=2, rms_norm_eps=1e-6,
                rope_parameters={"rope_type": "default", "rope_theta": 1000000.0, "mrope_section": [2, 3, 3]},
                max_position_embeddings=4096, tie_word_embeddings=tied, bos_token_id=151643,
                eos_token_id=151645)


def make_model(variant, seed):
    torch.manual_seed(seed)
    if variant.startswith("qwen2vl"):
        from transformers import Qwen2VLConfig, Qwen2VLForConditionalGeneration
        tied = variant == "qwen2vl"
        cfg = Qwen2VLConfig(
            text_config=text_config(2 if tied else 3, tied),
            vision_config=dict(depth=2, embed_dim=32, num_heads=4, mlp_ratio=2, hidden_size=64,
                               patch_size=14, temporal_patch_size=2, spatial_merge_size=2),
            image_token_id=IMAGE, video_token_id=151656, vision_start_token_id=VSTART,
            vision_end_token_id=VEND, tie_word_embeddings=tied)
        model = Qwen2VLForConditionalGeneration(cfg)
    else:
        from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration
        cfg = Qwen2_5_VLConfig(
            text_config=text_config(2, True),
            vision_config=dict(depth=4, hidden_size=32, intermediate_size=48, num_heads=4, out_hidden_size=64,
                               patch_size=14, temporal_patch_size=2, spatial_merge_size=2, window_size=112,
                               fullatt_block_indexes=[1, 3], hidden_act="silu"),
            image_token_id=IMAGE, video_token_id=151656, vision_start_token_id=VSTART,
            vision_end_token_id=VEND, tie_word_embeddings=True)
        model = Qwen2_5_VLForConditionalGeneration(cfg)
    # Random init at the default std is too small to make attention interesting: widen it.
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() > 1:
                p.normal_(0.0, 0.2)
            elif "norm" in name or "ln_q" in name:
                p.normal_(1.0, 0.1)
            else:
                p.normal_(0.0, 0.1)
    return model.eval().float()


def build_inputs(variant, seed):
    """A left-padded batch: row 0 one image, row 1 two images of other sizes, row 2 text only."""
    g = torch.Generator().manual_seed(seed + 1)
    grids = {"qwen2vl": [(1, 4, 6), (1, 6, 4), (1, 2, 2)],
             "qwen2vl_untied": [(1, 8, 4), (1, 2, 6), (1, 4, 4)],
             "qwen25vl": [(1, 10, 6), (1, 4, 12), (1, 2, 2)]}[variant]
    rand_text = lambda n: torch.randint(100, 5000, (n,), generator=g).tolist()
    def image(grid):
        t, h, w = grid
        return [VSTART] + [IMAGE] * (t * h * w // 4) + [VEND]
    rows = [
        [IM_START] + rand_text(3) + image(grids[0]) + rand_text(5) + [IM_END],
        [IM_START] + rand_text(2) + image(grids[1]) + rand_text(1) + image(grids[2]) + rand_text(4),
        [IM_START] + rand_text(9) + [IM_END],
    ]
    S = max(len(r) for r in rows)
    ids = torch.full((len(rows), S), 151643, dtype=torch.long)
    mask = torch.zeros((len(rows), S), dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, S - len(r):] = torch.tensor(r)
        mask[i, S - len(r):] = 1
    n = sum(t * h * w for t, h, w in grids)
    pixel_values = torch.randn(n, 1176, generator=g)
    return ids, mask, pixel_values, torch.tensor(grids, dtype=torch.long)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--variant", nargs="*", default=["qwen2vl", "qwen2vl_untied", "qwen25vl"])
    args = ap.parse_args()
    for variant in args.variant:
        d = os.path.join(args.out, variant)
        os.makedirs(d, exist_ok=True)
        model = make_model(variant, args.seed)
        model.save_pretrained(os.path.join(d, "model"))
        ids, mask, pv, grid = build_inputs(variant, args.seed)
        mm = (ids == IMAGE).int()
        with torch.no_grad():
            out = model(input_ids=ids, attention_mask=mask, pixel_values=pv, image_grid_thw=grid,
                        mm_token_type_ids=mm)
            pos, deltas = model.model.get_rope_index(ids, image_grid_thw=grid, attention_mask=mask,
                                                     mm_token_type_ids=mm)
            gen = model.generate(input_ids=ids, attention_mask=mask, pixel_values=pv, image_grid_thw=grid,
                                 mm_token_type_ids=mm, do_sample=False, max_new_tokens=8, min_new_tokens=8,
                                 pad_token_id=151643)
            # The same model in bfloat16 (weights and activations), for the bf16 comparison.
            bf16 = model.to(torch.bfloat16)
            out_bf16 = bf16(input_ids=ids, attention_mask=mask, pixel_values=pv, image_grid_thw=grid,
                            mm_token_type_ids=mm)
            model = bf16.float()
        save_file({"input_ids": ids, "attention_mask": mask, "pixel_values": pv.contiguous(),
                   "image_grid_thw": grid}, os.path.join(d, "inputs.safetensors"))
        save_file({"logits": out.logits.float().contiguous(), "position_ids": pos.contiguous(),
                   "rope_deltas": deltas.flatten().contiguous(),
                   "logits_bf16": out_bf16.logits.float().contiguous(),
                   "generated": gen[:, ids.shape[1]:].contiguous()}, os.path.join(d, "outputs.safetensors"))
        print(f"{variant}: logits {tuple(out.logits.shape)}, generated {gen[:, ids.shape[1]:].tolist()}")


def check(model_dir, case_dir):
    from safetensors.torch import load_file
    from transformers import AutoConfig, Qwen2VLForConditionalGeneration, Qwen2_5_VLForConditionalGeneration
    cls = {"qwen2_vl": Qwen2VLForConditionalGeneration,
           "qwen2_5_vl": Qwen2_5_VLForConditionalGeneration}[AutoConfig.from_pretrained(model_dir).model_type]
    model = cls.from_pretrained(model_dir, dtype=torch.float32).eval()
    inp, ref = load_file(os.path.join(case_dir, "inputs.safetensors")), load_file(os.path.join(case_dir, "outputs.safetensors"))
    with torch.no_grad():
        out = model(input_ids=inp["input_ids"], attention_mask=inp["attention_mask"], pixel_values=inp["pixel_values"],
                    image_grid_thw=inp["image_grid_thw"], mm_token_type_ids=(inp["input_ids"] == IMAGE).int())
    keep = inp["attention_mask"].bool().unsqueeze(-1)
    diff = ((out.logits.float() - ref["logits"]).abs() * keep).max().item()
    print(f"transformers on {model_dir}: max |logits - reference| = {diff:.3g}")
    raise SystemExit(0 if diff <= 1e-4 else 1)


if __name__ == "__main__":
    import sys
    if len(sys.argv) == 4 and sys.argv[1] == "check":
        check(sys.argv[2], sys.argv[3])
    else:
        main()
