"""Joins Visual-RFT jsonl files into one training file (used by scripts/make_demo_model.sh).

  python scripts/lib/join_rows.py OUT.jsonl [--sole] FILE.jsonl...

Each row's image path, relative to its own file's folder, is made absolute, so that rows of
several `visual-rft data synth` folders can live in one file. With --sole only the grounding
rows that ask for "the only X" of an image are kept (the synthetic world's questions whose
answer is the one object of a category: a grounding stage of their own teaches the model to
find a named object). The file is written whole or not at all.
"""
import argparse
import json
import os
import sys

SOLE = "instruction: the only "


def join(out, files, sole):
    """Writes the kept rows of `files` to the open file `out`; returns how many."""
    rows = 0
    for path in files:
        folder = os.path.dirname(os.path.abspath(path))
        with open(path, encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                try:
                    row = json.loads(line)
                    row["image"] = os.path.join(folder, row["image"])
                    keep = not sole or SOLE in row["problem"]
                except (json.JSONDecodeError, KeyError, TypeError) as e:
                    raise ValueError(f"{path}:{n}: not a Visual-RFT row ({e})")
                if keep:
                    out.write(json.dumps(row) + "\n")
                    rows += 1
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out")
    ap.add_argument("files", nargs="+")
    ap.add_argument("--sole", action="store_true", help='keep only "the only X" grounding rows')
    a = ap.parse_args()
    partial = a.out + ".partial"
    try:
        with open(partial, "w", encoding="utf-8") as out:
            rows = join(out, a.files, a.sole)
        if rows == 0:
            raise ValueError(f"no rows to write to {a.out}")
    except (OSError, ValueError) as e:
        if os.path.exists(partial):
            os.remove(partial)
        sys.exit(f"join_rows: {e}")
    os.replace(partial, a.out)
    print(f"join_rows: {rows} rows -> {a.out}")


if __name__ == "__main__":
    main()
