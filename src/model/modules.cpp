// src/model/modules.cpp: forward passes of the Qwen2-VL / Qwen2.5-VL modules, mirroring the
// dtype points of transformers (transformers' modeling_qwen2_vl.py): vision RoPE in fp32 then cast back, text
// cos/sin cast to the activation dtype, RMSNorm casting back before the weight.
#include "visual_rft/model/modules.h"

#include <ATen/autocast_mode.h>

#include <algorithm>
#include <mutex>
#include <tuple>

#include "visual_rft/model/rope.h"

namespace vrft {

namespace nn = torch::nn;

// ---- gradient checkpointing ------------------------------------------------------------------------
//
// Runs a block without keeping its activations; backward runs it again with autograd on and
// back-propagates through the recomputation (the reentrant scheme of torch.utils.checkpoint).
// The recomputation draws from the device's generator as the forward did (its state is saved
// in the forward and restored around the recomputation, torch's preserve_rng_state), so that
// LoRA's dropout masks are the forward's.

namespace {

struct BlockFn : torch::CustomClassHolder {
  std::function<torch::Tensor(const std::vector<torch::Tensor>&)> fn;
  // The forward's autocast state, restored for the recomputation (autocast is off in backward).
  c10::DeviceType device = c10::DeviceType::CPU;
  bool autocast = false;
  c10::ScalarType autocast_dtype = c10::ScalarType::BFloat16;
  // The forward's generator (of the inputs' device) and its state before the forward.
  at::Generator generator;
  torch::Tensor rng_state;
};

torch::Tensor generator_state(at::Generator& g) {
  std::lock_guard<std::mutex> lock(g.mutex());
  return g.get_state();
}

void set_generator_state(at::Generator& g, const torch::Tensor& state) {
  std::lock_guard<std::mutex> lock(g.mutex());
  g.set_state(state);
}

struct CheckpointFunction : torch::autograd::Function<CheckpointFunction> {
  // The inputs come as a TensorList: autograd tracks each of its tensors (a std::vector
  // argument would be taken for a non-tensor and cut the graph).
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, at::TensorList inputs,
                               c10::intrusive_ptr<BlockFn> block) {
    ctx->saved_data["block"] = c10::IValue::make_capsule(block);
    ctx->save_for_backward(inputs.vec());
    return block->fn(inputs.vec());  // autograd is off inside a custom Function's forward
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grad) {
    auto block = c10::static_intrusive_pointer_cast<BlockFn>(ctx->saved_data["block"].toCapsule());
    // Fresh leaves for the inputs that need a gradient; the rest enter as they are.
    std::vector<torch::Tensor> in;
    for (const auto& t : ctx->get_saved_variables()) {
      in.push_back(t.defined() && t.requires_grad() ? t.detach().requires_grad_(true) : t);
    }
    torch::Tensor y;
    {
      torch::AutoGradMode on(true);
      const bool prev = at::autocast::is_autocast_enabled(block->device);
      const c10::ScalarType prev_dtype = at::autocast::get_autocast_dtype(block->device);
      at::autocast::set_autocast_dtype(block->device, block->autocast_dtype);
      at::autocast::set_autocast_enabled(block->device, block->autocast);
      // As torch.amp.autocast does: count the nesting and drop the cast cache when leaving the
      // outermost scope. Otherwise the bf16 copies of the weights made here outlive the optimiser
      // step and the next forward reuses them (stale weights), and stay resident meanwhile.
      if (block->autocast) at::autocast::increment_nesting();
      const torch::Tensor rng_now = generator_state(block->generator);
      set_generator_state(block->generator, block->rng_state);  // the forward's draws again
      y = block->fn(in);
      set_generator_state(block->generator, rng_now);
      if (block->autocast && at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
      at::autocast::set_autocast_enabled(block->device, prev);
      at::autocast::set_autocast_dtype(block->device, prev_dtype);
    }
    torch::autograd::backward({y}, {grad[0]});  // parameter gradients accumulate here
    torch::autograd::variable_list out;
    for (const auto& t : in) out.push_back(t.defined() && t.requires_grad() ? t.grad() : torch::Tensor());
    out.emplace_back();  // block
    return out;
  }
};

}  // namespace

torch::Tensor checkpoint(std::function<torch::Tensor(const std::vector<torch::Tensor>&)> fn,
                         const std::vector<torch::Tensor>& inputs, bool trains) {
  if (!torch::GradMode::is_enabled()) return fn(inputs);
  std::vector<torch::Tensor> in = inputs;
  if (std::none_of(in.begin(), in.end(), [](const torch::Tensor& t) { return t.defined() && t.requires_grad(); })) {
    if (!trains) return fn(in);  // nothing here needs a gradient: no graph is kept anyway
    // The block's parameters need gradients but none of its inputs does (a frozen embedding
    // under LoRA): a reentrant checkpoint's output would then need none and its backward would
    // never run. The first input becomes a leaf that needs one (PEFT's
    // enable_input_require_grads); its gradient is computed and dropped.
    in[0] = in[0].detach().requires_grad_(true);
  }
  auto block = c10::make_intrusive<BlockFn>();
  block->fn = std::move(fn);
  block->device = inputs.front().device().type();
  block->autocast = at::autocast::is_autocast_enabled(block->device);
  block->autocast_dtype = at::autocast::get_autocast_dtype(block->device);
  block->generator = at::globalContext().defaultGenerator(inputs.front().device());
  block->rng_state = generator_state(block->generator);
  return CheckpointFunction::apply(at::TensorList(in), block);
}

torch::Tensor checkpoint(std::function<torch::Tensor(const torch::Tensor&)> fn, const torch::Tensor& x, bool trains) {
  return checkpoint([fn = std::move(fn)](const std::vector<torch::Tensor>& in) { return fn(in[0]); },
                    std::vector<torch::Tensor>{x}, trains);
}

bool has_trainable_parameters(const torch::nn::Module& m) {
  for (const auto& p : m.parameters())
    if (p.requires_grad()) return true;
  return false;
}

NormImpl::NormImpl(int64_t dim, double eps_, bool rms_) : eps(eps_), rms(rms_) {
  weight = register_parameter("weight", torch::ones({dim}));
  if (!rms) bias = register_parameter("bias", torch::zeros({dim}));
}

torch::Tensor NormImpl::forward(const torch::Tensor& x) {
  if (!rms) return torch::layer_norm(x, {x.size(-1)}, weight, bias, eps);
  torch::Tensor x32 = x.to(torch::kFloat);
  x32 = x32 * torch::rsqrt(x32.pow(2).mean(-1, true) + eps);
  return weight * x32.to(x.scalar_type());
}

LinearImpl::LinearImpl(int64_t in, int64_t out, bool with_bias) {
  nn::Linear init(nn::LinearOptions(in, out).bias(with_bias));  // torch's initialisation, same draws
  weight = register_parameter("weight", init->weight);
  if (with_bias) bias = register_parameter("bias", init->bias);
}

torch::Tensor LinearImpl::forward(const torch::Tensor& x) {
  torch::Tensor y = torch::nn::functional::linear(x, weight, bias);  // nn::Linear's forward
  if (!lora_A || !lora_enabled) return y;
  // PEFT's LoraLayer: the adapter's input is dropped out (training only) and cast to the
  // adapter's dtype (float32 beside a bf16 base), its output scaled and cast back.
  torch::Tensor h = x.to(lora_A->weight.scalar_type());
  if (lora_dropout > 0)
    h = nn::functional::dropout(h, nn::functional::DropoutFuncOptions().p(lora_dropout).training(is_training()));
  return y + (lora_B(lora_A(h)) * lora_scale).to(y.scalar_type());
}

// ---- vision -----------------------------------------------------------------------------------------

PatchEmbedImpl::PatchEmbedImpl(const VisionConfig& c) : cfg(c) {
  auto k = std::vector<int64_t>{c.temporal_patch_size, c.patch_size, c.patch_size};
  proj = register_module("proj", nn::Conv3d(nn::Conv3dOptions(c.in_channels, c.width, k).stride(k).bias(false)));
}

torch::Tensor PatchEmbedImpl::forward(const torch::Tensor& pixel_values) {
  torch::Tensor x = pixel_values.to(proj->weight.scalar_type())
                        .view({-1, cfg.in_channels, cfg.temporal_patch_size, cfg.patch_size, cfg.patch_size});
  return proj(x).view({-1, cfg.width});
}

VisionAttentionImpl::VisionAttentionImpl(const VisionConfig& c) : num_heads(c.num_heads) {
  qkv = register_module("qkv", Linear(c.width, 3 * c.width, true));
  proj = register_module("proj", Linear(c.width, c.width, true));
}

torch::Tensor VisionAttentionImpl::forward(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin,
                                           const std::vector<int64_t>& cu) {
  const int64_t N = x.size(0);
  auto qkv3 = qkv(x).reshape({N, 3, num_heads, -1}).permute({1, 0, 2, 3});  // [3, N, heads, hd]
  torch::Tensor q = qkv3[0], k = qkv3[1], v = qkv3[2];
  // RoPE in fp32, then back to the activation dtype.
  torch::Tensor c = cos.unsqueeze(-2), s = sin.unsqueeze(-2);  // [N, 1, hd]
  q = apply_rotary(q.to(torch::kFloat), c, s).to(x.scalar_type());
  k = apply_rotary(k.to(torch::kFloat), c, s).to(x.scalar_type());
  q = q.transpose(0, 1).unsqueeze(0);  // [1, heads, N, hd]
  k = k.transpose(0, 1).unsqueeze(0);
  v = v.transpose(0, 1).unsqueeze(0);
  // Block-diagonal: each image (or window) attends only to itself.
  std::vector<torch::Tensor> parts;
  for (size_t i = 0; i + 1 < cu.size(); ++i) {
    int64_t a = cu[i], n = cu[i + 1] - cu[i];
    parts.push_back(at::scaled_dot_product_attention(q.narrow(2, a, n), k.narrow(2, a, n), v.narrow(2, a, n)));
  }
  torch::Tensor out = torch::cat(parts, 2).squeeze(0).transpose(0, 1).reshape({N, -1});  // [N, D]
  return proj(out);
}

VisionMlpImpl::VisionMlpImpl(const VisionConfig& c) : act(c.hidden_act), swiglu(c.qwen25) {
  if (swiglu) {
    gate_proj = register_module("gate_proj", Linear(c.width, c.mlp_hidden, true));
    up_proj = register_module("up_proj", Linear(c.width, c.mlp_hidden, true));
    down_proj = register_module("down_proj", Linear(c.mlp_hidden, c.width, true));
  } else {
    fc1 = register_module("fc1", Linear(c.width, c.mlp_hidden, true));
    fc2 = register_module("fc2", Linear(c.mlp_hidden, c.width, true));
  }
}

namespace {
torch::Tensor activation(const std::string& act, const torch::Tensor& x) {
  if (act == "quick_gelu") return x * torch::sigmoid(1.702 * x);
  if (act == "silu") return torch::silu(x);
  return torch::gelu(x);
}
}  // namespace

torch::Tensor VisionMlpImpl::forward(const torch::Tensor& x) {
  if (swiglu) return down_proj(activation(act, gate_proj(x)) * up_proj(x));
  return fc2(activation(act, fc1(x)));
}

VisionBlockImpl::VisionBlockImpl(const VisionConfig& c) {
  norm1 = register_module("norm1", Norm(c.width, 1e-6, c.qwen25));
  norm2 = register_module("norm2", Norm(c.width, 1e-6, c.qwen25));
  attn = register_module("attn", VisionAttention(c));
  mlp = register_module("mlp", VisionMlp(c));
}

torch::Tensor VisionBlockImpl::forward(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin,
                                       const std::vector<int64_t>& cu) {
  torch::Tensor h = x + attn(norm1(x), cos, sin, cu);
  return h + mlp(norm2(h));
}

PatchMergerImpl::PatchMergerImpl(const VisionConfig& c) {
  const int64_t d = c.width * c.spatial_merge_size * c.spatial_merge_size;
  ln_q = register_module("ln_q", Norm(c.width, 1e-6, c.qwen25));
  mlp = register_module("mlp", nn::Sequential(Linear(d, d, true), nn::GELU(), Linear(d, c.out_hidden, true)));
}

torch::Tensor PatchMergerImpl::forward(const torch::Tensor& x) {
  const int64_t d = mlp[0]->as<LinearImpl>()->weight.size(1);
  return mlp->forward(ln_q(x).view({-1, d}));  // 4 consecutive rows = one 2x2 block
}

VisionTransformerImpl::VisionTransformerImpl(const VisionConfig& c) : cfg(c) {
  patch_embed = register_module("patch_embed", PatchEmbed(c));
  blocks = register_module("blocks", nn::ModuleList());
  for (int64_t i = 0; i < c.depth; ++i) blocks->push_back(VisionBlock(c));
  merger = register_module("merger", PatchMerger(c));
}

torch::Tensor VisionTransformerImpl::forward(const torch::Tensor& pixel_values, const torch::Tensor& image_grid_thw) {
  torch::Tensor x = patch_embed(pixel_values);  // [N, D]
  const int64_t N = x.size(0), unit = cfg.spatial_merge_size * cfg.spatial_merge_size;
  auto [cos, sin] =
      vision_cos_sin(vision_patch_positions(image_grid_thw, cfg.spatial_merge_size).to(x.device()), cfg.head_dim());
  std::vector<int64_t> cu = vision_cu_seqlens(image_grid_thw);
  WindowIndex win;
  if (cfg.qwen25) {
    // Reorder patches (in units of one merge block) window by window; undone after the merger.
    win = vision_window_index(image_grid_thw, cfg.spatial_merge_size, cfg.window_size, cfg.patch_size);
    torch::Tensor idx = win.window_index.to(x.device());
    auto permute = [&](const torch::Tensor& t) {
      return t.reshape({N / unit, unit, -1}).index_select(0, idx).reshape({N, -1});
    };
    x = permute(x);
    cos = permute(cos);
    sin = permute(sin);
  }
  for (size_t i = 0; i < blocks->size(); ++i) {
    bool full = !cfg.qwen25 || std::find(cfg.fullatt_block_indexes.begin(), cfg.fullatt_block_indexes.end(),
                                         static_cast<int64_t>(i)) != cfg.fullatt_block_indexes.end();
    auto block = blocks[i]->as<VisionBlock>();
    const std::vector<int64_t>& segments = full ? cu : win.cu_window_seqlens;
    if (gradient_checkpointing) {
      x = checkpoint(
          [block, cos, sin, segments](const torch::Tensor& h) { return block->forward(h, cos, sin, segments); }, x,
          has_trainable_parameters(*block));
    } else {
      x = block->forward(x, cos, sin, segments);
    }
  }
  torch::Tensor merged = merger(x);  // [N / 4, out_hidden]
  if (cfg.qwen25) merged = merged.index_select(0, torch::argsort(win.window_index.to(x.device())));
  return merged;
}

// ---- language model -------------------------------------------------------------------------------

Qwen2AttentionImpl::Qwen2AttentionImpl(const TextConfig& c)
    : heads(c.num_attention_heads), kv_heads(c.num_key_value_heads), head_dim(c.head_dim()) {
  q_proj = register_module("q_proj", Linear(c.hidden_size, heads * head_dim, true));
  k_proj = register_module("k_proj", Linear(c.hidden_size, kv_heads * head_dim, true));
  v_proj = register_module("v_proj", Linear(c.hidden_size, kv_heads * head_dim, true));
  o_proj = register_module("o_proj", Linear(heads * head_dim, c.hidden_size, false));
}

torch::Tensor Qwen2AttentionImpl::forward(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin,
                                          const torch::Tensor& mask, KVCache* cache, size_t layer) {
  const int64_t B = x.size(0), S = x.size(1);
  torch::Tensor q = q_proj(x).view({B, S, heads, head_dim}).transpose(1, 2);  // [B, heads, S, hd]
  torch::Tensor k = k_proj(x).view({B, S, kv_heads, head_dim}).transpose(1, 2);
  torch::Tensor v = v_proj(x).view({B, S, kv_heads, head_dim}).transpose(1, 2);
  torch::Tensor c = cos.unsqueeze(1), s = sin.unsqueeze(1);  // [B, 1, S, hd]
  q = apply_rotary(q, c, s);
  k = apply_rotary(k, c, s);
  if (cache) std::tie(k, v) = cache->append(layer, k, v);
  // GQA: kv head j serves query heads j*g ... j*g + g - 1.
  const int64_t g = heads / kv_heads;
  if (g > 1 && S == 1) {
    // One new token per row (decoding): the g query heads of a kv head become g query rows
    // against that head's keys, so no copy of the cache is made. mask [B, 1, 1, T] broadcasts.
    torch::Tensor out = at::scaled_dot_product_attention(q.reshape({B, kv_heads, g, head_dim}), k, v, mask);
    return o_proj(out.reshape({B, 1, heads * head_dim}));
  }
  if (g > 1) {
    k = k.repeat_interleave(g, 1);
    v = v.repeat_interleave(g, 1);
  }
  torch::Tensor out = at::scaled_dot_product_attention(q, k, v, mask);  // [B, heads, S, hd]
  return o_proj(out.transpose(1, 2).reshape({B, S, heads * head_dim}));
}

std::pair<torch::Tensor, torch::Tensor> KVCache::append(size_t layer, const torch::Tensor& k_new,
                                                        const torch::Tensor& v_new) {
  if (k.size() <= layer) k.resize(layer + 1), v.resize(layer + 1);
  const int64_t S = k_new.size(2);
  if (write_pos.defined()) {  // fixed shapes: the step's position is a device tensor
    k[layer].index_copy_(2, write_pos, k_new);
    v[layer].index_copy_(2, write_pos, v_new);
    return {k[layer], v[layer]};
  }
  if (!k[layer].defined()) {
    k[layer] = k_new;
    v[layer] = v_new;
  } else if (k[layer].size(2) >= len + S) {  // room reserved: write in place
    k[layer].narrow(2, len, S).copy_(k_new);
    v[layer].narrow(2, len, S).copy_(v_new);
  } else {
    k[layer] = torch::cat({k[layer].narrow(2, 0, len), k_new}, 2);
    v[layer] = torch::cat({v[layer].narrow(2, 0, len), v_new}, 2);
  }
  return {k[layer].narrow(2, 0, len + S), v[layer].narrow(2, 0, len + S)};
}

KVCache KVCache::repeat_rows(int64_t times, int64_t capacity) const {
  KVCache out;
  out.len = len;
  for (size_t i = 0; i < k.size(); ++i) {
    for (auto [src, dst] : {std::pair{&k[i], &out.k}, std::pair{&v[i], &out.v}}) {
      const auto& t = *src;  // [rows, kvh, >= len, hd]
      // Zeros, not empty: fixed-shape decoding attends over the unwritten positions with
      // weight 0, and 0 * NaN from stale memory would still be NaN.
      torch::Tensor buf = torch::zeros({t.size(0) * times, t.size(1), std::max(capacity, len), t.size(3)}, t.options());
      buf.narrow(2, 0, len).copy_(t.narrow(2, 0, len).repeat_interleave(times, 0));
      dst->push_back(buf);
    }
  }
  return out;
}

void KVCache::move_rows(const torch::Tensor& dst, const torch::Tensor& src, int64_t keep) {
  for (auto* list : {&k, &v}) {
    for (auto& t : *list) {
      if (dst.numel()) {
        const auto d = dst.to(t.device()), s = src.to(t.device());
        t.index_copy_(0, d, t.index_select(0, s));
      }
      t = t.narrow(0, 0, keep);
    }
  }
}

Qwen2MLPImpl::Qwen2MLPImpl(const TextConfig& c) {
  gate_proj = register_module("gate_proj", Linear(c.hidden_size, c.intermediate_size, false));
  up_proj = register_module("up_proj", Linear(c.hidden_size, c.intermediate_size, false));
  down_proj = register_module("down_proj", Linear(c.intermediate_size, c.hidden_size, false));
}

torch::Tensor Qwen2MLPImpl::forward(const torch::Tensor& x) {
  return down_proj(torch::silu(gate_proj(x)) * up_proj(x));
}

Qwen2DecoderLayerImpl::Qwen2DecoderLayerImpl(const TextConfig& c) {
  self_attn = register_module("self_attn", Qwen2Attention(c));
  mlp = register_module("mlp", Qwen2MLP(c));
  input_layernorm = register_module("input_layernorm", Norm(c.hidden_size, c.rms_norm_eps, true));
  post_attention_layernorm = register_module("post_attention_layernorm", Norm(c.hidden_size, c.rms_norm_eps, true));
}

torch::Tensor Qwen2DecoderLayerImpl::forward(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin,
                                             const torch::Tensor& mask, KVCache* cache, size_t layer) {
  torch::Tensor h = x + self_attn(input_layernorm(x), cos, sin, mask, cache, layer);
  return h + mlp(post_attention_layernorm(h));
}

Qwen2ModelImpl::Qwen2ModelImpl(const TextConfig& c) : cfg(c) {
  embed_tokens = register_module("embed_tokens", nn::Embedding(c.vocab_size, c.hidden_size));
  layers = register_module("layers", nn::ModuleList());
  for (int64_t i = 0; i < c.num_hidden_layers; ++i) layers->push_back(Qwen2DecoderLayer(c));
  norm = register_module("norm", Norm(c.hidden_size, c.rms_norm_eps, true));
}

torch::Tensor Qwen2ModelImpl::forward(const torch::Tensor& inputs_embeds, const torch::Tensor& position_ids,
                                      const torch::Tensor& mask, KVCache* cache) {
  auto [cos, sin] =
      mrope_cos_sin(position_ids, cfg.head_dim(), cfg.rope_theta, cfg.mrope_section, inputs_embeds.scalar_type());
  torch::Tensor h = inputs_embeds;
  bool consumed = false;
  for (size_t i = 0; i < layers->size(); ++i) {
    auto layer = layers[i]->as<Qwen2DecoderLayer>();
    if (gradient_checkpointing && !cache) {
      h = checkpoint([layer, cos = cos, sin = sin, mask,
                      i](const torch::Tensor& x) { return layer->forward(x, cos, sin, mask, nullptr, i); },
                     h, has_trainable_parameters(*layer));
    } else if (gradient_checkpointing && torch::GradMode::is_enabled() && !cache->fixed_shape() && cache->len > 0) {
      // A pass with gradients over a cached prompt (completion log-probs): the layer's past
      // keys and values become inputs of the checkpoint, so their gradients reach the
      // prompt's pass; the recomputation appends to a private copy of the cache. The cache
      // itself is consumed (emptied) at the end: no later step may read it.
      const int64_t past = cache->len;
      torch::Tensor kp = cache->k[i].narrow(2, 0, past), vp = cache->v[i].narrow(2, 0, past);
      h = checkpoint(
          [layer, cos = cos, sin = sin, mask, i, past](const std::vector<torch::Tensor>& in) {
            KVCache own;
            own.len = past;
            own.k.resize(i + 1);
            own.v.resize(i + 1);
            own.k[i] = in[1];
            own.v[i] = in[2];
            return layer->forward(in[0], cos, sin, mask, &own, i);
          },
          {h, kp, vp}, has_trainable_parameters(*layer));
      consumed = true;
    } else {
      h = layer->forward(h, cos, sin, mask, cache, i);
    }
  }
  if (consumed) {
    *cache = KVCache();
  } else if (cache) {
    cache->advance(inputs_embeds.size(1));
  }
  return norm(h);
}

}  // namespace vrft
