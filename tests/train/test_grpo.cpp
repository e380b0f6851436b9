// tests/train/test_grpo.cpp: the GRPO maths against the same formulas written in plain
// PyTorch (scripts/refs/grpo_refs.py, TRL's _compute_loss): loss, gradients with respect to
// the hidden states and lm_head, advantages, KL and clip statistics for every loss type,
// clipping on and off, group/batch/no reward scaling, a temperature; in float64, to 1e-10.
// Also: chunked log-probs equal the plain autograd path in float32, and entropy.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "test_util.h"
#include "visual_rft/core/error.h"
#include "visual_rft/core/fs.h"
#include "visual_rft/core/safetensors.h"
#include "visual_rft/train/grpo.h"

using namespace vrft;

namespace {

std::string refs() { return test::script_refs("grpo_refs.py", "cases.json"); }

double max_abs(const torch::Tensor& a, const torch::Tensor& b) { return (a - b).abs().max().item<double>(); }

}  // namespace

TEST(Grpo, LossAndGradientsEqualPlainPyTorch) {
  auto meta = nlohmann::json::parse(read_file(refs() + "/cases.json"));
  SafetensorsFile f(refs() + "/tensors.safetensors");
  const int64_t G = meta["G"], T = meta["T"];
  torch::Tensor hidden0 = f.get("hidden").clone(), weight0 = f.get("weight").clone(), tokens = f.get("tokens").clone();
  torch::Tensor mask = f.get("mask").clone(), rewards = f.get("rewards").clone();
  torch::Tensor old_noise = f.get("old_noise").clone(), ref_noise = f.get("ref_noise").clone();
  const int64_t N = mask.size(0);
  ASSERT_GE(meta["cases"].size(), 6u);
  for (auto it = meta["cases"].begin(); it != meta["cases"].end(); ++it) {
    const std::string name = it.key();
    const auto& c = it.value();
    SCOPED_TRACE(name);
    torch::Tensor hidden = hidden0.clone().requires_grad_(true), weight = weight0.clone().requires_grad_(true);
    torch::Tensor logp =
        token_logprobs(hidden, weight, tokens, c["temperature"].get<double>(), /*chunk_rows=*/7).logp.view({N, T});
    torch::Tensor old = c["old"].get<bool>() ? logp.detach() + old_noise : torch::Tensor();
    torch::Tensor ref = logp.detach() + ref_noise;
    torch::Tensor adv = group_advantages(rewards, G, *parse_choice<ScaleRewards>(c["scale"].get<std::string>()), 1e-4);
    GrpoLossOptions o;
    o.loss_type = *parse_choice<LossType>(c["loss_type"].get<std::string>());
    o.beta = c["beta"];
    o.epsilon_low = c["eps_low"];
    o.epsilon_high = c["eps_high"];
    o.grad_accum = c["grad_accum"];
    o.max_completion_length = c["max_completion_length"];
    o.num_items = c["num_items"];
    GrpoLossStats st;
    torch::Tensor loss = grpo_loss(logp, old, ref, adv, mask, o, &st);
    loss.backward();
    EXPECT_LE(max_abs(adv, f.get(name + ".adv")), 1e-12);
    EXPECT_LE(std::abs(loss.item<double>() - f.get(name + ".loss").item<double>()), 1e-12) << loss.item<double>();
    EXPECT_LE(max_abs(hidden.grad(), f.get(name + ".grad_hidden")), 1e-10);
    EXPECT_LE(max_abs(weight.grad(), f.get(name + ".grad_weight")), 1e-10);
    EXPECT_NEAR(st.kl, f.get(name + ".kl").item<double>(), 1e-12);
    EXPECT_NEAR(st.clip_low, f.get(name + ".clip_low").item<double>(), 1e-12);
    EXPECT_NEAR(st.clip_high, f.get(name + ".clip_high").item<double>(), 1e-12);
    if (c["old"].get<bool>()) {
      EXPECT_GT(st.clip_region, 0.0);  // the noise puts some ratios outside the range
    }
  }
  EXPECT_EQ(zero_std_groups(rewards, G), (rewards.view({-1, G}).std(1) == 0).sum().item<int64_t>());
  EXPECT_GE(zero_std_groups(rewards, G), 1);  // the set-up makes group 1 all equal
  torch::Tensor ent = token_logprobs(hidden0, weight0, tokens, 1.0, 5, /*with_entropy=*/true).entropy;
  EXPECT_LE(max_abs(ent, f.get("entropy")), 1e-12);
}

TEST(Grpo, ChunkedLogprobsEqualPlainAutogradInFloat32) {
  torch::manual_seed(0);
  torch::Tensor h = torch::randn({37, 24}), w = torch::randn({301, 24}) * 0.3, tok = torch::randint(0, 301, {37});
  torch::Tensor h1 = h.clone().requires_grad_(true), w1 = w.clone().requires_grad_(true);
  torch::Tensor a = token_logprobs(h1, w1, tok, 0.8, /*chunk_rows=*/8).logp;
  torch::Tensor h2 = h.clone().requires_grad_(true), w2 = w.clone().requires_grad_(true);
  torch::Tensor b = torch::log_softmax(torch::matmul(h2, w2.t()) / 0.8, -1).gather(1, tok.view({-1, 1})).view({-1});
  torch::Tensor up = torch::randn({37});
  (a * up).sum().backward();
  (b * up).sum().backward();
  EXPECT_LE(max_abs(a, b), 1e-5);
  EXPECT_LE(max_abs(h1.grad(), h2.grad()), 1e-5);
  EXPECT_LE(max_abs(w1.grad(), w2.grad()), 1e-5);
  // Only hidden requires a gradient (a frozen lm_head): no gradient is made for weight.
  torch::Tensor h3 = h.clone().requires_grad_(true);
  token_logprobs(h3, w, tok).logp.sum().backward();
  EXPECT_TRUE(h3.grad().defined());
}

TEST(Grpo, AdvantagesAndErrors) {
  torch::Tensor r = torch::tensor({1.0, 0.0, 1.0, 0.0, 2.0, 2.0, 2.0, 2.0}, torch::kDouble);
  torch::Tensor a = group_advantages(r, 4, ScaleRewards::group, 1e-4);
  EXPECT_NEAR(a[0].item<double>(), 0.5 / (std::sqrt(1.0 / 3.0) + 1e-4), 1e-12);  // unbiased std of {1,0,1,0}
  EXPECT_EQ(a[5].item<double>(), 0.0);
  EXPECT_EQ(zero_std_groups(r, 4), 1);
  EXPECT_THROW(group_advantages(r, 3, ScaleRewards::group, 1e-4), Error);
  EXPECT_FALSE(parse_choice<ScaleRewards>("mean"));  // refused where the config is read
  GrpoLossOptions o;
  torch::Tensor lp = torch::zeros({2, 3});
  EXPECT_THROW(grpo_loss(lp, {}, {}, torch::zeros({2}), torch::ones({2, 3}), o), Error);  // beta without ref
  o.beta = 0;
  o.loss_type = LossType::dapo;
  EXPECT_THROW(grpo_loss(lp, {}, {}, torch::zeros({2}), torch::ones({2, 3}), o), Error);  // dapo without num_items
}
