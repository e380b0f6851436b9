#!/usr/bin/env bash
# scripts/format.sh: clang-format every C++ file of the project in place.
set -euo pipefail
cd "$(dirname "$0")/.."
find include src tests -name '*.h' -o -name '*.cpp' | xargs clang-format -i
