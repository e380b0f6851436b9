// tests/train/test_checkpoints.cpp: a run's checkpoints end to end on the tiny random
// Qwen2-VL: a run killed (SIGKILL, even mid-save) or stopped (SIGTERM) and resumed writes the
// same metrics and weights as the uninterrupted run; a folder with a run needs --resume or
// --overwrite; a resume refuses another run or a tampered state; checkpoints record the image
// size; HF Trainer's folder names (checkpoint-N) with the old zero-padded ones still resumed;
// train.save_dtype (narrower model files, exact resume) and train.save_only_model.
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
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

TEST(Trainer, KilledOrStoppedAndResumedEqualsUninterrupted) {
  REQUIRE_FIXTURES(test::tokenizer_fixture());
  std::string a = setup("train-straight"), b = setup("train-killed");
  write_file_atomic(a + "/cfg.yaml", config_yaml(a, 6, 1e-3));
  write_file_atomic(b + "/cfg.yaml", config_yaml(b, 6, 1e-3));
  const std::string cli = "'" + test::cli() + "' --log-level warn train --config ";
  auto straight = test::run(cli + "'" + a + "/cfg.yaml'");
  ASSERT_EQ(straight.status, 0) << straight.output;
  // Start the same run, SIGKILL it once checkpoint 3 exists (mid step 4 or later), resume.
  pid_t pid = fork();
  if (pid == 0) {
    setsid();
    execl("/bin/sh", "sh", "-c", (cli + "'" + b + "/cfg.yaml' >/dev/null 2>&1").c_str(), nullptr);
    _exit(127);
  }
  for (int i = 0; i < 6000 && !fs::exists(b + "/run/checkpoint-3/trainer_state/state.json"); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  kill(-pid, SIGKILL);
  waitpid(pid, nullptr, 0);
  ASSERT_FALSE(fs::exists(b + "/run/checkpoint-6")) << "the kill came after the run ended";
  // What a kill during a checkpoint write leaves: a partial folder, never named by `latest`.
  fs::create_directories(b + "/run/checkpoint-4.partial-999/trainer_state");
  write_file_atomic(b + "/run/checkpoint-4.partial-999/model.safetensors", "truncated");
  auto resumed = test::run(cli + "'" + b + "/cfg.yaml' --resume");
  ASSERT_EQ(resumed.status, 0) << resumed.output;
  EXPECT_FALSE(fs::exists(b + "/run/checkpoint-4.partial-999"));
  auto ma = metrics_without_time(a + "/run/metrics.jsonl"), mb = metrics_without_time(b + "/run/metrics.jsonl");
  ASSERT_EQ(ma.size(), 6u);
  ASSERT_EQ(mb.size(), 6u);
  for (size_t i = 0; i < 6; ++i) EXPECT_EQ(ma[i], mb[i]) << "step " << i + 1;
  EXPECT_EQ(read_file(a + "/run/checkpoint-6/model.safetensors"), read_file(b + "/run/checkpoint-6/model.safetensors"));
  EXPECT_EQ(read_file(a + "/run/checkpoint-6/trainer_state/optimizer.safetensors"),
            read_file(b + "/run/checkpoint-6/trainer_state/optimizer.safetensors"));
  // SIGTERM (as Slurm pre-emption sends it) once step 1 is logged: the step under way finishes,
  // its checkpoint is written, the process exits with 128 + 15 and says how to go on; --resume
  // then ends where the uninterrupted run does.
  std::string c = setup("train-sigterm");
  write_file_atomic(c + "/cfg.yaml", config_yaml(c, 6, 1e-3));
  pid_t child = fork();
  if (child == 0) {
    const std::string log = c + "/log.txt";
    freopen(log.c_str(), "w", stderr);
    freopen("/dev/null", "w", stdout);
    execl(test::cli().c_str(), "visual-rft", "--log-level", "warn", "train", "--config", (c + "/cfg.yaml").c_str(),
          nullptr);
    _exit(127);
  }
  for (int i = 0; i < 6000 && metrics_lines(c + "/run/metrics.jsonl") < 1; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  kill(child, SIGTERM);
  int status = 0;
  waitpid(child, &status, 0);
  ASSERT_TRUE(WIFEXITED(status)) << "ended by a signal, not by the trainer";
  EXPECT_EQ(WEXITSTATUS(status), 128 + SIGTERM);
  const int64_t stopped = metrics_lines(c + "/run/metrics.jsonl");
  ASSERT_GE(stopped, 1);
  ASSERT_LT(stopped, 6) << "the signal came after the run ended";
  char name[32];
  std::snprintf(name, sizeof name, "checkpoint-%lld", static_cast<long long>(stopped));
  EXPECT_TRUE(fs::exists(c + "/run/" + name + "/trainer_state/state.json")) << name;
  EXPECT_EQ(latest_checkpoint(c + "/run"), c + "/run/" + name);
  const std::string said = read_file(c + "/log.txt");
  EXPECT_NE(said.find("stopped by SIGTERM after step " + std::to_string(stopped) + " of 6: checkpoint " + c + "/run/" +
                      name + " written; continue with --resume"),
            std::string::npos)
      << said;
  auto cont = test::run(cli + "'" + c + "/cfg.yaml' --resume");
  ASSERT_EQ(cont.status, 0) << cont.output;
  auto mc = metrics_without_time(c + "/run/metrics.jsonl");
  ASSERT_EQ(mc.size(), 6u);
  for (size_t i = 0; i < 6; ++i) EXPECT_EQ(ma[i], mc[i]) << "step " << i + 1;
  EXPECT_EQ(read_file(a + "/run/checkpoint-6/model.safetensors"), read_file(c + "/run/checkpoint-6/model.safetensors"));

  // Resuming a finished run changes nothing and says where it stands.
  auto again = test::run("'" + test::cli() + "' train --config '" + b + "/cfg.yaml' --resume 2>&1");
  ASSERT_EQ(again.status, 0) << again.output;
  EXPECT_NE(again.output.find("nothing to do: the run already stands at its last step, 6"), std::string::npos)
      << again.output;
  EXPECT_EQ(metrics_without_time(b + "/run/metrics.jsonl").size(), 6u);
}

// A fresh run into a folder holding an earlier run is refused, naming --resume and
// --overwrite; --overwrite deletes the earlier run; --resume without `latest` finds the
// newest complete checkpoint by scanning (an incomplete newer one is passed over).
TEST(Trainer, AFolderWithARunNeedsResumeOrOverwrite) {
  REQUIRE_FIXTURES(test::tokenizer_fixture());
  std::string dir = setup("train-reuse");
  Config cfg = parse_config(config_yaml(dir, 6, 1e-3), "test");  // checkpoints at 3 and 6
  EXPECT_EQ(train_grpo(cfg, "", nullptr).final_step, 6);
  const std::string metrics = read_file(dir + "/run/metrics.jsonl");
  try {
    train_grpo(cfg, "", nullptr);
    FAIL() << "a fresh run into a folder holding a run went ahead";
  } catch (const Error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("train.output_dir '" + dir +
                     "/run' holds an earlier run (checkpoint-3, checkpoint-6, "
                     "latest, metrics.jsonl"),
              std::string::npos)
        << m;
    EXPECT_NE(m.find("--resume"), std::string::npos) << m;
    EXPECT_NE(m.find("--overwrite"), std::string::npos) << m;
  }
  EXPECT_EQ(read_file(dir + "/run/metrics.jsonl"), metrics) << "the refused run touched the folder";
  EXPECT_THROW(train_grpo(cfg, "latest", nullptr, /*overwrite=*/true), Error);

  // No `latest`, and checkpoint 6 incomplete (its state gone): --resume continues from 3.
  fs::remove(dir + "/run/latest");
  fs::remove(dir + "/run/checkpoint-6/trainer_state/state.json");
  EXPECT_EQ(latest_checkpoint(dir + "/run"), dir + "/run/checkpoint-3");
  cfg.train.max_steps = 4;
  TrainResult res = train_grpo(cfg, "latest", nullptr);
  EXPECT_EQ(res.steps_done, 1);
  EXPECT_EQ(res.final_step, 4);

  // --overwrite: the earlier run is gone and the new one stands alone.
  cfg.train.max_steps = 1;
  res = train_grpo(cfg, "", nullptr, /*overwrite=*/true);
  EXPECT_EQ(res.final_step, 1);
  EXPECT_FALSE(fs::exists(dir + "/run/checkpoint-3"));
  EXPECT_FALSE(fs::exists(dir + "/run/checkpoint-6"));
  EXPECT_TRUE(fs::exists(dir + "/run/checkpoint-1/model.safetensors"));
  EXPECT_EQ(metrics_without_time(dir + "/run/metrics.jsonl").size(), 1u);
}

// --resume refuses a checkpoint of another run (naming each differing key) unless
// train.resume_strict is false, and a tampered trainer_state/state.json (naming the file).
TEST(Trainer, ResumeRefusesAnotherRunOrATamperedState) {
  REQUIRE_FIXTURES(test::tokenizer_fixture());
  std::string dir = setup("train-identity");
  Config cfg = parse_config(config_yaml(dir, 3, 1e-3), "test");  // checkpoint at 3
  ASSERT_EQ(train_grpo(cfg, "", nullptr).final_step, 3);
  const std::string state_path = dir + "/run/checkpoint-3/trainer_state/state.json";
  const std::string state = read_file(state_path);
  cfg.train.max_steps = 4;
  Config other = cfg;
  other.train.seed = 7;
  other.train.prompts_per_step = 4;
  try {
    train_grpo(other, "latest", nullptr);
    FAIL() << "a resume with another seed went ahead";
  } catch (const ConfigError& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("train.seed is 7 here, 42 in the checkpoint"), std::string::npos) << m;
    EXPECT_NE(m.find("train.prompts_per_step is 4 here, 2 in the checkpoint"), std::string::npos) << m;
    EXPECT_NE(m.find("train.resume_strict: false"), std::string::npos) << m;
  }
  EXPECT_EQ(metrics_without_time(dir + "/run/metrics.jsonl").size(), 3u) << "the refused resume touched the run";

  for (const auto& [bad, field] : std::vector<std::pair<std::string, std::string>>{
           {R"({"step": -1})", "field 'step' must be an integer >= 0, got -1"},
           {R"({"step": 3, "skipped_prompts": "many"})",
            "field 'skipped_prompts' must be an integer >= 0, got \"many\""},
           {R"({"step": 2.5})", "field 'step' must be an integer >= 0, got 2.5"},
           {R"([3])", "expected a JSON object, got array"},
           {R"({"seed": 42})", "field 'step' is missing"}}) {
    SCOPED_TRACE(bad);
    write_file_atomic(state_path, bad);
    try {
      train_grpo(cfg, "latest", nullptr);
      ADD_FAILURE() << "a tampered state.json was accepted";
    } catch (const FileError& e) {
      EXPECT_NE(std::string(e.what()).find("'" + state_path + "': " + field), std::string::npos) << e.what();
    }
  }
  write_file_atomic(state_path, state);
  other.train.prompts_per_step = 2;
  other.train.resume_strict = false;  // told to go on: a warning, and the run continues
  EXPECT_EQ(train_grpo(other, "latest", nullptr).final_step, 4);
}

// A run moved with its data and model (the whole folder renamed) resumes strictly: the paths
// differ and what they hold does not. Data that changed under the moved run is refused, by
// key and as other contents; data changed in place is only warned of.
TEST(Trainer, ResumeFollowsARunMovedWithItsDataAndModel) {
  REQUIRE_FIXTURES(test::tokenizer_fixture());
  const std::string dir = setup("train-moved");
  const std::string moved = scratch_dir("train-moved-to");  // empty: the rename below replaces it
  ASSERT_EQ(train_grpo(parse_config(config_yaml(dir, 3, 1e-3), "test"), "", nullptr).final_step, 3);
  const auto run = nlohmann::json::parse(read_file(dir + "/run/checkpoint-3/trainer_state/state.json"))["run"];
  EXPECT_EQ(run["train_data_digest"].get<std::string>().size(), 16u) << run.dump();
  EXPECT_EQ(run["model_digest"].get<std::string>().size(), 16u) << run.dump();
  fs::rename(dir, moved);
  Config cfg = parse_config(config_yaml(moved, 4, 1e-3), "test");
  ASSERT_TRUE(cfg.train.resume_strict);
  EXPECT_EQ(train_grpo(cfg, "latest", nullptr).final_step, 4);

  // The moved data now differs from what checkpoint-3 was trained on: its own rows changed.
  std::string rows = read_file(moved + "/train.jsonl");
  rows.replace(rows.find("thing"), 5, "other");
  write_file_atomic(moved + "/train.jsonl", rows);
  Config back = cfg;
  back.train.max_steps = 5;
  try {
    train_grpo(back, moved + "/run/checkpoint-3", nullptr);
    FAIL() << "a resume on other data went ahead";
  } catch (const ConfigError& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("data.train is \"" + moved + "/train.jsonl\" here, \"" + dir +
                     "/train.jsonl\" in the checkpoint, "
                     "with other contents"),
              std::string::npos)
        << m;
    EXPECT_EQ(m.find("model.path"), std::string::npos) << "the model moved unchanged: " << m;
  }
  // Checkpoint-4 was written after the move: the same path, other contents, a warning only.
  EXPECT_EQ(train_grpo(back, "latest", nullptr).final_step, 5);
}

// A checkpoint records the image size its run trained at in preprocessor_config.json, and
// eval.pixels: model evaluates at that size (the reference's LISA protocol); eval.pixels:
// config at data.min/max_pixels.
TEST(Trainer, CheckpointsRecordTheirImageSizeForEval) {
  REQUIRE_FIXTURES(test::tokenizer_fixture());
  std::string dir = setup("train-pixels");
  Config cfg = parse_config(config_yaml(dir, 1, 1e-3), "test");
  cfg.data.max_pixels = 6272;
  const std::string ckpt = train_grpo(cfg, "", nullptr).last_checkpoint;
  const auto pre = nlohmann::json::parse(read_file(ckpt + "/preprocessor_config.json"));
  EXPECT_EQ(pre["max_pixels"], 6272);
  EXPECT_EQ(pre["min_pixels"], 3136);
  Config ev = cfg;
  ev.data.max_pixels = 50176;
  ev.eval.data = dir + "/train.jsonl";
  ev.eval.max_new_tokens = 4;
  for (const char* mode : {"model", "config"}) {
    ev.eval.pixels = *parse_choice<EvalPixels>(mode);
    EvalRunOptions o;
    o.model_dir = ckpt;
    o.output_dir = dir + "/eval-" + mode;
    const auto out = run_evaluation(ev, o);
    EXPECT_EQ(out.metrics["generation"]["max_pixels"], std::string(mode) == "model" ? 6272 : 50176) << mode;
  }
}

namespace {

// The floating tensors of a safetensors file, by name, as fp32 values.
std::map<std::string, torch::Tensor> tensors_of(const std::string& path) {
  std::map<std::string, torch::Tensor> out;
  SafetensorsFile f(path);
  for (const auto& info : f.tensors()) out[info.name] = f.get(info.name).to(torch::kFloat).clone();
  return out;
}

// A second run folder holding only `from`'s checkpoint at step 3, under `name`, with its
// metrics: what a run stopped there (by a kill, or by an older visual-rft) leaves.
void copy_stopped_run(const std::string& from, const std::string& to, const std::string& name) {
  fs::create_directories(to);
  fs::copy(from + "/checkpoint-3", to + "/" + name, fs::copy_options::recursive);
  fs::copy_file(from + "/metrics.jsonl", to + "/metrics.jsonl");
  write_file_atomic(to + "/latest", name + "\n");
}

}  // namespace

// train.save_dtype bfloat16 while training in fp32: the model files are bf16 and config.json
// says so, the exact fp32 weights are kept in trainer_state/, and training is not touched (its
// weights equal an fp32-saving run's). A run stopped at step 3 and resumed from a folder with
// the zero-padded name of older visual-rft versions (checkpoint-000003) ends on the same
// bytes as the uninterrupted run.
TEST(Checkpoints, NarrowerModelFilesAndOldFolderNamesResumeExactly) {
  REQUIRE_FIXTURES(test::tokenizer_fixture());
  const std::string a = setup("ckpt-fp32"), b = setup("ckpt-bf16");
  write_file_atomic(a + "/cfg.yaml", config_yaml(a, 6, 1e-3));
  write_file_atomic(b + "/cfg.yaml", config_yaml(b, 6, 1e-3));
  const std::string cli = "'" + test::cli() + "' --log-level warn train --config ";
  auto fp32 = test::run(cli + "'" + a + "/cfg.yaml'");
  ASSERT_EQ(fp32.status, 0) << fp32.output;
  auto bf16 = test::run(cli + "'" + b + "/cfg.yaml' --set train.save_dtype=bfloat16");
  ASSERT_EQ(bf16.status, 0) << bf16.output;

  const std::string ck = b + "/run/checkpoint-6";
  EXPECT_EQ(read_file(b + "/run/latest"), "checkpoint-6\n");
  const SafetensorsFile files(ck + "/model.safetensors");
  for (const auto& info : files.tensors()) {
    EXPECT_EQ(info.dtype, StDtype::BF16) << info.name;
  }
  EXPECT_EQ(nlohmann::json::parse(read_file(ck + "/config.json"))["dtype"], "bfloat16");
  EXPECT_EQ(nlohmann::json::parse(read_file(a + "/run/checkpoint-6/config.json"))["dtype"], "float32");
  const auto exact = tensors_of(a + "/run/checkpoint-6/model.safetensors");
  const auto masters = tensors_of(ck + "/trainer_state/master_weights.safetensors");
  const auto rounded = tensors_of(ck + "/model.safetensors");
  ASSERT_EQ(masters.size(), exact.size());
  for (const auto& [name, t] : exact) {
    ASSERT_TRUE(masters.count(name)) << name;
    EXPECT_TRUE(torch::equal(masters.at(name), t)) << name << ": training changed with the save dtype";
    EXPECT_TRUE(torch::equal(rounded.at(name), t.to(torch::kBFloat16).to(torch::kFloat))) << name;
  }

  // Stopped at step 3 under the old name, resumed: the same weights as the uninterrupted run.
  const std::string c = b + "/resumed";
  copy_stopped_run(b + "/run", c, "checkpoint-000003");
  auto resumed = test::run(cli + "'" + b + "/cfg.yaml' --set train.save_dtype=bfloat16 --set train.output_dir='" + c +
                           "' --resume");
  ASSERT_EQ(resumed.status, 0) << resumed.output;
  EXPECT_EQ(read_file(c + "/latest"), "checkpoint-6\n");
  EXPECT_EQ(read_file(c + "/checkpoint-6/trainer_state/master_weights.safetensors"),
            read_file(ck + "/trainer_state/master_weights.safetensors"));
  EXPECT_EQ(read_file(c + "/checkpoint-6/model.safetensors"), read_file(ck + "/model.safetensors"));
  EXPECT_EQ(metrics_without_time(c + "/metrics.jsonl"), metrics_without_time(b + "/run/metrics.jsonl"));
}

// train.save_only_model: the model folder alone (no trainer_state/), `latest` names it, the
// run says at its start that it cannot be resumed, and --resume refuses to start it again.
TEST(Checkpoints, SaveOnlyModelWritesWeightsAndRefusesAResume) {
  REQUIRE_FIXTURES(test::tokenizer_fixture());
  const std::string d = setup("ckpt-only-model");
  write_file_atomic(d + "/cfg.yaml", config_yaml(d, 3, 1e-3));
  const std::string cli = "'" + test::cli() + "' train --config '" + d + "/cfg.yaml' --set train.save_only_model=true";
  auto r = test::run(cli + " 2>&1");
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("train.save_only_model: checkpoints hold the model files only; this run cannot be resumed"),
            std::string::npos)
      << r.output;
  EXPECT_TRUE(fs::exists(d + "/run/checkpoint-3/model.safetensors"));
  EXPECT_TRUE(fs::exists(d + "/run/checkpoint-3/config.json"));
  EXPECT_TRUE(fs::exists(d + "/run/checkpoint-3/tokenizer.json"));
  EXPECT_FALSE(fs::exists(d + "/run/checkpoint-3/trainer_state"));
  EXPECT_EQ(read_file(d + "/run/latest"), "checkpoint-3\n");
  auto again = test::run(cli + " --resume 2>&1");
  EXPECT_NE(again.status, 0);
  EXPECT_NE(again.output.find("holds weights-only checkpoints (checkpoint-3, saved with train.save_only_model): a run "
                              "cannot resume from them"),
            std::string::npos)
      << again.output;
  EXPECT_EQ(metrics_lines(d + "/run/metrics.jsonl"), 3) << "the refused resume wrote nothing";
}
