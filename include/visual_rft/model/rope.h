// visual_rft/model/rope.h: positions and rotary embeddings of Qwen2-VL: the LLM's 3-axis
// M-RoPE (transformers' get_rope_index) and the vision tower's 2-D rotary
// embedding and Qwen2.5-VL window order (§2.3, §8).
//
// Shapes: B batch rows, S tokens, N patches, I images, hd head dim.
#pragma once

#include <torch/torch.h>

#include <utility>
#include <vector>

namespace vrft {

struct RopeIndex {
  torch::Tensor position_ids;  // [3, B, S] int64: (t, h, w) per token; 0 on padding
  torch::Tensor rope_deltas;   // [B] int64: max position + 1 - (unpadded length)
};

// get_rope_index as transformers 5.x computes it: per row, on the unpadded tokens, text
// runs count up on all three axes; each image's tokens get (start + t, start + h, start + w)
// on its merged grid, and the text after it resumes at start + max(h, w) / merge.
// input_ids, attention_mask: [B, S]; image_grid_thw: [I, 3] (images in prompt order, may be
// undefined when there are none).
RopeIndex get_rope_index(const torch::Tensor& input_ids, const torch::Tensor& attention_mask,
                         const torch::Tensor& image_grid_thw, int64_t image_token_id, int64_t spatial_merge_size);

// Positions of `steps` new tokens per row during decoding: (tokens kept so far, pads
// excluded) + k + rope_delta on all three axes. valid_len: [B] int64. Returns [3, B, steps].
torch::Tensor decode_position_ids(const torch::Tensor& valid_len, const torch::Tensor& rope_deltas, int64_t steps);

// cos and sin of the text rotary embedding for position_ids [3, B, S], mixed across the
// three axes by mrope_section: [B, S, hd] each, computed in fp32 then cast to `dtype`.
std::pair<torch::Tensor, torch::Tensor> mrope_cos_sin(const torch::Tensor& position_ids, int64_t head_dim, double theta,
                                                      const std::vector<int64_t>& mrope_section, torch::Dtype dtype);

// x * cos + rotate_half(x) * sin, rotate_half(x) = cat(-x2, x1). x: [..., hd].
torch::Tensor apply_rotary(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin);

// Vision: (row, column) of every patch in the merge-block order of pixel_values: [N, 2].
torch::Tensor vision_patch_positions(const torch::Tensor& image_grid_thw, int64_t spatial_merge_size);
// Vision rotary cos, sin in fp32: [N, hd] each (theta 10000 over hd / 2 frequencies per axis).
std::pair<torch::Tensor, torch::Tensor> vision_cos_sin(const torch::Tensor& positions, int64_t head_dim);
// Cumulative patch counts per image and frame: [segments + 1] (block-diagonal attention).
std::vector<int64_t> vision_cu_seqlens(const torch::Tensor& image_grid_thw);

// Qwen2.5-VL window attention: the order of merged tokens window by window, and the
// cumulative patch counts of the windows (deduplicated).
struct WindowIndex {
  torch::Tensor window_index;  // [N / merge^2] int64
  std::vector<int64_t> cu_window_seqlens;
};
WindowIndex vision_window_index(const torch::Tensor& image_grid_thw, int64_t spatial_merge_size, int64_t window_size,
                                int64_t patch_size);

}  // namespace vrft
