// visual_rft/train/memory_plan.h: how much memory one rank of a training run needs, from the
// run config and the model's config.json alone (no weights are read), for `visual-rft plan`.
//
// The parts follow what the trainers hold (training_run.h, grpo_trainer.cpp):
//   resident   weights (float32 master weights, or with LoRA the base in the compute dtype
//              plus float32 adapters), the rollout copy (CUDA: bf16), the reference model
//              (beta > 0, without LoRA), gradients of what trains (float32), AdamW's two
//              moments (split over the ranks with distributed.shard; ZeRO-2 also splits the float32
//              masters and gradients and holds the weights in bf16)
//   rollout    the KV cache of P/W prompts x G samples for prompt + max_new_tokens positions,
//              the prompts' own cache while it is fanned out, the sampling buffers
//   update     the saved activations of one micro-batch's forward and backward (all layers,
//              or one layer's plus the layer inputs with gradient checkpointing), the prompt
//              keys and values repeated per completion, one chunk of logits
//   runtime    CUDA context and workspaces, or the CPU process itself
// The peak is resident + runtime + the larger of the rollout and update phases.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "visual_rft/core/config.h"
#include "visual_rft/model/config.h"

namespace vrft {

struct PlanOptions {
  int64_t world_size = 1;
  bool cuda = true;           // plan for a GPU (bf16 autocast, bf16 rollouts) or for the CPU (float32)
  int64_t prompt_tokens = 0;  // per prompt; 0 = image tokens at data.max_pixels + 96 text tokens
  double runtime_gb = -1;     // the process or CUDA context; < 0 = 0.75 GB on CUDA, measured on the CPU
};

struct PlanPart {
  std::string phase;  // resident, rollout, update, runtime
  std::string name;
  double gb = 0;
  std::string note;
};

struct MemoryPlan {
  int64_t params = 0, vision_params = 0, trainable = 0;
  int64_t prompt_tokens = 0;
  std::string precision;  // the dtypes the run holds and computes in, in words
  std::vector<PlanPart> parts;
  double resident_gb = 0, rollout_gb = 0, update_gb = 0, runtime_gb = 0;
  double peak_gb() const;
  std::string table(double gpu_memory_gb) const;  // Markdown, with the verdict when gpu_memory_gb > 0
};

// Parameter names and sizes of the architecture, in the checkpoint's names (modules.h).
struct ParamShape {
  std::string name;
  int64_t numel = 0;
  int64_t in = 0, out = 0;  // for Linear weights (LoRA targets); 0 otherwise
};
std::vector<ParamShape> parameter_shapes(const Qwen2VLConfig& m);

MemoryPlan plan_memory(const Config& cfg, const Qwen2VLConfig& model, const PlanOptions& opt);

}  // namespace vrft
