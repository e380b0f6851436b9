// src/rollout/sampling.cpp: logits processing and inverse-CDF sampling (see the header).
#include "visual_rft/rollout/sampling.h"

#include "visual_rft/core/error.h"
#include "visual_rft/core/random.h"

namespace vrft {
namespace {

torch::Tensor penalize(const torch::Tensor& logits, double penalty, const torch::Tensor& seen) {
  if (penalty == 1.0 || !seen.defined()) return logits;
  // CTRL / transformers: a seen token's logit is divided by the penalty when positive and
  // multiplied by it when negative.
  torch::Tensor scaled = torch::where(logits < 0, logits * penalty, logits / penalty);
  return torch::where(seen > 0, scaled, logits);
}

// Top-p without top-k: the probabilities of the K most likely tokens [R, K], sorted, and their
// ids, for the smallest K (from 256, growing 8x) whose mass reaches top_p in every row. The
// nucleus then lies inside them, so the result equals a full sort of the vocabulary's
// probabilities truncated to K columns, at the cost of a top-k instead of a sort of all V.
std::pair<torch::Tensor, torch::Tensor> nucleus_candidates(const torch::Tensor& x, double top_p) {
  const int64_t V = x.size(-1);
  const torch::Tensor lse = torch::logsumexp(x, -1, /*keepdim=*/true);  // [R, 1]
  for (int64_t k = std::min<int64_t>(256, V);; k = std::min(V, 8 * k)) {
    auto [top, ids] = x.topk(k, -1, /*largest=*/true, /*sorted=*/true);
    torch::Tensor p = (top - lse).exp();  // softmax over all V, at the K survivors
    // The mass before token K + 1, summed as the top-p mask below sums it.
    if (k == V || p.cumsum(-1).select(-1, k - 1).min().item<double>() >= top_p) return {p, ids};
  }
}

// Candidates after temperature and top-k/top-p/min-p: probabilities [R, K] (0 = removed) and
// their token ids [R, K] (undefined when K = V in vocabulary order).
std::pair<torch::Tensor, torch::Tensor> candidates(const torch::Tensor& logits, const SamplingConfig& c,
                                                   const torch::Tensor& seen) {
  torch::Tensor x = penalize(logits, c.repetition_penalty, seen);
  if (c.temperature != 1.0) x = x / c.temperature;
  const int64_t V = x.size(-1);
  torch::Tensor ids, p;
  if (c.top_k > 0 && c.top_k < V) {  // transformers: top-p renormalises over the k survivors
    std::tie(x, ids) = x.topk(c.top_k, -1, /*largest=*/true, /*sorted=*/true);
    p = torch::softmax(x, -1);
  } else if (c.top_p < 1.0) {
    std::tie(p, ids) = nucleus_candidates(x, c.top_p);
  } else {
    p = torch::softmax(x, -1);
  }
  if (c.top_p < 1.0) {  // sorted: keep the smallest prefix holding top_p (the first always)
    torch::Tensor before = p.cumsum(-1) - p;
    p = p.masked_fill(before >= c.top_p, 0.0);
  }
  if (c.min_p > 0.0) p = p.masked_fill(p < p.amax(-1, true) * c.min_p, 0.0);
  return {p, ids};
}

}  // namespace

void validate(const SamplingConfig& c) {
  if (c.greedy) return;
  if (!(c.temperature > 0))
    throw Error("rollout.temperature must be > 0 (0 means greedy), got " + std::to_string(c.temperature));
  if (c.top_k < 0) throw Error("rollout.top_k must be >= 0, got " + std::to_string(c.top_k));
  if (!(c.top_p > 0 && c.top_p <= 1)) throw Error("rollout.top_p must be in (0, 1], got " + std::to_string(c.top_p));
  if (!(c.min_p >= 0 && c.min_p < 1)) throw Error("rollout.min_p must be in [0, 1), got " + std::to_string(c.min_p));
  if (!(c.repetition_penalty > 0)) {
    throw Error("rollout.repetition_penalty must be > 0, got " + std::to_string(c.repetition_penalty));
  }
}

SamplingConfig sampling_settings(double temperature, int64_t top_k, double top_p, double min_p,
                                 double repetition_penalty) {
  SamplingConfig c;
  c.greedy = temperature == 0;
  c.temperature = c.greedy ? 1.0 : temperature;
  c.top_k = top_k;
  c.top_p = top_p;
  c.min_p = min_p;
  c.repetition_penalty = repetition_penalty;
  return c;
}

double stream_uniform(uint64_t stream, uint64_t step) {
  return static_cast<double>(splitmix64(stream ^ splitmix64(step)) >> 11) * 0x1.0p-53;
}

uint64_t sample_stream(uint64_t seed, uint64_t prompt_key, uint64_t sample) {
  return splitmix64(splitmix64(splitmix64(seed) ^ prompt_key) ^ (sample * 0xd1b54a32d192ed03ULL));
}

Sampled sample_tokens(const torch::Tensor& logits, const SamplingConfig& c, const torch::Tensor& uniforms,
                      const torch::Tensor& seen) {
  Sampled out;
  if (c.greedy) {
    out.tokens = penalize(logits, c.repetition_penalty, seen).argmax(-1, /*keepdim=*/true);  // [R, 1]
  } else {
    auto [p, ids] = candidates(logits, c, seen);
    torch::Tensor cum = p.cumsum(-1);                                           // [R, K]
    torch::Tensor u = uniforms.dim() == 1 ? uniforms.view({-1, 1}) : uniforms;  // [R, M]
    torch::Tensor target = u.to(cum.dtype()) * cum.narrow(-1, cum.size(-1) - 1, 1);
    // The first candidate whose cumulative mass exceeds the target; `right` skips removed
    // (zero-mass) candidates, the clamp guards against rounding at the very top.
    torch::Tensor pos = torch::searchsorted(cum, target.contiguous(), /*out_int32=*/false, /*right=*/true)
                            .clamp_max(cum.size(-1) - 1);  // [R, M]
    out.tokens = ids.defined() ? ids.gather(-1, pos) : pos;
  }
  torch::Tensor chosen = logits.gather(-1, out.tokens);  // [R, M]
  out.logprobs = chosen - torch::logsumexp(logits, -1, /*keepdim=*/true);
  if (!uniforms.defined() || uniforms.dim() == 1) {
    out.tokens = out.tokens.view({-1});
    out.logprobs = out.logprobs.view({-1});
  }
  return out;
}

torch::Tensor sampling_probs(const torch::Tensor& logits, const SamplingConfig& c, const torch::Tensor& seen) {
  if (c.greedy) {
    return torch::zeros_like(logits).scatter_(-1, penalize(logits, c.repetition_penalty, seen).argmax(-1, true), 1.0);
  }
  auto [p, ids] = candidates(logits, c, seen);
  p = p / p.sum(-1, true);
  return ids.defined() ? torch::zeros_like(logits).scatter_(-1, ids, p) : p;
}

}  // namespace vrft
