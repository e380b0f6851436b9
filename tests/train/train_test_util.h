// tests/train/train_test_util.h: what the trainer tests share: the tiny model folder with a
// 4-photo data set, a GRPO config for it, and readers of a run's metrics and checkpoints.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "test_util.h"
#include "visual_rft/core/fs.h"
#include "visual_rft/train/checkpoint.h"
#include "visual_rft/train/grpo_trainer.h"

namespace vrft::test {

inline std::string fixtures() { return test::fixtures_dir(); }

// A model folder (tiny random weights, the real tokenizer) and a 4-sample data set.
inline std::string setup(const std::string& name) {
  std::string dir = test::scratch_with_tiny_model(name);
  std::string jsonl;
  for (const char* img : {"apple.jpg", "orange.jpg", "baboon.jpg", "HappyFish.jpg"}) {
    jsonl += nlohmann::json{{"image", fixtures() + "/images/" + img},
                            {"problem", "What is in the image?"},
                            {"solution", "<answer>thing</answer>"}}
                 .dump() +
             "\n";
  }
  write_file_atomic(dir + "/train.jsonl", jsonl);
  return dir;
}

inline std::string config_yaml(const std::string& dir, int64_t steps, double lr, int64_t G = 4, double beta = 0.04) {
  return "model: {path: '" + dir +
         "/model', device: cpu, dtype: float32}\n"
         "data: {task: cls, train: '" +
         dir +
         "/train.jsonl', max_pixels: 12544}\n"
         "rollout: {num_generations: " +
         std::to_string(G) +
         ", max_new_tokens: 8, top_k: 50}\n"
         "grpo: {beta: " +
         std::to_string(beta) +
         "}\n"
         "optim: {lr: " +
         std::to_string(lr) +
         ", lr_schedule: linear, warmup_steps: 1}\n"
         "train: {output_dir: '" +
         dir + "/run', max_steps: " + std::to_string(steps) +
         ", prompts_per_step: 2, micro_batch_size: " + std::to_string(G) +
         ", save_steps: 3, keep_last: 2, deterministic: true}\n"
         "logging: {sample_steps: 2, num_samples: 1}\n";
}

// The reward: 1 when the answer starts with a token of even id. About half of the likely
// first tokens qualify at the start; the policy gradient acts on exactly that token.
inline CustomReward even_first_token() {
  return {{"even_first"}, [](const std::string&, const std::vector<int64_t>& ids, const Sample&) {
            const double v = !ids.empty() && ids[0] % 2 == 0 ? 1.0 : 0.0;
            return CompletionRewards{{v}, v};
          }};
}

inline std::vector<nlohmann::json> metrics_without_time(const std::string& path) {
  std::vector<nlohmann::json> out;
  std::ifstream in(path);
  for (std::string l; std::getline(in, l);) {
    auto j = nlohmann::json::parse(l);
    for (const char* k : {"time", "tokens_per_s", "peak_rss_gb"}) j.erase(k);
    out.push_back(j);
  }
  return out;
}

// AdamW's step count saved in a checkpoint (-1 when the optimiser state has none).
inline int64_t optimizer_steps(const std::string& checkpoint) {
  for (const auto& [k, v] : load_checkpoint_state(checkpoint).optimizer)
    if (k == "step") return v.item<int64_t>();
  return -1;
}

inline int64_t metrics_lines(const std::string& path) {
  std::ifstream in(path);
  int64_t n = 0;
  for (std::string l; std::getline(in, l);) n += !l.empty();
  return n;
}

}  // namespace vrft::test
