// tests/data/data_test_util.h: helpers shared by the data tests (the readers' test_coco.cpp,
// test_classification.cpp, test_lisa.cpp, test_visual_rft_jsonl.cpp; test_fewshot.cpp): fixture paths, small files,
// JPEGs for the COCO fixture's images, and the message of an expected error.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <string>

#include "test_util.h"
#include "visual_rft/core/error.h"
#include "visual_rft/data/coco.h"
#include "visual_rft/reward/rewards.h"

namespace vrft::test {

inline std::string fixtures() { return fixtures_dir(); }
inline std::string coco_path() { return fixtures() + "/coco/instances_val2014_100.json"; }
inline std::string lvis_path() { return fixtures() + "/lvis/lvis_val_100.json"; }

inline void write(const std::string& path, const std::string& text) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  std::ofstream(path, std::ios::binary) << text;
}

// A small real JPEG (the readers only need the file to exist; the CLI test also loads one).
inline void write_jpeg(const std::string& path) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  ASSERT_TRUE(cv::imwrite(path, cv::Mat(8, 8, CV_8UC3, cv::Scalar(20, 120, 220))));
}

// A folder holding a JPEG for every image of the COCO fixture, made once per test program.
inline std::string coco_images() {
  static const std::string dir = [] {
    std::string d = scratch_dir("coco-images");
    for (const auto& im : load_detection_dataset(coco_path(), d, DetFormat::coco, MissingImages::keep).images) {
      write_jpeg(im.file);
    }
    return d;
  }();
  return dir;
}

inline RewardContext strict_ctx() { return RewardContext{Compat::strict, nullptr}; }
inline RewardContext reference_ctx() { return RewardContext{Compat::visual_rft, nullptr}; }

}  // namespace vrft::test
