#!/usr/bin/env bash
# scripts/demo.sh: the README's main command. Sets up (idempotent), builds visual-rft and runs
# the most complete end-to-end job that exists so far.
#
# Today (foundation only) that is: resolve a training config with overrides, list every
# config key, and inspect a tensor file written by the Python safetensors package. The
# embedded demo (synthetic world, Visual-RFT against SFT on a CPU) replaces this when it lands.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="${VRFT_BUILD_DIR:-$ROOT/build}"

bash "$ROOT/scripts/setup.sh"
cmake -S "$ROOT" -B "$BUILD" -G Ninja >/dev/null
cmake --build "$BUILD" -j "$(nproc)" --target visual-rft
VRFT="$BUILD/visual-rft"

echo "== visual-rft config show --config configs/cls_flower102.yaml --set optim.lr=2e-6"
"$VRFT" config show --config "$ROOT/configs/cls_flower102.yaml" --set optim.lr=2e-6

echo "== visual-rft config schema (first lines)"
"$VRFT" config schema | head -n 12

OUT="$(mktemp -d)"
trap 'rm -rf "$OUT"' EXIT
"$ROOT/.venv/bin/python" "$ROOT/scripts/refs/safetensors_refs.py" make "$OUT"
echo "== visual-rft inspect tensors (a file written by Python safetensors)"
"$VRFT" inspect tensors "$OUT/py_dtypes.safetensors"
echo "== visual-rft inspect tensors (a sharded model folder)"
"$VRFT" inspect tensors "$OUT/py_sharded"
