// src/text/chat_template.cpp: the Qwen2-VL chat template (see the header for the layout).
#include "visual_rft/text/chat_template.h"

namespace vrft {

std::string render_chat_template(const std::vector<ChatMessage>& messages, const ChatTemplateOptions& opts) {
  std::string out;
  int images = 0;
  for (size_t i = 0; i < messages.size(); ++i) {
    const ChatMessage& m = messages[i];
    if (i == 0 && m.role != "system") out += "<|im_start|>system\n" + opts.default_system + "<|im_end|>\n";
    out += "<|im_start|>" + m.role + "\n";
    for (const ChatContent& c : m.content) {
      if (c.type == ChatContent::Type::kImage) {
        ++images;
        if (opts.add_vision_id) out += "Picture " + std::to_string(images) + ": ";
        out += "<|vision_start|><|image_pad|><|vision_end|>";
      } else {
        out += c.text;
      }
    }
    out += "<|im_end|>\n";
  }
  if (opts.add_generation_prompt) out += "<|im_start|>assistant\n";
  return out;
}

std::vector<ChatMessage> image_question(const std::string& question, int num_images, bool question_first) {
  ChatMessage user{"user", {}};
  if (question_first) user.content.push_back(ChatContent::plain(question));
  for (int i = 0; i < num_images; ++i) user.content.push_back(ChatContent::image());
  if (!question_first) user.content.push_back(ChatContent::plain(question));
  return {user};
}

}  // namespace vrft
