#!/usr/bin/env bash
# scripts/make_demo_model.sh [--resume] [OUT]: makes the demo's base model from nothing.
#   1. the synthetic world of seed 0 with BASE_PER_CATEGORY base_train rows per base category
#      and task, whose answers start with a short <think> (visual-rft data synth --think-base),
#      with DENSE=1 also as many dense rows that locate and name every object (--dense-base),
#      with POSITION_CUE=1 on backgrounds that carry the position cue (--position-cue);
#   2. a 640-token byte-level BPE trained on its text (scripts/make_tiny_tokenizer.py), or the
#      one in TOKENIZER=DIR when set;
#   3. random weights of the "demo" shape (visual-rft model init --preset demo, ~2M parameters),
#      with ROPE_THETA, MROPE_SECTION (e.g. 1,1,14), PATCH_SIZE, HIDDEN, LAYERS, VISION_WIDTH and
#      VISION_DEPTH instead of the preset's when set;
#   3b. when VISION_STEPS > 0, dense pre-training of the vision tower alone
#      (scripts/pretrain_vision.py: every visual token learns the colour, pattern and shape under
#      it and the distances to its object's box edges, and with VISION_ABSOLUTE_WEIGHT > 0 the
#      box itself) on VISION_ROWS_PER_CATEGORY x 24 dense images of their own image seed, cosine
#      from VISION_LR; FREEZE_VISION=1 then keeps the
#      tower fixed in the SFT stages below;
#   4. SFT pre-training on the base categories with configs/demo_pretrain.yaml: STEPS steps of
#      ROWS rows, cosine from lr LR, on DEVICE; then, when LOCATE_STEPS > 0, a localisation stage:
#      LOCATE_STEPS steps on single-object dense rows (locate and name one object; cosine from
#      LOCATE_LR); then STAGE2_STEPS more on the whole mix from those weights with a fresh
#      optimiser (cosine from LR / 2, warm-up 20, another data order), when STAGE2_STEPS > 0;
#   with IMAGE_POSITION=after_text every prompt puts the question before the image
#      (data.image_position; recorded, and `visual-rft demo` follows it): the image's tokens
#      can then attend to the question, and picking out the object it names is learnt faster
#      (docs/benchmark-log.md);
#   5. what it learnt, measured on fresh images of the base categories (image seed EVAL_SEED,
#      never trained on): `visual-rft eval` of each task and scripts/probe_position.py;
#   6. the final weights, config and tokenizer copied to OUT (default models/vrft-demo) with
#      visual_rft_demo.json: the world's seed, the image size, the recipe and step 5's numbers.
# --resume continues a stopped run from its working folder (VRFT_DEMO_WORK, default OUT.work):
# the data and tokenizer are kept and training resumes from its last checkpoint.
# The defaults are the recipe of the shipped model (800 + 300 steps of 32 rows; about an hour on
# 2 CPU cores). docs/demo.md says what other settings were tried and what they gave.
# Set-up and build first: scripts/setup.sh; cmake --build build --target visual-rft.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
RESUME=0
if [[ "${1:-}" == "--resume" ]]; then RESUME=1; shift; fi
OUT="${1:-$ROOT/models/vrft-demo}"
VRFT="${VRFT:-${VRFT_BUILD_DIR:-$ROOT/build}/visual-rft}"
PY="${PY:-$ROOT/.venv/bin/python}"
SEED=0
IMAGE_SIZE=112
BASE_PER_CATEGORY="${BASE_PER_CATEGORY:-320}"
DENSE="${DENSE:-0}"
POSITION_CUE="${POSITION_CUE:-0}"
DEVICE="${DEVICE:-cpu}"
STEPS="${STEPS:-800}"
ROWS="${ROWS:-32}"
LR="${LR:-2e-3}"
STAGE2_STEPS="${STAGE2_STEPS:-300}"
LOCATE_STEPS="${LOCATE_STEPS:-0}"
LOCATE_LR="${LOCATE_LR:-1e-3}"
ROPE_THETA="${ROPE_THETA:-}"
MROPE_SECTION="${MROPE_SECTION:-}"
PATCH_SIZE="${PATCH_SIZE:-}"
HIDDEN="${HIDDEN:-}"
LAYERS="${LAYERS:-}"
VISION_WIDTH="${VISION_WIDTH:-}"
VISION_DEPTH="${VISION_DEPTH:-}"
EVAL_SEED="${EVAL_SEED:-1000}"
IMAGE_POSITION="${IMAGE_POSITION:-before_text}"
VISION_STEPS="${VISION_STEPS:-0}"
VISION_LR="${VISION_LR:-1e-3}"
VISION_ABSOLUTE_WEIGHT="${VISION_ABSOLUTE_WEIGHT:-0}"
VISION_ROWS_PER_CATEGORY="${VISION_ROWS_PER_CATEGORY:-200}"
FREEZE_VISION="${FREEZE_VISION:-0}"
WORK="${VRFT_DEMO_WORK:-$OUT.work}"

# Numbers from the environment are checked before anything runs.
for v in BASE_PER_CATEGORY STEPS ROWS STAGE2_STEPS LOCATE_STEPS EVAL_SEED VISION_STEPS VISION_ROWS_PER_CATEGORY; do
  [[ "${!v}" =~ ^[0-9]+$ ]] || { echo "make_demo_model: $v='${!v}' must be a whole number" >&2; exit 2; }
done
for v in LR LOCATE_LR VISION_LR VISION_ABSOLUTE_WEIGHT; do
  [[ "${!v}" =~ ^[0-9]*\.?[0-9]+([eE][-+]?[0-9]+)?$ ]] || { echo "make_demo_model: $v='${!v}' must be a number" >&2; exit 2; }
done
[[ "$IMAGE_POSITION" == before_text || "$IMAGE_POSITION" == after_text ]] ||
  { echo "make_demo_model: IMAGE_POSITION='$IMAGE_POSITION' must be before_text or after_text" >&2; exit 2; }
for v in DENSE POSITION_CUE FREEZE_VISION; do
  [[ "${!v}" == 0 || "${!v}" == 1 ]] || { echo "make_demo_model: $v='${!v}' must be 0 or 1" >&2; exit 2; }
done
[[ -z "$ROPE_THETA" || "$ROPE_THETA" =~ ^[0-9]*\.?[0-9]+([eE][-+]?[0-9]+)?$ ]] ||
  { echo "make_demo_model: ROPE_THETA='$ROPE_THETA' must be a number" >&2; exit 2; }
[[ -z "$MROPE_SECTION" || "$MROPE_SECTION" =~ ^[0-9]+,[0-9]+,[0-9]+$ ]] ||
  { echo "make_demo_model: MROPE_SECTION='$MROPE_SECTION' must be three whole numbers, e.g. 1,1,14" >&2; exit 2; }
for v in PATCH_SIZE HIDDEN LAYERS VISION_WIDTH VISION_DEPTH; do
  [[ -z "${!v}" || "${!v}" =~ ^[0-9]+$ ]] || { echo "make_demo_model: $v='${!v}' must be a whole number" >&2; exit 2; }
done
(( STEPS > 0 && ROWS > 0 )) || { echo "make_demo_model: STEPS and ROWS must be positive" >&2; exit 2; }
if (( ! RESUME )) && [[ -e "$WORK" ]]; then
  echo "make_demo_model: $WORK exists (a stopped run?): pass --resume to continue it, or remove it" >&2
  exit 2
fi
mkdir -p "$WORK"
# OpenMP threads that spin while they wait cost a shared or busy 2-core machine several times
# the step time (measured: 18 s against 3 s per pre-training step next to a compile).
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-PASSIVE}"

echo "== make_demo_model: working in $WORK ($STEPS steps of $ROWS rows on $DEVICE)"
dense_flag=(); (( DENSE )) && dense_flag=(--dense-base)
world=(--seed "$SEED" --image-size "$IMAGE_SIZE"); (( POSITION_CUE )) && world+=(--position-cue)
[ -f "$WORK/synth/base_train.jsonl" ] ||
  "$VRFT" data synth --out "$WORK/synth" "${world[@]}" --think-base "${dense_flag[@]}" \
    --base-per-category "$BASE_PER_CATEGORY"
if [ ! -f "$WORK/tokenizer/tokenizer.json" ]; then
  if [ -n "${TOKENIZER:-}" ]; then
    mkdir -p "$WORK/tokenizer" && cp "$TOKENIZER/tokenizer.json" "$TOKENIZER/tokenizer_config.json" "$WORK/tokenizer/"
  else
    "$PY" "$ROOT/scripts/make_tiny_tokenizer.py" --data "$WORK/synth" --out "$WORK/tokenizer" --vocab-size 640
  fi
fi
source "$ROOT/scripts/lib/demo_shape.sh"
demo_shape_args
[ -f "$WORK/init/config.json" ] ||
  "$VRFT" model init --preset demo --tokenizer "$WORK/tokenizer" --out "$WORK/init" --seed "$SEED" "${SHAPE_ARGS[@]}"

START="$WORK/init"
if [ "$VISION_STEPS" -gt 0 ]; then
  # Dense scenes of the same world (their own image seed): every object with its box and name.
  [ -f "$WORK/vision/dense/base_train.jsonl" ] ||
    "$VRFT" data synth --out "$WORK/vision" "${world[@]}" --image-seed $((SEED + 700)) \
      --tasks cls --dense-base --base-per-category "$VISION_ROWS_PER_CATEGORY" --eval 0 >/dev/null
  [ -f "$WORK/init_vision/config.json" ] ||
    "$PY" "$ROOT/scripts/pretrain_vision.py" "$WORK/init" "$WORK/vision/dense/base_train.jsonl" "$WORK/init_vision" \
      --steps "$VISION_STEPS" --lr "$VISION_LR" --absolute-weight "$VISION_ABSOLUTE_WEIGHT" --device "${DEVICE%%:*}" | tee "$WORK/pretrain_vision.log"
  START="$WORK/init_vision"
fi
freeze=(); (( FREEZE_VISION )) && freeze=(--set train.freeze_vision=true)

# pretrain DIR FROM STEPS LR WARMUP SEED: one SFT stage, resumed when DIR holds checkpoints.
pretrain() {
  local dir="$1" from="$2" steps="$3" lr="$4" warmup="$5" seed="$6" resume=()
  [ -d "$dir" ] && resume=(--resume)  # from the newest checkpoint; from the start when there is none yet
  "$VRFT" train --config "$ROOT/configs/demo_pretrain.yaml" --set model.path="$from" --set model.device="$DEVICE" \
    --set data.train="${DATA_FILE:-$WORK/synth/base_train.jsonl}" --set train.output_dir="$dir" \
    --set train.max_steps="$steps" --set train.prompts_per_step="$ROWS" --set train.micro_batch_size="$ROWS" \
    --set optim.lr="$lr" --set optim.warmup_steps="$warmup" --set train.seed="$seed" --set data.image_position="$IMAGE_POSITION" --set train.save_steps=$(( steps / 10 > 50 ? steps / 10 : 50 )) \
    "${freeze[@]}" "${resume[@]}"
}
pretrain "$WORK/pretrain" "$START" "$STEPS" "$LR" 50 0
CKPT="$WORK/pretrain/$(cat "$WORK/pretrain/latest")"
cp "$WORK/pretrain/metrics.jsonl" "$WORK/pretrain_metrics.jsonl"
if [ "$LOCATE_STEPS" -gt 0 ]; then
  # Single-object scenes of the same world (their own image seed): where a thing is, and what.
  [ -f "$WORK/locate/dense/base_train.jsonl" ] ||
    "$VRFT" data synth --out "$WORK/locate" "${world[@]}" --image-seed $((SEED + 500)) \
      --think-base --tasks cls --dense-base --dense-max-objects 1 --base-per-category "$BASE_PER_CATEGORY" --eval 0 >/dev/null
  DATA_FILE="$WORK/locate/dense/base_train.jsonl" pretrain "$WORK/locate_run" "$CKPT" "$LOCATE_STEPS" "$LOCATE_LR" 20 2
  CKPT="$WORK/locate_run/$(cat "$WORK/locate_run/latest")"
  cat "$WORK/locate_run/metrics.jsonl" >> "$WORK/pretrain_metrics.jsonl"
fi
LR2="$(awk -v lr="$LR" 'BEGIN { printf "%g", lr / 2 }')"
if [ "$STAGE2_STEPS" -gt 0 ]; then
  pretrain "$WORK/pretrain2" "$CKPT" "$STAGE2_STEPS" "$LR2" 20 1
  CKPT="$WORK/pretrain2/$(cat "$WORK/pretrain2/latest")"
  cat "$WORK/pretrain2/metrics.jsonl" >> "$WORK/pretrain_metrics.jsonl"
fi

# What it learnt: fresh images (another image seed) of the base categories, greedy answers.
echo "== make_demo_model: checking it on fresh images of the base categories (image seed $EVAL_SEED)"
"$VRFT" data synth --out "$WORK/check" "${world[@]}" --image-seed "$EVAL_SEED" \
  --base-per-category 0 --train-per-category 0 --eval 96 --eval-categories base >/dev/null
for t in cls det ground; do
  "$VRFT" eval --config "$ROOT/configs/demo_rft.yaml" --model "$CKPT" --set model.device="$DEVICE" --set data.task=$t --set data.image_position="$IMAGE_POSITION" \
    --set eval.data="$WORK/check/$t/eval.jsonl" --out "$WORK/check/eval_$t" >/dev/null
done
# The position probe runs the model with transformers: skipped where the Python has none.
if "$PY" -c "import transformers" 2>/dev/null; then
  layout=(); [[ "$IMAGE_POSITION" == after_text ]] && layout=(--question-first)
  "$PY" "$ROOT/scripts/probe_position.py" "$CKPT" "$WORK/check/det/images" "${layout[@]}" --json "$WORK/check/probe.json"
else
  echo "== make_demo_model: no transformers in $PY: position probe not run"
  echo '{"layers": {}}' > "$WORK/check/probe.json"
fi

mkdir -p "$OUT.partial"
for f in config.json generation_config.json preprocessor_config.json model.safetensors tokenizer.json tokenizer_config.json; do
  cp "$CKPT/$f" "$OUT.partial/$f"
done
python3 - "$WORK" "$OUT.partial/visual_rft_demo.json" <<PY
import json, sys
work, out = sys.argv[1], sys.argv[2]
metric = {"cls": "accuracy_exact", "det": "map", "ground": "miou"}
check = {t: json.load(open(f"{work}/check/eval_{t}/metrics.json"))[k] for t, k in metric.items()}
probe = json.load(open(f"{work}/check/probe.json"))["layers"]
info = {
    "synth_seed": $SEED,
    "image_size": $IMAGE_SIZE,
    "position_cue": bool($POSITION_CUE),
    "image_position": "$IMAGE_POSITION",
    "base_per_category": $BASE_PER_CATEGORY,
    "dense_rows": bool($DENSE),
    "pretrain_config": "configs/demo_pretrain.yaml",
    "pretrain": {"device": "$DEVICE", "steps": $STEPS, "rows_per_step": $ROWS, "lr": $LR,
                 "locate_steps": $LOCATE_STEPS, "locate_lr": $LOCATE_LR,
                 "stage2_steps": $STAGE2_STEPS, "stage2_lr": $LR2,
                 "vision_steps": $VISION_STEPS, "vision_lr": $VISION_LR, "vision_absolute_weight": $VISION_ABSOLUTE_WEIGHT,
                 "vision_rows_per_category": $VISION_ROWS_PER_CATEGORY, "freeze_vision": bool($FREEZE_VISION)},
    "shape": {"rope_theta": "${ROPE_THETA:-preset}", "mrope_section": "${MROPE_SECTION:-preset}",
              "patch_size": "${PATCH_SIZE:-preset}", "hidden_size": "${HIDDEN:-preset}",
              "layers": "${LAYERS:-preset}", "vision_width": "${VISION_WIDTH:-preset}",
              "vision_depth": "${VISION_DEPTH:-preset}"},
    "base_categories_check": {"image_seed": $EVAL_SEED, "questions_per_task": 96,
                              "cls_accuracy_exact": check["cls"], "det_map": check["det"],
                              "ground_miou": check["ground"]},
    "position_probe_r2": {k: {"row": v["row_r2"], "column": v["col_r2"]} for k, v in probe.items()},
    "made_by": "BASE_PER_CATEGORY=$BASE_PER_CATEGORY DENSE=$DENSE POSITION_CUE=$POSITION_CUE IMAGE_POSITION=$IMAGE_POSITION DEVICE=$DEVICE STEPS=$STEPS ROWS=$ROWS LR=$LR "
               "LOCATE_STEPS=$LOCATE_STEPS LOCATE_LR=$LOCATE_LR STAGE2_STEPS=$STAGE2_STEPS ROPE_THETA=$ROPE_THETA MROPE_SECTION=$MROPE_SECTION PATCH_SIZE=$PATCH_SIZE "
               "HIDDEN=$HIDDEN LAYERS=$LAYERS VISION_WIDTH=$VISION_WIDTH VISION_DEPTH=$VISION_DEPTH "
               "VISION_STEPS=$VISION_STEPS VISION_LR=$VISION_LR VISION_ABSOLUTE_WEIGHT=$VISION_ABSOLUTE_WEIGHT VISION_ROWS_PER_CATEGORY=$VISION_ROWS_PER_CATEGORY FREEZE_VISION=$FREEZE_VISION "
               "scripts/make_demo_model.sh",
}
json.dump(info, open(out, "w"), indent=2)
open(out, "a").write("\n")
PY
cp "$WORK/pretrain_metrics.jsonl" "$OUT.partial/pretrain_metrics.jsonl"
rm -rf "$OUT"
mv "$OUT.partial" "$OUT"
echo "== make_demo_model: $OUT (base categories, image seed $EVAL_SEED: $(cat "$OUT/visual_rft_demo.json" | tr -d '\n ' | grep -o '"cls_accuracy_exact[^}]*'))"
echo "== make_demo_model: the working folder $WORK can be removed"
