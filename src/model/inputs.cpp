// src/model/inputs.cpp: rows and image ranges of a batched input (see the header).
#include "visual_rft/model/inputs.h"

#include <algorithm>

namespace vrft {

std::pair<int64_t, int64_t> EncodedPrompt::image_rows(int64_t b) const {
  int64_t first = 0;
  for (int64_t i = 0; i < b; ++i) first += images_per_prompt[static_cast<size_t>(i)];
  return {first, images_per_prompt[static_cast<size_t>(b)]};
}

std::pair<int64_t, int64_t> EncodedPrompt::patch_rows(int64_t b) const {
  auto [first_img, n_img] = image_rows(b);
  if (!image_grid_thw.defined()) return {0, 0};
  auto patches = image_grid_thw.prod(1);  // [I]
  const int64_t first = first_img ? patches.slice(0, 0, first_img).sum().item<int64_t>() : 0;
  return {first, n_img ? patches.slice(0, first_img, first_img + n_img).sum().item<int64_t>() : 0};
}

EncodedPrompt EncodedPrompt::rows(int64_t first, int64_t n) const {
  EncodedPrompt out;
  const int64_t T = *std::max_element(lengths.begin() + first, lengths.begin() + first + n);
  const int64_t cut = input_ids.size(1) - T;
  out.input_ids = input_ids.narrow(0, first, n).narrow(1, cut, T).contiguous();
  out.attention_mask = attention_mask.narrow(0, first, n).narrow(1, cut, T).contiguous();
  auto sub = [&](const auto& v) { return std::vector(v.begin() + first, v.begin() + first + n); };
  out.lengths = sub(lengths);
  out.images_per_prompt = sub(images_per_prompt);
  if (static_cast<int64_t>(texts.size()) >= first + n) out.texts = sub(texts);
  const int64_t img0 = image_rows(first).first;
  int64_t imgs = 0;
  for (int64_t b = first; b < first + n; ++b) imgs += images_per_prompt[static_cast<size_t>(b)];
  if (imgs > 0) {
    const int64_t p0 = patch_rows(first).first;
    int64_t patches = 0;
    for (int64_t b = first; b < first + n; ++b) patches += patch_rows(b).second;
    out.pixel_values = pixel_values.narrow(0, p0, patches);
    out.image_grid_thw = image_grid_thw.narrow(0, img0, imgs);
    if (static_cast<int64_t>(resized.size()) >= img0 + imgs) {  // absent for prompts made elsewhere
      out.resized = std::vector(resized.begin() + img0, resized.begin() + img0 + imgs);
    }
  }
  return out;
}

}  // namespace vrft
