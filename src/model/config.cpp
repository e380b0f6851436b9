// src/model/config.cpp: config.json of Qwen2-VL / Qwen2.5-VL in all three layouts.
#include "visual_rft/model/config.h"

#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "visual_rft/core/error.h"
#include "visual_rft/core/fs.h"
#include "visual_rft/model/lora.h"

namespace vrft {
namespace {

using json = nlohmann::json;

// Looks a key up in the first object that has it.
struct Lookup {
  std::vector<const json*> scopes;
  const std::string& origin;

  const json* find(const char* key) const {
    for (const json* s : scopes) {
      if (s && s->is_object() && s->contains(key) && !(*s)[key].is_null()) return &(*s)[key];
    }
    return nullptr;
  }
  template <class T>
  T get(const char* key, T fallback) const {
    const json* v = find(key);
    if (!v) return fallback;
    try {
      return v->get<T>();
    } catch (const json::exception&) {
      throw FileError(origin + ": field '" + key + "' has the wrong type: " + v->dump());
    }
  }
  template <class T>
  T need(const char* key) const {
    if (!find(key)) throw FileError(origin + ": field '" + key + "' is missing");
    return get<T>(key, T{});
  }
};

void require_positive(std::initializer_list<std::pair<const char*, int64_t>> sizes, const std::string& origin) {
  for (const auto& [name, value] : sizes) {
    if (value <= 0) throw FileError(origin + ": " + name + " must be a positive integer, got " + std::to_string(value));
  }
}

}  // namespace

Qwen2VLConfig parse_model_config(const std::string& json_text, const std::string& origin) {
  json j;
  try {
    j = json::parse(json_text);
  } catch (const json::exception& e) {
    throw FileError(origin + ": not valid JSON: " + e.what());
  }
  if (!j.is_object()) throw FileError(origin + ": expected a JSON object");
  Qwen2VLConfig c;
  c.model_type = j.value("model_type", "");
  if (c.model_type != "qwen2_vl" && c.model_type != "qwen2_5_vl") {
    throw FileError(origin + ": model_type '" + c.model_type + "' is not supported (qwen2_vl, qwen2_5_vl)");
  }
  const json* tc = j.contains("text_config") ? &j["text_config"] : nullptr;
  Lookup text{{tc, &j}, origin};
  TextConfig& t = c.text;
  t.vocab_size = text.need<int64_t>("vocab_size");
  t.hidden_size = text.need<int64_t>("hidden_size");
  t.intermediate_size = text.need<int64_t>("intermediate_size");
  t.num_hidden_layers = text.need<int64_t>("num_hidden_layers");
  t.num_attention_heads = text.need<int64_t>("num_attention_heads");
  t.num_key_value_heads = text.get<int64_t>("num_key_value_heads", t.num_attention_heads);
  t.rms_norm_eps = text.get<double>("rms_norm_eps", 1e-6);
  // Sizes that would make a tensor of no (or negative) extent, or divide by zero, later.
  require_positive({{"text_config.vocab_size", t.vocab_size},
                    {"text_config.hidden_size", t.hidden_size},
                    {"text_config.intermediate_size", t.intermediate_size},
                    {"text_config.num_hidden_layers", t.num_hidden_layers},
                    {"text_config.num_attention_heads", t.num_attention_heads},
                    {"text_config.num_key_value_heads", t.num_key_value_heads}},
                   origin);
  // The top-level tie_word_embeddings decides (the text config may carry a stale copy).
  t.tie_word_embeddings = j.contains("tie_word_embeddings") ? j["tie_word_embeddings"].get<bool>()
                                                            : text.get<bool>("tie_word_embeddings", false);
  // rope: rope_parameters (5.x) or rope_scaling + rope_theta (4.x).
  const json* rope = text.find("rope_parameters");
  if (!rope) rope = text.find("rope_scaling");
  Lookup rope_l{{rope, tc, &j}, origin};
  t.rope_theta = rope_l.get<double>("rope_theta", 1000000.0);
  t.mrope_section = rope_l.need<std::vector<int64_t>>("mrope_section");
  int64_t half = 0;
  for (int64_t s : t.mrope_section) half += s;
  if (t.mrope_section.size() != 3 || half * 2 != t.head_dim()) {
    throw FileError(origin +
                    ": mrope_section must be 3 numbers summing to head_dim / 2 = " + std::to_string(t.head_dim() / 2));
  }

  if (!j.contains("vision_config") || !j["vision_config"].is_object()) {
    throw FileError(origin + ": vision_config is missing");
  }
  Lookup vis{{&j["vision_config"]}, origin};
  VisionConfig& v = c.vision;
  v.qwen25 = c.model_type == "qwen2_5_vl";
  v.depth = vis.need<int64_t>("depth");
  v.num_heads = vis.need<int64_t>("num_heads");
  v.in_channels = vis.get<int64_t>("in_channels", vis.get<int64_t>("in_chans", 3));
  v.patch_size = vis.get<int64_t>("patch_size", vis.get<int64_t>("spatial_patch_size", 14));
  v.temporal_patch_size = vis.get<int64_t>("temporal_patch_size", 2);
  v.spatial_merge_size = vis.get<int64_t>("spatial_merge_size", 2);
  if (v.qwen25) {
    v.width = vis.need<int64_t>("hidden_size");
    v.mlp_hidden = vis.need<int64_t>("intermediate_size");
    v.out_hidden = vis.get<int64_t>("out_hidden_size", t.hidden_size);
    v.hidden_act = vis.get<std::string>("hidden_act", "silu");
    v.window_size = vis.get<int64_t>("window_size", 112);
    v.fullatt_block_indexes = vis.get<std::vector<int64_t>>("fullatt_block_indexes", {});
  } else {
    v.width = vis.need<int64_t>("embed_dim");
    v.mlp_hidden = static_cast<int64_t>(static_cast<double>(v.width) * vis.get<double>("mlp_ratio", 4.0));
    v.out_hidden = vis.get<int64_t>("hidden_size", t.hidden_size);
    v.hidden_act = vis.get<std::string>("hidden_act", "quick_gelu");
  }
  require_positive({{"vision_config.depth", v.depth},
                    {"vision_config.num_heads", v.num_heads},
                    {"vision_config.in_channels", v.in_channels},
                    {"vision_config.patch_size", v.patch_size},
                    {"vision_config.temporal_patch_size", v.temporal_patch_size},
                    {"vision_config.spatial_merge_size", v.spatial_merge_size},
                    {"vision_config width (embed_dim / hidden_size)", v.width},
                    {"vision_config MLP width", v.mlp_hidden}},
                   origin);
  if (v.hidden_act != "quick_gelu" && v.hidden_act != "silu" && v.hidden_act != "gelu") {
    throw FileError(origin + ": vision hidden_act '" + v.hidden_act + "' is not supported (quick_gelu, silu, gelu)");
  }
  c.image_token_id = j.value("image_token_id", int64_t{151655});
  c.video_token_id = j.value("video_token_id", int64_t{151656});
  c.vision_start_token_id = j.value("vision_start_token_id", int64_t{151652});
  c.vision_end_token_id = j.value("vision_end_token_id", int64_t{151653});
  return c;
}

Qwen2VLConfig preset_model_config(const std::string& name) {
  Qwen2VLConfig c;
  c.model_type = "qwen2_vl";
  if (name == "2b") return c;  // the defaults are Qwen2-VL-2B-Instruct's
  if (name == "7b") {          // Qwen2-VL-7B-Instruct's config.json (8.29 B parameters)
    c.text.vocab_size = 152064;
    c.text.hidden_size = 3584;
    c.text.intermediate_size = 18944;
    c.text.num_attention_heads = 28;
    c.text.num_key_value_heads = 4;
    c.text.tie_word_embeddings = false;
    c.vision.out_hidden = 3584;
    return c;
  }
  if (name == "100m") {
    // ~100M parameters (78M of them the tied 151936 x 512 embedding): a mid-size shape for
    // CPU benchmarks where the per-step overhead no longer dominates.
    c.text.hidden_size = 512;
    c.text.intermediate_size = 1536;
    c.text.num_hidden_layers = 8;
    c.text.num_attention_heads = 8;
    c.text.num_key_value_heads = 2;
    c.text.mrope_section = {8, 12, 12};  // head_dim 64: sections sum to 32
    c.vision.depth = 4;
    c.vision.width = 256;
    c.vision.num_heads = 4;
    c.vision.mlp_hidden = 1024;
    c.vision.out_hidden = 512;
    return c;
  }
  if (name == "demo") {
    // The CPU demo's base model (models/vrft-demo): ~2M parameters, a ~640-token vocabulary
    // (its own tokenizer, scripts/make_tiny_tokenizer.py) and 112x112 images in 7-pixel
    // patches = 8x8 merged visual tokens. Sized so that SFT pre-training, GRPO and SFT on few
    // shots and evaluation fit a 2-core CPU. rope_theta 1e4 and M-RoPE sections [1, 1, 14]
    // (head_dim 32: sections sum to 16) turn fast enough per row and column that attention can
    // tell the rows and columns of an 8x8 grid apart (docs/demo.md, the position probe).
    c.text.vocab_size = 640;  // model init sets it from the tokenizer
    c.text.hidden_size = 128;
    c.text.intermediate_size = 384;
    c.text.num_hidden_layers = 4;
    c.text.num_attention_heads = 4;
    c.text.num_key_value_heads = 2;
    c.text.rope_theta = 1e4;
    c.text.mrope_section = {1, 1, 14};
    c.vision.patch_size = c.processor.patch_size = 7;  // the image processor cuts the patches the tower embeds
    c.vision.depth = 3;
    c.vision.width = 128;
    c.vision.num_heads = 4;
    c.vision.mlp_hidden = 512;
    c.vision.out_hidden = 128;
    c.processor.max_pixels = 112 * 112;
    return c;
  }
  if (name != "tiny") throw Error("unknown model preset '" + name + "' (tiny, demo, 100m, 2b, 7b)");
  c.text.hidden_size = 64;
  c.text.intermediate_size = 96;
  c.text.num_hidden_layers = 2;
  c.text.num_attention_heads = 4;
  c.text.num_key_value_heads = 2;
  c.text.mrope_section = {2, 3, 3};
  c.vision.depth = 2;
  c.vision.width = 32;
  c.vision.num_heads = 4;
  c.vision.mlp_hidden = 64;
  c.vision.out_hidden = 64;
  return c;
}

std::string model_config_json(const Qwen2VLConfig& c) {
  const TextConfig& t = c.text;
  const VisionConfig& v = c.vision;
  json text = {
      {"vocab_size", t.vocab_size},
      {"hidden_size", t.hidden_size},
      {"intermediate_size", t.intermediate_size},
      {"num_hidden_layers", t.num_hidden_layers},
      {"num_attention_heads", t.num_attention_heads},
      {"num_key_value_heads", t.num_key_value_heads},
      {"rms_norm_eps", t.rms_norm_eps},
      {"hidden_act", "silu"},
      {"max_position_embeddings", 32768},
      {"tie_word_embeddings", t.tie_word_embeddings},
      {"rope_parameters", {{"rope_type", "default"}, {"rope_theta", t.rope_theta}, {"mrope_section", t.mrope_section}}},
      // Qwen's bos is <|endoftext|> and its eos <|im_end|>: the last and first of the
      // generation eos ids (151645, 151643) in the released checkpoints.
      {"bos_token_id", c.eos_token_ids.empty() ? int64_t{151643} : c.eos_token_ids.back()},
      {"eos_token_id", c.eos_token_ids.empty() ? int64_t{151645} : c.eos_token_ids.front()}};
  json vis = {{"depth", v.depth},
              {"num_heads", v.num_heads},
              {"in_channels", v.in_channels},
              {"patch_size", v.patch_size},
              {"temporal_patch_size", v.temporal_patch_size},
              {"spatial_merge_size", v.spatial_merge_size},
              {"hidden_act", v.hidden_act}};
  if (v.qwen25) {
    vis.update({{"hidden_size", v.width},
                {"intermediate_size", v.mlp_hidden},
                {"out_hidden_size", v.out_hidden},
                {"window_size", v.window_size},
                {"fullatt_block_indexes", v.fullatt_block_indexes}});
  } else {
    vis.update({{"embed_dim", v.width},
                {"mlp_ratio", v.mlp_hidden % v.width == 0  // transformers 5.x wants an int when it is one
                                  ? json(v.mlp_hidden / v.width)
                                  : json(static_cast<double>(v.mlp_hidden) / static_cast<double>(v.width))},
                {"hidden_size", v.out_hidden}});
  }
  json j = {{"architectures", {v.qwen25 ? "Qwen2_5_VLForConditionalGeneration" : "Qwen2VLForConditionalGeneration"}},
            {"model_type", c.model_type},
            {"text_config", text},
            {"vision_config", vis},
            {"tie_word_embeddings", t.tie_word_embeddings},
            {"image_token_id", c.image_token_id},
            {"video_token_id", c.video_token_id},
            {"vision_start_token_id", c.vision_start_token_id},
            {"vision_end_token_id", c.vision_end_token_id}};
  return j.dump(2) + "\n";
}

namespace {

// generation_config.json (eos tokens, repetition penalty) and preprocessor_config.json (image
// size and normalisation) of `dir`, when present, over `c`.
void read_side_files(const std::string& dir, Qwen2VLConfig& c) {
  namespace fs = std::filesystem;
  std::string gen = (fs::path(dir) / "generation_config.json").string();
  if (fs::exists(gen)) {
    json g;
    try {
      g = json::parse(read_file(gen));
    } catch (const json::exception& e) {
      throw FileError(gen + ": not valid JSON: " + e.what());
    }
    if (g.contains("eos_token_id")) {
      const json& e = g["eos_token_id"];
      if (e.is_number_integer())
        c.eos_token_ids = {e.get<int64_t>()};
      else if (e.is_array())
        c.eos_token_ids = e.get<std::vector<int64_t>>();
    }
    if (g.contains("repetition_penalty") && !g["repetition_penalty"].is_null()) {
      const json& r = g["repetition_penalty"];
      if (!r.is_number() || !(r.get<double>() > 0) || !std::isfinite(r.get<double>())) {
        throw FileError(gen + ": field 'repetition_penalty' must be a number > 0, got " + r.dump());
      }
      c.repetition_penalty = r.get<double>();
    }
  }
  std::string pre = (fs::path(dir) / "preprocessor_config.json").string();
  if (fs::exists(pre)) {
    json p;
    try {
      p = json::parse(read_file(pre));
    } catch (const json::exception& e) {
      throw FileError(pre + ": not valid JSON: " + e.what());
    }
    // Newer files nest the limits under "size": {"shortest_edge": min, "longest_edge": max}.
    const json* size = p.contains("size") && p["size"].is_object() ? &p["size"] : nullptr;
    Lookup l{{&p, size}, pre};
    ProcessorConfig& pc = c.processor;
    pc.min_pixels = l.get<int64_t>("min_pixels", l.get<int64_t>("shortest_edge", pc.min_pixels));
    pc.max_pixels = l.get<int64_t>("max_pixels", l.get<int64_t>("longest_edge", pc.max_pixels));
    pc.patch_size = l.get<int64_t>("patch_size", pc.patch_size);
    pc.temporal_patch_size = l.get<int64_t>("temporal_patch_size", pc.temporal_patch_size);
    pc.merge_size = l.get<int64_t>("merge_size", pc.merge_size);
    pc.image_mean = l.get<std::vector<double>>("image_mean", pc.image_mean);
    pc.image_std = l.get<std::vector<double>>("image_std", pc.image_std);
    if (pc.min_pixels <= 0 || pc.max_pixels < pc.min_pixels || pc.image_mean.size() != 3 || pc.image_std.size() != 3) {
      throw FileError(pre + ": needs 0 < min_pixels <= max_pixels and 3 values in image_mean and image_std");
    }
    // The processor cuts the patches the tower embeds: a folder whose two files disagree
    // would fail deep in the tower (or in transformers) with a shape error.
    const VisionConfig& v = c.vision;
    if (pc.patch_size != v.patch_size || pc.merge_size != v.spatial_merge_size ||
        pc.temporal_patch_size != v.temporal_patch_size) {
      throw FileError(pre + ": patch_size " + std::to_string(pc.patch_size) + ", merge_size " +
                      std::to_string(pc.merge_size) + ", temporal_patch_size " +
                      std::to_string(pc.temporal_patch_size) + " must equal config.json's vision_config (" +
                      std::to_string(v.patch_size) + ", " + std::to_string(v.spatial_merge_size) + ", " +
                      std::to_string(v.temporal_patch_size) + ")");
    }
  }
}

}  // namespace

Qwen2VLConfig load_model_config(const std::string& dir) {
  namespace fs = std::filesystem;
  std::string path = (fs::path(dir) / "config.json").string();
  // An adapter folder (model/lora.h) has its base model's architecture, and its own
  // generation and processor files when it has them.
  if (!fs::exists(path) && fs::exists(fs::path(dir) / "adapter_config.json")) {
    Qwen2VLConfig c = load_model_config(adapter_base_model(dir));
    read_side_files(dir, c);
    return c;
  }
  if (!fs::exists(path)) throw FileError("model folder '" + dir + "' has no config.json");
  Qwen2VLConfig c = parse_model_config(read_file(path), path);
  read_side_files(dir, c);
  return c;
}

}  // namespace vrft
