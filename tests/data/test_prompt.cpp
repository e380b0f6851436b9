// tests/data/test_prompt.cpp: the chat template and PromptEncoder against transformers'
// Qwen2VLProcessor (scripts/refs/prompt_refs.py): rendered text, input_ids, attention_mask
// (left padding), image_grid_thw and pixel_values of batches with several images per prompt,
// system and assistant turns, add_vision_id, text-only rows; the token ids of Qwen2-VL-Instruct's chat_template;
// errors for a mismatched number of images; the evaluation questions of the reference scripts.
#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>

#include "test_util.h"
#include "visual_rft/core/error.h"
#include "visual_rft/core/fs.h"
#include "visual_rft/core/safetensors.h"
#include "visual_rft/data/prompt.h"
#include "visual_rft/data/task_prompts.h"
#include "visual_rft/train/run_util.h"

using namespace vrft;

namespace {

std::string fixtures() { return test::fixtures_dir(); }

std::shared_ptr<const Tokenizer> qwen() {
  static std::shared_ptr<const Tokenizer> t = load_tokenizer(fixtures() + "/qwen2_5/tokenizer.json");
  return t;
}

// The folder of scripts/refs/prompt_refs.py's cases (made once, cached in the build folder).
std::string prompt_refs() {
  return test::script_refs("prompt_refs.py", "cases.json",
                           {fixtures() + "/qwen2_5/tokenizer.json", fixtures() + "/images"});
}

std::vector<ChatMessage> messages_from_json(const nlohmann::json& j) {
  std::vector<ChatMessage> out;
  for (const auto& m : j) {
    ChatMessage msg{m["role"].get<std::string>(), {}};
    for (const auto& c : m["content"]) {
      msg.content.push_back(c["type"] == "image" ? ChatContent::image()
                                                 : ChatContent::plain(c["text"].get<std::string>()));
    }
    out.push_back(std::move(msg));
  }
  return out;
}

torch::Tensor to_tensor(const nlohmann::json& rows) {
  std::vector<int64_t> flat;
  for (const auto& r : rows)
    for (const auto& v : r) flat.push_back(v.get<int64_t>());
  return torch::tensor(flat, torch::kInt64).view({static_cast<int64_t>(rows.size()), -1});
}

}  // namespace

TEST(ChatTemplate, DocumentedExample) {
  REQUIRE_FIXTURES(test::tokenizer_fixture());
  std::string text = render_chat_template(image_question("Describe this image."));
  EXPECT_EQ(text,
            "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n"
            "<|vision_start|><|image_pad|><|vision_end|>Describe this image.<|im_end|>\n<|im_start|>assistant\n");
  EXPECT_EQ(qwen()->encode(text),
            (std::vector<int64_t>{151644, 8948, 198,    2610,   525, 264,    10950,  17847,  13,
                                  151645, 198,  151644, 872,    198, 151652, 151655, 151653, 74785,
                                  419,    2168, 13,     151645, 198, 151644, 77091,  198}));
}

TEST(PromptEncoder, EqualsQwen2VLProcessor) {
  REQUIRE_FIXTURES(test::tokenizer_fixture());
  const std::string d = prompt_refs();
  auto cases = nlohmann::json::parse(read_file(d + "/cases.json"));
  SafetensorsFile pixels(d + "/pixel_values.safetensors");
  ASSERT_GE(cases.size(), 6u);
  for (const auto& c : cases) {
    SCOPED_TRACE(c["name"].get<std::string>());
    const auto& o = c["options"];
    ProcessorConfig pc;
    pc.min_pixels = o.value("min_pixels", int64_t{3136});
    pc.max_pixels = o.value("max_pixels", int64_t{12845056});
    ChatTemplateOptions chat;
    chat.add_generation_prompt = o.value("add_generation_prompt", true);
    chat.add_vision_id = o.value("add_vision_id", false);
    PromptEncoder enc(qwen(), pc, PromptTokens{}, chat);
    std::vector<PromptInput> batch;
    for (const auto& b : c["batch"]) {
      PromptInput p{messages_from_json(b["messages"]), {}};
      for (const auto& path : b["images"]) p.images.push_back(load_image_rgb(path.get<std::string>()));
      batch.push_back(std::move(p));
    }
    EncodedPrompt got = enc.encode(batch);
    for (size_t i = 0; i < batch.size(); ++i) EXPECT_EQ(got.texts[i], c["texts"][i].get<std::string>());
    EXPECT_TRUE(torch::equal(got.input_ids, to_tensor(c["input_ids"])));
    EXPECT_TRUE(torch::equal(got.attention_mask, to_tensor(c["attention_mask"])));
    if (c.contains("image_grid_thw")) {
      ASSERT_TRUE(got.image_grid_thw.defined());
      EXPECT_TRUE(torch::equal(got.image_grid_thw, to_tensor(c["image_grid_thw"])));
      torch::Tensor want = pixels.get(c["name"].get<std::string>());
      ASSERT_EQ(got.pixel_values.sizes(), want.sizes());
      EXPECT_LE((got.pixel_values - want).abs().max().item<double>(), 1e-6);
    } else {
      EXPECT_FALSE(got.pixel_values.defined());
    }
    // Per-prompt slices of the flat image tensors cover them exactly, in order.
    int64_t patches = 0;
    for (int64_t b = 0; b < got.batch(); ++b) {
      auto [first, n] = got.patch_rows(b);
      if (n) {
        EXPECT_EQ(first, patches);
      }
      patches += n;
      EXPECT_EQ(got.attention_mask[b].sum().item<int64_t>(), got.lengths[static_cast<size_t>(b)]);
    }
    EXPECT_EQ(patches, got.pixel_values.defined() ? got.pixel_values.size(0) : 0);
  }
}

// The evaluation questions visual-rft asks of COCO/LVIS and classification lists render to the
// reference scripts' prompts token for token ("<image>\n" + question after the image).
TEST(PromptEncoder, EvalQuestionsEqualTheReferenceScripts) {
  REQUIRE_FIXTURES(test::tokenizer_fixture());
  auto cases = nlohmann::json::parse(read_file(prompt_refs() + "/cases.json"));
  const std::map<std::string, std::string> ours = {
      {"coco_eval_question", eval_question(detection_prompt("fire hydrant", PromptStyle::eval))},
      {"cls_eval_question", eval_question(classification_prompt("aircraft"))}};
  size_t seen = 0;
  for (const auto& c : cases) {
    auto it = ours.find(c["name"].get<std::string>());
    if (it == ours.end()) continue;
    SCOPED_TRACE(it->first);
    ++seen;
    ProcessorConfig pc;
    pc.max_pixels = c["options"]["max_pixels"].get<int64_t>();
    PromptEncoder enc(qwen(), pc, PromptTokens{});
    const std::string image = c["batch"][0]["images"][0].get<std::string>();
    EncodedPrompt got = enc.encode({PromptInput{image_question(it->second), {load_image_rgb(image)}}});
    EXPECT_EQ(got.texts[0], c["texts"][0].get<std::string>());
    EXPECT_TRUE(torch::equal(got.input_ids, to_tensor(c["input_ids"])));
  }
  EXPECT_EQ(seen, ours.size());
}

// data.image_position: after_text puts the question before the image, as transformers renders
// a user turn of [text, image]; the trainers (sample_prompt) and `generate --image-after-text`
// (user_turn) build that turn token for token.
TEST(PromptEncoder, QuestionFirstEqualsQwen2VLProcessor) {
  REQUIRE_FIXTURES(test::tokenizer_fixture());
  const auto cases = nlohmann::json::parse(read_file(prompt_refs() + "/cases.json"));
  const nlohmann::json* ref = nullptr;
  for (const auto& c : cases)
    if (c["name"] == "question_first") ref = &c;
  ASSERT_NE(ref, nullptr) << "prompt_refs.py has no question_first case";
  const auto& turn = (*ref)["batch"][0];
  const std::string question = turn["messages"][0]["content"][0]["text"].get<std::string>();
  const std::string image = turn["images"][0].get<std::string>();
  ProcessorConfig pc;
  pc.max_pixels = (*ref)["options"]["max_pixels"].get<int64_t>();
  PromptEncoder enc(qwen(), pc, PromptTokens{});
  DataConfig data;
  data.image_position = ImagePosition::after_text;
  data.max_pixels = pc.max_pixels;
  Sample s;
  s.image = image;
  s.problem = question;
  for (const PromptInput& in : {sample_prompt(s, data), user_turn("", {image}, question, /*text_first=*/true)}) {
    EncodedPrompt got = enc.encode({in});
    EXPECT_EQ(got.texts[0], (*ref)["texts"][0].get<std::string>());
    EXPECT_TRUE(torch::equal(got.input_ids, to_tensor((*ref)["input_ids"])));
  }
  // The default stays the reference's layout: the image first.
  data.image_position = ImagePosition::before_text;
  EXPECT_NE(enc.encode({sample_prompt(s, data)}).texts[0], (*ref)["texts"][0].get<std::string>());
}

TEST(PromptEncoder, ImageCountMustMatch) {
  REQUIRE_FIXTURES(test::tokenizer_fixture());
  PromptEncoder enc(qwen(), ProcessorConfig{}, PromptTokens{});
  cv::Mat img(56, 56, CV_8UC3, cv::Scalar(10, 20, 30));
  try {
    enc.encode({PromptInput{image_question("two?", 2), {img}}});
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("2 image placeholder(s) but 1 image(s)"), std::string::npos) << e.what();
  }
  EXPECT_THROW(enc.encode({PromptInput{image_question("none?", 0), {img}}}), Error);
}

TEST(PromptEncoder, FromModelDir) {
  REQUIRE_FIXTURES(test::tokenizer_fixture());
  std::string dir = test::scratch_dir("prompt-model");
  write_file_atomic(dir + "/config.json", model_config_json(preset_model_config("tiny")));
  write_file_atomic(dir + "/tokenizer.json", read_file(fixtures() + "/qwen2_5/tokenizer.json"));
  write_file_atomic(dir + "/preprocessor_config.json", R"({"min_pixels": 3136, "max_pixels": 100352})");
  PromptEncoder enc = PromptEncoder::from_model_dir(dir);
  EXPECT_EQ(enc.processor().max_pixels, 100352);
  EXPECT_EQ(enc.tokens().pad, 151643);
  cv::Mat img(300, 500, CV_8UC3, cv::Scalar(1, 2, 3));
  EncodedPrompt p = enc.encode({PromptInput{image_question("hi"), {img}}});
  auto g = p.image_grid_thw[0];
  EXPECT_EQ((p.input_ids == 151655).sum().item<int64_t>(), g.prod().item<int64_t>() / 4);
}
