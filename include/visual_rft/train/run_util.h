// visual_rft/train/run_util.h: what the GRPO and SFT trainers share besides the maths:
// device and dtype resolution, the prompt of a sample, memory and metrics-file helpers.
#pragma once

#include <torch/torch.h>

#include <string>

#include "visual_rft/data/prompt.h"
#include "visual_rft/data/visual_rft_jsonl.h"

namespace vrft {

torch::Device resolve_device(const std::string& device);                       // auto = CUDA when present
torch::Dtype resolve_dtype(const std::string& dtype, const torch::Device& dev);  // auto = bf16 on CUDA, fp32 on CPU
double peak_rss_gb();
// Keeps the metrics lines of steps <= `step` (a resumed run rewrites what came after, and a
// line cut by a kill is dropped).
void truncate_metrics(const std::string& path, int64_t step);
// The reference's conversation for a sample: [system,] user(image, problem); image loaded.
PromptInput sample_prompt(const Sample& s, const std::string& system_prompt);

}  // namespace vrft
