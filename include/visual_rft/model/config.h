// visual_rft/model/config.h: the architecture of a Qwen2-VL / Qwen2.5-VL checkpoint, read
// from its Hugging Face folder (config.json, generation_config.json).
//
// Three config.json layouts exist (transformers 4.4x, 4.52+, 5.x): transformers 4.4x writes the text
// fields at the top level with rope_scaling {type: mrope, mrope_section}; 4.52+ may add a
// nested text_config; 5.x nests text_config and names rope_parameters. Every field is looked
// up in text_config first, then at the top level.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "visual_rft/image/processor_config.h"

namespace vrft {

struct VisionConfig {
  bool qwen25 = false;  // Qwen2.5-VL: RMSNorm, SwiGLU, window attention
  int64_t depth = 32;
  int64_t width = 1280;  // embed_dim (Qwen2-VL) / hidden_size (Qwen2.5-VL)
  int64_t num_heads = 16;
  int64_t mlp_hidden = 5120;  // fc1 width (mlp_ratio * width) / intermediate_size
  int64_t out_hidden = 1536;  // merger output = the LLM's hidden size
  int64_t in_channels = 3;
  int64_t patch_size = 14;
  int64_t temporal_patch_size = 2;
  int64_t spatial_merge_size = 2;
  std::string hidden_act = "quick_gelu";
  int64_t window_size = 112;                   // Qwen2.5-VL, in pixels
  std::vector<int64_t> fullatt_block_indexes;  // Qwen2.5-VL blocks with whole-image attention

  int64_t head_dim() const { return width / num_heads; }
  int64_t patch_dim() const { return in_channels * temporal_patch_size * patch_size * patch_size; }  // 1176
};

struct TextConfig {
  int64_t vocab_size = 151936;
  int64_t hidden_size = 1536;
  int64_t intermediate_size = 8960;
  int64_t num_hidden_layers = 28;
  int64_t num_attention_heads = 12;
  int64_t num_key_value_heads = 2;
  double rms_norm_eps = 1e-6;
  double rope_theta = 1000000.0;
  std::vector<int64_t> mrope_section = {16, 24, 24};  // sums to head_dim / 2
  bool tie_word_embeddings = true;

  int64_t head_dim() const { return hidden_size / num_attention_heads; }
};

struct Qwen2VLConfig {
  std::string model_type;  // qwen2_vl or qwen2_5_vl
  TextConfig text;
  VisionConfig vision;
  int64_t image_token_id = 151655;
  int64_t video_token_id = 151656;
  int64_t vision_start_token_id = 151652;
  int64_t vision_end_token_id = 151653;
  std::vector<int64_t> eos_token_ids = {151645, 151643};  // generation_config.json
  // generation_config.json's repetition_penalty: transformers' generate() applies it even when
  // greedy, so eval and generate do too unless told otherwise (Qwen2-VL-Instruct ships 1.05).
  double repetition_penalty = 1.0;
  ProcessorConfig processor;  // preprocessor_config.json
};

// Shapes for benchmarks and tests without a checkpoint: "tiny" (hidden 64; 10M parameters,
// nearly all in the 151936-token embedding), "100m" (hidden 512, 8 layers) and "2b"
// (Qwen2-VL-2B-Instruct's config.json); "demo" (hidden 128, 640-token vocabulary: the
// CPU demo's model, model/init.h).
Qwen2VLConfig preset_model_config(const std::string& name);
// config.json text (transformers 5.x layout, which transformers and parse_model_config read).
std::string model_config_json(const Qwen2VLConfig& c);

// Reads DIR/config.json (required), DIR/generation_config.json and
// DIR/preprocessor_config.json (optional; the defaults above otherwise). Throws
// FileError naming the file and the missing or malformed field.
Qwen2VLConfig load_model_config(const std::string& dir);
// The same from the text of a config.json (`origin` names it in errors).
Qwen2VLConfig parse_model_config(const std::string& json_text, const std::string& origin);

}  // namespace vrft
