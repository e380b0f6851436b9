// tests/image/test_image_processor.cpp: pixel_values and image_grid_thw against transformers'
// slow (PIL) Qwen2VLImageProcessor on every fixture photo and on 50 generated images of random
// sizes and aspect ratios, with several min/max pixel settings (max |diff| <= 1e-6); the
// smart_resize test vectors of transformers' smart_resize; errors naming the file.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <optional>
#include <set>

#include "test_util.h"
#include "visual_rft/core/error.h"
#include "visual_rft/core/safetensors.h"
#include "visual_rft/image/image_header.h"
#include "visual_rft/image/image_processor.h"

using namespace vrft;

namespace {
std::string fixtures() { return test::fixtures_dir() + "/images"; }
}  // namespace

TEST(ImageProcessor, SmartResizeVectors) {
  struct V {
    int64_t h, w, hb, wb;
  };
  const V v[] = {{448, 448, 448, 448}, {1080, 1920, 1092, 1932}, {70, 70, 56, 56},    {3024, 4032, 3024, 4032},
                 {42, 42, 56, 56},     {10, 10, 56, 56},         {98, 126, 112, 112}, {28, 1000, 28, 1008},
                 {480, 640, 476, 644}, {5000, 5000, 3556, 3556}};
  for (const auto& x : v) {
    ImageSize s = smart_resize(x.h, x.w, 28, 3136, 12845056);
    EXPECT_EQ(s.height, x.hb) << x.h << "x" << x.w;
    EXPECT_EQ(s.width, x.wb) << x.h << "x" << x.w;
  }
  ImageSize a = smart_resize(1080, 1920, 28, 3136, 1003520), b = smart_resize(3024, 4032, 28, 3136, 1003520);
  EXPECT_EQ(a.height, 728);
  EXPECT_EQ(a.width, 1316);
  EXPECT_EQ(b.height, 840);
  EXPECT_EQ(b.width, 1148);
  EXPECT_THROW(smart_resize(1, 201, 28, 3136, 12845056), Error);  // aspect ratio above 200
}

TEST(ImageProcessor, PixelValuesEqualTransformers) {
  if (!std::filesystem::exists(fixtures())) GTEST_FAIL() << "fixture missing: " << fixtures();
  const std::string d = test::script_refs("image_refs.py", "refs.jsonl", {fixtures()});
  SafetensorsFile expect(d + "/pixel_values.safetensors");
  std::ifstream in(d + "/refs.jsonl");
  std::string line;
  int n = 0, photos = 0, formats = 0;
  while (std::getline(in, line)) {
    auto r = nlohmann::json::parse(line);
    std::string path = r["image"];
    SCOPED_TRACE(path + " min " + r["min_pixels"].dump() + " max " + r["max_pixels"].dump());
    ProcessorConfig cfg;
    cfg.min_pixels = r["min_pixels"];
    cfg.max_pixels = r["max_pixels"];
    ProcessedImage got = process_image(load_image_rgb(path), cfg);
    auto grid = r["grid"].get<std::vector<int64_t>>();
    EXPECT_EQ(std::vector<int64_t>(got.grid_thw.begin(), got.grid_thw.end()), grid);
    torch::Tensor want = expect.get(r["tensor"]);
    ASSERT_EQ(got.pixel_values.sizes(), want.sizes());
    double diff = (got.pixel_values - want).abs().max().item<double>();
    EXPECT_LE(diff, 1e-6) << "max |pixel_values - transformers| = " << diff;
    ++n;
    if (path.find("/fmt_") != std::string::npos)
      ++formats;
    else if (path.find("gen_") == std::string::npos)
      ++photos;
  }
  EXPECT_GE(formats, 13);  // alpha, LA, palette (+tRNS), gray, 16-bit, WebP x3, BMP, EXIF
  EXPECT_GE(n, 70);
  EXPECT_GE(photos, 15);
}

TEST(ImageProcessor, BadFilesAreNamed) {
  std::string dir = test::scratch_dir("bad-images");
  std::ofstream(dir + "/broken.jpg") << "\xff\xd8\xff\xe0 not really a jpeg";
  try {
    load_image_rgb(dir + "/broken.jpg");
    FAIL();
  } catch (const FileError& e) {
    EXPECT_NE(std::string(e.what()).find(dir + "/broken.jpg' cannot be decoded"), std::string::npos) << e.what();
  }
  EXPECT_THROW(load_image_rgb(dir + "/missing.png"), FileError);
}

// A PNG whose image data is damaged (complete file, IEND in place): libpng's reason goes into
// the message that names the file, and nothing else reaches stderr (libpng's default handler
// would print "libpng error: ..." on a line of its own, naming no file).
TEST(ImageProcessor, ADamagedPngIsNamedWithLibpngsReasonAndNothingElseIsPrinted) {
  const std::string dir = test::scratch_dir("bad-png");
  cv::Mat noise(64, 64, CV_8UC3);
  cv::randu(noise, 0, 256);
  const std::string path = dir + "/damaged.png";
  ASSERT_TRUE(cv::imwrite(path, noise));
  std::string bytes = read_file(path);
  for (size_t i = 100; i < 140; ++i) bytes[i] = static_cast<char>(bytes[i] ^ 0x5a);  // inside IDAT
  write_file_atomic(path, bytes);
  std::string err;
  testing::internal::CaptureStderr();
  try {
    load_image_rgb(path);
  } catch (const FileError& e) {
    err = e.what();
  }
  const std::string printed = testing::internal::GetCapturedStderr();
  EXPECT_EQ(printed, "");
  EXPECT_NE(err.find("image '" + path + "' cannot be decoded (corrupt or not an image: libpng error: "),
            std::string::npos)
      << err;
}

// The header reader gives every reference image's size without decoding: the photos (JPEG,
// PNG) and the generated formats (alpha, LA, palette, gray, 16-bit, WebP lossy / lossless /
// extended, BMP, EXIF-rotated JPEG); a GIF written here.
TEST(ImageHeader, SizesOfEveryFormatEqualTheDecodedImage) {
  const std::string d = test::script_refs("image_refs.py", "refs.jsonl", {fixtures()});
  std::ifstream in(d + "/refs.jsonl");
  std::set<std::string> formats, seen;
  for (std::string line; std::getline(in, line);) {
    const std::string path = nlohmann::json::parse(line)["image"];
    if (!seen.insert(path).second) continue;
    const std::optional<ImageHeader> h = read_image_header(path);
    ASSERT_TRUE(h.has_value()) << path;
    const cv::Mat raw = cv::imread(path, cv::IMREAD_UNCHANGED | cv::IMREAD_IGNORE_ORIENTATION);
    EXPECT_EQ(h->width, raw.cols) << path;
    EXPECT_EQ(h->height, raw.rows) << path;
    formats.insert(h->format);
  }
  EXPECT_EQ(formats, (std::set<std::string>{"bmp", "jpeg", "png", "webp"}));
  // GIF: a 3 x 2 header (logical screen size, little-endian).
  const std::string dir = test::scratch_dir("image-header");
  std::ofstream(dir + "/a.gif", std::ios::binary) << std::string("GIF89a\x03\x00\x02\x00\x00\x00\x00", 13);
  const auto gif = read_image_header(dir + "/a.gif");
  ASSERT_TRUE(gif.has_value());
  EXPECT_EQ(gif->width, 3);
  EXPECT_EQ(gif->height, 2);
  std::ofstream(dir + "/a.txt") << "not an image at all, just text";
  EXPECT_FALSE(read_image_header(dir + "/a.txt").has_value());
}

// A decompression bomb: a PNG whose header says 20000 x 20000 (400 M pixels) is refused from
// its header, naming the file and the size, before anything is decoded or allocated.
TEST(ImageHeader, DecompressionBombIsRefusedBeforeDecoding) {
  const std::string dir = test::scratch_dir("image-bomb");
  auto be32 = [](uint32_t v) { return std::string{char(v >> 24), char(v >> 16), char(v >> 8), char(v)}; };
  std::string png = std::string("\x89PNG\r\n\x1a\n", 8) + be32(13) + "IHDR" + be32(20000) + be32(20000) +
                    std::string("\x08\x02\x00\x00\x00", 5) + be32(0) + std::string(1000, '\0');
  std::ofstream(dir + "/bomb.png", std::ios::binary) << png;
  try {
    load_image_rgb(dir + "/bomb.png");
    FAIL() << "a 20000 x 20000 PNG was decoded";
  } catch (const FileError& e) {
    EXPECT_NE(
        std::string(e.what()).find(dir + "/bomb.png' is 20000x20000 = 400000000 pixels, above the limit of 178956970"),
        std::string::npos)
        << e.what();
  }
  // The limit is the caller's: a small one refuses a real photo.
  EXPECT_THROW(load_image_rgb(fixtures() + "/apple.jpg", 1000), FileError);
  // Above OpenCV's own limit (2^30 pixels), the error still names the file and says why.
  png = std::string("\x89PNG\r\n\x1a\n", 8) + be32(13) + "IHDR" + be32(40000) + be32(40000) +
        std::string("\x08\x02\x00\x00\x00", 5) + be32(0) + std::string(1000, '\0');
  std::ofstream(dir + "/huge.png", std::ios::binary) << png;
  try {
    load_image_rgb(dir + "/huge.png", int64_t{1} << 40);
    FAIL() << "a 40000 x 40000 PNG was decoded";
  } catch (const FileError& e) {
    EXPECT_NE(std::string(e.what()).find(dir + "/huge.png' is 40000x40000 = 1600000000 pixels, above OpenCV's"),
              std::string::npos)
        << e.what();
  }
  // The training rows' check says the same from the header of a file that ends as a whole PNG
  // (it is not decoded then).
  std::ofstream(dir + "/huge_whole.png", std::ios::binary) << png + std::string("\0\0\0\0IEND\xAE\x42\x60\x82", 12);
  EXPECT_NE(image_problem(dir + "/huge_whole.png", int64_t{1} << 40).find("pixels, above OpenCV's decoding limit"),
            std::string::npos);
}
