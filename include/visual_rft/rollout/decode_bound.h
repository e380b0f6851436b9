// visual_rft/rollout/decode_bound.h: the least memory one decode step must read, which with
// the card's bandwidth gives the fastest a decode step can be (`visual-rft bench rollout
// --hbm-tbs`, and the benchmark log's "x the bound").
#pragma once

#include <torch/torch.h>

#include "visual_rft/model/qwen2vl.h"
#include "visual_rft/rollout/generator.h"

namespace vrft {

struct DecodeStepBytes {
  double weights = 0;   // the language model's weights, read once per step
  double kv_cache = 0;  // the live rows' cache, on average over the run's steps
  double total() const { return weights + kv_cache; }
  double bound_ms(double tb_per_s) const { return 1e3 * total() / (tb_per_s * 1e12); }
};

// For a rollout of `model` in `dtype` from prompts of `prompt_len` (padded) tokens that took
// `timing`: the weights of the language model (not the vision tower; of the token embedding
// one row per token, and the whole matrix again when the lm_head is tied to it), and the KV
// cache of the rows live on average (generated tokens / steps) at the average length
// (prompt_len + steps / 2), every layer's keys and values.
DecodeStepBytes decode_step_bytes(Qwen2VLForConditionalGeneration& model, torch::Dtype dtype, int64_t prompt_len,
                                  const RolloutTiming& timing);

}  // namespace vrft
