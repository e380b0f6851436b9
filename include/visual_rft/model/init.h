// visual_rft/model/init.h: a new, randomly initialised model folder (`visual-rft model init`),
// the starting point of the demo's base model (issue #9) and of any model trained from
// scratch. The folder is a complete HF model folder: weights, config.json (the preset's shape,
// the vocabulary size and special-token ids of the given tokenizer), generation_config.json
// (eos = <|im_end|>, <|endoftext|>), preprocessor_config.json and the tokenizer files.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "visual_rft/model/config.h"
#include "visual_rft/model/qwen2vl.h"

namespace vrft {

// transformers' _init_weights for Qwen2-VL: Linear, Conv3d and Embedding weights from
// N(0, std) (initializer_range, 0.02), biases 0, RMSNorm and LayerNorm weights 1 (biases 0).
// Draws from torch's generator seeded with `seed`, in named_parameters order.
void init_qwen2vl_weights(Qwen2VLForConditionalGeneration& model, double std, uint64_t seed);

struct InitModelOptions {
  std::string preset = "demo";  // preset_model_config name
  std::string tokenizer;        // tokenizer.json (or a folder holding one)
  uint64_t seed = 0;
  double init_std = 0.02;
  int64_t min_pixels = 0, max_pixels = 0;  // 0: the preset's
  // Shape choices beside the preset's (0 / empty: the preset's): the text model's rotary base
  // and M-RoPE sections (3 numbers summing to head_dim / 2), and the vision patch size.
  double rope_theta = 0;
  std::vector<int64_t> mrope_section;
  int64_t patch_size = 0;
  // Width and depth beside the preset's (0: the preset's). Heads keep the preset's head size
  // (hidden / heads), key-value heads half the heads, MLPs the preset's ratio to the width,
  // and the vision tower's output is the text model's hidden size.
  int64_t hidden_size = 0, num_layers = 0;     // text model
  int64_t vision_width = 0, vision_depth = 0;  // vision tower
};

// Writes the folder (created; files written atomically) and returns its config. Throws
// FileError when the tokenizer lacks a special token the model needs (<|image_pad|>,
// <|vision_start|>, <|vision_end|>, <|video_pad|>, <|im_end|>, <|endoftext|>) and Error when
// the tokenizer's vocabulary is larger than the preset's. The demo preset's vocabulary is the
// tokenizer's, rounded up to a multiple of 64.
Qwen2VLConfig init_model_folder(const InitModelOptions& opt, const std::string& out_dir);

}  // namespace vrft
