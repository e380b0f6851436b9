#!/usr/bin/env python3
"""Reference ids for tests/text/test_tokenizer.cpp, made with the `tokenizers` package.

usage: tokenizer_refs.py TOKENIZER_JSON OUTDIR [--n 20000] [--seed 0]

Writes OUTDIR/encode.jsonl ({"text", "ids"} per line: a generated corpus of several scripts
and languages, code, emoji and combining marks, runs of spaces/tabs/newlines, digits and
special tokens inside text) and OUTDIR/decode.jsonl ({"ids", "skip", "text"}: random id
sequences, many cutting characters in half, decoded with and without skip_special_tokens).
"""
import argparse
import json
import os
import random

from tokenizers import Tokenizer

SCRIPTS = {
    "latin": "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZéèêëàâîïôöûüçñßøåæœ",
    "cyrillic": "абвгдеёжзийклмнопрстуфхцчшщъыьэюяАБВГДЕЖЗИЙКЛМН",
    "greek": "αβγδεζηθικλμνξοπρστυφχψωΑΒΓΔΕΖΗΘ",
    "cjk": "的一是不了人我在有他这中大来上国个到说们为子和你地出道也时年得就那要下以生会自着去之过家学对可她里后小么心多天而能好都然没日于起还发成事只作当想看文无开手十用主行方又如前所本见经头面公同三已老从动两长知民样现分将外但身些与高意进把法此实回二理美点月明",
    "japanese": "あいうえおかきくけこさしすせそたちつてとなにぬねのアイウエオカキクケコサシスセソ",
    "korean": "가나다라마바사아자차카타파하한국어안녕하세요감사합니다",
    "arabic": "ابتثجحخدذرزسشصضطظعغفقكلمنهوي",
    "hebrew": "אבגדהוזחטיכלמנסעפצקרשת",
    "devanagari": "अआइईउऊएऐओऔकखगघचछजझटठडढणतथदधनपफबभमयरलवशषसह्ािीुूेैोौं",
    "thai": "กขคงจฉชซญดตถทนบปผพฟภมยรลวศษสหอฮะาิีึืุู่้๊๋",
}
EMOJI = ["😀", "🚀", "👍🏽", "👨‍👩‍👧‍👦", "🏳️‍🌈", "❤️", "🇫🇷", "🤖", "✨", "🙏🏿"]
COMBINING = ["e\u0301", "a\u0308", "n\u0303", "o\u0302\u0323", "\u1100\u1161\u11a8", "A\u030a", "c\u0327"]
SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|image_pad|>",
           "<|vision_end|>", "<tool_call>", "</tool_call>", "<|fim_prefix|>"]
SPACES = [" ", "  ", "\t", "\n", "\n\n", "\r\n", " \n ", "\u00a0", "\u3000", "\u2009", "\u200b", "\u0085", "   \t\t"]
CODE = ["def f(x):\n    return x**2\n", "for (int i = 0; i < n; ++i) { a[i] += b[i]; }",
        "SELECT * FROM t WHERE id = 42;", "{\"key\": [1, 2.5e-3, null]}", "x <<= 3 && y != 0x1F",
        "#include <vector>\n", "if __name__ == '__main__':", "$ ls -la | grep '.py'"]
WORDS = ["I'm", "you're", "it's", "we've", "they'll", "he'd", "DON'T", "The", "quick", "brown", "fox",
         "jumps", "over", "lazy", "dog", "Hello", "world", "tokenizer", "Qwen2-VL", "GRPO", "<answer>",
         "</think>", "[{'Position': [1, 2, 3, 4], 'Confidence': 0.9}]", "3.14159", "1,000,000", "2025-03-01",
         "e-mail@example.com", "https://example.org/a?b=c", "naïve", "café", "Ωmega", "x²", "½", "١٢٣", "१२३"]


def piece(rng):
    r = rng.random()
    if r < 0.30:
        return rng.choice(WORDS)
    if r < 0.50:
        alphabet = SCRIPTS[rng.choice(list(SCRIPTS))]
        return "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 8)))
    if r < 0.58:
        return "".join(str(rng.randint(0, 9)) for _ in range(rng.randint(1, 12)))
    if r < 0.64:
        return rng.choice(EMOJI)
    if r < 0.70:
        return rng.choice(COMBINING)
    if r < 0.75:
        return rng.choice(SPECIAL)
    if r < 0.80:
        return rng.choice(CODE)
    if r < 0.84:
        return "".join(rng.choice("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~") for _ in range(rng.randint(1, 4)))
    if r < 0.88:  # random BMP code points outside the surrogates
        cps = [rng.randint(0x20, 0xFFFD) for _ in range(rng.randint(1, 4))]
        return "".join(chr(c) for c in cps if not 0xD800 <= c <= 0xDFFF)
    return rng.choice(SPACES)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("tokenizer")
    ap.add_argument("out")
    ap.add_argument("--n", type=int, default=20000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    tok = Tokenizer.from_file(args.tokenizer)
    rng = random.Random(args.seed)
    texts = []
    for i in range(args.n):
        parts = [piece(rng) for _ in range(rng.randint(1, 12))]
        sep = "" if rng.random() < 0.3 else " "
        texts.append(sep.join(parts))
    tmp = os.path.join(args.out, "encode.jsonl.tmp")
    with open(tmp, "w") as fh:
        for t in texts:
            fh.write(json.dumps({"text": t, "ids": tok.encode(t, add_special_tokens=False).ids}) + "\n")
    vocab = tok.get_vocab_size()
    tmp2 = os.path.join(args.out, "decode.jsonl.tmp")
    with open(tmp2, "w") as fh:
        for i in range(2000):
            ids = [rng.randint(0, 151642) if rng.random() < 0.85 else rng.randint(151643, vocab - 1)
                   for _ in range(rng.randint(1, 10))]
            for skip in (False, True):
                fh.write(json.dumps({"ids": ids, "skip": skip, "text": tok.decode(ids, skip_special_tokens=skip)}) + "\n")
    os.replace(tmp2, os.path.join(args.out, "decode.jsonl"))
    os.replace(tmp, os.path.join(args.out, "encode.jsonl"))  # tests look for this one last


if __name__ == "__main__":
    main()
