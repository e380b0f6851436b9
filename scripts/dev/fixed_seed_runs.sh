#!/usr/bin/env bash
# scripts/dev/fixed_seed_runs.sh [VRFT] [OUT]: three short fixed-seed runs of the shipped demo
# model on a small synthetic world, and one hash of what they wrote (each metrics.jsonl line
# without its time and memory fields, and the final weights). A refactoring that must not
# change behaviour gives the same hash before and after:
#   scripts/dev/fixed_seed_runs.sh build/visual-rft /tmp/before    # on the old commit
#   scripts/dev/fixed_seed_runs.sh build/visual-rft /tmp/after     # on the new one
# The runs: GRPO on detection (num_iterations 2, beta 0.04, 3 steps of 2 prompts x 4), GRPO on
# grounding without a reference (beta 0, 2 steps), SFT on classification (3 steps of 4 rows); CPU, one
# thread, a few seconds each.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
V="${1:-$ROOT/build/visual-rft}"
O="${2:-$ROOT/runs/fixed_seed_runs}"
PY="${PY:-$ROOT/.venv/bin/python}"
M="$ROOT/models/vrft-demo"
export OMP_NUM_THREADS=1
rm -rf "$O" && mkdir -p "$O"
"$V" data synth --out "$O/world" --seed 0 --think-base --base-per-category 2 --eval 4 > /dev/null
run() {  # run NAME CONFIG TASK SETTINGS...
  local name="$1" config="$2" task="$3"
  shift 3
  "$V" train --config "$ROOT/configs/$config" --set model.path="$M" --set data.task="$task" \
    --set data.train="$O/world/$task/fewshot_train.jsonl" --set train.output_dir="$O/$name" "$@" --log-level error
}
run grpo demo_rft.yaml det --set train.max_steps=3 --set grpo.num_iterations=2 --set rollout.num_generations=4 \
  --set train.prompts_per_step=2 --set train.micro_batch_size=4
run grpo_noref demo_rft.yaml ground --set train.max_steps=2 --set grpo.beta=0 --set rollout.num_generations=4 \
  --set train.prompts_per_step=2 --set train.micro_batch_size=8
run sft demo_sft.yaml cls --set train.max_steps=3 --set train.prompts_per_step=4
"$PY" - "$O" <<'PY'
import hashlib, json, sys
out = sys.argv[1]
h = hashlib.sha256()
for run in ("grpo", "grpo_noref", "sft"):
    for line in open(f"{out}/{run}/metrics.jsonl"):
        rec = json.loads(line)
        for k in ("time", "tokens_per_s", "peak_rss_gb", "peak_gpu_gb"):
            rec.pop(k, None)
        h.update(json.dumps(rec, sort_keys=True).encode())
    latest = open(f"{out}/{run}/latest").read().strip()
    h.update(open(f"{out}/{run}/{latest}/model.safetensors", "rb").read())
print(h.hexdigest())
PY
