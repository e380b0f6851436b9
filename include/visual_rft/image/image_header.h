// visual_rft/image/image_header.h: an image's width and height read from its file header,
// without decoding the pixels: what lets the loader refuse a decompression bomb (a 2.6 MB
// PNG of 30000 x 30000 decodes to 2.7 GB) before it allocates anything, and a data set be
// checked row by row at the cost of a few bytes per image.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace vrft {

struct ImageHeader {
  std::string format;  // "png", "jpeg", "bmp", "webp", "gif"
  int64_t width = 0, height = 0;
};

// The header of `path` for PNG, JPEG (baseline, progressive, lossless), BMP, WebP (lossy,
// lossless, extended) and GIF; nullopt for another format or a header that cannot be read
// (the decoder then has the last word). Throws FileError when the file cannot be opened.
std::optional<ImageHeader> read_image_header(const std::string& path);

// Pillow's Image.MAX_IMAGE_PIXELS (its decompression-bomb warning): the default limit of
// load_image_rgb.
constexpr int64_t kMaxImagePixels = 178956970;

}  // namespace vrft
