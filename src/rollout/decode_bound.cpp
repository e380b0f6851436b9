// src/rollout/decode_bound.cpp: the least memory a decode step reads (see the header).
#include "visual_rft/rollout/decode_bound.h"

#include <algorithm>

namespace vrft {

DecodeStepBytes decode_step_bytes(Qwen2VLForConditionalGeneration& model, torch::Dtype dtype, int64_t prompt_len,
                                  const RolloutTiming& timing) {
  const auto& tc = model->cfg.text;
  const double elt = static_cast<double>(c10::elementSize(dtype));
  const double embedding = static_cast<double>(tc.vocab_size * tc.hidden_size) * elt;
  DecodeStepBytes b;
  for (const auto& p : model->model->parameters()) b.weights += static_cast<double>(p.numel()) * elt;
  b.weights -= embedding;  // a step reads one embedding row per token, nothing to count
  // The logits read the whole output matrix: the lm_head's own, or the embedding when tied.
  b.weights += model->lm_head ? static_cast<double>(model->lm_head->weight.numel()) * elt : embedding;
  const double steps = static_cast<double>(std::max<int64_t>(timing.decode_steps, 1));
  const double live_rows = static_cast<double>(timing.generated_tokens) / steps;
  const double avg_len = static_cast<double>(prompt_len) + static_cast<double>(timing.decode_steps) / 2.0;
  const double per_token = static_cast<double>(tc.num_hidden_layers * 2 * tc.num_key_value_heads * tc.head_dim()) * elt;
  b.kv_cache = live_rows * avg_len * per_token;
  return b;
}

}  // namespace vrft
