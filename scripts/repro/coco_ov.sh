#!/usr/bin/env bash
# scripts/repro/coco_ov.sh: paper Table 7, open-vocabulary detection on COCO: trained on the 65
# base categories (ViRFT_COCO_base65, about 6k annotations), evaluated on the 15 novel, the 65
# base and all 80 (mAP_n, mAP_b, mAP_all): Qwen2-VL-2B and 7B, each as is, after SFT and after
# Visual-RFT.
#
# usage: scripts/repro/coco_ov.sh --model-2b DIR [--model-7b DIR] --base65 FILE --coco DIR [--exist-maps DIR]
#                                 [--steps N] [--out DIR]
#        scripts/repro/coco_ov.sh --smoke [--out DIR]
#   --base65 FILE     laolao77/ViRFT_COCO_base65 as Visual-RFT JSONL (scripts/convert_hf_dataset.py)
#   --coco DIR        annotations/instances_val2017.json and val2017/ (train2017 is not used)
#   --exist-maps DIR  exist_map_coco_Qwen2_vl_{2B,7B}_baseline.json (default: data/visual_rft, the reference's)
# Common options and outputs: scripts/repro/common.sh. Writes OUT/table.md (and table.json).
# lvis_ov.sh (Table 8) evaluates the same trained models: give it --trained OUT of this script.
#
# Training: configs/det_coco_ov_base65.yaml (2 epochs = 750 steps, G = 8; 7B: G = 4), SFT the
# same with train.trainer=sft. Evaluation: COCO val2017, every pair of the existence map of the
# model's size (all categories), COCOeval; mAP_n / mAP_b / mAP_all are the means of the
# notebook's per-class AP over data/categories/coco_ov_{novel15,base65}.txt and both.
# shellcheck source=scripts/repro/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
repro_init coco_ov "base65 coco exist-maps trained" "$@"
[[ -n "$TRAINED" ]] || need_data base65
need_data coco exist-maps
smoke_world det 2
CFG="$ROOT/configs/det_coco_ov_base65.yaml"
mkdir -p "$OUT" && cat "$CATS_COCO_NOVEL" "$CATS_COCO_BASE" >"$OUT/all_categories.txt"

evaluate() {  # DIR MODEL SIZE
  eval_run "$1" "$CFG" "$2" "${EVAL_PROTOCOL[@]}" --set eval.coco="$COCO_VAL" --set eval.images="$COCO_VAL_IMAGES" \
    --set eval.categories=all --set eval.exist_map="$(exist_map coco "$3")"
}

baseline_sft_rft base65

cells() {  # DIR: mAP over the novel, base and all categories
  if ran "$1"; then
    printf 'mapof:%s:%s\tmapof:%s:%s\tmapof:%s:%s' "$1" "$CATS_COCO_NOVEL" "$1" "$CATS_COCO_BASE" "$1" "$OUT/all_categories.txt"
  else
    printf 'skip\tskip\tskip'
  fi
}
table_begin "Table 7: open-vocabulary detection, COCO (trained on 65 base categories; AP)" mAP_n mAP_b mAP_all
table_row "2B" "9.8 6.0 6.7" "$(cells "$OUT/2b/baseline/eval")"
table_row "2B SFT" "13.6 7.8 8.9" "$(cells "$OUT/2b/sft/eval")"
table_row "2B Visual-RFT" "31.3 20.6 22.6" "$(cells "$OUT/2b/rft/eval")"
table_row "7B" "26.3 17.5 19.2" "$(cells "$OUT/7b/baseline/eval")"
table_row "7B SFT" "25.7 17.5 19.0" "$(cells "$OUT/7b/sft/eval")"
table_row "7B Visual-RFT" "35.8 25.4 27.4" "$(cells "$OUT/7b/rft/eval")"
table_note "n: the 15 novel categories, b: the 65 base ones, all: the 80; a category without truth in the evaluated images is left out of a mean."
table_write
