#!/usr/bin/env bash
# scripts/gpu/demo_sweep.sh: candidate recipes of the demo's base model side by side on one GPU
# (issue #17), each run by scripts/make_demo_model.sh as a user would, within a time budget.
# Here:   scripts/gpu/pack.sh
# There:  bash scripts/gpu/demo_sweep.sh        (results in $OUT, default gpu-out/)
# 1. one draw of make_demo_model.sh's data (SYNTH_PER_CATEGORY rows per base category and task)
#    and its tokenizer, shared by every variant (make_demo_model.sh DATA_ONLY=1);
# 2. a 30-step calibration of every variant's shape at once, which gives each variant's time
#    per step when they share the GPU, and from it the steps that fit before TRAIN_END_S;
# 3. the variants' make_demo_model.sh runs at once (training, then the check on fresh
#    base-category images and the position probe);
# 4. the CUDA correctness checks beside them (test_decode; GRPO's KL at step 1 on CUDA with
#    bf16 autocast and the bf16 rollout copy, which must be 0);
# 5. each finished model folder in bf16, packed into $OUT (split below the 16 MB a file).
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
OUT="${OUT:-$ROOT/gpu-out}"
TRAIN_END_S="${TRAIN_END_S:-430}"
END_S="${END_S:-545}"
ROWS="${ROWS:-64}"
CALIB_STEPS="${CALIB_STEPS:-30}"
DEVICE="${DEVICE:-cuda}"   # cpu: a dry run of this script on a small budget
SYNTH_PER_CATEGORY="${SYNTH_PER_CATEGORY:-1700}"
W="${SWEEP_DIR:-/tmp/vrft}"
mkdir -p "$OUT" "$W/res"
exec > >(tee "$OUT/sweep.log") 2>&1
T0=$SECONDS
stamp() { echo "=== [$((SECONDS - T0)) s] $*"; }
PACK="$ROOT/gpu-pack"
tar -xJf "$PACK/libs.tar.xz" -C "$W" && tar -xJf "$PACK/data.tar.xz" -C "$W"
PY="${PY:-$(command -v python3)}"
TORCH_LIB="$("$PY" -c 'import os, torch; print(os.path.dirname(torch.__file__) + "/lib")')"
NV_LIBS="$("$PY" -c 'import glob, os, torch; sp = os.path.dirname(os.path.dirname(torch.__file__)); print(":".join(sorted(glob.glob(sp + "/nvidia/*/lib") + glob.glob(sp + "/nvidia/cu13/lib"))))')"
export LD_LIBRARY_PATH="$TORCH_LIB:$NV_LIBS:/usr/local/cuda/lib64:$W/lib:${LD_LIBRARY_PATH:-}"
export VRFT="$PACK/bin/visual-rft" PY OMP_WAIT_POLICY=PASSIVE
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$W/res/gpu.txt" || true
"$VRFT" --version || { ldd "$VRFT" | grep "not found"; exit 1; }

# name | shape (make_demo_model.sh variables) | stages (make_demo_model.sh's STAGES, empty for
# its default; rescaled to the calibrated steps by STEPS_TOTAL)
VARIANTS=(
  "small|PATCH_SIZE=7 ROPE_THETA=1e4 MROPE_SECTION=1,1,14 VISION_STEPS=0 FREEZE_VISION=0 IMAGE_POSITION=before_text|mix:1000:2e-3"
  "med|PATCH_SIZE=7 ROPE_THETA=1e4 MROPE_SECTION=1,1,14 HIDDEN=256 LAYERS=6 VISION_WIDTH=192 VISION_DEPTH=4|"
  "wide|PATCH_SIZE=7 ROPE_THETA=1e4 MROPE_SECTION=1,1,14 HIDDEN=256 LAYERS=6 VISION_WIDTH=256 VISION_DEPTH=6|"
  # The shipped recipe's shape and stages (the vision stage first: about a minute on a GPU, not
  # in the calibration; needs transformers in python3), given all the steps that fit.
  "small_staged|PATCH_SIZE=7 ROPE_THETA=1e4 MROPE_SECTION=1,1,14 VISION_STEPS=3000|"
)

stamp "synthetic world (seed 0, $SYNTH_PER_CATEGORY rows per base category and task) and tokenizer"
DATA="$W/data"
ROWS_PER_CATEGORY="$SYNTH_PER_CATEGORY" DEMO_DATA="$DATA" VRFT_DEMO_WORK="$W/shared" DATA_ONLY=1 \
  bash "$ROOT/scripts/make_demo_model.sh" --resume "$W/shared_model" > "$W/res/synth.txt" 2>&1 || { cat "$W/res/synth.txt"; exit 1; }
tail -3 "$W/res/synth.txt"

# CUDA checks beside the training (correctness only, so sharing the GPU does not matter).
(
  timeout 120 "$PACK/bin/test_decode" 2>&1 | tail -25 > "$W/res/test_decode.txt"
  # GRPO on CUDA: fp32 master weights, bf16 autocast, bf16 rollout copy; the reference in the
  # policy's dtype and autocast, so the KL of step 1 is exactly 0 (issue #18, item 3).
  timeout 120 "$VRFT" train --config "$ROOT/configs/demo_rft.yaml" --set model.path="$ROOT/models/vrft-demo" \
    --set model.device="$DEVICE" --set data.task=det --set data.train="$DATA/a/det/base_train.jsonl" \
    --set train.output_dir="$W/grpo_cuda" --set train.max_steps=2 > "$W/res/grpo_cuda.txt" 2>&1
  cp "$W/grpo_cuda/metrics.jsonl" "$W/res/grpo_cuda_metrics.jsonl"
) &
CHECKS_PID=$!

stamp "calibration: $CALIB_STEPS steps of $ROWS rows of every shape at once"
for v in "${VARIANTS[@]}"; do
  IFS='|' read -r name shape _ <<< "$v"
  (
    env $shape bash -c 'source "$3" && demo_shape_args &&
      "$VRFT" model init --preset demo --tokenizer "$1" --out "$2/init" --seed 0 "${SHAPE_ARGS[@]}"' \
      _ "$W/shared/tokenizer" "$W/calib/$name" "$ROOT/scripts/lib/demo_shape.sh"
    OMP_NUM_THREADS=3 "$VRFT" train --config "$ROOT/configs/demo_pretrain.yaml" --set model.path="$W/calib/$name/init" \
      --set model.device="$DEVICE" --set data.train="$DATA/mix.jsonl" --set train.output_dir="$W/calib/$name/run" \
      --set train.max_steps="$CALIB_STEPS" --set train.prompts_per_step="$ROWS" --set train.micro_batch_size="$ROWS" \
      --set train.save_steps=1000 --set logging.log_steps=1 > "$W/calib/$name.log" 2>&1
  ) &
done
wait $(jobs -p | grep -v "^$CHECKS_PID$") 2>/dev/null
left=$((TRAIN_END_S - (SECONDS - T0)))
stamp "calibrated; $left s of training left"

for v in "${VARIANTS[@]}"; do
  IFS='|' read -r name shape stages <<< "$v"
  step_s="$("$PY" -c 'import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
print(statistics.median(r["time"]["step_s"] for r in rows[10:]))' "$W/calib/$name/run/metrics.jsonl")" ||
    { echo "$name: calibration failed"; tail -5 "$W/calib/$name.log"; continue; }
  steps=$("$PY" -c "print(int($left / $step_s * 0.9))")
  recipe=("STEPS_TOTAL=$steps"); [ -n "$stages" ] && recipe+=("STAGES=$stages")
  echo "$name: $step_s s/step calibrated -> $steps steps: $(env $shape "${recipe[@]}" bash "$ROOT/scripts/make_demo_model.sh" --plan | tr '\n' ';')"
  env $shape "${recipe[@]}" ROWS="$ROWS" DEVICE="$DEVICE" ROWS_PER_CATEGORY="$SYNTH_PER_CATEGORY" \
    TOKENIZER="$W/shared/tokenizer" DEMO_DATA="$DATA" VRFT_DEMO_WORK="$W/work/$name" \
    OMP_NUM_THREADS=3 bash "$ROOT/scripts/make_demo_model.sh" "$W/models/$name" > "$W/res/$name.log" 2>&1 &
done

while [ $((SECONDS - T0)) -lt "$END_S" ] && pgrep -f make_demo_model.sh > /dev/null; do sleep 3; done
pgrep -f make_demo_model.sh > /dev/null && { stamp "past $END_S s: stopping"; pkill -f make_demo_model.sh; pkill -f "visual-rft"; }
wait "$CHECKS_PID" 2>/dev/null
stamp "packing"
for v in "${VARIANTS[@]}"; do
  IFS='|' read -r name _ _ <<< "$v"
  cp "$W/work/$name/pretrain_metrics.jsonl" "$W/res/${name}_metrics.jsonl" 2>/dev/null
  for d in "$W/work/$name"/stage*/; do
    cp "$d/metrics.jsonl" "$W/res/${name}_$(basename "$d")_metrics.jsonl" 2>/dev/null
  done
  [ -f "$W/models/$name/visual_rft_demo.json" ] && cp "$W/models/$name/visual_rft_demo.json" "$W/res/$name.json"
done
# bf16 weights (the CPU demo computes in fp32 from them): half the bytes to bring back.
for m in "$W"/models/*/; do
  "$PY" - "$m/model.safetensors" <<'PY'
import sys, torch
from safetensors.torch import load_file, save_file
p = sys.argv[1]
t = load_file(p)
save_file({k: v.to(torch.bfloat16) if v.is_floating_point() else v for k, v in t.items()}, p, metadata={"format": "pt"})
PY
done
tar -C "$W" -cf "$OUT/results.tar" res
[ -d "$W/models" ] && tar -C "$W" -cf - models | xz -T0 -6 | split -b 15M - "$OUT/models.tar.xz."
ls -la "$OUT"
stamp "done"
