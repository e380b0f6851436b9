// tests/model/test_model_init.cpp: the demo model's own tokenizer and `visual-rft model init`.
// The tokenizer that scripts/make_tiny_tokenizer.py trains on a synthetic world gives, through
// visual-rft's BPE, the ids of the `tokenizers` package on every problem and solution of the
// world and on the chat template's text; a new model folder names that tokenizer's special
// ids, has transformers' initial weight distribution, is the same for the same seed, and
// loads back.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "test_util.h"
#include "visual_rft/core/fs.h"
#include "visual_rft/data/visual_rft_jsonl.h"
#include "visual_rft/model/init.h"
#include "visual_rft/text/tokenizer.h"

using namespace vrft;
using namespace vrft::test;
namespace fs = std::filesystem;

namespace {

// A small synthetic world and the tokenizer trained on it, made once per test program.
const std::string& world_dir() {
  static const std::string dir = [] {
    const std::string d = scratch_dir("model-init");
    CommandResult r = run(cli() + " data synth --out " + d +
                          "/world --seed 5 --categories 12 --novel 4"
                          " --base-per-category 4 --train-per-category 2 --eval 8 --think-base");
    EXPECT_EQ(r.status, 0) << r.output;
    python("make_tiny_tokenizer.py' --data '" + d + "/world' --out '" + d + "/tok' --vocab-size 400");
    return d;
  }();
  return dir;
}

}  // namespace

TEST(TinyTokenizer, SameIdsAsTheTokenizersPackage) {
  const std::string d = world_dir();
  std::vector<std::string> texts = {
      "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n"
      "<|vision_start|><|image_pad|><|vision_end|>Detect it<|im_end|>\n<|im_start|>assistant\n",
      "Unseen words: zebra 12345, ünïcödé and  spaces\t\n"};
  for (const char* split : {"base_train", "fewshot_train", "eval"}) {
    for (const char* task : {"cls", "det", "ground"}) {
      for (const Sample& s : load_visual_rft_jsonl(d + "/world/" + task + "/" + split + ".jsonl", "", false)) {
        texts.push_back(s.problem);
        texts.push_back(s.solution);
      }
    }
  }
  nlohmann::json lines = texts;
  write_file_atomic(d + "/texts.json", lines.dump());
  CommandResult r =
      run(std::string("'") + VRFT_PYTHON +
          "' -c \"import json,sys; from tokenizers import Tokenizer; "
          "t=Tokenizer.from_file(sys.argv[1]); "
          "print(json.dumps([t.encode(x, add_special_tokens=False).ids for x in json.load(open(sys.argv[2]))]))\" '" +
          d + "/tok/tokenizer.json' '" + d + "/texts.json'");
  ASSERT_EQ(r.status, 0) << r.output;
  const auto expected = nlohmann::json::parse(r.output).get<std::vector<std::vector<int64_t>>>();
  auto tok = load_tokenizer(d + "/tok/tokenizer.json");
  EXPECT_LE(tok->vocab_size(), 400);
  ASSERT_EQ(expected.size(), texts.size());
  for (size_t i = 0; i < texts.size(); ++i) {
    ASSERT_EQ(tok->encode(texts[i]), expected[i]) << texts[i];
    EXPECT_EQ(tok->decode(expected[i]), texts[i]);
  }
  // Decoding without special tokens drops them although they are in the BPE vocabulary too
  // (a rollout's text ends "</answer>", not "</answer><|im_end|>", or the format reward fails).
  r = run(std::string("'") + VRFT_PYTHON +
          "' -c \"import json,sys; from tokenizers import Tokenizer; "
          "t=Tokenizer.from_file(sys.argv[1]); print(json.dumps([t.decode(t.encode(x, add_special_tokens=False).ids, "
          "skip_special_tokens=True) for x in json.load(open(sys.argv[2]))]))\" '" +
          d + "/tok/tokenizer.json' '" + d + "/texts.json'");
  ASSERT_EQ(r.status, 0) << r.output;
  const auto stripped = nlohmann::json::parse(r.output).get<std::vector<std::string>>();
  for (size_t i = 0; i < texts.size(); ++i) EXPECT_EQ(tok->decode(expected[i], true), stripped[i]) << texts[i];
  EXPECT_EQ(tok->decode(tok->encode("<answer>x</answer><|im_end|>"), true), "<answer>x</answer>");
  // Qwen2-VL's special tokens come first, in Qwen's order.
  EXPECT_EQ(tok->token_id("<|endoftext|>"), 0);
  EXPECT_EQ(tok->token_id("<|im_end|>"), 2);
  EXPECT_EQ(tok->token_id("<|image_pad|>"), 12);
}

TEST(ModelInit, NamesTheTokenizersIdsAndDrawsTransformersInit) {
  const std::string d = world_dir();
  InitModelOptions opt;
  opt.tokenizer = d + "/tok";
  opt.seed = 3;
  const Qwen2VLConfig cfg = init_model_folder(opt, d + "/m1");
  EXPECT_EQ(cfg.text.vocab_size % 64, 0);
  EXPECT_GE(cfg.text.vocab_size, load_tokenizer(d + "/tok/tokenizer.json")->vocab_size());
  EXPECT_EQ(cfg.image_token_id, 12);
  EXPECT_EQ(cfg.video_token_id, 13);
  EXPECT_EQ(cfg.vision_start_token_id, 9);
  EXPECT_EQ(cfg.vision_end_token_id, 10);
  EXPECT_EQ(cfg.eos_token_ids, (std::vector<int64_t>{2, 0}));
  for (const char* f : {"config.json", "generation_config.json", "preprocessor_config.json", "model.safetensors",
                        "tokenizer.json", "tokenizer_config.json"}) {
    EXPECT_TRUE(fs::exists(d + "/m1/" + f)) << f;
  }
  // Loads back with the same config (ids, eos from generation_config.json, pixel limits).
  const Qwen2VLConfig back = load_model_config(d + "/m1");
  EXPECT_EQ(back.image_token_id, 12);
  EXPECT_EQ(back.eos_token_ids, cfg.eos_token_ids);
  EXPECT_EQ(back.processor.max_pixels, 112 * 112);
  auto m = load_qwen2vl(d + "/m1", torch::kFloat, torch::kCPU);
  int64_t normal = 0;
  double sum2 = 0;
  for (const auto& p : m->named_parameters(true)) {
    const std::string& k = p.key();
    const torch::Tensor t = p.value();
    if (k.size() > 5 && k.compare(k.size() - 5, 5, ".bias") == 0) {
      EXPECT_EQ(t.abs().max().item<float>(), 0.0f) << k;
    } else if (k.find("norm") != std::string::npos || k.find("ln_q") != std::string::npos) {
      EXPECT_EQ(t.min().item<float>(), 1.0f) << k;
      EXPECT_EQ(t.max().item<float>(), 1.0f) << k;
    } else {
      normal += t.numel();
      sum2 += t.pow(2).sum().item<double>();
    }
  }
  EXPECT_GT(normal, 1'000'000);
  EXPECT_NEAR(std::sqrt(sum2 / static_cast<double>(normal)), 0.02, 0.0005);
  // Same seed, same bytes; another seed, other weights.
  init_model_folder(opt, d + "/m2");
  EXPECT_EQ(read_file(d + "/m1/model.safetensors"), read_file(d + "/m2/model.safetensors"));
  opt.seed = 4;
  init_model_folder(opt, d + "/m3");
  EXPECT_NE(read_file(d + "/m1/model.safetensors"), read_file(d + "/m3/model.safetensors"));
}

TEST(ModelInit, RopeAndPatchSizeBesideThePreset) {
  const std::string d = world_dir();
  InitModelOptions opt;
  opt.tokenizer = d + "/tok";
  opt.rope_theta = 1e4;
  opt.mrope_section = {1, 1, 14};
  opt.patch_size = 7;
  init_model_folder(opt, d + "/rope");
  const Qwen2VLConfig back = load_model_config(d + "/rope");
  EXPECT_EQ(back.text.rope_theta, 1e4);
  EXPECT_EQ(back.text.mrope_section, (std::vector<int64_t>{1, 1, 14}));
  EXPECT_EQ(back.vision.patch_size, 7);
  EXPECT_EQ(back.processor.patch_size, 7);
  // The patch embedding has the new shape: [width, 3 * 2 * 7 * 7].
  auto m = load_qwen2vl(d + "/rope", torch::kFloat, torch::kCPU);
  bool found = false;
  for (const auto& p : m->named_parameters(true)) {
    if (p.key().find("patch_embed") == std::string::npos) continue;
    found = true;
    EXPECT_EQ(p.value().numel(), back.vision.width * 3 * 2 * 7 * 7) << p.key();
  }
  EXPECT_TRUE(found);
  opt.mrope_section = {4, 4, 4};
  std::string err;
  try {
    init_model_folder(opt, d + "/bad");
  } catch (const std::exception& e) {
    err = e.what();
  }
  EXPECT_NE(err.find("--mrope-section must be 3 numbers summing to head_dim / 2 = 16"), std::string::npos) << err;
}

TEST(ModelInit, WidthAndDepthBesideThePreset) {
  const std::string d = world_dir();
  InitModelOptions opt;
  opt.tokenizer = d + "/tok";
  opt.hidden_size = 256;
  opt.num_layers = 6;
  opt.vision_width = 192;
  opt.vision_depth = 4;
  init_model_folder(opt, d + "/wide");
  const Qwen2VLConfig back = load_model_config(d + "/wide");
  // The preset's head sizes (32) and MLP ratios (3x text, 4x vision) are kept.
  EXPECT_EQ(back.text.hidden_size, 256);
  EXPECT_EQ(back.text.num_hidden_layers, 6);
  EXPECT_EQ(back.text.num_attention_heads, 8);
  EXPECT_EQ(back.text.num_key_value_heads, 4);
  EXPECT_EQ(back.text.intermediate_size, 768);
  EXPECT_EQ(back.text.head_dim(), 32);
  EXPECT_EQ(back.vision.width, 192);
  EXPECT_EQ(back.vision.depth, 4);
  EXPECT_EQ(back.vision.num_heads, 6);
  EXPECT_EQ(back.vision.mlp_hidden, 768);
  EXPECT_EQ(back.vision.out_hidden, 256);  // the merger feeds the text model
  auto m = load_qwen2vl(d + "/wide", torch::kFloat, torch::kCPU);
  int64_t layers = 0, blocks = 0;
  for (const auto& p : m->named_parameters(true)) {
    if (p.key().find("input_layernorm") != std::string::npos) ++layers;
    if (p.key().find("visual.blocks.") != std::string::npos && p.key().find("norm1.weight") != std::string::npos)
      ++blocks;
  }
  EXPECT_EQ(layers, 6);
  EXPECT_EQ(blocks, 4);
  opt.hidden_size = 100;
  std::string err;
  try {
    init_model_folder(opt, d + "/bad");
  } catch (const std::exception& e) {
    err = e.what();
  }
  EXPECT_NE(err.find("--hidden-size 100 must be a multiple of 64"), std::string::npos) << err;
}

TEST(ModelInit, RefusesATokenizerWithoutTheVisionTokens) {
  const std::string d = scratch_dir("model-init-bad");
  // The Qwen2.5 text tokenizer has <|image_pad|>; a tokenizer without it is refused by name.
  nlohmann::json j = nlohmann::json::parse(read_file(fixtures_dir() + "/qwen2_5/tokenizer.json"));
  nlohmann::json kept = nlohmann::json::array();
  for (const auto& t : j["added_tokens"]) {
    if (t["content"] != "<|image_pad|>") kept.push_back(t);
  }
  j["added_tokens"] = kept;
  write_file_atomic(d + "/tokenizer.json", j.dump());
  InitModelOptions opt;
  opt.preset = "tiny";
  opt.tokenizer = d + "/tokenizer.json";
  try {
    init_model_folder(opt, d + "/m");
    FAIL() << "expected an error";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("<|image_pad|>"), std::string::npos) << e.what();
  }
  CommandResult r = run(cli() + " model init --tokenizer " + d + "/missing.json --out " + d + "/m");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.output.find("missing.json' does not exist"), std::string::npos) << r.output;
}
