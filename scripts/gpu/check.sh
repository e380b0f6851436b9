#!/usr/bin/env bash
# scripts/gpu/check.sh: the project's whole GPU check, one call on the device machine.
# Here:   scripts/gpu/pack.sh      (builds and packs binaries, libraries, tokenizer, photos)
# Then:   run(command="bash scripts/gpu/check.sh", carry=["gpu-pack"], timeout_s=560)
# Runs, each under its own time limit, results to $OUT:
#   test_decode     CUDA greedy = CPU greedy; CUDA-graph decode = eager; bf16 autocast
#   bench rollout   2B shape, B*G = 64 and 128, eager vs CUDA graphs, against the HBM
#                   bound; peak memory at B*G = 64 with 512 new tokens
#   bench train     GRPO steps of a random 2B model (fp32 master weights, bf16 autocast,
#                   bf16 rollout copy and reference), time split and memory
#   cuda parity     fp32 logits on CUDA vs transformers on the CPU (tiny models)
#   rollout_vs_hf   transformers generate(num_return_sequences=G) vs ours, same shapes
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
OUT="${OUT:-$ROOT/gpu-out}"
mkdir -p "$OUT"
exec > >(tee "$OUT/check.log") 2>&1
PACK="$ROOT/gpu-pack"
PY="$(command -v python3)"
T0=$SECONDS
stamp() { echo "=== [$((SECONDS - T0)) s] $*"; }

mkdir -p /tmp/vrft && tar -xJf "$PACK/libs.tar.xz" -C /tmp/vrft
TORCH_LIB="$("$PY" -c 'import os, torch; print(os.path.dirname(torch.__file__) + "/lib")')"
# The binaries were linked here against the same torch wheel; on this machine LibTorch and
# the CUDA runtime come from its python3's site-packages (torch/lib, nvidia/*/lib).
NV_LIBS="$("$PY" -c 'import glob, os, torch; sp = os.path.dirname(os.path.dirname(torch.__file__)); print(":".join(sorted(glob.glob(sp + "/nvidia/*/lib"))))')"
export LD_LIBRARY_PATH="$TORCH_LIB:$NV_LIBS:/usr/local/cuda/lib64:/tmp/vrft/lib:${LD_LIBRARY_PATH:-}"
VRFT="$PACK/bin/visual-rft"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/gpu.txt"
case "$(cat "$OUT/gpu.txt")" in *H200*) HBM=4.8 ;; *) HBM=3.35 ;; esac
"$VRFT" --version || { echo "the packed binary does not start"; ldd "$VRFT" | grep "not found"; exit 1; }

stamp "test_decode (CUDA tests)"
timeout 120 "$PACK/bin/test_decode" 2>&1 | tail -25 | tee "$OUT/test_decode.txt"

stamp "bench rollout, 2B shape"
timeout 150 "$VRFT" bench rollout --random 2b --device cuda --prompts 8,16 --samples 8 --new-tokens 128 --ignore-eos \
  --text-tokens 64 --image-size 448 --decode eager,graph --repeats 2 --hbm-tbs $HBM --json | tee "$OUT/bench_rollout_2b.jsonl"
timeout 90 "$VRFT" bench rollout --random 2b --device cuda --prompts 8 --samples 8 --new-tokens 512 --ignore-eos \
  --text-tokens 64 --image-size 448 --decode graph --repeats 1 --hbm-tbs $HBM --json | tee -a "$OUT/bench_rollout_2b.jsonl"

stamp "bench train, random 2B model"
M=/tmp/vrft/m2b
timeout 100 "$VRFT" bench load --random 2b --dir "$M" --dtype bfloat16 | tee "$OUT/bench_load.txt"
cp "$PACK/data/tokenizer.json" "$PACK/data/tokenizer_config.json" "$M/"
: > /tmp/vrft/train.jsonl
for i in 1 2 3 4 5 6 7 8; do
  img=apple.jpg; [ $((i % 2)) = 0 ] && img=baboon.jpg
  echo "{\"image\": \"$PACK/data/$img\", \"problem\": \"Detect all objects belonging to the category 'apple' in the image, and provide the bounding boxes and confidence.\", \"solution\": \"<answer>[{'Position': [100, 120, 700, 800], 'Confidence': 1}]</answer>\"}" >> /tmp/vrft/train.jsonl
done
cat > /tmp/vrft/train.yaml <<YAML
model: {path: $M, device: cuda}
data: {task: det, train: /tmp/vrft/train.jsonl, max_pixels: 401408}
rollout: {num_generations: 8, max_new_tokens: 128, top_k: 50}
train: {output_dir: /tmp/vrft/run, prompts_per_step: 8, micro_batch_size: 16}
YAML
timeout 240 "$VRFT" bench train --config /tmp/vrft/train.yaml --steps 3 | tee "$OUT/bench_train_2b.txt"
timeout 120 "$VRFT" bench train --config /tmp/vrft/train.yaml --steps 2 --set model.gradient_checkpointing=true \
  | tee "$OUT/bench_train_2b_ckpt.txt"
rm -rf "$M"

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
done | tee "$OUT/cuda_parity.txt"

stamp "transformers generate vs ours, 2B shape"
timeout 200 "$PY" "$ROOT/scripts/bench/rollout_vs_hf.py" --preset 2b --device cuda --prompts 8 --samples 8 --new-tokens 128 \
  --text-tokens 64 --image-size 448 --vrft "$VRFT" --repeats 1 | tee "$OUT/rollout_vs_hf_2b.txt"
stamp "gpu check done"
