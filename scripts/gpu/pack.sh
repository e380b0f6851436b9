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

# stub_libs DIR SONAME...: each SONAME in DIR becomes a stub (see below), and the libraries of
# DIR that the binaries no longer reach are removed.
stub_libs() {
  local dir="$1" so sym n
  shift
  for so in "$@"; do
    # The symbols its users take from it: undefined in a user, defined in the real library.
    local users=() src=/tmp/vrft-pack-libs/stub.c
    for f in "$dir"/*.so*; do readelf -d "$f" | grep -q "(NEEDED).*\[$so\]" && [ "$(basename "$f")" != "$so" ] && users+=("$f"); done
    nm -D --undefined-only "${users[@]}" | awk '/ U / {print $2}' | sort -u > /tmp/vrft-pack-libs/wanted
    nm -D --defined-only "$dir/$so" | awk '{print $3}' | sort -u > /tmp/vrft-pack-libs/defined
    if grep -q @ <(comm -12 /tmp/vrft-pack-libs/wanted /tmp/vrft-pack-libs/defined); then
      echo "pack: a versioned symbol is taken from $so; stub it by hand" >&2; exit 1
    fi
    : > "$src"
    n=0
    while read -r sym; do
      printf 'long s%d(void) __asm__("%s");\nlong s%d(void) { return 0; }\n' $n "$sym" $n >> "$src"
      n=$((n + 1))
    done < <(comm -12 /tmp/vrft-pack-libs/wanted /tmp/vrft-pack-libs/defined)
    gcc -shared -fPIC -O1 -Wl,-soname,"$so" -o "$dir/$so" "$src"
    echo "pack: $so stubbed ($n symbols for ${#users[@]} users)"
  done
  # What the binaries reach now, following NEEDED through DIR.
  local -A seen=()
  local todo=("$BUILD/visual-rft" "$BUILD/tests/test_decode")
  while ((${#todo[@]})); do
    local f="${todo[0]}"
    todo=("${todo[@]:1}")
    for so in $(readelf -d "$f" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); do
      [[ -f "$dir/$so" && -z "${seen[$so]:-}" ]] && { seen[$so]=1; todo+=("$dir/$so"); }
    done
  done
  for f in "$dir"/*; do [[ -n "${seen[$(basename "$f")]:-}" ]] || rm -f "$f"; done
  echo "pack: $(ls "$dir" | wc -l) libraries kept"
}

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
# OpenCV's imgcodecs links GDAL and GDCM (GIS rasters, DICOM), which pull in some 90 more
# libraries (ICU, poppler, HDF5, database clients, ...): about 60 % of the pack, for decoders
# visual-rft never asks for (PNG and JPEG only). They are replaced by stubs of the same soname
# that define the symbols imgcodecs takes from them (it is linked BIND_NOW, so each must exist)
# as functions that return 0: imgcodecs calls GDALAllRegister() when it sets up its decoders,
# and the rest only for GDAL or DICOM files. Only the libraries still reached are packed.
stub_libs "/tmp/vrft-pack-libs/lib" libgdal.so.32 libgdcmMSFF.so.3.0 libgdcmDSED.so.3.0
tar -C /tmp/vrft-pack-libs -cf - lib | xz -T2 -9 > "$PACK/libs.tar.xz"
# The call's working tree is limited to 64 MiB: the data travel xz-compressed too.
cp "$FIX/qwen2_5/tokenizer.json" "$FIX/qwen2_5/tokenizer_config.json" "$FIX/images/apple.jpg" "$FIX/images/baboon.jpg" "$PACK/data/"
tar -C "$PACK" -cf - data | xz -T2 -9 > "$PACK/data.tar.xz" && rm -rf "$PACK/data"
du -sh "$PACK" "$PACK"/*
