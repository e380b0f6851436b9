// visual_rft/rollout/generator.h: G sampled completions per prompt, batched, with a KV cache.
//
//   vision tower  once per prompt            image_features(pixel_values)      [N/4, H]
//   prefill       once per prompt            forward(prompt) -> cache [B, kvh, P, hd]
//   fan out       cache rows repeated G times into buffers with room for the completion
//   decode        all live samples in one batch, one token per step; a sample that
//                 produced an eos id or max_new_tokens leaves the batch (its slot is refilled
//                 by moving a live row), so finished samples cost nothing further
//
// Sample j of prompt b is row b * G + j of every output (the reference's order).
#pragma once

#include <torch/torch.h>

#include <string>
#include <vector>

#include "visual_rft/core/config.h"  // DecodeMode
#include "visual_rft/model/inputs.h"
#include "visual_rft/model/qwen2vl.h"
#include "visual_rft/rollout/sampling.h"
#include "visual_rft/text/tokenizer.h"

namespace vrft {

struct GenerateConfig {
  int64_t num_samples = 8;  // G
  int64_t max_new_tokens = 256;
  SamplingConfig sampling;
  uint64_t seed = 0;
  std::vector<int64_t> eos_token_ids;  // empty: the model's (generation_config.json)
  bool ignore_eos = false;             // always generate max_new_tokens (benchmarks)
  int64_t pad_token_id = 151643;       // fills completion_ids after the end
  // Per prompt, the key of its random streams (default: its index in the batch). Give a
  // stable key (e.g. the data set index) to make a sample independent of batch order.
  std::vector<uint64_t> prompt_keys;
  // How decode steps run: eager (shapes follow the live rows, finished rows leave at once),
  // fixed (the whole cache buffers each step; finished rows stay until half the batch is
  // done, then the batch is compacted; decode_step.h), graph (fixed, replayed as CUDA
  // graphs), auto (graph on CUDA when compiled in, else eager). All give the same tokens up
  // to float rounding of the attention over masked positions.
  DecodeMode decode = DecodeMode::automatic;
};

struct RolloutTiming {
  double vision_s = 0, prefill_s = 0, decode_s = 0;
  int64_t prompt_tokens = 0;     // unpadded prompt tokens prefilled (once per prompt)
  int64_t generated_tokens = 0;  // sampled tokens, all samples
  int64_t decode_steps = 0;
};

struct RolloutBatch {
  torch::Tensor completion_ids;    // [B*G, T] int64, right-padded with pad_token_id
  torch::Tensor completion_mask;   // [B*G, T] int64: 1 up to and including the first eos
  torch::Tensor logprobs;          // [B*G, T] float32: raw-policy log-prob of each sampled token (0 after the end)
  std::vector<std::string> texts;  // [B*G] decoded, special tokens skipped
  std::vector<std::string> finish_reasons;  // [B*G] "stop" (eos) or "length"
  std::vector<int64_t> prompt_index;        // [B*G] the prompt each row answers
  RolloutTiming timing;
};

// The rollouts of consecutive prompt chunks as one batch (rows in order, completions
// right-padded to the longest, prompt_index renumbered, timings summed).
RolloutBatch concat_rollouts(const std::vector<RolloutBatch>& parts, int64_t pad_token_id);

class Generator {
 public:
  // `tokenizer` may be null (no texts are decoded then).
  Generator(Qwen2VLForConditionalGeneration model, const Tokenizer* tokenizer);

  RolloutBatch generate(const EncodedPrompt& prompts, const GenerateConfig& cfg);

 private:
  Qwen2VLForConditionalGeneration model_;
  const Tokenizer* tokenizer_;
};

}  // namespace vrft
