// tests/image/test_image_processor.cpp: pixel_values and image_grid_thw against transformers'
// slow (PIL) Qwen2VLImageProcessor on every fixture photo and on 50 generated images of random
// sizes and aspect ratios, with several min/max pixel settings (max |diff| <= 1e-6); the
// smart_resize test vectors of qwen2vl.md §4.1; errors naming the file.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "test_util.h"
#include "visual_rft/core/error.h"
#include "visual_rft/core/safetensors.h"
#include "visual_rft/image/image_processor.h"

using namespace vrft;

namespace {
std::string fixtures() { return test::source_dir() + "/../shared/fixtures/images"; }
}  // namespace

TEST(ImageProcessor, SmartResizeVectors) {
  struct V {
    int64_t h, w, hb, wb;
  };
  const V v[] = {{448, 448, 448, 448},   {1080, 1920, 1092, 1932}, {70, 70, 56, 56},     {3024, 4032, 3024, 4032},
                 {42, 42, 56, 56},       {10, 10, 56, 56},         {98, 126, 112, 112},  {28, 1000, 28, 1008},
                 {480, 640, 476, 644},   {5000, 5000, 3556, 3556}};
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
  if (!std::filesystem::exists(fixtures())) GTEST_SKIP() << "fixture missing: " << fixtures();
  std::string d = test::refs_cache_dir("image_refs.py");
  test::generate_once(d, "refs.jsonl", "refs/image_refs.py' '" + fixtures() + "' '" + d + "'");
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
    if (path.find("/fmt_") != std::string::npos) ++formats;
    else if (path.find("gen_") == std::string::npos) ++photos;
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
