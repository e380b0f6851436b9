// tests/rollout/test_generator.cpp: the rollout engine on the tiny random models of
// scripts/refs/qwen2vl_refs.py: greedy output equals transformers' generate(do_sample=False)
// token for token on a left-padded batch with images (with and without an eos that stops one
// row early, with a repetition penalty); first-token frequencies of 20,000 samples match the
// processed softmax (chi-square, fixed seed) for top-k + top-p and for min-p; a seeded sample
// does not change with G or with the batch around it; outputs (mask, log-probs, reasons); the
// bytes a decode step must read (rollout/decode_bound.h).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <numeric>
#include <sstream>

#include "test_util.h"
#include "visual_rft/core/error.h"
#include "visual_rft/core/fs.h"
#include "visual_rft/core/safetensors.h"
#include "visual_rft/rollout/decode_bound.h"
#include "visual_rft/rollout/generator.h"

using namespace vrft;

namespace {

std::string refs() { return test::script_refs("rollout_refs.py", "qwen25vl/outputs.safetensors"); }

struct Case {
  Qwen2VLForConditionalGeneration model{nullptr};
  EncodedPrompt prompts;
  SafetensorsFile* out = nullptr;
};

EncodedPrompt load_inputs(const std::string& path) {
  SafetensorsFile in(path);
  EncodedPrompt p;
  p.input_ids = in.get("input_ids").clone();
  p.attention_mask = in.get("attention_mask").clone();
  p.pixel_values = in.get("pixel_values").clone();
  p.image_grid_thw = in.get("image_grid_thw").clone();
  for (int64_t b = 0; b < p.input_ids.size(0); ++b) {  // what EncodedPrompt::rows() needs
    p.lengths.push_back(p.attention_mask[b].sum().item<int64_t>());
    p.images_per_prompt.push_back((p.input_ids[b] == 151652).sum().item<int64_t>());  // <|vision_start|>
    p.texts.emplace_back();
  }
  return p;
}

// Rows [first, first + n) of a batch without images (text-only prompts keep it simple) or
// the whole batch.
EncodedPrompt rows_of(const EncodedPrompt& p, int64_t first, int64_t n) {
  EncodedPrompt q;
  q.input_ids = p.input_ids.narrow(0, first, n);
  q.attention_mask = p.attention_mask.narrow(0, first, n);
  // Drop the columns that are padding in every kept row.
  int64_t pad = q.attention_mask.size(1) - q.attention_mask.sum(1).max().item<int64_t>();
  q.input_ids = q.input_ids.narrow(1, pad, q.input_ids.size(1) - pad).contiguous();
  q.attention_mask = q.attention_mask.narrow(1, pad, q.attention_mask.size(1) - pad).contiguous();
  return q;
}

constexpr int64_t kNoEos = 151935;

}  // namespace

TEST(Generator, GreedyEqualsTransformersGenerate) {
  for (const char* v : {"qwen2vl", "qwen25vl"}) {
    SCOPED_TRACE(v);
    std::string d = refs() + "/" + v;
    auto model = load_qwen2vl(d + "/model", torch::kFloat, torch::kCPU);
    EncodedPrompt p = load_inputs(d + "/inputs.safetensors");
    SafetensorsFile want(d + "/outputs.safetensors");
    Generator gen(model, nullptr);
    GenerateConfig g;
    g.num_samples = 1;
    g.max_new_tokens = 20;
    g.sampling.greedy = true;
    g.eos_token_ids = {kNoEos};
    RolloutBatch r = gen.generate(p, g);
    EXPECT_TRUE(torch::equal(r.completion_ids, want.get("greedy"))) << r.completion_ids << want.get("greedy");
    for (const auto& reason : r.finish_reasons) EXPECT_EQ(reason, "length");
    EXPECT_EQ(r.completion_mask.sum().item<int64_t>(), r.completion_mask.numel());

    // An eos that row 0 produces at step 6: it stops there (eos kept, masked in), the others go on.
    const int64_t eos = want.get("eos_id")[0].item<int64_t>();
    g.eos_token_ids = {eos};
    RolloutBatch s = gen.generate(p, g);
    torch::Tensor w = want.get("greedy_eos");
    ASSERT_EQ(s.completion_ids.size(1), w.size(1));
    EXPECT_TRUE(torch::equal(s.completion_ids, w)) << s.completion_ids << w;
    EXPECT_EQ(s.finish_reasons[0], "stop");
    EXPECT_EQ(s.completion_mask[0].sum().item<int64_t>(), 7);

    g.eos_token_ids = {kNoEos};
    g.sampling.repetition_penalty = 1.3;
    EXPECT_TRUE(torch::equal(gen.generate(p, g).completion_ids, want.get("greedy_rep")));

    // A folder whose generation_config.json names repetition_penalty 0.5 (Qwen2-VL-Instruct's
    // 1.05 changes no token of these random models; below 1 favours seen tokens, and does):
    // transformers applies it to a greedy generate(); the config we read carries it for eval
    // and generate to apply.
    ASSERT_FALSE(torch::equal(want.get("greedy_folder_rep"), want.get("greedy")));
    const Qwen2VLConfig folder = load_model_config(d + "/model_rep");
    EXPECT_EQ(folder.repetition_penalty, 0.5);
    EXPECT_EQ(load_model_config(d + "/model").repetition_penalty, 1.0);
    g.sampling.repetition_penalty = folder.repetition_penalty;
    EXPECT_TRUE(torch::equal(gen.generate(p, g).completion_ids, want.get("greedy_folder_rep")));
  }
}

// First-token frequencies of 20,000 samples against the distribution computed here
// independently (double precision, transformers' formulation of each filter).
TEST(Generator, FirstTokenFrequenciesMatchTheProcessedSoftmax) {
  std::string d = refs() + "/qwen2vl";
  auto model = load_qwen2vl(d + "/model", torch::kFloat, torch::kCPU);
  EncodedPrompt p = rows_of(load_inputs(d + "/inputs.safetensors"), 2, 1);  // the text-only row
  torch::Tensor logits;
  {
    torch::NoGradGuard ng;
    RopeIndex r = model->rope_index(p.input_ids, p.attention_mask, {});
    logits =
        model->forward({p.input_ids, p.attention_mask, {}, r.position_ids}, nullptr, p.input_ids.size(1) - 1)[0][0];
  }
  std::vector<double> raw(logits.data_ptr<float>(), logits.data_ptr<float>() + logits.numel());

  struct Setting {
    double temperature;
    int64_t top_k;
    double top_p, min_p;
  };
  for (Setting st : {Setting{0.7, 50, 0.9, 0.0}, Setting{1.3, 0, 1.0, 0.02}, Setting{1.0, 0, 0.8, 0.0}}) {
    SCOPED_TRACE("T " + std::to_string(st.temperature) + " top_k " + std::to_string(st.top_k) + " top_p " +
                 std::to_string(st.top_p) + " min_p " + std::to_string(st.min_p));
    const size_t V = raw.size();
    std::vector<double> x(V);
    for (size_t i = 0; i < V; ++i) x[i] = raw[i] / st.temperature;
    std::vector<size_t> order(V);
    std::iota(order.begin(), order.end(), 0);
    std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return x[a] > x[b]; });
    std::vector<char> keep(V, 1);
    if (st.top_k > 0) {
      const double kth = x[order[static_cast<size_t>(st.top_k - 1)]];
      for (size_t i = 0; i < V; ++i) keep[i] = x[i] >= kth;  // TopKLogitsWarper: remove < k-th value
    }
    auto probs = [&] {
      std::vector<double> q(V, 0.0);
      double mx = -1e300, z = 0;
      for (size_t i = 0; i < V; ++i)
        if (keep[i]) mx = std::max(mx, x[i]);
      for (size_t i = 0; i < V; ++i)
        if (keep[i]) z += (q[i] = std::exp(x[i] - mx));
      for (double& v : q) v /= z;
      return q;
    };
    if (st.top_p < 1) {  // TopPLogitsWarper: ascending cumulative mass <= 1 - top_p is removed
      std::vector<double> q = probs();
      double cum = 0;
      for (size_t r = V; r-- > 0;) {
        const size_t i = order[r];
        if (!keep[i]) continue;
        cum += q[i];
        if (cum <= 1 - st.top_p && r != 0) keep[i] = 0;
      }
    }
    if (st.min_p > 0) {
      std::vector<double> q = probs();
      const double top = *std::max_element(q.begin(), q.end());
      for (size_t i = 0; i < V; ++i)
        if (q[i] < st.min_p * top) keep[i] = 0;
    }
    std::vector<double> expect = probs();

    Generator gen(model, nullptr);
    GenerateConfig g;
    g.num_samples = 20000;
    g.max_new_tokens = 1;
    g.seed = 1234;  // seeds 1-5 give chi2 of 200-245 for the third setting: no bias
    g.sampling = {false, st.temperature, st.top_k, st.top_p, st.min_p, 1.0};
    RolloutBatch r = gen.generate(p, g);
    std::vector<double> count(V, 0.0);
    auto ids = r.completion_ids.accessor<int64_t, 2>();
    for (int64_t s = 0; s < g.num_samples; ++s) count[static_cast<size_t>(ids[s][0])] += 1;
    // Bins: tokens with an expected count >= 5, the rest pooled; a sampled token of zero
    // probability fails outright.
    double chi2 = 0, pooled_e = 0, pooled_o = 0;
    int bins = 0;
    for (size_t i = 0; i < V; ++i) {
      const double e = expect[i] * static_cast<double>(g.num_samples);
      if (expect[i] == 0) {
        EXPECT_EQ(count[i], 0) << "token " << i << " has probability 0 but was sampled";
      } else if (e >= 5) {
        chi2 += (count[i] - e) * (count[i] - e) / e;
        ++bins;
      } else {
        pooled_e += e;
        pooled_o += count[i];
      }
    }
    if (pooled_e >= 5) chi2 += (pooled_o - pooled_e) * (pooled_o - pooled_e) / pooled_e, ++bins;
    // Critical value at p = 0.001 (Wilson-Hilferty), dof = bins - 1.
    const double k = bins - 1, z = 3.0902;
    const double crit = k * std::pow(1 - 2 / (9 * k) + z * std::sqrt(2 / (9 * k)), 3);
    std::printf("chi2 = %.1f over %d bins (critical %.1f at p = 0.001)\n", chi2, bins, crit);
    EXPECT_GE(bins, 5);
    EXPECT_LT(chi2, crit);
  }
}

TEST(Generator, SeededSamplesIgnoreGAndTheBatch) {
  std::string d = refs() + "/qwen2vl";
  auto model = load_qwen2vl(d + "/model", torch::kFloat, torch::kCPU);
  EncodedPrompt all = load_inputs(d + "/inputs.safetensors");
  Generator gen(model, nullptr);
  GenerateConfig g;
  g.max_new_tokens = 12;
  g.seed = 7;
  g.eos_token_ids = {kNoEos};
  g.sampling.top_k = 50;
  g.num_samples = 4;
  RolloutBatch four = gen.generate(all, g);
  g.num_samples = 6;
  RolloutBatch six = gen.generate(all, g);
  for (int64_t b = 0; b < 3; ++b) {
    for (int64_t j = 0; j < 4; ++j) {
      EXPECT_TRUE(torch::equal(four.completion_ids[b * 4 + j], six.completion_ids[b * 6 + j]))
          << "prompt " << b << " sample " << j;
    }
  }
  // The text-only prompt alone, with its key from the full batch (2): the same samples.
  g.prompt_keys = {2};
  RolloutBatch alone = gen.generate(rows_of(all, 2, 1), g);
  for (int64_t j = 0; j < 6; ++j) EXPECT_TRUE(torch::equal(alone.completion_ids[j], six.completion_ids[12 + j])) << j;
  // In two chunks (rollout.batch_size), concatenated: the same rows.
  g.prompt_keys = {0, 1};
  RolloutBatch first = gen.generate(all.rows(0, 2), g);
  g.prompt_keys = {2};
  RolloutBatch both = concat_rollouts({first, alone}, g.pad_token_id);
  EXPECT_TRUE(torch::equal(both.completion_ids, six.completion_ids));
  EXPECT_EQ(both.prompt_index, six.prompt_index);
  // Samples of one prompt differ from each other (their streams are distinct).
  EXPECT_FALSE(torch::equal(six.completion_ids[0], six.completion_ids[1]));
  // Same seed, same everything: identical; another seed: different.
  g.prompt_keys.clear();
  EXPECT_TRUE(torch::equal(gen.generate(all, g).completion_ids, six.completion_ids));
  g.seed = 8;
  EXPECT_FALSE(torch::equal(gen.generate(all, g).completion_ids, six.completion_ids));
}

TEST(Generator, OutputsMaskLogprobsAndErrors) {
  std::string d = refs() + "/qwen2vl";
  auto model = load_qwen2vl(d + "/model", torch::kFloat, torch::kCPU);
  EncodedPrompt p = load_inputs(d + "/inputs.safetensors");
  Generator gen(model, nullptr);
  GenerateConfig g;
  g.num_samples = 3;
  g.max_new_tokens = 10;
  g.seed = 3;
  g.sampling.temperature = 0.8;
  RolloutBatch r = gen.generate(p, g);
  ASSERT_EQ(r.completion_ids.size(0), 9);
  EXPECT_EQ(r.prompt_index, (std::vector<int64_t>{0, 0, 0, 1, 1, 1, 2, 2, 2}));
  EXPECT_EQ(r.timing.prompt_tokens, p.attention_mask.sum().item<int64_t>());
  EXPECT_EQ(r.timing.generated_tokens, r.completion_mask.sum().item<int64_t>());
  // Log-probs are those of the raw policy: recompute sample 0 of prompt 1 by a full forward.
  torch::NoGradGuard ng;
  EncodedPrompt one = rows_of(p, 2, 1);
  g.num_samples = 1;
  g.prompt_keys = {2};
  RolloutBatch a = gen.generate(one, g);
  torch::Tensor ids = torch::cat({one.input_ids, a.completion_ids}, 1);
  torch::Tensor mask = torch::ones_like(ids);
  RopeIndex rope = model->rope_index(ids, mask, {});
  const int64_t P = one.input_ids.size(1), T = a.completion_ids.size(1);
  torch::Tensor lp = torch::log_softmax(model->forward({ids, mask, {}, rope.position_ids}, nullptr, P - 1), -1)[0];
  torch::Tensor want = lp.narrow(0, 0, T).gather(1, a.completion_ids[0].view({-1, 1})).view({-1});
  EXPECT_LE((want - a.logprobs[0]).abs().max().item<double>(), 1e-4);
  // ignore_eos with the eos of the first sampled token: everything after it is masked out.
  g.ignore_eos = true;
  g.eos_token_ids = {a.completion_ids[0][0].item<int64_t>()};
  RolloutBatch b = gen.generate(one, g);
  EXPECT_EQ(b.completion_ids.size(1), 10);
  EXPECT_EQ(b.completion_mask[0][0].item<int64_t>(), 1);
  EXPECT_EQ(b.completion_mask[0].sum().item<int64_t>(), 1);
  g.sampling.top_p = 1.5;
  EXPECT_THROW(gen.generate(one, g), Error);
}

TEST(Sampling, RepetitionPenaltyAndGreedy) {
  torch::Tensor logits = torch::tensor({{2.0f, 1.9f, -1.0f, -1.05f}});
  torch::Tensor seen = torch::tensor({{1.0f, 0.0f, 1.0f, 0.0f}});
  SamplingConfig c;
  c.greedy = true;
  EXPECT_EQ(sample_tokens(logits, c, {}).tokens.item<int64_t>(), 0);
  c.repetition_penalty = 1.5;  // 2.0 / 1.5 < 1.9
  EXPECT_EQ(sample_tokens(logits, c, {}, seen).tokens.item<int64_t>(), 1);
  torch::Tensor pr = sampling_probs(logits, SamplingConfig{false, 1.0, 0, 1.0, 0.0, 1.5}, seen);
  EXPECT_LT(pr[0][2].item<float>(), pr[0][3].item<float>());  // -1.0 * 1.5 < -1.05
  EXPECT_NEAR(pr.sum().item<float>(), 1.0, 1e-6);
  // Streams: uniform in [0, 1), different across samples and steps.
  EXPECT_NE(stream_uniform(sample_stream(0, 0, 0), 0), stream_uniform(sample_stream(0, 0, 1), 0));
  EXPECT_NE(stream_uniform(sample_stream(0, 0, 0), 0), stream_uniform(sample_stream(0, 0, 0), 1));
  double mean = 0;
  for (int i = 0; i < 10000; ++i) mean += stream_uniform(sample_stream(1, 2, 3), static_cast<uint64_t>(i)) / 10000;
  EXPECT_NEAR(mean, 0.5, 0.01);
}

// Top-p without top-k looks at the most likely 256, 2,048, ... tokens instead of sorting the
// vocabulary; the distribution and the tokens drawn must be those of a full sort. Rows from
// peaked (nucleus of a few tokens) to flat (nucleus of most of the vocabulary, which makes
// the candidate set grow to all V).
TEST(Sampling, NucleusFromTheTopKEqualsAFullSort) {
  torch::manual_seed(3);
  const int64_t V = 20000;
  torch::Tensor scale = torch::tensor({8.0f, 3.0f, 1.0f, 0.3f, 0.01f}).view({-1, 1});
  torch::Tensor logits = torch::randn({5, V}) * scale;  // [R, V]
  for (double top_p : {0.5, 0.9, 0.99}) {
    SCOPED_TRACE("top_p " + std::to_string(top_p));
    const SamplingConfig c{false, 0.8, 0, top_p, 0.0, 1.0};
    // The full-sort formulation: sort, softmax, keep the prefix whose mass before it < top_p.
    auto [sorted, ids] = (logits / 0.8).sort(-1, /*descending=*/true);
    torch::Tensor p = torch::softmax(sorted, -1);
    p = p.masked_fill(p.cumsum(-1) - p >= top_p, 0.0);
    torch::Tensor expect = torch::zeros_like(logits).scatter_(-1, ids, p / p.sum(-1, true));
    torch::Tensor got = sampling_probs(logits, c);
    EXPECT_TRUE(torch::equal(got > 0, expect > 0)) << "the same tokens are kept";
    EXPECT_LT((got - expect).abs().max().item<double>(), 1e-6);
    // Inverse-CDF draws with the same uniforms (1,000 per row) give the same tokens, except
    // where a float32 rounding of the cumulative mass (about 1e-7 of it) moves a boundary
    // between two neighbours in probability order: then the neighbour is drawn.
    torch::Tensor u = torch::rand({5, 1000});
    torch::Tensor cum = p.cumsum(-1);
    torch::Tensor pos =
        torch::searchsorted(cum, (u * cum.narrow(-1, V - 1, 1)).contiguous(), false, true).clamp_max(V - 1);
    torch::Tensor rank = torch::empty_like(ids).scatter_(-1, ids, torch::arange(V).expand_as(ids).contiguous());
    torch::Tensor got_pos = rank.gather(-1, sample_tokens(logits, c, u).tokens);  // [5, 1000]
    EXPECT_LE((got_pos - pos).abs().max().item<int64_t>(), 1);
    EXPECT_LE((got_pos != pos).sum().item<int64_t>(), 10) << "of 5,000 draws";
  }
}

TEST(Generator, GenerateCli) {
  const std::string fx = test::fixtures_dir();
  if (!std::filesystem::exists(fx + "/qwen2_5/tokenizer.json"))
    GTEST_FAIL() << "fixtures missing: " << vrft::test::fixtures_dir() << " (tests/fixtures, part of the repository)";
  // The tiny model with the real tokenizer and processor settings beside it.
  std::string dir = test::scratch_dir("generate-cli");
  for (const auto& e : std::filesystem::directory_iterator(refs() + "/qwen2vl/model")) {
    std::filesystem::create_symlink(e.path(), dir + "/" + e.path().filename().string());
  }
  std::filesystem::create_symlink(fx + "/qwen2_5/tokenizer.json", dir + "/tokenizer.json");
  write_file_atomic(dir + "/preprocessor_config.json", R"({"min_pixels": 3136, "max_pixels": 50176})");
  // stdout only (run() merges stderr, where the timing line is logged).
  auto stdout_of = [](const std::string& cmd) { return test::run("{ " + cmd + " 2>/dev/null; }"); };
  const std::string base = "'" + test::cli() + "' generate --model '" + dir + "' --image '" + fx +
                           "/images/HappyFish.jpg' --prompt 'What is in the image?' --max-new-tokens 6 --json";
  auto a = stdout_of(base + " -n 3 --seed 5 --top-k 50");
  ASSERT_EQ(a.status, 0) << a.output;
  std::vector<nlohmann::json> rows;
  std::istringstream lines(a.output);
  for (std::string l; std::getline(lines, l);) rows.push_back(nlohmann::json::parse(l));
  ASSERT_EQ(rows.size(), 3u);
  for (const auto& r : rows) {
    EXPECT_LE(r["tokens"].get<int64_t>(), 6);
    EXPECT_EQ(r["ids"].size(), r["tokens"].get<size_t>());  // the completion's ids, without padding
    EXPECT_TRUE(r["finish_reason"] == "length" || r["finish_reason"] == "stop");
    EXPECT_LT(r["logprob"].get<double>(), 0.0);
  }
  EXPECT_EQ(stdout_of(base + " -n 3 --seed 5 --top-k 50").output, a.output);  // seeded: reproducible
  EXPECT_NE(stdout_of(base + " -n 3 --seed 6 --top-k 50").output, a.output);
  auto g = stdout_of(base + " --greedy");
  EXPECT_EQ(g.status, 0) << g.output;
  EXPECT_EQ(stdout_of(base + " --temperature 0").output, g.output);
  auto bad =
      test::run("'" + test::cli() + "' generate --model '" + dir + "' --image '" + dir + "/nope.jpg' --prompt x");
  EXPECT_NE(bad.status, 0);
  EXPECT_NE(bad.output.find("nope.jpg"), std::string::npos) << bad.output;
}

TEST(DecodeBound, BytesAStepMustRead) {
  // Counted another way: every parameter outside the vision tower, less the token embedding
  // when a separate lm_head is read instead (a step reads one embedding row per token); and
  // the cache of the average live rows at the average length, keys and values of every layer.
  for (bool tied : {true, false}) {
    Qwen2VLConfig cfg = preset_model_config("tiny");
    cfg.text.tie_word_embeddings = tied;
    torch::manual_seed(0);
    Qwen2VLForConditionalGeneration model(cfg);
    double params = 0;
    for (const auto& item : model->named_parameters()) {
      const std::string& name = item.key();
      if (name.rfind("visual.", 0) == 0) continue;
      if (!tied && name == "model.embed_tokens.weight") continue;
      params += static_cast<double>(item.value().numel());
    }
    RolloutTiming t;
    t.decode_steps = 10;
    t.generated_tokens = 40;  // 4 rows live on average
    for (torch::Dtype dt : {torch::kFloat, torch::kBFloat16}) {
      const double elt = dt == torch::kFloat ? 4 : 2;
      const DecodeStepBytes b = decode_step_bytes(model, dt, /*prompt_len=*/20, t);
      EXPECT_DOUBLE_EQ(b.weights, params * elt) << "tied " << tied;
      const auto& tc = cfg.text;
      const double per_token = 2.0 * tc.num_hidden_layers * tc.num_key_value_heads * tc.head_dim() * elt;
      EXPECT_DOUBLE_EQ(b.kv_cache, 4 * (20 + 5) * per_token);
      EXPECT_DOUBLE_EQ(b.bound_ms(2.0), 1e3 * (b.weights + b.kv_cache) / 2e12);
    }
  }
}
