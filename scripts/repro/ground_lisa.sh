#!/usr/bin/env bash
# scripts/repro/ground_lisa.sh: paper Table 6, reasoning grounding on LISA ReasonSeg (mIoU on
# test and val): Qwen2-VL-2B and 7B, each as is, after SFT and after Visual-RFT on the 239
# training images.
#
# usage: scripts/repro/ground_lisa.sh --model-2b DIR [--model-7b DIR] --lisa DIR [--steps N] [--out DIR]
#        scripts/repro/ground_lisa.sh --smoke [--out DIR]
#   --lisa DIR   ReasonSeg: train/, val/, test/ (LabelMe image.json beside image.jpg)
# Common options and outputs: scripts/repro/common.sh. Writes OUT/table.md (and table.json).
#
# Data: lisa_to_jsonl.py turns each split into Visual-RFT JSONL (train: one row per
# instruction, the training prompt; val/test: the first instruction, the eval prompt).
# Training: configs/ground_lisa.yaml (500 steps, G = 8, rewards IoU + format), SFT the same with
# train.trainer=sft. Evaluation as lisa_evaluation/: the R1 system prompt, greedy, 128 new
# tokens, the first (x1,y1),(x2,y2) of the answer against the box, mIoU, each model at the image
# size of its own folder (eval.pixels=model: a checkpoint at the size it trained at, the base
# model at its preprocessor's), as the reference loads the evaluated folder's processor. The box
# is gen_box_ann.py's (lisa_to_jsonl.py --box reference). Not reproduced: the
# paper's gIoU (masks from SAM ViT-H prompted with the predicted box).
# shellcheck source=scripts/repro/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
repro_init ground_lisa "lisa" "$@"
need_data lisa
smoke_world ground 0
CFG="$ROOT/configs/ground_lisa.yaml"

stage "LISA train split as JSONL" "$PY" "$REPRO_DIR/lisa_to_jsonl.py" --dir "$LISA_DIR/train" --style train --out "$OUT/data/train.jsonl"
for split in val test; do
  stage "LISA $split split as JSONL" "$PY" "$REPRO_DIR/lisa_to_jsonl.py" --dir "$LISA_DIR/$split" --style eval --out "$OUT/data/$split.jsonl"
done

evaluate() {  # DIR MODEL [SIZE]: mIoU on test and val (DIR/test, DIR/val)
  local split
  for split in test val; do
    eval_run "$1/$split" "$CFG" "$2" "${EVAL_PROTOCOL[@]}" --set eval.max_new_tokens=128 --set eval.pixels=model \
      --set data.system_prompt="$R1_SYSTEM_PROMPT" --set eval.data="$OUT/data/$split.jsonl"
  done
}

baseline_sft_rft own

cells() {  # DIR: mIoU test, mIoU val, gIoU test (not measured)
  if ran "$1/test"; then printf 'miou:%s\tmiou:%s\t-' "$1/test" "$1/val"; else printf 'skip\tskip\tskip'; fi
}
table_begin "Table 6: reasoning grounding, LISA ReasonSeg" mIoU_test mIoU_val gIoU_test
table_row "Qwen2-VL-2B" "26.9 30.1 25.3" "$(cells "$OUT/2b/baseline/eval")"
table_row "2B +SFT" "28.3 29.7 25.3" "$(cells "$OUT/2b/sft/eval")"
table_row "2B +Visual-RFT" "37.6 34.4 34.4" "$(cells "$OUT/2b/rft/eval")"
table_row "Qwen2-VL-7B" "40.4 45.2 38.0" "$(cells "$OUT/7b/baseline/eval")"
table_row "7B +SFT" "39.1 43.9 37.2" "$(cells "$OUT/7b/sft/eval")"
table_row "7B +Visual-RFT" "43.9 47.1 43.7" "$(cells "$OUT/7b/rft/eval")"
table_note "mIoU: the reference's box rule (first (x1,y1),(x2,y2) anywhere in the answer, IoU + 1e-6). gIoU needs SAM masks: not computed (—)."
table_write
