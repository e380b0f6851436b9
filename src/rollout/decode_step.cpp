// src/rollout/decode_step.cpp: the fixed-shape decode step and its CUDA graph (see the header).
#include "visual_rft/rollout/decode_step.h"

#include "visual_rft/core/error.h"

#if defined(__has_include)
#if __has_include(<ATen/cuda/CUDAGraph.h>) && __has_include(<cuda_runtime_api.h>)
#include <ATen/cuda/CUDAGraph.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/cuda.h>
#define VRFT_CUDA_GRAPHS 1
#endif
#endif

namespace vrft {

#ifdef VRFT_CUDA_GRAPHS
struct DecodeStep::Graph {
  at::cuda::CUDAGraph graph;
};
bool DecodeStep::graphs_compiled() { return true; }
#else
struct DecodeStep::Graph {};
bool DecodeStep::graphs_compiled() { return false; }
#endif

DecodeStep::DecodeStep(Qwen2VLForConditionalGeneration model, KVCache& cache, torch::Tensor attn, int64_t rows,
                       bool graph)
    : model_(std::move(model)), cache_(cache), attn_(std::move(attn)), rows_(rows) {
  TORCH_CHECK(cache_.rows() == rows && attn_.size(0) == rows && attn_.size(1) == cache_.capacity(),
              "DecodeStep: cache ", cache_.rows(), " x ", cache_.capacity(), " and mask ", attn_.sizes(),
              " must both be [", rows, ", capacity]");
  const torch::Device dev = attn_.device();
  auto i64 = torch::TensorOptions().dtype(torch::kLong).device(dev);
  if (!cache_.fixed_shape()) cache_.write_pos = torch::zeros({1}, i64);
  tokens_ = torch::zeros({rows, 1}, i64);
  positions_ = torch::zeros({3, rows, 1}, i64);
  if (!graph) return;
  if (!dev.is_cuda()) throw Error("CUDA graphs need a CUDA device, the model is on " + dev.str());
#ifdef VRFT_CUDA_GRAPHS
  torch::NoGradGuard no_grad;
  // Warm up on a side stream (cuBLAS handles and workspaces, the allocator's blocks), then
  // capture there. The warm-up writes position `len` of the cache, which the first replay
  // writes again. Each run advances the host-side length; it is put back afterwards.
  const int64_t len = cache_.len;
  cache_.write_pos.fill_(len);
  torch::cuda::synchronize();
  c10::cuda::CUDAStream side = c10::cuda::getStreamFromPool(false, dev.index() < 0 ? 0 : dev.index());
  {
    c10::cuda::CUDAStreamGuard guard(side);
    forward();
    cache_.len = len;
    side.synchronize();
    graph_ = std::make_unique<Graph>();
    graph_->graph.capture_begin();
    logits_ = forward();
    graph_->graph.capture_end();
    cache_.len = len;
  }
  torch::cuda::synchronize();
#else
  throw Error("this build of visual-rft has no CUDA graph support (no CUDA headers at compile time)");
#endif
}

DecodeStep::~DecodeStep() = default;

torch::Tensor DecodeStep::forward() {
  return model_->forward({tokens_, attn_, torch::Tensor(), positions_}, &cache_).select(1, 0);  // [rows, V]
}

torch::Tensor DecodeStep::run(const torch::Tensor& tokens, const torch::Tensor& positions) {
  tokens_.copy_(tokens.view({rows_, 1}));
  positions_.copy_(positions);
  cache_.write_pos.fill_(cache_.len);
#ifdef VRFT_CUDA_GRAPHS
  if (graph_) {
    graph_->graph.replay();
    cache_.advance(1);
    return logits_;
  }
#endif
  return forward();
}

}  // namespace vrft
