// visual_rft/data/prompt.h: conversations with images -> the model's batched input, exactly as
// transformers' Qwen2VLProcessor makes it:
//   processor(text=processor.apply_chat_template(messages, add_generation_prompt=True),
//             images=images, padding=True, padding_side="left")
// Each prompt is rendered with the chat template and tokenised; each <|image_pad|> becomes
// t*h*w / merge_size^2 copies (one per merged 2x2 patch, i.e. per vision token); rows are
// left-padded with the pad token and a zero attention mask.
#pragma once

#include <torch/torch.h>

#include <memory>
#include <string>
#include <vector>

#include <opencv2/core.hpp>

#include "visual_rft/image/image_processor.h"
#include "visual_rft/model/config.h"
#include "visual_rft/model/inputs.h"
#include "visual_rft/text/chat_template.h"
#include "visual_rft/text/tokenizer.h"

namespace vrft {

struct PromptInput {
  std::vector<ChatMessage> messages;
  std::vector<cv::Mat> images;  // 8-bit RGB, one per image item, in order of appearance
};

// One user turn: the images first, in order, then the text (with text_first, the text first);
// with a system message when `system` is not empty (else the chat template's default). What
// the trainers, the evaluator and `generate` all ask a model.
PromptInput image_prompt(const std::string& system, std::vector<cv::Mat> images, const std::string& text,
                         bool text_first = false);
// image_prompt with the images read from files. Throws FileError for an image that does not load.
PromptInput user_turn(const std::string& system, const std::vector<std::string>& image_paths, const std::string& text,
                      bool text_first = false);

struct PromptTokens {
  int64_t pad = 151643;    // <|endoftext|>, tokenizer_config pad_token of Qwen2-VL
  int64_t image = 151655;  // <|image_pad|>
};

class PromptEncoder {
 public:
  PromptEncoder(std::shared_ptr<const Tokenizer> tokenizer, ProcessorConfig processor, PromptTokens tokens,
                ChatTemplateOptions chat = {});

  // The tokenizer, processor settings and token ids of a model folder (tokenizer.json or
  // tokenizer.model, config.json, preprocessor_config.json, tokenizer_config.json's pad_token).
  static PromptEncoder from_model_dir(const std::string& dir, ChatTemplateOptions chat = {});

  std::string render(const PromptInput& p) const { return render_chat_template(p.messages, chat_); }
  // Throws Error naming the prompt when its image items and images disagree in number.
  EncodedPrompt encode(const std::vector<PromptInput>& batch) const;

  const Tokenizer& tokenizer() const { return *tokenizer_; }
  const ProcessorConfig& processor() const { return processor_; }
  ProcessorConfig& processor() { return processor_; }
  const PromptTokens& tokens() const { return tokens_; }

 private:
  std::shared_ptr<const Tokenizer> tokenizer_;
  ProcessorConfig processor_;
  PromptTokens tokens_;
  ChatTemplateOptions chat_;
};

// B prompts of random text ids around one random image_size x image_size image each, in
// the chat layout, left-padded (lengths vary by 0..9 tokens); for benchmarks and tests of
// models without a tokenizer. Seeded by `seed`.
EncodedPrompt synthetic_prompts(const Qwen2VLConfig& cfg, int64_t B, int64_t text_tokens, int64_t image_size,
                                uint64_t seed = 0);

}  // namespace vrft
