// visual_rft/image/processor_config.h: the image processor's settings, as
// preprocessor_config.json holds them (Qwen2-VL-2B-Instruct's values by default). The model's
// config carries one (model/config.h); the image processor reads it.
#pragma once

#include <cstdint>
#include <vector>

namespace vrft {

// preprocessor_config.json: the image processor's settings (Qwen2-VL-2B-Instruct's preprocessor_config.json).
struct ProcessorConfig {
  int64_t min_pixels = 3136;      // 4 * 28 * 28
  int64_t max_pixels = 12845056;  // 16384 * 28 * 28, the released checkpoints' value
  int64_t patch_size = 14;
  int64_t temporal_patch_size = 2;
  int64_t merge_size = 2;
  std::vector<double> image_mean = {0.48145466, 0.4578275, 0.40821073};
  std::vector<double> image_std = {0.26862954, 0.26130258, 0.27577711};
};

}  // namespace vrft
