// src/core/device.cpp: device and dtype words (see the header).
#include "visual_rft/core/device.h"

namespace vrft {

torch::Device resolve_device(const std::string& d) {
  if (d == "auto") return torch::cuda::is_available() ? torch::Device(torch::kCUDA) : torch::Device(torch::kCPU);
  return torch::Device(d);
}

torch::Dtype resolve_dtype(const std::string& d, const torch::Device& dev) {
  if (d == "float32") return torch::kFloat;
  if (d == "bfloat16") return torch::kBFloat16;
  if (d == "float16") return torch::kHalf;
  return dev.is_cuda() ? torch::kBFloat16 : torch::kFloat;
}

}  // namespace vrft
