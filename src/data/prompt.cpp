// src/data/prompt.cpp: chat template + tokenizer + image processor -> EncodedPrompt.
#include "visual_rft/data/prompt.h"

#include <algorithm>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "visual_rft/core/error.h"
#include "visual_rft/core/fs.h"

namespace vrft {

PromptEncoder::PromptEncoder(std::shared_ptr<const Tokenizer> tokenizer, ProcessorConfig processor, PromptTokens tokens,
                             ChatTemplateOptions chat)
    : tokenizer_(std::move(tokenizer)), processor_(processor), tokens_(tokens), chat_(std::move(chat)) {}

PromptEncoder PromptEncoder::from_model_dir(const std::string& dir, ChatTemplateOptions chat) {
  Qwen2VLConfig cfg = load_model_config(dir);
  // A Qwen2-VL tokenizer ends at <|video_pad|>; later added tokens belong to other models.
  TokenizerOptions topts;
  std::shared_ptr<const Tokenizer> tok = load_tokenizer(dir, topts);
  PromptTokens t;
  t.image = cfg.image_token_id;
  std::string pad = "<|endoftext|>";
  const std::string tc = dir + "/tokenizer_config.json";
  if (std::filesystem::exists(tc)) {
    try {
      auto j = nlohmann::json::parse(read_file(tc));
      if (j.contains("pad_token") && j["pad_token"].is_string()) pad = j["pad_token"].get<std::string>();
      if (j.contains("pad_token") && j["pad_token"].is_object()) pad = j["pad_token"].value("content", pad);
    } catch (const nlohmann::json::exception& e) {
      throw FileError("'" + tc + "' is not valid JSON: " + e.what());
    }
  }
  auto pad_id = tok->token_id(pad);
  if (!pad_id) throw FileError("the pad token '" + pad + "' of '" + dir + "' is not in its tokenizer");
  t.pad = *pad_id;
  if (tok->token_id("<|image_pad|>") != std::optional<int64_t>(t.image)) {
    throw FileError("the tokenizer of '" + dir + "' does not map <|image_pad|> to image_token_id " +
                    std::to_string(t.image) + " of config.json");
  }
  return PromptEncoder(std::move(tok), cfg.processor, t, std::move(chat));
}

EncodedPrompt PromptEncoder::encode(const std::vector<PromptInput>& batch) const {
  if (batch.empty()) throw Error("cannot encode an empty batch of prompts");
  EncodedPrompt out;
  std::vector<std::vector<int64_t>> rows;
  std::vector<torch::Tensor> pixels;
  std::vector<int64_t> grids;
  const int64_t merge2 = processor_.merge_size * processor_.merge_size;
  for (size_t b = 0; b < batch.size(); ++b) {
    const PromptInput& p = batch[b];
    std::string text = render(p);
    std::vector<int64_t> ids = tokenizer_->encode(text);
    int64_t pads = 0;
    for (int64_t id : ids) pads += id == tokens_.image;
    if (pads != static_cast<int64_t>(p.images.size())) {
      throw Error("prompt " + std::to_string(b) + " has " + std::to_string(pads) + " image placeholder(s) but " +
                  std::to_string(p.images.size()) + " image(s)");
    }
    std::vector<int64_t> expanded;
    expanded.reserve(ids.size());
    size_t next_image = 0;
    for (int64_t id : ids) {
      if (id != tokens_.image) {
        expanded.push_back(id);
        continue;
      }
      ProcessedImage img = process_image(p.images[next_image++], processor_);
      const int64_t n = img.grid_thw[0] * img.grid_thw[1] * img.grid_thw[2] / merge2;
      expanded.insert(expanded.end(), static_cast<size_t>(n), tokens_.image);
      pixels.push_back(img.pixel_values);
      grids.insert(grids.end(), img.grid_thw.begin(), img.grid_thw.end());
      out.resized.push_back(img.resized);
    }
    out.lengths.push_back(static_cast<int64_t>(expanded.size()));
    out.images_per_prompt.push_back(static_cast<int64_t>(p.images.size()));
    out.texts.push_back(std::move(text));
    rows.push_back(std::move(expanded));
  }
  const int64_t B = static_cast<int64_t>(rows.size());
  const int64_t T = *std::max_element(out.lengths.begin(), out.lengths.end());
  out.input_ids = torch::full({B, T}, tokens_.pad, torch::kInt64);
  out.attention_mask = torch::zeros({B, T}, torch::kInt64);
  auto ids = out.input_ids.accessor<int64_t, 2>();
  auto mask = out.attention_mask.accessor<int64_t, 2>();
  for (int64_t b = 0; b < B; ++b) {
    const auto& r = rows[static_cast<size_t>(b)];
    const int64_t off = T - static_cast<int64_t>(r.size());
    for (size_t i = 0; i < r.size(); ++i) {
      ids[b][off + static_cast<int64_t>(i)] = r[i];
      mask[b][off + static_cast<int64_t>(i)] = 1;
    }
  }
  if (!pixels.empty()) {
    out.pixel_values = torch::cat(pixels, 0);
    out.image_grid_thw = torch::tensor(grids, torch::kInt64).view({-1, 3});
  }
  return out;
}

EncodedPrompt synthetic_prompts(const Qwen2VLConfig& cfg, int64_t B, int64_t text_tokens, int64_t image_size,
                                uint64_t seed) {
  const int64_t grid = image_size / 14, merged = grid * grid / 4;
  torch::Generator gen = at::detail::createCPUGenerator(seed);
  std::vector<torch::Tensor> rows;
  for (int64_t b = 0; b < B; ++b) {
    const int64_t n = text_tokens + 3 * (b % 4);
    torch::Tensor text = torch::randint(100, 5000, {n}, gen, torch::kLong);
    // <|im_start|> text <|vision_start|> <|image_pad|> x merged <|vision_end|> text
    // <|im_end|> \n <|im_start|> assistant \n
    rows.push_back(
        torch::cat({torch::tensor({int64_t{151644}}), text.narrow(0, 0, n / 2),
                    torch::tensor({cfg.vision_start_token_id}), torch::full({merged}, cfg.image_token_id, torch::kLong),
                    torch::tensor({cfg.vision_end_token_id}), text.narrow(0, n / 2, n - n / 2),
                    torch::tensor({int64_t{151645}, int64_t{198}, int64_t{151644}, int64_t{77091}, int64_t{198}})}));
  }
  int64_t T = 0;
  for (const auto& r : rows) T = std::max(T, r.size(0));
  EncodedPrompt p;
  p.input_ids = torch::full({B, T}, int64_t{151643}, torch::kLong);
  p.attention_mask = torch::zeros({B, T}, torch::kLong);
  for (int64_t b = 0; b < B; ++b) {
    const int64_t n = rows[static_cast<size_t>(b)].size(0);
    p.input_ids[b].narrow(0, T - n, n).copy_(rows[static_cast<size_t>(b)]);
    p.attention_mask[b].narrow(0, T - n, n).fill_(1);
    p.lengths.push_back(n);
    p.images_per_prompt.push_back(1);
    p.texts.emplace_back();
  }
  p.pixel_values = torch::randn({B * grid * grid, 1176}, gen, torch::kFloat);
  p.image_grid_thw = torch::tensor({int64_t{1}, grid, grid}, torch::kLong).repeat({B, 1});
  return p;
}

PromptInput image_prompt(const std::string& system, std::vector<cv::Mat> images, const std::string& text,
                         bool text_first) {
  PromptInput in;
  if (!system.empty()) in.messages.push_back({"system", {ChatContent::plain(system)}});
  for (ChatMessage& m : image_question(text, static_cast<int>(images.size()), text_first))
    in.messages.push_back(std::move(m));
  in.images = std::move(images);
  return in;
}

PromptInput user_turn(const std::string& system, const std::vector<std::string>& image_paths, const std::string& text,
                      bool text_first) {
  std::vector<cv::Mat> images;
  for (const auto& path : image_paths) images.push_back(load_image_rgb(path));
  return image_prompt(system, std::move(images), text, text_first);
}

}  // namespace vrft
