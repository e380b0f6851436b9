// visual_rft/rollout/sampling.h: next-token choice from logits, in float32: repetition
// penalty, temperature, top-k, top-p, min-p (in transformers' order), greedy, and sampling by
// inverse CDF with one uniform number per row.
//
// Randomness: every sample owns a counter-based stream (SplitMix64 of the seed, the prompt's
// key and the sample's index), read at the step number. A sample's numbers therefore do not
// depend on G, on the other prompts of the batch or on their order; its tokens are the same
// whenever its logits are (same device and dtype; batch composition can change a matmul's
// rounding on some backends, which can flip a token that sits on a probability boundary).
#pragma once

#include <torch/torch.h>

#include <cstdint>

namespace vrft {

struct SamplingConfig {
  bool greedy = false;              // argmax (after the repetition penalty); the rest is ignored
  double temperature = 1.0;         // > 0
  int64_t top_k = 0;                // 0 = off
  double top_p = 1.0;               // 1 = off
  double min_p = 0.0;               // 0 = off
  double repetition_penalty = 1.0;  // 1 = off; applied to tokens of the prompt and the completion
};

// Throws Error naming the field when a value is out of range.
void validate(const SamplingConfig& c);

// The settings of the words users write (rollout.*, eval.temperature, generate's flags):
// temperature 0 means greedy, and then the other filters are off as well.
SamplingConfig sampling_settings(double temperature, int64_t top_k = 0, double top_p = 1.0, double min_p = 0.0,
                                 double repetition_penalty = 1.0);

// Uniform number in [0, 1) of stream `stream` at step `step` (SplitMix64; 53 bits).
double stream_uniform(uint64_t stream, uint64_t step);
// The stream of sample `sample` of the prompt with key `prompt_key` under `seed`.
uint64_t sample_stream(uint64_t seed, uint64_t prompt_key, uint64_t sample);

struct Sampled {
  torch::Tensor tokens;    // [R] or [R, M] int64
  torch::Tensor logprobs;  // like tokens, float32: log softmax of the raw logits at the token
};

// logits [R, V] float32 (raw). uniforms [R] float32 in [0, 1), or [R, M] for M samples per
// row from the same logits (the G first tokens of a prompt: the filters run once); greedy
// ignores them and gives [R, 1] for [R, M] (or [R] for [R] / undefined). seen [R, V] float32
// (> 0 where the token occurred; only read when repetition_penalty != 1).
Sampled sample_tokens(const torch::Tensor& logits, const SamplingConfig& c, const torch::Tensor& uniforms,
                      const torch::Tensor& seen = {});

// The distribution sampled from, as probabilities [R, V] (tests and diagnostics).
torch::Tensor sampling_probs(const torch::Tensor& logits, const SamplingConfig& c, const torch::Tensor& seen = {});

}  // namespace vrft
