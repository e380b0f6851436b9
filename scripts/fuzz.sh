#!/usr/bin/env bash
# scripts/fuzz.sh: build a libFuzzer target with clang (ASan + UBSan) and run it.
# Not part of CI: fuzzing runs as long as you let it.
#
# usage: scripts/fuzz.sh TARGET [SECONDS]      TARGET: safetensors_header | rewards
# The corpus lives in fuzz-corpus/TARGET (git-ignored); crashes are written to the current
# folder as crash-*, and the script exits non-zero when one is found.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TARGET="${1:?usage: scripts/fuzz.sh TARGET [SECONDS]}"
SECONDS_TO_RUN="${2:-60}"
command -v clang++ >/dev/null || { echo "fuzz.sh: clang++ is needed (apt-get install clang)" >&2; exit 1; }

case "$TARGET" in
  safetensors_header)
    SOURCES=(tests/fuzz/fuzz_safetensors_header.cpp src/core/safetensors_header.cpp src/core/error.cpp); LIBS=() ;;
  rewards)
    SOURCES=(tests/fuzz/fuzz_rewards.cpp src/reward/answer.cpp src/reward/rewards.cpp src/core/utf8.cpp
             src/core/error.cpp src/core/fs.cpp); LIBS=(-lutf8proc) ;;
  *) echo "fuzz.sh: unknown target '$TARGET' (safetensors_header, rewards)" >&2; exit 1 ;;
esac

OUT="$ROOT/build-fuzz"
CORPUS="$ROOT/fuzz-corpus/$TARGET"
mkdir -p "$OUT" "$CORPUS"
cd "$ROOT"
clang++ -std=c++17 -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
  -Iinclude "${SOURCES[@]}" "${LIBS[@]}" -o "$OUT/fuzz_$TARGET"

# Seed the corpus with a few valid files so the fuzzer starts past the length check.
if [[ "$TARGET" == safetensors_header && -z "$(ls -A "$CORPUS")" ]]; then
  "$ROOT/.venv/bin/python" "$ROOT/scripts/refs/safetensors_refs.py" make "$OUT/seed"
  cp "$OUT/seed/py_dtypes.safetensors" "$CORPUS/"
  cp "$OUT/seed/py_sharded/"*.safetensors "$CORPUS/"
fi
if [[ "$TARGET" == rewards && -z "$(ls -A "$CORPUS")" ]]; then
  printf '\x00<think>x</think><answer>[{'"'"'Position'"'"': [100, 100, 200, 180], '"'"'Confidence'"'"': 0.5}]</answer>' > "$CORPUS/det"
  printf '\x02<think>x</think><answer>daisy</answer>' > "$CORPUS/cls"
  printf '\x03<think>x</think><answer>(100,100),(200,180)</answer>' > "$CORPUS/ground"
fi
"$OUT/fuzz_$TARGET" -max_total_time="$SECONDS_TO_RUN" -max_len=4096 -print_final_stats=1 "$CORPUS"
