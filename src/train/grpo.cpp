// src/train/grpo.cpp: advantages, chunked token log-probs, the GRPO loss (see the header).
#include "visual_rft/train/grpo.h"

#include <ATen/autocast_mode.h>

#include "visual_rft/core/error.h"

namespace vrft {

torch::Tensor group_advantages(const torch::Tensor& rewards, int64_t group_size, ScaleRewards scale, double eps) {
  const int64_t N = rewards.size(0);
  if (group_size < 1 || N % group_size) {
    throw Error("group_advantages: " + std::to_string(N) + " rewards do not split into groups of " +
                std::to_string(group_size));
  }
  torch::Tensor r = rewards.view({N / group_size, group_size});
  torch::Tensor centred = (r - r.mean(1, true)).view({N});
  if (scale == ScaleRewards::none) return centred;
  if (group_size < 2 && scale == ScaleRewards::group)
    throw Error("scale_rewards: group needs at least 2 samples per prompt (G >= 2)");
  torch::Tensor std = scale == ScaleRewards::group
                          ? r.std(1, /*unbiased=*/true, /*keepdim=*/true).expand_as(r).reshape({N})
                          : rewards.std(/*unbiased=*/true).expand({N});
  return centred / (std + eps);
}

int64_t zero_std_groups(const torch::Tensor& rewards, int64_t group_size) {
  torch::Tensor r = rewards.view({-1, group_size});
  return (r.amax(1) == r.amin(1)).sum().item<int64_t>();
}

namespace {

// Forward: per chunk of rows, logits in float32 -> logsumexp and the token's logit.
// Backward: d logp / d logits = onehot(token) - softmax, recomputed per chunk, then
// chained through the matmul to hidden and weight.
struct ChunkedLogprob : torch::autograd::Function<ChunkedLogprob> {
  static torch::autograd::variable_list forward(torch::autograd::AutogradContext* ctx, torch::Tensor hidden,
                                                torch::Tensor weight, torch::Tensor tokens, double temperature,
                                                int64_t chunk, bool with_entropy) {
    const int64_t N = hidden.size(0);
    auto f32 = hidden.options().dtype(hidden.scalar_type() == torch::kDouble ? torch::kDouble : torch::kFloat);
    torch::Tensor logp = torch::empty({N}, f32), lse = torch::empty({N}, f32);
    torch::Tensor entropy = with_entropy ? torch::empty({N}, f32) : torch::empty({0}, f32);
    for (int64_t s = 0; s < N; s += chunk) {
      const int64_t n = std::min(chunk, N - s);
      torch::Tensor logits = torch::matmul(hidden.narrow(0, s, n), weight.t()).to(f32.dtype()) / temperature;  // [n, V]
      torch::Tensor l = torch::logsumexp(logits, -1);
      lse.narrow(0, s, n).copy_(l);
      logp.narrow(0, s, n).copy_(logits.gather(1, tokens.narrow(0, s, n).view({n, 1})).view({n}) - l);
      if (with_entropy) {
        torch::Tensor p = torch::softmax(logits, -1);
        entropy.narrow(0, s, n).copy_(l - (p * logits).sum(-1));
      }
    }
    ctx->save_for_backward({hidden, weight, tokens, lse});
    // Under autocast the forward's matmuls ran in the autocast dtype; backward (where autocast
    // is not active) recomputes the logits the same way.
    const auto dt = hidden.device().type();
    ctx->saved_data["autocast"] = at::autocast::is_autocast_enabled(dt)
                                      ? static_cast<int64_t>(at::autocast::get_autocast_dtype(dt))
                                      : int64_t{-1};
    ctx->saved_data["temperature"] = temperature;
    ctx->saved_data["chunk"] = chunk;
    ctx->mark_non_differentiable({entropy});
    return {logp, entropy};
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grad_out) {
    auto saved = ctx->get_saved_variables();
    torch::Tensor hidden = saved[0], weight = saved[1], tokens = saved[2], lse = saved[3];
    const double temperature = ctx->saved_data["temperature"].toDouble();
    const int64_t chunk = ctx->saved_data["chunk"].toInt();
    const int64_t ac = ctx->saved_data["autocast"].toInt();
    const torch::Tensor wc = ac >= 0 ? weight.to(static_cast<torch::ScalarType>(ac)) : weight;  // compute copy
    torch::Tensor g = grad_out[0];                                                              // [N]
    const int64_t N = hidden.size(0);
    const bool need_h = ctx->needs_input_grad(0), need_w = ctx->needs_input_grad(1);
    torch::Tensor gh = need_h ? torch::empty_like(hidden) : torch::Tensor();
    torch::Tensor gw =
        need_w ? torch::zeros(weight.sizes(), weight.options().dtype(lse.scalar_type())) : torch::Tensor();
    for (int64_t s = 0; s < N; s += chunk) {
      const int64_t n = std::min(chunk, N - s);
      torch::Tensor h = hidden.narrow(0, s, n).to(wc.scalar_type());
      torch::Tensor logits = torch::matmul(h, wc.t()).to(lse.scalar_type()) / temperature;
      torch::Tensor gc = g.narrow(0, s, n).view({n, 1});
      // d/dlogits of logp = onehot - softmax; times the upstream gradient; / temperature.
      torch::Tensor dl = -(torch::exp(logits - lse.narrow(0, s, n).view({n, 1})) * gc);
      dl.scatter_add_(1, tokens.narrow(0, s, n).view({n, 1}), gc);
      dl = dl / temperature;
      if (need_h) gh.narrow(0, s, n).copy_(torch::matmul(dl.to(wc.scalar_type()), wc));
      if (need_w)
        gw.add_(ac >= 0 ? torch::matmul(dl.t().to(wc.scalar_type()), h).to(gw.scalar_type())
                        : torch::matmul(dl.t(), h.to(dl.scalar_type())));
    }
    return {gh,
            need_w ? gw.to(weight.scalar_type()) : torch::Tensor(),
            torch::Tensor(),
            torch::Tensor(),
            torch::Tensor(),
            torch::Tensor()};
  }
};

}  // namespace

TokenLogprobs token_logprobs(const torch::Tensor& hidden, const torch::Tensor& weight, const torch::Tensor& tokens,
                             double temperature, int64_t chunk_rows, bool with_entropy) {
  if (hidden.dim() != 2 || weight.dim() != 2 || hidden.size(1) != weight.size(1) || tokens.numel() != hidden.size(0)) {
    throw Error("token_logprobs: expected hidden [N, H], weight [V, H], tokens [N]");
  }
  auto out = ChunkedLogprob::apply(hidden, weight, tokens.to(torch::kLong).view({-1}), temperature,
                                   std::max<int64_t>(chunk_rows, 1), with_entropy);
  TokenLogprobs r;
  r.logp = out[0];
  if (with_entropy) r.entropy = out[1];
  return r;
}

torch::Tensor grpo_loss(const torch::Tensor& logp, const torch::Tensor& old_logp, const torch::Tensor& ref_logp,
                        const torch::Tensor& advantages, const torch::Tensor& mask, const GrpoLossOptions& o,
                        GrpoLossStats* stats) {
  torch::Tensor m = mask.to(logp.scalar_type());
  torch::Tensor old = old_logp.defined() ? old_logp : logp.detach();
  torch::Tensor ratio = torch::exp(logp - old);                       // [N, T]
  torch::Tensor a = advantages.view({-1, 1}).to(logp.scalar_type());  // [N, 1]
  torch::Tensor clipped = torch::clamp(ratio, 1 - o.epsilon_low, 1 + o.epsilon_high);
  torch::Tensor per_token = -torch::min(ratio * a, clipped * a);
  torch::Tensor kl;
  if (o.beta != 0.0 || ref_logp.defined()) {
    if (!ref_logp.defined()) throw Error("grpo_loss: beta != 0 needs the reference log-probs");
    torch::Tensor d = ref_logp - logp;
    kl = torch::exp(d) - d - 1;  // k3, >= 0
    if (o.beta != 0.0) per_token = per_token + o.beta * kl;
  }
  const int64_t B = logp.size(0);
  const double ga = static_cast<double>(o.grad_accum);
  torch::Tensor loss;
  switch (o.loss_type) {
    case LossType::grpo: loss = ((per_token * m).sum(1) / m.sum(1).clamp_min(1.0)).mean() / ga; break;
    case LossType::bnpo: loss = (per_token * m).sum() / m.sum().clamp_min(1.0) / ga; break;
    case LossType::dr_grpo: loss = (per_token * m).sum() / static_cast<double>(B * o.max_completion_length) / ga; break;
    case LossType::dapo:
      if (!(o.num_items > 0)) throw Error("grpo_loss: dapo needs num_items (the generation batch's completion tokens)");
      loss = (per_token * m).sum() / o.num_items;
      break;
  }
  if (stats) {
    torch::NoGradGuard ng;
    const double n = m.sum().item<double>();
    const double denom = std::max(n, 1.0);
    stats->tokens = n;
    stats->kl = kl.defined() ? (kl * m).sum().item<double>() / denom : 0.0;
    torch::Tensor low = ((ratio < 1 - o.epsilon_low) & (a < 0)).to(m.scalar_type()) * m;
    torch::Tensor high = ((ratio > 1 + o.epsilon_high) & (a > 0)).to(m.scalar_type()) * m;
    stats->clip_low = low.sum().item<double>() / denom;
    stats->clip_high = high.sum().item<double>() / denom;
    stats->clip_region = stats->clip_low + stats->clip_high;
  }
  return loss;
}

}  // namespace vrft
