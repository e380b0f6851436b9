// visual_rft/rollout/decode_step.h: one decode step of the rollout loop with fixed shapes,
// run directly (any device) or captured once and replayed as a CUDA graph.
//
// A decode step of a 2B model launches ~30 kernels per layer; at the batch sizes of GRPO
// (B*G = 64..512) each kernel is short, so the CPU launch overhead is a large share of the
// step. A CUDA graph launches the whole step at once. Graphs need fixed shapes and
// addresses, so the step reads the whole KV buffers ([rows, kvh, capacity, hd], positions
// not written yet hidden by the mask), writes the new keys at a device-side position
// (KVCache::write_pos), and takes its inputs from buffers it owns:
//
//   DecodeStep step(model, cache, attn, rows, /*graph=*/true);   // warm-up + capture
//   for each token:  logits = step.run(next_tokens [rows], positions [3, rows, 1]);
//
// `attn` [rows, capacity] int64 is the caller's attention mask, updated in place before each
// step (the new position set to 1). The capture binds the cache buffers, `attn` and the
// step's own buffers: after rows move or leave (KVCache::move_rows) make a new DecodeStep.
#pragma once

#include <torch/torch.h>

#include <memory>

#include "visual_rft/model/qwen2vl.h"

namespace vrft {

class DecodeStep {
 public:
  // True when this build has LibTorch's CUDA graph API (CUDA headers at compile time).
  static bool graphs_compiled();

  // cache: fixed-shape mode is switched on (write_pos made) if it is not already.
  DecodeStep(Qwen2VLForConditionalGeneration model, KVCache& cache, torch::Tensor attn, int64_t rows, bool graph);
  ~DecodeStep();
  DecodeStep(const DecodeStep&) = delete;
  DecodeStep& operator=(const DecodeStep&) = delete;

  // tokens [rows] int64, positions [3, rows, 1] int64 -> logits [rows, V] float32, owned by
  // the step and overwritten by the next run(); advances the cache by one position.
  torch::Tensor run(const torch::Tensor& tokens, const torch::Tensor& positions);

  int64_t rows() const { return rows_; }
  bool graph() const { return graph_ != nullptr; }

 private:
  torch::Tensor forward();

  Qwen2VLForConditionalGeneration model_;
  KVCache& cache_;
  torch::Tensor attn_, tokens_, positions_, logits_;
  int64_t rows_;
  struct Graph;  // at::cuda::CUDAGraph, kept out of this header
  std::unique_ptr<Graph> graph_;
};

}  // namespace vrft
