#!/usr/bin/env python3
"""scripts/wandb_sync.py RUN_DIR: a visual-rft run's metrics in Weights & Biases.

Streams RUN_DIR/metrics.jsonl (every number, under the names TRL logs them: train/reward,
train/rewards/iou/mean, train/completions/mean_length, ..., and eval/map etc. for evaluations
during training; docs/metrics.md) and the rollout samples (RUN_DIR/rollouts/step_N.jsonl, as
a table) to a W&B run, after training or while it goes on:

    python scripts/wandb_sync.py runs/demo_rft --project visual-rft            # what is there now
    python scripts/wandb_sync.py runs/demo_rft --project visual-rft --follow   # until training ends
    WANDB_MODE=offline python scripts/wandb_sync.py runs/demo_rft               # no network: wandb sync later

The W&B run id is derived from RUN_DIR's absolute path, so a second sync of the same folder
continues the same W&B run and logs only steps it has not logged yet (a resumed training
rewrites metrics.jsonl from its checkpoint: those steps are already there). With --follow the
script polls the files every --interval seconds and stops once the trainer that holds
RUN_DIR/.lock has exited and everything it wrote is logged.
"""
import argparse
import hashlib
import json
import os
import sys
import time

# Record paths whose TRL name differs from "train/" + the path (as in src/train/training_run.cpp).
TRL_NAMES = {
    "reward/mean": "reward",
    "reward/std": "reward_std",
    "completion_length/mean": "completions/mean_length",
    "completion_length/max": "completions/max_length",
    "truncated_fraction": "completions/clipped_ratio",
    "clip_ratio/low": "clip_ratio/low_mean",
    "clip_ratio/high": "clip_ratio/high_mean",
    "clip_ratio/region": "clip_ratio/region_mean",
    "lr": "learning_rate",
}


def metric_tags(record, path=""):
    """The numbers of a metrics.jsonl record as {tag: value}, named as in TensorBoard."""
    out = {}
    if isinstance(record, dict):
        for k, v in record.items():
            out.update(metric_tags(v, f"{path}/{k}" if path else k))
    elif isinstance(record, (int, float)) and not isinstance(record, bool) and path != "step":
        out[path if path.startswith("eval/") else "train/" + TRL_NAMES.get(path, path)] = float(record)
    return out


def trainer_alive(run_dir):
    """Whether the process that wrote RUN_DIR/.lock (its pid) is still running."""
    try:
        with open(os.path.join(run_dir, ".lock")) as f:
            pid = int(f.read().strip() or 0)
    except (OSError, ValueError):
        return False
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Syncer:
    def __init__(self, run_dir, wandb_run):
        self.run_dir = run_dir
        self.run = wandb_run
        self.last_step = wandb_run.summary.get("_step", -1) if wandb_run.resumed else -1
        self.offset = 0  # bytes of metrics.jsonl already read

    def samples(self, step):
        path = os.path.join(self.run_dir, "rollouts", f"step_{step:06d}.jsonl")
        if not os.path.exists(path):
            return None
        import wandb

        table = wandb.Table(columns=["step", "sample", "completion", "text", "reward", "advantage"])
        with open(path) as f:
            for line in f:
                s = json.loads(line)
                table.add_data(s["step"], s["sample"], s["completion"], s["text"], s["reward"], s["advantage"])
        return table

    def poll(self):
        """Logs the complete lines metrics.jsonl holds beyond what was read; returns how many."""
        path = os.path.join(self.run_dir, "metrics.jsonl")
        if not os.path.exists(path):
            return 0
        if os.path.getsize(path) < self.offset:  # rewritten by a resumed training: read it again
            self.offset = 0
        with open(path, "rb") as f:
            f.seek(self.offset)
            data = f.read()
        logged = 0
        end = data.rfind(b"\n") + 1  # a line still being written waits for the next poll
        for n, line in enumerate(data[:end].splitlines(), 1):
            try:
                record = json.loads(line)
            except json.JSONDecodeError as e:
                raise SystemExit(f"{path}: a line after byte {self.offset} is not JSON ({e})")
            step = int(record.get("step", 0))
            if step <= self.last_step:
                continue  # logged already (W&B steps only go forward)
            values = metric_tags(record)
            table = self.samples(step)
            if table is not None:
                values["train/samples"] = table
            self.run.log(values, step=step)
            self.last_step = step
            logged += 1
        self.offset += end
        return logged


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("run_dir", help="a visual-rft run folder (train.output_dir)")
    ap.add_argument("--project", default="visual-rft")
    ap.add_argument("--entity", default=None)
    ap.add_argument("--name", default=None, help="W&B run name (default: the folder's name)")
    ap.add_argument("--mode", choices=["online", "offline"], default=None, help="default: WANDB_MODE, else online")
    ap.add_argument("--dir", default=None, help="where wandb keeps its local files (default: RUN_DIR)")
    ap.add_argument("--follow", action="store_true", help="keep syncing until the trainer of RUN_DIR exits")
    ap.add_argument("--interval", type=float, default=10.0, help="seconds between polls with --follow")
    a = ap.parse_args()

    run_dir = os.path.abspath(a.run_dir)
    if not os.path.isfile(os.path.join(run_dir, "metrics.jsonl")) and not a.follow:
        raise SystemExit(f"{a.run_dir}: no metrics.jsonl (not a visual-rft run folder, or nothing logged yet)")
    try:
        import wandb
    except ImportError:
        raise SystemExit("wandb is not installed: pip install wandb (scripts/setup.sh installs it into .venv)")

    config = {}
    resolved = os.path.join(run_dir, "config.resolved.yaml")
    if os.path.exists(resolved):
        import yaml

        with open(resolved) as f:
            config = yaml.safe_load(f) or {}
    run_id = "vrft-" + hashlib.sha256(run_dir.encode()).hexdigest()[:16]
    run = wandb.init(project=a.project, entity=a.entity, name=a.name or os.path.basename(run_dir), id=run_id,
                     resume="allow", config=config, dir=a.dir or run_dir, mode=a.mode)
    syncer = Syncer(run_dir, run)
    total = syncer.poll()
    while a.follow:
        alive = trainer_alive(run_dir)
        time.sleep(a.interval if alive else 0)
        total += syncer.poll()
        if not alive:
            break
    run.finish()
    print(f"wandb_sync: {total} steps logged from {a.run_dir} to W&B run {run_id} (last step {syncer.last_step})")


if __name__ == "__main__":
    sys.exit(main())
