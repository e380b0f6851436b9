#!/usr/bin/env bash
# scripts/gpu/check.sh: the project's whole GPU check, in one call on the device machine.
# Builds against the machine's PyTorch (CUDA), runs the test suite, runs the model on CUDA
# against transformers' logits, and the benchmarks; everything goes to $OUT.
#
# Here:  scripts/gpu/pack_deps.sh        (once; the Debian -dev packages it lacks)
# Then:  run(command="bash scripts/gpu/check.sh", carry=["gpu-deps"], timeout_s=540)
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
OUT="${OUT:-$ROOT/gpu-out}"
mkdir -p "$OUT"
LOG="$OUT/check.log"
exec > >(tee "$LOG") 2>&1
DEPS="$ROOT/gpu-deps/usr"
export CMAKE_PREFIX_PATH="$DEPS:$DEPS/lib/x86_64-linux-gnu/cmake:$DEPS/share/cmake"
export LD_LIBRARY_PATH="$DEPS/lib/x86_64-linux-gnu:${LD_LIBRARY_PATH:-}"
export CPLUS_INCLUDE_PATH="$DEPS/include:${CPLUS_INCLUDE_PATH:-}"
PY="$(command -v python3)"

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/gpu.txt"
BUILD="$ROOT/build-gpu"
cmake -S "$ROOT" -B "$BUILD" -G Ninja -DVRFT_PYTHON="$PY" -DVRFT_PCH=ON -DCMAKE_BUILD_TYPE=Release \
  -DTORCH_CUDA_ARCH_LIST=9.0 || { echo "configure failed"; exit 1; }
cmake --build "$BUILD" -j 16 || { echo "build failed"; exit 1; }
VRFT="$BUILD/visual-rft"

# The tests (CPU paths; the machine's transformers version may differ from the pinned one).
(cd "$BUILD" && ctest -j 8 --output-on-failure) > "$OUT/ctest.txt" 2>&1; tail -5 "$OUT/ctest.txt"

# The model on CUDA against transformers' fp32 logits (TF32 off: fp32 matmuls).
REFS="$BUILD/gpu-refs"
"$PY" "$ROOT/scripts/refs/qwen2vl_refs.py" "$REFS"
for v in qwen2vl qwen2vl_untied qwen25vl; do
  "$VRFT" inspect forward --device cuda --model "$REFS/$v/model" --inputs "$REFS/$v/inputs.safetensors" \
    --out "$REFS/$v/cuda.safetensors"
  "$PY" - "$REFS/$v" <<'PY'
import sys
from safetensors.torch import load_file
d = sys.argv[1]
ours, ref = load_file(f"{d}/cuda.safetensors"), load_file(f"{d}/outputs.safetensors")
mask = load_file(f"{d}/inputs.safetensors")["attention_mask"].bool().unsqueeze(-1)
print(f"{d}: CUDA fp32 max |logits - transformers(CPU)| = {((ours['logits'] - ref['logits']).abs() * mask).max().item():.3g}")
PY
done | tee "$OUT/cuda_parity.txt"

# Rollouts: greedy parity on CUDA runs in ctest above (CPU); here the speed of the 2B shape
# at B*G = 64 and 128 against the HBM bound, and transformers' generate side by side.
case "$(cat "$OUT/gpu.txt")" in *H200*) HBM=4.8 ;; *) HBM=3.35 ;; esac
for B in 8 16; do
  "$VRFT" bench rollout --random 2b --device cuda --prompts $B --samples 8 --new-tokens 128 --ignore-eos \
    --text-tokens 64 --image-size 448 --hbm-tbs $HBM | tee "$OUT/bench_rollout_2b_B${B}G8.txt"
done
"$PY" "$ROOT/scripts/bench/rollout_vs_hf.py" --preset 2b --device cuda --prompts 8 --samples 8 --new-tokens 128 \
  --text-tokens 64 --image-size 448 --vrft "$VRFT" --repeats 1 | tee "$OUT/rollout_vs_hf_2b.txt"
"$VRFT" bench rewards | tee "$OUT/bench_rewards.txt"
"$VRFT" bench load --random 2b | tee "$OUT/bench_load.txt"
echo "gpu check done"
