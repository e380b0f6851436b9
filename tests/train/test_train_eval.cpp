// tests/train/test_train_eval.cpp: evaluation during training (train.eval_steps,
// eval_before_train, save_best) on the tiny random Qwen2-VL. The in-process evaluation of the
// policy equals `visual-rft eval` of the checkpoint saved at the same step; the headline metric
// reaches metrics.jsonl and TensorBoard; the best model is kept; bad combinations are refused.
// The split over ranks: test_distributed.cpp.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "test_util.h"
#include "train/train_test_util.h"
#include "visual_rft/core/config.h"
#include "visual_rft/core/error.h"
#include "visual_rft/core/fs.h"
#include "visual_rft/eval/evaluator.h"
#include "visual_rft/train/grpo_trainer.h"

using namespace vrft;
using namespace vrft::test;
namespace fs = std::filesystem;

namespace {

std::vector<nlohmann::json> jsonl(const std::string& path) {
  std::vector<nlohmann::json> out;
  std::ifstream in(path);
  for (std::string l; std::getline(in, l);) out.push_back(nlohmann::json::parse(l));
  return out;
}

}  // namespace

TEST(TrainEval, InProcessEvaluationEqualsEvalOfTheCheckpointAndReachesMetricsAndBest) {
  REQUIRE_FIXTURES(test::tokenizer_fixture());
  std::string dir = setup("train-eval");
  Config cfg = parse_config(config_yaml(dir, 4, 2e-3, /*G=*/4), "test");
  cfg.train.save_steps = 2;
  cfg.train.keep_last = 0;
  cfg.train.eval_steps = 2;
  cfg.train.eval_before_train = true;
  cfg.train.save_best = true;
  cfg.eval.data = dir + "/train.jsonl";
  cfg.eval.max_new_tokens = 8;
  cfg.logging.report_to = {"jsonl", "tensorboard"};
  CustomReward r = even_first_token();
  train_grpo(cfg, "", &r);

  // metrics.jsonl: the start model's evaluation as step 0, then the steps, 2 and 4 with theirs.
  const auto lines = jsonl(dir + "/run/metrics.jsonl");
  ASSERT_EQ(lines.size(), 5u);
  EXPECT_EQ(lines[0]["step"], 0);
  double best = -1;
  int64_t best_step = -1;
  for (const auto& line : lines) {
    const int64_t step = line["step"].get<int64_t>();
    ASSERT_EQ(line.contains("eval"), step % 2 == 0) << line.dump();
    if (step % 2 != 0) continue;
    const std::string out = dir + "/run/eval/step-" + std::to_string(step);
    const auto m = nlohmann::json::parse(read_file(out + "/metrics.json"));
    EXPECT_EQ(line["eval"]["accuracy_exact"].get<double>(), m["accuracy_exact"].get<double>()) << step;
    EXPECT_EQ(line["eval"]["samples"], 4);
    EXPECT_EQ(jsonl(out + "/predictions.jsonl").size(), 4u);
    if (m["accuracy_exact"].get<double>() > best) {
      best = m["accuracy_exact"].get<double>();
      best_step = step;
    }
    // The policy evaluated in memory answers as the checkpoint of that step does when
    // `visual-rft eval` loads it (step 0: the start model).
    if (step == 0) continue;
    EvalRunOptions opt;
    opt.model_dir = dir + "/run/checkpoint-" + std::to_string(step);
    opt.output_dir = dir + "/eval-of-checkpoint-" + std::to_string(step);
    run_evaluation(cfg, opt);
    const auto in_training = jsonl(out + "/predictions.jsonl");
    const auto from_disk = jsonl(opt.output_dir + "/predictions.jsonl");
    ASSERT_EQ(in_training.size(), from_disk.size());
    for (size_t i = 0; i < from_disk.size(); ++i) EXPECT_EQ(in_training[i]["answer"], from_disk[i]["answer"]) << i;
  }
  // The best evaluation's model (the first of equal values, as a later one is not better).
  const auto best_json = nlohmann::json::parse(read_file(dir + "/run/best/best.json"));
  EXPECT_EQ(best_json["step"].get<int64_t>(), best_step);
  EXPECT_EQ(best_json["metric"], "accuracy_exact");
  EXPECT_EQ(best_json["value"].get<double>(), best);
  EXPECT_TRUE(fs::exists(dir + "/run/best/checkpoint-" + std::to_string(best_step) + "/model.safetensors"));
  // TensorBoard has the evaluations under eval/.
  test::python("refs/tensorboard_events.py' '" + dir + "/run/tb' '" + dir + "/tb.json'");
  const auto events = nlohmann::json::parse(read_file(dir + "/tb.json"));
  ASSERT_TRUE(events["scalars"].contains("eval/accuracy_exact")) << events["scalars"].dump();
  EXPECT_EQ(events["scalars"]["eval/accuracy_exact"].size(), 3u);
}

TEST(TrainEval, EvaluationKeysWithoutAnInputAreRefusedByKey) {
  for (const char* yaml : {"train: {eval_steps: 10}\n", "train: {eval_before_train: true}\n",
                           "train: {save_best: true}\neval: {data: x.jsonl}\n"}) {
    Config c = parse_config(yaml, "test");
    try {
      validate(c);
      ADD_FAILURE() << "accepted: " << yaml;
    } catch (const ConfigError& e) {
      const std::string want = std::string(yaml).find("save_best") != std::string::npos    ? "train.save_best"
                               : std::string(yaml).find("eval_steps") != std::string::npos ? "train.eval_steps"
                                                                                           : "train.eval_before_train";
      EXPECT_NE(std::string(e.what()).find(want), std::string::npos) << e.what();
    }
  }
}
