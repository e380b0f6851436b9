// src/image/image_header.cpp: width and height from the first bytes of PNG, JPEG, BMP, WebP
// and GIF files (see the header). Each reader follows its format's specification for the
// fields it needs and nothing more; anything it does not recognise gives nullopt.
#include "visual_rft/image/image_header.h"

#include <array>
#include <cstring>
#include <fstream>
#include <vector>

#include "visual_rft/core/error.h"

namespace vrft {
namespace {

uint32_t be16(const uint8_t* p) { return (uint32_t{p[0]} << 8) | p[1]; }
uint32_t be32(const uint8_t* p) { return (be16(p) << 16) | be16(p + 2); }
uint32_t le16(const uint8_t* p) { return uint32_t{p[0]} | (uint32_t{p[1]} << 8); }
uint32_t le24(const uint8_t* p) { return le16(p) | (uint32_t{p[2]} << 16); }
uint32_t le32(const uint8_t* p) { return le24(p) | (uint32_t{p[3]} << 24); }

std::optional<ImageHeader> sized(const char* format, int64_t w, int64_t h) { return ImageHeader{format, w, h}; }

// JPEG: segments after SOI until a start-of-frame marker, whose payload is precision (1),
// height (2), width (2). Markers may be padded with 0xFF fill bytes.
std::optional<ImageHeader> jpeg_size(std::ifstream& in) {
  in.seekg(2);
  for (int segments = 0; segments < 4096; ++segments) {
    int c = in.get();
    if (c != 0xFF) return std::nullopt;
    while (c == 0xFF) c = in.get();
    if (c == EOF || c == 0xD9 || c == 0xDA) return std::nullopt;  // EOI or SOS before a frame
    if (c == 0x01 || (c >= 0xD0 && c <= 0xD7)) continue;          // markers without a payload
    std::array<uint8_t, 7> seg{};
    if (!in.read(reinterpret_cast<char*>(seg.data()), 2)) return std::nullopt;
    const uint32_t len = be16(seg.data());
    if (len < 2) return std::nullopt;
    const bool frame = c >= 0xC0 && c <= 0xCF && c != 0xC4 && c != 0xC8 && c != 0xCC;
    if (frame) {
      if (len < 7 || !in.read(reinterpret_cast<char*>(seg.data() + 2), 5)) return std::nullopt;
      return sized("jpeg", be16(seg.data() + 5), be16(seg.data() + 3));
    }
    in.seekg(len - 2, std::ios::cur);
  }
  return std::nullopt;
}

}  // namespace

std::optional<ImageHeader> read_image_header(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw FileError("image '" + path + "' cannot be opened");
  std::array<uint8_t, 32> h{};
  in.read(reinterpret_cast<char*>(h.data()), h.size());
  const std::streamsize n = in.gcount();
  in.clear();
  const uint8_t* p = h.data();
  static const uint8_t kPng[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
  if (n >= 24 && std::memcmp(p, kPng, 8) == 0 && std::memcmp(p + 12, "IHDR", 4) == 0) {
    return sized("png", be32(p + 16), be32(p + 20));
  }
  if (n >= 4 && p[0] == 0xFF && p[1] == 0xD8 && p[2] == 0xFF) return jpeg_size(in);
  if (n >= 26 && p[0] == 'B' && p[1] == 'M') {
    const uint32_t dib = le32(p + 14);  // BITMAPCOREHEADER (12) has 16-bit sizes
    if (dib == 12) return sized("bmp", le16(p + 18), le16(p + 20));
    const int32_t height = static_cast<int32_t>(le32(p + 22));  // negative: top-down rows
    return sized("bmp", static_cast<int32_t>(le32(p + 18)), height < 0 ? -int64_t{height} : height);
  }
  if (n >= 10 && (std::memcmp(p, "GIF87a", 6) == 0 || std::memcmp(p, "GIF89a", 6) == 0)) {
    return sized("gif", le16(p + 6), le16(p + 8));
  }
  if (n >= 30 && std::memcmp(p, "RIFF", 4) == 0 && std::memcmp(p + 8, "WEBP", 4) == 0) {
    if (std::memcmp(p + 12, "VP8 ", 4) == 0) return sized("webp", le16(p + 26) & 0x3FFF, le16(p + 28) & 0x3FFF);
    if (std::memcmp(p + 12, "VP8L", 4) == 0 && p[20] == 0x2F) {
      const uint32_t b = le32(p + 21);  // 14 bits each of width - 1 and height - 1
      return sized("webp", (b & 0x3FFF) + 1, ((b >> 14) & 0x3FFF) + 1);
    }
    if (std::memcmp(p + 12, "VP8X", 4) == 0) return sized("webp", le24(p + 24) + 1, le24(p + 27) + 1);
  }
  return std::nullopt;
}

}  // namespace vrft
