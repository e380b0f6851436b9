#!/usr/bin/env python3
"""scripts/repro/table.py: our numbers beside the paper's, from the runs' metrics.json files.

Reads a tab-separated spec (written by table_* in common.sh) and writes OUT.md and OUT.json:

  title <TAB> text                     the table's heading
  note <TAB> text                      a line under the table (repeatable)
  columns <TAB> name <TAB> name ...    the metric columns
  row <TAB> label <TAB> paper values (space-separated, '-' for none) <TAB> cell <TAB> cell ...

Each cell names where our number comes from (DIR is an evaluation folder with metrics.json):
  acc:DIR          classification accuracy, the reference's rule (accuracy_reference), %
  map:DIR          the reference notebook's mAP of the selected categories (reference_map), %
  ap:DIR:NAME      one category's AP as the notebook computes it (COCO: ap; LVIS: ap_all_areas), %
  mapof:DIR:FILE   the mean of those APs over the categories of FILE (one a line, # comments)
                   that have truth in the evaluated images (the others have no AP), %
  miou:DIR         grounding mIoU, the reference's rule (miou), %
  avg              the mean of the row's other numbers (Table 2's Avg column)
  skip             not run (no model of that size given, or a shot count not asked for)
  -                not measured by visual-rft (e.g. LISA's SAM-based gIoU)
A cell whose metrics.json is missing is an error: the table is only written from finished runs.
With --require-numbers, so is a row that ran (not all skip) without a single number.
usage: table.py [--require-numbers] SPEC OUT_PREFIX
"""
import json
import math
import os
import sys


def fail(msg):
    sys.exit(f"table.py: {msg}")


_metrics = {}


def metrics(d):
    path = os.path.join(d, "metrics.json")
    if path not in _metrics:
        if not os.path.exists(path):
            fail(f"missing {path}: that evaluation did not run or failed")
        with open(path, encoding="utf-8") as f:
            _metrics[path] = json.load(f)
    return _metrics[path]


def notebook_ap(m, name, d):
    for c in m.get("per_category", []):
        if c["name"] == name:
            ap = c["ap_all_areas"] if "ap_all_areas" in c else c["ap"]
            return math.nan if ap is None or ap < 0 else 100.0 * ap  # -1: no truth (NaN in the notebook)
    fail(f"{d}/metrics.json has no category '{name}'")


def names_of(path):
    with open(path, encoding="utf-8") as f:
        return [s.strip() for s in f if s.strip() and not s.lstrip().startswith("#")]


def value(cell):
    kind, _, rest = cell.partition(":")
    if kind == "acc":
        return 100.0 * metrics(rest)["accuracy_reference"]
    if kind == "miou":
        return 100.0 * metrics(rest)["miou"]
    if kind == "map":
        v = metrics(rest)["reference_map"]
        return math.nan if v is None else float(v)
    if kind in ("ap", "mapof"):
        d, _, arg = rest.partition(":")
        m = metrics(d)
        if kind == "ap":
            return notebook_ap(m, arg, d)
        aps = [v for v in (notebook_ap(m, n, d) for n in names_of(arg)) if not math.isnan(v)]
        return sum(aps) / len(aps) if aps else math.nan
    fail(f"unknown cell '{cell}'")


def main():
    args = sys.argv[1:]
    require_numbers = "--require-numbers" in args
    args = [a for a in args if a != "--require-numbers"]
    if len(args) != 2:
        fail("usage: table.py [--require-numbers] SPEC OUT_PREFIX")
    spec, out = args
    title, notes, columns, rows = "", [], [], []
    with open(spec, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            parts = line.rstrip("\n").split("\t")
            if parts[0] == "title":
                title = parts[1]
            elif parts[0] == "note":
                notes.append(parts[1])
            elif parts[0] == "columns":
                columns = parts[1:]
            elif parts[0] == "row":
                label, paper, cells = parts[1], parts[2].split(), parts[3:]
                if len(paper) != len(columns) or len(cells) != len(columns):
                    fail(f"{spec}:{n}: row '{label}' needs {len(columns)} paper values and cells")
                ours = [None if c in ("skip", "-", "avg") else value(c) for c in cells]
                measured = [v for v in ours if v is not None and not math.isnan(v)]
                for i, c in enumerate(cells):
                    if c == "avg" and all(x not in ("skip", "-") for x in cells):
                        ours[i] = sum(measured) / len(measured) if measured else math.nan
                if require_numbers and any(c not in ("skip", "-") for c in cells) and not measured:
                    fail(f"row '{label}' ran but has no number: {cells}")
                rows.append({"label": label, "paper": paper, "cells": cells, "ours": ours})
            elif parts[0]:
                fail(f"{spec}:{n}: unknown line '{parts[0]}'")

    def show(v, cell):
        if v is None:
            return "not run" if cell == "skip" else "—"
        return "n/a" if math.isnan(v) else f"{v:.1f}"

    md = [f"# {title}", "", "| model | | " + " | ".join(columns) + " |", "|---|---|" + "---:|" * len(columns)]
    for r in rows:
        md.append(f"| {r['label']} | paper | " + " | ".join(r["paper"]) + " |")
        md.append("| | ours | " + " | ".join(show(v, c) for v, c in zip(r["ours"], r["cells"])) + " |")
    md += [""] + notes
    text = "\n".join(md) + "\n"
    with open(out + ".md", "w", encoding="utf-8") as f:
        f.write(text)
    js = {"title": title, "columns": columns, "notes": notes,
          "rows": [{"label": r["label"], "paper": [None if p == "-" else float(p) for p in r["paper"]],
                    "ours": [None if v is None or math.isnan(v) else v for v in r["ours"]]} for r in rows]}
    with open(out + ".json", "w", encoding="utf-8") as f:
        json.dump(js, f, indent=1)
        f.write("\n")
    sys.stdout.write(text)


if __name__ == "__main__":
    main()
