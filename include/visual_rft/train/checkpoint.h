// visual_rft/train/checkpoint.h: crash-safe checkpoints of a training run.
//
//   OUTPUT/checkpoint-100/         an HF model folder (transformers loads it as is), or with
//                                  LoRA a PEFT adapter folder (adapter_config.json naming the
//                                  base model, adapter_model.safetensors, tokenizer and
//                                  processor files: PeftModel.from_pretrained loads it), plus
//     trainer_state/optimizer.safetensors, trainer_state/state.json (step, data cursor, ...),
//     trainer_state/ref_model.safetensors when the reference model is synced,
//     trainer_state/master_weights.safetensors when the model files are in a narrower dtype
//     than training (train.save_dtype), so that a resume continues from the exact weights
//   OUTPUT/latest                  the name of the newest checkpoint
// Folders are named as HF's Trainer names them (checkpoint-N); the zero-padded names of older
// runs (checkpoint-000100) are found and resumed as well. With weights_only
// (train.save_only_model) a checkpoint is the model folder alone: no trainer_state/, so no
// run resumes from it.
// A checkpoint is written into checkpoint-100.partial-PID and renamed when complete, and
// `latest` is replaced atomically after that; a kill at any moment leaves the previous
// checkpoint and `latest` usable. Leftover .partial folders are removed on the next save.
#pragma once

#include <torch/torch.h>

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "visual_rft/core/config.h"
#include "visual_rft/model/qwen2vl.h"

namespace vrft {

struct CheckpointData {
  nlohmann::json state;  // trainer state (step, ...)
  std::vector<std::pair<std::string, torch::Tensor>> optimizer;
  std::vector<std::pair<std::string, torch::Tensor>> ref_model;  // may be empty
  // The exact float32 weights of the trainable parameters when the model holds a narrower
  // working copy (distributed.shard: gradients): the model files and master_weights come from
  // them, the other parameters from the model. Empty: the model's parameters are exact.
  std::vector<std::pair<std::string, torch::Tensor>> master_weights;
  // The image size the run trained at (data.min_pixels/max_pixels), written into the
  // checkpoint's preprocessor_config.json as the reference's trainer saves its processor; 0 =
  // the copied file unchanged.
  int64_t min_pixels = 0, max_pixels = 0;
  // The model files' dtype (nullopt: the parameters' own), and whether to write them alone.
  std::optional<torch::Dtype> weights_dtype;
  bool weights_only = false;
  // LoRA: the checkpoint holds the adapter (in the parameters' own dtype, so that a resume is
  // exact) instead of the model; its config names the source model as the base.
  const LoraConfig* lora = nullptr;
};

// Writes OUTPUT/checkpoint-STEP (model files copied from `source_dir`: tokenizer, processor
// and generation configs), points `latest` at it and keeps the `keep_last` newest (0 = all).
std::string save_checkpoint(const std::string& output_dir, int64_t step, Qwen2VLForConditionalGeneration& model,
                            const std::string& source_dir, const CheckpointData& data, int64_t keep_last);

// The newest complete checkpoint of output_dir: the folder `latest` names, or, when `latest`
// is missing or names no complete checkpoint (deleted by hand, a copy without it), the
// complete checkpoint-N with the highest N found by scanning; nullopt when there is none.
// Throws Error when output_dir holds checkpoints but every one is weights-only
// (train.save_only_model): a resume would otherwise start the run again over them.
std::optional<std::string> latest_checkpoint(const std::string& output_dir);

// The exact training weights of a checkpoint whose model files are in a narrower dtype
// (trainer_state/master_weights.safetensors) copied into `model`; nothing when it has none.
void restore_master_weights(Qwen2VLForConditionalGeneration& model, const std::string& checkpoint_dir);

// Reads trainer_state of a checkpoint folder. Throws FileError naming the file and what is
// missing or wrong: state.json must be an object whose "step" is an integer >= 0, and whose
// counters (skipped_updates, skipped_prompts, seed, prompts_per_step, world_size), when
// present, are integers >= 0.
CheckpointData load_checkpoint_state(const std::string& checkpoint_dir);

}  // namespace vrft
