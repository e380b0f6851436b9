// tests/train/test_optim.cpp: AdamW against torch.optim.AdamW driven by transformers' linear
// schedule (6 steps, weight decay, warm-up), the constant / linear / cosine multipliers
// against transformers' schedules, gradient clipping against clip_grad_norm_, and the
// optimiser state round trip (scripts/refs/optim_refs.py).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "test_util.h"
#include "visual_rft/core/error.h"
#include "visual_rft/core/fs.h"
#include "visual_rft/core/safetensors.h"
#include "visual_rft/train/optim.h"

using namespace vrft;

namespace {
std::string refs() { return test::script_refs("optim_refs.py", "schedules.json"); }
}  // namespace

TEST(Optim, AdamWEqualsTorch) {
  SafetensorsFile f(refs() + "/adamw.safetensors");
  auto meta = nlohmann::json::parse(read_file(refs() + "/schedules.json"));
  const int64_t steps = meta["steps"], warmup = meta["warmup"];
  torch::Tensor a = f.get("a0").clone().requires_grad_(true), b = f.get("b0").clone().requires_grad_(true);
  AdamW opt({{"a", a}, {"b", b}}, {1e-2, 0.9, 0.95, 1e-8, 0.1});
  for (int64_t i = 0; i < steps; ++i) {
    a.mutable_grad() = f.get("ga" + std::to_string(i)).clone();
    b.mutable_grad() = f.get("gb" + std::to_string(i)).clone();
    opt.step(1e-2 * lr_multiplier(LrSchedule::linear, i, warmup, steps));
    EXPECT_LE((a - f.get("a" + std::to_string(i + 1))).abs().max().item<double>(), 1e-7) << "step " << i + 1;
    EXPECT_LE((b - f.get("b" + std::to_string(i + 1))).abs().max().item<double>(), 1e-7) << "step " << i + 1;
  }
  // State round trip: a fresh optimiser loaded with the state continues identically.
  auto st = opt.state();
  EXPECT_EQ(opt.steps(), steps);
  torch::Tensor a2 = a.detach().clone().requires_grad_(true), b2 = b.detach().clone().requires_grad_(true);
  AdamW opt2({{"a", a2}, {"b", b2}}, {1e-2, 0.9, 0.95, 1e-8, 0.1});
  opt2.load_state(st);
  a.mutable_grad() = torch::ones_like(a);
  b.mutable_grad() = torch::ones_like(b);
  a2.mutable_grad() = torch::ones_like(a2);
  b2.mutable_grad() = torch::ones_like(b2);
  opt.step(1e-3);
  opt2.step(1e-3);
  EXPECT_TRUE(torch::equal(a, a2));
  EXPECT_TRUE(torch::equal(b, b2));
  st.pop_back();  // no "step"
  EXPECT_THROW(opt2.load_state(st), Error);
}

TEST(Optim, SchedulesEqualTransformers) {
  auto meta = nlohmann::json::parse(read_file(refs() + "/schedules.json"));
  for (auto it = meta["schedules"].begin(); it != meta["schedules"].end(); ++it) {
    const auto want = it.value().get<std::vector<double>>();
    for (size_t s = 0; s < want.size(); ++s) {
      EXPECT_NEAR(lr_multiplier(*parse_choice<LrSchedule>(it.key()), static_cast<int64_t>(s), 3,
                                static_cast<int64_t>(want.size())),
                  want[s], 1e-12)
          << it.key() << " step " << s;
    }
  }
  EXPECT_FALSE(parse_choice<LrSchedule>("step"));  // not a schedule: refused where the config is read
}

TEST(Optim, ClipGradNormEqualsTorch) {
  SafetensorsFile f(refs() + "/adamw.safetensors");
  torch::Tensor a = f.get("a0").clone().requires_grad_(true), b = f.get("b0").clone().requires_grad_(true);
  a.mutable_grad() = f.get("ga0").clone();
  b.mutable_grad() = f.get("gb0").clone();
  const double n = clip_grad_norm({a, b}, 2.0);
  EXPECT_NEAR(n, f.get("clip_norm").item<double>(), 1e-5);
  EXPECT_LE((a.grad() - f.get("clip_ga")).abs().max().item<double>(), 1e-6);
  EXPECT_LE((b.grad() - f.get("clip_gb")).abs().max().item<double>(), 1e-6);
  a.mutable_grad()[0][0] = std::numeric_limits<float>::quiet_NaN();
  EXPECT_TRUE(std::isnan(clip_grad_norm({a, b}, 2.0)));  // reported, nothing scaled
}
