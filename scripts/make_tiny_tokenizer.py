#!/usr/bin/env python3
"""scripts/make_tiny_tokenizer.py: the demo model's own small tokenizer (issue #9).

A byte-level BPE with Qwen2's normaliser (NFC), pre-tokenizer (the Qwen2 split regex, then
byte-level) and decoder, trained by the `tokenizers` package on the text of a synthetic world
(`visual-rft data synth`: every problem and solution of every task and split) plus the chat
template's fixed text. The 14 special tokens of Qwen2-VL come first (ids 0..13), so the
model's config names them by these ids (`visual-rft model init` reads them back by name).
visual-rft's own tokenizer loads the file like Qwen2's (same regex, same byte-level scheme);
a vocabulary of ~1k instead of 151,936 is what makes the demo model's lm_head cheap.

  .venv/bin/python scripts/make_tiny_tokenizer.py --data SYNTH_DIR --out DIR [--vocab-size 640]

writes DIR/tokenizer.json and DIR/tokenizer_config.json. The same data and vocabulary size
give the same file (the trainer's ties are broken deterministically).
"""
import argparse
import glob
import json
import os
import sys

from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

QWEN2_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
                 r"|\s*[\r\n]+|\s+(?!\S)|\s+")
SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|object_ref_start|>", "<|object_ref_end|>",
            "<|box_start|>", "<|box_end|>", "<|quad_start|>", "<|quad_end|>", "<|vision_start|>",
            "<|vision_end|>", "<|vision_pad|>", "<|image_pad|>", "<|video_pad|>"]
# The chat template's own text (text/chat_template.cpp): the default system turn and the roles.
TEMPLATE_TEXT = ["system\nYou are a helpful assistant.", "user\n", "assistant\n", "Picture 1: "]


def corpus(data_dir):
    files = sorted(glob.glob(os.path.join(data_dir, "*", "*.jsonl")))
    if not files:
        sys.exit(f"make_tiny_tokenizer: no <task>/<split>.jsonl under {data_dir} (run visual-rft data synth first)")
    for path in files:
        with open(path, encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                try:
                    row = json.loads(line)
                    yield row["problem"]
                    yield row["solution"]
                except (json.JSONDecodeError, KeyError) as e:
                    sys.exit(f"make_tiny_tokenizer: {path}:{n}: not a Visual-RFT row ({e})")
    yield from TEMPLATE_TEXT * 100


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True, help="a visual-rft data synth folder")
    ap.add_argument("--out", required=True, help="output folder")
    ap.add_argument("--vocab-size", type=int, default=640)
    a = ap.parse_args()

    tok = Tokenizer(models.BPE())
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(QWEN2_PATTERN), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False)])
    tok.decoder = decoders.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False)
    trainer = trainers.BpeTrainer(vocab_size=a.vocab_size, special_tokens=SPECIALS, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), min_frequency=2)
    tok.train_from_iterator(corpus(a.data), trainer)
    os.makedirs(a.out, exist_ok=True)
    tok.save(os.path.join(a.out, "tokenizer.json"))
    with open(os.path.join(a.out, "tokenizer_config.json"), "w") as f:
        json.dump({"tokenizer_class": "PreTrainedTokenizerFast", "eos_token": "<|im_end|>",
                   "pad_token": "<|endoftext|>", "model_max_length": 32768}, f, indent=2)
        f.write("\n")
    print(f"make_tiny_tokenizer: {tok.get_vocab_size()} tokens -> {a.out}/tokenizer.json")


if __name__ == "__main__":
    main()
