// visual_rft/train/grpo.h: the GRPO maths as small pure tensor functions (TRL's GRPOTrainer
// and its _compute_loss): group advantages, per-token log-probabilities without a [rows, T, V]
// tensor, the clipped surrogate with the k3 KL penalty, and the loss-type aggregations.
//
// Shapes: N completions (B prompts x G samples; sample j of prompt b is row b * G + j),
// T completion tokens, H hidden size, V vocabulary.
#pragma once

#include <torch/torch.h>

#include <string>

#include "visual_rft/core/config.h"  // LossType, ScaleRewards

namespace vrft {

// A_i = (R_i - mean of its group) / (std + eps); std unbiased (Bessel), of the group
// ("group"), of the whole batch ("batch"), or no division ("none"). rewards [N] -> [N].
torch::Tensor group_advantages(const torch::Tensor& rewards, int64_t group_size, ScaleRewards scale, double eps);
// Groups whose rewards are all equal (their advantages are 0: no learning signal).
int64_t zero_std_groups(const torch::Tensor& rewards, int64_t group_size);

struct TokenLogprobs {
  torch::Tensor logp;     // [N] log softmax(hidden W^T / temperature) at the token; differentiable
  torch::Tensor entropy;  // [N] entropy of that distribution (no gradient); undefined unless asked
};

// hidden [N, H], weight [V, H] (lm_head), tokens [N] int64. The logits of at most
// `chunk_rows` rows exist at a time, in float32, in the forward and again in the backward
// (recomputed): memory O(chunk_rows x V) instead of O(N x V). Gradients flow to hidden and
// to weight when they require them.
TokenLogprobs token_logprobs(const torch::Tensor& hidden, const torch::Tensor& weight, const torch::Tensor& tokens,
                             double temperature = 1.0, int64_t chunk_rows = 1024, bool with_entropy = false);

struct GrpoLossOptions {
  LossType loss_type = LossType::grpo;  // TRL's GRPOTrainer loss types
  double beta = 0.04;                   // k3 KL weight; 0 = no KL term (ref_logp may be undefined)
  double epsilon_low = 0.2, epsilon_high = 0.2;
  int64_t grad_accum = 1;               // micro-batches per optimiser step (TRL's GA)
  int64_t max_completion_length = 256;  // dr_grpo's constant normaliser
  double num_items = 0;                 // dapo: completion tokens of the whole generation batch (all ranks / ranks)
};

struct GrpoLossStats {
  double kl = 0;           // masked token mean of k3 (0 when beta = 0 and no ref given)
  double clip_low = 0;     // fraction of tokens with A < 0 and ratio < 1 - epsilon_low
  double clip_high = 0;    // fraction with A > 0 and ratio > 1 + epsilon_high
  double clip_region = 0;  // either
  double tokens = 0;       // active completion tokens of the micro-batch
};

// The scalar loss of one micro-batch. logp [N, T] (with gradient), old_logp [N, T] or
// undefined (= logp.detach(), one pass per generation: the ratio is 1 and only its gradient
// matters), ref_logp [N, T] (needed when beta != 0), advantages [N], mask [N, T] (1 on
// completion tokens up to and including the first eos). Summing the losses of the GA
// micro-batches of a step gives TRL's objective for that step.
torch::Tensor grpo_loss(const torch::Tensor& logp, const torch::Tensor& old_logp, const torch::Tensor& ref_logp,
                        const torch::Tensor& advantages, const torch::Tensor& mask, const GrpoLossOptions& opts,
                        GrpoLossStats* stats = nullptr);

}  // namespace vrft
