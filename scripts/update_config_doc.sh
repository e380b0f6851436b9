#!/usr/bin/env bash
# scripts/update_config_doc.sh: regenerate docs/config.md's reference from the code's one
# declaration of every key (visual-rft config schema --format markdown). A test fails while
# the page is stale.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VRFT="${VRFT:-$ROOT/build/visual-rft}"
TABLE="$("$VRFT" config schema --format markdown)"
python3 - "$ROOT/docs/config.md" "$TABLE" <<'PY'
import sys
path, table = sys.argv[1], sys.argv[2] + "\n"
begin, end = "<!-- config-reference:begin -->\n", "<!-- config-reference:end -->"
text = open(path).read()
b, e = text.index(begin) + len(begin), text.index(end)
open(path, "w").write(text[:b] + table + text[e:])
PY
echo "docs/config.md updated"
