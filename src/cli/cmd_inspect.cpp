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
#include "visual_rft/model/qwen2vl.h"

namespace vrft::cli {

void add_inspect_command(CLI::App& app) {
  auto* inspect = app.add_subcommand("inspect", "Look inside model files and inputs");
  inspect->require_subcommand(1);

  auto* tensors = inspect->add_subcommand("tensors", "List the tensors of a .safetensors file or model folder");
  static std::string path;
  static bool as_json = false;
  tensors->add_option("path", path, "A .safetensors file or an HF model folder")->required();
  tensors->add_flag("--json", as_json, "One JSON object per tensor instead of a table");
  tensors->callback([] {
    std::vector<StTensorInfo> infos;
    std::map<std::string, std::string> metadata;
    if (std::filesystem::is_directory(path)) {
      SafetensorsDir d(path);
      for (const auto& n : d.names()) infos.push_back(d.info(n));
    } else {
      SafetensorsFile f(path);
      infos = f.tensors();
      metadata = f.metadata();
      std::sort(infos.begin(), infos.end(), [](auto& a, auto& b) { return a.name < b.name; });
    }
    uint64_t total = 0;
    for (const auto& t : infos) {
      total += t.end - t.begin;
      if (as_json) {
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
    if (!as_json) {
      for (const auto& [k, v] : metadata) std::cout << "metadata " << k << " = " << v << "\n";
      std::cout << infos.size() << " tensors, " << total << " bytes\n";
    }
  });

  auto* fwd = inspect->add_subcommand(
      "forward", "Run the model on input_ids, attention_mask [, pixel_values, image_grid_thw] from a safetensors file");
  static std::string model_dir, inputs, out, dtype = "float32", device = "cpu";
  fwd->add_option("--model", model_dir, "HF model folder (Qwen2-VL or Qwen2.5-VL)")->required();
  fwd->add_option("--inputs", inputs,
                  "safetensors with input_ids [B,S] i64, attention_mask [B,S] i64, optional pixel_values [N,1176] f32 "
                  "and image_grid_thw [I,3] i64")
      ->required();
  fwd->add_option("--out", out,
                  "safetensors to write: logits [B,S,V] f32, position_ids [3,B,S] i64, rope_deltas [B] i64")
      ->required();
  fwd->add_option("--dtype", dtype, "float32, bfloat16 or float16")
      ->check(CLI::IsMember({"float32", "bfloat16", "float16"}))
      ->capture_default_str();
  fwd->add_option("--device", device, "cpu, cuda or cuda:N")->capture_default_str();
  fwd->callback([] {
    const torch::Device dev = resolve_device(device);
    const torch::Dtype dt = resolve_dtype(dtype, dev);  // one of the three words above
    if (dt == torch::kFloat) {  // parity checks: true fp32 on CUDA (cuDNN convolutions default to TF32)
      at::globalContext().setAllowTF32CuBLAS(false);
      at::globalContext().setAllowTF32CuDNN(false);
    }
    auto model = load_qwen2vl(model_dir, dt, dev);
    SafetensorsFile in(inputs);
    for (const char* need : {"input_ids", "attention_mask"}) {
      if (!in.contains(need)) throw Error("'" + inputs + "' has no tensor '" + std::string(need) + "'");
    }
    torch::Tensor ids = in.get("input_ids").to(dev, torch::kLong),
                  mask = in.get("attention_mask").to(dev, torch::kLong);
    if (ids.dim() != 2 || mask.sizes() != ids.sizes()) {
      throw Error("'" + inputs + "': input_ids and attention_mask must both be [B, S]");
    }
    torch::Tensor grid, feats;
    if (in.contains("pixel_values") != in.contains("image_grid_thw")) {
      throw Error("'" + inputs + "': pixel_values and image_grid_thw go together");
    }
    torch::NoGradGuard no_grad;
    if (in.contains("pixel_values")) {
      grid = in.get("image_grid_thw").to(torch::kLong);
      feats = model->image_features(in.get("pixel_values").to(dev, torch::kFloat), grid);
    }
    RopeIndex r = model->rope_index(ids, mask, grid);
    torch::Tensor logits = model->forward({ids, mask, feats, r.position_ids});
    save_safetensors(out, {{"logits", logits}, {"position_ids", r.position_ids}, {"rope_deltas", r.rope_deltas}});
    std::cout << "wrote " << out << ": logits " << logits.sizes() << "\n";
  });

  auto* prompt =
      inspect->add_subcommand("prompt", "Show what the model sees of an image prompt (chat template, tokens, grids)");
  static std::string p_model, p_text, p_system, p_out;
  static std::vector<std::string> p_images;
  static int64_t p_min = 0, p_max = 0;
  static bool p_json = false, p_ids = false;
  prompt->add_option("--model", p_model, "HF model folder (config.json, tokenizer, preprocessor_config.json)")
      ->required();
  prompt->add_option("--image", p_images, "An image file; repeat for several (they come first, in order)");
  prompt->add_option("--prompt", p_text, "The user's text")->required();
  prompt->add_option("--system", p_system, "A system prompt instead of the template's default");
  prompt->add_option("--min-pixels", p_min, "Override preprocessor_config.json's min_pixels");
  prompt->add_option("--max-pixels", p_max, "Override preprocessor_config.json's max_pixels");
  prompt->add_flag("--ids", p_ids, "Also print the token ids");
  prompt->add_flag("--json", p_json, "One JSON object instead of text");
  prompt->add_option("--out", p_out,
                     "Also write input_ids, attention_mask, pixel_values, image_grid_thw (safetensors)");
  prompt->callback([] {
    PromptEncoder enc = PromptEncoder::from_model_dir(p_model);
    if (p_min) enc.processor().min_pixels = p_min;
    if (p_max) enc.processor().max_pixels = p_max;
    PromptInput in;
    if (!p_system.empty()) in.messages.push_back({"system", {ChatContent::plain(p_system)}});
    ChatMessage user{"user", {}};
    for (const auto& path : p_images) {
      in.images.push_back(load_image_rgb(path));
      user.content.push_back(ChatContent::image());
    }
    user.content.push_back(ChatContent::plain(p_text));
    in.messages.push_back(std::move(user));
    EncodedPrompt e = enc.encode({in});
    const int64_t image_tokens = (e.input_ids == enc.tokens().image).sum().item<int64_t>();
    nlohmann::json images = nlohmann::json::array();
    for (size_t i = 0; i < p_images.size(); ++i) {
      auto g = e.image_grid_thw[static_cast<int64_t>(i)];
      const int64_t t = g[0].item<int64_t>(), h = g[1].item<int64_t>(), w = g[2].item<int64_t>();
      const cv::Mat& m = in.images[i];
      images.push_back({{"path", p_images[i]},
                        {"size", {m.rows, m.cols}},
                        {"resized", {e.resized[i].height, e.resized[i].width}},
                        {"grid_thw", {t, h, w}},
                        {"tokens", t * h * w / (enc.processor().merge_size * enc.processor().merge_size)}});
    }
    std::vector<int64_t> ids(e.input_ids.data_ptr<int64_t>(), e.input_ids.data_ptr<int64_t>() + e.input_ids.numel());
    if (p_json) {
      nlohmann::json j{
          {"text", e.texts[0]}, {"num_tokens", ids.size()}, {"image_tokens", image_tokens}, {"images", images}};
      if (p_ids) j["input_ids"] = ids;
      std::cout << j.dump() << "\n";
    } else {
      std::cout << e.texts[0] << "\n---\n" << ids.size() << " tokens (" << image_tokens << " image tokens)\n";
      for (const auto& im : images) {
        std::cout << "image " << im["path"].get<std::string>() << ": " << im["size"][1] << "x" << im["size"][0]
                  << " -> " << im["resized"][1] << "x" << im["resized"][0] << " (w x h), grid t=" << im["grid_thw"][0]
                  << " h=" << im["grid_thw"][1] << " w=" << im["grid_thw"][2] << ", " << im["tokens"] << " tokens\n";
      }
      if (p_ids) std::cout << nlohmann::json(ids).dump() << "\n";
    }
    if (!p_out.empty()) {
      std::vector<std::pair<std::string, torch::Tensor>> t{{"input_ids", e.input_ids},
                                                           {"attention_mask", e.attention_mask}};
      if (e.pixel_values.defined()) {
        t.emplace_back("pixel_values", e.pixel_values);
        t.emplace_back("image_grid_thw", e.image_grid_thw);
      }
      save_safetensors(p_out, t);
    }
  });
}

}  // namespace vrft::cli
