#!/usr/bin/env bash
# scripts/test.sh: the README's test command. Sets up (idempotent), builds with the tests,
# and runs them all with ctest, printing the output of failing tests. CI runs this.
#
# usage: scripts/test.sh [extra ctest arguments, e.g. -R Config]
#   VRFT_BUILD_DIR  build folder (default: build)
#   VRFT_JOBS       parallel compile and test jobs (default: the number of cores)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="${VRFT_BUILD_DIR:-$ROOT/build}"
JOBS="${VRFT_JOBS:-$(nproc)}"

bash "$ROOT/scripts/setup.sh"
cmake -S "$ROOT" -B "$BUILD" -G Ninja -DVRFT_BUILD_TESTS=ON >/dev/null
cmake --build "$BUILD" -j "$JOBS"
# Tests run side by side: OpenMP threads that spin while they wait would steal the cores.
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-PASSIVE}"
ctest --test-dir "$BUILD" --output-on-failure -j "$JOBS" "$@"
