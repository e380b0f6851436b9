// src/train/checkpoint.cpp: atomic checkpoints (see the header).
#include "visual_rft/train/checkpoint.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <map>

#include "visual_rft/core/error.h"
#include "visual_rft/core/fs.h"
#include "visual_rft/core/log.h"
#include "visual_rft/core/safetensors.h"
#include "visual_rft/model/lora.h"

namespace vrft {
namespace fs = std::filesystem;

namespace {

std::string checkpoint_name(int64_t step) { return "checkpoint-" + std::to_string(step); }

// preprocessor_config.json with the run's min/max pixels (in both layouts: top-level keys and
// the newer "size": {shortest_edge, longest_edge}); created when the source had none.
void record_pixels(const std::string& path, int64_t min_pixels, int64_t max_pixels) {
  nlohmann::json p = nlohmann::json::object();
  if (fs::exists(path)) p = nlohmann::json::parse(read_file(path));
  p["min_pixels"] = min_pixels;
  p["max_pixels"] = max_pixels;
  if (p.contains("size") && p["size"].is_object())
    p["size"] = {{"shortest_edge", min_pixels}, {"longest_edge", max_pixels}};
  write_file_atomic(path, p.dump(2) + "\n");
}

// The checkpoint-N folders of output_dir, as (N, path), oldest first: the names
// save_checkpoint gives, not its .partial-PID debris nor other folders (e.g. an evaluation's).
std::vector<std::pair<int64_t, std::string>> checkpoint_folders(const std::string& output_dir) {
  std::vector<std::pair<int64_t, std::string>> out;
  if (!fs::is_directory(output_dir)) return out;
  for (const auto& e : fs::directory_iterator(output_dir)) {
    const std::string n = e.path().filename().string();
    if (!e.is_directory() || n.rfind("checkpoint-", 0) != 0) continue;
    const std::string digits = n.substr(11);
    if (digits.empty() || digits.size() > 18 || digits.find_first_not_of("0123456789") != std::string::npos) continue;
    out.emplace_back(std::stoll(digits), e.path().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

std::string save_checkpoint(const std::string& output_dir, int64_t step, Qwen2VLForConditionalGeneration& model,
                            const std::string& source_dir, const CheckpointData& data, int64_t keep_last) {
  fs::create_directories(output_dir);
  for (const auto& e : fs::directory_iterator(output_dir)) {  // debris of an interrupted save
    if (e.path().filename().string().find(".partial-") != std::string::npos) remove_tree(e.path().string());
  }
  const std::string name = checkpoint_name(step);
  const std::string final_dir = output_dir + "/" + name;
  const std::string tmp = final_dir + ".partial-" + std::to_string(::getpid());
  NamedTensors weights;  // the model's parameters, with the exact masters in place of a working copy
  if (data.lora) {
    save_peft_adapter(model, *data.lora, tmp, fs::absolute(source_dir).lexically_normal().string());
    copy_processor_files(source_dir, tmp);
  } else {
    const std::map<std::string, torch::Tensor> masters(data.master_weights.begin(), data.master_weights.end());
    for (const auto& p : model->named_parameters(true)) {
      const auto it = masters.find(p.key());
      weights.emplace_back(p.key(), it == masters.end() ? p.value().detach() : it->second);
    }
    save_qwen2vl(weights, tmp, source_dir, 5'000'000'000ULL, data.weights_dtype);
  }
  if (data.max_pixels > 0) record_pixels(tmp + "/preprocessor_config.json", data.min_pixels, data.max_pixels);
  if (!data.weights_only) {
    fs::create_directories(tmp + "/trainer_state");
    save_safetensors(tmp + "/trainer_state/optimizer.safetensors", data.optimizer);
    if (!data.ref_model.empty()) save_safetensors(tmp + "/trainer_state/ref_model.safetensors", data.ref_model);
    NamedTensors masters;  // the floating parameters the model files hold rounded
    for (const auto& [name, t] : weights) {
      if (data.weights_dtype && t.is_floating_point() && t.scalar_type() != *data.weights_dtype)
        masters.emplace_back(name, t);
    }
    if (!masters.empty()) save_safetensors(tmp + "/trainer_state/master_weights.safetensors", masters);
    write_file_atomic(tmp + "/trainer_state/state.json", data.state.dump(1));
  }
  fsync_dir(tmp);
  if (fs::exists(final_dir)) remove_tree(final_dir);  // a re-run of the same step
  fs::rename(tmp, final_dir);
  fsync_dir(output_dir);
  write_file_atomic(output_dir + "/latest", name + "\n");

  if (keep_last > 0) {
    const auto all = checkpoint_folders(output_dir);
    for (size_t i = 0; i + static_cast<size_t>(keep_last) < all.size(); ++i) {
      if (all[i].first != step) remove_tree(all[i].second);
    }
  }
  return final_dir;
}

std::optional<std::string> latest_checkpoint(const std::string& output_dir) {
  auto complete = [](const std::string& dir) { return fs::exists(dir + "/trainer_state/state.json"); };
  const std::string f = output_dir + "/latest";
  if (fs::exists(f)) {
    std::string name = read_file(f);
    while (!name.empty() && (name.back() == '\n' || name.back() == ' ')) name.pop_back();
    if (!name.empty() && name.find('/') == std::string::npos && complete(output_dir + "/" + name))
      return output_dir + "/" + name;
    log_warn("'{}' names '{}', which is not a complete checkpoint; looking for the newest complete one", f, name);
  }
  const auto all = checkpoint_folders(output_dir);
  for (auto it = all.rbegin(); it != all.rend(); ++it) {
    if (complete(it->second)) return it->second;
  }
  for (const auto& [step, dir] : all) {
    const bool weights = fs::exists(dir + "/config.json") || fs::exists(dir + "/adapter_config.json");
    if (weights && !fs::exists(dir + "/trainer_state"))
      throw Error("'" + output_dir + "' holds weights-only checkpoints (" + fs::path(dir).filename().string() +
                  ", saved with train.save_only_model): a run cannot resume from them; start a new run from one "
                  "(model.path) instead");
  }
  return std::nullopt;
}

void restore_master_weights(Qwen2VLForConditionalGeneration& model, const std::string& checkpoint_dir) {
  const std::string path = checkpoint_dir + "/trainer_state/master_weights.safetensors";
  if (!fs::exists(path)) return;
  SafetensorsFile f(path);
  torch::NoGradGuard no_grad;
  for (auto& p : model->named_parameters(true)) {
    if (!f.contains(p.key())) continue;
    torch::Tensor t = f.get(p.key());
    if (t.sizes() != p.value().sizes())
      throw FileError("'" + path + "': " + p.key() + " has shape " + c10::str(t.sizes()) + ", the model's is " +
                      c10::str(p.value().sizes()));
    p.value().copy_(t);
  }
}

CheckpointData load_checkpoint_state(const std::string& dir) {
  CheckpointData d;
  const std::string st = dir + "/trainer_state/state.json";
  if (!fs::exists(st))
    throw FileError("'" + dir +
                    "' is not a resumable checkpoint (no trainer_state/state.json; one saved with "
                    "train.save_only_model holds the weights only)");
  try {
    d.state = nlohmann::json::parse(read_file(st));
  } catch (const nlohmann::json::exception& e) {
    throw FileError("'" + st + "' is not valid JSON: " + e.what());
  }
  if (!d.state.is_object())
    throw FileError("'" + st + "': expected a JSON object, got " + std::string(d.state.type_name()));
  if (!d.state.contains("step")) throw FileError("'" + st + "': field 'step' is missing");
  for (const char* k : {"step", "skipped_updates", "skipped_prompts", "seed", "prompts_per_step", "world_size"}) {
    if (!d.state.contains(k)) continue;
    const nlohmann::json& v = d.state[k];
    if (!v.is_number_integer() || v.get<int64_t>() < 0) {
      throw FileError("'" + st + "': field '" + k + "' must be an integer >= 0, got " + v.dump());
    }
  }
  if (d.state.contains("run") && !d.state["run"].is_object()) {
    throw FileError("'" + st + "': field 'run' must be an object, got " + d.state["run"].dump());
  }
  auto read_all = [](const std::string& path) {
    std::vector<std::pair<std::string, torch::Tensor>> out;
    SafetensorsFile f(path);
    for (const auto& info : f.tensors()) out.emplace_back(info.name, f.get(info.name).clone());
    return out;
  };
  d.optimizer = read_all(dir + "/trainer_state/optimizer.safetensors");
  if (fs::exists(dir + "/trainer_state/ref_model.safetensors"))
    d.ref_model = read_all(dir + "/trainer_state/ref_model.safetensors");
  return d;
}

}  // namespace vrft
