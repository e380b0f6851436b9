// tests/data/test_coco.cpp: the COCO and LVIS readers (data/coco.h) with their validation
// messages. Fixture counts are those of tests/fixtures/README.md; a missing fixture fails the
// test. One program, test_data_readers, runs these with test_classification.cpp,
// test_lisa.cpp and test_visual_rft_jsonl.cpp.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "data/data_test_util.h"
#include "test_util.h"
#include "visual_rft/core/error.h"
#include "visual_rft/core/fs.h"
#include "visual_rft/data/classification.h"
#include "visual_rft/data/coco.h"
#include "visual_rft/data/lisa.h"
#include "visual_rft/data/visual_rft_jsonl.h"
#include "visual_rft/reward/rewards.h"

using namespace vrft;
using namespace vrft::test;
namespace fs = std::filesystem;

// ---- COCO and LVIS --------------------------------------------------------------------------

TEST(CocoReader, FixtureCounts) {
  REQUIRE_FIXTURES(coco_path(), lvis_path());
  DetLoadReport rep;
  DetDataset ds = load_detection_dataset(coco_path(), coco_images(), DetFormat::coco, MissingImages::error, &rep);
  EXPECT_EQ(ds.images.size(), 100u);
  EXPECT_EQ(ds.annotations.size(), 839u);
  EXPECT_EQ(ds.categories.size(), 80u);
  EXPECT_EQ(rep.images.lines, 100);
  EXPECT_EQ(rep.images.kept, 100);
  EXPECT_EQ(rep.images.missing_images, 0);
  EXPECT_EQ(rep.annotations, 839);
  EXPECT_EQ(rep.crowd, 9);
  int64_t big_ids = 0;
  for (const auto& a : ds.annotations) big_ids += a.iscrowd && a.id > (int64_t{1} << 32);
  EXPECT_EQ(big_ids, 9);  // crowd ids around 9e11 survive as int64
  const DetCategory* cat = ds.find_category("fire hydrant");
  ASSERT_NE(cat, nullptr);
  EXPECT_EQ(cat->id, 11);
  EXPECT_EQ(ds.images[0].file, coco_images() + "/COCO_val2014_000000001146.jpg");
  EXPECT_EQ(ds.images[0].width, 427);
  EXPECT_EQ(ds.images[0].height, 640);
}

TEST(CocoReader, MissingImages) {
  REQUIRE_FIXTURES(coco_path(), lvis_path());
  std::string dir = test::scratch_dir("coco-half");
  DetDataset all = load_detection_dataset(coco_path(), dir, DetFormat::coco, MissingImages::keep);
  std::string msg = error_of([&] { load_detection_dataset(coco_path(), dir, DetFormat::coco, MissingImages::error); });
  EXPECT_NE(msg.find(coco_path() + ": images[0] (id 1146): image '"), std::string::npos) << msg;
  EXPECT_NE(msg.find("does not exist"), std::string::npos) << msg;

  // Half the images exist: skip drops the others and their annotations, keep keeps them.
  std::set<int64_t> present;
  for (size_t i = 0; i < all.images.size(); i += 2) {
    write_jpeg(all.images[i].file);
    present.insert(all.images[i].id);
  }
  int64_t anns_on_present = 0;
  for (const auto& a : all.annotations) anns_on_present += present.count(a.image_id);
  DetLoadReport rep;
  DetDataset half = load_detection_dataset(coco_path(), dir, DetFormat::coco, MissingImages::skip, &rep);
  EXPECT_EQ(half.images.size(), 50u);
  EXPECT_EQ(rep.images.missing_images, 50);
  EXPECT_EQ(static_cast<int64_t>(half.annotations.size()), anns_on_present);
  EXPECT_EQ(rep.dropped_annotations, 839 - anns_on_present);
  DetLoadReport keep_rep;
  DetDataset kept = load_detection_dataset(coco_path(), dir, DetFormat::coco, MissingImages::keep, &keep_rep);
  EXPECT_EQ(kept.images.size(), 100u);
  EXPECT_EQ(keep_rep.images.missing_images, 50);
  EXPECT_FALSE(kept.images[1].exists);
}

TEST(LvisReader, FixtureLoadsWithFilesFromCocoUrl) {
  REQUIRE_FIXTURES(coco_path(), lvis_path());
  std::string dir = test::scratch_dir("lvis-images");
  DetLoadReport rep;
  DetDataset ds = load_detection_dataset(lvis_path(), dir, DetFormat::lvis, MissingImages::keep, &rep);
  EXPECT_EQ(ds.images.size(), 100u);
  EXPECT_EQ(ds.annotations.size(), 977u);
  EXPECT_EQ(ds.categories.size(), 1230u);
  EXPECT_EQ(rep.crowd, 0);
  EXPECT_EQ(rep.images.missing_images, 100);
  // coco_url ".../val2017/000000266409.jpg" wins over file_name "COCO_val2014_000000266409.jpg".
  EXPECT_EQ(ds.images[0].file, dir + "/val2017/000000266409.jpg");
  const DetCategory* c = ds.find_category("horse_buggy");
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->frequency, 'r');
  // With the split folder present it is used; a file straight under the folder is found too.
  write_jpeg(dir + "/val2017/000000266409.jpg");
  write_jpeg(dir + "/" + fs::path(ds.images[1].file).filename().string());
  ds = load_detection_dataset(lvis_path(), dir, DetFormat::lvis, MissingImages::skip, &rep);
  ASSERT_EQ(ds.images.size(), 2u);
  EXPECT_EQ(ds.images[0].file, dir + "/val2017/000000266409.jpg");
  EXPECT_EQ(fs::path(ds.images[1].file).parent_path(), fs::path(dir));
  EXPECT_EQ(rep.images.missing_images, 98);
}

TEST(CocoReader, BadInputsNameFileAndRecord) {
  const std::string img = R"({"id": 1, "file_name": "a.jpg", "width": 640, "height": 480})";
  const std::string cat = R"({"id": 3, "name": "car"})";
  auto doc = [&](const std::string& ann) {
    return R"({"images": [)" + img + R"(], "categories": [)" + cat + R"(], "annotations": [)" +
           R"({"id": 1, "image_id": 1, "category_id": 3, "bbox": [1, 2, 3, 4]}, )" + ann + "]}";
  };
  auto err = [&](const std::string& text) {
    return error_of(
        [&] { parse_detection_dataset(text, "bad.json", "/nowhere", DetFormat::coco, MissingImages::keep); });
  };
  struct Case {
    const char* name;
    std::string text;
    std::vector<std::string> expect;  // substrings of the message
  } cases[] = {
      {"malformed JSON gives line and column",
       "{\"images\": [\n{\"id\": 1,,}]}",
       {"bad.json: not valid JSON", "line 2"}},
      {"missing field",
       doc(R"({"id": 2, "image_id": 1, "category_id": 3})"),
       {"bad.json: annotations[1] (id 2): missing field \"bbox\""}},
      {"negative box",
       doc(R"({"id": 2, "image_id": 1, "category_id": 3, "bbox": [1, 2, -3, 4]})"),
       {"annotations[1] (id 2)", "negative width or height"}},
      {"unknown category",
       doc(R"({"id": 2, "image_id": 1, "category_id": 9, "bbox": [1, 2, 3, 4]})"),
       {"annotations[1] (id 2): unknown category_id 9"}},
      {"unknown image",
       doc(R"({"id": 2, "image_id": 7, "category_id": 3, "bbox": [1, 2, 3, 4]})"),
       {"annotations[1] (id 2): unknown image_id 7"}},
      {"duplicate annotation id",
       doc(R"({"id": 1, "image_id": 1, "category_id": 3, "bbox": [1, 2, 3, 4]})"),
       {"annotations[1] (id 1): duplicate annotation id 1"}},
      {"bbox with 3 numbers",
       doc(R"({"id": 2, "image_id": 1, "category_id": 3, "bbox": [1, 2, 3]})"),
       {"\"bbox\" must be [x, y, w, h]"}},
      {"string in bbox",
       doc(R"({"id": 2, "image_id": 1, "category_id": 3, "bbox": [1, "2", 3, 4]})"),
       {"bbox y must be a number"}},
      {"iscrowd 2",
       doc(R"({"id": 2, "image_id": 1, "category_id": 3, "bbox": [1, 2, 3, 4], "iscrowd": 2})"),
       {"\"iscrowd\" must be 0 or 1"}},
      {"zero width image",
       R"({"images": [{"id": 1, "file_name": "a.jpg", "width": 0, "height": 4}], "categories": [], "annotations": []})",
       {"images[0] (id 1): width and height must be positive"}},
      {"no categories", R"({"images": [], "annotations": []})", {"bad.json: missing the \"categories\" list"}},
      {"duplicate category name",
       R"({"images": [], "annotations": [], "categories": [{"id": 1, "name": "a"}, {"id": 2, "name": "a"}]})",
       {"categories[1]: duplicate category name 'a'"}},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    std::string msg = err(c.text);
    ASSERT_FALSE(msg.empty()) << "no error";
    for (const auto& e : c.expect) EXPECT_NE(msg.find(e), std::string::npos) << msg;
  }
  // The good document loads; area defaults to w*h and iscrowd to 0.
  DetDataset ds = parse_detection_dataset(
      doc(R"({"id": 2, "image_id": 1, "category_id": 3, "bbox": [0, 0, 2, 5], "iscrowd": 1, "segmentation": {"counts": [1], "size": [4, 4]}})"),
      "good.json", "/nowhere", DetFormat::coco, MissingImages::keep);
  ASSERT_EQ(ds.annotations.size(), 2u);
  EXPECT_DOUBLE_EQ(ds.annotations[0].area, 12.0);
  EXPECT_FALSE(ds.annotations[0].iscrowd);
  EXPECT_TRUE(ds.annotations[1].iscrowd);
}
