// visual_rft/model/inputs.h: the model's batched input, as transformers' Qwen2VLProcessor
// makes it (data/prompt.h PromptEncoder builds it from conversations): left-padded token ids,
// the images' patches and their grids. Generation (rollout/) and log-probs (train/) take it.
#pragma once

#include <torch/torch.h>

#include <string>
#include <utility>
#include <vector>

#include "visual_rft/image/image_processor.h"  // ImageSize

namespace vrft {

struct EncodedPrompt {
  torch::Tensor input_ids;                 // [B, T] int64, left-padded
  torch::Tensor attention_mask;            // [B, T] int64, 0 on the padding
  torch::Tensor pixel_values;              // [N, 1176] float32: the batch's images in order (undefined if none)
  torch::Tensor image_grid_thw;            // [I, 3] int64 (undefined if none)
  std::vector<int64_t> lengths;            // [B] unpadded prompt lengths
  std::vector<int64_t> images_per_prompt;  // [B]
  std::vector<std::string> texts;          // [B] rendered prompts, before the pad expansion
  std::vector<ImageSize> resized;          // [I] size each image was resized to

  int64_t batch() const { return input_ids.size(0); }
  // Patches (rows of pixel_values) and grid rows of prompt b: [first, first + count).
  std::pair<int64_t, int64_t> image_rows(int64_t b) const;
  std::pair<int64_t, int64_t> patch_rows(int64_t b) const;
  // Prompts [first, first + n) with their images; columns that are padding in all of them
  // are dropped.
  EncodedPrompt rows(int64_t first, int64_t n) const;
};

}  // namespace vrft
