#!/usr/bin/env bash
# scripts/gpu/pack_deps.sh: copy the Debian build dependencies that the GPU machine lacks
# (it has CMake, nvcc and PyTorch, but no -dev packages and no network) into gpu-deps/
# (git-ignored), keeping their paths, so the device tool can carry them:
#   run(command="bash scripts/gpu/check.sh", carry=["gpu-deps"])
# The copies keep their CMake config files, which find their prefix relative to themselves.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
OUT="$ROOT/gpu-deps"
PACKAGES=(libyaml-cpp-dev libyaml-cpp0.7 nlohmann-json3-dev libcli11-dev libspdlog-dev libspdlog1.10
          libfmt-dev libfmt9 libutf8proc-dev libutf8proc2 libgtest-dev)
rm -rf "$OUT"
mkdir -p "$OUT"
for pkg in "${PACKAGES[@]}"; do
  dpkg -L "$pkg" | while read -r f; do
    [[ -f "$f" || -L "$f" ]] || continue
    case "$f" in /usr/share/doc/*|/usr/share/man/*|/usr/src/*) continue ;; esac
    mkdir -p "$OUT$(dirname "$f")"
    cp -a "$f" "$OUT$f"
  done
done
du -sh "$OUT"
