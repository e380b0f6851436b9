// visual_rft/core/device.h: the device and dtype words of configs and flags ("auto", "cpu",
// "cuda:1", "float32", "bfloat16", ...) as LibTorch values, for training, evaluation and the
// CLI alike.
#pragma once

#include <torch/torch.h>

#include <string>

#include "visual_rft/core/config.h"  // DtypeChoice

namespace vrft {

torch::Device resolve_device(const std::string& device);                         // auto = CUDA when present
torch::Dtype resolve_dtype(DtypeChoice dtype, const torch::Device& dev);         // auto = bf16 on CUDA, fp32 on CPU
torch::Dtype resolve_dtype(const std::string& dtype, const torch::Device& dev);  // a flag's word (--dtype)

}  // namespace vrft
