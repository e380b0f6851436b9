#!/usr/bin/env bash
# scripts/demo.sh [visual-rft demo options]: the README's main command. Sets up (idempotent),
# builds visual-rft and runs `visual-rft demo`: the demo's tiny base model (models/vrft-demo,
# shipped; made by scripts/make_demo_model.sh when missing) is evaluated on few-shot novel
# categories of a synthetic world, fine-tuned on K shots by Visual-RFT (GRPO with verifiable
# rewards) and by SFT, and evaluated again: a baseline / SFT / Visual-RFT table for
# classification, detection and reasoning grounding, reward and KL curves and drawn answers
# in runs/demo/. Everything on the CPU.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="${VRFT_BUILD_DIR:-$ROOT/build}"

bash "$ROOT/scripts/setup.sh"
cmake -S "$ROOT" -B "$BUILD" -G Ninja >/dev/null
cmake --build "$BUILD" -j "$(nproc)" --target visual-rft
# OpenMP threads that spin while they wait make a busy 2-core machine several times slower.
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-PASSIVE}"
cd "$ROOT"
if [ ! -f models/vrft-demo/visual_rft_demo.json ]; then
  echo "== no models/vrft-demo: making it (about two hours on 2 cores)"
  bash scripts/make_demo_model.sh models/vrft-demo
fi
time "$BUILD/visual-rft" demo --model models/vrft-demo --out runs/demo "$@"
