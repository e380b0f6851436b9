// visual_rft/model/qwen2vl.h: Qwen2VLForConditionalGeneration (and Qwen2.5-VL): the whole
// model, strict loading of Hugging Face folders, saving them back, and the forward API.
//
//   auto m = load_qwen2vl("models/Qwen2-VL-2B-Instruct", torch::kFloat, torch::kCPU);
//   torch::Tensor feats = m->image_features(pixel_values, grid);          // once per prompt
//   RopeIndex r = m->rope_index(input_ids, attention_mask, grid);
//   KVCache cache;
//   torch::Tensor logits = m->forward({input_ids, attention_mask, feats, r.position_ids},
//                                     &cache, /*logits_from=*/S - 1);      // last position only
// Shapes: B batch, S tokens, V vocabulary, N patches, I images.
#pragma once

#include <torch/torch.h>

#include <optional>
#include <string>

#include "visual_rft/model/config.h"
#include "visual_rft/model/modules.h"
#include "visual_rft/model/rope.h"

namespace vrft {

struct ForwardInput {
  torch::Tensor input_ids;       // [B, S] int64 (new tokens only when a cache is given)
  torch::Tensor attention_mask;  // [B, T] int64, T = cached + S; 0 = left padding
  torch::Tensor image_embeds;    // [n_image_tokens, H] from image_features(), or undefined
  torch::Tensor position_ids;    // [3, B, S] int64 from rope_index() / decode_position_ids()
};

struct Qwen2VLForConditionalGenerationImpl : torch::nn::Module {
  explicit Qwen2VLForConditionalGenerationImpl(const Qwen2VLConfig& c);

  // Vision tower: pixel_values [N, 1176], image_grid_thw [I, 3] -> [N / 4, H].
  torch::Tensor image_features(const torch::Tensor& pixel_values, const torch::Tensor& image_grid_thw);
  RopeIndex rope_index(const torch::Tensor& input_ids, const torch::Tensor& attention_mask,
                       const torch::Tensor& image_grid_thw) const;
  // Final hidden states [B, S, H]; appends this step's keys and values to `cache` if given.
  torch::Tensor hidden_states(const ForwardInput& in, KVCache* cache);
  // Logits [B, S - logits_from, V] in fp32 for positions logits_from ... S - 1.
  torch::Tensor forward(const ForwardInput& in, KVCache* cache = nullptr, int64_t logits_from = 0);
  torch::Tensor lm_head_weight() const;  // lm_head.weight, or embed_tokens.weight when tied

  VisionTransformer visual{nullptr};
  Qwen2Model model{nullptr};
  torch::nn::Linear lm_head{nullptr};  // absent when tie_word_embeddings
  Qwen2VLConfig cfg;
};
TORCH_MODULE(Qwen2VLForConditionalGeneration);

// Builds the model of DIR/config.json and loads its safetensors strictly: every key, shape
// and dtype is checked, and one FileError lists all missing, unexpected and mismatched keys.
// Accepts the legacy key layout (visual.*, model.*) and the 4.52+ one (model.visual.*,
// model.language_model.*), single or sharded files; converts to `dtype` on `device`.
Qwen2VLForConditionalGeneration load_qwen2vl(const std::string& dir, torch::Dtype dtype, torch::Device device);

// Writes an HF model folder: weights in the legacy key layout (tied lm_head omitted), sharded
// above `max_shard_bytes`, in `dtype` (default: the parameters' own), with config,
// generation, processor and tokenizer files copied from `source_dir` when given; the copied
// config.json's "dtype" (and "torch_dtype", when it has one) says the weights' dtype. Each file
// is written atomically.
void save_qwen2vl(Qwen2VLForConditionalGeneration& model, const std::string& dir, const std::string& source_dir,
                  uint64_t max_shard_bytes = 5'000'000'000ULL, std::optional<torch::Dtype> dtype = std::nullopt);
// The same from (name, tensor) pairs named as the model's parameters (the model's own, or
// exact float32 masters in place of a narrower working copy).
void save_qwen2vl(const std::vector<std::pair<std::string, torch::Tensor>>& weights, const std::string& dir,
                  const std::string& source_dir, uint64_t max_shard_bytes = 5'000'000'000ULL,
                  std::optional<torch::Dtype> dtype = std::nullopt);

// Copies the tokenizer, processor, chat-template and generation files of a model folder into
// `dir` (each atomically; those it lacks are skipped): what an adapter folder carries.
void copy_processor_files(const std::string& source_dir, const std::string& dir);

// The dtype of a model folder's floating-point weights, as stored (the first such tensor by
// name). Throws FileError when the folder has no weights or none is floating-point.
torch::Dtype stored_weights_dtype(const std::string& dir);

// "float32", "bfloat16", "float16": the dtype as config.json names it.
const char* config_dtype_name(torch::Dtype dtype);

}  // namespace vrft
