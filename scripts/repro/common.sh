# scripts/repro/common.sh: what the paper-table scripts of scripts/repro/ share (sourced, not run).
# shellcheck shell=bash disable=SC2034  # the variables set here are read by the table scripts
#
# A table script calls, in order:
#   repro_init NAME "DATA OPTIONS" "$@"   parse the arguments; real mode: check the data paths;
#                                         --smoke: the synthetic world in the paper's formats
#   fewshot / train_run / eval_run        the stages, one visual-rft command each
#   table_begin / table_row / table_write OUT/table.md: our numbers beside the paper's
#
# Common options (each script's header lists its data options):
#   --model-2b DIR (or --model DIR)  Qwen2-VL-2B-Instruct, a local Hugging Face folder
#   --model-7b DIR                   Qwen2-VL-7B-Instruct (rows of a size not given: "not run")
#   --out DIR                        outputs (default runs/repro/NAME, --smoke: runs/repro-smoke/NAME)
#   --steps N                        optimiser steps of every SFT and Visual-RFT run (default:
#                                    the config's; --smoke: 2)
#   --shots LIST                     shot counts, e.g. 1,4 (tables with a K-shot sweep)
#   --smoke                          tiny demo model, synthetic data, a few steps: minutes on a CPU
#   --dry-run                        print every command and check its config with `visual-rft
#                                    config show`; run nothing
#
# Real mode runs the paper's protocol: K-shot sets drawn with
# `visual-rft data fewshot --seed 0`, training with the table's config in configs/ (SFT: the
# same config with train.trainer=sft), evaluation with the reference's inputs (eval.coco /
# eval.lvis with the existence map of the model's size, eval.classification, LISA JSONL),
# greedy answers, max_pixels 12845056 (the processor default the reference evaluated with).
# Finished stages are skipped on a rerun (a train run with DONE, an eval with metrics.json; an
# interrupted training resumes from its last checkpoint): delete a folder to redo it.
#
# --smoke runs the same commands, with the same keys, on the synthetic world of `visual-rft data
# synth` rewritten as COCO/LVIS files, classification lists and ReasonSeg folders
# (synth_formats.py), the demo base model for both sizes, and small settings appended as later
# --set overrides (CPU, 112x112 images, G = 4, 48 new tokens, 2 steps, 16 questions).
# Every stage's output goes to OUT/logs/; a failing stage prints its log's tail and stops the script.

set -euo pipefail
REPRO_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$REPRO_DIR/../.." && pwd)"
VRFT="${VRFT:-${VRFT_BUILD_DIR:-$ROOT/build}/visual-rft}"
PY="$ROOT/.venv/bin/python"
[[ -x "$PY" ]] || PY=python3
# The reference's R1 system prompt (reference §3), which its LISA evaluation adds.
R1_SYSTEM_PROMPT="A conversation between User and Assistant. The user asks a question, and the Assistant solves it. The assistant first thinks about the reasoning process in the mind and then provides the user with the answer. The reasoning process and answer are enclosed within <think> </think> and <answer> </answer> tags, respectively, i.e., <think> reasoning process here </think><answer> answer here </answer>"
# The reference's evaluation: greedy, 1024 new tokens, the processor's default max_pixels.
EVAL_PROTOCOL=(--set eval.temperature=0 --set eval.max_new_tokens=1024 --set data.max_pixels=12845056)

die() {
  echo "${REPRO_NAME:-repro}: error: $*" >&2
  exit 1
}

usage() {  # the calling script's header comment
  sed -n '2,/^[^#]/{/^# shellcheck/d;/^#/s/^# \{0,1\}//p}' "$0"
  exit "${1:-0}"
}

# need_path LABEL PATH HINT: PATH must exist.
need_path() {
  [[ -e "$2" ]] || die "$1 not found: '$2' ($3)"
}

# repro_init NAME "OPTS" ARGS...: OPTS are the data options this table takes, from
# coco lvis exist-maps cls-data lisa base65 trained.
repro_init() {
  REPRO_NAME="$1"
  local allowed=" $2 "
  shift 2
  SMOKE=0 DRY_RUN=0 OUT="" STEPS="" SHOTS="" MODEL_2B="" MODEL_7B=""
  COCO_DIR="" LVIS_DIR="" EXIST_MAPS="" CLS_DIR="" LISA_DIR="" BASE65="" TRAINED=""
  while (($#)); do
    local opt="$1"
    case "$opt" in
      -h | --help) usage 0 ;;
      --smoke) SMOKE=1 && shift && continue ;;
      --dry-run) DRY_RUN=1 && shift && continue ;;
    esac
    (($# >= 2)) || die "$opt needs a value (--help for usage)"
    case "$opt" in
      --model | --model-2b) MODEL_2B="$2" ;;
      --model-7b) MODEL_7B="$2" ;;
      --out) OUT="$2" ;;
      --steps)
        [[ "$2" =~ ^[1-9][0-9]*$ ]] || die "--steps needs a positive integer, got '$2'"
        STEPS="$2" ;;
      --shots) SHOTS="${2//,/ }" ;;
      --coco | --lvis | --exist-maps | --cls-data | --lisa | --base65 | --trained)
        [[ "$allowed" == *" ${opt#--} "* ]] || die "$opt does not apply to this table (--help for its options)"
        case "$opt" in
          --coco) COCO_DIR="$2" ;; --lvis) LVIS_DIR="$2" ;; --exist-maps) EXIST_MAPS="$2" ;;
          --cls-data) CLS_DIR="$2" ;; --lisa) LISA_DIR="$2" ;; --base65) BASE65="$2" ;; --trained) TRAINED="$2" ;;
        esac ;;
      *) die "unknown option '$opt' (--help for usage)" ;;
    esac
    shift 2
  done
  ((!SMOKE || !DRY_RUN)) || die "--dry-run checks the commands of a real run; --smoke runs them"
  [[ -x "$VRFT" ]] || die "no visual-rft binary at $VRFT (build it: cmake --build build --target visual-rft)"
  if ((SMOKE)); then
    OUT="${OUT:-$ROOT/runs/repro-smoke/$REPRO_NAME}"
    STEPS="${STEPS:-2}"
    # OpenMP threads spinning while they wait make steps several times slower on a busy 2-core machine.
    export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-PASSIVE}"
  else
    OUT="${OUT:-$ROOT/runs/repro/$REPRO_NAME}"
    [[ -n "$MODEL_2B$MODEL_7B" ]] || die "give --model-2b DIR and/or --model-7b DIR (Qwen2-VL-*-Instruct folders), or --smoke"
    [[ -z "$MODEL_2B" ]] || need_path "--model-2b" "$MODEL_2B/config.json" "a Hugging Face Qwen2-VL-2B-Instruct folder"
    [[ -z "$MODEL_7B" ]] || need_path "--model-7b" "$MODEL_7B/config.json" "a Hugging Face Qwen2-VL-7B-Instruct folder"
  fi
  OUT="$(realpath -m "$OUT")"  # created by the first stage, after the data checks
  TRAIN_SETS=() EVAL_SETS=()
  declare -gA RAN=()
  echo "== $REPRO_NAME: $( ((SMOKE)) && echo smoke || echo real)$( ((DRY_RUN)) && echo ", dry run"), output in $OUT"
}

# ---- the data ---------------------------------------------------------------------------------
# Real mode: the paths below from the data options. --smoke: the same names for synthetic files.
#   COCO_TRAIN COCO_TRAIN_IMAGES COCO_VAL COCO_VAL_IMAGES   COCO instances + image folders
#   LVIS_TRAIN LVIS_VAL LVIS_IMAGES                         LVIS v1 (images: DIR/<split>/<name> of coco_url)
#   CATS_COCO_FEWSHOT CATS_COCO_NOVEL CATS_COCO_BASE CATS_LVIS_FEWSHOT CATS_LVIS_RARE   category lists
#   exist_map coco|lvis 2b|7b                               the reference's existence maps
#   cls_file DATASET train|test|classnames, CLS_IMAGES      classification lists
#   LISA_DIR/{train,val,test}                               ReasonSeg folders
#   BASE65                                                  ViRFT_COCO_base65 as JSONL

CATS_COCO_FEWSHOT="$ROOT/data/categories/coco_fewshot8.txt"
CATS_COCO_NOVEL="$ROOT/data/categories/coco_ov_novel15.txt"
CATS_COCO_BASE="$ROOT/data/categories/coco_ov_base65.txt"
CATS_LVIS_FEWSHOT="$ROOT/data/categories/lvis_fewshot6.txt"
CATS_LVIS_RARE="$ROOT/data/categories/lvis_ov_rare13.txt"

# need_data OPT...: the real-mode paths of these data options (each must have been given).
need_data() {
  ((SMOKE)) && return 0
  local o
  for o in "$@"; do
    case "$o" in
      coco | coco-train)  # coco: val2017 (evaluation); coco-train: train2017 too (few-shot sets)
        [[ -n "$COCO_DIR" ]] || die "give --coco DIR (annotations/instances_{train,val}2017.json, train2017/, val2017/)"
        COCO_TRAIN="$COCO_DIR/annotations/instances_train2017.json" COCO_TRAIN_IMAGES="$COCO_DIR/train2017"
        COCO_VAL="$COCO_DIR/annotations/instances_val2017.json" COCO_VAL_IMAGES="$COCO_DIR/val2017"
        need_path "COCO val annotations" "$COCO_VAL" "from cocodataset.org, annotations_trainval2017.zip"
        need_path "COCO val images" "$COCO_VAL_IMAGES" "val2017.zip"
        [[ "$o" == coco ]] || need_path "COCO train annotations" "$COCO_TRAIN" "annotations_trainval2017.zip" ;;
      lvis)
        [[ -n "$LVIS_DIR" ]] || die "give --lvis DIR (lvis_v1_train.json, lvis_v1_val.json) and --coco DIR (its images)"
        [[ -n "$COCO_DIR" ]] || die "give --coco DIR: the LVIS images are COCO's train2017/ and val2017/"
        LVIS_TRAIN="$LVIS_DIR/lvis_v1_train.json" LVIS_VAL="$LVIS_DIR/lvis_v1_val.json" LVIS_IMAGES="$COCO_DIR"
        need_path "LVIS train annotations" "$LVIS_TRAIN" "from lvisdataset.org"
        need_path "LVIS val annotations" "$LVIS_VAL" "from lvisdataset.org" ;;
      exist-maps)
        # The reference's maps ship in data/visual_rft; --exist-maps DIR uses others.
        [[ -n "$EXIST_MAPS" ]] || EXIST_MAPS="$ROOT/data/visual_rft"
        need_path "--exist-maps" "$EXIST_MAPS" "a folder of exist_map_*_baseline.json" ;;
      cls-data)
        [[ -n "$CLS_DIR" ]] || die "give --cls-data DIR (NAME.train.tsv, NAME.test.tsv, NAME.classnames.txt for oxford_flowers, pets, fgvc_aircraft, stanford_cars; images under DIR)"
        need_path "--cls-data" "$CLS_DIR" "a folder of classification lists and their images"
        CLS_IMAGES="$CLS_DIR" ;;
      lisa)
        [[ -n "$LISA_DIR" ]] || die "give --lisa DIR (ReasonSeg with train/, val/, test/)"
        for s in train val test; do need_path "ReasonSeg $s split" "$LISA_DIR/$s" "LISA's ReasonSeg release"; done ;;
      base65)
        [[ -n "$BASE65" ]] || die "give --base65 FILE: laolao77/ViRFT_COCO_base65 as JSONL (.venv/bin/python scripts/convert_hf_dataset.py SNAPSHOT --out DIR)"
        need_path "--base65" "$BASE65" "ViRFT_COCO_base65 as Visual-RFT JSONL" ;;
    esac
  done
}

# exist_map coco|lvis 2b|7b: the map of the baseline of that size (the reference picks it by size).
exist_map() {
  if ((SMOKE)); then echo "$SMOKE_FORMATS/$1/exist_map.json"; return; fi
  local f="$EXIST_MAPS/exist_map_${1}_Qwen2_vl_${2^^}_baseline.json"
  need_path "existence map" "$f" "--exist-maps DIR"
  echo "$f"
}

# cls_file DATASET train|test|classnames: a classification list or its class names.
cls_file() {
  if ((SMOKE)); then
    [[ "$2" == classnames ]] && echo "$SMOKE_FORMATS/cls/classnames.txt" || echo "$SMOKE_FORMATS/cls/$2.tsv"
    return
  fi
  local f="$CLS_DIR/$1.$2.tsv"
  [[ "$2" != classnames ]] || f="$CLS_DIR/$1.classnames.txt"
  need_path "classification list" "$f" "relpath<TAB>label<TAB>classname lines (the CoOp split, as data/classification/)"
  echo "$f"
}

# smoke_world TASKS BASE: the synthetic world (of the demo model's seed) in every format above,
# the demo model for both sizes, and the small settings.
smoke_world() {
  ((SMOKE)) || return 0
  local demo="${VRFT_DEMO_MODEL:-$ROOT/models/vrft-demo}" w="$OUT/smoke"
  # The demo model is part of the repository: a smoke run without it fails (it is not skipped).
  [[ -f "$demo/visual_rft_demo.json" ]] ||
    die "no demo base model at '$demo' (no visual_rft_demo.json there): restore models/vrft-demo, make one with scripts/make_demo_model.sh, or set VRFT_DEMO_MODEL=DIR"
  local seed
  seed="$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["synth_seed"])' "$demo/visual_rft_demo.json")"
  rm -rf "$w"
  stage "synthetic world (seed $seed, tasks $1)" "$VRFT" data synth --seed "$seed" --out "$w/synth" --tasks "$1" \
    --train-per-category 4 --base-per-category "$2" --eval 16
  stage "synthetic world in the paper's formats" "$PY" "$REPRO_DIR/synth_formats.py" --synth "$w/synth" --out "$w/formats"
  SMOKE_FORMATS="$w/formats"
  MODEL_2B="$demo" MODEL_7B="$demo"
  COCO_TRAIN="$w/formats/coco/instances_train.json" COCO_VAL="$w/formats/coco/instances_val.json"
  LVIS_TRAIN="$w/formats/lvis/lvis_train.json" LVIS_VAL="$w/formats/lvis/lvis_val.json"
  COCO_TRAIN_IMAGES="$w/synth/det" COCO_VAL_IMAGES="$w/synth/det" LVIS_IMAGES="$w/synth/det"
  CLS_IMAGES="$w/synth/cls" LISA_DIR="$w/formats/lisa" BASE65="$w/synth/det/base_train.jsonl"
  # The novel categories stand in for the paper's evaluated ones, the base ones for COCO base 65.
  local novel="$w/formats/categories/novel.txt" base="$w/formats/categories/base.txt"
  CATS_COCO_FEWSHOT="$novel" CATS_COCO_NOVEL="$novel" CATS_COCO_BASE="$base"
  head -n 6 "$novel" >"$w/formats/categories/lvis_fewshot.txt"
  cat "$novel" "$base" | head -n 13 >"$w/formats/categories/lvis_rare.txt"
  CATS_LVIS_FEWSHOT="$w/formats/categories/lvis_fewshot.txt" CATS_LVIS_RARE="$w/formats/categories/lvis_rare.txt"
  TRAIN_SETS=(--set model.device=cpu --set model.dtype=float32 --set data.max_pixels=12544
    --set rollout.num_generations=4 --set rollout.max_new_tokens=48 --set train.prompts_per_step=2
    --set train.micro_batch_size=8 --set optim.lr=1e-4 --set logging.progress=false --set logging.sample_steps=0)
  EVAL_SETS=(--set model.device=cpu --set data.max_pixels=12544 --set eval.max_new_tokens=48
    --set eval.batch_size=16 --set eval.draw_images=2)
}

# ---- the stages -------------------------------------------------------------------------------

# check_real KIND CONFIG SETS...: --smoke runs every command with small settings appended as
# later --set overrides; this checks the combination a real run uses (without them) with
# `visual-rft config show`, so that a bad key or value fails in smoke mode too. Once per kind
# and key set: each start of visual-rft costs ~2 s here, and the configs a script uses differ
# only in paths (the smoke run itself loads each of them).
declare -A CHECKED=()
check_real() {
  ((SMOKE)) || return 0
  local kind="$1" cfg="$2"
  shift 2
  local sig
  sig="$kind $(printf '%s\n' "$@" | sed -n 's/=.*//p' | tr '\n' ' ')"
  [[ -z "${CHECKED[$sig]:-}" ]] || return 0
  CHECKED[$sig]=1
  local err="$OUT/logs/config-check.err"
  mkdir -p "$OUT/logs"
  "$VRFT" config show --config "$cfg" "$@" >/dev/null 2>"$err" ||
    die "visual-rft config show refuses the real-mode settings ($kind, $cfg): $(cat "$err")"
}

# stage TITLE CMD...: runs CMD with its output in OUT/logs/; --dry-run prints it instead.
stage() {
  local title="$1"
  shift
  if ((DRY_RUN)); then
    printf '%q ' "$@" && echo
    return
  fi
  mkdir -p "$OUT/logs"
  STAGE_NO=$((STAGE_NO + 1))
  local log
  log="$OUT/logs/$(printf '%03d' "$STAGE_NO")-${title//[^A-Za-z0-9_.-]/_}.log"
  printf '[%4d s] %s\n' "$SECONDS" "$title"
  if ! "$@" </dev/null >"$log" 2>&1; then
    tail -n 40 "$log" >&2
    die "stage '$title' failed (exit status above; full log: $log)"
  fi
}
STAGE_NO=0

# fewshot DIR ARGS...: `visual-rft data fewshot ARGS --out DIR` (DIR/train.jsonl).
fewshot() {
  local dir="$1"
  shift
  if ((!SMOKE && !DRY_RUN)) && [[ -f "$dir/train.jsonl" ]]; then return; fi
  stage "few-shot set ${dir#"$OUT"/}" "$VRFT" data fewshot "$@" --seed 0 --out "$dir"
  ((DRY_RUN)) || [[ -s "$dir/train.jsonl" ]] || die "no rows in $dir/train.jsonl"
}

# train_run RUN CONFIG MODEL DATA rft|sft [--set k=v ...]: a Visual-RFT (GRPO) or SFT run of
# CONFIG from MODEL on DATA (a Visual-RFT JSONL) into RUN; checkpoint RUN gives its weights.
train_run() {
  local run="$1" cfg="$2" model="$3" data="$4" method="$5"
  shift 5
  local sets=(--set model.path="$model" --set data.train="$data" --set train.output_dir="$run"
    --set train.trainer="$([[ "$method" == sft ]] && echo sft || echo grpo)")
  [[ -z "$STEPS" ]] || sets+=(--set train.max_steps="$STEPS")
  sets+=("$@" "${TRAIN_SETS[@]}")
  local title="train $method ${run#"$OUT"/}"
  if ((DRY_RUN)); then
    "$VRFT" config show --config "$cfg" "${sets[@]}" >/dev/null || die "bad config for: $title"
    stage "$title" "$VRFT" train --config "$cfg" "${sets[@]}"
    return
  fi
  check_real "train $method" "$cfg" "${sets[@]:0:${#sets[@]}-${#TRAIN_SETS[@]}}"
  local resume=()
  if ((SMOKE)); then
    rm -rf "$run"
  elif [[ -f "$run/DONE" ]]; then
    echo "         $title: done before, skipped"
    return
  elif [[ -d "$run" ]]; then
    resume=(--resume)  # from its newest checkpoint; from the start when it has none yet
  fi
  stage "$title" "$VRFT" train --config "$cfg" "${sets[@]}" "${resume[@]}"
  [[ -f "$run/latest" ]] || die "$title wrote no checkpoint ($run/latest)"
  touch "$run/DONE"
}

checkpoint() {  # RUN: the final checkpoint folder of a train_run
  if ((DRY_RUN)); then echo "$1/checkpoint-LAST"; else echo "$1/$(tr -d '[:space:]' <"$1/latest")"; fi
}

# eval_run DIR CONFIG MODEL [--set k=v ...]: `visual-rft eval` of MODEL into DIR (metrics.json).
eval_run() {
  local dir="$1" cfg="$2" model="$3"
  shift 3
  local sets=("$@" "${EVAL_SETS[@]}") title="eval ${dir#"$OUT"/}"
  RAN["$dir"]=1
  if ((DRY_RUN)); then
    "$VRFT" config show --config "$cfg" "${sets[@]}" >/dev/null || die "bad config for: $title"
    stage "$title" "$VRFT" eval --config "$cfg" --model "$model" "${sets[@]}" --out "$dir"
    return
  fi
  check_real eval "$cfg" "$@"
  if ((SMOKE)); then
    rm -rf "$dir"
  elif [[ -f "$dir/metrics.json" ]]; then
    echo "         $title: done before, skipped"
    return
  fi
  stage "$title" "$VRFT" eval --config "$cfg" --model "$model" "${sets[@]}" --out "$dir"
  [[ -f "$dir/metrics.json" ]] || die "$title wrote no $dir/metrics.json"
}

# ---- the table --------------------------------------------------------------------------------
# A row's cells name where our numbers come from (table.py's header lists the kinds); cells of an
# evaluation that did not run this time (no model of that size, a shot count not asked) are skip.

table_begin() {  # TITLE COLUMN...
  mkdir -p "$OUT"
  printf 'title\t%s\n' "$1" >"$OUT/table.spec"
  shift
  (IFS=$'\t' && printf 'columns\t%s\n' "$*") >>"$OUT/table.spec"
}
table_note() { printf 'note\t%s\n' "$*" >>"$OUT/table.spec"; }
table_row() {  # LABEL "PAPER VALUES" "CELLS" (tab-separated, one per column)
  printf 'row\t%s\t%s\t%s\n' "$1" "$2" "$3" >>"$OUT/table.spec"
}
ran() { [[ -n "${RAN[$1]:-}" ]]; }

# det_cells DIR CATEGORY_FILE: the notebook mAP and the per-category AP of each listed category.
det_cells() {
  local dir="$1" n
  if ! ran "$dir"; then
    n=$(grep -cv '^\s*\(#\|$\)' "$2")
    printf 'skip'; for ((i = 0; i < n; i++)); do printf '\tskip'; done
    return
  fi
  printf 'map:%s' "$dir"
  grep -v '^\s*\(#\|$\)' "$2" | while IFS= read -r name; do printf '\tap:%s:%s' "$dir" "$name"; done
}

table_write() {
  if ((SMOKE)); then
    table_note "Smoke run (--smoke): the tiny demo model in place of every Qwen2-VL, the synthetic world in place of the data sets (category columns: its categories in their list's order), $STEPS steps per run. The numbers only show that every stage ran."
  else
    table_note "Models: 2B \`${MODEL_2B:-none}\`, 7B \`${MODEL_7B:-none}\`; $([[ -n "$TRAINED" ]] && echo "SFT and Visual-RFT runs of $TRAINED" || echo "steps: ${STEPS:-as the configs}"). Every number: the metrics.json under $OUT."
  fi
  if ((DRY_RUN)); then
    echo "== $REPRO_NAME: dry run, every config checked; the table would come from $OUT/table.spec"
    return
  fi
  local check=()
  ((!SMOKE)) || check=(--require-numbers)  # smoke: every row that ran has numbers
  "$PY" "$REPRO_DIR/table.py" "${check[@]}" "$OUT/table.spec" "$OUT/table" || die "could not write the table"
  [[ -s "$OUT/table.md" ]] || die "no $OUT/table.md"
  echo "== $REPRO_NAME: $OUT/table.md ($SECONDS s)"
}

# ---- open vocabulary (Tables 7 and 8 share the trained models) --------------------------------

# train_base65 SIZE MODEL: SFT and Visual-RFT on COCO base 65 (configs/det_coco_ov_base65.yaml:
# 2 epochs, G = 8; 7B G = 4 as the reference's 7B_base65cate_6k.sh), into OUT/SIZE/{sft,rft},
# unless --trained DIR names the output of coco_ov.sh or lvis_ov.sh that holds them.
train_base65() {
  local size="$1" model="$2" method g=()
  [[ "$size" == 7b ]] && g=(--set rollout.num_generations=4)
  for method in sft rft; do
    if [[ -n "$TRAINED" ]]; then
      ((DRY_RUN)) || need_path "--trained run" "$TRAINED/$size/$method/DONE" "a finished coco_ov.sh or lvis_ov.sh output"
    else
      train_run "$OUT/$size/$method" "$ROOT/configs/det_coco_ov_base65.yaml" "$model" "$BASE65" "$method" "${g[@]}"
    fi
  done
}
base65_run() { echo "${TRAINED:-$OUT}/$1/$2"; }  # SIZE sft|rft: the run folder

# ---- the three rows of a table per model size ---------------------------------------------------

# baseline_sft_rft own|base65: for 2B and 7B, each given a model, the baseline, then SFT and
# Visual-RFT, each evaluated by the calling script's `evaluate DIR MODEL SIZE` in
# OUT/SIZE/{baseline,sft,rft}/eval. own: each method trained with CFG on OUT/data/train.jsonl
# into OUT/SIZE/METHOD (then evaluated); base65: both trained first on COCO base 65
# (train_base65, shared by Tables 7 and 8).
baseline_sft_rft() {
  local mode="$1" size model method run
  for size in 2b 7b; do
    model="$([[ "$size" == 2b ]] && echo "$MODEL_2B" || echo "$MODEL_7B")"
    [[ -n "$model" ]] || continue
    evaluate "$OUT/$size/baseline/eval" "$model" "$size"
    [[ "$mode" == base65 ]] && train_base65 "$size" "$model"
    for method in sft rft; do
      if [[ "$mode" == base65 ]]; then
        run="$(base65_run "$size" "$method")"
      else
        run="$OUT/$size/$method"
        train_run "$run" "$CFG" "$model" "$OUT/data/train.jsonl" "$method"
      fi
      evaluate "$OUT/$size/$method/eval" "$(checkpoint "$run")" "$size"
    done
  done
}
