// tests/model/test_lora.cpp: LoRA adapters against PEFT (the `peft` package) on a tiny random
// Qwen2-VL made in the test's set-up (scripts/refs/peft_refs.py, cached in build/test-cache):
// a PEFT adapter loads here with PEFT's logits, ours loads in PEFT with ours, `model merge`
// equals merge_and_unload(), and the adapters switch off to the base model exactly.
// Tolerance: logits within 1e-5 of PEFT's, relative to their largest magnitude (measured: 0,
// the same float32 operations in the same order); merged weights within 1e-6.
#include "visual_rft/model/lora.h"

#include <gtest/gtest.h>

#include <map>

#include "test_util.h"
#include "visual_rft/core/safetensors.h"

namespace vrft {
namespace {

std::string refs() { return test::script_refs("peft_refs.py", "peft_merged/config.json"); }

struct Inputs {
  torch::Tensor ids, mask, pixels, grid;
};

Inputs inputs() {
  SafetensorsFile f(refs() + "/inputs.safetensors");
  return {f.get("input_ids").clone(), f.get("attention_mask").clone(), f.get("pixel_values").clone(),
          f.get("image_grid_thw").clone()};
}

torch::Tensor logits(Qwen2VLForConditionalGeneration& m, const Inputs& in) {
  torch::NoGradGuard ng;
  RopeIndex r = m->rope_index(in.ids, in.mask, in.grid);
  return m->forward({in.ids, in.mask, m->image_features(in.pixels, in.grid), r.position_ids});
}

// max |a - b| over unpadded positions, relative to max |b| there.
double rel_diff(const torch::Tensor& a, const torch::Tensor& b, const torch::Tensor& mask) {
  torch::Tensor keep = mask.to(torch::kBool).unsqueeze(-1);
  return ((a - b).abs() * keep).max().item<double>() / (b.abs() * keep).max().item<double>();
}

TEST(Lora, PeftAdapterGivesPeftsLogits) {
  const Inputs in = inputs();
  auto base = load_qwen2vl(refs() + "/model", torch::kFloat, torch::kCPU);
  const torch::Tensor base_logits = logits(base, in);
  load_peft_adapter(base, refs() + "/peft_adapter");
  const torch::Tensor theirs = SafetensorsFile(refs() + "/peft_outputs.safetensors").get("logits").clone();
  const double d = rel_diff(logits(base, in), theirs, in.mask);
  EXPECT_LE(d, 1e-5) << "max |ours - PEFT| / max |PEFT|";
  std::printf("PEFT adapter: max |ours - PEFT| = %.3g of the largest logit\n", d);
  EXPECT_GT(rel_diff(base_logits, theirs, in.mask), 1e-3) << "the adapter must change the logits";
  {
    LoraDisabled off(base);
    EXPECT_TRUE(torch::equal(logits(base, in), base_logits)) << "adapters off = the base model, exactly";
  }
  // 2 layers x 7 language targets + 2 blocks x (qkv, fc1) = 18 adapted Linears.
  EXPECT_EQ(lora_parameters(base).size(), 36u);
}

TEST(Lora, OurAdapterLoadsInPeftWithOurLogits) {
  const std::string dir = test::scratch_dir("lora-ours");
  const Inputs in = inputs();
  auto m = load_qwen2vl(refs() + "/model", torch::kFloat, torch::kCPU);
  Config cfg;
  cfg.lora.r = 3;
  cfg.lora.alpha = 6;
  cfg.lora.target_modules = {"q_proj", "v_proj", "down_proj", "qkv", "fc2"};
  const auto names = add_lora(m, cfg.lora);
  EXPECT_EQ(names.size(), 10u);
  torch::manual_seed(5);
  {
    torch::NoGradGuard ng;
    for (auto& [name, t] : lora_parameters(m)) t.normal_(0.0, 0.2);  // B too: a trained adapter
  }
  save_peft_adapter(m, cfg.lora, dir + "/adapter", refs() + "/model");
  save_safetensors(
      dir + "/inputs.safetensors",
      {{"input_ids", in.ids}, {"attention_mask", in.mask}, {"pixel_values", in.pixels}, {"image_grid_thw", in.grid}});
  test::python("refs/peft_refs.py' check '" + refs() + "/model' '" + dir + "/adapter' '" + dir +
               "/inputs.safetensors' '" + dir + "/peft.safetensors'");
  const torch::Tensor theirs = SafetensorsFile(dir + "/peft.safetensors").get("logits").clone();
  const double d = rel_diff(logits(m, in), theirs, in.mask);
  EXPECT_LE(d, 1e-5);
  std::printf("our adapter in PEFT: max |ours - PEFT| = %.3g of the largest logit\n", d);
  // Read back here through the adapter folder alone (its base from adapter_config.json).
  auto again = load_model(dir + "/adapter", torch::kFloat, torch::kCPU);
  EXPECT_TRUE(torch::equal(logits(again, in), logits(m, in)));
}

TEST(Lora, MergeEqualsPeftMergeAndUnload) {
  const std::string out = test::scratch_dir("lora-merge") + "/merged";
  auto r = test::run("'" + test::cli() + "' model merge --base '" + refs() + "/model' --adapter '" + refs() +
                     "/peft_adapter' --out '" + out + "'");
  ASSERT_EQ(r.status, 0) << r.output;
  auto ours = load_qwen2vl(out, torch::kFloat, torch::kCPU);
  auto theirs = load_qwen2vl(refs() + "/peft_merged", torch::kFloat, torch::kCPU);
  std::map<std::string, torch::Tensor> t;
  for (const auto& p : theirs->named_parameters()) t[p.key()] = p.value();
  size_t n = 0;
  for (const auto& p : ours->named_parameters()) {
    ASSERT_TRUE(t.count(p.key())) << p.key();
    EXPECT_LE((p.value() - t[p.key()]).abs().max().item<double>(), 1e-6) << p.key();
    ++n;
  }
  EXPECT_EQ(n, t.size());
}

// A frozen bf16 base with float32 adapters (how a LoRA run holds the base on CUDA): the
// adapter path computes in float32 and is cast back, as PEFT does, so the error against the
// float32 model is the bf16 base's own: no larger than 1.1x that of the bf16 base without
// adapters against the float32 base.
TEST(Lora, Bf16BaseWithFloat32Adapters) {
  const Inputs in = inputs();
  auto m32 = load_qwen2vl(refs() + "/model", torch::kFloat, torch::kCPU);
  auto m16 = load_qwen2vl(refs() + "/model", torch::kBFloat16, torch::kCPU);
  const torch::Tensor keep = in.mask.to(torch::kBool);
  auto mean_err = [&](const torch::Tensor& a, const torch::Tensor& b) {
    return (a.to(torch::kFloat) - b).abs().mean(-1).masked_select(keep).mean().item<double>();
  };
  const double base_err = mean_err(logits(m16, in), logits(m32, in));
  load_peft_adapter(m32, refs() + "/peft_adapter");
  load_peft_adapter(m16, refs() + "/peft_adapter");
  for (const auto& [name, t] : lora_parameters(m16)) EXPECT_EQ(t.scalar_type(), torch::kFloat) << name;
  const double err = mean_err(logits(m16, in), logits(m32, in));
  std::printf("bf16 base: mean |logits - float32| %.4f with the adapter, %.4f without\n", err, base_err);
  EXPECT_LE(err, 1.1 * base_err);
}

TEST(Lora, TargetsAndBadAdaptersAreNamed) {
  auto m = load_qwen2vl(refs() + "/model", torch::kFloat, torch::kCPU);
  Config cfg;
  cfg.lora.r = 2;
  cfg.lora.target_modules = {"nothing_like_this"};
  EXPECT_NE(test::error_of([&] { add_lora(m, cfg.lora); }).find("matches no Linear layer"), std::string::npos);
  cfg.lora.target_modules = {R"(model\.layers\.1\.self_attn\.(q|k)_proj)"};  // PEFT's regex form
  EXPECT_EQ(add_lora(m, cfg.lora),
            (std::vector<std::string>{"model.layers.1.self_attn.k_proj", "model.layers.1.self_attn.q_proj"}));
  EXPECT_NE(test::error_of([&] { save_qwen2vl(m, test::scratch_dir("lora-save") + "/m", ""); }).find("LoRA adapters"),
            std::string::npos);

  const std::string dir = test::scratch_dir("lora-bad");
  write_file_atomic(dir + "/adapter_config.json",
                    R"({"peft_type": "LORA", "r": 4, "target_modules": ["q_proj"], "use_dora": true})");
  EXPECT_NE(test::error_of([&] { read_adapter_config(dir); }).find("use_dora true is not supported"),
            std::string::npos);
  // An adapter of another shape: every misfit named.
  auto fresh = load_qwen2vl(refs() + "/model", torch::kFloat, torch::kCPU);
  std::string cfg_text = read_file(refs() + "/peft_adapter/adapter_config.json");
  write_file_atomic(dir + "/adapter_config.json", cfg_text);
  save_safetensors(
      dir + "/adapter_model.safetensors",
      {{"base_model.model.model.language_model.layers.0.self_attn.q_proj.lora_A.weight", torch::zeros({4, 5})}});
  const std::string e = test::error_of([&] { load_peft_adapter(fresh, dir); });
  EXPECT_NE(e.find("has shape [4, 5], expected [4, 64]"), std::string::npos) << e;
  EXPECT_NE(e.find("missing base_model.model.model.language_model.layers.0.mlp.down_proj.lora_A.weight"),
            std::string::npos)
      << e;
  EXPECT_NE(e.find("... and 29 more"), std::string::npos) << e;
}

}  // namespace
}  // namespace vrft
