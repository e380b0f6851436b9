// tests/train/test_trainer.cpp: `visual-rft train` (GRPO and SFT) end to end on the tiny
// random Qwen2-VL of scripts/refs/rollout_refs.py with the real tokenizer and fixture photos:
// a learnable reward rises; completion log-probs with the shared prompt equal a full forward;
// inconsistent configs and bad rows are refused; skipped steps, several iterations, the
// reference's sync. A run's checkpoints and resumes: test_checkpoints.cpp.
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <thread>

#include "test_util.h"
#include "train/train_test_util.h"
#include "visual_rft/core/config.h"
#include "visual_rft/core/error.h"
#include "visual_rft/core/fs.h"
#include "visual_rft/core/safetensors.h"
#include "visual_rft/eval/evaluator.h"
#include "visual_rft/train/checkpoint.h"
#include "visual_rft/train/grpo_trainer.h"
#include "visual_rft/train/logprobs.h"
#include "visual_rft/train/run_util.h"

using namespace vrft;
using namespace vrft::test;
namespace fs = std::filesystem;

TEST(Trainer, LearnableRewardRises) {
  REQUIRE_FIXTURES(test::tokenizer_fixture());
  std::string dir = setup("train-rise");
  Config cfg = parse_config(config_yaml(dir, 24, 2e-3, /*G=*/8, /*beta=*/0.0), "test");
  CustomReward r = even_first_token();
  TrainResult res = train_grpo(cfg, "", &r);
  EXPECT_EQ(res.final_step, 24);
  auto m = metrics_without_time(dir + "/run/metrics.jsonl");
  ASSERT_EQ(m.size(), 24u);
  double first = 0, last = 0;
  for (int i = 0; i < 4; ++i) first += m[static_cast<size_t>(i)]["reward"]["mean"].get<double>() / 4;
  for (int i = 20; i < 24; ++i) last += m[static_cast<size_t>(i)]["reward"]["mean"].get<double>() / 4;
  std::printf("reward: first 4 steps %.3f, last 4 steps %.3f\n", first, last);
  EXPECT_GT(last, first + 0.15);          // measured: 0.66 -> 0.94
  EXPECT_TRUE(m.back()["kl"].is_null());  // beta 0: no reference model
  EXPECT_TRUE(m.back().contains("clip_ratio"));
  EXPECT_TRUE(fs::exists(dir + "/run/rollouts/step_000002.jsonl"));
  EXPECT_TRUE(fs::exists(dir + "/run/config.resolved.yaml"));
  // keep_last 2: checkpoints 21 and 24 remain; latest names 24; an HF model folder.
  EXPECT_FALSE(fs::exists(dir + "/run/checkpoint-18"));
  EXPECT_TRUE(fs::exists(dir + "/run/checkpoint-21/model.safetensors"));
  EXPECT_TRUE(fs::exists(dir + "/run/checkpoint-24/tokenizer.json"));
  EXPECT_EQ(read_file(dir + "/run/latest"), "checkpoint-24\n");
  // The curves of the run, drawn by scripts/plot_metrics.py.
  test::python("plot_metrics.py' '" + dir + "/run'");
  EXPECT_GT(fs::file_size(dir + "/run/curves.png"), 10000u);
}

TEST(Trainer, OneRowTwiceInAStepGetsTwoIndependentGroups) {
  REQUIRE_FIXTURES(test::tokenizer_fixture());
  std::string dir = setup("train-twice");
  // One row and two prompts per step: the step holds the row twice. Each occurrence is keyed
  // by its position in the run, so the two groups are sampled independently (as in TRL).
  const std::string one = read_file(dir + "/train.jsonl").substr(0, read_file(dir + "/train.jsonl").find('\n') + 1);
  write_file_atomic(dir + "/train.jsonl", one);
  Config cfg = parse_config(config_yaml(dir, 1, 1e-3, /*G=*/4), "test");
  std::vector<std::string> texts;
  CustomReward r{{"record"}, [&](const std::string& text, const std::vector<int64_t>&, const Sample&) {
                   texts.push_back(text);
                   return CompletionRewards{{0.0}, 0.0};
                 }};
  train_grpo(cfg, "", &r);
  ASSERT_EQ(texts.size(), 8u);
  const std::vector<std::string> first(texts.begin(), texts.begin() + 4), second(texts.begin() + 4, texts.end());
  EXPECT_NE(first, second) << "the two groups of the same row are copies";
}

TEST(Trainer, SharedPromptLogprobsEqualFullForward) {
  REQUIRE_FIXTURES(test::tokenizer_fixture());
  std::string dir = setup("train-logp");
  auto model = load_qwen2vl(dir + "/model", torch::kFloat, torch::kCPU);
  PromptEncoder enc = PromptEncoder::from_model_dir(dir + "/model");
  cv::Mat img = load_image_rgb(fixtures() + "/images/apple.jpg");
  EncodedPrompt p =
      enc.encode({PromptInput{image_question("a?"), {img}}, PromptInput{image_question("longer question b?"), {img}}});
  torch::manual_seed(0);
  torch::Tensor comp = torch::randint(0, 151000, {4, 5});  // G = 2
  torch::NoGradGuard ng;
  torch::Tensor lp = completion_logprobs(model, p, comp, 2, 0.9).logp;
  for (int64_t i = 0; i < 4; ++i) {
    EncodedPrompt one = p.rows(i / 2, 1);
    torch::Tensor ids = torch::cat({one.input_ids, comp[i].unsqueeze(0)}, 1);
    torch::Tensor mask = torch::ones_like(ids);
    RopeIndex r = model->rope_index(ids, mask, one.image_grid_thw);
    torch::Tensor logits =
        model->forward({ids, mask, model->image_features(one.pixel_values, one.image_grid_thw), r.position_ids},
                       nullptr, one.input_ids.size(1) - 1);
    torch::Tensor want =
        torch::log_softmax(logits[0].narrow(0, 0, 5) / 0.9, -1).gather(1, comp[i].view({-1, 1})).view({-1});
    EXPECT_LE((want - lp[i]).abs().max().item<double>(), 1e-4) << i;
  }
}

TEST(Trainer, InconsistentConfigsAreRefused) {
  Config c = parse_config("rollout: {num_generations: 4}\ntrain: {micro_batch_size: 6}\n", "test");
  try {
    validate(c);
    ADD_FAILURE() << "accepted";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("train.micro_batch_size"), std::string::npos) << e.what();
  }
  c = parse_config("rollout: {num_generations: 4}\ntrain: {prompts_per_step: 3, micro_batch_size: 8}\n", "test");
  EXPECT_THROW(validate(c), ConfigError);
  // Step counts that 64 bits cannot hold are refused, naming the keys.
  c = parse_config("train: {max_steps: 0, epochs: 9223372036854775807, prompts_per_step: 2}\n", "test");
  try {
    total_steps(c, 5);
    ADD_FAILURE() << "an overflowing epoch count was accepted";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("train.epochs: 9223372036854775807 epochs of 3 steps"), std::string::npos)
        << e.what();
  }
  c = parse_config("train: {max_steps: 4611686018427387904, prompts_per_step: 16}\n", "test");
  EXPECT_THROW(total_steps(c, 5), ConfigError);
  c = parse_config("train: {max_steps: 0, epochs: 3, prompts_per_step: 2}\n", "test");
  EXPECT_EQ(total_steps(c, 5), 9);
}

TEST(Trainer, SftLearnsTheAnswers) {
  REQUIRE_FIXTURES(test::tokenizer_fixture());
  std::string dir = setup("train-sft");
  std::string yaml = config_yaml(dir, 10, 3e-3);
  yaml.replace(yaml.find("train: {"), 8, "train: {trainer: sft, ");
  write_file_atomic(dir + "/cfg.yaml", yaml);
  auto r = test::run("'" + test::cli() + "' --log-level warn train --config '" + dir + "/cfg.yaml'");
  ASSERT_EQ(r.status, 0) << r.output;
  auto m = metrics_without_time(dir + "/run/metrics.jsonl");
  ASSERT_EQ(m.size(), 10u);
  const double first = m.front()["loss"].get<double>(), last = m.back()["loss"].get<double>();
  std::printf("sft loss: step 1 %.3f, step 10 %.3f\n", first, last);
  EXPECT_LT(last, first * 0.5);
  EXPECT_EQ(m.back()["answer_tokens"].get<double>(), 2 * 8.0);  // "<answer>thing</answer>" is 7 tokens, + <|im_end|>
  EXPECT_TRUE(fs::exists(dir + "/run/checkpoint-10/model.safetensors"));
}

// logging.level of the config sets the console level, and --log-level, when given, wins.
TEST(Trainer, TheConfigsLogLevelAppliesUnlessTheFlagIsGiven) {
  REQUIRE_FIXTURES(test::tokenizer_fixture());
  std::string dir = setup("train-log-level");
  std::string yaml = config_yaml(dir, 1, 1e-3);
  yaml.replace(yaml.find("train: {"), 8, "train: {trainer: sft, ");
  write_file_atomic(dir + "/cfg.yaml", yaml);
  const std::string train = "'" + test::cli() + "' train --config '" + dir + "/cfg.yaml' --set logging.level=warn";
  auto quiet = test::run(train + " 2>&1");
  ASSERT_EQ(quiet.status, 0) << quiet.output;
  EXPECT_EQ(quiet.output.find("sft step 1/1"), std::string::npos) << quiet.output;
  auto loud = test::run("'" + test::cli() + "' --log-level info train --config '" + dir +
                        "/cfg.yaml' --set logging.level=warn --overwrite 2>&1");
  ASSERT_EQ(loud.status, 0) << loud.output;
  EXPECT_NE(loud.output.find("sft step 1/1"), std::string::npos) << loud.output;
}

// logging.progress: false keeps the per-step line off the console (at debug level it shows).
TEST(Trainer, LoggingProgressControlsTheStepLine) {
  REQUIRE_FIXTURES(test::tokenizer_fixture());
  std::string dir = setup("train-progress");
  write_file_atomic(dir + "/cfg.yaml", config_yaml(dir, 2, 1e-3));
  const std::string train = "'" + test::cli() + "' train --config '" + dir + "/cfg.yaml' --overwrite";
  auto shown = test::run(train + " 2>&1");
  ASSERT_EQ(shown.status, 0) << shown.output;
  EXPECT_NE(shown.output.find("step 2/2  reward"), std::string::npos) << shown.output;
  auto hidden = test::run(train + " --set logging.progress=false 2>&1");
  ASSERT_EQ(hidden.status, 0) << hidden.output;
  EXPECT_EQ(hidden.output.find("step 1/2  reward"), std::string::npos) << hidden.output;
  EXPECT_NE(hidden.output.find("done: 2 steps this run"), std::string::npos) << hidden.output;
  auto debug = test::run("'" + test::cli() + "' --log-level debug train --config '" + dir +
                         "/cfg.yaml' --overwrite --set logging.progress=false 2>&1");
  ASSERT_EQ(debug.status, 0) << debug.output;
  EXPECT_NE(debug.output.find("step 2/2  reward"), std::string::npos) << debug.output;
}

// Two runs into one folder: while one holds it, the other is refused at once, naming the
// folder and the holder's pid, and writes nothing; once it is free, the run goes ahead.
TEST(Trainer, ASecondRunIntoAFolderInUseIsRefused) {
  REQUIRE_FIXTURES(test::tokenizer_fixture());
  std::string dir = setup("train-locked");
  Config cfg = parse_config(config_yaml(dir, 1, 1e-3), "test");
  {
    RunFolderLock holder(dir + "/run");  // another run (a lock taken through another descriptor)
    try {
      train_grpo(cfg, "", nullptr);
      FAIL() << "a second run into a folder in use went ahead";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("train.output_dir '" + dir + "/run' is in use by another run (pid " +
                                           std::to_string(::getpid()) + ")"),
                std::string::npos)
          << e.what();
    }
    EXPECT_FALSE(fs::exists(dir + "/run/metrics.jsonl"));
  }
  TrainResult res = train_grpo(cfg, "", nullptr);
  EXPECT_EQ(res.final_step, 1);
  EXPECT_TRUE(fs::exists(dir + "/run/checkpoint-1/model.safetensors"));
}

// Every training row is checked before step 1: a bad image or solution at line 4 stops the
// run naming FILE:4 and what is wrong, before the run folder holds anything; with
// data.missing_images: skip an unreadable image is skipped and counted instead.
TEST(Trainer, BadRowsAreRefusedBeforeStepOneNamingTheLine) {
  REQUIRE_FIXTURES(test::tokenizer_fixture());
  std::string dir = setup("train-badrows");
  const std::string good = read_file(dir + "/train.jsonl");  // 4 good rows
  auto be32 = [](uint32_t v) { return std::string{char(v >> 24), char(v >> 16), char(v >> 8), char(v)}; };
  const std::string photo = read_file(fixtures() + "/images/baboon.jpg");
  write_file_atomic(dir + "/empty.png", "");
  write_file_atomic(dir + "/cut.jpg", photo.substr(0, 600));  // header intact, scan cut short
  write_file_atomic(dir + "/bomb.png", std::string("\x89PNG\r\n\x1a\n", 8) + be32(13) + "IHDR" + be32(20000) +
                                           be32(20000) + std::string("\x08\x02\x00\x00\x00", 5) + be32(0) +
                                           std::string(100, '\0'));
  cv::imwrite(dir + "/thin.png", cv::Mat(1, 300, CV_8UC3, cv::Scalar(1, 2, 3)));
  auto row = [&](const std::string& image, const std::string& solution) {
    return nlohmann::json{{"image", image}, {"problem", "What is in the image?"}, {"solution", solution}}.dump() + "\n";
  };
  const std::string three = good.substr(0, good.find('\n', good.find('\n', good.find('\n') + 1) + 1) + 1);
  struct Case {
    std::string task, line4, said;
  };
  const std::vector<Case> cases = {
      {"cls", row(dir + "/empty.png", "<answer>thing</answer>"), "empty.png"},
      {"cls", row(dir + "/cut.jpg", "<answer>thing</answer>"), "cut.jpg' cannot be decoded"},
      {"cls", row(dir + "/bomb.png", "<answer>thing</answer>"),
       "20000x20000 = 400000000 pixels, above data.max_image_pixels"},
      {"cls", row(dir + "/thin.png", "<answer>thing</answer>"), "an aspect ratio above 200"},
      {"cls", row(fixtures() + "/images/apple.jpg", "thing"), "the solution has no <answer>...</answer>"},
      {"det", row(fixtures() + "/images/apple.jpg", "<answer>an apple</answer>"), "solution is not a detection list"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.line4);
    // rows 1-3 good; for det, solutions that parse as detection lists
    std::string rows = c.task == "det" ? "" : three;
    for (int i = 0; c.task == "det" && i < 3; ++i) {
      rows += row(fixtures() + "/images/apple.jpg", "<answer>[{'Position': [1, 2, 30, 40], 'Confidence': 1}]</answer>");
    }
    write_file_atomic(dir + "/bad.jsonl", rows + c.line4);
    Config cfg = parse_config(config_yaml(dir, 1, 1e-3), "test");
    cfg.data.train = dir + "/bad.jsonl";
    cfg.data.task = parse_task(c.task);
    try {
      train_grpo(cfg, "", nullptr);
      ADD_FAILURE() << "a bad row at line 4 was accepted";
    } catch (const FileError& e) {
      const std::string m = e.what();
      EXPECT_EQ(m.rfind(dir + "/bad.jsonl:4: ", 0), 0u) << m;
      EXPECT_NE(m.find(c.said), std::string::npos) << m;
    }
    EXPECT_FALSE(fs::exists(dir + "/run/metrics.jsonl"));
  }
  // skip: the unreadable image is dropped and the run goes on with the three good rows.
  write_file_atomic(dir + "/bad.jsonl", three + row(dir + "/cut.jpg", "<answer>thing</answer>"));
  Config cfg = parse_config(config_yaml(dir, 1, 1e-3), "test");
  cfg.data.train = dir + "/bad.jsonl";
  cfg.data.missing_images = OnMissingImage::skip;
  LoadReport rep;
  EXPECT_EQ(load_training_rows(cfg, true, &rep).size(), 3u);
  EXPECT_EQ(rep.unreadable_images, 1);
  EXPECT_EQ(train_grpo(cfg, "", nullptr).final_step, 1);
  // data.max_image_pixels is the limit: at 1000 pixels the first photo is refused.
  cfg.data.train = dir + "/train.jsonl";
  cfg.data.missing_images = OnMissingImage::error;
  cfg.data.max_image_pixels = 1000;
  try {
    load_training_rows(cfg, true, nullptr);
    ADD_FAILURE() << "a photo above data.max_image_pixels was accepted";
  } catch (const FileError& e) {
    EXPECT_NE(std::string(e.what()).find(dir + "/train.jsonl:1: "), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("pixels, above data.max_image_pixels (1000)"), std::string::npos) << e.what();
  }
}

// The reference model computes as the policy does: with bf16 autocast over fp32 weights and
// a bf16 rollout copy (the CUDA default, emulated on the CPU), the reference's log-probs at
// step 1 equal the policy's exactly, so the KL starts at exactly 0.
TEST(Trainer, ReferenceEqualsPolicyAtStepOneUnderAutocast) {
  REQUIRE_FIXTURES(test::tokenizer_fixture());
  std::string dir = setup("train-refnumerics");
  std::string yaml = config_yaml(dir, 1, 1e-3);
  yaml.replace(yaml.find("model: {"), 8, "model: {autocast: bfloat16, ");
  yaml.replace(yaml.find("rollout: {"), 10, "rollout: {dtype: bfloat16, ");
  Config cfg = parse_config(yaml, "test");
  train_grpo(cfg, "", nullptr);
  auto m = metrics_without_time(dir + "/run/metrics.jsonl");
  ASSERT_EQ(m.size(), 1u);
  EXPECT_EQ(m[0]["kl"].get<double>(), 0.0) << m[0].dump();
}

// A step whose prompts are all skipped (here: every prompt longer than max_prompt_length)
// still writes its metrics line and, at the last step, the checkpoint; the skipped counts
// carry across a resume.
TEST(Trainer, SkippedStepsAreLoggedSavedAndCountedAcrossAResume) {
  REQUIRE_FIXTURES(test::tokenizer_fixture());
  std::string dir = setup("train-skipped");
  std::string yaml = config_yaml(dir, 2, 1e-3);
  yaml.replace(yaml.find("data: {"), 7, "data: {max_prompt_length: 8, ");
  Config cfg = parse_config(yaml, "test");
  TrainResult res = train_grpo(cfg, "", nullptr);
  EXPECT_EQ(res.final_step, 2);
  EXPECT_EQ(res.last_checkpoint, dir + "/run/checkpoint-2");
  EXPECT_TRUE(fs::exists(dir + "/run/checkpoint-2/model.safetensors"));
  auto m = metrics_without_time(dir + "/run/metrics.jsonl");
  ASSERT_EQ(m.size(), 2u);
  EXPECT_EQ(m[0]["skipped_prompts"], 2);
  EXPECT_EQ(m[1]["skipped_prompts"], 4);
  const auto state = nlohmann::json::parse(read_file(dir + "/run/checkpoint-2/trainer_state/state.json"));
  EXPECT_EQ(state["skipped_prompts"], 4);
  cfg.train.max_steps = 3;
  res = train_grpo(cfg, "latest", nullptr);
  EXPECT_EQ(res.final_step, 3);
  m = metrics_without_time(dir + "/run/metrics.jsonl");
  ASSERT_EQ(m.size(), 3u);
  EXPECT_EQ(m[2]["skipped_prompts"], 6) << "the count goes on from the checkpoint's";
}

// grpo.ref_sync_steps counts optimizer steps, as TRL does: with num_iterations 2, a sync every
// 2 optimizer steps happens at the end of every GRPO step. With alpha 1 the reference then
// is the policy.
TEST(Trainer, ReferenceSyncCountsOptimizerSteps) {
  REQUIRE_FIXTURES(test::tokenizer_fixture());
  std::string dir = setup("train-refsync");
  std::string yaml = config_yaml(dir, 1, 1e-2);
  yaml.replace(yaml.find("grpo: {"), 7, "grpo: {num_iterations: 2, ref_sync_steps: 2, ref_sync_alpha: 1.0, ");
  Config cfg = parse_config(yaml, "test");
  CustomReward r = even_first_token();
  TrainResult res = train_grpo(cfg, "", &r);
  ASSERT_EQ(res.final_step, 1);
  SafetensorsFile policy(res.last_checkpoint + "/model.safetensors");
  SafetensorsFile ref(res.last_checkpoint + "/trainer_state/ref_model.safetensors");
  SafetensorsFile base(dir + "/model/model.safetensors");
  int64_t compared = 0, moved = 0;
  for (const auto& info : ref.tensors()) {
    if (!policy.contains(info.name)) continue;
    ++compared;
    EXPECT_TRUE(torch::equal(ref.get(info.name), policy.get(info.name))) << info.name;
    moved += base.contains(info.name) && !torch::equal(base.get(info.name), policy.get(info.name));
  }
  EXPECT_GT(compared, 10);
  EXPECT_GT(moved, 0) << "the policy was updated, so the sync had something to copy";
}

// num_iterations 2, the zero-std and truncation filters, reference sync, rollouts one
// prompt at a time (rollout.batch_size 1).
TEST(Trainer, SeveralIterationsAndFilters) {
  REQUIRE_FIXTURES(test::tokenizer_fixture());
  std::string dir = setup("train-mu");
  std::string yaml = config_yaml(dir, 2, 1e-3);
  yaml.replace(yaml.find("grpo: {"), 7,
               "grpo: {num_iterations: 2, filter_zero_std: true, mask_truncated_completions: true, "
               "ref_sync_steps: 1, ref_sync_alpha: 0.5, ");
  yaml.replace(yaml.find("rollout: {"), 10, "rollout: {batch_size: 1, ");  // one prompt at a time
  Config cfg = parse_config(yaml, "test");
  CustomReward r = even_first_token();
  TrainResult res = train_grpo(cfg, "", &r);
  EXPECT_EQ(res.final_step, 2);
  auto m = metrics_without_time(dir + "/run/metrics.jsonl");
  ASSERT_EQ(m.size(), 2u);
  // Every completion hits max_new_tokens (the random model never says eos): all masked out,
  // so no token enters the loss, and the truncated fraction says why.
  EXPECT_EQ(m[0]["truncated_fraction"].get<double>(), 1.0);
  EXPECT_EQ(m[0]["entropy"].get<double>(), 0.0);
  // Two optimiser steps per generation step; the synced reference is saved with the run.
  EXPECT_EQ(optimizer_steps(res.last_checkpoint), 4);
  EXPECT_FALSE(load_checkpoint_state(res.last_checkpoint).ref_model.empty());
}

// With num_iterations > 1 each optimizer iteration is judged on its own loss: a non-finite
// second iteration (injected) skips its update only, and the third is applied.
TEST(Trainer, ANonFiniteIterationSkipsItsUpdateOnly) {
  REQUIRE_FIXTURES(test::tokenizer_fixture());
  std::string dir = setup("train-nonfinite");
  std::string yaml = config_yaml(dir, 1, 1e-3);
  yaml.replace(yaml.find("grpo: {"), 7, "grpo: {num_iterations: 3, ");
  Config cfg = parse_config(yaml, "test");
  CustomReward r = even_first_token();
  ::setenv("VRFT_INJECT_NONFINITE", "1:2", 1);
  TrainResult res = train_grpo(cfg, "", &r);
  ::unsetenv("VRFT_INJECT_NONFINITE");
  ASSERT_EQ(res.final_step, 1);
  auto m = metrics_without_time(dir + "/run/metrics.jsonl");
  ASSERT_EQ(m.size(), 1u);
  EXPECT_EQ(m[0]["skipped_updates"], 1);
  EXPECT_EQ(optimizer_steps(res.last_checkpoint), 2) << "iterations 1 and 3 update the weights";
}

TEST(Trainer, BenchTrainCli) {
  REQUIRE_FIXTURES(test::tokenizer_fixture());
  std::string dir = setup("bench-train");
  write_file_atomic(dir + "/cfg.yaml", config_yaml(dir, 1, 1e-3));
  auto r = test::run("{ '" + test::cli() + "' --log-level warn bench train --config '" + dir +
                     "/cfg.yaml' --steps 2 --json 2>/dev/null; }");
  ASSERT_EQ(r.status, 0) << r.output;
  auto j = nlohmann::json::parse(r.output);
  EXPECT_EQ(j["steps"].get<int64_t>(), 2);
  EXPECT_GT(j["step_s"].get<double>(), 0.0);
  EXPECT_GT(j["rollout_s"].get<double>(), 0.0);
  EXPECT_GT(j["backward_s"].get<double>(), 0.0);
  EXPECT_GT(j["peak_rss_gb"].get<double>(), 0.0);
  // The same data and model under the SFT trainer: the whole step is timed, no rollout.
  auto s = test::run("{ '" + test::cli() + "' --log-level warn bench train --config '" + dir +
                     "/cfg.yaml' --set train.trainer=sft --steps 2 --json 2>/dev/null; }");
  ASSERT_EQ(s.status, 0) << s.output;
  auto js = nlohmann::json::parse(s.output);
  EXPECT_EQ(js["trainer"].get<std::string>(), "sft");
  EXPECT_EQ(js["steps"].get<int64_t>(), 2);
  EXPECT_GT(js["step_s"].get<double>(), 0.0);
  EXPECT_FALSE(js.contains("rollout_s"));
  // --profile records the last step: its decode steps, policy forward/backward and optimiser.
  auto p = test::run("{ '" + test::cli() + "' --log-level warn bench train --config '" + dir +
                     "/cfg.yaml' --steps 2 --profile '" + dir + "/step.json' 2>/dev/null; }");
  ASSERT_EQ(p.status, 0) << p.output;
  EXPECT_NE(p.output.find("profile of step 2"), std::string::npos) << p.output;
  const auto sum = nlohmann::json::parse(read_file(dir + "/step.summary.json"));
  std::map<std::string, nlohmann::json> by_region;
  for (const auto& r : sum) by_region[r["region"].get<std::string>()] = r;
  for (const char* region : {"vrft::decode_step", "vrft::rollout", "vrft::backward", "vrft::optim"}) {
    ASSERT_TRUE(by_region.count(region)) << region;
    EXPECT_GE(by_region[region]["occurrences"].get<int64_t>(), 1) << region;
    EXPECT_FALSE(by_region[region]["kernels"].empty()) << region;
  }
  EXPECT_EQ(by_region["vrft::rollout"]["occurrences"], 1) << "one step recorded";
  EXPECT_TRUE(std::filesystem::exists(dir + "/step.json"));
}

// model.path as a hub id: a fake Hugging Face cache whose snapshot is the tiny model; the run
// trains from it and records the snapshot folder it resolved to.
TEST(Trainer, ModelPathAsAHubIdResolvesFromTheCache) {
  REQUIRE_FIXTURES(test::tokenizer_fixture());
  std::string dir = setup("train-hub-id");
  const std::string repo = dir + "/hf/hub/models--acme--tiny-vl";
  fs::create_directories(repo + "/refs");
  write_file_atomic(repo + "/refs/main", "0123abcd");
  fs::create_directories(repo + "/snapshots");
  fs::create_directory_symlink(dir + "/model", repo + "/snapshots/0123abcd");
  std::string yaml = config_yaml(dir, 1, 1e-3);
  yaml.replace(yaml.find("train: {"), 8, "train: {trainer: sft, ");
  write_file_atomic(dir + "/cfg.yaml", yaml);
  const std::string env = "HF_HUB_CACHE= HF_HOME='" + dir + "/hf' ";
  auto r =
      test::run(env + "'" + test::cli() + "' train --config '" + dir + "/cfg.yaml' --set model.path=acme/tiny-vl 2>&1");
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("model.path acme/tiny-vl: " + repo + "/snapshots/0123abcd"), std::string::npos) << r.output;
  EXPECT_NE(read_file(dir + "/run/config.resolved.yaml").find(repo + "/snapshots/0123abcd"), std::string::npos);
  auto missing = test::run(env + "'" + test::cli() + "' train --config '" + dir +
                           "/cfg.yaml' --set model.path=acme/absent --overwrite 2>&1");
  EXPECT_NE(missing.status, 0);
  EXPECT_NE(missing.output.find("download it with `hf download acme/absent`"), std::string::npos) << missing.output;
}
