// src/model/lora.cpp: LoRA adapters in PEFT's format (see the header).
#include "visual_rft/model/lora.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>

#include "visual_rft/core/error.h"
#include "visual_rft/core/fs.h"

namespace vrft {
namespace fs = std::filesystem;

namespace {

// Every Linear of the model by its checkpoint name (model.layers.0.self_attn.q_proj, ...).
std::vector<std::pair<std::string, LinearImpl*>> linears(Qwen2VLForConditionalGeneration& model) {
  std::vector<std::pair<std::string, LinearImpl*>> out;
  for (const auto& m : model->named_modules("", /*include_self=*/false)) {
    if (auto* l = m.value()->as<LinearImpl>()) out.emplace_back(m.key(), l);
  }
  return out;
}

bool is_regex(const std::vector<std::string>& targets) {
  return targets.size() == 1 && targets[0].find_first_of("^$*+?()[]{}|\\") != std::string::npos;
}

// Our module names <-> transformers' module tree under PEFT's prefix.
const std::string kPeftPrefix = "base_model.model.";

std::string to_peft(const std::string& name) {
  if (name.rfind("model.", 0) == 0) return kPeftPrefix + "model.language_model." + name.substr(6);
  if (name.rfind("visual.", 0) == 0) return kPeftPrefix + "model." + name;
  return kPeftPrefix + name;  // lm_head
}

std::string from_peft(const std::string& key) {
  if (key.rfind(kPeftPrefix, 0) != 0) return "";
  std::string n = key.substr(kPeftPrefix.size());
  if (n.rfind("model.language_model.", 0) == 0) return "model." + n.substr(21);
  if (n.rfind("model.visual.", 0) == 0) return n.substr(6);
  return n;  // the layout before transformers 4.52: model.layers..., visual..., lm_head
}

}  // namespace

bool lora_targeted(const std::string& name, const std::vector<std::string>& targets) {
  if (is_regex(targets)) return std::regex_match(name, std::regex(targets[0]));
  for (const auto& t : targets) {
    if (name == t || (name.size() > t.size() && name.compare(name.size() - t.size() - 1, t.size() + 1, "." + t) == 0))
      return true;
  }
  return false;
}

std::vector<std::string> add_lora(Qwen2VLForConditionalGeneration& model, const LoraConfig& cfg) {
  if (cfg.r < 1) throw Error("lora.r must be >= 1 to add adapters, got " + std::to_string(cfg.r));
  if (cfg.target_modules.empty()) throw Error("lora.target_modules is empty: name the Linear layers to adapt");
  std::vector<std::string> names;
  for (auto& [name, l] : linears(model)) {
    if (!lora_targeted(name, cfg.target_modules)) continue;
    if (l->lora_A) throw Error("module '" + name + "' already has a LoRA adapter");
    const int64_t out = l->weight.size(0), in = l->weight.size(1);
    // A as nn.Linear initialises it (kaiming-uniform, a = sqrt(5)): PEFT's default; B zeros.
    torch::nn::Linear a(torch::nn::LinearOptions(in, cfg.r).bias(false));
    torch::nn::Linear b(torch::nn::LinearOptions(cfg.r, out).bias(false));
    {
      torch::NoGradGuard ng;
      b->weight.zero_();
    }
    // float32 whatever the base's dtype (PEFT's autocast_adapter_dtype): they train.
    a->to(l->weight.device(), torch::kFloat);
    b->to(l->weight.device(), torch::kFloat);
    l->lora_A = l->register_module("lora_A", a);
    l->lora_B = l->register_module("lora_B", b);
    l->lora_scale = cfg.scale();
    l->lora_dropout = cfg.dropout;
    names.push_back(name);
  }
  if (names.empty()) {
    std::string t;
    for (const auto& s : cfg.target_modules) t += (t.empty() ? "" : ", ") + s;
    throw Error("lora.target_modules (" + t +
                ") matches no Linear layer of the model (e.g. q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, "
                "down_proj; vision: qkv, proj, fc1, fc2)");
  }
  std::sort(names.begin(), names.end());
  return names;
}

NamedTensors lora_parameters(Qwen2VLForConditionalGeneration& model) {
  NamedTensors out;
  for (auto& [name, l] : linears(model)) {
    if (!l->lora_A) continue;
    out.emplace_back(name + ".lora_A.weight", l->lora_A->weight);
    out.emplace_back(name + ".lora_B.weight", l->lora_B->weight);
  }
  return out;
}

LoraDisabled::LoraDisabled(Qwen2VLForConditionalGeneration& model) : model_(model) {
  for (auto& [name, l] : linears(model_)) l->lora_enabled = false;
}

LoraDisabled::~LoraDisabled() {
  for (auto& [name, l] : linears(model_)) l->lora_enabled = true;
}

void save_peft_adapter(Qwen2VLForConditionalGeneration& model, const LoraConfig& cfg, const std::string& dir,
                       const std::string& base_model_path) {
  fs::create_directories(dir);
  NamedTensors tensors;
  for (const auto& [name, t] : lora_parameters(model)) {
    const std::string module = name.substr(0, name.rfind(".lora_"));
    const std::string leaf = name.substr(module.size());  // .lora_A.weight
    tensors.emplace_back(to_peft(module) + leaf, t.detach());
  }
  if (tensors.empty()) throw Error("save_peft_adapter: the model has no LoRA adapter");
  save_safetensors(dir + "/adapter_model.safetensors", tensors, {{"format", "pt"}});
  nlohmann::json c = {{"peft_type", "LORA"},
                      {"task_type", "CAUSAL_LM"},
                      {"base_model_name_or_path", base_model_path},
                      {"r", cfg.r},
                      {"lora_alpha", cfg.alpha},
                      {"lora_dropout", cfg.dropout},
                      {"use_rslora", cfg.use_rslora},
                      {"use_dora", false},
                      {"bias", "none"},
                      {"fan_in_fan_out", false},
                      {"init_lora_weights", true},
                      {"inference_mode", true},
                      {"modules_to_save", nullptr},
                      {"rank_pattern", nlohmann::json::object()},
                      {"alpha_pattern", nlohmann::json::object()},
                      {"layers_to_transform", nullptr},
                      {"layers_pattern", nullptr}};
  c["target_modules"] =
      is_regex(cfg.target_modules) ? nlohmann::json(cfg.target_modules[0]) : nlohmann::json(cfg.target_modules);
  write_file_atomic(dir + "/adapter_config.json", c.dump(2) + "\n");
}

bool is_adapter_dir(const std::string& dir) { return fs::exists(dir + "/adapter_config.json"); }

namespace {

// DIR/adapter_config.json, parsed; FileError naming it when it is not JSON.
nlohmann::json adapter_config_json(const std::string& dir) {
  const std::string path = dir + "/adapter_config.json";
  try {
    return nlohmann::json::parse(read_file(path));
  } catch (const nlohmann::json::exception& e) {
    throw FileError(path + ": not valid JSON (" + e.what() + ")");
  }
}

}  // namespace

LoraConfig read_adapter_config(const std::string& dir) {
  const std::string path = dir + "/adapter_config.json";
  const nlohmann::json c = adapter_config_json(dir);
  auto refuse = [&](const std::string& key, const std::string& what) {
    throw FileError(path + ": " + key + " " + what + " is not supported (plain LoRA adapters only)");
  };
  if (c.value("peft_type", "LORA") != "LORA") refuse("peft_type", c["peft_type"].dump());
  if (c.value("use_dora", false)) refuse("use_dora", "true");
  if (c.value("bias", "none") != "none") refuse("bias", c["bias"].dump());
  if (c.value("fan_in_fan_out", false)) refuse("fan_in_fan_out", "true");
  for (const char* k : {"modules_to_save", "layers_to_transform", "layers_pattern"})
    if (c.contains(k) && !c[k].is_null() && !(c[k].is_array() && c[k].empty())) refuse(k, c[k].dump());
  for (const char* k : {"rank_pattern", "alpha_pattern"})
    if (c.contains(k) && !c[k].is_null() && !c[k].empty()) refuse(k, c[k].dump());
  LoraConfig out;
  try {
    out.r = c.at("r").get<int64_t>();
    out.alpha = c.value("lora_alpha", 8.0);
    out.dropout = c.value("lora_dropout", 0.0);
    out.use_rslora = c.value("use_rslora", false);
    const auto& t = c.at("target_modules");
    if (t.is_string()) {
      out.target_modules = {t.get<std::string>()};
    } else {
      out.target_modules = t.get<std::vector<std::string>>();
    }
  } catch (const nlohmann::json::exception& e) {
    throw FileError(path +
                    ": expected r (integer) and target_modules (list of names or a regular expression): " + e.what());
  }
  if (out.r < 1) throw FileError(path + ": r must be >= 1, got " + std::to_string(out.r));
  return out;
}

std::string adapter_base_model(const std::string& dir) {
  const std::string path = dir + "/adapter_config.json";
  const nlohmann::json c = adapter_config_json(dir);
  if (!c.contains("base_model_name_or_path") || !c["base_model_name_or_path"].is_string() ||
      c["base_model_name_or_path"].get<std::string>().empty())
    throw FileError(path + ": no base_model_name_or_path: say which model folder the adapter belongs to");
  fs::path base = c["base_model_name_or_path"].get<std::string>();
  if (base.is_relative() && fs::exists(fs::path(dir) / base)) base = fs::path(dir) / base;
  return base.string();
}

void load_peft_adapter(Qwen2VLForConditionalGeneration& model, const std::string& dir) {
  const LoraConfig cfg = read_adapter_config(dir);
  add_lora(model, cfg);
  const std::string path = dir + "/adapter_model.safetensors";
  SafetensorsFile f(path);
  std::map<std::string, torch::Tensor> ours;
  for (auto& [name, t] : lora_parameters(model)) ours[name] = t;
  std::set<std::string> loaded;
  std::vector<std::string> problems;
  for (const auto& info : f.tensors()) {
    const std::string& key = info.name;
    const std::string name = from_peft(key);
    auto it = ours.find(name);
    if (it == ours.end()) {
      problems.push_back("unexpected key " + key);
      continue;
    }
    torch::Tensor v = f.get(key);
    if (v.sizes() != it->second.sizes()) {
      problems.push_back(key + " has shape " + c10::str(v.sizes()) + ", expected " + c10::str(it->second.sizes()));
      continue;
    }
    torch::NoGradGuard ng;
    it->second.copy_(v);
    loaded.insert(name);
  }
  for (const auto& [name, t] : ours)
    if (!loaded.count(name))
      problems.push_back("missing " + to_peft(name.substr(0, name.rfind(".lora_"))) +
                         name.substr(name.rfind(".lora_")));
  if (!problems.empty()) {
    std::string msg = path + ": the adapter does not fit the model:";
    for (size_t i = 0; i < problems.size() && i < 8; ++i) msg += "\n  " + problems[i];
    if (problems.size() > 8) msg += "\n  ... and " + std::to_string(problems.size() - 8) + " more";
    throw FileError(msg);
  }
}

Qwen2VLForConditionalGeneration load_model(const std::string& dir, torch::Dtype dtype, torch::Device device) {
  if (!is_adapter_dir(dir)) return load_qwen2vl(dir, dtype, device);
  auto model = load_qwen2vl(adapter_base_model(dir), dtype, device);
  load_peft_adapter(model, dir);
  return model;
}

void merge_lora(Qwen2VLForConditionalGeneration& model) {
  torch::NoGradGuard ng;
  for (auto& [name, l] : linears(model)) {
    if (!l->lora_A) continue;
    const torch::Tensor delta = torch::matmul(l->lora_B->weight.to(torch::kFloat), l->lora_A->weight.to(torch::kFloat));
    l->weight.copy_((l->weight.to(torch::kFloat) + delta * l->lora_scale).to(l->weight.scalar_type()));
    l->unregister_module("lora_A");
    l->unregister_module("lora_B");
    l->lora_A = nullptr;
    l->lora_B = nullptr;
  }
}

}  // namespace vrft
