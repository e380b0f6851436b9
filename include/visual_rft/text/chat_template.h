// visual_rft/text/chat_template.h: the chat template of Qwen2-VL-Instruct and
// Qwen2.5-VL-Instruct (the same template), rendered without a Jinja engine.
//
//   <|im_start|>system\nYou are a helpful assistant.<|im_end|>\n     (unless the first turn is system)
//   <|im_start|>{role}\n{items, no separator}<|im_end|>\n               (each message)
//   <|im_start|>assistant\n                                             (add_generation_prompt)
// An image item renders as <|vision_start|><|image_pad|><|vision_end|> ("Picture n: " first
// with add_vision_id); the processor later expands each <|image_pad|> to its patch count.
#pragma once

#include <string>
#include <vector>

namespace vrft {

struct ChatContent {
  enum class Type { kText, kImage };
  Type type = Type::kText;
  std::string text;  // kText only

  static ChatContent image() { return {Type::kImage, {}}; }
  static ChatContent plain(std::string t) { return {Type::kText, std::move(t)}; }
};

struct ChatMessage {
  std::string role;  // system | user | assistant (copied verbatim, like the template)
  std::vector<ChatContent> content;
};

struct ChatTemplateOptions {
  bool add_generation_prompt = true;
  bool add_vision_id = false;
  std::string default_system = "You are a helpful assistant.";
};

std::string render_chat_template(const std::vector<ChatMessage>& messages, const ChatTemplateOptions& opts = {});

// The reference trainer's conversation: one user turn holding the image, then the question;
// with question_first the question, then the image (data.image_position: after_text).
std::vector<ChatMessage> image_question(const std::string& question, int num_images = 1, bool question_first = false);

}  // namespace vrft
