#!/usr/bin/env bash
# scripts/gpu/pack.sh: prepare gpu-pack/ (git-ignored) for a GPU machine that has CUDA,
# PyTorch 2.11 (+cu130, the same LibTorch as our venv) and nvcc, but none of our
# Debian libraries and no network. Building there would need OpenCV's whole dependency
# closure (GDAL, ...) anyway, so the binaries are built here against the venv's CUDA-enabled
# LibTorch, stripped, and shipped with the shared libraries they need besides LibTorch and
# glibc (xz-compressed), the fixture tokenizer and two photos:
#   scripts/gpu/pack.sh                  (here)
#   bash scripts/gpu/check.sh            (there, with gpu-pack/ in the checkout)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BUILD="${BUILD:-$ROOT/build}"
PACK="$ROOT/gpu-pack"
FIX="$ROOT/tests/fixtures"
cmake --build "$BUILD" -j2 --target visual-rft test_decode
rm -rf "$PACK" && mkdir -p "$PACK/bin" "$PACK/data" /tmp/vrft-pack-libs
strip -o "$PACK/bin/visual-rft" "$BUILD/visual-rft"
strip -o "$PACK/bin/test_decode" "$BUILD/tests/test_decode"
rm -rf /tmp/vrft-pack-libs/lib && mkdir -p /tmp/vrft-pack-libs/lib
for bin in "$BUILD/visual-rft" "$BUILD/tests/test_decode"; do
  ldd "$bin" | awk '/=> \// {print $3}' |
    grep -v -E 'torch/lib|/nvidia/|/libc\.so|/libm\.so|/libstdc\+\+|/libgcc_s|ld-linux|/libpthread|/libdl\.so|/librt\.so' |
    while read -r lib; do cp -L -n "$lib" /tmp/vrft-pack-libs/lib/; done
done
tar -C /tmp/vrft-pack-libs -cf - lib | xz -T2 -9 > "$PACK/libs.tar.xz"
# The call's working tree is limited to 64 MiB: the data travel xz-compressed too.
cp "$FIX/qwen2_5/tokenizer.json" "$FIX/qwen2_5/tokenizer_config.json" "$FIX/images/apple.jpg" "$FIX/images/baboon.jpg" "$PACK/data/"
tar -C "$PACK" -cf - data | xz -T2 -9 > "$PACK/data.tar.xz" && rm -rf "$PACK/data"
du -sh "$PACK" "$PACK"/*
