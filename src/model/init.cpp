// src/model/init.cpp: a randomly initialised model folder (see the header).
#include "visual_rft/model/init.h"

#include <filesystem>
#include <nlohmann/json.hpp>

#include "visual_rft/core/error.h"
#include "visual_rft/core/fs.h"
#include "visual_rft/text/tokenizer.h"

namespace vrft {

void init_qwen2vl_weights(Qwen2VLForConditionalGeneration& model, double std, uint64_t seed) {
  torch::NoGradGuard no_grad;
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  for (auto& p : model->named_parameters(true)) {
    const std::string& name = p.key();
    torch::Tensor t = p.value();
    const bool norm = name.find("norm") != std::string::npos || name.find("ln_q") != std::string::npos;
    const bool bias = name.size() >= 5 && name.compare(name.size() - 5, 5, ".bias") == 0;
    if (bias) {
      t.zero_();
    } else if (norm) {
      t.fill_(1.0);
    } else {
      // Drawn in float32 on the CPU and copied, so the values do not depend on dtype or device.
      t.copy_(at::normal(0.0, std, t.sizes(), gen, torch::TensorOptions().dtype(torch::kFloat)));
    }
  }
}

namespace {

// The text model's and vision tower's width and depth from the options, keeping the preset's
// head size and MLP ratios (so M-RoPE sections that fit the preset still fit).
void resize_model(Qwen2VLConfig& cfg, const InitModelOptions& opt) {
  TextConfig& t = cfg.text;
  VisionConfig& v = cfg.vision;
  if (opt.hidden_size > 0) {
    const int64_t head = t.head_dim();
    if (opt.hidden_size % (2 * head) != 0) {
      throw Error("model init: --hidden-size " + std::to_string(opt.hidden_size) + " must be a multiple of " +
                  std::to_string(2 * head) + " (twice the preset's head size " + std::to_string(head) + ")");
    }
    t.intermediate_size = t.intermediate_size * opt.hidden_size / t.hidden_size;
    t.num_attention_heads = opt.hidden_size / head;
    t.num_key_value_heads = t.num_attention_heads / 2;
    t.hidden_size = opt.hidden_size;
  }
  if (opt.num_layers > 0) t.num_hidden_layers = opt.num_layers;
  if (opt.vision_width > 0) {
    const int64_t head = v.width / v.num_heads;
    if (opt.vision_width % head != 0) {
      throw Error("model init: --vision-width " + std::to_string(opt.vision_width) + " must be a multiple of " +
                  std::to_string(head) + " (the preset's vision head size)");
    }
    v.mlp_hidden = v.mlp_hidden * opt.vision_width / v.width;
    v.num_heads = opt.vision_width / head;
    v.width = opt.vision_width;
  }
  if (opt.vision_depth > 0) v.depth = opt.vision_depth;
  v.out_hidden = t.hidden_size;
}

}  // namespace

Qwen2VLConfig init_model_folder(const InitModelOptions& opt, const std::string& out_dir) {
  namespace fs = std::filesystem;
  Qwen2VLConfig cfg = preset_model_config(opt.preset);
  std::string tok_path = opt.tokenizer;
  if (fs::is_directory(tok_path)) tok_path = (fs::path(tok_path) / "tokenizer.json").string();
  if (!fs::exists(tok_path)) throw FileError("model init: tokenizer '" + tok_path + "' does not exist");
  auto tok = load_tokenizer(tok_path);
  auto need = [&](const char* name) {
    auto id = tok->token_id(name);
    if (!id)
      throw FileError(tok_path + ": the model needs the special token " + std::string(name) + ", which it lacks");
    return *id;
  };
  cfg.image_token_id = need("<|image_pad|>");
  cfg.video_token_id = need("<|video_pad|>");
  cfg.vision_start_token_id = need("<|vision_start|>");
  cfg.vision_end_token_id = need("<|vision_end|>");
  cfg.eos_token_ids = {need("<|im_end|>"), need("<|endoftext|>")};
  // The demo preset takes its vocabulary from the tokenizer (rounded up to 64 rows, as the
  // released checkpoints pad theirs); the others keep their shape and must fit the tokenizer.
  if (opt.preset == "demo") cfg.text.vocab_size = (tok->vocab_size() + 63) / 64 * 64;
  if (tok->vocab_size() > cfg.text.vocab_size) {
    throw Error("model init: the tokenizer has " + std::to_string(tok->vocab_size()) + " tokens, more than preset '" +
                opt.preset + "''s vocabulary of " + std::to_string(cfg.text.vocab_size));
  }
  resize_model(cfg, opt);
  if (opt.rope_theta > 0) cfg.text.rope_theta = opt.rope_theta;
  if (!opt.mrope_section.empty()) {
    int64_t half = 0;
    for (int64_t s : opt.mrope_section) half += s;
    if (opt.mrope_section.size() != 3 || half * 2 != cfg.text.head_dim()) {
      throw Error("model init: --mrope-section must be 3 numbers summing to head_dim / 2 = " +
                  std::to_string(cfg.text.head_dim() / 2) + " for the preset '" + opt.preset + "'");
    }
    cfg.text.mrope_section = opt.mrope_section;
  }
  if (opt.patch_size > 0) cfg.vision.patch_size = cfg.processor.patch_size = opt.patch_size;
  if (opt.min_pixels > 0) cfg.processor.min_pixels = opt.min_pixels;
  if (opt.max_pixels > 0) cfg.processor.max_pixels = opt.max_pixels;
  if (cfg.processor.max_pixels < cfg.processor.min_pixels) throw Error("model init: max_pixels is below min_pixels");

  Qwen2VLForConditionalGeneration model(cfg);
  init_qwen2vl_weights(model, opt.init_std, opt.seed);
  fs::create_directories(out_dir);
  save_qwen2vl(model, out_dir, "");
  write_file_atomic(out_dir + "/config.json", model_config_json(cfg));
  const nlohmann::json gen = {{"bos_token_id", cfg.eos_token_ids.back()},
                              {"eos_token_id", cfg.eos_token_ids},
                              {"pad_token_id", cfg.eos_token_ids.back()},
                              {"do_sample", false}};
  write_file_atomic(out_dir + "/generation_config.json", gen.dump(2) + "\n");
  const ProcessorConfig& pc = cfg.processor;
  const nlohmann::json pre = {{"image_processor_type", "Qwen2VLImageProcessor"},
                              {"min_pixels", pc.min_pixels},
                              {"max_pixels", pc.max_pixels},
                              {"patch_size", pc.patch_size},
                              {"temporal_patch_size", pc.temporal_patch_size},
                              {"merge_size", pc.merge_size},
                              {"image_mean", pc.image_mean},
                              {"image_std", pc.image_std},
                              {"do_resize", true},
                              {"do_rescale", true},
                              {"do_normalize", true},
                              {"do_convert_rgb", true},
                              {"rescale_factor", 1.0 / 255.0}};
  write_file_atomic(out_dir + "/preprocessor_config.json", pre.dump(2) + "\n");
  const fs::path tok_dir = fs::path(tok_path).parent_path();
  write_file_atomic(out_dir + "/tokenizer.json", read_file(tok_path));
  if (fs::exists(tok_dir / "tokenizer_config.json")) {
    write_file_atomic(out_dir + "/tokenizer_config.json", read_file((tok_dir / "tokenizer_config.json").string()));
  }
  return cfg;
}

}  // namespace vrft
