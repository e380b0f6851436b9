#!/usr/bin/env python3
"""Tokenizer throughput: visual-rft against the `tokenizers` package, same corpus, one thread.

usage: tokenize_vs_hf.py [--tokenizer PATH] [--n 20000] [--repeat 3] [--vrft build/visual-rft]

Makes the test corpus (scripts/refs/tokenizer_refs.py), times `tokenizers` encoding every
text one at a time on one thread (RAYON_NUM_THREADS=1), runs `visual-rft bench tokenize` on
the same file and prints both and the ratio.
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile
import time

os.environ["RAYON_NUM_THREADS"] = "1"
os.environ["TOKENIZERS_PARALLELISM"] = "false"
import json  # noqa: E402

from tokenizers import Tokenizer  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tokenizer", default=os.path.join(ROOT, "tests", "fixtures", "qwen2_5", "tokenizer.json"))
    ap.add_argument("--n", type=int, default=20000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--vrft", default=os.path.join(ROOT, "build", "visual-rft"))
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "refs", "tokenizer_refs.py"), a.tokenizer, d,
                        "--n", str(a.n)], check=True)
        corpus = os.path.join(d, "encode.jsonl")
        texts = [json.loads(l)["text"] for l in open(corpus)]
        mb = sum(len(t.encode()) for t in texts) / 1e6
        t0 = time.perf_counter()
        tok = Tokenizer.from_file(a.tokenizer)
        load = time.perf_counter() - t0
        best = 1e30
        for r in range(a.repeat + 1):
            t0 = time.perf_counter()
            n = sum(len(tok.encode(t, add_special_tokens=False).ids) for t in texts)
            best = min(best, time.perf_counter() - t0) if r > 0 else best
        print(f"tokenizers: {len(texts)} texts, {mb:.2f} MB, {n} tokens; load {load:.2f} s; best of {a.repeat} "
              f"{best:.3f} s = {mb / best:.2f} MB/s (one thread)")
        out = subprocess.run([a.vrft, "bench", "tokenize", "--tokenizer", a.tokenizer, "--corpus", corpus,
                              "--repeat", str(a.repeat)], check=True, capture_output=True, text=True).stdout
        print(out.strip())
        ours = float(re.search(r"best of \d+ ([0-9.]+) s", out).group(1))
        print(f"ratio: visual-rft is {best / ours:.2f}x the speed of tokenizers (same corpus, one thread)")


if __name__ == "__main__":
    main()
