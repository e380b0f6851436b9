#!/usr/bin/env bash
# scripts/get.sh [--dry-run] WHAT...: fetches what the configs expect from the Hugging Face hub
# into the folders they name, so that `visual-rft train --config NAME.yaml` finds them:
#   qwen2-vl-2b, qwen2-vl-7b    models/Qwen2-VL-{2B,7B}-Instruct (the weights, tokenizer, processor)
#   flower, aircraft, cars, pets
#                               data/ViRFT_CLS_*/train.jsonl: the released 4-shot classification
#                               sets (configs/cls_*.yaml)
#   coco-8cate, lvis-fewshot, coco-base65
#                               data/ViRFT_*/train.jsonl: the released detection sets
#                               (configs/det_*.yaml)
# A data set is downloaded (parquet) into data/hf/NAME and converted by
# scripts/convert_hf_dataset.py into the config's folder, written under a temporary name and
# renamed when complete. What is already there is skipped. --dry-run prints the commands only.
# Needs the venv of scripts/setup.sh (its `hf` command and Python) and network access to the hub.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
HF="${HF:-$ROOT/.venv/bin/hf}"
PY="${PY:-$ROOT/.venv/bin/python}"
DRY=0
if [[ "${1:-}" == "--dry-run" ]]; then DRY=1; shift; fi

# name -> "hub repo|kind|target folder (relative to the project)"
declare -A ITEMS=(
  [qwen2-vl-2b]="Qwen/Qwen2-VL-2B-Instruct|model|models/Qwen2-VL-2B-Instruct"
  [qwen2-vl-7b]="Qwen/Qwen2-VL-7B-Instruct|model|models/Qwen2-VL-7B-Instruct"
  [flower]="laolao77/ViRFT_CLS_flower_4_shot|dataset|data/ViRFT_CLS_flower_4_shot"
  [aircraft]="laolao77/ViRFT_CLS_fgvc_aircraft_4_shot|dataset|data/ViRFT_CLS_fgvc_aircraft_4_shot"
  [cars]="laolao77/ViRFT_CLS_car196_4shot|dataset|data/ViRFT_CLS_car196_4shot"
  [pets]="laolao77/ViRFT_CLS_pets37_4shot|dataset|data/ViRFT_CLS_pets37_4shot"
  [coco-8cate]="laolao77/ViRFT_COCO_8_cate_4_shot|dataset|data/ViRFT_COCO_8cate_4shot"
  [lvis-fewshot]="laolao77/ViRFT_LVIS_few_shot|dataset|data/ViRFT_LVIS_few_shot"
  [coco-base65]="laolao77/ViRFT_COCO_base65|dataset|data/ViRFT_COCO_base65"
)
NAMES="qwen2-vl-2b qwen2-vl-7b flower aircraft cars pets coco-8cate lvis-fewshot coco-base65"

usage() { echo "usage: scripts/get.sh [--dry-run] WHAT... (WHAT: ${NAMES// /, })" >&2; exit 2; }
(($# > 0)) || usage
for what in "$@"; do
  [[ -n "${ITEMS[$what]+x}" ]] || { echo "get.sh: unknown '$what'" >&2; usage; }
done
if ((!DRY)); then
  [[ -x "$HF" && -x "$PY" ]] || { echo "get.sh: no $HF or $PY: run scripts/setup.sh first" >&2; exit 1; }
fi

unreachable() {  # URL TARGET [THEN]: the hub could not be reached (or refused)
  echo "get.sh: cannot reach the Hugging Face hub: download $1 by hand into $2${3:+, $3}" >&2
  exit 1
}

run() {  # prints the command; runs it unless --dry-run
  echo "+ $*"
  ((DRY)) || "$@"
}

for what in "$@"; do
  IFS='|' read -r repo kind target <<<"${ITEMS[$what]}"
  if [[ "$kind" == model ]]; then
    if [[ -f "$ROOT/$target/config.json" ]]; then echo "get.sh: $target is there"; continue; fi
    run "$HF" download "$repo" --local-dir "$ROOT/$target" || unreachable "https://huggingface.co/$repo" "$target"
  else
    if [[ -f "$ROOT/$target/train.jsonl" ]]; then echo "get.sh: $target is there"; continue; fi
    raw="$ROOT/data/hf/$(basename "$repo")"
    if [[ -n "$(find "$raw" -name '*.parquet' -print -quit 2>/dev/null)" ]]; then
      echo "get.sh: converting the parquet files already in ${raw#"$ROOT"/}"
    else
      run "$HF" download "$repo" --repo-type dataset --local-dir "$raw" ||
        unreachable "https://huggingface.co/datasets/$repo" "${raw#"$ROOT"/}" "then run scripts/get.sh $what again to convert it"
    fi
    run rm -rf "$ROOT/$target.partial"
    run "$PY" "$ROOT/scripts/convert_hf_dataset.py" "$raw" --out "$ROOT/$target.partial"
    run rm -rf "$ROOT/$target"  # an incomplete earlier copy (no train.jsonl)
    run mv "$ROOT/$target.partial" "$ROOT/$target"
  fi
done
