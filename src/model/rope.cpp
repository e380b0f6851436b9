// src/model/rope.cpp: M-RoPE positions, rotary embeddings, vision positions and windows.
// The index bookkeeping runs on the CPU in int64 (it is tiny); results move to the device
// of the caller's tensors.
#include "visual_rft/model/rope.h"

#include <algorithm>

namespace vrft {

RopeIndex get_rope_index(const torch::Tensor& input_ids, const torch::Tensor& attention_mask,
                         const torch::Tensor& image_grid_thw, int64_t image_token_id, int64_t spatial_merge_size) {
  TORCH_CHECK(input_ids.dim() == 2, "get_rope_index: input_ids must be [B, S]");
  torch::Tensor ids = input_ids.to(torch::kCPU, torch::kLong).contiguous();
  torch::Tensor mask =
      attention_mask.defined() ? attention_mask.to(torch::kCPU, torch::kLong).contiguous() : torch::ones_like(ids);
  torch::Tensor grid = image_grid_thw.defined() && image_grid_thw.numel() > 0
                           ? image_grid_thw.to(torch::kCPU, torch::kLong).contiguous()
                           : torch::zeros({0, 3}, torch::kLong);
  const int64_t B = ids.size(0), S = ids.size(1);
  torch::Tensor pos = torch::zeros({3, B, S}, torch::kLong);
  torch::Tensor deltas = torch::zeros({B}, torch::kLong);
  auto P = pos.accessor<int64_t, 3>();
  auto G = grid.accessor<int64_t, 2>();
  const int64_t* id = ids.data_ptr<int64_t>();
  const int64_t* m = mask.data_ptr<int64_t>();
  int64_t next_image = 0;  // images are numbered across the whole batch, in order
  for (int64_t b = 0; b < B; ++b) {
    int64_t cur = 0, max_pos = -1, valid = 0;
    int64_t s = 0;
    while (s < S) {
      if (m[b * S + s] == 0) {
        ++s;
        continue;
      }
      if (id[b * S + s] != image_token_id) {  // a text token
        P[0][b][s] = P[1][b][s] = P[2][b][s] = cur;
        max_pos = std::max(max_pos, cur);
        ++cur, ++s, ++valid;
        continue;
      }
      // A run of image tokens: one image's t * (h / merge) * (w / merge) tokens.
      TORCH_CHECK(next_image < grid.size(0), "get_rope_index: more images in input_ids than rows in image_grid_thw");
      const int64_t t = G[next_image][0], h = G[next_image][1] / spatial_merge_size,
                    w = G[next_image][2] / spatial_merge_size;
      ++next_image;
      for (int64_t ti = 0; ti < t; ++ti) {
        for (int64_t hi = 0; hi < h; ++hi) {
          for (int64_t wi = 0; wi < w; ++wi) {
            while (s < S && m[b * S + s] == 0) ++s;
            TORCH_CHECK(s < S && id[b * S + s] == image_token_id,
                        "get_rope_index: an image has fewer tokens than its image_grid_thw says");
            P[0][b][s] = cur + ti;
            P[1][b][s] = cur + hi;
            P[2][b][s] = cur + wi;
            max_pos = std::max({max_pos, cur + ti, cur + hi, cur + wi});
            ++s, ++valid;
          }
        }
      }
      cur += std::max(G[next_image - 1][1], G[next_image - 1][2]) / spatial_merge_size;
    }
    deltas[b] = max_pos + 1 - valid;
  }
  return {pos.to(input_ids.device()), deltas.to(input_ids.device())};
}

torch::Tensor decode_position_ids(const torch::Tensor& valid_len, const torch::Tensor& rope_deltas, int64_t steps) {
  torch::Tensor base = (valid_len + rope_deltas).unsqueeze(1);  // [B, 1]
  torch::Tensor p = base + torch::arange(steps, torch::TensorOptions().dtype(torch::kLong).device(base.device()));
  return p.unsqueeze(0).expand({3, p.size(0), steps});  // [3, B, steps]
}

std::pair<torch::Tensor, torch::Tensor> mrope_cos_sin(const torch::Tensor& position_ids, int64_t head_dim, double theta,
                                                      const std::vector<int64_t>& mrope_section, torch::Dtype dtype) {
  auto f32 = torch::TensorOptions().dtype(torch::kFloat).device(position_ids.device());
  // inv_freq[j] = 1 / theta^(2j / hd), as transformers computes it in fp32.
  torch::Tensor inv_freq =
      1.0 / torch::pow(theta, torch::arange(0, head_dim, 2, f32.dtype(torch::kLong)).to(torch::kFloat) / head_dim);
  torch::Tensor freqs = position_ids.to(torch::kFloat).unsqueeze(-1) * inv_freq;  // [3, B, S, hd/2]
  torch::Tensor emb = torch::cat({freqs, freqs}, -1);                             // [3, B, S, hd]
  torch::Tensor cos = emb.cos().to(dtype), sin = emb.sin().to(dtype);
  // Chunks [s0, s1, s2, s0, s1, s2] of the last dim come from axes 0, 1, 2, 0, 1, 2.
  std::vector<torch::Tensor> cs, ss;
  int64_t off = 0;
  for (int rep = 0; rep < 2; ++rep) {
    for (int a = 0; a < 3; ++a) {
      int64_t n = mrope_section[static_cast<size_t>(a)];
      cs.push_back(cos[a].narrow(-1, off, n));
      ss.push_back(sin[a].narrow(-1, off, n));
      off += n;
    }
  }
  return {torch::cat(cs, -1), torch::cat(ss, -1)};  // [B, S, hd]
}

torch::Tensor apply_rotary(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin) {
  int64_t half = x.size(-1) / 2;
  torch::Tensor rot = torch::cat({-x.narrow(-1, half, half), x.narrow(-1, 0, half)}, -1);
  return x * cos + rot * sin;
}

torch::Tensor vision_patch_positions(const torch::Tensor& image_grid_thw, int64_t merge) {
  torch::Tensor grid = image_grid_thw.to(torch::kCPU, torch::kLong);
  std::vector<torch::Tensor> out;
  for (int64_t i = 0; i < grid.size(0); ++i) {
    int64_t t = grid[i][0].item<int64_t>(), h = grid[i][1].item<int64_t>(), w = grid[i][2].item<int64_t>();
    // Row and column of each patch, listed 2x2 block by 2x2 block (transformers' Qwen2VLImageProcessor).
    torch::Tensor hpos = torch::arange(h, torch::kLong).unsqueeze(1).expand({h, w});
    torch::Tensor wpos = torch::arange(w, torch::kLong).unsqueeze(0).expand({h, w});
    auto blocks = [&](const torch::Tensor& p) {
      return p.reshape({h / merge, merge, w / merge, merge}).permute({0, 2, 1, 3}).flatten();
    };
    out.push_back(torch::stack({blocks(hpos), blocks(wpos)}, -1).repeat({t, 1}));
  }
  return torch::cat(out, 0).to(image_grid_thw.device());  // [N, 2]
}

std::pair<torch::Tensor, torch::Tensor> vision_cos_sin(const torch::Tensor& positions, int64_t head_dim) {
  const int64_t dim = head_dim / 2;  // rotary dim per axis pair
  auto f32 = torch::TensorOptions().dtype(torch::kFloat).device(positions.device());
  torch::Tensor inv_freq = 1.0 / torch::pow(10000.0, torch::arange(0, dim, 2, f32) / dim);  // [dim/2]
  torch::Tensor freqs = positions.to(torch::kFloat).unsqueeze(-1) * inv_freq;               // [N, 2, dim/2]
  freqs = freqs.flatten(1);                                                                 // [N, dim]
  torch::Tensor emb = torch::cat({freqs, freqs}, -1);                                       // [N, hd]
  return {emb.cos(), emb.sin()};
}

std::vector<int64_t> vision_cu_seqlens(const torch::Tensor& image_grid_thw) {
  torch::Tensor grid = image_grid_thw.to(torch::kCPU, torch::kLong);
  std::vector<int64_t> cu = {0};
  for (int64_t i = 0; i < grid.size(0); ++i) {
    int64_t t = grid[i][0].item<int64_t>(), hw = grid[i][1].item<int64_t>() * grid[i][2].item<int64_t>();
    for (int64_t k = 0; k < t; ++k) cu.push_back(cu.back() + hw);  // one segment per frame
  }
  return cu;
}

WindowIndex vision_window_index(const torch::Tensor& image_grid_thw, int64_t merge, int64_t window_size,
                                int64_t patch_size) {
  torch::Tensor grid = image_grid_thw.to(torch::kCPU, torch::kLong);
  const int64_t win = window_size / merge / patch_size;  // window side in merged tokens
  const int64_t unit = merge * merge;
  WindowIndex out;
  out.cu_window_seqlens = {0};
  std::vector<int64_t> order;
  int64_t base = 0;
  for (int64_t i = 0; i < grid.size(0); ++i) {
    int64_t t = grid[i][0].item<int64_t>(), gh = grid[i][1].item<int64_t>() / merge,
            gw = grid[i][2].item<int64_t>() / merge;
    // The merged grid padded to whole windows (a full extra window when it divides evenly,
    // as the reference pads), listed window by window in raster order.
    int64_t nh = (gh + win - gh % win) / win, nw = (gw + win - gw % win) / win;
    for (int64_t ti = 0; ti < t; ++ti) {
      for (int64_t wy = 0; wy < nh; ++wy) {
        for (int64_t wx = 0; wx < nw; ++wx) {
          int64_t count = 0;
          for (int64_t y = wy * win; y < std::min(gh, (wy + 1) * win); ++y) {
            for (int64_t x = wx * win; x < std::min(gw, (wx + 1) * win); ++x) {
              order.push_back(base + ti * gh * gw + y * gw + x);
              ++count;
            }
          }
          int64_t next = out.cu_window_seqlens.back() + count * unit;
          if (next != out.cu_window_seqlens.back()) out.cu_window_seqlens.push_back(next);  // unique_consecutive
        }
      }
    }
    base += t * gh * gw;
  }
  out.window_index = torch::tensor(order, torch::kLong).to(image_grid_thw.device());
  return out;
}

}  // namespace vrft
