#!/usr/bin/env bash
# scripts/repro/lvis_ov.sh: paper Table 8, open-vocabulary detection on 13 rare LVIS categories
# with the models trained on COCO base 65 (AP): Qwen2-VL-2B and 7B, each as is, after SFT and
# after Visual-RFT.
#
# usage: scripts/repro/lvis_ov.sh --model-2b DIR [--model-7b DIR] (--base65 FILE | --trained DIR)
#                                 --lvis DIR --coco DIR [--exist-maps DIR] [--steps N] [--out DIR]
#        scripts/repro/lvis_ov.sh --smoke [--out DIR]
#   --trained DIR     the --out of a finished coco_ov.sh: evaluate its SFT and Visual-RFT models
#   --base65 FILE     otherwise train them here (as coco_ov.sh): ViRFT_COCO_base65 as JSONL
#   --lvis DIR        lvis_v1_val.json;  --coco DIR: its images (val2017/, train2017/)
#   --exist-maps DIR  exist_map_lvis_Qwen2_vl_{2B,7B}_baseline.json (default: data/visual_rft, the reference's)
# Common options and outputs: scripts/repro/common.sh. Writes OUT/table.md (and table.json).
#
# Evaluation: LVIS v1 val, the pairs of the existence map of the model's size among the 13
# categories, LVISEval; AP is the deleted LVIS notebook's (averaged over the area ranges), mAP
# its mean over the 13.
# shellcheck source=scripts/repro/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
repro_init lvis_ov "base65 lvis coco exist-maps trained" "$@"
[[ -n "$TRAINED" ]] || need_data base65
need_data lvis exist-maps
smoke_world det 2
CFG="$ROOT/configs/det_coco_ov_base65.yaml"

evaluate() {  # DIR MODEL SIZE
  eval_run "$1" "$CFG" "$2" "${EVAL_PROTOCOL[@]}" --set eval.lvis="$LVIS_VAL" --set eval.images="$LVIS_IMAGES" \
    --set eval.categories="$CATS_LVIS_RARE" --set eval.exist_map="$(exist_map lvis "$3")"
}

baseline_sft_rft base65

C="$CATS_LVIS_RARE"
table_begin "Table 8: open-vocabulary detection, LVIS, 13 rare categories (trained on COCO base 65; AP)" mAP \
  casserole die egg_roll futon garbage handsaw hippopotamus kitchen_table mallet omelet shot_glass stepladder sugar_bowl
table_row "2B" "2.7 1.6 1.2 0.0 2.4 0.0 10.0 0.0 13.4 0.2 4.7 2.1 0.0 0.0" "$(det_cells "$OUT/2b/baseline/eval" "$C")"
table_row "2B SFT" "7.6 3.9 21.2 0.0 0.0 10.7 9.0 11.6 19.4 0.0 11.7 6.3 0.0 5.2" "$(det_cells "$OUT/2b/sft/eval" "$C")"
table_row "2B Visual-RFT" "20.7 24.5 23.4 2.0 16.0 27.7 20.2 14.4 45.8 11.1 22.7 6.0 6.0 40.2" "$(det_cells "$OUT/2b/rft/eval" "$C")"
table_row "7B" "15.7 3.7 21.9 0.7 24.5 15.3 19.2 13.1 14.5 11.9 18.1 27.9 0.0 33.8" "$(det_cells "$OUT/7b/baseline/eval" "$C")"
table_row "7B SFT" "24.0 20.8 25.4 0.6 41.8 12.2 19.2 18.8 42.5 11.9 15.3 27.9 28.1 47.8" "$(det_cells "$OUT/7b/sft/eval" "$C")"
table_row "7B Visual-RFT" "30.4 19.7 27.8 4.3 41.8 17.4 35.1 20.0 70.6 16.7 23.5 29.8 29.3 59.8" "$(det_cells "$OUT/7b/rft/eval" "$C")"
table_note "The paper's 2B Visual-RFT mAP (20.7) is not the mean of its per-class values (20.0)."
table_write
