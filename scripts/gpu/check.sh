#!/usr/bin/env bash
# scripts/gpu/check.sh: the project's whole GPU check, one command on a GPU machine.
# Here:   scripts/gpu/pack.sh      (builds and packs binaries, libraries, tokenizer, photos)
# There:  bash scripts/gpu/check.sh   (with gpu-pack/ beside it; results in $OUT/results.tar)
# First run (H200, 2026-11-26): start-up 16 s, bench rollout 97 s, bench train ~220 s (the 2B
# checkpoint's load and save are slow), test_decode 19 s, parity 60 s.
# Results go to /tmp/vrft/res and are tarred to $OUT/results.tar after every stage (a stage
# cut short still leaves what came before).
# Timed stages run alone on the GPU, within TIMED_S seconds:
#   bench rollout   2B shape, B*G = 64 and 128, eager vs CUDA graphs, against the HBM
#                   bound; peak memory at B*G = 64 with 512 new tokens
#                   and a Kineto trace with per-kernel summary of the decode step
#   bench train     GRPO steps of a random 2B model (fp32 master weights, bf16 autocast,
#                   bf16 rollout copy and reference), time split and memory; the last
#                   step's trace and summary (decode step, policy forward/backward, AdamW);
#                   the same with LoRA r 64; `visual-rft plan` of both (plan vs peak)
#   rollout_vs_hf   transformers generate(num_return_sequences=G) vs ours, same shapes
# Then, side by side until END_S (correctness only, so sharing the GPU does not matter):
#   test_decode     CUDA greedy = CPU greedy; CUDA-graph decode = eager; bf16 autocast
#   cuda parity     fp32 logits on CUDA vs transformers on the CPU (tiny models)
#   demo model      with DEMO_STEPS=N: scripts/make_demo_model.sh on CUDA (the demo's base
#                   model, issue #9), N steps of 64 rows; $OUT/demo_model.tar
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
OUT="${OUT:-$ROOT/gpu-out}"
TIMED_S="${TIMED_S:-420}"
END_S="${END_S:-565}"
mkdir -p "$OUT" /tmp/vrft/res
RES=/tmp/vrft/res
exec > >(tee "$OUT/check.log") 2>&1
PACK="$ROOT/gpu-pack"
PY="$(command -v python3)"
T0=$SECONDS
stamp() { echo "=== [$((SECONDS - T0)) s] $*"; }
save() { tar -C /tmp/vrft -cf "$OUT/results.tar.partial" res && mv "$OUT/results.tar.partial" "$OUT/results.tar"; }

tar -xJf "$PACK/libs.tar.xz" -C /tmp/vrft && tar -xJf "$PACK/data.tar.xz" -C /tmp/vrft
TORCH_LIB="$("$PY" -c 'import os, torch; print(os.path.dirname(torch.__file__) + "/lib")')"
# The binaries were linked here against the same torch wheel; on this machine LibTorch and
# the CUDA runtime come from its python3's site-packages (torch/lib, nvidia/*/lib).
NV_LIBS="$("$PY" -c 'import glob, os, torch; sp = os.path.dirname(os.path.dirname(torch.__file__)); print(":".join(sorted(glob.glob(sp + "/nvidia/*/lib") + glob.glob(sp + "/nvidia/cu13/lib"))))')"
export LD_LIBRARY_PATH="$TORCH_LIB:$NV_LIBS:/usr/local/cuda/lib64:/tmp/vrft/lib:${LD_LIBRARY_PATH:-}"
VRFT="$PACK/bin/visual-rft"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$RES/gpu.txt"
case "$(cat "$RES/gpu.txt")" in *H200*) HBM=4.8 ;; *) HBM=3.35 ;; esac
"$VRFT" --version || { echo "the packed binary does not start"; ldd "$VRFT" | grep "not found"; save; exit 1; }

# With DEMO_STEPS=N the demo's base model is made too (scripts/make_demo_model.sh on CUDA);
# its data (CPU, one core) are made while the timed stages run.
DEMO=/tmp/vrft/demo
mkdir -p "$DEMO"
export VRFT PY
[ "${DEMO_STEPS:-0}" -gt 0 ] && ( OMP_NUM_THREADS=1 VRFT_DEMO_WORK="$DEMO" DATA_ONLY=1 bash "$ROOT/scripts/make_demo_model.sh" --resume /tmp/vrft/demo_model > "$RES/demo_synth.txt" 2>&1 ) &
SYNTH_PID=$!

timed_stages() {
  stamp "bench rollout, 2B shape"
  timeout 150 "$VRFT" bench rollout --random 2b --device cuda --prompts 8,16 --samples 8 --new-tokens 128 --ignore-eos \
    --text-tokens 64 --image-size 448 --decode eager,graph --repeats 2 --hbm-tbs $HBM --json | tee "$RES/bench_rollout_2b.jsonl"
  timeout 90 "$VRFT" bench rollout --random 2b --device cuda --prompts 8 --samples 8 --new-tokens 512 --ignore-eos \
    --text-tokens 64 --image-size 448 --decode graph --repeats 1 --hbm-tbs $HBM --json | tee -a "$RES/bench_rollout_2b.jsonl"
  # Where a decode step's time goes: Kineto trace + per-kernel summary (B*G = 64 and 128).
  for B in 8 16; do
    timeout 60 "$VRFT" bench rollout --random 2b --device cuda --prompts $B --samples 8 --new-tokens 128 --ignore-eos \
      --text-tokens 64 --image-size 448 --decode graph --repeats 1 --profile "$RES/profile_rollout_b$B.json" \
      > "$RES/profile_rollout_b$B.txt" 2>&1
    gzip -f "$RES/profile_rollout_b$B.json"
  done
  save
  stamp "bench train, random 2B model"
  local M=/tmp/vrft/m2b
  timeout 100 "$VRFT" bench load --random 2b --dir "$M" --dtype bfloat16 | tee "$RES/bench_load.txt"
  cp "/tmp/vrft/data/tokenizer.json" "/tmp/vrft/data/tokenizer_config.json" "$M/"
  : > /tmp/vrft/train.jsonl
  for i in 1 2 3 4 5 6 7 8; do
    img=apple.jpg; [ $((i % 2)) = 0 ] && img=baboon.jpg
    echo "{\"image\": \"/tmp/vrft/data/$img\", \"problem\": \"Detect all objects belonging to the category 'apple' in the image, and provide the bounding boxes and confidence.\", \"solution\": \"<answer>[{'Position': [100, 120, 700, 800], 'Confidence': 1}]</answer>\"}" >> /tmp/vrft/train.jsonl
  done
  cat > /tmp/vrft/train.yaml <<YAML
model: {path: $M, device: cuda}
data: {task: det, train: /tmp/vrft/train.jsonl, max_pixels: 401408}
rollout: {num_generations: 8, max_new_tokens: 128, top_k: 50}
train: {output_dir: /tmp/vrft/run, prompts_per_step: 8, micro_batch_size: 16}
YAML
  timeout 150 "$VRFT" bench train --config /tmp/vrft/train.yaml --steps 3 --profile "$RES/profile_train_2b.json" \
    | tee "$RES/bench_train_2b.txt"
  gzip -f "$RES/profile_train_2b.json"
  save
  timeout 80 "$VRFT" bench train --config /tmp/vrft/train.yaml --steps 2 --set model.gradient_checkpointing=true \
    | tee "$RES/bench_train_2b_ckpt.txt"
  save
  # LoRA on CUDA (bf16 base, float32 adapters under autocast; no reference or rollout copy),
  # and the memory plans of both runs, to set against their measured peaks.
  local LORA=(--set lora.r=64 --set lora.alpha=128 --set "lora.target_modules=[q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj]")
  timeout 80 "$VRFT" bench train --config /tmp/vrft/train.yaml --steps 2 "${LORA[@]}" | tee "$RES/bench_train_2b_lora.txt"
  # ZeRO-2's precision scheme in one process: bf16 working weights, float32 masters in the
  # optimizer, bf16 reference (KL exactly 0 at step 1).
  timeout 80 "$VRFT" bench train --config /tmp/vrft/train.yaml --steps 2 --set distributed.shard=gradients \
    | tee "$RES/bench_train_2b_zero2.txt"
  "$VRFT" plan --config /tmp/vrft/train.yaml --gpu-memory-gb 80 --set distributed.shard=gradients \
    > "$RES/plan_2b_zero2.txt" 2>&1
  "$VRFT" plan --config /tmp/vrft/train.yaml --gpu-memory-gb 80 > "$RES/plan_2b.txt" 2>&1
  "$VRFT" plan --config /tmp/vrft/train.yaml --gpu-memory-gb 80 "${LORA[@]}" > "$RES/plan_2b_lora.txt" 2>&1
  save
  stamp "transformers generate vs ours, 2B shape"
  timeout 150 "$PY" "$ROOT/scripts/bench/rollout_vs_hf.py" --preset 2b --device cuda --prompts 8 --samples 8 --new-tokens 128 \
    --text-tokens 64 --image-size 448 --vrft "$VRFT" --repeats 1 | tee "$RES/rollout_vs_hf_2b.txt"
  save
}
timed_stages &
TIMED_PID=$!
while kill -0 $TIMED_PID 2>/dev/null && [ $((SECONDS - T0)) -lt "$TIMED_S" ]; do sleep 2; done
if kill -0 $TIMED_PID 2>/dev/null; then
  stamp "timed stages past ${TIMED_S} s: stopped"
  pkill -P $TIMED_PID; kill $TIMED_PID 2>/dev/null; pkill -f "bench (rollout|train|load)"; pkill -f rollout_vs_hf.py
fi
wait $TIMED_PID 2>/dev/null
rm -rf /tmp/vrft/m2b
save

DEMO_PID=
if [ "${DEMO_STEPS:-0}" -gt 0 ]; then
  stamp "demo base model on CUDA, $DEMO_STEPS steps (beside the correctness checks)"
  wait $SYNTH_PID
  # The shipped recipe's stages, rescaled to DEMO_STEPS steps in all (STEPS_TOTAL).
  # Measured on one H200 (the earlier 16-token shape): 1,200 steps of 64 rows in 170 s.
  OMP_NUM_THREADS=4 VRFT_DEMO_WORK="$DEMO" DEVICE=cuda STEPS_TOTAL="$DEMO_STEPS" ROWS=64 \
    bash "$ROOT/scripts/make_demo_model.sh" --resume /tmp/vrft/demo_model \
    > "$RES/demo_model.txt" 2>&1 &
  DEMO_PID=$!
fi

stamp "test_decode (CUDA tests)"
timeout 120 "$PACK/bin/test_decode" 2>&1 | tail -25 | tee "$RES/test_decode.txt"
save
stamp "CUDA fp32 logits vs transformers"
REFS=/tmp/vrft/refs
timeout 120 "$PY" "$ROOT/scripts/refs/qwen2vl_refs.py" "$REFS" > /dev/null
for v in qwen2vl qwen2vl_untied qwen25vl; do
  timeout 60 "$VRFT" inspect forward --device cuda --model "$REFS/$v/model" --inputs "$REFS/$v/inputs.safetensors" \
    --out "$REFS/$v/cuda.safetensors" > /dev/null
  "$PY" - "$REFS/$v" <<'PY'
import sys
from safetensors.torch import load_file
d = sys.argv[1]
ours, ref = load_file(f"{d}/cuda.safetensors"), load_file(f"{d}/outputs.safetensors")
mask = load_file(f"{d}/inputs.safetensors")["attention_mask"].bool().unsqueeze(-1)
print(f"{d}: CUDA fp32 max |logits - transformers(CPU)| = {((ours['logits'] - ref['logits']).abs() * mask).max().item():.3g}")
PY
done | tee "$RES/cuda_parity.txt"
save

if [ -n "$DEMO_PID" ]; then
  while kill -0 $DEMO_PID 2>/dev/null && [ $((SECONDS - T0)) -lt "$END_S" ]; do sleep 2; done
  kill -0 $DEMO_PID 2>/dev/null && { stamp "demo model past ${END_S} s: stopped"; pkill -f "visual-rft train"; }
  wait $DEMO_PID 2>/dev/null
fi
cat "$DEMO"/stage*/metrics.jsonl > "$RES/demo_pretrain_metrics.jsonl" 2>/dev/null
last_stage="$(ls -d "$DEMO"/stage*/ 2>/dev/null | sort -V | tail -1)"
if [ -d /tmp/vrft/demo_model ]; then
  tar -C /tmp/vrft -cf "$OUT/demo_model.tar" demo_model
elif [ -f "$last_stage/latest" ]; then  # cut short: the last checkpoint, for what it is worth
  tar -C "$last_stage" -cf "$OUT/demo_model_partial.tar" "$(cat "$last_stage/latest")"
fi
save
stamp "gpu check done"
