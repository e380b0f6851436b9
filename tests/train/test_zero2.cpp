// tests/train/test_zero2.cpp: distributed.shard: gradients (ZeRO-2, dp_adamw.h) the way a user
// runs it: the built visual-rft as 1, 2 and 4 processes (Gloo on the CPU) on the tiny random
// Qwen2-VL, with the working weights in bf16 (rollout.dtype: bfloat16) and float32 masters:
//   - 2 ranks with one micro-batch each equal one process with two, bit for bit: the float32
//     masters (the checkpoint's model files), the gathered AdamW state and the metrics; the
//     masters keep float32 precision (the checkpoint is not the bf16 working copy rounded); the
//     reference model computes as the policy does, so the KL of step 1 is exactly 0;
//   - 4 ranks with one micro-batch each equal one process with four, and a run stopped after 2
//     steps on 2 ranks and resumed on 4 (checkpoints with bf16 model files and float32
//     master_weights) equals one process doing the same, bit for bit.
// Why bit for bit matters here: a float32 rounding difference in a master can move the bf16
// working value it rounds to by a whole bf16 step (2^-8 relative), and from there the sampled
// completions differ; so the owners add the ranks' gradients in rank order, which is one
// process's order of micro-batches when each rank has one. With several micro-batches per
// rank the order differs (rank 0's second micro-batch comes after rank 1's first), and the
// runs agree only as far as that allows.
#include <gtest/gtest.h>

#include <fstream>
#include <string>
#include <vector>

#include "dist_test_util.h"
#include "test_util.h"
#include "visual_rft/core/config.h"
#include "visual_rft/core/error.h"
#include "visual_rft/core/safetensors.h"

using namespace vrft;
using namespace dist_test;

namespace {

// `base` plus the ZeRO-2, bf16-working-copy settings.
std::vector<std::string> zero2_args(const std::string& dir, const std::vector<std::string>& sets) {
  std::vector<std::string> a{"--config", dir + "/cfg.yaml",  "--set", "distributed.shard=gradients",
                             "--set",    "model.dtype=auto", "--set", "rollout.dtype=bfloat16"};
  for (const std::string& s : sets) a.insert(a.end(), {"--set", s});
  return a;
}

std::vector<std::string> plus(std::vector<std::string> a, const std::vector<std::string>& more) {
  a.insert(a.end(), more.begin(), more.end());
  return a;
}

// The largest difference between a float32 tensor and its bf16 rounding, over a file.
double beyond_bf16(const std::string& path) {
  SafetensorsFile f(path);
  double d = 0;
  for (const auto& info : f.tensors()) {
    const torch::Tensor t = f.get(info.name).to(torch::kFloat);
    d = std::max(d, (t - t.to(torch::kBFloat16).to(torch::kFloat)).abs().max().item<double>());
  }
  return d;
}

}  // namespace

TEST(Zero2, TwoRanksEqualOneProcessBitForBit) {
  REQUIRE_FIXTURES(test::tokenizer_fixture());
  const std::string dir = setup("zero2-exact");
  // dapo with batch-scaled rewards and one micro-batch (2 prompts x 4) per rank: one process
  // adds the same two gradients that the 2-rank reduction adds.
  const auto args = zero2_args(dir, {"grpo.loss_type=dapo", "grpo.scale_rewards=batch", "train.micro_batch_size=8"});
  run_job(1, plus(args, {"--set", "train.output_dir=" + dir + "/one"}), dir + "/one");
  run_job(2, plus(args, {"--set", "train.output_dir=" + dir + "/two"}), dir + "/two");
  const std::string ck = "/checkpoint-3/model.safetensors", opt = "/checkpoint-3/trainer_state/optimizer.safetensors";
  ASSERT_TRUE(fs::exists(dir + "/one" + ck) && fs::exists(dir + "/two" + ck));
  const double moved = max_abs_diff(dir + "/one" + ck, dir + "/model/model.safetensors");
  const double w = max_abs_diff(dir + "/one" + ck, dir + "/two" + ck),
               o = max_abs_diff(dir + "/one" + opt, dir + "/two" + opt);
  const double m = metrics_diff(dir + "/one/metrics.jsonl", dir + "/two/metrics.jsonl");
  const double fine = beyond_bf16(dir + "/one" + ck);
  std::printf(
      "zero2: weights moved %.3g, masters beyond bf16 by %.3g; |1 process - 2 ranks| masters %.3g, AdamW %.3g, metrics "
      "(rel) %.3g\n",
      moved, fine, w, o, m);
  EXPECT_GT(moved, 1e-4);
  EXPECT_GT(fine, 0.0) << "the checkpoint holds the bf16 working copy, not the float32 masters";
  EXPECT_EQ(w, 0.0);
  EXPECT_EQ(o, 0.0);
  EXPECT_LE(m, 1e-12);
  std::ifstream in(dir + "/one/metrics.jsonl");
  std::string first;
  ASSERT_TRUE(static_cast<bool>(std::getline(in, first)));
  EXPECT_EQ(nlohmann::json::parse(first)["kl"].get<double>(), 0.0) << "step 1: the reference computes as the policy";
}

TEST(Zero2, FourRanksAndAResumeFromTwoToFourRanksEqualOneProcess) {
  REQUIRE_FIXTURES(test::tokenizer_fixture());
  // 4 photos of one size (512 x 512), so that every prompt has the same length: LibTorch's
  // bf16 CPU kernels give results that depend on how far a batch is padded, and a rank holding
  // one prompt pads nothing while one process pads to the step's longest.
  const std::string dir = setup("zero2-four", {"apple.jpg", "orange.jpg", "baboon.jpg", "astronaut.png"});
  // A constant rate, so that a 2-step run and its resumption follow the 3-step schedule; bf16
  // model files, so that the exact weights are the float32 masters beside them.
  const auto args = zero2_args(
      dir, {"optim.lr_schedule=constant", "optim.warmup_steps=0", "train.save_steps=1", "train.save_dtype=bfloat16"});
  auto run = [&](int world, const std::string& out, int64_t micro, const std::vector<std::string>& more) {
    run_job(world,
            plus(plus(args, {"--set", "train.output_dir=" + dir + "/" + out, "--set",
                             "train.micro_batch_size=" + std::to_string(micro)}),
                 more),
            dir + "/" + out + "-" + std::to_string(world));
  };
  // 4 ranks with one prompt (4 completions, one micro-batch) each; one process adds its 4
  // micro-batches in a row, the 4 ranks' values are added in rank order.
  run(1, "one", 4, {});
  run(4, "four", 4, {});
  // 2 steps on 2 ranks (a micro-batch of 2 prompts each), resumed on 4 (one prompt each);
  // one process does the same with micro-batches of 8 and then 4 completions.
  run(1, "one-resumed", 8, {"--set", "train.max_steps=2"});
  run(1, "one-resumed", 4, {"--resume"});
  run(2, "resumed", 8, {"--set", "train.max_steps=2"});
  run(4, "resumed", 4, {"--resume"});
  const std::string ck = "/checkpoint-3", masters = ck + "/trainer_state/master_weights.safetensors",
                    opt = ck + "/trainer_state/optimizer.safetensors";
  ASSERT_TRUE(fs::exists(dir + "/one" + masters) && fs::exists(dir + "/resumed" + masters));
  EXPECT_EQ(SafetensorsFile(dir + "/one" + ck + "/model.safetensors").tensors()[0].dtype, StDtype::BF16);
  const double moved = max_abs_diff(dir + "/one" + masters, dir + "/model/model.safetensors");
  const double w4 = max_abs_diff(dir + "/one" + masters, dir + "/four" + masters),
               o4 = max_abs_diff(dir + "/one" + opt, dir + "/four" + opt),
               m4 = metrics_diff(dir + "/one/metrics.jsonl", dir + "/four/metrics.jsonl");
  const double wr = max_abs_diff(dir + "/one-resumed" + masters, dir + "/resumed" + masters),
               or_ = max_abs_diff(dir + "/one-resumed" + opt, dir + "/resumed" + opt),
               mr = metrics_diff(dir + "/one-resumed/metrics.jsonl", dir + "/resumed/metrics.jsonl");
  std::printf(
      "zero2: the masters moved %.3g; |1 process - 4 ranks| masters %.3g, AdamW %.3g, metrics (rel) %.3g; "
      "|1 process - 2 ranks resumed on 4| masters %.3g, AdamW %.3g, metrics (rel) %.3g\n",
      moved, w4, o4, m4, wr, or_, mr);
  EXPECT_GT(moved, 1e-4);
  EXPECT_EQ(w4, 0.0);
  EXPECT_EQ(o4, 0.0);
  EXPECT_LE(m4, 1e-12);
  EXPECT_EQ(wr, 0.0);
  EXPECT_EQ(or_, 0.0);
  EXPECT_LE(mr, 1e-12);
}

// SFT takes the same path: 2 ranks with one micro-batch (2 rows) each equal one process.
TEST(Zero2, SftTwoRanksEqualOneProcessBitForBit) {
  REQUIRE_FIXTURES(test::tokenizer_fixture());
  const std::string dir = setup("zero2-sft");
  const auto args = zero2_args(dir, {"train.trainer=sft", "train.micro_batch_size=2", "optim.lr=0.003"});
  run_job(1, plus(args, {"--set", "train.output_dir=" + dir + "/one"}), dir + "/one");
  run_job(2, plus(args, {"--set", "train.output_dir=" + dir + "/two"}), dir + "/two");
  const std::string ck = "/checkpoint-3/model.safetensors";
  const double moved = max_abs_diff(dir + "/one" + ck, dir + "/model/model.safetensors");
  const double w = max_abs_diff(dir + "/one" + ck, dir + "/two" + ck),
               m = metrics_diff(dir + "/one/metrics.jsonl", dir + "/two/metrics.jsonl");
  std::printf("zero2 sft: weights moved %.3g; |1 process - 2 ranks| masters %.3g, metrics (rel) %.3g\n", moved, w, m);
  EXPECT_GT(moved, 1e-4);
  EXPECT_EQ(w, 0.0);
  EXPECT_LE(m, 1e-12);
}

TEST(Zero2, SettingsThatContradictItAreNamed) {
  auto error_of = [](const std::string& yaml) {
    try {
      validate(parse_config(yaml, "test.yaml"));
    } catch (const ConfigError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  const std::string base = "data: {train: x.jsonl}\n";
  EXPECT_EQ(error_of(base + "distributed: {shard: gradients}\n"), "no error");
  EXPECT_NE(error_of(base + "distributed: {shard: gradients}\nlora: {r: 8}\n").find("distributed.shard"),
            std::string::npos);
  EXPECT_NE(error_of(base + "distributed: {shard: gradients}\nmodel: {dtype: float32}\nrollout: {dtype: bfloat16}\n")
                .find("model.dtype"),
            std::string::npos);
  EXPECT_EQ(error_of(base + "distributed: {shard: gradients}\nmodel: {dtype: bfloat16}\n"), "no error");
  EXPECT_NE(error_of(base + "distributed: {shard: gradients}\nrollout: {dtype: float16}\n").find("rollout.dtype"),
            std::string::npos);
  EXPECT_NE(error_of(base + "distributed: {shard: gradients, shard_optimizer: true}\n").find("shard_optimizer"),
            std::string::npos);
  EXPECT_NE(error_of(base + "distributed: {shard: stage2}\n").find("distributed.shard"), std::string::npos);
  // The older key still means ZeRO-1.
  EXPECT_EQ(parse_config("distributed: {shard_optimizer: true}\n", "test.yaml").distributed.mode(), Shard::optimizer);
}

// A rank with fewer micro-batches than another (a prompt skipped as too long) takes part in
// every round with zero gradients: the run completes, and after one step it agrees with one
// process up to the order of the float32 sums (one process adds its 3 micro-batches in a row,
// the ranks in rounds), which AdamW's first step can turn into at most 2 x lr per element.
TEST(Zero2, ARankWithFewerMicroBatchesTakesPartWithZeros) {
  REQUIRE_FIXTURES(test::tokenizer_fixture());
  const std::string dir = setup("zero2-uneven");
  // 4 rows, one of them too long: every step holds it, so one rank has 1 micro-batch (one
  // prompt of 4 completions) and the other 2, whichever way the rows are shuffled.
  std::string jsonl = read_file(dir + "/train.jsonl"), words;
  jsonl = jsonl.substr(0, jsonl.rfind('\n', jsonl.size() - 2) + 1);  // the first 3 rows
  for (int i = 0; i < 200; ++i) words += " very";
  jsonl += nlohmann::json{{"image", test::fixtures_dir() + "/images/apple.jpg"},
                          {"problem", "What is in this" + words + " long question?"},
                          {"solution", "<answer>o</answer>"}}
               .dump() +
           "\n";
  write_file_atomic(dir + "/train.jsonl", jsonl);
  const auto args = zero2_args(dir, {"data.max_prompt_length=150", "train.max_steps=1", "train.save_steps=1"});
  run_job(1, plus(args, {"--set", "train.output_dir=" + dir + "/one"}), dir + "/one");
  run_job(2, plus(args, {"--set", "train.output_dir=" + dir + "/two"}), dir + "/two");
  std::ifstream in(dir + "/one/metrics.jsonl");
  std::string line;
  ASSERT_TRUE(static_cast<bool>(std::getline(in, line)));
  const int64_t skipped = nlohmann::json::parse(line)["skipped_prompts"].get<int64_t>();
  const std::string ck = "/checkpoint-1/model.safetensors";
  const double w = max_abs_diff(dir + "/one" + ck, dir + "/two" + ck),
               m = metrics_diff(dir + "/one/metrics.jsonl", dir + "/two/metrics.jsonl");
  std::printf("zero2, %lld prompt(s) skipped: |1 process - 2 ranks| masters %.3g, metrics (rel) %.3g\n",
              static_cast<long long>(skipped), w, m);
  EXPECT_EQ(skipped, 1);
  EXPECT_LE(w, 2 * 1e-3);
  EXPECT_LE(m, 1e-6);
}
