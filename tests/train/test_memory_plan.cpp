// tests/train/test_memory_plan.cpp: `visual-rft plan` (train/memory_plan.h): the parameter
// list it counts equals the model's own, the published sizes of Qwen2-VL-2B/7B come out, a
// measured CPU run's peak memory is within 15 % of its plan, and the CLI lists each part and
// says whether the run fits.
#include "visual_rft/train/memory_plan.h"

#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "test_util.h"
#include "train/train_test_util.h"
#include "visual_rft/model/qwen2vl.h"

using namespace vrft;

namespace {

std::map<std::string, int64_t> planned(const Qwen2VLConfig& c) {
  std::map<std::string, int64_t> m;
  for (const ParamShape& p : parameter_shapes(c)) m[p.name] = p.numel;
  return m;
}

std::map<std::string, int64_t> built(const Qwen2VLConfig& c) {
  Qwen2VLForConditionalGeneration model(c);
  std::map<std::string, int64_t> m;
  for (const auto& p : model->named_parameters()) m[p.key()] = p.value().numel();
  return m;
}

}  // namespace

TEST(MemoryPlan, ParametersAreTheModels) {
  for (const char* preset : {"tiny", "demo", "100m"}) {
    SCOPED_TRACE(preset);
    EXPECT_EQ(planned(preset_model_config(preset)), built(preset_model_config(preset)));
  }
  Qwen2VLConfig q25 = preset_model_config("tiny");  // Qwen2.5-VL's tower: RMSNorm, SwiGLU with biases
  q25.model_type = "qwen2_5_vl";
  q25.vision.qwen25 = true;
  q25.vision.hidden_act = "silu";
  q25.vision.fullatt_block_indexes = {1};
  q25.text.tie_word_embeddings = false;
  EXPECT_EQ(planned(q25), built(q25));
  auto total = [](const Qwen2VLConfig& c) {
    int64_t n = 0;
    for (const ParamShape& p : parameter_shapes(c)) n += p.numel;
    return n;
  };
  EXPECT_EQ(total(preset_model_config("2b")), 2208985600);  // Qwen2-VL-2B-Instruct
  EXPECT_EQ(total(preset_model_config("7b")), 8291375616);  // Qwen2-VL-7B-Instruct
}

// A GRPO run of the tiny model on the CPU (4 prompts x G = 4, 32 new tokens), float32 and
// ZeRO-2 with bf16 working weights: the peak memory its metrics report and `visual-rft plan
// --device cpu` for the same config.
TEST(MemoryPlan, PlanIsWithin15PercentOfAMeasuredCpuRun) {
  REQUIRE_FIXTURES(test::tokenizer_fixture());
  const std::string dir = test::setup("memory-plan");
  write_file_atomic(dir + "/cfg.yaml", test::config_yaml(dir, 2, 1e-3));
  int n = 0;
  for (const std::string sets :
       {"", " --set distributed.shard=gradients --set rollout.dtype=bfloat16 --set model.dtype=auto"}) {
    const std::string out = dir + "/run" + std::to_string(n++);
    const std::string cfg = " --config '" + dir +
                            "/cfg.yaml' --set rollout.max_new_tokens=32 --set train.prompts_per_step=4 "
                            "--set train.micro_batch_size=8 --set train.output_dir='" +
                            out + "'" + sets;
    auto run = test::run("OMP_NUM_THREADS=1 '" + test::cli() + "' --log-level warn train" + cfg);
    ASSERT_EQ(run.status, 0) << run.output;
    double measured = 0;
    std::ifstream in(out + "/metrics.jsonl");
    for (std::string l; std::getline(in, l);)
      measured = std::max(measured, nlohmann::json::parse(l)["peak_rss_gb"].get<double>());
    auto plan = test::run("'" + test::cli() + "' plan --device cpu --json" + cfg + " 2>/dev/null");
    ASSERT_EQ(plan.status, 0) << plan.output;
    const double planned_gb = nlohmann::json::parse(plan.output)["peak_gb"].get<double>();
    std::printf("tiny model on the CPU%s: measured peak %.3f GB, planned %.3f GB (%+.1f %%)\n",
                sets.empty() ? "" : ", ZeRO-2 in bf16", measured, planned_gb, 100 * (planned_gb / measured - 1));
    EXPECT_NEAR(planned_gb / measured, 1.0, 0.15) << sets;
  }
}

TEST(MemoryPlan, CliListsThePartsAndSaysWhetherItFits) {
  const std::string dir = test::scratch_dir("memory-plan-cli");
  write_file_atomic(dir + "/run.yaml",
                    "model: {path: '" + dir + "'}\ndata: {task: det, train: '" + dir +
                        "/x.jsonl', max_pixels: 401408}\ntrain: {prompts_per_step: 16, micro_batch_size: 8}\n");
  write_file_atomic(dir + "/x.jsonl", "");
  const std::string plan = "'" + test::cli() + "' plan --config '" + dir + "/run.yaml' --model-preset 7b ";
  auto full = test::run(plan + "--world-size 8 --gpu-memory-gb 80");
  ASSERT_EQ(full.status, 0) << full.output;
  for (const char* part :
       {"| resident | weights |", "| resident | rollout copy |", "| resident | reference model |",
        "| resident | gradients |", "| resident | AdamW moments |", "| rollout | KV cache |",
        "| update | activations |", "| runtime | CUDA context", "does NOT fit on a 80 GB GPU",
        // what would: ZeRO-2 alone does not (90 GB), with checkpointing it does
        "would fit with --set 'distributed.shard=gradients' --set 'model.gradient_checkpointing=true'"})
    EXPECT_NE(full.output.find(part), std::string::npos) << part << "\n" << full.output;
  auto lora = test::run(plan + "--gpu-memory-gb 80 --set lora.r=64 --set model.gradient_checkpointing=true");
  ASSERT_EQ(lora.status, 0) << lora.output;
  EXPECT_NE(lora.output.find("fits on a 80 GB GPU"), std::string::npos) << lora.output;
  EXPECT_EQ(lora.output.find("reference model"), std::string::npos) << "LoRA: the base is the reference";
  // The paper's 7B run on 8 x 80 GB fits with ZeRO-2 and gradient checkpointing: bf16 weights,
  // 1/8 of the float32 masters, gradients and moments, no rollout copy.
  auto zero2 = test::run(plan +
                         "--world-size 8 --gpu-memory-gb 80 --set distributed.shard=gradients --set "
                         "model.gradient_checkpointing=true");
  ASSERT_EQ(zero2.status, 0) << zero2.output;
  for (const char* part : {"| resident | weights | 16.58 |", "| resident | float32 master weights | 4.15 |",
                           "| resident | gradients | 4.15 |", "| resident | AdamW moments | 8.29 |",
                           "| update | gradients of one micro-batch |", "fits on a 80 GB GPU"})
    EXPECT_NE(zero2.output.find(part), std::string::npos) << part << "\n" << zero2.output;
  EXPECT_EQ(zero2.output.find("rollout copy"), std::string::npos) << zero2.output;
}
