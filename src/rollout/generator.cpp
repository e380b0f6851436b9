// src/rollout/generator.cpp: the rollout loop (see the header for the phases).
//
// Bookkeeping: sequence s = b * G + j is the output row; during decoding it lives in a batch
// slot. slot_seq maps slots to sequences. When samples finish, the live rows at the tail
// move into the finished slots below the new batch size, so the cache copies only the rows
// that move; the small per-slot tensors (mask, positions, streams) are reordered alike.
// With fixed shapes (decode_step.h) a finished row stays in its slot, parked (slot_seq -1,
// its tokens ignored), until no more than half the slots are live; then the batch is
// compacted the same way and a new step (graph) is made for the smaller batch.
#include "visual_rft/rollout/generator.h"

#include <chrono>

#include "visual_rft/core/error.h"
#include "visual_rft/core/profile.h"
#include "visual_rft/rollout/decode_step.h"

#ifdef __has_include
#if __has_include(<torch/cuda.h>)
#include <torch/cuda.h>
#endif
#endif

namespace vrft {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0, const torch::Device& dev) {
  if (dev.is_cuda()) torch::cuda::synchronize();
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

}  // namespace

Generator::Generator(Qwen2VLForConditionalGeneration model, const Tokenizer* tokenizer)
    : model_(std::move(model)), tokenizer_(tokenizer) {}

RolloutBatch Generator::generate(const EncodedPrompt& prompts, const GenerateConfig& cfg) {
  validate(cfg.sampling);
  if (cfg.num_samples < 1) throw Error("rollout.num_generations must be >= 1, got " + std::to_string(cfg.num_samples));
  if (cfg.max_new_tokens < 1)
    throw Error("rollout.max_new_tokens must be >= 1, got " + std::to_string(cfg.max_new_tokens));
  torch::NoGradGuard no_grad;
  const torch::Device dev = model_->parameters().front().device();
  const int64_t B = prompts.batch(), G = cfg.num_samples, N = B * G, P = prompts.input_ids.size(1);
  const int64_t max_new = cfg.max_new_tokens, V = model_->cfg.text.vocab_size;
  if (!cfg.prompt_keys.empty() && static_cast<int64_t>(cfg.prompt_keys.size()) != B) {
    throw Error("generate: " + std::to_string(cfg.prompt_keys.size()) + " prompt keys for " + std::to_string(B) +
                " prompts");
  }
  std::vector<int64_t> eos = cfg.eos_token_ids.empty() ? model_->cfg.eos_token_ids : cfg.eos_token_ids;
  const bool use_graph = cfg.decode == DecodeMode::graph ||
                         (cfg.decode == DecodeMode::automatic && dev.is_cuda() && DecodeStep::graphs_compiled());
  const bool fixed = use_graph || cfg.decode == DecodeMode::fixed;
  RolloutBatch out;
  auto i64 = torch::TensorOptions().dtype(torch::kLong).device(dev);

  // ---- vision, once per prompt ----
  auto t0 = Clock::now();
  torch::Tensor ids = prompts.input_ids.to(dev), mask = prompts.attention_mask.to(dev), grid, feats;
  if (prompts.pixel_values.defined()) {
    ProfileRegion region("vrft::vision");
    grid = prompts.image_grid_thw;
    feats = model_->image_features(prompts.pixel_values.to(dev), grid.to(dev));
  }
  out.timing.vision_s = seconds_since(t0, dev);

  // ---- prefill, once per prompt ----
  t0 = Clock::now();
  RopeIndex rope = model_->rope_index(ids, mask, grid);
  KVCache prompt_cache;
  torch::Tensor logits;  // [B, V]
  {
    ProfileRegion region("vrft::prefill");
    logits = model_->forward({ids, mask, feats, rope.position_ids}, &prompt_cache, P - 1).select(1, 0);
  }
  out.timing.prefill_s = seconds_since(t0, dev);
  out.timing.prompt_tokens = mask.sum().item<int64_t>();

  // ---- fan out to B*G samples ----
  t0 = Clock::now();
  KVCache cache = prompt_cache.repeat_rows(G, P + max_new);
  prompt_cache = KVCache();
  torch::Tensor attn = torch::zeros({N, P + max_new}, i64);  // per slot
  attn.narrow(1, 0, P).copy_(mask.repeat_interleave(G, 0));
  torch::Tensor valid = mask.sum(1).repeat_interleave(G, 0);                // [N] tokens kept so far
  torch::Tensor deltas = rope.rope_deltas.to(dev).repeat_interleave(G, 0);  // [N]
  torch::Tensor seen;                                                       // [B, V], then [N, V]
  if (cfg.sampling.repetition_penalty != 1.0) {
    seen = torch::zeros({B, V}, torch::TensorOptions().dtype(torch::kFloat).device(dev));
    seen.scatter_add_(1, ids, mask.to(torch::kFloat));
  }
  // Uniform numbers of every sample and step, [N, max_new], made once on the host.
  torch::Tensor uniforms;
  if (!cfg.sampling.greedy) {
    std::vector<float> u(static_cast<size_t>(N * max_new));
    for (int64_t b = 0; b < B; ++b) {
      const uint64_t key = cfg.prompt_keys.empty() ? static_cast<uint64_t>(b) : cfg.prompt_keys[static_cast<size_t>(b)];
      for (int64_t j = 0; j < G; ++j) {
        const uint64_t stream = sample_stream(cfg.seed, key, static_cast<uint64_t>(j));
        for (int64_t t = 0; t < max_new; ++t) {
          u[static_cast<size_t>((b * G + j) * max_new + t)] =
              static_cast<float>(stream_uniform(stream, static_cast<uint64_t>(t)));
        }
      }
    }
    // float rounding can turn 1 - 2^-53 into 1.0f; keep the number below 1.
    uniforms = torch::from_blob(u.data(), {N, max_new}, torch::kFloat).clamp_max(0.99999994f).to(dev);
  }

  // ---- decode ----
  std::vector<std::vector<int64_t>> tokens(static_cast<size_t>(N));
  std::vector<std::vector<float>> logps(static_cast<size_t>(N));
  std::vector<std::string> reason(static_cast<size_t>(N), "length");
  std::vector<int64_t> slot_seq(static_cast<size_t>(N));
  for (int64_t s = 0; s < N; ++s) slot_seq[static_cast<size_t>(s)] = s;
  torch::Tensor slot_seq_t = torch::arange(N, i64);
  int64_t R = N;
  std::unique_ptr<DecodeStep> step;  // fixed shapes: made for R rows, remade after compaction
  // The first token of each sample comes from its prompt's logits: the filters run once per
  // prompt, then G draws. [B, G] -> [N] in sequence order.
  Sampled pick = sample_tokens(logits, cfg.sampling,
                               uniforms.defined() ? uniforms.select(1, 0).view({B, G}) : torch::Tensor(), seen);
  pick.tokens = pick.tokens.view({B, -1}).expand({B, G}).reshape({N});
  pick.logprobs = pick.logprobs.view({B, -1}).expand({B, G}).reshape({N});
  if (seen.defined()) seen = seen.repeat_interleave(G, 0);
  for (int64_t t = 0;; ++t) {
    ProfileRegion region("vrft::decode_step");  // sampling, bookkeeping and the next forward
    if (t > 0) {
      torch::Tensor u = uniforms.defined() ? uniforms.index_select(0, slot_seq_t).select(1, t) : torch::Tensor();
      pick = sample_tokens(logits, cfg.sampling, u, seen);
    }
    torch::Tensor tok_cpu = pick.tokens.to(torch::kCPU), lp_cpu = pick.logprobs.to(torch::kCPU);
    const int64_t* tk = tok_cpu.data_ptr<int64_t>();
    const float* lp = lp_cpu.data_ptr<float>();
    std::vector<int64_t> live, dead;
    for (int64_t s = 0; s < R; ++s) {
      if (slot_seq[static_cast<size_t>(s)] < 0) continue;  // parked
      const size_t seq = static_cast<size_t>(slot_seq[static_cast<size_t>(s)]);
      tokens[seq].push_back(tk[s]);
      logps[seq].push_back(lp[s]);
      bool stop = !cfg.ignore_eos && std::find(eos.begin(), eos.end(), tk[s]) != eos.end();
      if (stop) reason[seq] = "stop";
      (stop || t + 1 == max_new ? dead : live).push_back(s);
    }
    out.timing.generated_tokens += static_cast<int64_t>(live.size() + dead.size());
    out.timing.decode_steps = t + 1;
    if (live.empty()) break;

    torch::Tensor next = pick.tokens;
    if (fixed && static_cast<int64_t>(live.size()) * 2 > R) {
      for (int64_t s : dead) slot_seq[static_cast<size_t>(s)] = -1;  // park: keeps its slot and shapes
    } else if (static_cast<int64_t>(live.size()) < R) {
      // New order: slot i < R' keeps its row when live, else takes a live row from the tail.
      const int64_t R2 = static_cast<int64_t>(live.size());
      std::vector<int64_t> order(static_cast<size_t>(R2)), dst, src;
      std::vector<int64_t> tail;
      for (int64_t s : live)
        if (s >= R2) tail.push_back(s);
      size_t ti = 0;
      std::vector<char> is_live(static_cast<size_t>(R), 0);
      for (int64_t s : live) is_live[static_cast<size_t>(s)] = 1;
      for (int64_t i = 0; i < R2; ++i) {
        if (is_live[static_cast<size_t>(i)]) {
          order[static_cast<size_t>(i)] = i;
        } else {
          order[static_cast<size_t>(i)] = tail[ti++];
          dst.push_back(i);
          src.push_back(order[static_cast<size_t>(i)]);
        }
      }
      torch::Tensor order_t = torch::tensor(order, torch::kLong).to(dev);
      step.reset();  // it holds the old shapes
      cache.move_rows(torch::tensor(dst, torch::kLong), torch::tensor(src, torch::kLong), R2);
      attn = attn.index_select(0, order_t);
      valid = valid.index_select(0, order_t);
      deltas = deltas.index_select(0, order_t);
      slot_seq_t = slot_seq_t.index_select(0, order_t);
      next = next.index_select(0, order_t);
      if (seen.defined()) seen = seen.index_select(0, order_t);
      std::vector<int64_t> seqs(static_cast<size_t>(R2));
      for (int64_t i = 0; i < R2; ++i)
        seqs[static_cast<size_t>(i)] = slot_seq[static_cast<size_t>(order[static_cast<size_t>(i)])];
      slot_seq = std::move(seqs);
      R = R2;
    }
    if (seen.defined()) seen.scatter_add_(1, next.view({R, 1}), torch::ones({R, 1}, seen.options()));
    attn.select(1, P + t).fill_(1);
    torch::Tensor pos = decode_position_ids(valid, deltas, 1);
    valid = valid + 1;
    if (fixed) {
      if (!step) step = std::make_unique<DecodeStep>(model_, cache, attn, R, use_graph);
      logits = step->run(next, pos);
    } else {
      logits =
          model_->forward({next.view({R, 1}), attn.narrow(1, 0, P + t + 1), torch::Tensor(), pos}, &cache).select(1, 0);
    }
  }
  out.timing.decode_s = seconds_since(t0, dev);

  // ---- outputs, row b * G + j ----
  int64_t T = 0;
  for (const auto& t : tokens) T = std::max<int64_t>(T, static_cast<int64_t>(t.size()));
  out.completion_ids = torch::full({N, T}, cfg.pad_token_id, torch::kLong);
  out.completion_mask = torch::zeros({N, T}, torch::kLong);
  out.logprobs = torch::zeros({N, T}, torch::kFloat);
  auto ci = out.completion_ids.accessor<int64_t, 2>();
  auto cm = out.completion_mask.accessor<int64_t, 2>();
  auto cl = out.logprobs.accessor<float, 2>();
  for (int64_t s = 0; s < N; ++s) {
    const auto& tk = tokens[static_cast<size_t>(s)];
    bool ended = false;
    for (size_t i = 0; i < tk.size(); ++i) {
      ci[s][static_cast<int64_t>(i)] = tk[i];
      cl[s][static_cast<int64_t>(i)] = logps[static_cast<size_t>(s)][i];
      cm[s][static_cast<int64_t>(i)] = ended ? 0 : 1;
      if (std::find(eos.begin(), eos.end(), tk[i]) != eos.end()) ended = true;
    }
    out.prompt_index.push_back(s / G);
    out.finish_reasons.push_back(reason[static_cast<size_t>(s)]);
    if (tokenizer_) {
      // The embedding has padding rows past the tokenizer's vocabulary (151936 vs 151665 for
      // Qwen2-VL); a sampled padding id decodes to nothing, as in the tokenizers package.
      std::vector<int64_t> known;
      for (int64_t id : tk) {
        if (id < tokenizer_->vocab_size()) known.push_back(id);
      }
      out.texts.push_back(tokenizer_->decode(known, /*skip_special_tokens=*/true));
    } else {
      out.texts.emplace_back();
    }
  }
  return out;
}

RolloutBatch concat_rollouts(const std::vector<RolloutBatch>& parts, int64_t pad_token_id) {
  RolloutBatch out;
  int64_t T = 0, prompts = 0;
  for (const auto& p : parts) T = std::max(T, p.completion_ids.size(1));
  std::vector<torch::Tensor> ids, mask, logp;
  for (const auto& p : parts) {
    const int64_t pad = T - p.completion_ids.size(1);
    ids.push_back(torch::constant_pad_nd(p.completion_ids, {0, pad}, pad_token_id));
    mask.push_back(torch::constant_pad_nd(p.completion_mask, {0, pad}, 0));
    logp.push_back(torch::constant_pad_nd(p.logprobs, {0, pad}, 0));
    out.texts.insert(out.texts.end(), p.texts.begin(), p.texts.end());
    out.finish_reasons.insert(out.finish_reasons.end(), p.finish_reasons.begin(), p.finish_reasons.end());
    int64_t last = -1;
    for (int64_t i : p.prompt_index) {
      out.prompt_index.push_back(prompts + i);
      last = std::max(last, i);
    }
    prompts += last + 1;
    out.timing.vision_s += p.timing.vision_s;
    out.timing.prefill_s += p.timing.prefill_s;
    out.timing.decode_s += p.timing.decode_s;
    out.timing.prompt_tokens += p.timing.prompt_tokens;
    out.timing.generated_tokens += p.timing.generated_tokens;
    out.timing.decode_steps += p.timing.decode_steps;
  }
  out.completion_ids = torch::cat(ids, 0);
  out.completion_mask = torch::cat(mask, 0);
  out.logprobs = torch::cat(logp, 0);
  return out;
}

}  // namespace vrft
