// src/cli/cmd_model.cpp: model folders.
//   model init    a new, randomly initialised HF model folder of a preset shape with a given
//                 tokenizer (model/init.h)
//   model merge   a base model and a LoRA adapter (PEFT's format, e.g. a LoRA run's
//                 checkpoint) folded into one HF model folder, as PEFT's merge_and_unload()
#include <cstdio>

#include "commands.h"
#include "visual_rft/core/error.h"
#include "visual_rft/model/init.h"
#include "visual_rft/model/lora.h"

namespace vrft::cli {

namespace {

struct ModelInitArgs {
  InitModelOptions opt;
  std::string out;
};

void run_model_init(const ModelInitArgs& a) {
  Qwen2VLConfig cfg = init_model_folder(a.opt, a.out);
  Qwen2VLForConditionalGeneration m(cfg);
  int64_t params = 0;
  for (const auto& p : m->parameters()) params += p.numel();
  std::printf("wrote a %s model (%.2f M parameters, vocabulary %lld) to %s\n", a.opt.preset.c_str(),
              static_cast<double>(params) / 1e6, static_cast<long long>(cfg.text.vocab_size), a.out.c_str());
}

struct ModelMergeArgs {
  std::string base, adapter, out;
};

void run_model_merge(const ModelMergeArgs& a) {
  if (!is_adapter_dir(a.adapter))
    throw FileError("--adapter '" + a.adapter + "' holds no adapter_config.json: expected a LoRA adapter folder");
  const std::string base = a.base.empty() ? adapter_base_model(a.adapter) : a.base;
  // The weights' stored dtype is kept; the merge itself computes in float32.
  const torch::Dtype dtype = stored_weights_dtype(base);
  auto model = load_qwen2vl(base, torch::kFloat, torch::kCPU);
  load_peft_adapter(model, a.adapter);
  const size_t layers = lora_parameters(model).size() / 2;
  merge_lora(model);
  save_qwen2vl(model, a.out, base, 5'000'000'000ULL, dtype);
  copy_processor_files(a.adapter, a.out);  // the run's image size and tokenizer files
  std::printf("merged %s (%zu adapted layers) into %s: %s\n", a.adapter.c_str(), layers, base.c_str(), a.out.c_str());
}

}  // namespace

void add_model_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("model", "Model folders: init, merge");
  cmd->require_subcommand(1);
  static ModelInitArgs a;
  InitModelOptions& opt = a.opt;
  auto* init =
      cmd->add_subcommand("init", "Write a randomly initialised model (weights, config, tokenizer) to a folder");
  init->add_option("--preset", opt.preset, "Shape: demo, tiny, 100m, 2b")
      ->check(CLI::IsMember({"demo", "tiny", "100m", "2b"}))
      ->capture_default_str();
  init->add_option("--tokenizer", opt.tokenizer, "tokenizer.json, or a folder holding one")->required();
  init->add_option("--out", a.out, "Output folder")->required();
  init->add_option("--seed", opt.seed, "Seed of the initial weights")->capture_default_str();
  init->add_option("--init-std", opt.init_std, "Standard deviation of the weights (initializer_range)")
      ->capture_default_str();
  init->add_option("--min-pixels", opt.min_pixels, "preprocessor_config.json min_pixels (default: the preset's)");
  init->add_option("--max-pixels", opt.max_pixels, "preprocessor_config.json max_pixels (default: the preset's)");
  init->add_option("--rope-theta", opt.rope_theta, "Rotary base of the text model (default: the preset's)")
      ->check(CLI::PositiveNumber);
  init->add_option("--mrope-section", opt.mrope_section,
                   "M-RoPE sections t,h,w of the text model, summing to head_dim / 2 (default: the preset's)")
      ->delimiter(',')
      ->check(CLI::PositiveNumber);
  init->add_option("--patch-size", opt.patch_size, "Vision patch size in pixels (default: the preset's, 14)")
      ->check(CLI::Range(int64_t{2}, int64_t{64}));
  init->add_option("--hidden-size", opt.hidden_size, "Text model width (default: the preset's)")
      ->check(CLI::PositiveNumber);
  init->add_option("--layers", opt.num_layers, "Text model layers (default: the preset's)")->check(CLI::PositiveNumber);
  init->add_option("--vision-width", opt.vision_width, "Vision tower width (default: the preset's)")
      ->check(CLI::PositiveNumber);
  init->add_option("--vision-depth", opt.vision_depth, "Vision tower blocks (default: the preset's)")
      ->check(CLI::PositiveNumber);
  init->callback([] { run_model_init(a); });

  static ModelMergeArgs m;
  auto* merge = cmd->add_subcommand("merge", "Fold a LoRA adapter (PEFT's format) into its base: one HF model folder");
  merge->add_option("--adapter", m.adapter, "Adapter folder (adapter_config.json, adapter_model.safetensors)")
      ->required();
  merge->add_option("--base", m.base, "Base model folder (default: the adapter's base_model_name_or_path)");
  merge->add_option("--out", m.out, "Output folder")->required();
  merge->callback([] { run_model_merge(m); });
}

}  // namespace vrft::cli
