// src/train/logprobs.cpp: completion log-probs with a shared prompt (see the header).
#include "visual_rft/train/logprobs.h"

namespace vrft {

TokenLogprobs completion_logprobs(Qwen2VLForConditionalGeneration& model, const EncodedPrompt& prompts,
                                  const torch::Tensor& completion_ids, int64_t group_size, double temperature,
                                  bool with_entropy, int64_t chunk_rows) {
  const torch::Device dev = model->parameters().front().device();
  const int64_t B = prompts.batch(), G = group_size, N = B * G, P = prompts.input_ids.size(1);
  const int64_t T = completion_ids.size(1), H = model->cfg.text.hidden_size;
  TORCH_CHECK(completion_ids.size(0) == N, "completion_logprobs: ", completion_ids.size(0), " completions for ", B,
              " prompts x ", G);
  torch::Tensor ids = prompts.input_ids.to(dev), mask = prompts.attention_mask.to(dev), grid, feats;
  if (prompts.pixel_values.defined()) {
    grid = prompts.image_grid_thw.to(dev);
    feats = model->image_features(prompts.pixel_values.to(dev), grid);
  }
  RopeIndex rope = model->rope_index(ids, mask, grid);
  KVCache prompt_cache;
  torch::Tensor h_prompt = model->hidden_states({ids, mask, feats, rope.position_ids}, &prompt_cache);  // [B, P, H]

  // Each prompt row serves its G completions.
  torch::Tensor rep = torch::arange(B, torch::TensorOptions().dtype(torch::kLong).device(dev)).repeat_interleave(G);
  KVCache cache;
  cache.len = prompt_cache.len;
  for (size_t i = 0; i < prompt_cache.k.size(); ++i) {
    cache.k.push_back(prompt_cache.k[i].index_select(0, rep));
    cache.v.push_back(prompt_cache.v[i].index_select(0, rep));
  }
  torch::Tensor comp = completion_ids.to(dev);
  torch::Tensor attn = torch::cat({mask.index_select(0, rep), torch::ones({N, T}, mask.options())}, 1);  // [N, P + T]
  torch::Tensor pos =
      decode_position_ids(mask.sum(1).index_select(0, rep), rope.rope_deltas.to(dev).index_select(0, rep), T);
  torch::Tensor h_comp = model->hidden_states({comp, attn, torch::Tensor(), pos}, &cache);  // [N, T, H]
  // Token t is predicted by the hidden state before it: the prompt's last for t = 0.
  torch::Tensor h =
      torch::cat({h_prompt.select(1, P - 1).index_select(0, rep).unsqueeze(1), h_comp.narrow(1, 0, T - 1)}, 1);
  TokenLogprobs out = token_logprobs(h.reshape({N * T, H}), model->lm_head_weight(), comp.reshape({N * T}), temperature,
                                     chunk_rows, with_entropy);
  out.logp = out.logp.view({N, T});
  if (out.entropy.defined()) out.entropy = out.entropy.view({N, T});
  return out;
}

}  // namespace vrft
