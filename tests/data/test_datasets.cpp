// tests/data/test_datasets.cpp: the data readers (COCO, LVIS, classification lists, LISA)
// with their validation messages, and scripts/convert_hf_dataset.py read back with the JSONL
// reader. Fixture counts are those of tests/fixtures/README.md; a missing fixture fails the
// test. The few-shot builder is tested in test_fewshot.cpp.
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
  REQUIRE_FIXTURES();
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
  REQUIRE_FIXTURES();
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
  REQUIRE_FIXTURES();
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

// ---- classification lists -------------------------------------------------------------------

TEST(ClassificationReader, FixtureCounts) {
  REQUIRE_FIXTURES();
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
// A NUL inside an image path would end the path early and read another file: refused.
TEST(VisualRftJsonl, ANulInAnImagePathIsRefused) {
  std::string d = test::scratch_dir("jsonl-nul");
  write(d + "/a.jsonl", R"({"image": "a.jpg\u0000.png", "problem": "q", "solution": "<answer>x</answer>"})"
                        "\n");
  const std::string m = error_of([&] { load_visual_rft_jsonl(d + "/a.jsonl", "", false); });
  EXPECT_NE(m.find(d + "/a.jsonl:1: the image path holds a NUL byte"), std::string::npos) << m;
}

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

// ---- scripts/convert_hf_dataset.py ----------------------------------------------------------

TEST(ConvertHfDataset, ParquetToJsonl) {
  if (test::run(std::string("'") + VRFT_PYTHON + "' -c 'import pyarrow'").status != 0) {
    GTEST_FAIL() << "pyarrow is not in " << VRFT_PYTHON << " (scripts/setup.sh installs it)";
  }
  std::string d = test::scratch_dir("convert");
  cv::Mat img(6, 10, CV_8UC3, cv::Scalar(1, 2, 3));
  ASSERT_TRUE(cv::imwrite(d + "/a.png", img));
  ASSERT_TRUE(cv::imwrite(d + "/b.jpg", img));
  // Two shards: the HF Image struct {bytes, path}, and plain binary images.
  write(d + "/make.py", R"(import sys, pyarrow as pa, pyarrow.parquet as pq
d = sys.argv[1]
a, b = open(d + "/a.png", "rb").read(), open(d + "/b.jpg", "rb").read()
img = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
pq.write_table(pa.table({"image": pa.array([{"bytes": a, "path": "x.png"}, {"bytes": b, "path": None}], img),
                         "problem": ["What is this? \u00e9", "q2"],
                         "solution": ["<answer>[{'Position': [1, 2, 3, 4], 'Confidence': 1}]</answer>", "<answer>cat</answer>"]}),
               d + "/in/train-00000-of-00002.parquet")
pq.write_table(pa.table({"image": pa.array([a], pa.binary()), "problem": ["q3"], "solution": ["<answer>dog</answer>"]}),
               d + "/in/train-00001-of-00002.parquet")
pq.write_table(pa.table({"image": pa.array([a], pa.binary()), "problem": ["q"]}), d + "/bad.parquet")
)");
  fs::create_directories(d + "/in");
  test::CommandResult mk = test::run(std::string("'") + VRFT_PYTHON + "' '" + d + "/make.py' '" + d + "'");
  ASSERT_EQ(mk.status, 0) << mk.output;
  std::string out = test::python("convert_hf_dataset.py' '" + d + "/in' --out '" + d + "/out'");
  EXPECT_NE(out.find("wrote 3 rows"), std::string::npos) << out;

  std::vector<Sample> rows = load_visual_rft_jsonl(d + "/out/train.jsonl", "", false);
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0].image, d + "/out/images/000000.png");
  EXPECT_EQ(rows[1].image, d + "/out/images/000001.jpg");
  EXPECT_EQ(rows[2].image, d + "/out/images/000002.png");
  EXPECT_EQ(rows[0].problem, "What is this? \xc3\xa9");
  EXPECT_EQ(read_file(rows[0].image), read_file(d + "/a.png"));
  EXPECT_EQ(read_file(rows[1].image), read_file(d + "/b.jpg"));
  EXPECT_EQ(parse_solution(Task::det, rows[0].solution).boxes.size(), 1u);
  EXPECT_EQ(parse_solution(Task::cls, rows[2].solution).label, "dog");
  auto summary = nlohmann::json::parse(read_file(d + "/out/summary.json"));
  EXPECT_EQ(summary["rows"], 3);

  test::CommandResult bad = test::run(std::string("'") + VRFT_PYTHON + "' '" + test::source_dir() +
                                      "/scripts/convert_hf_dataset.py' '" + d + "/bad.parquet' --out '" + d + "/o2'");
  EXPECT_NE(bad.status, 0);
  EXPECT_NE(bad.output.find("bad.parquet: no column 'solution'"), std::string::npos) << bad.output;
}
