// tests/train/test_distributed.cpp: data-parallel training (train/distributed.h) the way a
// user runs it: the built visual-rft started as 2 processes with torchrun's variables (RANK,
// LOCAL_RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT on a free loopback port; Gloo on the CPU),
// or by torchrun itself, against 1 process training on the same global batch, on the tiny
// random Qwen2-VL:
//   - GRPO with the grpo and dapo losses (dapo with scale_rewards: batch), each with and
//     without ZeRO-1: after 3 steps the weights equal the one-process weights within 1e-6
//     (max abs; measured 6e-8 for grpo with 2 micro-batches per rank, 0 for dapo with one)
//     and every metric within 1e-6 (relative; measured 0), and ZeRO-1 equals the unsharded
//     2-rank run bit for bit (weights and the gathered optimizer state);
//   - SFT with ZeRO-1, one micro-batch per rank: bit for bit;
//   - a rank killed mid-run makes the other stop with an error naming the failure within
//     60 s, and resuming the whole job ends where the uninterrupted run ends;
//   - world-size and environment errors name the key or variable.
// Why not always bitwise: a rank sums the gradients of its own micro-batches and the
// all-reduce adds the ranks' sums, while one process adds all micro-batches in a row,
// ((g1+g2)+g3)+g4 against (g1+g2)+(g3+g4). The rounding differences are ~1e-7 relative, but
// AdamW divides by sqrt(v) + eps, so an element whose micro-batch gradients nearly cancel
// (|g| ~ eps) moves by a visible fraction of lr: with lr 3e-3 (SFT, 2 micro-batches per rank)
// we measured 1e-5. With one micro-batch per rank the sums are the same (Gloo adds two
// ranks' values as a + b) and so is everything after them.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "dist_test_util.h"
#include "test_util.h"
#include "visual_rft/core/config.h"
#include "visual_rft/core/error.h"
#include "visual_rft/core/fs.h"
#include "visual_rft/core/safetensors.h"
#include "visual_rft/train/distributed.h"

using namespace vrft;
using namespace dist_test;
namespace fs = std::filesystem;

namespace {

// One process, 2 ranks (by torchrun when `torchrun`), and 2 ranks with ZeRO-1, with the same
// extra settings; compares weights, metrics and the optimizer state as the header says.
// `exact`: one micro-batch per rank, so the weights must be bitwise equal.
void check_equivalence(const std::string& name, const std::vector<std::string>& sets, bool torchrun, bool exact) {
  std::string dir = setup(name);
  std::vector<std::string> base{"--config", dir + "/cfg.yaml"};
  for (const auto& s : sets) {
    base.push_back("--set");
    base.push_back(s);
  }
  // Bitwise equal weights: an evaluation during training (split over the ranks) must give the
  // one-process answers and metrics too.
  if (exact)
    for (const std::string& s :
         std::vector<std::string>{"train.eval_steps=3", "eval.data=" + dir + "/train.jsonl", "eval.max_new_tokens=8"})
      base.insert(base.end(), {"--set", s});
  auto with = [&](std::vector<std::string> extra) {
    std::vector<std::string> a = base;
    a.insert(a.end(), extra.begin(), extra.end());
    return a;
  };
  run_job(1, with({"--set", "train.output_dir=" + dir + "/one"}), dir + "/one");
  if (torchrun) {
    // torchrun's own launch: its agent hosts the store (TORCHELASTIC_USE_AGENT_STORE).
    const std::string py = VRFT_PYTHON;
    const std::string torchrun_bin = py.substr(0, py.rfind('/')) + "/torchrun";
    ASSERT_TRUE(fs::exists(torchrun_bin)) << torchrun_bin;
    std::string cmd = "GLOO_SOCKET_IFNAME=lo OMP_NUM_THREADS=1 '" + torchrun_bin +
                      "' --nproc-per-node 2 --master-port " + std::to_string(free_port()) + " --no-python '" +
                      test::cli() + "' --log-level warn train";
    for (const auto& a : with({"--set", "train.output_dir=" + dir + "/two"})) cmd += " '" + a + "'";
    auto r = test::run(cmd);
    ASSERT_EQ(r.status, 0) << r.output;
  } else {
    run_job(2, with({"--set", "train.output_dir=" + dir + "/two"}), dir + "/two");
  }
  run_job(2, with({"--set", "train.output_dir=" + dir + "/zero", "--set", "distributed.shard=optimizer"}),
          dir + "/zero");
  const std::string ck = "/checkpoint-3/model.safetensors", opt = "/checkpoint-3/trainer_state/optimizer.safetensors";
  ASSERT_TRUE(fs::exists(dir + "/two" + ck) && fs::exists(dir + "/zero" + ck));
  const double moved = max_abs_diff(dir + "/one" + ck, dir + "/model/model.safetensors");
  const double w2 = max_abs_diff(dir + "/one" + ck, dir + "/two" + ck),
               wz = max_abs_diff(dir + "/two" + ck, dir + "/zero" + ck);
  const double m2 = metrics_diff(dir + "/one/metrics.jsonl", dir + "/two/metrics.jsonl");
  const double mz = metrics_diff(dir + "/one/metrics.jsonl", dir + "/zero/metrics.jsonl");
  const double o2 = max_abs_diff(dir + "/one" + opt, dir + "/two" + opt),
               oz = max_abs_diff(dir + "/two" + opt, dir + "/zero" + opt);
  std::printf(
      "%s: weights moved %.3g; |1 process - 2 ranks| weights %.3g, AdamW state %.3g, metrics (rel) %.3g; "
      "|2 ranks - ZeRO-1| weights %.3g, AdamW state %.3g, metrics vs 1 process %.3g\n",
      name.c_str(), moved, w2, o2, m2, wz, oz, mz);
  EXPECT_GT(moved, 1e-4);  // the runs trained: the comparison is not between untouched weights
  EXPECT_LE(w2, exact ? 0.0 : 1e-6);
  EXPECT_LE(m2, 1e-6);
  EXPECT_LE(mz, 1e-6);
  EXPECT_EQ(wz, 0.0);  // ZeRO-1 does the same arithmetic on the same gradients
  EXPECT_EQ(oz, 0.0);  // and the gathered state is the unsharded state
  // Only rank 0 writes the run folder: one metrics line per step, rank 0's rollout samples.
  EXPECT_TRUE(fs::exists(dir + "/two/rollouts/step_000003.jsonl"));
  if (exact) {  // every question answered once, as one process answers it
    const std::string pred = "/eval/step-3/predictions.jsonl";
    ASSERT_TRUE(fs::exists(dir + "/one" + pred) && fs::exists(dir + "/two" + pred));
    auto answers = [](const std::string& path) {
      std::vector<std::string> out;
      std::ifstream in(path);
      for (std::string l; std::getline(in, l);) out.push_back(nlohmann::json::parse(l)["answer"].get<std::string>());
      return out;
    };
    EXPECT_EQ(answers(dir + "/one" + pred).size(), 4u);
    EXPECT_EQ(answers(dir + "/one" + pred), answers(dir + "/two" + pred));
    EXPECT_EQ(answers(dir + "/one" + pred), answers(dir + "/zero" + pred));
  }
}

// The job of dir/cfg.yaml with `sets`, in one process (into dir/one) and on 2 ranks with
// ZeRO-1 (dir/zero; by the older key shard_optimizer, which must keep working).
void run_one_and_zero(const std::string& dir, const std::vector<std::string>& sets) {
  auto with = [&](std::vector<std::string> extra) {
    std::vector<std::string> a{"--config", dir + "/cfg.yaml"};
    a.insert(a.end(), sets.begin(), sets.end());
    a.insert(a.end(), extra.begin(), extra.end());
    return a;
  };
  run_job(1, with({"--set", "train.output_dir=" + dir + "/one"}), dir + "/one");
  run_job(2, with({"--set", "train.output_dir=" + dir + "/zero", "--set", "distributed.shard_optimizer=true"}),
          dir + "/zero");
}

}  // namespace

// grpo loss, 2 micro-batches per rank; the plain 2-rank run is launched by torchrun.
TEST(Distributed, GrpoTwoRanksEqualOneProcess) {
  REQUIRE_FIXTURES(test::tokenizer_fixture());
  check_equivalence("dist-grpo", {"grpo.loss_type=grpo"}, /*torchrun=*/true, /*exact=*/false);
}

// dapo (global token count) with scale_rewards: batch (global std), one micro-batch per rank.
TEST(Distributed, DapoBatchScaledTwoRanksEqualOneProcess) {
  REQUIRE_FIXTURES(test::tokenizer_fixture());
  check_equivalence("dist-dapo", {"grpo.loss_type=dapo", "grpo.scale_rewards=batch", "train.micro_batch_size=8"},
                    /*torchrun=*/false, /*exact=*/true);
}

TEST(Distributed, SftTwoRanksWithZeroEqualOneProcess) {
  REQUIRE_FIXTURES(test::tokenizer_fixture());
  std::string dir = setup("dist-sft");
  // 2 prompts per micro-batch: 2 micro-batches in one process, one per rank.
  run_one_and_zero(dir, {"--set", "train.trainer=sft", "--set", "train.micro_batch_size=2", "--set", "optim.lr=0.003"});
  const std::string ck = "/checkpoint-3/model.safetensors";
  const double w = max_abs_diff(dir + "/one" + ck, dir + "/zero" + ck),
               m = metrics_diff(dir + "/one/metrics.jsonl", dir + "/zero/metrics.jsonl");
  std::printf("sft: |1 process - 2 ranks ZeRO-1| weights %.3g, metrics (rel) %.3g\n", w, m);
  EXPECT_EQ(w, 0.0);
  EXPECT_LE(m, 1e-12);
}

// LoRA: only the adapters' gradients are all-reduced and their AdamW state sharded; 2 ranks
// with ZeRO-1 (one micro-batch per rank, as dapo above) end with the one-process adapter.
TEST(Distributed, LoraTwoRanksWithZeroEqualOneProcess) {
  REQUIRE_FIXTURES(test::tokenizer_fixture());
  std::string dir = setup("dist-lora");
  run_one_and_zero(dir, {"--set", "lora.r=4", "--set", "optim.lr=0.05", "--set", "grpo.loss_type=dapo", "--set",
                         "train.micro_batch_size=8"});
  const std::string ck = "/checkpoint-3/adapter_model.safetensors";
  const double w = max_abs_diff(dir + "/one" + ck, dir + "/zero" + ck),
               m = metrics_diff(dir + "/one/metrics.jsonl", dir + "/zero/metrics.jsonl");
  SafetensorsFile adapter(dir + "/one" + ck);
  double moved = 0;
  for (const auto& t : adapter.tensors())
    if (t.name.find("lora_B") != std::string::npos) moved += adapter.get(t.name).abs().sum().item<double>();
  std::printf("lora: B moved %.3g; |1 process - 2 ranks ZeRO-1| adapter %.3g, metrics (rel) %.3g\n", moved, w, m);
  EXPECT_GT(moved, 0.0);
  EXPECT_EQ(w, 0.0);
  EXPECT_LE(m, 1e-6);
}

// SIGKILL of rank 1 after the first checkpoint: rank 0 must stop on its own with an error
// (Gloo sees the closed connection; a silent peer would hit distributed.timeout_s = 60).
// Then the job resumes from checkpoint 1 and ends where one uninterrupted process ends.
TEST(Distributed, KilledRankStopsTheJobAndResumeCompletes) {
  REQUIRE_FIXTURES(test::tokenizer_fixture());
  std::string dir = setup("dist-kill");
  const std::vector<std::string> args{"--config",           dir + "/cfg.yaml", "--set",
                                      "train.save_steps=1", "--set",           "distributed.shard=optimizer"};
  auto with = [&](std::vector<std::string> extra) {
    std::vector<std::string> a = args;
    a.insert(a.end(), extra.begin(), extra.end());
    return a;
  };
  run_job(1, with({"--set", "train.output_dir=" + dir + "/one"}), dir + "/one");
  auto procs = launch(2, with({"--set", "train.output_dir=" + dir + "/two"}), dir + "/two");
  for (int i = 0; i < 15000 && !fs::exists(dir + "/two/checkpoint-1/trainer_state/state.json"); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  kill(procs[1].pid, SIGKILL);
  EXPECT_EQ(wait_for(procs[1], 60), 128 + SIGKILL);
  const auto t0 = std::chrono::steady_clock::now();
  const int st0 = wait_for(procs[0], 120);
  const double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const std::string log0 = read_file(procs[0].log);
  std::printf("rank 0 stopped %.1f s after rank 1 was killed, with status %d:\n%s", took, st0, log0.c_str());
  ASSERT_FALSE(fs::exists(dir + "/two/checkpoint-3")) << "the kill came after the run ended";
  EXPECT_EQ(st0, 1) << log0;  // not killed by the test's deadline (-1), not a crash
  EXPECT_LE(took, 60.0);
  EXPECT_NE(log0.find("rank 0 of 2"), std::string::npos) << log0;
  EXPECT_NE(log0.find("failed"), std::string::npos) << log0;
  run_job(2, with({"--set", "train.output_dir=" + dir + "/two", "--resume"}), dir + "/resumed");
  const std::string ck = "/checkpoint-3/model.safetensors";
  const double w = max_abs_diff(dir + "/one" + ck, dir + "/two" + ck);
  std::printf("killed, resumed: |1 process - 2 ranks| weights %.3g\n", w);
  EXPECT_LE(w, 1e-6);
  EXPECT_LE(metrics_diff(dir + "/one/metrics.jsonl", dir + "/two/metrics.jsonl"), 1e-6);
}

TEST(Distributed, WorldSizeAndEnvironmentErrorsNameTheKey) {
  auto expect_error = [](const std::function<void()>& f, const std::string& needle) {
    try {
      f();
      ADD_FAILURE() << "no error; expected one naming " << needle;
    } catch (const ConfigError& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  Config c = parse_config("rollout: {num_generations: 4}\ntrain: {prompts_per_step: 6, micro_batch_size: 4}\n", "test");
  EXPECT_NO_THROW(check_world(c, 1));
  EXPECT_NO_THROW(check_world(c, 2));                                  // 3 prompts x 4 per rank, micro-batches of 4
  expect_error([&] { check_world(c, 4); }, "train.prompts_per_step");  // 6 prompts on 4 ranks
  c = parse_config("rollout: {num_generations: 4}\ntrain: {prompts_per_step: 6, micro_batch_size: 8}\n", "test");
  EXPECT_NO_THROW(check_world(c, 3));                                  // 2 x 4 = 8 per rank
  expect_error([&] { check_world(c, 2); }, "train.micro_batch_size");  // 3 x 4 = 12 per rank: not in 8s
  // The environment: WORLD_SIZE unset is one process; set, it needs the others, well formed.
  for (const char* k : {"RANK", "LOCAL_RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"}) unsetenv(k);
  EXPECT_EQ(dist_env_from_environment().world_size, 1);
  setenv("WORLD_SIZE", "2", 1);
  expect_error([] { dist_env_from_environment(); }, "RANK");
  setenv("RANK", "2", 1);
  expect_error([] { dist_env_from_environment(); }, "RANK = '2'");  // rank >= world size
  setenv("RANK", "1", 1);
  setenv("MASTER_ADDR", "127.0.0.1", 1);
  setenv("MASTER_PORT", "port", 1);
  expect_error([] { dist_env_from_environment(); }, "MASTER_PORT");
  setenv("MASTER_PORT", "29511", 1);
  DistEnv e = dist_env_from_environment();
  EXPECT_EQ(e.rank, 1);
  EXPECT_EQ(e.local_rank, 1);  // LOCAL_RANK unset: one node
  EXPECT_EQ(e.master_port, 29511);
  for (const char* k : {"RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"}) unsetenv(k);
}
