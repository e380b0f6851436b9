// visual_rft/train/optim.h: AdamW with the exact update order of torch.optim.AdamW
// (foreach=False), its state as named tensors (saved in checkpoints), the learning-rate
// schedules of transformers (constant / linear / cosine, with linear warm-up), and global
// gradient-norm clipping that reports a non-finite norm instead of applying it.
#pragma once

#include <torch/torch.h>

#include <string>
#include <utility>
#include <vector>

#include "visual_rft/core/config.h"  // LrSchedule

namespace vrft {

struct AdamWOptions {
  double lr = 1e-6, beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weight_decay = 0.0;
};

class AdamW {
 public:
  // `params`: (name, parameter) pairs; only those that require a gradient are updated.
  AdamW(std::vector<std::pair<std::string, torch::Tensor>> params, AdamWOptions opts);
  // One update with learning rate `lr` (the schedule's value for this step).
  void step(double lr);
  void zero_grad();
  int64_t steps() const { return steps_; }
  // State as (name, tensor): "NAME.exp_avg", "NAME.exp_avg_sq" and "step" ([1] int64).
  std::vector<std::pair<std::string, torch::Tensor>> state() const;
  // Restores state(); throws Error naming a missing or mis-shaped entry.
  void load_state(const std::vector<std::pair<std::string, torch::Tensor>>& state);
  double state_bytes() const;
  // The dtype of the moments of a parameter of dtype `param`: float32 at least (bf16 moments
  // lose the small updates RL fine-tuning makes), float64 for float64 parameters.
  static torch::ScalarType state_dtype(torch::ScalarType param) {
    return param == torch::kDouble ? torch::kDouble : torch::kFloat;
  }

 private:
  struct Slot {
    std::string name;
    torch::Tensor param, exp_avg, exp_avg_sq;
  };
  std::vector<Slot> slots_;
  AdamWOptions opts_;
  int64_t steps_ = 0;
};

// transformers' schedules: the multiplier of the peak lr at optimiser step `step` (0-based)
// of `total`: linear warm-up over `warmup` steps, then constant, linear decay to 0, or cosine.
double lr_multiplier(LrSchedule schedule, int64_t step, int64_t warmup, int64_t total);

// Global L2 norm of the gradients; scales them to max_norm when above (max_norm > 0), like
// torch.nn.utils.clip_grad_norm_. Returns the norm before clipping (may be inf or NaN, in
// which case nothing is scaled and the caller must skip the update).
double clip_grad_norm(const std::vector<torch::Tensor>& params, double max_norm);

}  // namespace vrft
