// visual_rft/image/image_processor.h: images to pixel_values exactly like transformers' slow
// transformers' Qwen2VLImageProcessor: decoding (OpenCV), smart_resize with Python's
// half-to-even rounding, Pillow's BICUBIC resampling reimplemented bit for bit (22-bit fixed
// point, Pillow 13's pass order, uint8 in between), rescale in float64 then float32,
// normalisation in float32, temporal duplication and the patch order of the reference.
#pragma once

#include <torch/torch.h>

#include <array>
#include <cstdint>
#include <string>

#include <opencv2/core.hpp>

#include "visual_rft/image/image_header.h"
#include "visual_rft/image/processor_config.h"

namespace vrft {

struct ImageSize {
  int64_t height = 0, width = 0;
};

// The size the processor resizes an image of h x w to: multiples of `factor` (28) with an
// area in [min_pixels, max_pixels]. Throws Error for an aspect ratio above 200 (like
// transformers) and for an empty image.
ImageSize smart_resize(int64_t height, int64_t width, int64_t factor, int64_t min_pixels, int64_t max_pixels);

// Decodes an image file as 8-bit RGB (HxWx3, CV_8UC3). Grayscale and palette images become
// RGB; an alpha channel is composited on white as transformers' convert_to_rgb does; EXIF
// orientation is ignored, as Pillow's Image.open ignores it. Throws FileError naming the
// file when it is missing, unreadable or corrupt, or when its header (image_header.h)
// announces more than max_pixels pixels (then nothing is decoded).
cv::Mat load_image_rgb(const std::string& path, int64_t max_pixels = kMaxImagePixels);
// What would stop `path` from being a model input, found cheaply: the header's size (no
// pixels; more than max_pixels; an aspect ratio above Qwen2-VL's 200) and the file's last
// bytes (a PNG must end with its IEND chunk, a JPEG with its end-of-image marker). Only when
// those cannot vouch for the file (another format, an unreadable header, a cut-off end) is it
// decoded as load_image_rgb would. Empty when the image will load; else what is wrong.
std::string image_problem(const std::string& path, int64_t max_pixels = kMaxImagePixels);

// Pillow's Image.resize((w, h), BICUBIC) on an 8-bit RGB image.
cv::Mat pillow_resize_bicubic(const cv::Mat& rgb, int64_t out_height, int64_t out_width);

struct ProcessedImage {
  torch::Tensor pixel_values;         // [t*h*w, 3*2*14*14] float32
  std::array<int64_t, 3> grid_thw{};  // (t, h, w) in 14-pixel patches
  ImageSize resized;
};

// The whole slow-processor path for one RGB image.
ProcessedImage process_image(const cv::Mat& rgb, const ProcessorConfig& cfg);

}  // namespace vrft
