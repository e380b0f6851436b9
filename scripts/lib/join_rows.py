"""Joins Visual-RFT jsonl files into one training file (used by scripts/make_demo_model.sh).

  python scripts/lib/join_rows.py OUT.jsonl [--sole | --compare] FILE.jsonl...

Each row's image path, relative to its own file's folder, is made absolute, so that rows of
several `visual-rft data synth` folders can live in one file. With --sole only the grounding
rows that ask for "the only X" of an image are kept (the synthetic world's questions whose
answer is the one object of a category: a grounding stage of their own teaches the model to
find a named object); with --compare only the other grounding rows, those that compare the
objects of an image ("the largest object", "the leftmost object", "the object with the most
corners", "the largest object that is not red": a stage of their own teaches the model to
compare). The file is written whole or not at all.
"""
import argparse
import json
import os
import sys

SOLE = "instruction: the only "
GROUND = "Output the bounding box in the image corresponding to the instruction: "


def kept(problem, keep):
    """Whether a row of this problem text is kept: keep is all, sole or compare."""
    if keep == "sole":
        return SOLE in problem
    if keep == "compare":
        return problem.startswith(GROUND) and SOLE not in problem
    return True


def join(out, files, keep):
    """Writes the kept rows of `files` to the open file `out`; returns how many."""
    rows = 0
    for path in files:
        folder = os.path.dirname(os.path.abspath(path))
        with open(path, encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                try:
                    row = json.loads(line)
                    row["image"] = os.path.join(folder, row["image"])
                    take = kept(row["problem"], keep)
                except (json.JSONDecodeError, KeyError, TypeError) as e:
                    raise ValueError(f"{path}:{n}: not a Visual-RFT row ({e})")
                if take:
                    out.write(json.dumps(row) + "\n")
                    rows += 1
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out")
    ap.add_argument("files", nargs="+")
    which = ap.add_mutually_exclusive_group()
    which.add_argument("--sole", action="store_true", help='keep only "the only X" grounding rows')
    which.add_argument("--compare", action="store_true", help='keep only the other grounding rows (they compare objects)')
    a = ap.parse_args()
    keep = "sole" if a.sole else "compare" if a.compare else "all"
    partial = a.out + ".partial"
    try:
        with open(partial, "w", encoding="utf-8") as out:
            rows = join(out, a.files, keep)
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
