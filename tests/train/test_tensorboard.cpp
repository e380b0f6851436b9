// tests/train/test_tensorboard.cpp: live dashboards. The TensorBoard event files a GRPO run
// writes (logging.report_to tensorboard) are read back by the tensorboard package
// (scripts/refs/tensorboard_events.py): every metrics.jsonl number is there under its TRL name
// at its step, the rollout samples are there as text, and a resumed run's curves have each step
// once. scripts/wandb_sync.py logs the same to an offline W&B run, read back from its .wandb
// file (scripts/refs/wandb_records.py). The CRC is checked against its published test vector.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "test_util.h"
#include "train/train_test_util.h"
#include "visual_rft/core/config.h"
#include "visual_rft/core/error.h"
#include "visual_rft/core/fs.h"
#include "visual_rft/core/tensorboard.h"
#include "visual_rft/train/grpo_trainer.h"
#include "visual_rft/train/training_run.h"

using namespace vrft;
using namespace vrft::test;
namespace fs = std::filesystem;

namespace {

// What TensorBoard reads from OUT/tb.
nlohmann::json read_events(const std::string& run_dir) {
  const std::string out = run_dir + "/tb_events.json";
  test::python("refs/tensorboard_events.py' '" + run_dir + "/tb' '" + out + "'");
  return nlohmann::json::parse(read_file(out));
}

// The reward: the completion's length in characters, scaled (any number that varies will do).
CustomReward length_reward() {
  return {{"length"}, [](const std::string& text, const std::vector<int64_t>&, const Sample&) {
            const double v = static_cast<double>(text.size()) / 16.0;
            return CompletionRewards{{v}, v};
          }};
}

}  // namespace

TEST(TensorBoard, Crc32cMatchesItsTestVector) {
  EXPECT_EQ(crc32c("123456789"), 0xE3069283u);  // RFC 3720, B.4
  EXPECT_EQ(crc32c(""), 0u);
}

TEST(TensorBoard, EveryMetricAtEveryStepUnderTrlNamesAndResumeKeepsOneValuePerStep) {
  REQUIRE_FIXTURES(test::tokenizer_fixture());
  std::string dir = setup("tensorboard");
  Config cfg = parse_config(config_yaml(dir, 4, 1e-3, /*G=*/4), "test");  // samples every 2 steps
  cfg.logging.report_to = {"jsonl", "tensorboard"};
  cfg.train.save_steps = 2;
  CustomReward r = length_reward();
  train_grpo(cfg, "", &r);
  // Steps 3 and 4 again, from checkpoint-2: TensorBoard must show them once.
  train_grpo(cfg, dir + "/run/checkpoint-2", &r);
  EXPECT_EQ(std::distance(fs::directory_iterator(dir + "/run/tb"), fs::directory_iterator{}), 2);

  const nlohmann::json events = read_events(dir + "/run");
  const auto lines = metrics_without_time(dir + "/run/metrics.jsonl");
  ASSERT_EQ(lines.size(), 4u);
  size_t checked = 0;
  for (const auto& record : lines) {
    const int64_t step = record["step"].get<int64_t>();
    for (const auto& [tag, value] : tensorboard_tags(record)) {
      ASSERT_TRUE(events["scalars"].contains(tag)) << tag;
      const auto& series = events["scalars"][tag];
      int found = 0;
      for (const auto& e : series) {
        if (e[0].get<int64_t>() != step) continue;
        ++found;
        // TensorBoard keeps float32: equal to the float nearest the JSON value.
        EXPECT_EQ(e[1].get<float>(), static_cast<float>(value)) << tag << " step " << step;
      }
      EXPECT_EQ(found, 1) << tag << " step " << step;
      ++checked;
    }
  }
  EXPECT_GT(checked, 4u * 20u);
  // TRL's names for the metrics it has.
  for (const char* tag :
       {"train/reward", "train/reward_std", "train/rewards/length/mean", "train/kl", "train/completions/mean_length",
        "train/clip_ratio/region_mean", "train/learning_rate", "train/grad_norm", "train/loss", "train/entropy"})
    EXPECT_TRUE(events["scalars"].contains(tag)) << tag;
  EXPECT_EQ(events["scalars"]["train/reward"].size(), 4u);
  // Samples at steps 2 and 4 (logging.sample_steps), one prompt's G completions each, with the
  // tags of the answers escaped rather than stripped as HTML.
  ASSERT_TRUE(events["texts"].contains("train/samples"));
  const auto& texts = events["texts"]["train/samples"];
  ASSERT_EQ(texts.size(), 2u);
  EXPECT_EQ(texts[0][0].get<int64_t>(), 2);
  EXPECT_EQ(texts[1][0].get<int64_t>(), 4);
  const std::string md = texts[1][1].get<std::string>();
  EXPECT_NE(md.find("| sample | completion | text | reward | advantage |"), std::string::npos) << md;
  EXPECT_EQ(std::count(md.begin(), md.end(), '\n'), 2 + 4) << md;

  // W&B: scripts/wandb_sync.py (offline) logs the same numbers under the same names, each step
  // once, with the samples as a table; read back from the .wandb file it leaves.
  const std::string wb = dir + "/wandb-offline";
  fs::create_directories(wb);
  test::python("wandb_sync.py' '" + dir + "/run' --mode offline --dir '" + wb + "'");
  test::python("refs/wandb_records.py' '" + wb + "' '" + wb + "/records.json'");
  const auto history = nlohmann::json::parse(read_file(wb + "/records.json"))["history"];
  ASSERT_EQ(history.size(), 4u) << history.dump();
  for (size_t i = 0; i < 4; ++i) {
    const auto& row = history[i];
    EXPECT_EQ(row["_step"].get<int64_t>(), lines[i]["step"].get<int64_t>());
    for (const auto& [tag, value] : tensorboard_tags(lines[i])) {
      ASSERT_TRUE(row.contains(tag)) << tag << " at step " << row["_step"];
      EXPECT_EQ(row[tag].get<double>(), value) << tag;
    }
    // A table is logged as its description: its type and size (G = 4 completions of 1 prompt).
    EXPECT_EQ(row.contains("train/samples/_type"), (i + 1) % 2 == 0) << row.dump();
    if (row.contains("train/samples/_type")) {
      EXPECT_EQ(row["train/samples/_type"], "table-file");
      EXPECT_EQ(row["train/samples/nrows"], 4);
    }
  }
}

TEST(TensorBoard, UnknownReportTargetIsRefusedByKey) {
  Config c = parse_config("logging: {report_to: [jsonl, wandb]}\n", "test");
  try {
    validate(c);
    ADD_FAILURE() << "accepted";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("logging.report_to"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("'wandb'"), std::string::npos) << e.what();
  }
}
