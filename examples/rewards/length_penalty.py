"""examples/rewards/length_penalty.py: reward functions in Python, as TRL users write them:
a length penalty, a VQA exact-match accuracy, and a check that a detection answer names the
asked category.

Name them in a config's rewards.functions next to the built-in rewards and point
rewards.python at this file:

    rewards:
      python: examples/rewards/length_penalty.py
      functions: [iou, confidence, format, length_penalty]
      weights: [1, 1, 1, 0.5]

Each function gets keyword arguments (prompts, problem, completions, completion_ids, solution,
image, task; one entry per completion) and returns one float per completion. `visual-rft score
--python FILE --functions NAME` tries them on a JSONL of completions.
"""
import re


def length_penalty(completions, **kwargs):
    """1 for a reasoning of at most 64 words inside <think>, falling linearly to 0 at 256."""
    out = []
    for text in completions:
        m = re.search(r"<think>(.*?)</think>", text, re.S)
        words = len(m.group(1).split()) if m else 256
        out.append(max(0.0, min(1.0, (256 - words) / (256 - 64))))
    return out


def answer_mentions_category(completions, problem, **kwargs):
    """1 when the answer names a word of the category the question asks about (det prompts)."""
    out = []
    for text, question in zip(completions, problem):
        m = re.search(r"category '([^']+)'", question)
        words = m.group(1).split() if m else []
        out.append(float(any(w in text for w in words)))
    return out


def _normalise(text):
    """VQA's answer normal form, simplified: lower case, no punctuation or articles, one space."""
    text = re.sub(r"[^\w\s]", " ", text.lower())
    return " ".join(w for w in text.split() if w not in ("a", "an", "the"))


def vqa_exact_match(completions, solution, **kwargs):
    """1 when the text inside <answer> equals the solution's (after _normalise), else 0; for VQA
    rows whose solution is <answer>short answer</answer>."""
    out = []
    for text, sol in zip(completions, solution):
        got = re.search(r"<answer>(.*?)</answer>", text, re.S)
        want = re.search(r"<answer>(.*?)</answer>", sol, re.S)
        want = want.group(1) if want else sol
        out.append(float(got is not None and _normalise(got.group(1)) == _normalise(want)))
    return out
