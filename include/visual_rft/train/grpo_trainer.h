// visual_rft/train/grpo_trainer.h: `visual-rft train` with trainer: grpo, the Visual-RFT loop
// (docs/architecture.md, "One GRPO step"):
//   prompts -> rollouts (G per prompt) -> rewards -> group advantages -> reference and old
//   log-probs -> per micro-batch: policy log-probs, GRPO loss, backward -> clip -> AdamW ->
//   schedule -> metrics.jsonl, rollout samples, progress line; checkpoints every save_steps.
// Everything random is keyed by (train.seed, step, sample index), so a resumed run repeats
// the uninterrupted one, and a data-parallel run (torchrun; train/distributed.h) the
// one-process run.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "visual_rft/core/config.h"
#include "visual_rft/data/visual_rft_jsonl.h"

namespace vrft {

// Rewards of one completion: one value per reward name (summed with weights into the total).
struct CompletionRewards {
  std::vector<double> values;
  double total = 0;
};
// A reward source other than the configured RewardSet (tests, custom tasks).
struct CustomReward {
  std::vector<std::string> names;
  std::function<CompletionRewards(const std::string& text, const std::vector<int64_t>& ids, const Sample& sample)>
      score;
};

struct TrainResult {
  int64_t steps_done = 0;  // optimiser steps of this invocation
  int64_t final_step = 0;
  std::string last_checkpoint;  // empty when none was written
};

// Runs (or resumes: `resume` = "" none, "latest", or a checkpoint folder) the run of `cfg`.
// A fresh run into a folder holding an earlier run is refused unless `overwrite`, which
// deletes that run first (run_util.h run_start_checkpoint).
TrainResult train_grpo(const Config& cfg, const std::string& resume, const CustomReward* custom = nullptr,
                       bool overwrite = false);

}  // namespace vrft
