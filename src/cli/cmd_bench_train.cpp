// src/cli/cmd_bench_train.cpp: `visual-rft bench train --config X.yaml [--steps N]`: runs N
// steps of a config's trainer (GRPO or SFT, train.trainer) in a temporary folder and reports
// the step time (for GRPO split into rollout / reward / log-prob / backward / optimiser),
// tokens/s and peak memory (the first step, which warms caches up, is left out of the means
// when there is more than one). --profile OUT.json records the last step (Kineto trace,
// core/profile.h) and prints where its decode steps, log-probs, policy forward/backward and
// optimiser spend their time.
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "visual_rft/core/config.h"
#include "visual_rft/core/device.h"
#include "visual_rft/core/error.h"
#include "visual_rft/core/fs.h"
#include "visual_rft/core/profile.h"
#include "visual_rft/train/grpo_trainer.h"
#include "visual_rft/train/sft_trainer.h"

namespace vrft::cli {

namespace {

struct TrainBenchArgs {
  std::string config_path, profile;
  std::vector<std::string> sets;
  int64_t steps = 4;
  bool as_json = false;
};

// The steps' metrics.jsonl records of a run of the config's trainer in a temporary folder.
std::vector<nlohmann::json> timed_run(Config cfg, int64_t steps) {
  const std::string dir = make_temp_dir("vrft-bench-train");
  cfg.train.output_dir = dir;
  cfg.train.max_steps = steps;
  cfg.train.save_steps = 0;
  cfg.train.keep_last = 1;
  cfg.logging.sample_steps = 0;
  cfg.logging.log_steps = 1;
  try {
    if (cfg.train.trainer == TrainerKind::sft)
      train_sft(cfg, "");
    else
      train_grpo(cfg, "");
  } catch (...) {
    remove_tree(dir);
    throw;
  }
  std::vector<nlohmann::json> rows;
  std::ifstream in(dir + "/metrics.jsonl");
  for (std::string l; std::getline(in, l);) rows.push_back(nlohmann::json::parse(l));
  remove_tree(dir);
  if (rows.empty()) throw Error("bench train: no step completed");
  return rows;
}

// Means over the timed steps (all but the first when there are several), peaks over all.
nlohmann::json summarise(const Config& cfg, const std::vector<nlohmann::json>& rows) {
  const size_t first = rows.size() > 1 ? 1 : 0;
  const double timed = static_cast<double>(rows.size() - first);
  nlohmann::json out{{"trainer", choice_name(cfg.train.trainer)},
                     {"steps", rows.size()},
                     {"timed_steps", rows.size() - first},
                     {"prompts_per_step", cfg.train.prompts_per_step},
                     {"num_generations", cfg.rollout.num_generations},
                     {"max_new_tokens", cfg.rollout.max_new_tokens}};
  for (const char* k : {"step_s", "rollout_s", "reward_s", "logprob_s", "backward_s", "optim_s"}) {
    if (!rows[first]["time"].contains(k)) continue;  // SFT times the whole step only
    double sum = 0;
    for (size_t i = first; i < rows.size(); ++i) sum += rows[i]["time"][k].get<double>();
    out[k] = sum / timed;
  }
  double tps = 0, peak = 0, peak_gpu = 0;
  for (size_t i = first; i < rows.size(); ++i) tps += rows[i]["tokens_per_s"].get<double>() / timed;
  for (const auto& r : rows) {
    peak = std::max(peak, r["peak_rss_gb"].get<double>());
    peak_gpu = std::max(peak_gpu, r.value("peak_gpu_gb", 0.0));
  }
  out["tokens_per_s"] = tps;
  out["peak_rss_gb"] = peak;
  out["peak_gpu_gb"] = peak_gpu;
  return out;
}

void print_summary(const TrainBenchArgs& a, const Config& cfg, const nlohmann::json& out) {
  const auto steps = out["steps"].get<size_t>(), timed = out["timed_steps"].get<size_t>();
  if (cfg.train.trainer == TrainerKind::sft) {
    std::printf("bench train: %s, SFT, %zu steps (%zu timed), %lld rows per step\n", a.config_path.c_str(), steps,
                timed, static_cast<long long>(cfg.train.prompts_per_step));
    std::printf("  step %.3f s (forward, backward and optimiser)\n", out["step_s"].get<double>());
  } else {
    std::printf("bench train: %s, %zu steps (%zu timed), %lld prompts x G=%lld, <= %lld new tokens\n",
                a.config_path.c_str(), steps, timed, static_cast<long long>(cfg.train.prompts_per_step),
                static_cast<long long>(cfg.rollout.num_generations),
                static_cast<long long>(cfg.rollout.max_new_tokens));
    std::printf(
        "  step %.3f s = rollout %.3f + reward %.3f + log-probs %.3f + backward %.3f + optimiser %.3f (+ rest)\n",
        out["step_s"].get<double>(), out["rollout_s"].get<double>(), out["reward_s"].get<double>(),
        out["logprob_s"].get<double>(), out["backward_s"].get<double>(), out["optim_s"].get<double>());
  }
  std::printf("  %.0f tokens/s (prompt + completion), peak RSS %.2f GB", out["tokens_per_s"].get<double>(),
              out["peak_rss_gb"].get<double>());
  if (out["peak_gpu_gb"].get<double>() > 0) std::printf(", peak GPU %.2f GB", out["peak_gpu_gb"].get<double>());
  std::printf("\n");
}

void run_train_bench(const TrainBenchArgs& a) {
  Config cfg = load_run_config(a.config_path, a.sets);
  if (!a.profile.empty()) {
    std::vector<std::string> regions{"vrft::backward", "vrft::optim", ""};  // SFT's
    if (cfg.train.trainer != TrainerKind::sft)
      regions.insert(regions.begin(), {"vrft::decode_step", "vrft::rollout", "vrft::logprob"});
    request_step_profile({a.steps - 1, a.profile, resolve_device(cfg.model.device).is_cuda(), regions});
  }
  const nlohmann::json out = summarise(cfg, timed_run(cfg, a.steps));
  if (a.as_json) {
    std::printf("%s\n", out.dump().c_str());
  } else {
    print_summary(a, cfg, out);
  }
  if (!a.profile.empty()) {
    const auto& summaries = step_profile_summaries();
    if (summaries.empty()) throw Error("bench train --profile: step " + std::to_string(a.steps) + " was not recorded");
    if (!a.as_json) {
      std::printf("\nprofile of step %lld: %s\n", static_cast<long long>(a.steps), a.profile.c_str());
      for (const auto& s : summaries) std::printf("\n%s", s.table(12).c_str());
    }
  }
}

}  // namespace

void add_bench_train(CLI::App* bench) {
  auto* train =
      bench->add_subcommand("train", "Time N steps of a config's trainer (GRPO split per phase) and peak memory");
  static TrainBenchArgs a;
  train->add_option("--config", a.config_path, "Run config (YAML)")->required();
  train->add_option("--set", a.sets, "Override a key: section.key=value (repeatable)");
  train->add_option("--steps", a.steps, "Steps to run")->capture_default_str();
  train->add_flag("--json", a.as_json, "Print one JSON object");
  train->add_option("--profile", a.profile,
                    "Record the last step: a Chrome/Perfetto trace here, per-kernel summary beside it "
                    "(.summary.json) and printed");
  train->callback([] { run_train_bench(a); });
}

}  // namespace vrft::cli
