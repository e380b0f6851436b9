// src/cli/cmd_inspect.cpp: looking inside files and the model.
//   inspect tensors FILE|DIR   what a safetensors file or model folder holds (name, dtype,
//                              shape; metadata), after full header validation
//   inspect forward            the model's logits, position ids and rope deltas for inputs
//                              given as safetensors, to compare with any reference
//   inspect prompt             what the model sees of an image prompt: the rendered chat
//                              template, token count, each image's resized size and grid
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "visual_rft/core/device.h"
#include "visual_rft/core/error.h"
#include "visual_rft/core/safetensors.h"
#include "visual_rft/data/prompt.h"
#include "visual_rft/model/lora.h"
#include "visual_rft/model/qwen2vl.h"

namespace vrft::cli {

namespace {

// ---- inspect tensors --------------------------------------------------------------------------

struct TensorsArgs {
  std::string path;
  bool as_json = false;
};

void run_inspect_tensors(const TensorsArgs& a) {
  std::vector<StTensorInfo> infos;
  std::map<std::string, std::string> metadata;
  if (std::filesystem::is_directory(a.path)) {
    SafetensorsDir d(a.path);
    for (const auto& n : d.names()) infos.push_back(d.info(n));
  } else {
    SafetensorsFile f(a.path);
    infos = f.tensors();
    metadata = f.metadata();
    std::sort(infos.begin(), infos.end(), [](auto& x, auto& y) { return x.name < y.name; });
  }
  uint64_t total = 0;
  for (const auto& t : infos) {
    total += t.end - t.begin;
    if (a.as_json) {
      std::cout << nlohmann::json{{"name", t.name},
                                  {"dtype", st_dtype_name(t.dtype)},
                                  {"shape", t.shape},
                                  {"bytes", t.end - t.begin}}
                       .dump()
                << "\n";
    } else {
      std::string shape = "[";
      for (size_t i = 0; i < t.shape.size(); ++i) shape += (i ? ", " : "") + std::to_string(t.shape[i]);
      std::cout << t.name << "  " << st_dtype_name(t.dtype) << "  " << shape << "]\n";
    }
  }
  if (!a.as_json) {
    for (const auto& [k, v] : metadata) std::cout << "metadata " << k << " = " << v << "\n";
    std::cout << infos.size() << " tensors, " << total << " bytes\n";
  }
}

// ---- inspect forward --------------------------------------------------------------------------

struct ForwardArgs {
  std::string model_dir, inputs, out, dtype = "float32", device = "cpu";
};

void run_inspect_forward(const ForwardArgs& a) {
  const torch::Device dev = resolve_device(a.device);
  const torch::Dtype dt = resolve_dtype(a.dtype, dev);  // float32, bfloat16 or float16 (--dtype)
  if (dt == torch::kFloat) {  // parity checks: true fp32 on CUDA (cuDNN convolutions default to TF32)
    at::globalContext().setAllowTF32CuBLAS(false);
    at::globalContext().setAllowTF32CuDNN(false);
  }
  auto model = load_model(a.model_dir, dt, dev);
  SafetensorsFile in(a.inputs);
  for (const char* need : {"input_ids", "attention_mask"}) {
    if (!in.contains(need)) throw Error("'" + a.inputs + "' has no tensor '" + std::string(need) + "'");
  }
  torch::Tensor ids = in.get("input_ids").to(dev, torch::kLong), mask = in.get("attention_mask").to(dev, torch::kLong);
  if (ids.dim() != 2 || mask.sizes() != ids.sizes()) {
    throw Error("'" + a.inputs + "': input_ids and attention_mask must both be [B, S]");
  }
  torch::Tensor grid, feats;
  if (in.contains("pixel_values") != in.contains("image_grid_thw")) {
    throw Error("'" + a.inputs + "': pixel_values and image_grid_thw go together");
  }
  torch::NoGradGuard no_grad;
  if (in.contains("pixel_values")) {
    grid = in.get("image_grid_thw").to(torch::kLong);
    feats = model->image_features(in.get("pixel_values").to(dev, torch::kFloat), grid);
  }
  RopeIndex r = model->rope_index(ids, mask, grid);
  torch::Tensor logits = model->forward({ids, mask, feats, r.position_ids});
  save_safetensors(a.out, {{"logits", logits}, {"position_ids", r.position_ids}, {"rope_deltas", r.rope_deltas}});
  std::cout << "wrote " << a.out << ": logits " << logits.sizes() << "\n";
}

// ---- inspect prompt ---------------------------------------------------------------------------

struct PromptArgs {
  std::string model, text, system, out;
  std::vector<std::string> images;
  int64_t min_pixels = 0, max_pixels = 0;
  bool as_json = false, ids = false, image_after_text = false;
};

void print_prompt(const PromptArgs& a, const EncodedPrompt& e, const std::vector<int64_t>& ids, int64_t image_tokens,
                  const nlohmann::json& images) {
  if (a.as_json) {
    nlohmann::json j{
        {"text", e.texts[0]}, {"num_tokens", ids.size()}, {"image_tokens", image_tokens}, {"images", images}};
    if (a.ids) j["input_ids"] = ids;
    std::cout << j.dump() << "\n";
    return;
  }
  std::cout << e.texts[0] << "\n---\n" << ids.size() << " tokens (" << image_tokens << " image tokens)\n";
  for (const auto& im : images) {
    std::cout << "image " << im["path"].get<std::string>() << ": " << im["size"][1] << "x" << im["size"][0] << " -> "
              << im["resized"][1] << "x" << im["resized"][0] << " (w x h), grid t=" << im["grid_thw"][0]
              << " h=" << im["grid_thw"][1] << " w=" << im["grid_thw"][2] << ", " << im["tokens"] << " tokens\n";
  }
  if (a.ids) std::cout << nlohmann::json(ids).dump() << "\n";
}

void run_inspect_prompt(const PromptArgs& a) {
  PromptEncoder enc = PromptEncoder::from_model_dir(a.model);
  if (a.min_pixels) enc.processor().min_pixels = a.min_pixels;
  if (a.max_pixels) enc.processor().max_pixels = a.max_pixels;
  const PromptInput in = user_turn(a.system, a.images, a.text, a.image_after_text);
  EncodedPrompt e = enc.encode({in});
  const int64_t image_tokens = (e.input_ids == enc.tokens().image).sum().item<int64_t>();
  nlohmann::json images = nlohmann::json::array();
  for (size_t i = 0; i < a.images.size(); ++i) {
    auto g = e.image_grid_thw[static_cast<int64_t>(i)];
    const int64_t t = g[0].item<int64_t>(), h = g[1].item<int64_t>(), w = g[2].item<int64_t>();
    const cv::Mat& m = in.images[i];
    images.push_back({{"path", a.images[i]},
                      {"size", {m.rows, m.cols}},
                      {"resized", {e.resized[i].height, e.resized[i].width}},
                      {"grid_thw", {t, h, w}},
                      {"tokens", t * h * w / (enc.processor().merge_size * enc.processor().merge_size)}});
  }
  std::vector<int64_t> ids(e.input_ids.data_ptr<int64_t>(), e.input_ids.data_ptr<int64_t>() + e.input_ids.numel());
  print_prompt(a, e, ids, image_tokens, images);
  if (!a.out.empty()) {
    std::vector<std::pair<std::string, torch::Tensor>> t{{"input_ids", e.input_ids},
                                                         {"attention_mask", e.attention_mask}};
    if (e.pixel_values.defined()) {
      t.emplace_back("pixel_values", e.pixel_values);
      t.emplace_back("image_grid_thw", e.image_grid_thw);
    }
    save_safetensors(a.out, t);
  }
}

}  // namespace

void add_inspect_command(CLI::App& app) {
  auto* inspect = app.add_subcommand("inspect", "Look inside model files and inputs");
  inspect->require_subcommand(1);

  auto* tensors = inspect->add_subcommand("tensors", "List the tensors of a .safetensors file or model folder");
  static TensorsArgs ta;
  tensors->add_option("path", ta.path, "A .safetensors file or an HF model folder")->required();
  tensors->add_flag("--json", ta.as_json, "One JSON object per tensor instead of a table");
  tensors->callback([] { run_inspect_tensors(ta); });

  auto* fwd = inspect->add_subcommand(
      "forward", "Run the model on input_ids, attention_mask [, pixel_values, image_grid_thw] from a safetensors file");
  static ForwardArgs fa;
  fwd->add_option("--model", fa.model_dir, "HF model folder (Qwen2-VL or Qwen2.5-VL)")->required();
  fwd->add_option("--inputs", fa.inputs,
                  "safetensors with input_ids [B,S] i64, attention_mask [B,S] i64, optional pixel_values [N,1176] f32 "
                  "and image_grid_thw [I,3] i64")
      ->required();
  fwd->add_option("--out", fa.out,
                  "safetensors to write: logits [B,S,V] f32, position_ids [3,B,S] i64, rope_deltas [B] i64")
      ->required();
  fwd->add_option("--dtype", fa.dtype, "float32, bfloat16 or float16")
      ->check(CLI::IsMember({"float32", "bfloat16", "float16"}))
      ->capture_default_str();
  fwd->add_option("--device", fa.device, "cpu, cuda or cuda:N")->capture_default_str();
  fwd->callback([] { run_inspect_forward(fa); });

  auto* prompt =
      inspect->add_subcommand("prompt", "Show what the model sees of an image prompt (chat template, tokens, grids)");
  static PromptArgs pa;
  prompt->add_option("--model", pa.model, "HF model folder (config.json, tokenizer, preprocessor_config.json)")
      ->required();
  prompt->add_option("--image", pa.images, "An image file; repeat for several (they come first, in order)");
  prompt->add_flag("--image-after-text", pa.image_after_text, "The text first, then the images");
  prompt->add_option("--prompt", pa.text, "The user's text")->required();
  prompt->add_option("--system", pa.system, "A system prompt instead of the template's default");
  prompt->add_option("--min-pixels", pa.min_pixels, "Override preprocessor_config.json's min_pixels");
  prompt->add_option("--max-pixels", pa.max_pixels, "Override preprocessor_config.json's max_pixels");
  prompt->add_flag("--ids", pa.ids, "Also print the token ids");
  prompt->add_flag("--json", pa.as_json, "One JSON object instead of text");
  prompt->add_option("--out", pa.out,
                     "Also write input_ids, attention_mask, pixel_values, image_grid_thw (safetensors)");
  prompt->callback([] { run_inspect_prompt(pa); });
}

}  // namespace vrft::cli
