// visual_rft/model/lora.h: LoRA adapters as PEFT makes, saves and merges them.
//
//   add_lora(model, cfg.lora);                  // adapters on the matching Linears (config.h)
//   { LoraDisabled off(model); ... }            // the base model (GRPO's reference), no copy
//   save_peft_adapter(model, cfg, DIR, base);   // adapter_config.json + adapter_model.safetensors
//   auto m = load_model(DIR, dtype, device);    // a model folder, or an adapter folder on its base
//   merge_lora(model);                          // W += scale * B A, adapters removed
//
// A Linear of the model (modules.h) with an adapter computes x W^T + b + scale * B(A(drop(x))),
// A [r, in] (kaiming-uniform, as nn.Linear and PEFT initialise it), B [out, r] (zeros: the
// adapted model starts as the base), scale = alpha / r (alpha / sqrt(r) with rsLoRA). The
// adapters are float32 whatever the base's dtype, and the adapter path computes in float32,
// as PEFT does (autocast_adapter_dtype), so a frozen bf16 base needs no float32 copy.
// Module names follow the Hugging Face checkpoint (model.layers.N.self_attn.q_proj,
// visual.blocks.N.attn.qkv); PEFT's files name them after transformers' module tree,
// base_model.model.model.language_model.layers.N... and base_model.model.model.visual...,
// which load_peft_adapter also reads in the older layout (base_model.model.model.layers.N...).
#pragma once

#include <string>
#include <vector>

#include "visual_rft/core/config.h"
#include "visual_rft/core/safetensors.h"
#include "visual_rft/model/qwen2vl.h"

namespace vrft {

// Adds a fresh adapter to every Linear whose name matches; returns their names (sorted).
// Throws Error when nothing matches (naming the targets) or r < 1.
std::vector<std::string> add_lora(Qwen2VLForConditionalGeneration& model, const LoraConfig& cfg);
// Whether PEFT's matching puts an adapter on the module of this name.
bool lora_targeted(const std::string& module_name, const std::vector<std::string>& targets);

// The adapters' parameters under the model's own names (...q_proj.lora_A.weight).
NamedTensors lora_parameters(Qwen2VLForConditionalGeneration& model);

// Switches every adapter off for its lifetime (the base model computes alone).
class LoraDisabled {
 public:
  explicit LoraDisabled(Qwen2VLForConditionalGeneration& model);
  ~LoraDisabled();
  LoraDisabled(const LoraDisabled&) = delete;
  LoraDisabled& operator=(const LoraDisabled&) = delete;

 private:
  Qwen2VLForConditionalGeneration model_;
};

// Writes DIR/adapter_config.json and DIR/adapter_model.safetensors (PEFT's key names, in the
// adapters' own float32), each atomically; base_model_path goes into the config.
void save_peft_adapter(Qwen2VLForConditionalGeneration& model, const LoraConfig& cfg, const std::string& dir,
                       const std::string& base_model_path);

bool is_adapter_dir(const std::string& dir);
// DIR/adapter_config.json as a LoraConfig; throws FileError naming the key when it asks for
// what this implementation does not do (DoRA, biases, per-module ranks, modules_to_save, ...).
LoraConfig read_adapter_config(const std::string& dir);
// The base model folder the adapter names (base_model_name_or_path), resolved against DIR
// when relative; throws FileError when it has none.
std::string adapter_base_model(const std::string& dir);
// Adds the adapter of DIR to the model and loads its weights strictly (every adapted module
// must have its A and B, of the right shapes; any other key is an error).
void load_peft_adapter(Qwen2VLForConditionalGeneration& model, const std::string& dir);

// A model folder, or an adapter folder: its base model (adapter_base_model) with it.
Qwen2VLForConditionalGeneration load_model(const std::string& dir, torch::Dtype dtype, torch::Device device);

// Folds every adapter into its weight (W += scale * B A, in float32, then W's dtype) and
// removes it: PEFT's merge_and_unload.
void merge_lora(Qwen2VLForConditionalGeneration& model);

}  // namespace vrft
