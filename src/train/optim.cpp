// src/train/optim.cpp: AdamW, schedules and gradient clipping (see the header).
#include "visual_rft/train/optim.h"

#include <cmath>
#include <map>

#include "visual_rft/core/error.h"

namespace vrft {

AdamW::AdamW(std::vector<std::pair<std::string, torch::Tensor>> params, AdamWOptions opts) : opts_(opts) {
  for (auto& [name, p] : params) {
    if (!p.requires_grad()) continue;
    auto o = p.options().dtype(state_dtype(p.scalar_type()));
    slots_.push_back({name, p, torch::zeros(p.sizes(), o), torch::zeros(p.sizes(), o)});
  }
}

void AdamW::zero_grad() {
  for (auto& s : slots_) s.param.mutable_grad() = torch::Tensor();
}

void AdamW::step(double lr) {
  torch::NoGradGuard ng;
  ++steps_;
  const double bc1 = 1 - std::pow(opts_.beta1, static_cast<double>(steps_));
  const double bc2 = 1 - std::pow(opts_.beta2, static_cast<double>(steps_));
  for (auto& s : slots_) {
    if (!s.param.grad().defined()) continue;
    torch::Tensor g = s.param.grad().to(s.exp_avg.scalar_type());
    // torch.optim.AdamW (single tensor): decay, moments, bias-corrected step.
    torch::Tensor p = s.param.scalar_type() == s.exp_avg.scalar_type() ? s.param : s.param.to(s.exp_avg.scalar_type());
    p.mul_(1 - lr * opts_.weight_decay);
    s.exp_avg.lerp_(g, 1 - opts_.beta1);
    s.exp_avg_sq.mul_(opts_.beta2).addcmul_(g, g, 1 - opts_.beta2);
    torch::Tensor denom = (s.exp_avg_sq.sqrt() / std::sqrt(bc2)).add_(opts_.eps);
    p.addcdiv_(s.exp_avg, denom, -lr / bc1);
    if (!p.is_same(s.param)) s.param.copy_(p);
  }
}

std::vector<std::pair<std::string, torch::Tensor>> AdamW::state() const {
  std::vector<std::pair<std::string, torch::Tensor>> out;
  for (const auto& s : slots_) {
    out.emplace_back(s.name + ".exp_avg", s.exp_avg);
    out.emplace_back(s.name + ".exp_avg_sq", s.exp_avg_sq);
  }
  out.emplace_back("step", torch::tensor({steps_}, torch::kLong));
  return out;
}

void AdamW::load_state(const std::vector<std::pair<std::string, torch::Tensor>>& state) {
  std::map<std::string, torch::Tensor> m(state.begin(), state.end());
  auto get = [&](const std::string& k, const torch::Tensor& like) {
    auto it = m.find(k);
    if (it == m.end()) throw Error("optimizer state has no '" + k + "'");
    if (it->second.sizes() != like.sizes()) throw Error("optimizer state '" + k + "' has the wrong shape");
    return it->second;
  };
  torch::NoGradGuard ng;
  for (auto& s : slots_) {
    s.exp_avg.copy_(get(s.name + ".exp_avg", s.exp_avg));
    s.exp_avg_sq.copy_(get(s.name + ".exp_avg_sq", s.exp_avg_sq));
  }
  auto it = m.find("step");
  if (it == m.end()) throw Error("optimizer state has no 'step'");
  steps_ = it->second.to(torch::kLong).item<int64_t>();
}

double AdamW::state_bytes() const {
  double b = 0;
  for (const auto& s : slots_) b += 2.0 * static_cast<double>(s.exp_avg.numel() * s.exp_avg.element_size());
  return b;
}

double lr_multiplier(LrSchedule schedule, int64_t step, int64_t warmup, int64_t total) {
  if (step < warmup) return static_cast<double>(step) / static_cast<double>(std::max<int64_t>(1, warmup));
  const double progress =
      static_cast<double>(step - warmup) / static_cast<double>(std::max<int64_t>(1, total - warmup));
  switch (schedule) {
    case LrSchedule::constant: return 1.0;
    case LrSchedule::linear: return std::max(0.0, 1.0 - progress);
    case LrSchedule::cosine: return std::max(0.0, 0.5 * (1.0 + std::cos(M_PI * progress)));
  }
  return 1.0;  // unreachable: every schedule is a case above
}

double clip_grad_norm(const std::vector<torch::Tensor>& params, double max_norm) {
  torch::NoGradGuard ng;
  std::vector<torch::Tensor> norms;
  for (const auto& p : params) {
    if (p.grad().defined()) norms.push_back(p.grad().to(torch::kFloat).norm(2));
  }
  if (norms.empty()) return 0.0;
  const double total = torch::stack(norms).norm(2).item<double>();
  if (!std::isfinite(total)) return total;
  const double coef = max_norm / (total + 1e-6);  // torch: clamp(coef, max=1)
  if (max_norm > 0 && coef < 1.0) {
    for (const auto& p : params) {
      if (p.grad().defined()) p.grad().mul_(coef);
    }
  }
  return total;
}

}  // namespace vrft
