#!/usr/bin/env bash
# scripts/make_demo_model.sh [OUT]: makes the demo's base model (issue #9) from nothing.
#   1. the synthetic world of seed 0 with BASE_PER_CATEGORY base_train rows per base category
#      and task, whose answers start with a short <think> (visual-rft data synth --think-base);
#   2. a 640-token byte-level BPE trained on its text (scripts/make_tiny_tokenizer.py), or the
#      one in TOKENIZER=DIR when set (the shipped model's, where python's tokenizers is older);
#   3. random weights of the "demo" shape (visual-rft model init --preset demo, ~2M parameters);
#   4. SFT pre-training on the base categories of all three tasks with configs/demo_pretrain.yaml:
#      STEPS steps of ROWS rows, cosine from lr LR, on DEVICE; then STAGE2_STEPS more from those
#      weights with a fresh optimiser (cosine from 1e-3, warm-up 20, another data order);
#   5. the final weights, config and tokenizer copied to OUT (default models/vrft-demo) with
#      visual_rft_demo.json, which tells `visual-rft demo` the world's seed, and the recipe.
# The defaults are the recipe of the shipped model (800 + 300 steps of 32 rows on the CPU, about
# an hour on 2 cores next to other work). A longer run on a GPU did not do better: on one H200,
# BASE_PER_CATEGORY=640 DEVICE=cuda STEPS=1200 ROWS=64 STAGE2_STEPS=0 (170 s, twice the rows)
# ended at the same loss (0.43) and gave the demo 40.6 / 0.3 / 7.5 (README, demo table).
# Set-up and build first: scripts/setup.sh; cmake --build build --target visual-rft.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="${1:-$ROOT/models/vrft-demo}"
VRFT="${VRFT:-${VRFT_BUILD_DIR:-$ROOT/build}/visual-rft}"
PY="${PY:-$ROOT/.venv/bin/python}"
SEED=0
BASE_PER_CATEGORY="${BASE_PER_CATEGORY:-320}"
DEVICE="${DEVICE:-cpu}"
STEPS="${STEPS:-800}"
ROWS="${ROWS:-32}"
LR="${LR:-2e-3}"
STAGE2_STEPS="${STAGE2_STEPS:-300}"
WORK="${VRFT_DEMO_WORK:-$(mktemp -d)}"
# OpenMP threads that spin while they wait cost a shared or busy 2-core machine several times
# the step time (measured: 18 s against 3 s per pre-training step next to a compile).
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-PASSIVE}"

echo "== make_demo_model: working in $WORK ($STEPS steps of $ROWS rows on $DEVICE)"
[ -f "$WORK/synth/base_train.jsonl" ] ||
  "$VRFT" data synth --out "$WORK/synth" --seed "$SEED" --think-base --base-per-category "$BASE_PER_CATEGORY"
if [ -n "${TOKENIZER:-}" ]; then
  mkdir -p "$WORK/tokenizer" && cp "$TOKENIZER/tokenizer.json" "$TOKENIZER/tokenizer_config.json" "$WORK/tokenizer/"
else
  "$PY" "$ROOT/scripts/make_tiny_tokenizer.py" --data "$WORK/synth" --out "$WORK/tokenizer" --vocab-size 640
fi
"$VRFT" model init --preset demo --tokenizer "$WORK/tokenizer" --out "$WORK/init" --seed "$SEED"
"$VRFT" train --config "$ROOT/configs/demo_pretrain.yaml" --set model.path="$WORK/init" --set model.device="$DEVICE" \
  --set data.train="$WORK/synth/base_train.jsonl" --set train.output_dir="$WORK/pretrain" \
  --set train.max_steps="$STEPS" --set train.prompts_per_step="$ROWS" --set train.micro_batch_size="$ROWS" \
  --set optim.lr="$LR" --set train.save_steps=$(( STEPS / 8 > 50 ? STEPS / 8 : 50 ))
CKPT="$WORK/pretrain/$(cat "$WORK/pretrain/latest")"
cp "$WORK/pretrain/metrics.jsonl" "$WORK/pretrain_metrics.jsonl"
if [ "$STAGE2_STEPS" -gt 0 ]; then
  "$VRFT" train --config "$ROOT/configs/demo_pretrain.yaml" --set model.path="$CKPT" --set model.device="$DEVICE" \
    --set data.train="$WORK/synth/base_train.jsonl" --set train.output_dir="$WORK/pretrain2" \
    --set train.max_steps="$STAGE2_STEPS" --set train.prompts_per_step="$ROWS" --set train.micro_batch_size="$ROWS" \
    --set optim.lr=1e-3 --set optim.warmup_steps=20 --set train.seed=1
  CKPT="$WORK/pretrain2/$(cat "$WORK/pretrain2/latest")"
  cat "$WORK/pretrain2/metrics.jsonl" >> "$WORK/pretrain_metrics.jsonl"
fi
mkdir -p "$OUT.partial"
for f in config.json generation_config.json preprocessor_config.json model.safetensors tokenizer.json tokenizer_config.json; do
  cp "$CKPT/$f" "$OUT.partial/$f"
done
cat > "$OUT.partial/visual_rft_demo.json" <<JSON
{
  "synth_seed": $SEED,
  "base_per_category": $BASE_PER_CATEGORY,
  "pretrain_config": "configs/demo_pretrain.yaml",
  "pretrain": {"device": "$DEVICE", "steps": $STEPS, "rows_per_step": $ROWS, "lr": $LR, "stage2_steps": $STAGE2_STEPS},
  "made_by": "BASE_PER_CATEGORY=$BASE_PER_CATEGORY DEVICE=$DEVICE STEPS=$STEPS ROWS=$ROWS LR=$LR STAGE2_STEPS=$STAGE2_STEPS scripts/make_demo_model.sh"
}
JSON
cp "$WORK/pretrain_metrics.jsonl" "$OUT.partial/pretrain_metrics.jsonl"
rm -rf "$OUT"
mv "$OUT.partial" "$OUT"
echo "== make_demo_model: $OUT"
