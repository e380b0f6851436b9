// visual_rft/train/logprobs.h: per-token log-probabilities of the G completions of each
// prompt under a model, with the prompt computed once per group:
//   vision features and the prompt forward run on the B prompts; their keys and values are
//   repeated G times (a differentiable index_select), and the B*G completions run against
//   them. The reference recomputes image and prompt for each of the G sequences.
// The lm_head product and log-softmax go through token_logprobs (chunked, see grpo.h).
#pragma once

#include <torch/torch.h>

#include "visual_rft/model/inputs.h"
#include "visual_rft/model/qwen2vl.h"
#include "visual_rft/train/grpo.h"

namespace vrft {

// prompts: B prompts; completion_ids [B*G, T] (sample j of prompt b in row b*G + j).
// Returns logp (and entropy when asked) as [B*G, T]; logp[i, t] is the log-probability of
// completion token t given the prompt and tokens < t, from logits / temperature.
TokenLogprobs completion_logprobs(Qwen2VLForConditionalGeneration& model, const EncodedPrompt& prompts,
                                  const torch::Tensor& completion_ids, int64_t group_size, double temperature = 1.0,
                                  bool with_entropy = false, int64_t chunk_rows = 1024);

}  // namespace vrft
