// visual_rft/demo/demo.h: `visual-rft demo`, the README's main job (issue #9): on a CPU in
// minutes, the paper's comparison in a synthetic few-shot world. Top to bottom:
//
//   per image seed N (--image-seeds 1,2,3; each a whole demo in OUT/seed-N/):
//     the few-shot and eval splits of the model's synthetic world drawn from N (data/synth.h)
//     -> per task (cls, det, ground):
//          evaluate the base model on the novel categories          seed-N/<task>/eval_baseline/
//          Visual-RFT: GRPO with verifiable rewards on the K shots  seed-N/<task>/rft/ (+ eval_rft/)
//          SFT on the same K shots                                  seed-N/<task>/sft/ (+ eval_sft/)
//   -> OUT/results.md + results.json   the paper-shaped table (baseline / SFT / Visual-RFT),
//                                      mean ± std over the seeds; every run's metrics
//      OUT/curves.png                  GRPO reward and KL, SFT loss, per step, task and seed
//      OUT/examples_<task>.png         det, ground: the first seed's first eval images, boxes
//                                      drawn (true green, predicted red), one row per model
//
// The base model is an HF folder made by scripts/make_demo_model.sh (SFT pre-training on the
// world's base categories); its visual_rft_demo.json names the world's seed and image size,
// so the few-shot categories are the ones it never saw, drawn as it saw its own. The run settings are
// configs/demo_rft.yaml and configs/demo_sft.yaml (the same optimiser, steps and prompts per step for both methods).
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "visual_rft/reward/rewards.h"  // Task

namespace vrft {

struct DemoOptions {
  std::string model_dir = "models/vrft-demo";
  std::string out_dir = "runs/demo";
  std::string rft_config = "configs/demo_rft.yaml";
  std::string sft_config = "configs/demo_sft.yaml";
  std::vector<Task> tasks{Task::cls, Task::det, Task::ground};
  int64_t shots = 16;      // K: few-shot rows per novel category (8 novel: 128 rows per task)
  int64_t eval_rows = 64;  // per task
  int64_t steps = 0;       // optimiser steps of each run; 0 = the configs' train.max_steps
  int64_t seed = -1;       // the synthetic world's seed; -1 = the model's (visual_rft_demo.json)
  // The images, few-shot rows and eval rows are drawn anew from each seed (the world's
  // categories stay the model's); one demo per seed. 0 is left for tuning the configs.
  std::vector<int64_t> image_seeds{1};
  std::vector<std::string> sets;  // section.key=value overrides for both runs
};

struct DemoResult {
  nlohmann::ordered_json results;  // what results.json holds
  std::string table;               // the markdown table of results.md
};

// Runs everything above; `out_dir`'s task folders are replaced (a demo run starts afresh).
// Throws FileError when the model folder or its visual_rft_demo.json is missing (naming
// scripts/make_demo_model.sh), ConfigError for a bad override.
DemoResult run_demo(const DemoOptions& opt);

// The world's seed and description a demo model folder records (visual_rft_demo.json).
nlohmann::json read_demo_model_info(const std::string& model_dir);

}  // namespace vrft
