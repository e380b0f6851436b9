// src/core/device.cpp: device and dtype words (see the header).
#include "visual_rft/core/device.h"

namespace vrft {

torch::Device resolve_device(const std::string& d) {
  if (d == "auto") return torch::cuda::is_available() ? torch::Device(torch::kCUDA) : torch::Device(torch::kCPU);
  return torch::Device(d);
}

torch::Dtype resolve_dtype(DtypeChoice d, const torch::Device& dev) {
  switch (d) {
    case DtypeChoice::float32: return torch::kFloat;
    case DtypeChoice::bfloat16: return torch::kBFloat16;
    case DtypeChoice::float16: return torch::kHalf;
    case DtypeChoice::automatic: break;
  }
  return dev.is_cuda() ? torch::kBFloat16 : torch::kFloat;
}

torch::Dtype resolve_dtype(const std::string& d, const torch::Device& dev) {
  return resolve_dtype(parse_choice<DtypeChoice>(d).value_or(DtypeChoice::automatic), dev);
}

}  // namespace vrft
