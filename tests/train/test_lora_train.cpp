// tests/train/test_lora_train.cpp: GRPO with LoRA on the tiny random Qwen2-VL: only the
// adapters train and have optimizer state, the reference is the base (KL exactly 0 at step
// 1), checkpoints are PEFT adapter folders that PEFT loads with our logits, and a stopped and
// resumed run ends with the uninterrupted run's adapter, optimizer state and metrics, byte for
// byte; with dropout and gradient checkpointing too; and the same on the demo's base model.
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "test_util.h"
#include "train/train_test_util.h"
#include "visual_rft/core/config.h"
#include "visual_rft/core/error.h"
#include "visual_rft/core/safetensors.h"
#include "visual_rft/model/lora.h"

using namespace vrft;
using namespace vrft::test;
namespace fs = std::filesystem;

namespace {

// The trainer tests' GRPO config with a constant learning rate (so that a run of 2 steps
// resumed to 4 follows the 4-step run) and adapters on the language model's projections.
Config lora_config(const std::string& dir, int64_t steps) {
  Config cfg = parse_config(config_yaml(dir, steps, 5e-2) +
                                "lora: {r: 4, alpha: 8, target_modules: [q_proj, k_proj, v_proj, o_proj, gate_proj, "
                                "up_proj, down_proj]}\n",
                            "test");
  cfg.optim.lr_schedule = LrSchedule::constant;
  return cfg;
}

}  // namespace

TEST(LoraTraining, OnlyAdaptersTrainResumeIsExactAndPeftLoadsTheCheckpoint) {
  REQUIRE_FIXTURES(test::tokenizer_fixture());
  const std::string a = setup("lora-straight"), b = setup("lora-resumed");
  CustomReward reward = even_first_token();
  write_file_atomic(a + "/cfg.yaml", config_yaml(a, 4, 5e-2));  // for visual-rft eval below
  const TrainResult ra = train_grpo(lora_config(a, 4), "", &reward);
  ASSERT_EQ(ra.final_step, 4);
  const std::string ck = a + "/run/checkpoint-4";

  // A PEFT adapter folder with the trainer's state; no copy of the model.
  for (const char* f : {"adapter_config.json", "adapter_model.safetensors", "tokenizer.json",
                        "preprocessor_config.json", "trainer_state/optimizer.safetensors"})
    EXPECT_TRUE(fs::exists(ck + "/" + f)) << f;
  EXPECT_FALSE(fs::exists(ck + "/model.safetensors"));
  EXPECT_FALSE(fs::exists(ck + "/config.json"));
  EXPECT_EQ(adapter_base_model(ck), fs::absolute(a + "/model").lexically_normal().string());
  for (const auto& [k, v] : load_checkpoint_state(ck).optimizer)
    EXPECT_TRUE(k == "step" || k.find(".lora_") != std::string::npos) << "optimizer state of a base weight: " << k;
  SafetensorsFile adapter(ck + "/adapter_model.safetensors");
  EXPECT_EQ(adapter.tensors().size(), 2u * 7 * 2) << "2 layers x 7 projections x (A, B)";
  double b_norm = 0;
  for (const auto& t : adapter.tensors())
    if (t.name.find("lora_B") != std::string::npos) b_norm += adapter.get(t.name).abs().sum().item<double>();
  EXPECT_GT(b_norm, 0.0) << "B starts at zero; training must move it";
  const auto m = metrics_without_time(a + "/run/metrics.jsonl");
  ASSERT_EQ(m.size(), 4u);
  EXPECT_EQ(m[0]["kl"].get<double>(), 0.0) << "step 1: the adapted policy is the base model";
  EXPECT_GT(m[3]["kl"].get<double>(), 0.0);

  // Stopped after 2 steps and resumed to 4: the same adapter, optimizer state and metrics.
  ASSERT_EQ(train_grpo(lora_config(b, 2), "", &reward).final_step, 2);
  ASSERT_EQ(train_grpo(lora_config(b, 4), "latest", &reward).final_step, 4);
  EXPECT_EQ(read_file(ck + "/adapter_model.safetensors"), read_file(b + "/run/checkpoint-4/adapter_model.safetensors"));
  EXPECT_EQ(read_file(ck + "/trainer_state/optimizer.safetensors"),
            read_file(b + "/run/checkpoint-4/trainer_state/optimizer.safetensors"));
  const auto mb = metrics_without_time(b + "/run/metrics.jsonl");
  ASSERT_EQ(mb.size(), 4u);
  for (size_t i = 0; i < 4; ++i) EXPECT_EQ(m[i], mb[i]) << "step " << i + 1;

  // PEFT loads the checkpoint on the base model and computes our logits.
  auto ours = load_model(ck, torch::kFloat, torch::kCPU);
  torch::manual_seed(0);
  const torch::Tensor ids = torch::randint(100, 5000, {2, 12}, torch::kLong);
  const torch::Tensor mask = torch::ones({2, 12}, torch::kLong);
  torch::Tensor logits;
  {
    torch::NoGradGuard ng;
    RopeIndex r = ours->rope_index(ids, mask, {});
    logits = ours->forward({ids, mask, {}, r.position_ids});
  }
  save_safetensors(a + "/inputs.safetensors", {{"input_ids", ids}, {"attention_mask", mask}});
  test::python("refs/peft_refs.py' check '" + a + "/model' '" + ck + "' '" + a + "/inputs.safetensors' '" + a +
               "/peft.safetensors'");
  const torch::Tensor theirs = SafetensorsFile(a + "/peft.safetensors").get("logits").clone();
  EXPECT_LE((logits - theirs).abs().max().item<double>() / theirs.abs().max().item<double>(), 1e-5);

  // visual-rft eval reads the checkpoint (its base from adapter_config.json); model merge
  // folds it into one HF folder with the adapted model's logits.
  auto ev = test::run("'" + test::cli() + "' --log-level warn eval --config '" + a + "/cfg.yaml' --model '" + ck +
                      "' --set eval.data='" + a + "/train.jsonl' --out '" + a + "/eval'");
  EXPECT_EQ(ev.status, 0) << ev.output;
  EXPECT_TRUE(fs::exists(a + "/eval/predictions.jsonl"));
  auto mg = test::run("'" + test::cli() + "' model merge --adapter '" + ck + "' --out '" + a + "/merged'");
  ASSERT_EQ(mg.status, 0) << mg.output;
  auto merged = load_qwen2vl(a + "/merged", torch::kFloat, torch::kCPU);
  torch::Tensor merged_logits;
  {
    torch::NoGradGuard ng;
    RopeIndex r = merged->rope_index(ids, mask, {});
    merged_logits = merged->forward({ids, mask, {}, r.position_ids});
  }
  EXPECT_LE((merged_logits - logits).abs().max().item<double>() / logits.abs().max().item<double>(), 1e-5);

  // The checkpoint resumes only as a LoRA run.
  Config plain = lora_config(b, 6);
  plain.lora.r = 0;
  EXPECT_NE(test::error_of([&] { train_grpo(plain, "latest", &reward); }).find("holds a LoRA adapter"),
            std::string::npos);
}

// Gradient checkpointing with LoRA: the frozen embedding gives the first checkpointed layer an
// input that needs no gradient, and the reentrant recomputation would then never run its
// backward (no adapter would learn). The checkpointed run must train the adapters as the
// plain run does.
// With and without dropout on the adapters' input: the recomputation must draw the forward's
// dropout masks (before checkpoint() restored the generator's state, the masks differed).
TEST(LoraTraining, GradientCheckpointingTrainsTheAdaptersAsWithout) {
  REQUIRE_FIXTURES(test::tokenizer_fixture());
  CustomReward reward = even_first_token();
  for (const double dropout : {0.0, 0.1}) {
    const std::string tag = dropout > 0 ? "-dropout" : "";
    const std::string a = setup("lora-plain" + tag), b = setup("lora-ckpt" + tag);
    Config plain = lora_config(a, 3), ckpt = lora_config(b, 3);
    // No adapter on k_proj or v_proj: the prompt's cached keys and values of layer 0 need no
    // gradient either, so nothing entering layer 0's checkpoint does.
    plain.lora.target_modules = ckpt.lora.target_modules = {"q_proj", "o_proj"};
    plain.lora.dropout = ckpt.lora.dropout = dropout;
    ckpt.model.gradient_checkpointing = true;
    ASSERT_EQ(train_grpo(plain, "", &reward).final_step, 3);
    ASSERT_EQ(train_grpo(ckpt, "", &reward).final_step, 3);
    SafetensorsFile pa(a + "/run/checkpoint-3/adapter_model.safetensors"),
        pb(b + "/run/checkpoint-3/adapter_model.safetensors");
    double moved = 0, diff = 0;
    for (const auto& t : pa.tensors()) {
      const torch::Tensor x = pa.get(t.name), y = pb.get(t.name);
      if (t.name.find("lora_B") != std::string::npos) moved += x.abs().sum().item<double>();
      diff = std::max(diff, (x - y).abs().max().item<double>());
    }
    EXPECT_GT(moved, 0.0);
    // The recomputation sums the same gradients in another order: float32 rounding only
    // (measured 1.1e-6 on adapters moved by ~5e-2 per step; 0.18 before checkpoint() knew the
    // block trains).
    std::printf("adapters, dropout %.1f: checkpointed - plain max |diff| %.3g\n", dropout, diff);
    EXPECT_LE(diff, 1e-5) << "checkpointed and plain adapters differ, dropout " << dropout;
  }
}

// Dropout draws from LibTorch's generator, which each micro-batch seeds from its place in the
// run: a run stopped after 2 steps and resumed to 4 ends with the 4-step run's adapter.
TEST(LoraTraining, DropoutResumesExactly) {
  REQUIRE_FIXTURES(test::tokenizer_fixture());
  const std::string a = setup("lora-dropout-straight"), b = setup("lora-dropout-resumed");
  CustomReward reward = even_first_token();
  auto with_dropout = [](Config c) {
    c.lora.dropout = 0.1;
    return c;
  };
  ASSERT_EQ(train_grpo(with_dropout(lora_config(a, 4)), "", &reward).final_step, 4);
  ASSERT_EQ(train_grpo(with_dropout(lora_config(b, 2)), "", &reward).final_step, 2);
  ASSERT_EQ(train_grpo(with_dropout(lora_config(b, 4)), "latest", &reward).final_step, 4);
  const std::string ck = "/run/checkpoint-4/adapter_model.safetensors";
  EXPECT_EQ(read_file(a + ck), read_file(b + ck));
  EXPECT_EQ(metrics_without_time(a + "/run/metrics.jsonl"), metrics_without_time(b + "/run/metrics.jsonl"));
}

// The demo's base model (models/vrft-demo: its own 640-token tokenizer, 2 M parameters) with
// LoRA and dropout on rows of the demo's synthetic grounding task (an IoU reward, which differs
// between a group's answers where detection's "No Objects" may not), scored by the built-in
// rewards: 2 steps resumed to 4 equal 4 steps byte for byte, and PEFT loads the adapter on the
// transformers model with our logits.
TEST(LoraTraining, OnTheDemoModelResumesExactlyAndPeftLoadsTheAdapter) {
  const std::string demo = test::source_dir() + "/models/vrft-demo";
  ASSERT_TRUE(fs::exists(demo + "/config.json")) << demo;
  const std::string dir = test::scratch_dir("lora-demo");
  auto synth = test::run("'" + test::cli() + "' --log-level warn data synth --out '" + dir + "/world' --tasks ground");
  ASSERT_EQ(synth.status, 0) << synth.output;
  auto demo_config = [&](const std::string& out, int64_t steps) {
    return parse_config("model: {path: '" + demo + "', device: cpu, dtype: float32}\n" +
                            "data: {task: ground, train: '" + dir +
                            "/world/ground/fewshot_train.jsonl', max_pixels: 12544, image_position: after_text}\n" +
                            "rollout: {num_generations: 4, max_new_tokens: 64}\n"
                            "optim: {lr: 1.0e-3, lr_schedule: constant}\n"
                            "lora: {r: 8, alpha: 16, dropout: 0.05}\n"
                            "train: {output_dir: '" +
                            dir + "/" + out + "', max_steps: " + std::to_string(steps) +
                            ", prompts_per_step: 2, micro_batch_size: 8, save_steps: 2}\n"
                            "logging: {sample_steps: 0}\n",
                        "test");
  };
  ASSERT_EQ(train_grpo(demo_config("straight", 4), "").final_step, 4);
  ASSERT_EQ(train_grpo(demo_config("resumed", 2), "").final_step, 2);
  ASSERT_EQ(train_grpo(demo_config("resumed", 4), "latest").final_step, 4);
  const std::string ck = dir + "/straight/checkpoint-4";
  EXPECT_EQ(read_file(ck + "/adapter_model.safetensors"),
            read_file(dir + "/resumed/checkpoint-4/adapter_model.safetensors"));

  auto ours = load_model(ck, torch::kFloat, torch::kCPU);
  torch::manual_seed(0);
  const torch::Tensor ids = torch::randint(20, 600, {2, 12}, torch::kLong);
  const torch::Tensor mask = torch::ones({2, 12}, torch::kLong);
  torch::Tensor logits, base_logits;
  {
    torch::NoGradGuard ng;
    RopeIndex r = ours->rope_index(ids, mask, {});
    logits = ours->forward({ids, mask, {}, r.position_ids});
    LoraDisabled off(ours);
    base_logits = ours->forward({ids, mask, {}, r.position_ids});
  }
  const double moved = (logits - base_logits).abs().max().item<double>();
  save_safetensors(dir + "/inputs.safetensors", {{"input_ids", ids}, {"attention_mask", mask}});
  test::python("refs/peft_refs.py' check '" + demo + "' '" + ck + "' '" + dir + "/inputs.safetensors' '" + dir +
               "/peft.safetensors'");
  const torch::Tensor theirs = SafetensorsFile(dir + "/peft.safetensors").get("logits").clone();
  const double rel = (logits - theirs).abs().max().item<double>() / theirs.abs().max().item<double>();
  std::printf("demo model + LoRA: the adapter moves the logits by %.3g; |ours - PEFT| / max |PEFT| = %.3g\n", moved,
              rel);
  EXPECT_GT(moved, 1e-4) << "the adapter learnt nothing";
  EXPECT_LE(rel, 1e-5);
}
