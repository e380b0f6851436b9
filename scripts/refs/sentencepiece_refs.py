#!/usr/bin/env python3
"""Reference ids for tests/text/test_sentencepiece.cpp, made with the Python `sentencepiece`
package (its own trainer and processor).

usage: sentencepiece_refs.py OUTDIR [--n 5000]

Trains two small models on text of the tokenizer corpus generator (tokenizer_refs.piece:
several scripts, code, emoji, combining marks, whitespace runs): a unigram model and a BPE
model with byte fallback, both with the Qwen chat tokens as user-defined pieces. Writes
OUTDIR/{unigram,bpe}.model and OUTDIR/{unigram,bpe}.jsonl: {"text", "ids", "decoded"} for
N texts the models were not trained on, then {"ids", "skip", "text"} for random id sequences.
"""
import argparse
import json
import os
import random
import sys

import sentencepiece as spm

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tokenizer_refs import piece  # noqa: E402  (the same generator as the BPE corpus)

SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>", "<|image_pad|>"]


def texts(rng, n):
    out = []
    for _ in range(n):
        parts = [piece(rng) for _ in range(rng.randint(1, 12))]
        out.append(("" if rng.random() < 0.3 else " ").join(parts))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--n", type=int, default=5000)
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    train = texts(random.Random(1), 20000)
    test = texts(random.Random(2), a.n)
    for kind, extra in (("unigram", {}), ("bpe", {"byte_fallback": True})):
        prefix = os.path.join(a.out, kind)
        spm.SentencePieceTrainer.train(sentence_iterator=iter(train), model_prefix=prefix, model_type=kind,
                                       vocab_size=6000, character_coverage=0.98, user_defined_symbols=SPECIAL,
                                       minloglevel=2, num_threads=1, **extra)
        sp = spm.SentencePieceProcessor(model_file=prefix + ".model")
        rng = random.Random(3)
        special = lambda i: sp.is_control(i) or sp.is_unknown(i) or sp.IdToPiece(i) in SPECIAL
        with open(prefix + ".jsonl.tmp", "w") as fh:
            for t in test:
                ids = sp.encode(t)
                fh.write(json.dumps({"text": t, "ids": ids, "decoded": sp.decode(ids)}) + "\n")
            for _ in range(1000):
                ids = [rng.randrange(sp.get_piece_size()) for _ in range(rng.randint(1, 10))]
                for skip in (False, True):
                    keep = [i for i in ids if not (skip and special(i))]
                    fh.write(json.dumps({"ids": ids, "skip": skip, "text": sp.decode(keep)}) + "\n")
        os.replace(prefix + ".jsonl.tmp", prefix + ".jsonl")


if __name__ == "__main__":
    main()
