// tests/data/test_classification.cpp: the classification-list reader (data/classification.h)
// with its validation messages, on the fixture lists (tests/fixtures/README.md).
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

// ---- classification lists -------------------------------------------------------------------

TEST(ClassificationReader, FixtureCounts) {
  REQUIRE_FIXTURES(coco_path(), lvis_path());
  struct {
    const char* name;
    size_t rows, classes;
    const char* first_relpath;
    int64_t first_label;
  } lists[] = {{"fgvc_aircraft", 3333, 100, "fgvc_aircraft/images/1514522.jpg", 0},
               {"oxford_flowers", 2463, 102, "oxford_flowers/jpg/image_00172.jpg", 76},
               {"pets", 3669, 37, "oxford_pets/images/Abyssinian_201.jpg", 0},
               {"stanford_cars", 8041, 196, "stanford_cars/cars_test/00001.jpg", 180}};
  for (const auto& l : lists) {
    SCOPED_TRACE(l.name);
    const std::string base = test::data_dir() + "/classification/" + l.name;
    LoadReport rep;
    ClassificationList list =
        load_classification_list(base + ".test.tsv", base + ".classnames.txt", "/data", MissingImages::keep, &rep);
    EXPECT_EQ(list.items.size(), l.rows);
    EXPECT_EQ(list.classnames.size(), l.classes);
    EXPECT_EQ(rep.lines, static_cast<int64_t>(l.rows));
    EXPECT_EQ(rep.missing_images, static_cast<int64_t>(l.rows));
    EXPECT_EQ(list.items[0].image, std::string("/data/") + l.first_relpath);
    EXPECT_EQ(list.items[0].label, l.first_label);
    EXPECT_EQ(list.items[0].line, 2);  // after the header
  }
  const std::string pets = test::data_dir() + "/classification/pets";
  std::string msg = error_of(
      [&] { load_classification_list(pets + ".test.tsv", pets + ".classnames.txt", "/data", MissingImages::error); });
  EXPECT_NE(msg.find("pets.test.tsv:2: image '/data/oxford_pets/images/Abyssinian_201.jpg' does not exist"),
            std::string::npos)
      << msg;
  EXPECT_TRUE(error_of([&] {
                load_classification_list(pets + ".test.tsv", pets + ".classnames.txt", "/data", MissingImages::skip);
              }).find("holds no usable line") != std::string::npos);
}

TEST(ClassificationReader, BadInputs) {
  std::string d = test::scratch_dir("cls-bad");
  write(d + "/names.txt", "cat\ndog\n");
  write_jpeg(d + "/a.jpg");
  auto err = [&](const std::string& tsv) {
    write(d + "/list.tsv", tsv);
    return error_of([&] { load_classification_list(d + "/list.tsv", d + "/names.txt", "", MissingImages::error); });
  };
  EXPECT_NE(err("relpath\tlabel\tclassname\na.jpg\t2\tdog\n").find("list.tsv:2: label 2 is outside [0, 2)"),
            std::string::npos);
  EXPECT_NE(err("a.jpg\tx\tdog\n").find("list.tsv:1: label 'x' is not an integer"), std::string::npos);
  EXPECT_NE(err("a.jpg\t1\tcat\n").find("list.tsv:1: class name 'cat' differs from 'dog'"), std::string::npos);
  EXPECT_NE(err("a.jpg\t1\n").find("list.tsv:1: expected 3 tab-separated fields"), std::string::npos);
  EXPECT_NE(err("b.jpg\t1\tdog\n").find("list.tsv:1: image '" + d + "/b.jpg' does not exist"), std::string::npos);
  LoadReport rep;
  write(d + "/list.tsv", "a.jpg\t1\tdog\r\nb.jpg\t0\tcat\r\n");
  ClassificationList ok = load_classification_list(d + "/list.tsv", d + "/names.txt", "", MissingImages::skip, &rep);
  ASSERT_EQ(ok.items.size(), 1u);
  EXPECT_EQ(ok.items[0].image, d + "/a.jpg");  // relative to the list's folder by default
  EXPECT_EQ(rep.missing_images, 1);
  write(d + "/dup.txt", "cat\ndog\ncat\n");
  EXPECT_NE(error_of([&] { load_classnames(d + "/dup.txt"); }).find("dup.txt:3: class name 'cat' repeats line 1"),
            std::string::npos);
}
