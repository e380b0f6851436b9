// visual_rft/model/modules.h: the Qwen2-VL / Qwen2.5-VL modules, named like the checkpoint
// keys so that named_parameters() equals the safetensors names:
//   visual.patch_embed.proj, visual.blocks.N.{norm1, norm2, attn.{qkv, proj},
//   mlp.{fc1, fc2} | mlp.{gate_proj, up_proj, down_proj}}, visual.merger.{ln_q, mlp.0, mlp.2},
//   model.embed_tokens, model.layers.N.{self_attn.{q,k,v,o}_proj, mlp.{gate,up,down}_proj,
//   input_layernorm, post_attention_layernorm}, model.norm, lm_head.
// Shapes: N patches, D vision width, B batch, S tokens, H hidden, hd head dim.
#pragma once

#include <torch/torch.h>

#include <functional>
#include <vector>

#include "visual_rft/model/config.h"

namespace vrft {

// Runs fn(x) keeping no activations; backward recomputes it (gradient checkpointing).
// Without grad mode it is a plain call. `trains`: the block has parameters that need
// gradients (has_trainable_parameters); when none of its inputs needs one, the first input is
// made a leaf that does, so that the backward still reaches the block (a frozen embedding
// under LoRA); when neither does, it is a plain call.
torch::Tensor checkpoint(std::function<torch::Tensor(const torch::Tensor&)> fn, const torch::Tensor& x,
                         bool trains = true);
// The same for a block of several inputs; gradients flow to each input that requires one.
torch::Tensor checkpoint(std::function<torch::Tensor(const std::vector<torch::Tensor>&)> fn,
                         const std::vector<torch::Tensor>& inputs, bool trains = true);
bool has_trainable_parameters(const torch::nn::Module& m);

// torch::nn::Linear (same parameters, initialisation and arithmetic) with room for a LoRA
// adapter (model/lora.h): y = x W^T + b + lora_scale * lora_B(lora_A(dropout(x))).
// weight [out, in], bias [out] or undefined; lora_A [r, in], lora_B [out, r] when adapted.
struct LinearImpl : torch::nn::Module {
  LinearImpl(int64_t in, int64_t out, bool bias);
  torch::Tensor forward(const torch::Tensor& x);
  torch::Tensor weight, bias;
  torch::nn::Linear lora_A{nullptr}, lora_B{nullptr};
  double lora_scale = 0, lora_dropout = 0;
  bool lora_enabled = true;  // false: the base layer alone
};
TORCH_MODULE(Linear);

// Qwen2RMSNorm (normalise in fp32, cast back, then scale) or LayerNorm (weight + bias).
struct NormImpl : torch::nn::Module {
  NormImpl(int64_t dim, double eps, bool rms);
  torch::Tensor forward(const torch::Tensor& x);
  torch::Tensor weight, bias;  // bias only for LayerNorm
  double eps;
  bool rms;
};
TORCH_MODULE(Norm);

// ---- vision tower -----------------------------------------------------------------------------

struct PatchEmbedImpl : torch::nn::Module {
  explicit PatchEmbedImpl(const VisionConfig& c);
  torch::Tensor forward(const torch::Tensor& pixel_values);  // [N, 1176] -> [N, D]
  torch::nn::Conv3d proj{nullptr};
  VisionConfig cfg;
};
TORCH_MODULE(PatchEmbed);

struct VisionAttentionImpl : torch::nn::Module {
  explicit VisionAttentionImpl(const VisionConfig& c);
  // x [N, D]; cos, sin [N, hd] fp32; attention within each [cu[i], cu[i+1]) segment only.
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin,
                        const std::vector<int64_t>& cu_seqlens);
  Linear qkv{nullptr}, proj{nullptr};
  int64_t num_heads;
};
TORCH_MODULE(VisionAttention);

// fc2(act(fc1(x))) for Qwen2-VL; down(act(gate(x)) * up(x)) with biases for Qwen2.5-VL.
struct VisionMlpImpl : torch::nn::Module {
  explicit VisionMlpImpl(const VisionConfig& c);
  torch::Tensor forward(const torch::Tensor& x);
  Linear fc1{nullptr}, fc2{nullptr}, gate_proj{nullptr}, up_proj{nullptr}, down_proj{nullptr};
  std::string act;
  bool swiglu;
};
TORCH_MODULE(VisionMlp);

struct VisionBlockImpl : torch::nn::Module {
  explicit VisionBlockImpl(const VisionConfig& c);
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin,
                        const std::vector<int64_t>& cu_seqlens);
  Norm norm1{nullptr}, norm2{nullptr};
  VisionAttention attn{nullptr};
  VisionMlp mlp{nullptr};
};
TORCH_MODULE(VisionBlock);

struct PatchMergerImpl : torch::nn::Module {
  explicit PatchMergerImpl(const VisionConfig& c);
  torch::Tensor forward(const torch::Tensor& x);  // [N, D] -> [N / 4, out_hidden]
  Norm ln_q{nullptr};
  torch::nn::Sequential mlp{nullptr};  // 0: Linear(4D, 4D), 1: GELU (exact), 2: Linear(4D, out)
};
TORCH_MODULE(PatchMerger);

struct VisionTransformerImpl : torch::nn::Module {
  explicit VisionTransformerImpl(const VisionConfig& c);
  // pixel_values [N, 1176], image_grid_thw [I, 3] -> merged features [N / 4, out_hidden],
  // in the order of the <|image_pad|> tokens.
  torch::Tensor forward(const torch::Tensor& pixel_values, const torch::Tensor& image_grid_thw);
  PatchEmbed patch_embed{nullptr};
  torch::nn::ModuleList blocks{nullptr};
  PatchMerger merger{nullptr};
  VisionConfig cfg;
  bool gradient_checkpointing = false;
};
TORCH_MODULE(VisionTransformer);

// ---- language model ---------------------------------------------------------------------------

// Keys and values of the past positions, per decoder layer: buffers [rows, kv_heads,
// capacity, hd] whose first `len` positions are valid. Without room to spare, each step
// concatenates (capacity == len; what a single forward with a cache needs). The generator
// gives every row room for its whole completion (repeat_rows), so a decode step writes in
// place, and drops finished rows by moving live rows into their slots (move_rows), which
// copies only the rows that move.
//
// Fixed-shape mode (CUDA graphs): when `write_pos` ([1] int64 on the device, = len) is set,
// append() writes there with index_copy_ and returns the whole buffers, so every decode step
// has the same shapes and addresses; the attention mask [rows, capacity] then hides the
// positions not written yet.
struct KVCache {
  std::vector<torch::Tensor> k, v;
  int64_t len = 0;
  torch::Tensor write_pos;

  int64_t length() const { return len; }
  int64_t capacity() const { return k.empty() ? 0 : k[0].size(2); }
  bool fixed_shape() const { return write_pos.defined(); }
  int64_t rows() const { return k.empty() ? 0 : k[0].size(0); }
  // Stores the S new positions of `layer` (k_new, v_new [rows, kvh, S, hd]) after the valid
  // ones and returns keys and values of positions [0, len + S). advance(S) after all layers.
  std::pair<torch::Tensor, torch::Tensor> append(size_t layer, const torch::Tensor& k_new, const torch::Tensor& v_new);
  void advance(int64_t steps) { len += steps; }
  // A cache whose row r * times + j is row r of this one, with room for `capacity` positions.
  KVCache repeat_rows(int64_t times, int64_t capacity) const;
  // Row dst[i] takes the contents of row src[i] (dst and src [n] int64, disjoint), then only
  // the first `keep` rows remain (a view of the same buffers).
  void move_rows(const torch::Tensor& dst, const torch::Tensor& src, int64_t keep);
};

struct Qwen2AttentionImpl : torch::nn::Module {
  explicit Qwen2AttentionImpl(const TextConfig& c);
  // x [B, S, H]; cos, sin [B, S, hd]; mask [B, 1, S, T] bool (true = attend), T = cached + S.
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin,
                        const torch::Tensor& mask, KVCache* cache, size_t layer);
  Linear q_proj{nullptr}, k_proj{nullptr}, v_proj{nullptr}, o_proj{nullptr};
  int64_t heads, kv_heads, head_dim;
};
TORCH_MODULE(Qwen2Attention);

struct Qwen2MLPImpl : torch::nn::Module {
  explicit Qwen2MLPImpl(const TextConfig& c);
  torch::Tensor forward(const torch::Tensor& x);  // down(silu(gate(x)) * up(x))
  Linear gate_proj{nullptr}, up_proj{nullptr}, down_proj{nullptr};
};
TORCH_MODULE(Qwen2MLP);

struct Qwen2DecoderLayerImpl : torch::nn::Module {
  explicit Qwen2DecoderLayerImpl(const TextConfig& c);
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin,
                        const torch::Tensor& mask, KVCache* cache, size_t layer);
  Qwen2Attention self_attn{nullptr};
  Qwen2MLP mlp{nullptr};
  Norm input_layernorm{nullptr}, post_attention_layernorm{nullptr};
};
TORCH_MODULE(Qwen2DecoderLayer);

struct Qwen2ModelImpl : torch::nn::Module {
  explicit Qwen2ModelImpl(const TextConfig& c);
  // inputs_embeds [B, S, H] -> final hidden states [B, S, H] (after model.norm). With
  // gradient_checkpointing, grad mode and a (non-fixed) cache, the cache is consumed.
  torch::Tensor forward(const torch::Tensor& inputs_embeds, const torch::Tensor& position_ids,
                        const torch::Tensor& mask, KVCache* cache);
  torch::nn::Embedding embed_tokens{nullptr};
  torch::nn::ModuleList layers{nullptr};
  Norm norm{nullptr};
  TextConfig cfg;
  bool gradient_checkpointing = false;
};
TORCH_MODULE(Qwen2Model);

}  // namespace vrft
