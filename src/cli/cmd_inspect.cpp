// src/cli/cmd_inspect.cpp: `visual-rft inspect tensors FILE|DIR`: what a safetensors file or
// model folder holds (name, dtype, shape, bytes; metadata), after full header validation.
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "visual_rft/core/safetensors.h"

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
}

}  // namespace vrft::cli
