#!/usr/bin/env bash
# scripts/make_demo_model.sh [OUT]: makes the demo's base model (issue #9) from nothing, the
# way the one shipped in models/vrft-demo was made:
#   1. the synthetic world of seed 0 with 320 base_train rows per base category and task,
#      whose answers start with a short <think> (visual-rft data synth --think-base);
#   2. a 640-token byte-level BPE trained on its text (scripts/make_tiny_tokenizer.py);
#   3. random weights of the "demo" shape (visual-rft model init --preset demo, ~2M parameters);
#   4. SFT pre-training on the base categories of all three tasks, in two stages of
#      configs/demo_pretrain.yaml: 800 steps of 32 rows (cosine from lr 2e-3), then 300 more
#      from those weights with a fresh optimiser (cosine from 1e-3, another data order); about
#      an hour on 2 CPU cores next to other work;
#   5. the final weights, config and tokenizer copied to OUT (default models/vrft-demo) with
#      visual_rft_demo.json, which tells `visual-rft demo` the world's seed.
# Set-up and build first: scripts/setup.sh; cmake --build build --target visual-rft.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="${1:-$ROOT/models/vrft-demo}"
VRFT="${VRFT_BUILD_DIR:-$ROOT/build}/visual-rft"
PY="$ROOT/.venv/bin/python"
SEED=0
BASE_PER_CATEGORY=320
WORK="${VRFT_DEMO_WORK:-$(mktemp -d)}"
# OpenMP threads that spin while they wait cost a shared or busy 2-core machine several times
# the step time (measured: 18 s against 3 s per pre-training step next to a compile).
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-PASSIVE}"

echo "== make_demo_model: working in $WORK"
"$VRFT" data synth --out "$WORK/synth" --seed "$SEED" --think-base --base-per-category "$BASE_PER_CATEGORY"
"$PY" "$ROOT/scripts/make_tiny_tokenizer.py" --data "$WORK/synth" --out "$WORK/tokenizer" --vocab-size 640
"$VRFT" model init --preset demo --tokenizer "$WORK/tokenizer" --out "$WORK/init" --seed "$SEED"
"$VRFT" train --config "$ROOT/configs/demo_pretrain.yaml" --set model.path="$WORK/init" \
  --set data.train="$WORK/synth/base_train.jsonl" --set train.output_dir="$WORK/pretrain"
"$VRFT" train --config "$ROOT/configs/demo_pretrain.yaml" --set model.path="$WORK/pretrain/$(cat "$WORK/pretrain/latest")" \
  --set data.train="$WORK/synth/base_train.jsonl" --set train.output_dir="$WORK/pretrain2" \
  --set train.max_steps=300 --set optim.lr=1e-3 --set optim.warmup_steps=20 --set train.seed=1
CKPT="$WORK/pretrain2/$(cat "$WORK/pretrain2/latest")"
mkdir -p "$OUT.partial"
for f in config.json generation_config.json preprocessor_config.json model.safetensors tokenizer.json tokenizer_config.json; do
  cp "$CKPT/$f" "$OUT.partial/$f"
done
STEPS=$(( $(grep -c . "$WORK/pretrain/metrics.jsonl" || true) + $(grep -c . "$WORK/pretrain2/metrics.jsonl" || true) ))
cat > "$OUT.partial/visual_rft_demo.json" <<JSON
{
  "synth_seed": $SEED,
  "base_per_category": $BASE_PER_CATEGORY,
  "pretrain_config": "configs/demo_pretrain.yaml",
  "pretrain_stages": ["configs/demo_pretrain.yaml (800 steps)", "the same from its weights: 300 steps, lr 1e-3, warm-up 20, seed 1"],
  "pretrain_log_lines": $STEPS,
  "made_by": "scripts/make_demo_model.sh"
}
JSON
cat "$WORK/pretrain/metrics.jsonl" "$WORK/pretrain2/metrics.jsonl" > "$OUT.partial/pretrain_metrics.jsonl"
rm -rf "$OUT"
mv "$OUT.partial" "$OUT"
echo "== make_demo_model: $OUT"
