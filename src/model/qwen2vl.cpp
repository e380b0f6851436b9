// src/model/qwen2vl.cpp: the whole model's forward, strict loading and saving.
#include "visual_rft/model/qwen2vl.h"

#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "visual_rft/core/error.h"
#include "visual_rft/core/fs.h"
#include "visual_rft/core/safetensors.h"

namespace vrft {

Qwen2VLForConditionalGenerationImpl::Qwen2VLForConditionalGenerationImpl(const Qwen2VLConfig& c) : cfg(c) {
  visual = register_module("visual", VisionTransformer(c.vision));
  model = register_module("model", Qwen2Model(c.text));
  if (!c.text.tie_word_embeddings) {
    lm_head = register_module(
        "lm_head", torch::nn::Linear(torch::nn::LinearOptions(c.text.hidden_size, c.text.vocab_size).bias(false)));
  }
}

torch::Tensor Qwen2VLForConditionalGenerationImpl::image_features(const torch::Tensor& pixel_values,
                                                                  const torch::Tensor& image_grid_thw) {
  return visual(pixel_values, image_grid_thw);
}

RopeIndex Qwen2VLForConditionalGenerationImpl::rope_index(const torch::Tensor& input_ids,
                                                          const torch::Tensor& attention_mask,
                                                          const torch::Tensor& image_grid_thw) const {
  return get_rope_index(input_ids, attention_mask, image_grid_thw, cfg.image_token_id, cfg.vision.spatial_merge_size);
}

torch::Tensor Qwen2VLForConditionalGenerationImpl::lm_head_weight() const {
  return lm_head ? lm_head->weight : model->embed_tokens->weight;
}

torch::Tensor Qwen2VLForConditionalGenerationImpl::hidden_states(const ForwardInput& in, KVCache* cache) {
  const int64_t B = in.input_ids.size(0), S = in.input_ids.size(1);
  const bool fixed = cache && cache->fixed_shape();
  TORCH_CHECK(!fixed || S == 1, "forward: a fixed-shape cache takes one token per row, got ", S);
  const int64_t past = cache ? cache->length() : 0, T = fixed ? cache->capacity() : past + S;
  TORCH_CHECK(in.attention_mask.size(0) == B && in.attention_mask.size(1) == T, "forward: attention_mask must be [B, ",
              T, "] (cached + new tokens), got ", in.attention_mask.sizes());
  torch::Tensor embeds = model->embed_tokens(in.input_ids);  // [B, S, H]
  if (in.image_embeds.defined()) {
    torch::Tensor is_image = (in.input_ids == cfg.image_token_id).unsqueeze(-1);  // [B, S, 1]
    const int64_t n = is_image.sum().item<int64_t>();
    TORCH_CHECK(n == in.image_embeds.size(0), "forward: ", n, " image tokens but ", in.image_embeds.size(0),
                " image features");
    embeds = embeds.masked_scatter(is_image.expand_as(embeds), in.image_embeds.to(embeds.scalar_type()));
  }
  // Causal over the cache plus the new tokens, padding keys masked; every query may see
  // itself, so a padding query row is never fully masked (its output is never used).
  torch::Tensor keep = in.attention_mask.to(embeds.device()).to(torch::kBool).view({B, 1, 1, T});
  // Fixed shapes (one token, whole cache buffers): the caller's mask already holds exactly
  // the written positions, this one included, and no host value may enter (CUDA graphs).
  if (fixed) return model(embeds, in.position_ids.to(embeds.device()), keep, cache);
  auto opts = torch::TensorOptions().dtype(torch::kLong).device(embeds.device());
  torch::Tensor qpos = (torch::arange(S, opts) + past).view({S, 1});
  torch::Tensor kpos = torch::arange(T, opts).view({1, T});
  torch::Tensor mask = ((kpos <= qpos).view({1, 1, S, T}) & keep) | (kpos == qpos).view({1, 1, S, T});
  return model(embeds, in.position_ids.to(embeds.device()), mask, cache);
}

torch::Tensor Qwen2VLForConditionalGenerationImpl::forward(const ForwardInput& in, KVCache* cache,
                                                           int64_t logits_from) {
  torch::Tensor h = hidden_states(in, cache);
  h = h.narrow(1, logits_from, h.size(1) - logits_from);
  return torch::linear(h, lm_head_weight()).to(torch::kFloat);
}

// ---- loading ----------------------------------------------------------------------------------------

namespace {

// A checkpoint key in our (legacy) layout: model.visual.* -> visual.*,
// model.language_model.* -> model.*.
std::string canonical_key(const std::string& k) {
  if (k.rfind("model.visual.", 0) == 0) return k.substr(6);
  if (k.rfind("model.language_model.", 0) == 0) return "model." + k.substr(21);
  return k;
}

std::string shape_str(c10::IntArrayRef s) {
  std::ostringstream o;
  o << s;
  return o.str();
}

}  // namespace

Qwen2VLForConditionalGeneration load_qwen2vl(const std::string& dir, torch::Dtype dtype, torch::Device device) {
  Qwen2VLConfig cfg = load_model_config(dir);
  SafetensorsDir files(dir);

  // Build with the target dtype as default, so no fp32 copy of the weights is ever made.
  auto saved_default = torch::get_default_dtype();
  torch::set_default_dtype(caffe2::TypeMeta::fromScalarType(dtype));
  Qwen2VLForConditionalGeneration m(cfg);
  torch::set_default_dtype(saved_default);

  std::map<std::string, std::string> file_key;  // our key -> key in the files
  for (const auto& k : files.names()) file_key[canonical_key(k)] = k;
  std::vector<std::string> missing, mismatched;
  std::set<std::string> used;
  auto params = m->named_parameters(/*recurse=*/true);
  for (const auto& p : params) {
    auto it = file_key.find(p.key());
    if (it == file_key.end()) {
      missing.push_back(p.key());
      continue;
    }
    used.insert(it->first);
    const StTensorInfo& info = files.info(it->second);
    std::vector<int64_t> want = p.value().sizes().vec();
    bool is_float = info.dtype == StDtype::F32 || info.dtype == StDtype::F16 || info.dtype == StDtype::BF16 ||
                    info.dtype == StDtype::F64;
    if (info.shape != want || !is_float) {
      mismatched.push_back(it->second + ": file has " + st_dtype_name(info.dtype) + " " + shape_str(info.shape) +
                           ", the model needs a float " + shape_str(want));
    }
  }
  std::vector<std::string> unexpected;
  for (const auto& [ours, theirs] : file_key) {
    if (used.count(ours)) continue;
    if (ours == "lm_head.weight" && cfg.text.tie_word_embeddings) continue;  // tied: embed_tokens is used
    unexpected.push_back(theirs);
  }
  if (!missing.empty() || !unexpected.empty() || !mismatched.empty()) {
    std::ostringstream msg;
    msg << "model folder '" << dir << "' does not match its config.json (" << cfg.model_type << ", "
        << cfg.text.num_hidden_layers << " layers, vision depth " << cfg.vision.depth << "):";
    auto list = [&](const char* what, const std::vector<std::string>& keys) {
      if (keys.empty()) return;
      msg << "\n  " << keys.size() << " " << what << ":";
      for (const auto& k : keys) msg << "\n    " << k;
    };
    list("missing", missing);
    list("unexpected", unexpected);
    list("mismatched", mismatched);
    throw FileError(msg.str());
  }
  torch::NoGradGuard no_grad;
  for (auto& p : params) {
    p.value().copy_(files.get(file_key[p.key()]));
    files.release(file_key[p.key()]);  // peak memory: the model plus one tensor, not plus the file
  }
  m->to(device, dtype);
  m->eval();
  return m;
}

namespace {

// config.json (when asked) and the files beside the weights, from source_dir into dir.
void copy_model_files(const std::string& source_dir, const std::string& dir, bool with_config) {
  namespace fs = std::filesystem;
  for (const char* f : {"config.json", "generation_config.json", "preprocessor_config.json", "tokenizer.json",
                        "tokenizer_config.json", "tokenizer.model", "vocab.json", "merges.txt",
                        "special_tokens_map.json", "added_tokens.json", "chat_template.json", "chat_template.jinja"}) {
    if (!with_config && std::string(f) == "config.json") continue;
    fs::path src = fs::path(source_dir) / f;
    if (fs::exists(src) && fs::absolute(src) != fs::absolute(fs::path(dir) / f)) {
      write_file_atomic((fs::path(dir) / f).string(), read_file(src.string()));
    }
  }
}

}  // namespace

void save_qwen2vl(Qwen2VLForConditionalGeneration& model, const std::string& dir, const std::string& source_dir,
                  uint64_t max_shard_bytes, std::optional<torch::Dtype> dtype) {
  NamedTensors weights;
  for (const auto& p : model->named_parameters(true)) {
    if (p.key().find(".lora_") != std::string::npos)
      throw Error("save_qwen2vl: the model has LoRA adapters (" + p.key() +
                  "): save the adapter (save_peft_adapter) or merge it first (merge_lora)");
    weights.emplace_back(p.key(), p.value().detach());
  }
  save_qwen2vl(weights, dir, source_dir, max_shard_bytes, dtype);
}

void save_qwen2vl(const NamedTensors& weights, const std::string& dir, const std::string& source_dir,
                  uint64_t max_shard_bytes, std::optional<torch::Dtype> dtype) {
  namespace fs = std::filesystem;
  fs::create_directories(dir);
  NamedTensors tensors;
  torch::Dtype saved = torch::kFloat;
  bool any_float = false;
  for (const auto& [name, value] : weights) {
    torch::Tensor t = value;
    if (t.is_floating_point()) {
      if (dtype) t = t.to(*dtype);  // one converted copy of the weights while they are written
      saved = any_float ? saved : t.scalar_type();
      any_float = true;
    }
    tensors.emplace_back(name, t);
  }
  save_safetensors_sharded(dir, tensors, max_shard_bytes, {{"format", "pt"}});
  if (source_dir.empty()) return;
  copy_model_files(source_dir, dir, /*with_config=*/true);
  // config.json says what the weights are stored in (transformers' `dtype`, formerly
  // `torch_dtype`): from_pretrained(dtype="auto") then loads them as they are.
  const fs::path cfg = fs::path(dir) / "config.json";
  if (any_float && fs::exists(cfg)) {
    nlohmann::ordered_json j = nlohmann::ordered_json::parse(read_file(cfg.string()));
    j["dtype"] = config_dtype_name(saved);
    if (j.contains("torch_dtype")) j["torch_dtype"] = config_dtype_name(saved);
    write_file_atomic(cfg.string(), j.dump(2) + "\n");
  }
}

void copy_processor_files(const std::string& source_dir, const std::string& dir) {
  copy_model_files(source_dir, dir, /*with_config=*/false);
}

torch::Dtype stored_weights_dtype(const std::string& dir) {
  SafetensorsDir files(dir);
  for (const std::string& name : files.names()) {
    const torch::Dtype d = to_torch_dtype(files.info(name).dtype);
    if (c10::isFloatingType(d)) return d;
  }
  throw FileError("'" + dir + "' holds no floating-point weights");
}

const char* config_dtype_name(torch::Dtype dtype) {
  switch (dtype) {
    case torch::kFloat: return "float32";
    case torch::kBFloat16: return "bfloat16";
    case torch::kHalf: return "float16";
    default: break;
  }
  throw Error(std::string("no config.json name for dtype ") + c10::toString(dtype));
}

}  // namespace vrft
