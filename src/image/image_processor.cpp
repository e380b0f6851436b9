// src/image/image_processor.cpp: decoding, smart_resize, Pillow-exact bicubic, patchify.
//
// The resampler follows Pillow's src/libImaging/Resample.c (8-bit path, Pillow 13 as pinned
// in scripts/requirements.txt): Keys cubic with a = -0.5, support 2 * max(scale, 1),
// coefficients normalised in double and converted to 22-bit fixed point rounding away from
// zero, two passes with a uint8 intermediate (horizontal first unless the height shrinks by
// more than twice as many pixels as the width), each skipped when its size is unchanged.
#include "visual_rft/image/image_processor.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cfenv>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <optional>

#include "visual_rft/core/error.h"
#include "visual_rft/core/log.h"
#include "visual_rft/image/image_header.h"

namespace vrft {

ImageSize smart_resize(int64_t height, int64_t width, int64_t factor, int64_t min_pixels, int64_t max_pixels) {
  if (height <= 0 || width <= 0)
    throw Error("image has no pixels (" + std::to_string(height) + "x" + std::to_string(width) + ")");
  const double h = static_cast<double>(height), w = static_cast<double>(width), f = static_cast<double>(factor);
  if (std::max(h, w) / std::min(h, w) > 200) {
    throw Error("absolute aspect ratio must be smaller than 200, got " +
                std::to_string(std::max(h, w) / std::min(h, w)));
  }
  // Python's round() is half-to-even: std::nearbyint in the default rounding mode.
  double hb = std::nearbyint(h / f) * f, wb = std::nearbyint(w / f) * f;
  if (hb * wb > static_cast<double>(max_pixels)) {
    double beta = std::sqrt(h * w / static_cast<double>(max_pixels));
    hb = std::max(f, std::floor(h / beta / f) * f);
    wb = std::max(f, std::floor(w / beta / f) * f);
  } else if (hb * wb < static_cast<double>(min_pixels)) {
    double beta = std::sqrt(static_cast<double>(min_pixels) / (h * w));
    hb = std::ceil(h * beta / f) * f;
    wb = std::ceil(w * beta / f) * f;
  }
  return {static_cast<int64_t>(hb), static_cast<int64_t>(wb)};
}

namespace {

// Pillow's ImagingAlphaComposite of one channel over an opaque white background, as
// transformers' convert_to_rgb does it (Image.alpha_composite(white, rgba)): with an opaque
// destination its coefficients reduce to a<<7 and (255-a)<<7, and the division by 255 is
// Pillow's shift trick, which is not always round-to-nearest.
inline uint8_t over_white(uint32_t src, uint32_t a) {
  if (a == 0) return 255;
  constexpr uint32_t kBits = 7;
  const uint32_t tmp = src * (a << kBits) + 255u * ((255u - a) << kBits) + (0x80u << kBits);
  return static_cast<uint8_t>((((tmp >> 8) + tmp) >> 8) >> kBits);
}

// 16-bit samples as Pillow reads them: colour PNGs keep the high byte ("RGB;16B"), a
// grayscale one opens as mode I;16 whose conversion to RGB clips at 255.
cv::Mat to_8bit_like_pillow(const cv::Mat& raw) {
  cv::Mat out(raw.rows, raw.cols, CV_MAKETYPE(CV_8U, raw.channels()));
  const bool gray = raw.channels() == 1;
  for (int y = 0; y < raw.rows; ++y) {
    const uint16_t* s = raw.ptr<uint16_t>(y);
    uint8_t* d = out.ptr<uint8_t>(y);
    for (int x = 0; x < raw.cols * raw.channels(); ++x)
      d[x] = static_cast<uint8_t>(gray ? std::min<uint16_t>(s[x], 255) : s[x] >> 8);
  }
  return out;
}

// What an image's header says that stops it from loading: no pixels, more than max_pixels
// (`limit` words that bound in the message), or more than OpenCV decodes (it refuses with a
// message that names no file; a max_pixels above OpenCV's reaches this). Empty when none.
std::string header_problem(const std::string& path, const ImageHeader& h, int64_t max_pixels,
                           const std::string& limit) {
  const std::string size = std::to_string(h.width) + "x" + std::to_string(h.height);
  if (h.width <= 0 || h.height <= 0)
    return "image '" + path + "' has no pixels (" + h.format + " header says " + size + ")";
  const std::string pixels = "image '" + path + "' is " + size + " = " + std::to_string(h.width * h.height) + " pixels";
  if (h.width * h.height > max_pixels) return pixels + ", above " + limit;
  const char* env = std::getenv("OPENCV_IO_MAX_IMAGE_PIXELS");
  const int64_t cv_limit = env ? std::atoll(env) : (int64_t{1} << 30);
  if (cv_limit > 0 && h.width * h.height > cv_limit) {
    return pixels + ", above OpenCV's decoding limit of " + std::to_string(cv_limit) +
           " (the environment variable OPENCV_IO_MAX_IMAGE_PIXELS raises it)";
  }
  return "";
}

// Runs `decode` with the process's stderr sent to a memory file, and returns what was written
// there, trimmed. OpenCV's PNG reader leaves libpng's default handlers in place, which print
// "libpng error: ..." or "libpng warning: ..." to stderr, naming no file: this way the reason
// goes into our message, which names it. One decode at a time (stderr is the process's).
template <class F>
std::string stderr_of(F&& decode) {
  static std::mutex m;
  std::lock_guard<std::mutex> lock(m);
  std::fflush(stderr);
  const int mem = memfd_create("vrft-stderr", MFD_CLOEXEC);
  const int saved = mem < 0 ? -1 : dup(2);
  if (saved < 0 || dup2(mem, 2) < 0) {  // cannot capture: decode as it is
    if (mem >= 0) close(mem);
    if (saved >= 0) close(saved);
    decode();
    return "";
  }
  auto restore = [&] {
    std::fflush(stderr);
    dup2(saved, 2);
    close(saved);
  };
  try {
    decode();
  } catch (...) {
    restore();
    close(mem);
    throw;
  }
  restore();
  std::string said;
  char buf[4096];
  lseek(mem, 0, SEEK_SET);
  for (ssize_t n; (n = read(mem, buf, sizeof buf)) > 0;) said.append(buf, static_cast<size_t>(n));
  close(mem);
  while (!said.empty() && std::isspace(static_cast<unsigned char>(said.back()))) said.pop_back();
  for (char& c : said) c = c == '\n' ? ';' : c;
  return said;
}

}  // namespace

cv::Mat load_image_rgb(const std::string& path, int64_t max_pixels) {
  if (!std::filesystem::exists(path)) throw FileError("image '" + path + "' does not exist");
  // The size from the header, before any pixel is decoded: a small file can hold a huge image.
  if (const std::optional<ImageHeader> h = read_image_header(path)) {
    const std::string bad = header_problem(
        path, *h, max_pixels, "the limit of " + std::to_string(max_pixels) + " (a decompression bomb?); not decoded");
    if (!bad.empty()) throw FileError(bad);
  }
  cv::Mat raw;
  const std::string said =
      stderr_of([&] { raw = cv::imread(path, cv::IMREAD_UNCHANGED | cv::IMREAD_IGNORE_ORIENTATION); });
  if (raw.empty()) {
    throw FileError("image '" + path + "' cannot be decoded (corrupt or not an image" +
                    (said.empty() ? "" : ": " + said) + ")");
  }
  if (!said.empty()) log_warn("image '{}': {}", path, said);
  if (raw.depth() == CV_16U) raw = to_8bit_like_pillow(raw);
  if (raw.depth() != CV_8U)
    throw FileError("image '" + path + "' has samples that are neither 8 nor 16 bits (not supported)");
  cv::Mat rgb;
  switch (raw.channels()) {
    case 1: cv::cvtColor(raw, rgb, cv::COLOR_GRAY2RGB); break;
    case 3: cv::cvtColor(raw, rgb, cv::COLOR_BGR2RGB); break;
    case 4: {
      // transformers' convert_to_rgb: alpha-composite on an opaque white background.
      rgb.create(raw.rows, raw.cols, CV_8UC3);
      for (int y = 0; y < raw.rows; ++y) {
        const uint8_t* s = raw.ptr<uint8_t>(y);
        uint8_t* d = rgb.ptr<uint8_t>(y);
        for (int x = 0; x < raw.cols; ++x, s += 4, d += 3)
          for (int c = 0; c < 3; ++c) d[c] = over_white(s[2 - c], s[3]);  // BGRA -> RGB
      }
      break;
    }
    default:
      throw FileError("image '" + path + "' has " + std::to_string(raw.channels()) + " channels (not supported)");
  }
  return rgb;
}

namespace {

// Whether the file's last bytes close it as its format requires (PNG: the IEND chunk; JPEG:
// the EOI marker, allowing trailing padding). A file cut off in the middle fails this.
bool ends_complete(const std::string& path, const std::string& format) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  const std::streamoff size = in.tellg();
  if (!in || size < 12) return false;
  const std::streamoff n = std::min<std::streamoff>(size, 64);
  std::string tail(static_cast<size_t>(n), '\0');
  in.seekg(size - n);
  in.read(tail.data(), n);
  if (format == "png") return tail.compare(tail.size() - 12, 12, std::string("\0\0\0\0IEND\xAE\x42\x60\x82", 12)) == 0;
  if (format == "jpeg") return tail.find("\xFF\xD9") != std::string::npos;
  return true;  // the others: the header's word is enough
}

}  // namespace

std::string image_problem(const std::string& path, int64_t max_pixels) {
  if (!std::filesystem::exists(path)) return "image '" + path + "' does not exist";
  std::optional<ImageHeader> h;
  try {
    h = read_image_header(path);
  } catch (const Error& e) {
    return e.what();
  }
  if (h) {
    const std::string bad =
        header_problem(path, *h, max_pixels, "data.max_image_pixels (" + std::to_string(max_pixels) + ")");
    if (!bad.empty()) return bad;
    const double ratio =
        static_cast<double>(std::max(h->width, h->height)) / static_cast<double>(std::min(h->width, h->height));
    if (ratio > 200) {
      return "image '" + path + "' is " + std::to_string(h->width) + "x" + std::to_string(h->height) +
             ": an aspect ratio above 200, which Qwen2-VL's processor refuses";
    }
    if (ends_complete(path, h->format)) return "";
  }
  try {  // the decoder has the last word
    load_image_rgb(path, max_pixels);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

namespace {

constexpr int kPrecisionBits = 22;

double bicubic(double x) {
  const double a = -0.5;
  if (x < 0.0) x = -x;
  if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
  if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
  return 0.0;
}

struct Coeffs {
  int ksize = 0;
  std::vector<int> bounds;  // (xmin, count) per output
  std::vector<int> k;       // fixed point, ksize per output
};

// precompute_coeffs + normalize_coeffs_8bpc of Resample.c for the whole input [0, in_size).
Coeffs coeffs(int in_size, int out_size) {
  Coeffs c;
  const double scale = static_cast<double>(static_cast<float>(in_size)) / out_size;
  const double filterscale = std::max(scale, 1.0);
  const double support = 2.0 * filterscale;
  c.ksize = static_cast<int>(std::ceil(support)) * 2 + 1;
  c.bounds.resize(static_cast<size_t>(out_size) * 2);
  c.k.assign(static_cast<size_t>(out_size) * static_cast<size_t>(c.ksize), 0);
  std::vector<double> w(static_cast<size_t>(c.ksize));
  for (int xx = 0; xx < out_size; ++xx) {
    const double center = (xx + 0.5) * scale;
    const double ss = 1.0 / filterscale;
    int xmin = static_cast<int>(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    int xmax = static_cast<int>(center + support + 0.5);
    if (xmax > in_size) xmax = in_size;
    xmax -= xmin;
    double ww = 0.0;
    for (int x = 0; x < xmax; ++x) {
      w[static_cast<size_t>(x)] = bicubic((x + xmin - center + 0.5) * ss);
      ww += w[static_cast<size_t>(x)];
    }
    for (int x = 0; x < xmax; ++x) {
      double v = ww != 0.0 ? w[static_cast<size_t>(x)] / ww : w[static_cast<size_t>(x)];
      c.k[static_cast<size_t>(xx) * c.ksize + x] = v < 0 ? static_cast<int>(-0.5 + v * (1 << kPrecisionBits))
                                                         : static_cast<int>(0.5 + v * (1 << kPrecisionBits));
    }
    c.bounds[static_cast<size_t>(xx) * 2] = xmin;
    c.bounds[static_cast<size_t>(xx) * 2 + 1] = xmax;
  }
  return c;
}

inline uint8_t clip8(int v) {
  if (v >= (1 << kPrecisionBits << 8)) return 255;
  if (v <= 0) return 0;
  return static_cast<uint8_t>(v >> kPrecisionBits);
}

}  // namespace

namespace {

// One horizontal pass (columns in -> out_w) over all rows of `in`.
cv::Mat horizontal_pass(const cv::Mat& in, int out_w) {
  Coeffs c = coeffs(in.cols, out_w);
  cv::Mat out(in.rows, out_w, CV_8UC3);
  for (int y = 0; y < in.rows; ++y) {
    const uint8_t* src = in.ptr<uint8_t>(y);
    uint8_t* dst = out.ptr<uint8_t>(y);
    for (int xx = 0; xx < out_w; ++xx) {
      const int xmin = c.bounds[static_cast<size_t>(xx) * 2], n = c.bounds[static_cast<size_t>(xx) * 2 + 1];
      const int* k = &c.k[static_cast<size_t>(xx) * c.ksize];
      int s0 = 1 << (kPrecisionBits - 1), s1 = s0, s2 = s0;
      for (int x = 0; x < n; ++x) {
        const uint8_t* p = src + (x + xmin) * 3;
        s0 += p[0] * k[x];
        s1 += p[1] * k[x];
        s2 += p[2] * k[x];
      }
      dst[xx * 3] = clip8(s0);
      dst[xx * 3 + 1] = clip8(s1);
      dst[xx * 3 + 2] = clip8(s2);
    }
  }
  return out;
}

// One vertical pass (rows in -> out_h) over all columns of `in`.
cv::Mat vertical_pass(const cv::Mat& in, int out_h) {
  Coeffs c = coeffs(in.rows, out_h);
  cv::Mat out(out_h, in.cols, CV_8UC3);
  for (int yy = 0; yy < out_h; ++yy) {
    const int ymin = c.bounds[static_cast<size_t>(yy) * 2], n = c.bounds[static_cast<size_t>(yy) * 2 + 1];
    const int* k = &c.k[static_cast<size_t>(yy) * c.ksize];
    uint8_t* dst = out.ptr<uint8_t>(yy);
    for (int x = 0; x < in.cols * 3; ++x) {
      int s = 1 << (kPrecisionBits - 1);
      for (int y = 0; y < n; ++y) s += in.ptr<uint8_t>(y + ymin)[x] * k[y];
      dst[x] = clip8(s);
    }
  }
  return out;
}

}  // namespace

cv::Mat pillow_resize_bicubic(const cv::Mat& rgb, int64_t out_h64, int64_t out_w64) {
  CV_Assert(rgb.type() == CV_8UC3);
  const int out_h = static_cast<int>(out_h64), out_w = static_cast<int>(out_w64);
  const bool need_h = out_w != rgb.cols, need_v = out_h != rgb.rows;
  if (!need_h && !need_v) return rgb.clone();
  // Pillow >= 11 runs the vertical pass first when the height shrinks by more than twice
  // as many pixels as the width; the order changes the uint8 intermediate, so follow it.
  const int dh = rgb.rows - out_h, dw = rgb.cols - out_w;
  const bool horizontal_first = !(dh > 0 && dh > dw * 2);
  if (horizontal_first) {
    cv::Mat t = need_h ? horizontal_pass(rgb, out_w) : rgb;
    return need_v ? vertical_pass(t, out_h) : t;
  }
  cv::Mat t = need_v ? vertical_pass(rgb, out_h) : rgb;
  return need_h ? horizontal_pass(t, out_w) : t;
}

ProcessedImage process_image(const cv::Mat& rgb, const ProcessorConfig& cfg) {
  const int64_t patch = cfg.patch_size, merge = cfg.merge_size, tps = cfg.temporal_patch_size;
  ProcessedImage out;
  out.resized = smart_resize(rgb.rows, rgb.cols, patch * merge, cfg.min_pixels, cfg.max_pixels);
  cv::Mat img = pillow_resize_bicubic(rgb, out.resized.height, out.resized.width);
  const int64_t H = out.resized.height, W = out.resized.width;
  // Rescale in float64 then float32; normalise in float32 (numpy's order in transformers).
  torch::Tensor u8 = torch::from_blob(img.data, {H, W, 3}, torch::kUInt8).clone();
  torch::Tensor x = (u8.to(torch::kDouble) * (1.0 / 255.0)).to(torch::kFloat);
  torch::Tensor mean = torch::tensor({static_cast<float>(cfg.image_mean[0]), static_cast<float>(cfg.image_mean[1]),
                                      static_cast<float>(cfg.image_mean[2])});
  torch::Tensor stdv = torch::tensor({static_cast<float>(cfg.image_std[0]), static_cast<float>(cfg.image_std[1]),
                                      static_cast<float>(cfg.image_std[2])});
  x = ((x - mean) / stdv).permute({2, 0, 1});                    // [3, H, W]
  torch::Tensor frames = x.unsqueeze(0).expand({tps, 3, H, W});  // the image repeated to fill a temporal patch
  const int64_t gt = 1, gh = H / patch, gw = W / patch;
  torch::Tensor p = frames.reshape({gt, tps, 3, gh / merge, merge, patch, gw / merge, merge, patch})
                        .permute({0, 3, 6, 4, 7, 2, 1, 5, 8})
                        .reshape({gt * gh * gw, 3 * tps * patch * patch});
  out.pixel_values = p.contiguous();
  out.grid_thw = {gt, gh, gw};
  return out;
}

}  // namespace vrft
