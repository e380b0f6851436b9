// tests/train/test_trainer.cpp: `visual-rft train` (GRPO) end to end on the tiny random
// Qwen2-VL of scripts/refs/rollout_refs.py with the real tokenizer and fixture photos:
// a learnable reward rises; a run killed with SIGKILL and resumed writes the same metrics
// and weights as the uninterrupted run; completion log-probs with the shared prompt equal a
// full forward; inconsistent configs are refused.
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
namespace fs = std::filesystem;

namespace {

std::string fixtures() { return test::fixtures_dir(); }

// A model folder (tiny random weights, the real tokenizer) and a 4-sample data set.
std::string setup(const std::string& name) {
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

std::string config_yaml(const std::string& dir, int64_t steps, double lr, int64_t G = 4, double beta = 0.04) {
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
CustomReward even_first_token() {
  return {{"even_first"}, [](const std::string&, const std::vector<int64_t>& ids, const Sample&) {
            const double v = !ids.empty() && ids[0] % 2 == 0 ? 1.0 : 0.0;
            return CompletionRewards{{v}, v};
          }};
}

std::vector<nlohmann::json> metrics_without_time(const std::string& path) {
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
int64_t optimizer_steps(const std::string& checkpoint) {
  for (const auto& [k, v] : load_checkpoint_state(checkpoint).optimizer)
    if (k == "step") return v.item<int64_t>();
  return -1;
}

int64_t metrics_lines(const std::string& path) {
  std::ifstream in(path);
  int64_t n = 0;
  for (std::string l; std::getline(in, l);) n += !l.empty();
  return n;
}

}  // namespace

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
  EXPECT_FALSE(fs::exists(dir + "/run/checkpoint-000018"));
  EXPECT_TRUE(fs::exists(dir + "/run/checkpoint-000021/model.safetensors"));
  EXPECT_TRUE(fs::exists(dir + "/run/checkpoint-000024/tokenizer.json"));
  EXPECT_EQ(read_file(dir + "/run/latest"), "checkpoint-000024\n");
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
  for (int i = 0; i < 6000 && !fs::exists(b + "/run/checkpoint-000003/trainer_state/state.json"); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  kill(-pid, SIGKILL);
  waitpid(pid, nullptr, 0);
  ASSERT_FALSE(fs::exists(b + "/run/checkpoint-000006")) << "the kill came after the run ended";
  // What a kill during a checkpoint write leaves: a partial folder, never named by `latest`.
  fs::create_directories(b + "/run/checkpoint-000004.partial-999/trainer_state");
  write_file_atomic(b + "/run/checkpoint-000004.partial-999/model.safetensors", "truncated");
  auto resumed = test::run(cli + "'" + b + "/cfg.yaml' --resume");
  ASSERT_EQ(resumed.status, 0) << resumed.output;
  EXPECT_FALSE(fs::exists(b + "/run/checkpoint-000004.partial-999"));
  auto ma = metrics_without_time(a + "/run/metrics.jsonl"), mb = metrics_without_time(b + "/run/metrics.jsonl");
  ASSERT_EQ(ma.size(), 6u);
  ASSERT_EQ(mb.size(), 6u);
  for (size_t i = 0; i < 6; ++i) EXPECT_EQ(ma[i], mb[i]) << "step " << i + 1;
  EXPECT_EQ(read_file(a + "/run/checkpoint-000006/model.safetensors"),
            read_file(b + "/run/checkpoint-000006/model.safetensors"));
  EXPECT_EQ(read_file(a + "/run/checkpoint-000006/trainer_state/optimizer.safetensors"),
            read_file(b + "/run/checkpoint-000006/trainer_state/optimizer.safetensors"));
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
  std::snprintf(name, sizeof name, "checkpoint-%06lld", static_cast<long long>(stopped));
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
  EXPECT_EQ(read_file(a + "/run/checkpoint-000006/model.safetensors"),
            read_file(c + "/run/checkpoint-000006/model.safetensors"));

  // Resuming a finished run changes nothing and says where it stands.
  auto again = test::run("'" + test::cli() + "' train --config '" + b + "/cfg.yaml' --resume 2>&1");
  ASSERT_EQ(again.status, 0) << again.output;
  EXPECT_NE(again.output.find("nothing to do: the run already stands at its last step, 6"), std::string::npos)
      << again.output;
  EXPECT_EQ(metrics_without_time(b + "/run/metrics.jsonl").size(), 6u);
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
  EXPECT_TRUE(fs::exists(dir + "/run/checkpoint-000010/model.safetensors"));
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
  EXPECT_TRUE(fs::exists(dir + "/run/checkpoint-000001/model.safetensors"));
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
                     "/run' holds an earlier run (checkpoint-000003, checkpoint-000006, "
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
  fs::remove(dir + "/run/checkpoint-000006/trainer_state/state.json");
  EXPECT_EQ(latest_checkpoint(dir + "/run"), dir + "/run/checkpoint-000003");
  cfg.train.max_steps = 4;
  TrainResult res = train_grpo(cfg, "latest", nullptr);
  EXPECT_EQ(res.steps_done, 1);
  EXPECT_EQ(res.final_step, 4);

  // --overwrite: the earlier run is gone and the new one stands alone.
  cfg.train.max_steps = 1;
  res = train_grpo(cfg, "", nullptr, /*overwrite=*/true);
  EXPECT_EQ(res.final_step, 1);
  EXPECT_FALSE(fs::exists(dir + "/run/checkpoint-000003"));
  EXPECT_FALSE(fs::exists(dir + "/run/checkpoint-000006"));
  EXPECT_TRUE(fs::exists(dir + "/run/checkpoint-000001/model.safetensors"));
  EXPECT_EQ(metrics_without_time(dir + "/run/metrics.jsonl").size(), 1u);
}

// --resume refuses a checkpoint of another run (naming each differing key) unless
// train.resume_strict is false, and a tampered trainer_state/state.json (naming the file).
TEST(Trainer, ResumeRefusesAnotherRunOrATamperedState) {
  REQUIRE_FIXTURES(test::tokenizer_fixture());
  std::string dir = setup("train-identity");
  Config cfg = parse_config(config_yaml(dir, 3, 1e-3), "test");  // checkpoint at 3
  ASSERT_EQ(train_grpo(cfg, "", nullptr).final_step, 3);
  const std::string state_path = dir + "/run/checkpoint-000003/trainer_state/state.json";
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
  EXPECT_EQ(res.last_checkpoint, dir + "/run/checkpoint-000002");
  EXPECT_TRUE(fs::exists(dir + "/run/checkpoint-000002/model.safetensors"));
  auto m = metrics_without_time(dir + "/run/metrics.jsonl");
  ASSERT_EQ(m.size(), 2u);
  EXPECT_EQ(m[0]["skipped_prompts"], 2);
  EXPECT_EQ(m[1]["skipped_prompts"], 4);
  const auto state = nlohmann::json::parse(read_file(dir + "/run/checkpoint-000002/trainer_state/state.json"));
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
}
