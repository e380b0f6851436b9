#!/usr/bin/env bash
# scripts/demo.sh: the README's main command. Sets up (idempotent), builds visual-rft and runs
# the most complete end-to-end job that exists so far.
#
# Until the embedded demo (synthetic world, Visual-RFT against SFT on a CPU) lands, that is:
#   1. resolve a training config with an override;
#   2. score model answers with the verifiable rewards, in both modes;
#   3. build a tiny random Qwen2-VL with transformers, run our forward pass on a batch made by
#      transformers (images, left padding) and compare the logits with transformers';
#   4. time the rewards.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="${VRFT_BUILD_DIR:-$ROOT/build}"

bash "$ROOT/scripts/setup.sh"
cmake -S "$ROOT" -B "$BUILD" -G Ninja >/dev/null
cmake --build "$BUILD" -j "$(nproc)" --target visual-rft
VRFT="$BUILD/visual-rft"
PY="$ROOT/.venv/bin/python"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

echo "== 1. visual-rft config show --config configs/cls_flower102.yaml --set optim.lr=2e-6"
"$VRFT" config show --config "$ROOT/configs/cls_flower102.yaml" --set optim.lr=2e-6 | sed -n '/^grpo:/,/^train:/p'

echo "== 2. visual-rft score (detection; strict, then the reference's visual_rft mode)"
SOL="<answer>[{'Position': [100, 100, 200, 200], 'Confidence': 1}]</answer>"
cat > "$WORK/completions.jsonl" <<JSONL
{"completion": "<think>one box</think><answer>[{'Position': [100, 100, 200, 180], 'Confidence': 0.9}]</answer>", "solution": "$SOL"}
{"completion": "<think>two lines</think><answer>\n[{'Position': [100, 100, 200, 200], 'Confidence': 0.8}]\n</answer>", "solution": "$SOL"}
{"completion": "<think>hmm</think><answer>[{'Position': [100, 100, 200, 200], 'Confidence': NaN}]</answer>", "solution": "$SOL"}
JSONL
"$VRFT" score --task det --input "$WORK/completions.jsonl"
"$VRFT" score --task det --compat visual_rft --input "$WORK/completions.jsonl"

echo "== 3. Qwen2-VL forward pass against transformers (tiny random model, 3 rows, 3 images)"
"$PY" "$ROOT/scripts/refs/qwen2vl_refs.py" "$WORK/refs" --variant qwen2vl
"$VRFT" inspect forward --model "$WORK/refs/qwen2vl/model" --inputs "$WORK/refs/qwen2vl/inputs.safetensors" \
  --out "$WORK/ours.safetensors"
"$PY" - "$WORK" <<'PY'
import sys
from safetensors.torch import load_file
w = sys.argv[1]
ours, ref = load_file(f"{w}/ours.safetensors"), load_file(f"{w}/refs/qwen2vl/outputs.safetensors")
mask = load_file(f"{w}/refs/qwen2vl/inputs.safetensors")["attention_mask"].bool().unsqueeze(-1)
diff = ((ours["logits"] - ref["logits"]).abs() * mask).max().item()
print(f"max |logits(visual-rft) - logits(transformers)| = {diff:.3g}; "
      f"position ids equal: {bool((ours['position_ids'] == ref['position_ids']).all())}; "
      f"rope deltas equal: {bool((ours['rope_deltas'] == ref['rope_deltas']).all())}")
PY

echo "== 4. visual-rft bench rewards"
"$VRFT" bench rewards
