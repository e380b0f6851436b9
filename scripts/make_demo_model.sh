#!/usr/bin/env bash
# scripts/make_demo_model.sh [--resume | --plan] [OUT]: makes the demo's base model from nothing.
#   1. data of the synthetic world of seed 0 (base categories only, answers that start with a
#      short <think>), each set drawn from its own image seed:
#        a, b   ROWS_PER_CATEGORY detection and grounding rows per base category and task;
#        l      LOCATE_PER_CATEGORY classification rows and as many single-object dense rows
#               (locate and name the one object of an image) per base category;
#      joined into the stages' sets: mix (a's detection and grounding, l's classification and
#      dense rows), det (a's and b's detection rows), sole (a's and b's "the only X"
#      grounding rows), compare (a's and b's other grounding rows: "the largest object", "the
#      leftmost object", ...) and all (mix, det and sole together); with POSITION_CUE=1 on
#      backgrounds that carry the position cue; COMBINATIONS=all (default base) draws and names
#      every colour x pattern x shape combination but the novel categories instead of the base
#      categories (the counts above are then per combination: 82 of them where the world has 24
#      base categories), so that the language model composes a name from its words;
#   2. a 640-token byte-level BPE trained on the world's text (scripts/make_tiny_tokenizer.py),
#      or the one in TOKENIZER=DIR when set;
#   3. random weights of the "demo" shape (visual-rft model init --preset demo: 7-pixel
#      patches, so 8 x 8 merged visual tokens of a 112-pixel image, rope theta 1e4 and M-RoPE
#      sections [1, 1, 14]); PATCH_SIZE, ROPE_THETA, MROPE_SECTION, HIDDEN, LAYERS,
#      VISION_WIDTH and VISION_DEPTH change them (unset: the preset's); IMAGE_SIZE (default
#      112) is the side of every image drawn, and every stage sees it whole (data.max_pixels =
#      IMAGE_SIZE squared, recorded in the model's preprocessor_config.json);
#   4. the vision tower alone, VISION_STEPS steps of dense pre-training
#      (scripts/pretrain_vision.py: every visual token learns the colour, pattern and shape under
#      it, the distances to its object's box edges and, weighted VISION_ABSOLUTE_WEIGHT, the box
#      itself) on VISION_ROWS_PER_CATEGORY x 24 dense images, cosine from VISION_LR; with
#      FREEZE_VISION=1 the tower then stays fixed; VISION_COMBINATIONS=all draws the images'
#      objects from every colour x pattern x shape combination but the novel categories
#      (VISION_ROWS_PER_CATEGORY x 82 images), where colour and pattern do not tell the shape;
#      VISION_HUE=P shows a share P of each step's images with their hues turned at random,
#      their objects' colour untaught, so that every shape is seen in every hue;
#   5. SFT stages, one after another, each from the last one's weights with a fresh optimiser:
#      STAGES is a list of SET:STEPS:LR (cosine from LR, ROWS rows per step, on DEVICE). The
#      default, mix:750:2e-3 det:1800:1e-3 sole:900:1e-3 mix:300:5e-4 det:1200:5e-4
#      all:600:5e-4 compare:600:1e-3 all:600:5e-4, first learns every task a little, then
#      detection and grounding in stages of their own (learnt there several times faster than
#      in a mix, docs/benchmark-log.md), a short mix, since a focused stage makes the model
#      answer every question as its own task, a second detection stage (detection learns the
#      slowest), a stage of every row, which keeps what the focused stages taught, a stage of
#      the grounding questions that compare objects (a mix leaves them near chance) and every
#      row again (docs/demo.md); STEPS_TOTAL=N
#      rescales the stages' steps in proportion so that they add up to about N (each at least
#      20, floored), e.g. for a longer run on a GPU;
#   with IMAGE_POSITION=after_text (the default) every prompt puts the question before the
#      image (data.image_position; recorded, and `visual-rft demo` follows it): the image's
#      tokens can then attend to the question;
#   6. what it learnt, measured on fresh images of the base categories (image seed EVAL_SEED,
#      never trained on; CHECK_QUESTIONS, default 200, per task): `visual-rft eval` of each task and
#      scripts/probe_position.py;
#   7. the final weights, config and tokenizer copied to OUT (default models/vrft-demo) with
#      visual_rft_demo.json: the world's seed, the image size, the recipe and step 6's numbers.
# --plan prints the stages it would run (after STEPS_TOTAL) and stops before making anything.
# --resume continues a stopped run from its working folder (VRFT_DEMO_WORK, default OUT.work):
# the data and tokenizer are kept and training resumes from its last checkpoint. DEMO_DATA=DIR
# keeps the data elsewhere (default WORK/data), so that several runs share one draw; DATA_ONLY=1
# stops once the data and the tokenizer are made.
# The defaults are the recipe of the shipped model (docs/demo.md: its time on 2 CPU cores and
# on a GPU, and what other recipes gave). Set-up and build first: scripts/setup.sh;
# cmake --build build --target visual-rft.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
RESUME=0
PLAN=0
if [[ "${1:-}" == "--resume" ]]; then RESUME=1; shift; elif [[ "${1:-}" == "--plan" ]]; then PLAN=1; shift; fi
OUT="${1:-$ROOT/models/vrft-demo}"
VRFT="${VRFT:-${VRFT_BUILD_DIR:-$ROOT/build}/visual-rft}"
PY="${PY:-$ROOT/.venv/bin/python}"
SEED=0
IMAGE_SIZE="${IMAGE_SIZE:-112}"
ROWS_PER_CATEGORY="${ROWS_PER_CATEGORY:-640}"
LOCATE_PER_CATEGORY="${LOCATE_PER_CATEGORY:-480}"
POSITION_CUE="${POSITION_CUE:-0}"
DEVICE="${DEVICE:-cpu}"
STAGES="${STAGES-mix:750:2e-3 det:1800:1e-3 sole:900:1e-3 mix:300:5e-4 det:1200:5e-4 all:600:5e-4 compare:600:1e-3 all:600:5e-4}"
STEPS_TOTAL="${STEPS_TOTAL:-}"
ROWS="${ROWS:-32}"
ROPE_THETA="${ROPE_THETA:-}"
MROPE_SECTION="${MROPE_SECTION:-}"
PATCH_SIZE="${PATCH_SIZE:-}"
HIDDEN="${HIDDEN:-}"
LAYERS="${LAYERS:-}"
VISION_WIDTH="${VISION_WIDTH:-}"
VISION_DEPTH="${VISION_DEPTH:-}"
EVAL_SEED="${EVAL_SEED:-1000}"
CHECK_QUESTIONS="${CHECK_QUESTIONS:-200}"
IMAGE_POSITION="${IMAGE_POSITION:-after_text}"
VISION_STEPS="${VISION_STEPS:-4500}"
VISION_LR="${VISION_LR:-1e-3}"
VISION_ABSOLUTE_WEIGHT="${VISION_ABSOLUTE_WEIGHT:-0.3}"
VISION_ROWS_PER_CATEGORY="${VISION_ROWS_PER_CATEGORY:-600}"
VISION_COMBINATIONS="${VISION_COMBINATIONS:-base}"
COMBINATIONS="${COMBINATIONS:-base}"
VISION_HUE="${VISION_HUE:-0}"
FREEZE_VISION="${FREEZE_VISION:-1}"
WORK="${VRFT_DEMO_WORK:-$OUT.work}"
DATA="${DEMO_DATA:-$WORK/data}"
DATA_ONLY="${DATA_ONLY:-0}"
NUMBER='^[0-9]*\.?[0-9]+([eE][-+]?[0-9]+)?$'

# Numbers from the environment are checked before anything runs.
[[ -z "$STEPS_TOTAL" || "$STEPS_TOTAL" =~ ^[1-9][0-9]*$ ]] ||
  { echo "make_demo_model: STEPS_TOTAL='$STEPS_TOTAL' must be a positive whole number (or unset)" >&2; exit 2; }
for v in IMAGE_SIZE ROWS_PER_CATEGORY LOCATE_PER_CATEGORY ROWS EVAL_SEED CHECK_QUESTIONS VISION_STEPS VISION_ROWS_PER_CATEGORY; do
  [[ "${!v}" =~ ^[0-9]+$ ]] || { echo "make_demo_model: $v='${!v}' must be a whole number" >&2; exit 2; }
done
for v in VISION_LR VISION_ABSOLUTE_WEIGHT; do
  [[ "${!v}" =~ $NUMBER ]] || { echo "make_demo_model: $v='${!v}' must be a number" >&2; exit 2; }
done
[[ "$VISION_HUE" =~ $NUMBER ]] && python3 -c "import sys; sys.exit(not 0 <= float('$VISION_HUE') <= 1)" ||
  { echo "make_demo_model: VISION_HUE='$VISION_HUE' must be a share from 0 to 1" >&2; exit 2; }
[[ -n "$STAGES" ]] || { echo "make_demo_model: STAGES is empty: give at least one SET:STEPS:LR" >&2; exit 2; }
for stage in $STAGES; do
  IFS=: read -r set steps lr extra <<< "$stage"
  [[ "$set" =~ ^(mix|det|sole|compare|all)$ && "$steps" =~ ^[1-9][0-9]*$ && "$lr" =~ $NUMBER && -z "$extra" ]] ||
    { echo "make_demo_model: STAGES item '$stage' must be SET:STEPS:LR with SET mix, det, sole, compare or all, e.g. det:1800:1e-3" >&2; exit 2; }
done
if [[ -n "$STEPS_TOTAL" ]]; then
  # Every stage keeps its share of the recipe's steps: steps * STEPS_TOTAL / sum of steps.
  total=0
  for stage in $STAGES; do IFS=: read -r _ steps _ <<< "$stage"; total=$((total + steps)); done
  scaled=()
  for stage in $STAGES; do
    IFS=: read -r set steps lr <<< "$stage"
    steps=$((steps * STEPS_TOTAL / total))
    scaled+=("$set:$((steps > 20 ? steps : 20)):$lr")
  done
  STAGES="${scaled[*]}"
fi
for v in COMBINATIONS VISION_COMBINATIONS; do
  [[ "${!v}" == base || "${!v}" == all ]] || { echo "make_demo_model: $v='${!v}' must be base or all" >&2; exit 2; }
done
[[ "$IMAGE_POSITION" == before_text || "$IMAGE_POSITION" == after_text ]] ||
  { echo "make_demo_model: IMAGE_POSITION='$IMAGE_POSITION' must be before_text or after_text" >&2; exit 2; }
for v in POSITION_CUE FREEZE_VISION DATA_ONLY; do
  [[ "${!v}" == 0 || "${!v}" == 1 ]] || { echo "make_demo_model: $v='${!v}' must be 0 or 1" >&2; exit 2; }
done
[[ -z "$ROPE_THETA" || "$ROPE_THETA" =~ $NUMBER ]] ||
  { echo "make_demo_model: ROPE_THETA='$ROPE_THETA' must be a number" >&2; exit 2; }
[[ -z "$MROPE_SECTION" || "$MROPE_SECTION" =~ ^[0-9]+,[0-9]+,[0-9]+$ ]] ||
  { echo "make_demo_model: MROPE_SECTION='$MROPE_SECTION' must be three whole numbers, e.g. 1,1,14" >&2; exit 2; }
for v in PATCH_SIZE HIDDEN LAYERS VISION_WIDTH VISION_DEPTH; do
  [[ -z "${!v}" || "${!v}" =~ ^[0-9]+$ ]] || { echo "make_demo_model: $v='${!v}' must be a whole number" >&2; exit 2; }
done
IMAGE_SIZE=$((10#$IMAGE_SIZE))  # "0112" is 112, not octal
# The range `visual-rft data synth --image-size` draws.
(( IMAGE_SIZE >= 56 && IMAGE_SIZE <= 4096 )) ||
  { echo "make_demo_model: IMAGE_SIZE='$IMAGE_SIZE' must be an image side from 56 to 4096 pixels" >&2; exit 2; }
# Every image whole: the model's preprocessor and every training and check run see IMAGE_SIZE².
PIXELS=$((IMAGE_SIZE * IMAGE_SIZE))
(( ROWS > 0 && CHECK_QUESTIONS > 0 )) || { echo "make_demo_model: ROWS and CHECK_QUESTIONS must be positive" >&2; exit 2; }
if (( PLAN )); then
  echo "images: $IMAGE_SIZE x $IMAGE_SIZE pixels (data.max_pixels $PIXELS)"
  (( VISION_STEPS > 0 )) && echo "vision tower: $VISION_STEPS steps from lr $VISION_LR"
  n=0
  for stage in $STAGES; do
    IFS=: read -r set steps lr <<< "$stage"
    n=$((n + 1))
    echo "stage $n: $steps steps of '$set' rows from lr $lr, $ROWS rows per step"
  done
  exit 0
fi
if (( ! RESUME )) && [[ -e "$WORK" ]]; then
  echo "make_demo_model: $WORK exists (a stopped run?): pass --resume to continue it, or remove it" >&2
  exit 2
fi
mkdir -p "$WORK"
# The seconds of every run in WORK add up, so that a resumed model records its whole make time.
PRIOR_SECONDS="$(cat "$WORK/seconds" 2>/dev/null || echo 0)"
[[ "$PRIOR_SECONDS" =~ ^[0-9]+$ ]] || { echo "make_demo_model: $WORK/seconds='$PRIOR_SECONDS' is not a whole number" >&2; exit 2; }
trap 'echo $((PRIOR_SECONDS + SECONDS)) > "$WORK/seconds"' EXIT
# OpenMP threads that spin while they wait cost a shared or busy 2-core machine several times
# the step time (measured: 18 s against 3 s per pre-training step next to a compile).
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-PASSIVE}"

echo "== make_demo_model: working in $WORK (stages $STAGES, $ROWS rows per step, on $DEVICE)"
world=(--seed "$SEED" --image-size "$IMAGE_SIZE"); (( POSITION_CUE )) && world+=(--position-cue)
# synth DIR IMAGE_SEED ARGS...: base-category rows of the world, drawn from their own image seed.
synth() {
  local dir="$1" image_seed="$2"; shift 2
  [ -f "$dir/summary.json" ] ||
    "$VRFT" data synth --out "$dir" "${world[@]}" --image-seed "$image_seed" --think-base --eval 0 "$@" >/dev/null
}
rows_world=(); [[ "$COMBINATIONS" == all ]] && rows_world=(--base-all-combinations)
synth "$DATA/a" $((SEED + 31)) --tasks det,ground --base-per-category "$ROWS_PER_CATEGORY" "${rows_world[@]}"
synth "$DATA/b" $((SEED + 51)) --tasks det,ground --base-per-category "$ROWS_PER_CATEGORY" "${rows_world[@]}"
synth "$DATA/l" $((SEED + 41)) --tasks cls --dense-base --dense-max-objects 1 --base-per-category "$LOCATE_PER_CATEGORY" "${rows_world[@]}"
join=("$PY" "$ROOT/scripts/lib/join_rows.py")
[ -f "$DATA/mix.jsonl" ] || "${join[@]}" "$DATA/mix.jsonl" "$DATA"/a/{det,ground}/base_train.jsonl \
  "$DATA"/l/{cls,dense}/base_train.jsonl
[ -f "$DATA/det.jsonl" ] || "${join[@]}" "$DATA/det.jsonl" "$DATA"/{a,b}/det/base_train.jsonl
[ -f "$DATA/sole.jsonl" ] || "${join[@]}" --sole "$DATA/sole.jsonl" "$DATA"/{a,b}/ground/base_train.jsonl
[ -f "$DATA/compare.jsonl" ] || "${join[@]}" --compare "$DATA/compare.jsonl" "$DATA"/{a,b}/ground/base_train.jsonl
[ -f "$DATA/all.jsonl" ] || "${join[@]}" "$DATA/all.jsonl" "$DATA"/{mix,det,sole}.jsonl
if [ ! -f "$WORK/tokenizer/tokenizer.json" ]; then
  if [ -n "${TOKENIZER:-}" ]; then
    mkdir -p "$WORK/tokenizer" && cp "$TOKENIZER/tokenizer.json" "$TOKENIZER/tokenizer_config.json" "$WORK/tokenizer/"
  else
    # Its own small draw of every task and the dense rows: all the text the model will read.
    synth "$DATA/text" "$SEED" --dense-base --base-per-category 64
    "$PY" "$ROOT/scripts/make_tiny_tokenizer.py" --data "$DATA/text" --out "$WORK/tokenizer" --vocab-size 640
  fi
fi
(( DATA_ONLY )) && { echo "== make_demo_model: data in $DATA, tokenizer in $WORK/tokenizer (DATA_ONLY=1)"; exit 0; }
source "$ROOT/scripts/lib/demo_shape.sh"
demo_shape_args
[ -f "$WORK/init/config.json" ] ||
  "$VRFT" model init --preset demo --tokenizer "$WORK/tokenizer" --out "$WORK/init" --seed "$SEED" --max-pixels "$PIXELS" "${SHAPE_ARGS[@]}"

CKPT="$WORK/init"
if [ "$VISION_STEPS" -gt 0 ]; then
  # Dense scenes of the same world (their own image seed): every object with its box and name.
  vision_combinations=(); [[ "$VISION_COMBINATIONS" == all ]] && vision_combinations=(--dense-all-combinations)
  [ -f "$WORK/vision/dense/base_train.jsonl" ] ||
    "$VRFT" data synth --out "$WORK/vision" "${world[@]}" --image-seed $((SEED + 700)) \
      --tasks cls --dense-base --base-per-category "$VISION_ROWS_PER_CATEGORY" --eval 0 "${vision_combinations[@]}" >/dev/null
  [ -f "$WORK/init_vision/config.json" ] ||
    "$PY" "$ROOT/scripts/pretrain_vision.py" "$WORK/init" "$WORK/vision/dense/base_train.jsonl" "$WORK/init_vision" \
      --steps "$VISION_STEPS" --lr "$VISION_LR" --absolute-weight "$VISION_ABSOLUTE_WEIGHT" --hue-fraction "$VISION_HUE" --device "${DEVICE%%:*}" | tee "$WORK/pretrain_vision.log"
  CKPT="$WORK/init_vision"
fi
freeze=(); (( FREEZE_VISION )) && freeze=(--set train.freeze_vision=true)

# pretrain DIR FROM DATA STEPS LR WARMUP SEED: one SFT stage, resumed when DIR holds checkpoints.
pretrain() {
  local dir="$1" from="$2" data="$3" steps="$4" lr="$5" warmup="$6" seed="$7" resume=()
  [ -d "$dir" ] && resume=(--resume)  # from the newest checkpoint; from the start when there is none yet
  "$VRFT" train --config "$ROOT/configs/demo_pretrain.yaml" --set model.path="$from" --set model.device="$DEVICE" \
    --set data.train="$data" --set data.max_pixels="$PIXELS" --set train.output_dir="$dir" \
    --set train.max_steps="$steps" --set train.prompts_per_step="$ROWS" --set train.micro_batch_size="$ROWS" \
    --set optim.lr="$lr" --set optim.warmup_steps="$warmup" --set train.seed="$seed" --set data.image_position="$IMAGE_POSITION" \
    --set train.save_steps=$(( steps / 10 > 50 ? steps / 10 : 50 )) "${freeze[@]}" "${resume[@]}"
}
: > "$WORK/pretrain_metrics.jsonl"
n=0
for stage in $STAGES; do
  IFS=: read -r set steps lr <<< "$stage"
  n=$((n + 1))
  echo "== make_demo_model: stage $n: $steps steps of '$set' rows from lr $lr"
  # The first stage warms up longer: its optimiser starts from a model that has never answered.
  pretrain "$WORK/stage$n-$set" "$CKPT" "$DATA/$set.jsonl" "$steps" "$lr" $(( n == 1 ? 50 : 20 )) "$n"
  CKPT="$WORK/stage$n-$set/$(cat "$WORK/stage$n-$set/latest")"
  cat "$WORK/stage$n-$set/metrics.jsonl" >> "$WORK/pretrain_metrics.jsonl"
done

# What it learnt: fresh images (another image seed) of the base categories, greedy answers.
echo "== make_demo_model: checking it on fresh images of the base categories (image seed $EVAL_SEED)"
"$VRFT" data synth --out "$WORK/check" "${world[@]}" --image-seed "$EVAL_SEED" \
  --base-per-category 0 --train-per-category 0 --eval "$CHECK_QUESTIONS" --eval-categories base >/dev/null
for t in cls det ground; do
  "$VRFT" eval --config "$ROOT/configs/demo_rft.yaml" --model "$CKPT" --set model.device="$DEVICE" --set data.task=$t --set data.image_position="$IMAGE_POSITION" \
    --set data.max_pixels="$PIXELS" --set eval.data="$WORK/check/$t/eval.jsonl" --out "$WORK/check/eval_$t" >/dev/null
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
made_by="IMAGE_SIZE=$IMAGE_SIZE ROWS_PER_CATEGORY=$ROWS_PER_CATEGORY LOCATE_PER_CATEGORY=$LOCATE_PER_CATEGORY COMBINATIONS=$COMBINATIONS POSITION_CUE=$POSITION_CUE \
IMAGE_POSITION=$IMAGE_POSITION DEVICE=$DEVICE STAGES='$STAGES' ROWS=$ROWS ROPE_THETA=$ROPE_THETA MROPE_SECTION=$MROPE_SECTION \
PATCH_SIZE=$PATCH_SIZE HIDDEN=$HIDDEN LAYERS=$LAYERS VISION_WIDTH=$VISION_WIDTH VISION_DEPTH=$VISION_DEPTH \
VISION_STEPS=$VISION_STEPS VISION_LR=$VISION_LR VISION_ABSOLUTE_WEIGHT=$VISION_ABSOLUTE_WEIGHT \
VISION_ROWS_PER_CATEGORY=$VISION_ROWS_PER_CATEGORY VISION_COMBINATIONS=$VISION_COMBINATIONS VISION_HUE=$VISION_HUE FREEZE_VISION=$FREEZE_VISION \
scripts/make_demo_model.sh"
python3 - "$WORK" "$DATA" "$OUT.partial/visual_rft_demo.json" "$STAGES" "$made_by" "$((PRIOR_SECONDS + SECONDS))" "$CKPT" <<PY
import json, sys
work, data, out, stages, made_by, seconds, ckpt = sys.argv[1:]
metric = {"cls": "accuracy_exact", "det": "map", "ground": "miou"}
check = {t: json.load(open(f"{work}/check/eval_{t}/metrics.json")) for t in metric}
probe = json.load(open(f"{work}/check/probe.json"))["layers"]
rows = {s: sum(1 for _ in open(f"{data}/{s}.jsonl")) for s in ("mix", "det", "sole", "compare", "all")}
config = json.load(open(f"{ckpt}/config.json"))
text, vision = config["text_config"], config["vision_config"]
info = {
    "synth_seed": $SEED,
    "image_size": $IMAGE_SIZE,
    "position_cue": bool($POSITION_CUE),
    "image_position": "$IMAGE_POSITION",
    "pretrain_config": "configs/demo_pretrain.yaml",
    "data": {"rows_per_category": $ROWS_PER_CATEGORY, "locate_per_category": $LOCATE_PER_CATEGORY,
             "combinations": "$COMBINATIONS", "rows": rows},
    "vision": {"steps": $VISION_STEPS, "lr": $VISION_LR, "absolute_weight": $VISION_ABSOLUTE_WEIGHT,
               "rows_per_category": $VISION_ROWS_PER_CATEGORY, "combinations": "$VISION_COMBINATIONS",
               "hue_fraction": $VISION_HUE,
               "frozen_after": bool($FREEZE_VISION)},
    "stages": [{"set": s.split(":")[0], "steps": int(s.split(":")[1]), "lr": float(s.split(":")[2]),
                "rows_per_step": $ROWS} for s in stages.split()],
    "device": "$DEVICE",
    "seconds": int(seconds),
    "shape": {"rope_theta": text["rope_parameters"]["rope_theta"],
              "mrope_section": text["rope_parameters"]["mrope_section"],
              "patch_size": vision["patch_size"], "hidden_size": text["hidden_size"],
              "layers": text["num_hidden_layers"], "vision_width": vision["embed_dim"],
              "vision_depth": vision["depth"]},
    "base_categories_check": {"image_seed": $EVAL_SEED, "questions_per_task": $CHECK_QUESTIONS,
                              "cls_accuracy_exact": check["cls"]["accuracy_exact"],
                              "det_map": check["det"]["map"], "det_ap50": check["det"].get("ap50"),
                              "ground_miou": check["ground"]["miou"]},
    "position_probe_r2": {k: {"row": v["row_r2"], "column": v["col_r2"]} for k, v in probe.items()},
    "made_by": made_by,
}
json.dump(info, open(out, "w"), indent=2)
open(out, "a").write("\n")
PY
cp "$WORK/pretrain_metrics.jsonl" "$OUT.partial/pretrain_metrics.jsonl"
rm -rf "$OUT"
mv "$OUT.partial" "$OUT"
echo "== make_demo_model: $OUT (base categories, image seed $EVAL_SEED: $(cat "$OUT/visual_rft_demo.json" | tr -d '\n ' | grep -o '"cls_accuracy_exact[^}]*'))"
echo "== make_demo_model: the working folder $WORK can be removed"
