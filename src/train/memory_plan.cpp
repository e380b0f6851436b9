// src/train/memory_plan.cpp: the per-rank memory of a training run (see the header).
//
// Activation sizes follow what autograd keeps for backward in modules.cpp, per token and
// decoder layer (a = the compute dtype's bytes; the residual stream and RMSNorm internals are
// float32 under autocast, as the norm computes in float32):
//   RMSNorm x2          input and normalised output                     2 x 2H x r
//   q, k, v inputs      one copy (3 under autocast: each Linear casts)  H x a (3H x a)
//   attention           rotated q, new k and v, output, o_proj input    (3H + 2 kv) x a
//   MLP                 gate/up inputs under autocast (2H x a), silu input and output, up,
//                       down's input                                    4I x a
// with r = 4 bytes under autocast and a otherwise, kv = kv_heads x head_dim. The vision tower
// keeps, per patch and block, about (9D + 3M) x a when it trains. With gradient checkpointing
// only each layer's input stays, plus one layer's activations during its recompute.
#include "visual_rft/train/memory_plan.h"

#include <fmt/format.h>

#include <algorithm>

#include "visual_rft/core/device.h"
#include "visual_rft/core/error.h"
#include "visual_rft/model/lora.h"
#include "visual_rft/train/run_util.h"

namespace vrft {

namespace {

constexpr double kGB = 1e9;

int64_t bytes_of(torch::Dtype d) { return static_cast<int64_t>(c10::elementSize(d)); }

}  // namespace

std::vector<ParamShape> parameter_shapes(const Qwen2VLConfig& m) {
  std::vector<ParamShape> out;
  auto linear = [&](const std::string& name, int64_t in, int64_t o, bool bias) {
    out.push_back({name + ".weight", in * o, in, o});
    if (bias) out.push_back({name + ".bias", o});
  };
  auto vec = [&](const std::string& name, int64_t n) { out.push_back({name, n}); };
  const VisionConfig& v = m.vision;
  const int64_t D = v.width, M = v.mlp_hidden, D4 = D * v.spatial_merge_size * v.spatial_merge_size;
  auto norm = [&](const std::string& name, int64_t n, bool rms) {
    vec(name + ".weight", n);
    if (!rms) vec(name + ".bias", n);
  };
  vec("visual.patch_embed.proj.weight", D * v.patch_dim());
  for (int64_t b = 0; b < v.depth; ++b) {
    const std::string p = "visual.blocks." + std::to_string(b);
    norm(p + ".norm1", D, v.qwen25);
    norm(p + ".norm2", D, v.qwen25);
    linear(p + ".attn.qkv", D, 3 * D, true);
    linear(p + ".attn.proj", D, D, true);
    if (v.qwen25) {
      linear(p + ".mlp.gate_proj", D, M, true);
      linear(p + ".mlp.up_proj", D, M, true);
      linear(p + ".mlp.down_proj", M, D, true);
    } else {
      linear(p + ".mlp.fc1", D, M, true);
      linear(p + ".mlp.fc2", M, D, true);
    }
  }
  norm("visual.merger.ln_q", D, v.qwen25);
  linear("visual.merger.mlp.0", D4, D4, true);
  linear("visual.merger.mlp.2", D4, v.out_hidden, true);

  const TextConfig& t = m.text;
  const int64_t H = t.hidden_size, I = t.intermediate_size, hd = t.head_dim();
  vec("model.embed_tokens.weight", t.vocab_size * H);
  for (int64_t l = 0; l < t.num_hidden_layers; ++l) {
    const std::string p = "model.layers." + std::to_string(l);
    linear(p + ".self_attn.q_proj", H, t.num_attention_heads * hd, true);
    linear(p + ".self_attn.k_proj", H, t.num_key_value_heads * hd, true);
    linear(p + ".self_attn.v_proj", H, t.num_key_value_heads * hd, true);
    linear(p + ".self_attn.o_proj", t.num_attention_heads * hd, H, false);
    linear(p + ".mlp.gate_proj", H, I, false);
    linear(p + ".mlp.up_proj", H, I, false);
    linear(p + ".mlp.down_proj", I, H, false);
    vec(p + ".input_layernorm.weight", H);
    vec(p + ".post_attention_layernorm.weight", H);
  }
  vec("model.norm.weight", H);
  if (!t.tie_word_embeddings) linear("lm_head", H, t.vocab_size, false);
  return out;
}

double MemoryPlan::peak_gb() const { return resident_gb + runtime_gb + std::max(rollout_gb, update_gb); }

MemoryPlan plan_memory(const Config& cfg, const Qwen2VLConfig& model, const PlanOptions& opt) {
  MemoryPlan plan;
  const torch::Device dev = opt.cuda ? torch::Device(torch::kCUDA, 0) : torch::Device(torch::kCPU);
  const Precision prec = resolve_precision(cfg, dev);
  const bool lora = cfg.lora.enabled();
  const int64_t W = std::max<int64_t>(1, opt.world_size);
  if (cfg.train.prompts_per_step % W != 0)
    throw ConfigError("train.prompts_per_step (" + std::to_string(cfg.train.prompts_per_step) +
                      ") must be a multiple of the world size (" + std::to_string(W) +
                      "): each rank takes an equal share");

  // ---- parameters: all, vision, trainable, adapters ----
  int64_t adapters = 0, vision_trainable = 0;
  for (const ParamShape& p : parameter_shapes(model)) {
    const bool vision = p.name.rfind("visual.", 0) == 0;
    plan.params += p.numel;
    if (vision) plan.vision_params += p.numel;
    const std::string module = p.name.substr(0, p.name.rfind('.'));
    const bool adapted = lora && p.in > 0 && lora_targeted(module, cfg.lora.target_modules);
    const int64_t a = adapted ? cfg.lora.r * (p.in + p.out) : 0;
    adapters += a;
    if (vision && cfg.train.freeze_vision) continue;
    plan.trainable += lora ? a : p.numel;
    if (vision) vision_trainable += lora ? a : p.numel;
  }
  const double P = static_cast<double>(plan.params), T = static_cast<double>(plan.trainable);
  const double w_bytes = static_cast<double>(bytes_of(prec.weights)),
               r_bytes = static_cast<double>(bytes_of(prec.rollout));
  plan.precision =
      prec.sharded_masters
          ? fmt::format("weights in {}, float32 masters sharded (ZeRO-2)", c10::toString(prec.weights))
          : fmt::format(
                "weights in {}{}{}", c10::toString(prec.weights),
                prec.autocast ? fmt::format(", {} autocast", c10::toString(*prec.autocast)) : std::string(),
                prec.separate_rollout() ? fmt::format(", rollouts in {}", c10::toString(prec.rollout)) : std::string());
  auto add = [&](const char* phase, const std::string& name, double bytes, std::string note) {
    plan.parts.push_back({phase, name, bytes / kGB, std::move(note)});
  };

  // ---- resident ----
  if (lora) {
    add("resident", "weights", P * r_bytes + 4.0 * static_cast<double>(adapters),
        fmt::format("base in {} (frozen) + {:.1f} M float32 adapter parameters", c10::toString(prec.rollout),
                    static_cast<double>(adapters) / 1e6));
  } else {
    add("resident", "weights", P * w_bytes,
        fmt::format("{:.1f} M parameters in {}", P / 1e6, c10::toString(prec.weights)));
    if (prec.separate_rollout())
      add("resident", "rollout copy", P * r_bytes,
          fmt::format("the policy in {} for generation", c10::toString(prec.rollout)));
    if (cfg.grpo.beta != 0.0 && cfg.train.trainer == TrainerKind::grpo)
      add("resident", "reference model", P * w_bytes, "grpo.beta > 0; computes as the policy does");
  }
  const Shard mode = cfg.distributed.mode();
  const double Wd = static_cast<double>(W);
  if (prec.sharded_masters) {  // ZeRO-2: float32 masters, gradient accumulator and moments of 1/W
    add("resident", "float32 master weights", 4.0 * T / Wd, fmt::format("1/{} of the trainable parameters", W));
    add("resident", "gradients", 4.0 * T / Wd, fmt::format("float32 accumulator of 1/{} of them (ZeRO-2)", W));
  } else {
    add("resident", "gradients", 4.0 * T, fmt::format("{:.1f} M trainable parameters, float32", T / 1e6));
  }
  const bool shard = mode != Shard::none && W > 1;
  add("resident", "AdamW moments", 8.0 * T / (shard ? Wd : 1.0),
      shard ? fmt::format("2 x float32, 1/{} of them (ZeRO-{})", W, mode == Shard::gradients ? 2 : 1) : "2 x float32");

  // ---- rollout: the KV cache of this rank's prompts x G ----
  const TextConfig& t = model.text;
  const double L = static_cast<double>(t.num_hidden_layers), H = static_cast<double>(t.hidden_size),
               I = static_cast<double>(t.intermediate_size), V = static_cast<double>(t.vocab_size);
  const double kv = static_cast<double>(t.num_key_value_heads * t.head_dim());
  const int64_t image_tokens = cfg.data.max_pixels / (28 * 28);
  plan.prompt_tokens = opt.prompt_tokens > 0 ? opt.prompt_tokens : image_tokens + 96;
  const double p_tok = static_cast<double>(plan.prompt_tokens),
               new_tok = static_cast<double>(cfg.rollout.max_new_tokens);
  const bool grpo = cfg.train.trainer == TrainerKind::grpo;
  const int64_t G = grpo ? cfg.rollout.num_generations : 1;
  const int64_t prompts_rank = std::max<int64_t>(1, cfg.train.prompts_per_step / W);
  if (grpo) {
    const int64_t B = cfg.rollout.batch_size > 0 ? std::min(cfg.rollout.batch_size, prompts_rank) : prompts_rank;
    const double rows = static_cast<double>(B * G);
    add("rollout", "KV cache", L * 2 * kv * rows * (p_tok + new_tok) * r_bytes,
        fmt::format("{} prompts x G = {} rows, {} + {} positions", B, B * G, plan.prompt_tokens,
                    cfg.rollout.max_new_tokens));
    add("rollout", "prompt cache while fanned out", L * 2 * kv * static_cast<double>(B) * p_tok * r_bytes, "");
    add("rollout", "sampling", rows * V * 4 * 4, "float32 logits and their softmax, cumsum");
  }

  // ---- update: one micro-batch's forward and backward ----
  const bool autocast = prec.autocast.has_value();
  // a: bytes of the activations the layers compute in; r: of the residual stream and the
  // norms, which compute in float32 whatever the weights are (RMSNorm and rotary upcast).
  const double a = autocast ? 2.0 : w_bytes, r = std::max(4.0, w_bytes);
  // A micro-batch: GRPO takes micro_batch_size / G prompts with their G completions each, SFT
  // micro_batch_size rows; neither more than this rank's share of the step.
  const int64_t mb_prompts =
      std::min(prompts_rank, grpo ? std::max<int64_t>(1, cfg.train.micro_batch_size / G) : cfg.train.micro_batch_size);
  const double n_prompts = static_cast<double>(mb_prompts), n_seq = static_cast<double>(mb_prompts * G);
  const double tokens = n_prompts * p_tok + n_seq * new_tok;
  const double per_token_layer =
      4 * H * r + (autocast ? 3 : 1) * H * a + (3 * H + 2 * kv) * a + (autocast ? 2 * H * a : 0.0) + 4 * I * a;
  const double prompt_kv = L * 2 * kv * n_seq * p_tok * a;  // the prompt's keys and values, per completion
  const bool ckpt = cfg.model.gradient_checkpointing;
  const double lm = ckpt ? L * tokens * H * r + tokens * per_token_layer : L * tokens * per_token_layer;
  add("update", ckpt ? "activations (checkpointed)" : "activations", lm,
      fmt::format("{:.0f} tokens x {} layers: {:.0f} prompt(s) of {} + {:.0f} {} of {}{}", tokens, t.num_hidden_layers,
                  n_prompts, plan.prompt_tokens, n_seq, grpo ? "completion(s)" : "answer(s)",
                  cfg.rollout.max_new_tokens, grpo ? "" : " at most (rollout.max_new_tokens)"));
  if (grpo) add("update", "prompt keys/values per completion", prompt_kv, "repeated for each of the G completions");
  if (prec.sharded_masters)  // a micro-batch's whole gradient exists until it is reduced to its owners
    add("update", "gradients of one micro-batch", T * w_bytes,
        fmt::format("in {}, freed after the reduction", c10::toString(prec.weights)));
  if (autocast) {  // autocast keeps the bf16 copy of each weight it casts until the forward ends
    const double cast = lora ? 2.0 * static_cast<double>(adapters) : P * 2.0;
    add("update", "autocast's weight copies", cast, "bf16 casts of the float32 weights, cached for the forward");
  }
  // The chunked log-probs' backward (grpo.cpp): a chunk's logits, softmax and its gradient in
  // float32 (plus the 16-bit logits and their gradient when the output layer computes in 16
  // bits), and, when the output layer trains, its weight gradient and one chunk's share.
  const double chunk = std::min(1024.0, n_seq * new_tok);
  const double narrow_logits = autocast || w_bytes < 4.0 ? 2 * chunk * V * 2.0 : 0.0;
  const bool head_trains = !lora;
  // Two V x H buffers: the output layer's gradient of the chunk and the running sum it is added
  // into; in float32, or with ZeRO-2 in the working dtype.
  const double head_grad = head_trains ? 2 * V * H * (prec.sharded_masters ? w_bytes : 4.0) : 0.0;
  add("update", "log-prob chunk", chunk * V * 4 * 4 + narrow_logits + tokens * H * r * 2 + head_grad,
      fmt::format("float32 logits of {:.0f} tokens at a time{}", chunk,
                  head_trains ? ", the output layer's gradient" : ""));
  if (vision_trainable > 0) {  // the tower keeps activations for its backward only when it trains
    const VisionConfig& v = model.vision;
    const double patches = n_prompts * static_cast<double>(cfg.data.max_pixels / (v.patch_size * v.patch_size));
    const double per = (9.0 * static_cast<double>(v.width) + 3.0 * static_cast<double>(v.mlp_hidden)) * a;
    add("update", "vision activations", patches * per * (ckpt ? 1.0 : static_cast<double>(v.depth)),
        fmt::format("{:.0f} patches x {} blocks", patches, v.depth));
  }

  // ---- runtime ----
  plan.runtime_gb = opt.runtime_gb >= 0 ? opt.runtime_gb : opt.cuda ? 0.75 : peak_rss_gb();
  add("runtime", opt.cuda ? "CUDA context and workspaces" : "the process (LibTorch, tokenizer, data)",
      plan.runtime_gb * kGB, opt.cuda ? "typical; not in torch's allocator statistics" : "measured here");

  for (const PlanPart& p : plan.parts) {
    if (p.phase == "resident") plan.resident_gb += p.gb;
    if (p.phase == "rollout") plan.rollout_gb += p.gb;
    if (p.phase == "update") plan.update_gb += p.gb;
  }
  return plan;
}

std::string MemoryPlan::table(double gpu_memory_gb) const {
  std::string s = "| phase | part | GB | |\n|---|---|---:|---|\n";
  for (const PlanPart& p : parts) s += fmt::format("| {} | {} | {:.2f} | {} |\n", p.phase, p.name, p.gb, p.note);
  s += fmt::format(
      "\nresident {:.2f} GB + runtime {:.2f} GB + the larger phase (rollout {:.2f} GB, update {:.2f} GB) = "
      "peak {:.2f} GB per rank\n",
      resident_gb, runtime_gb, rollout_gb, update_gb, peak_gb());
  if (gpu_memory_gb > 0)
    s += fmt::format("{} on a {:.0f} GB GPU ({:.0f} % of it)\n", peak_gb() <= gpu_memory_gb ? "fits" : "does NOT fit",
                     gpu_memory_gb, 100 * peak_gb() / gpu_memory_gb);
  return s;
}

}  // namespace vrft
