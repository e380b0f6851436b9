// src/cli/cmd_inspect.cpp: looking inside files and the model.
//   inspect tensors FILE|DIR   what a safetensors file or model folder holds (name, dtype,
//                              shape; metadata), after full header validation
//   inspect forward            the model's logits, position ids and rope deltas for inputs
//                              given as safetensors, to compare with any reference
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "visual_rft/core/error.h"
#include "visual_rft/core/safetensors.h"
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
        std::cout << nlohmann::json{{"name", t.name}, {"dtype", st_dtype_name(t.dtype)}, {"shape", t.shape},
                                    {"bytes", t.end - t.begin}}.dump()
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
  fwd->add_option("--out", out, "safetensors to write: logits [B,S,V] f32, position_ids [3,B,S] i64, rope_deltas [B] i64")
      ->required();
  fwd->add_option("--dtype", dtype, "float32, bfloat16 or float16")
      ->check(CLI::IsMember({"float32", "bfloat16", "float16"}))
      ->capture_default_str();
  fwd->add_option("--device", device, "cpu, cuda or cuda:N")->capture_default_str();
  fwd->callback([] {
    torch::Dtype dt = dtype == "float32" ? torch::kFloat : dtype == "bfloat16" ? torch::kBFloat16 : torch::kHalf;
    torch::Device dev(device);
    auto model = load_qwen2vl(model_dir, dt, dev);
    SafetensorsFile in(inputs);
    for (const char* need : {"input_ids", "attention_mask"}) {
      if (!in.contains(need)) throw Error("'" + inputs + "' has no tensor '" + std::string(need) + "'");
    }
    torch::Tensor ids = in.get("input_ids").to(dev, torch::kLong), mask = in.get("attention_mask").to(dev, torch::kLong);
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
}

}  // namespace vrft::cli
