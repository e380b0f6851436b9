#!/usr/bin/env python3
"""GRPO step time: visual-rft against TRL's GRPOTrainer (issue #7), same model, same data, same
setting, same machine, one after the other, each in its own process.

usage: .venv/bin/python scripts/bench/grpo_vs_trl.py [--prompts 2] [--generations 4] [--new-tokens 32]
           [--steps 4] [--preset tiny|100m] [--vrft build/visual-rft] [--workdir DIR] [--json]

1. `visual-rft bench load --random PRESET --dir D/model --dtype float32` writes a random Qwen2-VL
   checkpoint; the fixture tokenizer (tests/fixtures/qwen2_5) and a preprocessor_config.json
   with max_pixels 12544 (at most 16 visual tokens per photo) go next to it;
2. D/train.jsonl: one Visual-RFT detection row per fixture photo (fixtures/images/*.jpg), the
   reference's detection question and an <answer>[{'Position': ..., 'Confidence': 1}]</answer>;
3. TRL (in a child process): GRPOTrainer on the model folder, a Qwen2VLProcessor built here (slow
   PIL image processor, same pixel bounds, the Qwen2-VL chat template), a dataset of
   {"prompt": [user message], "image": PIL} rows (TRL 1.16 puts the image before the text, as
   visual-rft does), GRPOConfig(per_device_train_batch_size=P*G, num_generations=G,
   max_completion_length=T, beta=0.04, loss_type="grpo", scale_rewards="group", lr 1e-6,
   temperature 1, top_k 50, fp32 on the CPU, gradient checkpointing off, logging every step);
   a TrainerCallback times on_step_begin -> on_step_end (generation, rewards, reference and
   policy forwards, backward, AdamW: all inside the step);
4. visual-rft: `visual-rft bench train --config D/grpo.yaml --steps N --json` with the same
   settings (rewards.functions [format], micro_batch_size P*G, one optimiser step per P prompts);
   the completion lengths come from its per-step log lines;
5. prints the mean step time over the steps after the first, the completion tokens generated per
   step (P * G * the mean completion length each side actually produced), peak RSS (ru_maxrss of
   each child, measured the same way for both) and the ratio; --json prints one JSON object.

The reward is the format reward on both sides (cheap: reward time does not matter). A random
model almost never emits <|im_end|>, so both sides generate about T tokens per completion.
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIXTURES = os.environ.get("VRFT_FIXTURES", os.path.join(ROOT, "tests", "fixtures"))
MIN_PIXELS, MAX_PIXELS = 3136, 12544

# The reference's training question for detection (Visual-RFT, issue #203 rows).
QUESTION = ("Detect all objects belonging to the category '{}' in the image, and provide the bounding boxes "
            "(between 0 and 1000, integer) and confidence (between 0 and 1, with two decimal places). Output the "
            "thinking process in <think> </think> and final answer in <answer> </answer> tags.")

# Qwen2-VL-Instruct's chat template, shared with the reference scripts.
sys.path.insert(0, os.path.join(ROOT, "scripts", "refs"))
from chat_template import QWEN2VL_TEMPLATE  # noqa: E402

FORMAT_RE = re.compile(r"<think>.*?</think>\s*<answer>.*?</answer>", re.DOTALL)


def format_reward(completions, **kwargs):
    """Visual-RFT's format reward: 1 when the whole answer is <think>...</think> <answer>...</answer>."""
    texts = [c[0]["content"] if isinstance(c, list) else c for c in completions]
    return [1.0 if FORMAT_RE.fullmatch(t.strip()) else 0.0 for t in texts]


# ---------------------------------------------------------------------------------------------
# setup: model folder and data set


def make_model(vrft, preset, model_dir):
    subprocess.run([vrft, "bench", "load", "--random", preset, "--dir", model_dir, "--dtype", "float32"],
                   check=True, stdout=subprocess.DEVNULL)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        dst = os.path.join(model_dir, name)
        if not os.path.exists(dst):
            os.symlink(os.path.join(FIXTURES, "qwen2_5", name), dst)
    with open(os.path.join(model_dir, "preprocessor_config.json"), "w") as fh:
        json.dump({"min_pixels": MIN_PIXELS, "max_pixels": MAX_PIXELS}, fh)


def make_data(path):
    images = sorted(f for f in os.listdir(os.path.join(FIXTURES, "images")) if f.endswith(".jpg"))
    categories = ["fish", "airplane", "apple", "baboon", "butterfly", "fruit", "house", "person", "orange", "rocket",
                  "squirrel"]
    with open(path, "w") as fh:
        for i, name in enumerate(images):
            row = {"image": os.path.join(FIXTURES, "images", name),
                   "problem": QUESTION.format(categories[i % len(categories)]),
                   "solution": "<answer>[{'Position': [%d, %d, %d, %d], 'Confidence': 1}]</answer>"
                               % (100 + 10 * i, 120, 700, 800 - 10 * i)}
            fh.write(json.dumps(row) + "\n")
    return len(images)


def run_child(cmd, **kw):
    """Runs cmd to the end; returns (rc, stdout, stderr, peak RSS in GB of that process)."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        p = subprocess.Popen(cmd, stdout=out, stderr=err, text=True, **kw)
        _, status, usage = os.wait4(p.pid, 0)
        p.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return p.returncode, out.read(), err.read(), usage.ru_maxrss * 1024 / 1e9


# ---------------------------------------------------------------------------------------------
# TRL side (runs in a child process: python grpo_vs_trl.py --trl-worker ARGS_JSON)


def trl_worker(spec):
    import torch
    from PIL import Image
    from datasets import Dataset
    from transformers import PreTrainedTokenizerFast, Qwen2VLProcessor, TrainerCallback
    try:
        from transformers import Qwen2VLImageProcessorPil as SlowProcessor
    except ImportError:
        from transformers import Qwen2VLImageProcessor as SlowProcessor
    from trl import GRPOConfig, GRPOTrainer

    # Without torchvision no video processor can be built and ProcessorMixin refuses a missing
    # one; these prompts hold no video, so the class check is skipped (as in prompt_refs.py).
    Qwen2VLProcessor.check_argument_for_proper_class = lambda self, name, arg: None
    tokenizer = PreTrainedTokenizerFast(tokenizer_file=os.path.join(spec["model"], "tokenizer.json"),
                                        eos_token="<|im_end|>", pad_token="<|endoftext|>", padding_side="left")
    processor = Qwen2VLProcessor(image_processor=SlowProcessor(min_pixels=MIN_PIXELS, max_pixels=MAX_PIXELS),
                                 tokenizer=tokenizer, chat_template=QWEN2VL_TEMPLATE)

    rows = [json.loads(line) for line in open(spec["data"])]
    ds = Dataset.from_list([{"prompt": [{"role": "user", "content": r["problem"]}],
                             "image": Image.open(r["image"]).convert("RGB")} for r in rows])

    P, G, T = spec["prompts"], spec["generations"], spec["new_tokens"]
    args = GRPOConfig(
        output_dir=spec["out"], per_device_train_batch_size=P * G, gradient_accumulation_steps=1,
        num_generations=G, max_completion_length=T, max_steps=spec["steps"], beta=0.04, loss_type="grpo",
        scale_rewards="group", learning_rate=1e-6, lr_scheduler_type="linear", warmup_steps=0, max_grad_norm=1.0,
        temperature=1.0, top_k=50, top_p=1.0, num_iterations=1, bf16=False, fp16=False, use_cpu=True,
        gradient_checkpointing=False, model_init_kwargs={"dtype": torch.float32}, logging_steps=1,
        save_strategy="no", report_to="none", seed=42, dataloader_num_workers=0, disable_tqdm=True)

    class Timer(TrainerCallback):
        def __init__(self):
            self.begin, self.step_s, self.ends, self.logs = 0.0, [], [], []

        def on_step_begin(self, args, state, control, **kw):
            self.begin = time.perf_counter()

        def on_step_end(self, args, state, control, **kw):
            now = time.perf_counter()
            self.step_s.append(now - self.begin)
            self.ends.append(now)

        def on_log(self, args, state, control, logs=None, **kw):
            if logs and "completions/mean_length" in logs:
                self.logs.append(dict(logs))

    # Prompt lengths as TRL's _tokenize_prompts makes them (image tokens included).
    plen = [len(processor.apply_chat_template([{"role": "user", "content": [{"type": "image", "image": r["image"]},
                                                 {"type": "text", "text": r["prompt"][0]["content"]}]}],
                                               add_generation_prompt=True, tokenize=True, return_dict=True)
                ["input_ids"][0]) for r in ds]
    timer = Timer()
    trainer = GRPOTrainer(model=spec["model"], reward_funcs=format_reward, args=args, train_dataset=ds,
                          processing_class=processor, callbacks=[timer])
    t0 = time.perf_counter()
    trainer.train()
    total = time.perf_counter() - t0
    import resource
    print(json.dumps({
        "step_s": timer.step_s,
        "between_step_ends_s": [b - a for a, b in zip(timer.ends, timer.ends[1:])],
        "completion_length": [l["completions/mean_length"] for l in timer.logs],
        "clipped_ratio": [l.get("completions/clipped_ratio") for l in timer.logs],
        "num_tokens": [l.get("num_tokens") for l in timer.logs],
        "kl": [l.get("kl") for l in timer.logs],
        "prompt_lengths": plen,
        "train_s": total, "threads": torch.get_num_threads(),
        "ref_model": trainer.ref_model is not None, "model_class": type(trainer.model).__name__,
        "gradient_checkpointing": bool(getattr(trainer.model, "is_gradient_checkpointing", False)),
        "self_peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e9,
    }))


# ---------------------------------------------------------------------------------------------
# visual-rft side


def vrft_config(path, a, model_dir, data):
    with open(path, "w") as fh:
        fh.write(f"""# written by scripts/bench/grpo_vs_trl.py
model: {{path: '{model_dir}', device: cpu, dtype: float32}}
data: {{task: det, train: '{data}', min_pixels: {MIN_PIXELS}, max_pixels: {MAX_PIXELS}}}
rollout: {{num_generations: {a.generations}, max_new_tokens: {a.new_tokens}, temperature: 1.0, top_k: 50, top_p: 1.0}}
rewards: {{functions: [format]}}
grpo: {{beta: 0.04, loss_type: grpo, scale_rewards: group, num_iterations: 1}}
optim: {{lr: 1.0e-6, lr_schedule: linear, warmup_steps: 0, max_grad_norm: 1.0}}
train: {{max_steps: {a.steps}, prompts_per_step: {a.prompts}, micro_batch_size: {a.prompts * a.generations}, seed: 42}}
logging: {{progress: true, log_steps: 1}}
""")


def prompt_lengths(vrft, model_dir, data):
    """Tokens of each row's prompt as visual-rft encodes it (`visual-rft inspect prompt`)."""
    out = []
    for line in open(data):
        r = json.loads(line)
        res = subprocess.run([vrft, "inspect", "prompt", "--model", model_dir, "--image", r["image"], "--prompt",
                              r["problem"], "--json"], check=True, capture_output=True, text=True)
        out.append(json.loads(res.stdout)["num_tokens"])
    return out


STEP_LINE = re.compile(r"step (\d+)/\d+ .*?len ([\d.]+) .*?([\d.]+) s/step")


def run_vrft(a, cfg):
    rc, out, err, rss = run_child([a.vrft, "bench", "train", "--config", cfg, "--steps", str(a.steps), "--json"])
    if rc != 0:
        sys.exit(f"visual-rft bench train failed ({rc}):\n{err[-4000:]}")
    res = json.loads(out.strip().splitlines()[-1])
    steps = [m.groups() for m in STEP_LINE.finditer(err)]
    if len(steps) != a.steps:  # the step lines give the completion lengths: no guess without them
        sys.exit(f"visual-rft bench train logged {len(steps)} step lines for {a.steps} steps:\n{err[-4000:]}")
    res["completion_length"] = [float(l) for _, l, _ in steps]
    res["step_s_logged"] = [float(s) for _, _, s in steps]
    res["wait4_peak_rss_gb"] = rss
    return res


# ---------------------------------------------------------------------------------------------


def after_first(xs):
    return xs[1:] if len(xs) > 1 else xs


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--trl-worker":
        return trl_worker(json.loads(sys.argv[2]))
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--prompts", type=int, default=2, help="prompts per step (P)")
    ap.add_argument("--generations", type=int, default=4, help="completions per prompt (G)")
    ap.add_argument("--new-tokens", type=int, default=32, help="max_new_tokens / max_completion_length (T)")
    ap.add_argument("--steps", type=int, default=4, help="optimiser steps on each side (the first is not timed)")
    ap.add_argument("--preset", default="tiny", help="random model shape of `visual-rft bench load` (tiny, 100m)")
    ap.add_argument("--vrft", default=os.path.join(ROOT, "build", "visual-rft"))
    ap.add_argument("--workdir", default="", help="keep the model, data and configs here (default: a temporary folder)")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="vrft-grpo-bench-") as tmp:
        work = a.workdir or tmp
        os.makedirs(work, exist_ok=True)
        model_dir, data = os.path.join(work, "model"), os.path.join(work, "train.jsonl")
        if not os.path.exists(os.path.join(model_dir, "config.json")):
            make_model(a.vrft, a.preset, model_dir)
        n_rows = make_data(data)
        cfg = os.path.join(work, "grpo.yaml")
        vrft_config(cfg, a, model_dir, data)

        our_plen = prompt_lengths(a.vrft, model_dir, data)
        load_before = os.getloadavg()[0]
        ours = run_vrft(a, cfg)
        spec = dict(model=model_dir, data=data, out=os.path.join(work, "trl_out"), prompts=a.prompts,
                    generations=a.generations, new_tokens=a.new_tokens, steps=a.steps)
        rc, out, err, trl_rss = run_child([sys.executable, os.path.abspath(__file__), "--trl-worker", json.dumps(spec)])
        if rc != 0:
            sys.exit(f"TRL GRPOTrainer failed ({rc}):\n{err[-6000:]}")
        trl = json.loads(out.strip().splitlines()[-1])
        load_after = os.getloadavg()[0]

    P, G, T = a.prompts, a.generations, a.new_tokens
    trl_step = statistics.mean(after_first(trl["step_s"]))
    trl_len = statistics.mean(after_first(trl["completion_length"]))
    our_len = statistics.mean(after_first(ours["completion_length"])) if ours["completion_length"] else float("nan")
    res = {
        "setting": {"prompts": P, "generations": G, "new_tokens": T, "steps": a.steps, "timed_steps": max(1, a.steps - 1),
                    "preset": a.preset, "dtype": "float32", "device": "cpu", "beta": 0.04, "lr": 1e-6, "loss_type": "grpo",
                    "scale_rewards": "group", "temperature": 1.0, "top_k": 50, "reward": "format", "data_rows": n_rows,
                    "max_pixels": MAX_PIXELS, "cpu_count": os.cpu_count(),
                    "loadavg_1min_before": load_before, "loadavg_1min_after": load_after},
        "trl": {"step_s": trl_step, "step_s_all": trl["step_s"], "mean_completion_length": trl_len,
                "completion_length_all": trl["completion_length"], "mean_prompt_length": statistics.mean(trl["prompt_lengths"]),
                "step_end_to_end_s": statistics.mean(trl["between_step_ends_s"]) if trl["between_step_ends_s"] else None,
                "tokens_generated_per_step": P * G * trl_len,
                "generated_tokens_per_s": P * G * trl_len / trl_step, "peak_rss_gb": trl_rss,
                "torch_threads": trl["threads"], "ref_model": trl["ref_model"],
                "gradient_checkpointing": trl["gradient_checkpointing"],
                "model_class": trl["model_class"], "train_s": trl["train_s"]},
        "visual_rft": {"step_s": ours["step_s"], "step_s_all": ours["step_s_logged"],
                       "rollout_s": ours["rollout_s"], "reward_s": ours["reward_s"], "logprob_s": ours["logprob_s"],
                       "backward_s": ours["backward_s"], "optim_s": ours["optim_s"],
                       "mean_completion_length": our_len, "completion_length_all": ours["completion_length"],
                       "tokens_generated_per_step": P * G * our_len,
                       "generated_tokens_per_s": P * G * our_len / ours["step_s"],
                       "peak_rss_gb": ours["wait4_peak_rss_gb"], "self_reported_peak_rss_gb": ours["peak_rss_gb"]},
    }
    res["visual_rft"]["mean_prompt_length"] = statistics.mean(our_plen)
    res["prompt_lengths_equal"] = our_plen == trl["prompt_lengths"]
    res["speedup"] = trl_step / ours["step_s"]
    res["speedup_per_generated_token"] = res["visual_rft"]["generated_tokens_per_s"] / res["trl"]["generated_tokens_per_s"]
    res["rss_ratio"] = ours["wait4_peak_rss_gb"] / trl_rss
    if a.json:
        print(json.dumps(res))
        return 0
    t, o = res["trl"], res["visual_rft"]
    print(f"GRPO step, {a.preset} random Qwen2-VL, fp32 on the CPU ({os.cpu_count()} cores), P={P} prompts x G={G}, "
          f"T={T}, beta 0.04, {a.steps} steps (mean over the last {res['setting']['timed_steps']}), format reward; "
          f"1-min load average {load_before:.2f} before, {load_after:.2f} after")
    print(f"  TRL GRPOTrainer: {t['step_s']:.3f} s/step, {t['tokens_generated_per_step']:.0f} completion tokens/step "
          f"(mean length {t['mean_completion_length']:.1f}), {t['generated_tokens_per_s']:.0f} tokens/s, "
          f"peak RSS {t['peak_rss_gb']:.2f} GB  [steps: {', '.join(f'{s:.2f}' for s in t['step_s_all'])}]")
    if t["step_end_to_end_s"] is not None:
        print(f"                   step end to step end (adds data loading, logging): {t['step_end_to_end_s']:.3f} s; "
              f"prompt {t['mean_prompt_length']:.1f} tokens")
    print(f"  visual-rft:      {o['step_s']:.3f} s/step, {o['tokens_generated_per_step']:.0f} completion tokens/step "
          f"(mean length {o['mean_completion_length']:.1f}), {o['generated_tokens_per_s']:.0f} tokens/s, "
          f"peak RSS {o['peak_rss_gb']:.2f} GB  [steps: {', '.join(f'{s:.2f}' for s in o['step_s_all'])}]")
    print(f"                   = rollout {o['rollout_s']:.3f} + reward {o['reward_s']:.3f} + log-probs "
          f"{o['logprob_s']:.3f} + backward {o['backward_s']:.3f} + optimiser {o['optim_s']:.3f} s; "
          f"prompt {o['mean_prompt_length']:.1f} tokens")
    print(f"  prompts: the same token count on both sides for every row: {res['prompt_lengths_equal']}")
    print(f"  ratio: visual-rft {res['speedup']:.2f}x faster per step, {res['speedup_per_generated_token']:.2f}x per "
          f"completion token; peak RSS {res['rss_ratio']:.2f}x TRL's")
    return 0


if __name__ == "__main__":
    sys.exit(main())
