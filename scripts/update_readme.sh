#!/usr/bin/env bash
# scripts/update_readme.sh: regenerate README.md's config reference from the code's one
# declaration of every key (visual-rft config schema --format markdown). A test fails while
# the README is stale.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VRFT="${VRFT:-$ROOT/build/visual-rft}"
TABLE="$("$VRFT" config schema --format markdown)"
python3 - "$ROOT/README.md" "$TABLE" <<'PY'
import sys
path, table = sys.argv[1], sys.argv[2] + "\n"
begin, end = "<!-- config-reference:begin -->\n", "<!-- config-reference:end -->"
text = open(path).read()
b, e = text.index(begin) + len(begin), text.index(end)
open(path, "w").write(text[:b] + table + text[e:])
PY
echo "README.md config reference updated"
