// src/train/run_util.cpp: helpers shared by the trainers (see the header).
#include "visual_rft/train/run_util.h"

#include <sys/resource.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "visual_rft/core/fs.h"

namespace vrft {

namespace fs = std::filesystem;

torch::Device resolve_device(const std::string& d) {
  if (d == "auto") return torch::cuda::is_available() ? torch::Device(torch::kCUDA) : torch::Device(torch::kCPU);
  return torch::Device(d);
}

torch::Dtype resolve_dtype(const std::string& d, const torch::Device& dev) {
  if (d == "float32") return torch::kFloat;
  if (d == "bfloat16") return torch::kBFloat16;
  if (d == "float16") return torch::kHalf;
  return dev.is_cuda() ? torch::kBFloat16 : torch::kFloat;
}

double peak_rss_gb() {
  struct rusage ru {};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_maxrss) * 1024.0 / 1e9;
}

// Keeps the metrics lines of steps <= `step` (a resumed run rewrites what came after).
void truncate_metrics(const std::string& path, int64_t step) {
  if (!fs::exists(path)) return;
  std::ifstream in(path);
  std::string line, kept;
  while (std::getline(in, line)) {
    try {
      if (nlohmann::json::parse(line).value("step", int64_t{0}) <= step) kept += line + "\n";
    } catch (const nlohmann::json::exception&) {
      break;  // a line cut by the kill: drop it and what follows
    }
  }
  write_file_atomic(path, kept);
}

PromptInput sample_prompt(const Sample& s, const std::string& system_prompt) {
  PromptInput in;
  if (!system_prompt.empty()) in.messages.push_back({"system", {ChatContent::plain(system_prompt)}});
  for (auto& m : image_question(s.problem)) in.messages.push_back(m);
  in.images.push_back(load_image_rgb(s.image));
  return in;
}

}  // namespace vrft
