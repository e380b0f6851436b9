#!/usr/bin/env bash
# scripts/repro/det_coco_fewshot.sh: paper Table 3, few-shot detection on 8 COCO categories
# (bus, train, fire hydrant, stop sign, cat, dog, bed, toilet; AP): Qwen2-VL-2B, then SFT and
# Visual-RFT on K = 1, 2, 4, 8, 16 shots per category; Qwen2-VL-7B with 4 shots.
#
# usage: scripts/repro/det_coco_fewshot.sh --model-2b DIR [--model-7b DIR] --coco DIR [--exist-maps DIR]
#                                          [--shots 1,2,4,8,16] [--steps N] [--out DIR]
#        scripts/repro/det_coco_fewshot.sh --smoke [--out DIR]
#   --coco DIR        annotations/instances_{train,val}2017.json, train2017/, val2017/
#   --exist-maps DIR  exist_map_coco_Qwen2_vl_{2B,7B}_baseline.json (default: data/visual_rft, the reference's)
#   --shots LIST      2B shot counts (default 1,2,4,8,16; --smoke: 1,4); 7B: 4
# Common options and outputs: scripts/repro/common.sh. Writes OUT/table.md (and table.json).
#
# Training: configs/det_coco_8cate_4shot.yaml (200 steps, G = 8, rewards IoU + confidence +
# format), SFT the same with train.trainer=sft, on K-shot sets drawn from train2017 by
# `visual-rft data fewshot --coco` (seed 0, nested; every box of the category in each image).
# Evaluation: COCO val2017, the (image, category) pairs of the existence map of the model's size,
# the reference's eval prompt, COCOeval; the mAP is the notebook's mean of per-class AP.
# shellcheck source=scripts/repro/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
repro_init det_coco_fewshot "coco exist-maps" "$@"
need_data coco-train exist-maps
smoke_world det 0
SHOTS="${SHOTS:-$( ((SMOKE)) && echo "1 4" || echo "1 2 4 8 16")}"
CFG="$ROOT/configs/det_coco_8cate_4shot.yaml"

evaluate() {  # DIR MODEL SIZE
  eval_run "$1" "$CFG" "$2" "${EVAL_PROTOCOL[@]}" --set eval.coco="$COCO_VAL" --set eval.images="$COCO_VAL_IMAGES" \
    --set eval.categories="$CATS_COCO_FEWSHOT" --set eval.exist_map="$(exist_map coco "$3")"
}

# run SIZE MODEL SHOTS...: the baseline, then SFT and Visual-RFT per shot count.
run() {
  local size="$1" model="$2" k method d
  shift 2
  [[ -n "$model" ]] || return 0
  evaluate "$OUT/$size/baseline/eval" "$model" "$size"
  for k in "$@"; do
    d="$OUT/$size/shot$k"
    fewshot "$OUT/data/shot$k" --coco "$COCO_TRAIN" --images "$COCO_TRAIN_IMAGES" \
      --categories "$CATS_COCO_FEWSHOT" --shots "$k"
    for method in sft rft; do
      train_run "$d/$method" "$CFG" "$model" "$OUT/data/shot$k/train.jsonl" "$method"
      evaluate "$d/$method/eval" "$(checkpoint "$d/$method")" "$size"
    done
  done
}
# shellcheck disable=SC2086  # SHOTS is a list
run 2b "$MODEL_2B" $SHOTS
run 7b "$MODEL_7B" 4

C="$CATS_COCO_FEWSHOT"
table_begin "Table 3: few-shot detection, COCO, 8 categories (AP)" mAP bus train "fire hydrant" "stop sign" cat dog bed toilet
table_row "2B baseline" "19.6 19.0 15.8 25.8 18.4 29.9 23.2 14.6 9.8" "$(det_cells "$OUT/2b/baseline/eval" "$C")"
table_row "1-shot SFT" "19.5 18.3 17.4 23.1 18.2 28.0 23.4 17.3 10.4" "$(det_cells "$OUT/2b/shot1/sft/eval" "$C")"
table_row "1-shot RFT" "33.6 23.4 35.7 39.1 23.8 54.3 42.5 19.5 30.8" "$(det_cells "$OUT/2b/shot1/rft/eval" "$C")"
table_row "2-shot SFT" "21.0 22.1 15.8 29.8 19.0 28.9 26.5 15.5 10.2" "$(det_cells "$OUT/2b/shot2/sft/eval" "$C")"
table_row "2-shot RFT" "41.5 28.8 39.6 38.2 48.0 63.8 52.7 25.9 34.9" "$(det_cells "$OUT/2b/shot2/rft/eval" "$C")"
table_row "4-shot SFT" "25.2 25.4 23.6 26.6 21.5 35.6 30.6 18.4 19.9" "$(det_cells "$OUT/2b/shot4/sft/eval" "$C")"
table_row "4-shot RFT" "40.6 30.0 40.6 45.7 35.0 60.9 44.9 24.6 43.1" "$(det_cells "$OUT/2b/shot4/rft/eval" "$C")"
table_row "8-shot SFT" "30.2 25.8 35.1 29.4 21.9 44.5 39.0 22.6 23.5" "$(det_cells "$OUT/2b/shot8/sft/eval" "$C")"
table_row "8-shot RFT" "47.4 36.2 47.9 50.4 47.7 65.2 57.0 30.4 44.0" "$(det_cells "$OUT/2b/shot8/rft/eval" "$C")"
table_row "16-shot SFT" "31.3 24.0 35.9 32.0 23.6 39.8 40.6 27.5 26.8" "$(det_cells "$OUT/2b/shot16/sft/eval" "$C")"
table_row "16-shot RFT" "46.8 36.2 44.4 51.4 48.5 66.6 56.2 27.6 43.4" "$(det_cells "$OUT/2b/shot16/rft/eval" "$C")"
table_row "7B baseline" "43.0 35.0 43.3 37.1 36.7 57.3 50.3 37.4 47.1" "$(det_cells "$OUT/7b/baseline/eval" "$C")"
table_row "7B 4-shot SFT" "44.1 41.4 51.7 35.6 30.8 60.5 52.7 38.5 41.5" "$(det_cells "$OUT/7b/shot4/sft/eval" "$C")"
table_row "7B 4-shot RFT" "54.3 44.3 59.8 52.0 46.0 72.7 62.8 41.9 55.0" "$(det_cells "$OUT/7b/shot4/rft/eval" "$C")"
table_write
