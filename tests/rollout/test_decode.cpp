// tests/rollout/test_decode.cpp: the decode-step variants, mixed precision and gradient
// checkpointing, on a random tiny model (preset "tiny") with synthetic image prompts.
//   CPU (CI): fixed-shape decode (whole-cache attention, parked rows, compaction) gives the
//   eager tokens and log-probs; bf16 autocast log-probs and gradients follow fp32 ones.
//   CUDA (skipped without a GPU; scripts/gpu/check.sh runs them): greedy tokens equal the
//   CPU's, CUDA-graph decode equals eager decode in fp32 and bf16, autocast on CUDA.
#include <gtest/gtest.h>

#include <ATen/autocast_mode.h>

#include <algorithm>
#include <set>

#include "visual_rft/core/error.h"
#include "visual_rft/data/prompt.h"
#include "visual_rft/rollout/decode_step.h"
#include "visual_rft/rollout/generator.h"
#include "visual_rft/train/logprobs.h"
#include "visual_rft/train/run_util.h"

#if defined(__has_include)
#if __has_include(<torch/cuda.h>)
#include <torch/cuda.h>
#endif
#endif

using namespace vrft;

namespace {

Qwen2VLForConditionalGeneration tiny_model(torch::Dtype dt, torch::Device dev) {
  torch::manual_seed(3);
  Qwen2VLConfig cfg = preset_model_config("tiny");
  // Untied: a random tied model mostly repeats its input token, so every row would stop at
  // the same step; a separate random lm_head gives varied tokens.
  cfg.text.tie_word_embeddings = false;
  Qwen2VLForConditionalGeneration m(cfg);
  m->to(dev, dt);
  m->eval();
  return m;
}

GenerateConfig config(DecodeMode decode, bool greedy) {
  GenerateConfig g;
  g.num_samples = 4;
  g.max_new_tokens = 24;
  g.sampling.greedy = greedy;
  g.sampling.top_k = 50;
  g.seed = 11;
  g.decode = decode;
  return g;
}

// eos ids that end the samples of `ref` at different steps (some rows park, the batch
// compacts, others run to the end): row r's token at step 2 + 5 (r % 4), when that token
// does not occur earlier in the row, until the rows end at three different steps or more.
std::vector<int64_t> staggered_eos(const RolloutBatch& ref) {
  const int64_t N = ref.completion_ids.size(0), T = ref.completion_ids.size(1);
  auto ids = ref.completion_ids.accessor<int64_t, 2>();
  std::vector<int64_t> eos;
  auto lengths = [&] {
    std::set<int64_t> out;
    for (int64_t r = 0; r < N; ++r) {
      int64_t len = T;
      for (int64_t t = 0; t < T && len == T; ++t) {
        if (std::find(eos.begin(), eos.end(), ids[r][t]) != eos.end()) len = t + 1;
      }
      out.insert(len);
    }
    return out.size();
  };
  for (int64_t r = 0; r < N && lengths() < 3; ++r) {
    const int64_t k = 2 + 5 * (r % 4), x = ids[r][k];
    bool earlier = false;
    for (int64_t t = 0; t < k; ++t) earlier |= ids[r][t] == x;
    if (!earlier) eos.push_back(x);
  }
  return eos;
}

void expect_same(const RolloutBatch& a, const RolloutBatch& b, double logp_tol) {
  if (!a.completion_ids.sizes().equals(b.completion_ids.sizes()) || !torch::equal(a.completion_ids, b.completion_ids)) {
    // Where the first difference is and how far the log-probs were apart before it: a late
    // flip after tiny differences is rounding; an early large one is a logic error.
    const int64_t T = std::min(a.completion_ids.size(1), b.completion_ids.size(1));
    torch::Tensor diff = a.completion_ids.narrow(1, 0, T) != b.completion_ids.narrow(1, 0, T);
    for (int64_t r = 0; r < diff.size(0); ++r) {
      torch::Tensor at = diff[r].nonzero();
      if (at.numel() == 0) continue;
      const int64_t t = at[0][0].item<int64_t>();
      const double before =
          t > 0 ? (a.logprobs[r].narrow(0, 0, t) - b.logprobs[r].narrow(0, 0, t)).abs().max().item<double>() : 0;
      ADD_FAILURE() << "row " << r << " differs first at step " << t << " (" << a.completion_ids[r][t].item<int64_t>()
                    << " vs " << b.completion_ids[r][t].item<int64_t>() << "); max |logp diff| before: " << before
                    << "; logp there " << a.logprobs[r][t].item<double>() << " vs " << b.logprobs[r][t].item<double>();
    }
    return;
  }
  ASSERT_TRUE(torch::equal(a.completion_mask, b.completion_mask));
  EXPECT_EQ(a.finish_reasons, b.finish_reasons);
  EXPECT_LE((a.logprobs - b.logprobs).abs().max().item<double>(), logp_tol);
  EXPECT_EQ(a.timing.generated_tokens, b.timing.generated_tokens);
}

bool have_cuda() { return torch::cuda::is_available(); }

// Completion log-probs (groups of 2) computed under autocast to `ac` (none: off) on the
// model's device, and the gradients of their sum, flattened; both on the CPU.
std::pair<torch::Tensor, torch::Tensor> logprobs_and_grads(Qwen2VLForConditionalGeneration& model,
                                                           const EncodedPrompt& p, const torch::Tensor& comp,
                                                           std::optional<torch::ScalarType> ac) {
  model->zero_grad();
  torch::Tensor logp;
  {
    AutocastScope scope(model->parameters().front().device(), ac);
    logp = completion_logprobs(model, p, comp, 2).logp;
  }
  logp.sum().backward();
  std::vector<torch::Tensor> g;
  for (auto& q : model->parameters()) {
    if (q.grad().defined()) g.push_back(q.grad().flatten().clone());
  }
  return {logp.detach().cpu(), torch::cat(g).cpu()};
}

}  // namespace

TEST(DecodeFixed, EqualsEagerOnCpuWithStaggeredStops) {
  auto model = tiny_model(torch::kFloat, torch::kCPU);
  Generator gen(model, nullptr);
  EncodedPrompt p = synthetic_prompts(model->cfg, 3, 12, 56, 5);
  {  // greedy: this random model gives every prompt the same tokens, so no staggered stops
    GenerateConfig g = config(DecodeMode::eager, true);
    RolloutBatch eager = gen.generate(p, g);
    g.decode = DecodeMode::fixed;
    expect_same(eager, gen.generate(p, g), 1e-5);
  }
  {
    GenerateConfig g = config(DecodeMode::eager, false);
    g.ignore_eos = true;
    RolloutBatch probe = gen.generate(p, g);
    g.ignore_eos = false;
    g.eos_token_ids = staggered_eos(probe);
    RolloutBatch eager = gen.generate(p, g);
    std::set<int64_t> lengths;
    for (int64_t r = 0; r < 12; ++r) lengths.insert(eager.completion_mask[r].sum().item<int64_t>());
    EXPECT_GE(lengths.size(), 3u) << "rows should stop at different steps (parking, then compaction)\n"
                                  << eager.completion_ids;
    g.decode = DecodeMode::fixed;
    RolloutBatch fixed = gen.generate(p, g);
    expect_same(eager, fixed, 1e-5);
  }
}

TEST(DecodeFixed, UnknownModeIsAnError) {
  auto model = tiny_model(torch::kFloat, torch::kCPU);
  Generator gen(model, nullptr);
  Config c;  // an unknown mode never reaches the generator: the config refuses it by name
  EXPECT_THROW(apply_override(c, "rollout.decode=turbo"), ConfigError);
  if (!have_cuda()) {
    // A graph needs a CUDA device: a clear error, not a crash.
    EXPECT_THROW(gen.generate(synthetic_prompts(model->cfg, 1, 8, 56), config(DecodeMode::graph, true)),
                 std::exception);
  }
}

TEST(Autocast, Bf16LogprobsAndGradientsFollowFp32OnCpu) {
  auto model = tiny_model(torch::kFloat, torch::kCPU);
  model->train();
  EncodedPrompt p = synthetic_prompts(model->cfg, 2, 10, 56, 7);
  torch::Tensor comp = torch::randint(100, 5000, {4, 9}, torch::kLong);
  auto run = [&](std::optional<torch::ScalarType> ac) { return logprobs_and_grads(model, p, comp, ac); };
  auto [lp32, g32] = run(std::nullopt);
  auto [lp16, g16] = run(torch::kBFloat16);
  EXPECT_EQ(lp16.scalar_type(), torch::kFloat);
  // bf16 keeps 8 bits: log-probs near -12 move by a few hundredths per rounding.
  EXPECT_LE((lp16 - lp32).abs().mean().item<double>(), 0.1) << "bf16 compute: within bf16 rounding of fp32";
  EXPECT_LE((lp16 - lp32).abs().max().item<double>(), 0.5);
  EXPECT_GT((lp16 - lp32).abs().max().item<double>(), 0.0) << "autocast had no effect";
  const double cos = torch::cosine_similarity(g16, g32, 0).item<double>();
  EXPECT_GT(cos, 0.99);
  EXPECT_TRUE(torch::isfinite(g16).all().item<bool>());
  EXPECT_FALSE(at::autocast::is_autocast_enabled(at::kCPU)) << "the scope must restore the state";
}

TEST(Checkpointing, SharedPromptLogprobsAndGradientsEqual) {
  // Gradient checkpointing of the vision blocks and of the decoder layers in the completion
  // pass over the shared prompt cache: the same log-probs and gradients, activations freed.
  auto model = tiny_model(torch::kFloat, torch::kCPU);
  model->train();
  EncodedPrompt p = synthetic_prompts(model->cfg, 2, 10, 56, 7);
  torch::Tensor comp = torch::randint(100, 5000, {6, 7}, torch::kLong);
  auto run = [&](bool lm, bool vision) {
    model->model->gradient_checkpointing = lm;
    model->visual->gradient_checkpointing = vision;
    model->zero_grad();
    torch::Tensor logp = completion_logprobs(model, p, comp, 3).logp;
    (logp * torch::linspace(-1, 1, logp.numel()).view(logp.sizes())).sum().backward();
    std::vector<torch::Tensor> g;
    for (auto& q : model->parameters())
      g.push_back(q.grad().defined() ? q.grad().flatten().clone() : torch::zeros({q.numel()}));
    return std::pair{logp.detach(), torch::cat(g)};
  };
  auto [lp0, g0] = run(false, false);
  EXPECT_GT(g0.abs().sum().item<double>(), 0.0);
  for (auto [lm, vision] : {std::pair{true, false}, std::pair{false, true}, std::pair{true, true}}) {
    SCOPED_TRACE(std::string("checkpointing: language model ") + (lm ? "on" : "off") + ", vision " +
                 (vision ? "on" : "off"));
    auto [lp1, g1] = run(lm, vision);
    EXPECT_LE((lp1 - lp0).abs().max().item<double>(), 1e-6);
    EXPECT_LE((g1 - g0).abs().max().item<double>(), 1e-6 * std::max(1.0, g0.abs().max().item<double>()));
  }
  model->model->gradient_checkpointing = false;
  model->visual->gradient_checkpointing = false;
}

TEST(Cuda, GreedyEqualsCpu) {
  if (!have_cuda()) GTEST_SKIP() << "no CUDA device";
  at::globalContext().setAllowTF32CuBLAS(false);
  auto cpu = tiny_model(torch::kFloat, torch::kCPU);
  auto gpu = tiny_model(torch::kFloat, torch::kCUDA);
  EncodedPrompt p = synthetic_prompts(cpu->cfg, 3, 12, 56, 5);
  GenerateConfig g = config(DecodeMode::eager, true);
  g.ignore_eos = true;
  RolloutBatch a = Generator(cpu, nullptr).generate(p, g);
  RolloutBatch b = Generator(gpu, nullptr).generate(p, g);
  expect_same(a, b, 1e-4);
}

TEST(Cuda, GraphEqualsEager) {
  if (!have_cuda()) GTEST_SKIP() << "no CUDA device";
  ASSERT_TRUE(DecodeStep::graphs_compiled());
  for (torch::Dtype dt : {torch::kFloat, torch::kBFloat16}) {
    auto model = tiny_model(dt, torch::kCUDA);
    Generator gen(model, nullptr);
    EncodedPrompt p = synthetic_prompts(model->cfg, 3, 12, 56, 5);
    p.pixel_values = p.pixel_values.to(dt);
    for (bool greedy : {true, false}) {
      GenerateConfig g = config(DecodeMode::eager, greedy);
      g.ignore_eos = true;
      RolloutBatch probe = gen.generate(p, g);
      g.ignore_eos = false;
      g.eos_token_ids = staggered_eos(probe);
      RolloutBatch eager = gen.generate(p, g);
      g.decode = DecodeMode::fixed;
      RolloutBatch fixed = gen.generate(p, g);
      g.decode = DecodeMode::graph;
      RolloutBatch graph = gen.generate(p, g);
      SCOPED_TRACE(std::string(dt == torch::kFloat ? "float32" : "bfloat16") + (greedy ? " greedy" : " sampled"));
      {
        SCOPED_TRACE("fixed vs fixed again");
        g.decode = DecodeMode::fixed;
        expect_same(fixed, gen.generate(p, g), 0.0);
      }
      {
        SCOPED_TRACE("graph vs fixed");
        expect_same(fixed, graph, 0.0);  // the same kernels, launched by the graph
      }
      if (dt == torch::kFloat) {
        SCOPED_TRACE("graph vs eager");
        expect_same(eager, graph, 1e-4);
      }
    }
  }
}

TEST(Cuda, AutocastBf16FollowsFp32) {
  if (!have_cuda()) GTEST_SKIP() << "no CUDA device";
  auto model = tiny_model(torch::kFloat, torch::kCUDA);
  model->train();
  model->model->gradient_checkpointing = true;  // the recomputation must autocast too
  EncodedPrompt p = synthetic_prompts(model->cfg, 2, 10, 56, 7);
  torch::Tensor comp = torch::randint(100, 5000, {4, 9}, torch::kLong);
  auto run = [&](std::optional<torch::ScalarType> ac) { return logprobs_and_grads(model, p, comp, ac); };
  auto [lp32, g32] = run(std::nullopt);
  auto [lp16, g16] = run(torch::kBFloat16);
  EXPECT_LE((lp16 - lp32).abs().mean().item<double>(), 0.1);
  EXPECT_LE((lp16 - lp32).abs().max().item<double>(), 0.5);
  EXPECT_GT((lp16 - lp32).abs().max().item<double>(), 0.0);
  EXPECT_GT(torch::cosine_similarity(g16, g32, 0).item<double>(), 0.99);
}
