#!/usr/bin/env bash
# scripts/test.sh: the README's test command. Sets up (idempotent), checks the C++ formatting
# (.clang-format; scripts/format.sh fixes it), builds with the tests, runs them all with ctest
# printing the output of failing tests, and builds the library and CLI once more without the
# unity build (in build-nounity/), so that a file relying on another file's includes fails
# here (about 15 minutes more on 2 cores the first time; ccache makes later runs quick).
# CI runs this.
#
# usage: scripts/test.sh [extra ctest arguments, e.g. -R Config]
#   VRFT_BUILD_DIR  build folder (default: build)
#   VRFT_JOBS       parallel compile and test jobs (default: the number of cores)
#   VRFT_NOUNITY=0  skip the build without the unity build (a quicker local run)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="${VRFT_BUILD_DIR:-$ROOT/build}"
JOBS="${VRFT_JOBS:-$(nproc)}"

bash "$ROOT/scripts/setup.sh"
# Formatting first: a diff fails at once and names the file and line.
(cd "$ROOT" && find include src tests -name '*.h' -o -name '*.cpp' | sort | xargs clang-format --dry-run --Werror) ||
  { echo "test.sh: C++ formatting differs from .clang-format: run scripts/format.sh" >&2; exit 1; }
cmake -S "$ROOT" -B "$BUILD" -G Ninja -DVRFT_BUILD_TESTS=ON >/dev/null
cmake --build "$BUILD" -j "$JOBS"
# Tests run side by side: OpenMP threads that spin while they wait would steal the cores.
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-PASSIVE}"
ctest --test-dir "$BUILD" --output-on-failure -j "$JOBS" "$@"
if [[ "${VRFT_NOUNITY:-1}" != 0 ]]; then
  cmake -S "$ROOT" -B "$ROOT/build-nounity" -G Ninja -DVRFT_UNITY=OFF -DVRFT_BUILD_TESTS=OFF >/dev/null
  cmake --build "$ROOT/build-nounity" -j "$JOBS" --target visual-rft
fi
