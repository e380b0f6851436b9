// tests/model/test_qwen2vl.cpp: parity of the Qwen2-VL / Qwen2.5-VL port with transformers
// on tiny random models made in the test's set-up (scripts/refs/qwen2vl_refs.py, cached in
// build/test-cache/qwen2vl): logits (fp32, max |diff| <= 1e-4 on unpadded positions),
// position ids and rope deltas exactly, greedy decoding with the KV cache token for token
// against generate(do_sample=False) and against full recomputation; strict loading errors;
// both key layouts; save and reload.
#include <gtest/gtest.h>

#include <filesystem>
#include <map>

#include "test_util.h"
#include "visual_rft/core/error.h"
#include "visual_rft/core/fs.h"
#include "visual_rft/core/safetensors.h"
#include "visual_rft/model/qwen2vl.h"
#include "visual_rft/train/run_util.h"

using namespace vrft;
namespace fs = std::filesystem;

namespace {

const char* kVariants[] = {"qwen2vl", "qwen2vl_untied", "qwen25vl"};

// The script writes qwen25vl last; its outputs mark a complete set.
std::string refs() { return test::script_refs("qwen2vl_refs.py", "qwen25vl/outputs.safetensors"); }

struct Case {
  Qwen2VLForConditionalGeneration model{nullptr};
  torch::Tensor ids, mask, pixels, grid;            // inputs
  torch::Tensor logits, position_ids, deltas, gen;  // transformers' outputs
};

Case load_case(const std::string& variant) {
  Case c;
  std::string d = refs() + "/" + variant;
  c.model = load_qwen2vl(d + "/model", torch::kFloat, torch::kCPU);
  SafetensorsFile in(d + "/inputs.safetensors"), out(d + "/outputs.safetensors");
  c.ids = in.get("input_ids").clone();
  c.mask = in.get("attention_mask").clone();
  c.pixels = in.get("pixel_values").clone();
  c.grid = in.get("image_grid_thw").clone();
  c.logits = out.get("logits").clone();
  c.position_ids = out.get("position_ids").clone();
  c.deltas = out.get("rope_deltas").clone();
  c.gen = out.get("generated").clone();
  return c;
}

// Max |a - b| over unpadded positions. a, b: [B, S, V]; mask [B, S].
double max_diff(const torch::Tensor& a, const torch::Tensor& b, const torch::Tensor& mask) {
  torch::Tensor keep = mask.to(torch::kBool).unsqueeze(-1);
  return ((a - b).abs() * keep).max().item<double>();
}

// Greedy decoding of `steps` tokens with the KV cache. Returns [B, steps].
torch::Tensor greedy(Qwen2VLForConditionalGeneration& m, const Case& c, int64_t steps) {
  torch::NoGradGuard ng;
  torch::Tensor feats = m->image_features(c.pixels, c.grid);
  RopeIndex r = m->rope_index(c.ids, c.mask, c.grid);
  KVCache cache;
  const int64_t S = c.ids.size(1);
  torch::Tensor logits = m->forward({c.ids, c.mask, feats, r.position_ids}, &cache, S - 1);
  torch::Tensor mask = c.mask, valid = c.mask.sum(1);
  std::vector<torch::Tensor> out;
  for (int64_t k = 0; k < steps; ++k) {
    torch::Tensor next = logits.select(1, -1).argmax(-1, true);  // [B, 1]
    out.push_back(next);
    if (k + 1 == steps) break;
    mask = torch::cat({mask, torch::ones_like(next)}, 1);
    torch::Tensor pos = decode_position_ids(valid, r.rope_deltas, 1);
    valid = valid + 1;
    logits = m->forward({next, mask, torch::Tensor(), pos}, &cache);
  }
  return torch::cat(out, 1);
}

}  // namespace

TEST(Qwen2VL, LogitsPositionsAndDeltasMatchTransformers) {
  for (const char* v : kVariants) {
    SCOPED_TRACE(v);
    Case c = load_case(v);
    torch::NoGradGuard ng;
    RopeIndex r = c.model->rope_index(c.ids, c.mask, c.grid);
    EXPECT_TRUE(torch::equal(r.position_ids, c.position_ids)) << r.position_ids << c.position_ids;
    EXPECT_TRUE(torch::equal(r.rope_deltas, c.deltas)) << r.rope_deltas << c.deltas;
    torch::Tensor feats = c.model->image_features(c.pixels, c.grid);
    torch::Tensor logits = c.model->forward({c.ids, c.mask, feats, r.position_ids});
    ASSERT_EQ(logits.sizes(), c.logits.sizes());
    double d = max_diff(logits, c.logits, c.mask);
    std::printf("%s fp32: max |logits - transformers| = %.3g over %lld unpadded positions\n", v, d,
                static_cast<long long>(c.mask.sum().item<int64_t>()));
    EXPECT_LE(d, 1e-4) << "max |logits - transformers| = " << d << "\nfirst values ours "
                       << logits[0][-1].narrow(0, 0, 5) << " theirs " << c.logits[0][-1].narrow(0, 0, 5);
  }
}

TEST(Qwen2VL, GreedyWithCacheMatchesGenerateAndRecompute) {
  for (const char* v : kVariants) {
    SCOPED_TRACE(v);
    Case c = load_case(v);
    torch::Tensor ours = greedy(c.model, c, c.gen.size(1));
    EXPECT_TRUE(torch::equal(ours, c.gen)) << "ours\n" << ours << "\ntransformers\n" << c.gen;

    // Full recomputation of the last step equals the cached path.
    torch::NoGradGuard ng;
    torch::Tensor ids = torch::cat({c.ids, ours.narrow(1, 0, ours.size(1) - 1)}, 1);
    torch::Tensor mask = torch::cat({c.mask, torch::ones({c.ids.size(0), ours.size(1) - 1}, torch::kLong)}, 1);
    RopeIndex r = c.model->rope_index(ids, mask, c.grid);
    torch::Tensor logits = c.model->forward({ids, mask, c.model->image_features(c.pixels, c.grid), r.position_ids},
                                            nullptr, ids.size(1) - 1);
    EXPECT_TRUE(torch::equal(logits.select(1, 0).argmax(-1), ours.select(1, -1)));
  }
}

TEST(Qwen2VL, NewKeyLayoutLoadsTheSame) {
  std::string src = refs() + "/qwen2vl/model";
  std::string dst = test::scratch_dir("qwen2vl-newkeys");
  SafetensorsFile f(src + "/model.safetensors");
  NamedTensors renamed;
  for (const auto& t : f.tensors()) {
    std::string k = t.name;
    if (k.rfind("visual.", 0) == 0)
      k = "model." + k;
    else if (k.rfind("model.", 0) == 0)
      k = "model.language_model." + k.substr(6);
    renamed.emplace_back(k, f.get(t.name));
  }
  save_safetensors_sharded(dst, renamed, /*max_shard_bytes=*/10'000'000);  // also sharded
  fs::copy_file(src + "/config.json", dst + "/config.json");
  auto a = load_qwen2vl(src, torch::kFloat, torch::kCPU);
  auto b = load_qwen2vl(dst, torch::kFloat, torch::kCPU);
  auto pa = a->named_parameters(), pb = b->named_parameters();
  for (const auto& p : pa) EXPECT_TRUE(torch::equal(p.value(), pb[p.key()])) << p.key();
}

TEST(Qwen2VL, StrictLoadingListsEveryWrongKey) {
  std::string src = refs() + "/qwen2vl/model";
  std::string dst = test::scratch_dir("qwen2vl-broken");
  SafetensorsFile f(src + "/model.safetensors");
  NamedTensors broken;
  for (const auto& t : f.tensors()) {
    if (t.name == "model.layers.1.mlp.up_proj.weight" || t.name == "visual.blocks.0.norm1.bias") continue;  // missing
    torch::Tensor v = f.get(t.name);
    if (t.name == "model.norm.weight") v = torch::ones({7});  // wrong shape
    broken.emplace_back(t.name, v);
  }
  broken.emplace_back("model.layers.9.self_attn.q_proj.weight", torch::ones({2, 2}));  // unexpected
  save_safetensors(dst + "/model.safetensors", broken);
  fs::copy_file(src + "/config.json", dst + "/config.json");
  try {
    load_qwen2vl(dst, torch::kFloat, torch::kCPU);
    FAIL() << "a broken checkpoint loaded";
  } catch (const FileError& e) {
    std::string m = e.what();
    for (const char* want : {"2 missing", "model.layers.1.mlp.up_proj.weight", "visual.blocks.0.norm1.bias",
                             "1 unexpected", "model.layers.9.self_attn.q_proj.weight", "1 mismatched",
                             "model.norm.weight: file has F32 [7], the model needs a float [64]"}) {
      EXPECT_NE(m.find(want), std::string::npos) << "missing '" << want << "' in:\n" << m;
    }
  }
}

TEST(Qwen2VL, SaveAndReloadIsExactAndBf16Loads) {
  std::string src = refs() + "/qwen2vl_untied/model";
  std::string dst = test::scratch_dir("qwen2vl-save");
  auto a = load_qwen2vl(src, torch::kFloat, torch::kCPU);
  save_qwen2vl(a, dst, src, /*max_shard_bytes=*/20'000'000);
  EXPECT_TRUE(fs::exists(dst + "/model.safetensors.index.json"));
  EXPECT_TRUE(fs::exists(dst + "/config.json"));
  auto b = load_qwen2vl(dst, torch::kFloat, torch::kCPU);
  auto pb = b->named_parameters();
  for (const auto& p : a->named_parameters()) EXPECT_TRUE(torch::equal(p.value(), pb[p.key()])) << p.key();
  // transformers loads what we wrote and computes the same logits.
  std::string out = test::python("refs/qwen2vl_refs.py' check '" + dst + "' '" + refs() + "/qwen2vl_untied'");
  EXPECT_NE(out.find("max |logits - reference| = 0"), std::string::npos) << out;
  auto h = load_qwen2vl(src, torch::kBFloat16, torch::kCPU);
  EXPECT_EQ(h->model->embed_tokens->weight.scalar_type(), torch::kBFloat16);
}

TEST(Qwen2VL, ConfigLayouts) {
  // transformers 4.4x: text fields at the top level, rope_scaling with mrope_section.
  Qwen2VLConfig c = parse_model_config(R"({"model_type": "qwen2_vl", "vocab_size": 100, "hidden_size": 64,
    "intermediate_size": 96, "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
    "rope_theta": 10000.0, "rope_scaling": {"type": "mrope", "mrope_section": [2, 3, 3]},
    "tie_word_embeddings": false,
    "vision_config": {"depth": 2, "embed_dim": 32, "num_heads": 4, "mlp_ratio": 2, "hidden_size": 64}})",
                                       "legacy.json");
  EXPECT_EQ(c.text.vocab_size, 100);
  EXPECT_DOUBLE_EQ(c.text.rope_theta, 10000.0);
  EXPECT_EQ(c.text.mrope_section, (std::vector<int64_t>{2, 3, 3}));
  EXPECT_FALSE(c.text.tie_word_embeddings);
  EXPECT_EQ(c.vision.mlp_hidden, 64);
  EXPECT_EQ(c.vision.hidden_act, "quick_gelu");
  EXPECT_THROW(parse_model_config(R"({"model_type": "llama"})", "x.json"), FileError);
  try {
    parse_model_config(R"({"model_type": "qwen2_vl", "vision_config": {}})", "y.json");
    FAIL();
  } catch (const FileError& e) {
    EXPECT_NE(std::string(e.what()).find("y.json: field 'vocab_size' is missing"), std::string::npos) << e.what();
  }
}

TEST(Qwen2VL, GradientCheckpointingGivesTheSameGradients) {
  for (const char* v : {"qwen2vl", "qwen25vl"}) {
    SCOPED_TRACE(v);
    Case c = load_case(v);
    auto grads = [&](bool ckpt) {
      c.model->zero_grad();
      c.model->visual->gradient_checkpointing = ckpt;
      c.model->model->gradient_checkpointing = ckpt;
      RopeIndex r = c.model->rope_index(c.ids, c.mask, c.grid);
      torch::Tensor logits =
          c.model->forward({c.ids, c.mask, c.model->image_features(c.pixels, c.grid), r.position_ids});
      // A loss that reaches every parameter: log-probs of fixed tokens at unpadded positions.
      torch::Tensor lp = torch::log_softmax(logits, -1).gather(-1, c.ids.unsqueeze(-1)).squeeze(-1);
      (lp * c.mask).sum().backward();
      std::map<std::string, torch::Tensor> g;
      for (const auto& p : c.model->named_parameters()) g[p.key()] = p.value().grad().clone();
      return g;
    };
    auto plain = grads(false), ckpt = grads(true);
    for (const auto& [k, g] : plain) {
      ASSERT_TRUE(ckpt[k].defined()) << k;
      double scale = std::max(1.0, g.abs().max().item<double>());
      EXPECT_LE((g - ckpt[k]).abs().max().item<double>(), 1e-6 * scale) << k;
    }
  }
}

// A checkpointed block recomputes under the forward's autocast in backward. The bf16 copies of
// the weights cast there must not outlive it: after an optimiser step the next autocast forward
// must see the new weights (equal to a fresh model loaded with them), not the cached old copies.
TEST(Qwen2VL, CheckpointedRecomputeUnderAutocastLeavesNoStaleWeights) {
  Case c = load_case("qwen2vl");
  auto forward = [&](Qwen2VLForConditionalGeneration& m) {
    RopeIndex r = m->rope_index(c.ids, c.mask, c.grid);
    return m->forward({c.ids, c.mask, m->image_features(c.pixels, c.grid), r.position_ids});
  };
  c.model->visual->gradient_checkpointing = true;
  c.model->model->gradient_checkpointing = true;
  const torch::Device cpu(torch::kCPU);
  torch::Tensor logits;
  {
    AutocastScope ac(cpu, torch::kBFloat16);
    logits = forward(c.model);
  }
  // Backward outside the scope, as the trainers do: the recompute switches autocast on alone.
  torch::log_softmax(logits.to(torch::kFloat), -1).mean().neg().backward();
  {
    torch::NoGradGuard ng;  // an "optimiser step": every weight changes in place
    for (auto& p : c.model->parameters()) p.add_(p.grad().sign() * -1e-2);
  }
  auto fresh = load_qwen2vl(refs() + "/qwen2vl/model", torch::kFloat, torch::kCPU);
  copy_parameters(*fresh, *c.model);
  torch::NoGradGuard ng;
  AutocastScope ac(cpu, torch::kBFloat16);
  torch::Tensor a = forward(c.model), b = forward(fresh);
  EXPECT_EQ((a - b).abs().max().item<double>(), 0.0);
}

TEST(Qwen2VL, Bf16LogitsCloseToTransformersBf16) {
  // Stated tolerance: bf16 keeps 8 bits of mantissa, so two correct bf16 implementations
  // differ by a few ulps of logits of magnitude ~10. We require (1) the mean |diff| to
  // transformers-bf16 over unpadded logits <= 0.05 and (2) our bf16 error against the fp32
  // reference to be no larger than 1.25x transformers' own bf16 error against it. (Argmax
  // agreement is no criterion: random 152k-way logits have near ties.)
  for (const char* v : kVariants) {
    SCOPED_TRACE(v);
    std::string d = refs() + "/" + v;
    auto m = load_qwen2vl(d + "/model", torch::kBFloat16, torch::kCPU);
    Case c = load_case(v);
    torch::Tensor theirs = SafetensorsFile(d + "/outputs.safetensors").get("logits_bf16").clone();
    torch::NoGradGuard ng;
    RopeIndex r = m->rope_index(c.ids, c.mask, c.grid);
    torch::Tensor ours = m->forward({c.ids, c.mask, m->image_features(c.pixels, c.grid), r.position_ids});
    torch::Tensor keep = c.mask.to(torch::kBool);
    double mean = (ours - theirs).abs().mean(-1).masked_select(keep).mean().item<double>();
    auto err = [&](const torch::Tensor& x) {
      return (x - c.logits).abs().mean(-1).masked_select(keep).mean().item<double>();
    };
    double ours_err = err(ours), theirs_err = err(theirs);
    EXPECT_LE(mean, 0.05) << "mean |bf16 logits - transformers bf16| = " << mean;
    EXPECT_LE(ours_err, 1.25 * theirs_err)
        << "bf16 error vs fp32: ours " << ours_err << ", transformers " << theirs_err;
    std::printf("%s bf16: mean |ours - transformers| %.4f; error vs fp32: ours %.4f, transformers %.4f\n", v, mean,
                ours_err, theirs_err);
    RecordProperty(std::string("bf16_mean_abs_diff_") + v, std::to_string(mean));
  }
}

TEST(Qwen2VL, InspectForwardCli) {
  std::string d = refs() + "/qwen25vl";
  std::string out = test::scratch_dir("inspect-forward") + "/out.safetensors";
  auto r = test::run("'" + test::cli() + "' inspect forward --model '" + d + "/model' --inputs '" + d +
                     "/inputs.safetensors' --out '" + out + "'");
  ASSERT_EQ(r.status, 0) << r.output;
  SafetensorsFile ours(out), theirs(d + "/outputs.safetensors"), in(d + "/inputs.safetensors");
  EXPECT_TRUE(torch::equal(ours.get("position_ids"), theirs.get("position_ids")));
  EXPECT_TRUE(torch::equal(ours.get("rope_deltas"), theirs.get("rope_deltas")));
  EXPECT_LE(max_diff(ours.get("logits"), theirs.get("logits"), in.get("attention_mask")), 1e-4);
  auto bad = test::run("'" + test::cli() + "' inspect forward --model '" + d + "/model' --inputs '" + d +
                       "/outputs.safetensors' --out '" + out + "'");
  EXPECT_EQ(bad.status, 1);
  EXPECT_NE(bad.output.find("has no tensor 'input_ids'"), std::string::npos) << bad.output;
}

TEST(Qwen2VL, GenerationAndProcessorConfigs) {
  std::string dir = test::scratch_dir("model-configs");
  write_file_atomic(dir + "/config.json", model_config_json(preset_model_config("tiny")));
  Qwen2VLConfig c = load_model_config(dir);
  EXPECT_EQ(c.eos_token_ids, (std::vector<int64_t>{151645, 151643}));
  EXPECT_EQ(c.processor.max_pixels, 12845056);
  write_file_atomic(dir + "/generation_config.json", R"({"eos_token_id": [151645, 151643, 7], "top_k": 1})");
  write_file_atomic(dir + "/preprocessor_config.json",
                    R"({"min_pixels": 3136, "max_pixels": 401408, "patch_size": 14, "merge_size": 2,
                        "image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5]})");
  c = load_model_config(dir);
  EXPECT_EQ(c.eos_token_ids, (std::vector<int64_t>{151645, 151643, 7}));
  EXPECT_EQ(c.processor.max_pixels, 401408);
  EXPECT_EQ(c.processor.image_mean, (std::vector<double>{0.5, 0.5, 0.5}));
  write_file_atomic(dir + "/preprocessor_config.json", R"({"size": {"shortest_edge": 100, "longest_edge": 50}})");
  EXPECT_THROW(load_model_config(dir), FileError);
  // A processor that cuts other patches than the tower embeds is refused by file and values
  // (the demo preset once wrote 14-pixel patches beside a 7-pixel tower).
  write_file_atomic(dir + "/preprocessor_config.json", R"({"patch_size": 7})");
  EXPECT_THROW(load_model_config(dir), FileError);
  const std::string why = test::error_of([&] { load_model_config(dir); });
  EXPECT_NE(why.find("preprocessor_config.json: patch_size 7, merge_size 2, temporal_patch_size 2 "
                     "must equal config.json's vision_config (14, 2, 2)"),
            std::string::npos)
      << why;
  // The config we write reads back to the same shapes.
  Qwen2VLConfig back = parse_model_config(model_config_json(preset_model_config("2b")), "2b.json");
  EXPECT_EQ(back.text.hidden_size, 1536);
  EXPECT_EQ(back.vision.mlp_hidden, 5120);
  EXPECT_TRUE(back.text.tie_word_embeddings);
}
