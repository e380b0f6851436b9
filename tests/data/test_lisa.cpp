// tests/data/test_lisa.cpp: the LISA reader (data/lisa.h) and scripts/repro/lisa_to_jsonl.py,
// read back with the JSONL reader.
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

// ---- LISA -----------------------------------------------------------------------------------

TEST(LisaReader, LabelMeShapes) {
  std::string d = test::scratch_dir("lisa");
  write(d + "/a.json", R"({"text": ["the thing you sit on", "a chair"], "is_sentence": true,
      "imageWidth": 200, "imageHeight": 100,
      "shapes": [{"label": "ignore", "points": [[0, 0], [5, 0], [5, 5]]},
                 {"label": "target", "points": [[10, 20], [30, 25], [15, 40]], "shape_type": "polygon"},
                 {"label": "flag", "points": [[0, 0]]},
                 {"label": "target", "points": [[50, 5], [60, 8], [55, 30], [210, 9]]}]})");
  write_jpeg(d + "/a.jpg");
  LisaSample s = load_lisa_json(d + "/a.json", MissingImages::error);
  EXPECT_EQ(s.image, d + "/a.jpg");
  ASSERT_EQ(s.texts.size(), 2u);
  EXPECT_EQ(s.texts[0], "the thing you sit on");
  EXPECT_TRUE(s.is_sentence);
  EXPECT_EQ(s.targets.size(), 2u);
  EXPECT_EQ(s.ignores.size(), 1u);
  EXPECT_EQ(s.width, 200);
  // Bounding box of both target polygons; x 210 is clamped to the 200 px width.
  EXPECT_DOUBLE_EQ(s.box.x1, 10);
  EXPECT_DOUBLE_EQ(s.box.y1, 5);
  EXPECT_DOUBLE_EQ(s.box.x2, 200);
  EXPECT_DOUBLE_EQ(s.box.y2, 40);

  // A cp1252 file (LISA's fallback) and one string instead of a list; no image beside it.
  write(d + "/b.json",
        "{\"text\": \"caf\xe9 table\", \"shapes\": [{\"label\": \"target\", \"points\": [[1, 2], [3, 4]]}]}");
  EXPECT_NE(
      error_of([&] { load_lisa_json(d + "/b.json", MissingImages::error); }).find("b.json: image '" + d + "/b.jpg'"),
      std::string::npos);
  LoadReport rep;
  std::vector<LisaSample> all = load_lisa_folder(d, MissingImages::skip, &rep);
  EXPECT_EQ(rep.lines, 2);
  EXPECT_EQ(rep.kept, 1);
  EXPECT_EQ(rep.missing_images, 1);
  all = load_lisa_folder(d, MissingImages::keep, &rep);
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[1].texts[0], "caf\xc3\xa9 table");
  EXPECT_FALSE(all[1].image_exists);

  struct {
    const char* json;
    const char* expect;
  } bad[] = {
      {R"({"text": [], "shapes": []})", "\"text\" holds no instruction"},
      {R"({"text": "x", "shapes": [{"label": "ignore", "points": [[1, 2]]}]})", "no \"target\" shape"},
      {R"({"text": "x", "shapes": [{"label": "target", "points": [[1, "a"]]}]})",
       "shapes[0]: points[0] must be [x, y]"},
      {R"({"text": "x", "shapes": [{"label": "target", "points": []}]})",
       "shapes[0]: \"points\" must be a non-empty list"},
      {R"({"text": "x", "shapes": [{"label": "other", "points": [[1, 2]]}]})",
       "shapes[0]: label 'other' is not one of"},
      {R"({"text": "x", "shapes": [{"points": [[1, 2]]}]})", "shapes[0]: missing string field \"label\""},
      {R"({"text": "x", "shapes": [)", "c.json: not valid JSON"},
  };
  for (const auto& b : bad) {
    SCOPED_TRACE(b.json);
    std::string msg = error_of([&] { parse_lisa_json(b.json, "c.json"); });
    EXPECT_NE(msg.find(b.expect), std::string::npos) << msg;
  }
}

// scripts/repro/lisa_to_jsonl.py: --box reference is gen_box_ann.py's box (the first shape's,
// whatever its label, unclipped, fractional 0-1000 units), --box union the strict variant (all
// targets, clipped, rounded); the script counts the files where they differ.
TEST(LisaToJsonl, ReferenceAndUnionBoxes) {
  std::string d = test::scratch_dir("lisa-jsonl");
  write(d + "/a.json", R"({"text": ["the thing you sit on"], "imageWidth": 200, "imageHeight": 100,
      "shapes": [{"label": "ignore", "points": [[0, 0], [5, 0], [5, 5]]},
                 {"label": "target", "points": [[10, 20], [30, 25], [15, 40]]},
                 {"label": "target", "points": [[50, 5], [60, 8], [55, 30], [210, 9]]}]})");
  write(d + "/b.json", R"({"text": ["a cup"], "imageWidth": 300, "imageHeight": 200,
      "shapes": [{"label": "target", "points": [[30.5, 20], [-3, 150], [100, 201]]}]})");
  write_jpeg(d + "/a.jpg");
  write_jpeg(d + "/b.jpg");
  auto solutions = [&](const std::string& box) {
    const std::string out = test::python("repro/lisa_to_jsonl.py' --dir '" + d + "' --style eval --box " + box +
                                         " --out '" + d + "/" + box + ".jsonl'");
    std::vector<std::string> v;
    for (const Sample& s : load_visual_rft_jsonl(d + "/" + box + ".jsonl", "", false)) v.push_back(s.solution);
    return std::make_pair(v, out);
  };
  auto [ref, said] = solutions("reference");
  ASSERT_EQ(ref.size(), 2u);
  EXPECT_EQ(ref[0], "<answer> (0,0),(25,50) </answer>");                // the "ignore" shape comes first
  EXPECT_EQ(ref[1], "<answer> (-10,100),(333.333333,1005) </answer>");  // unclipped, fractional
  EXPECT_NE(said.find("differ, after rounding, in 2 of 2 files"), std::string::npos) << said;
  auto [uni, said2] = solutions("union");
  EXPECT_EQ(uni[0], "<answer> (50,50),(1000,400) </answer>");
  EXPECT_EQ(uni[1], "<answer> (0,100),(333,1000) </answer>");
  // Both parse as grounding solutions, the reference's fractions as written.
  EXPECT_DOUBLE_EQ(parse_solution(Task::ground, ref[1]).box.x2, 333.333333);
}
