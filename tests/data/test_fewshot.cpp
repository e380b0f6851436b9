// tests/data/test_fewshot.cpp: the task prompt texts against the reference strings, the
// seeded draw, the few-shot detection and classification sets, `visual-rft data fewshot` end
// to end, and the category lists of data/categories/. Solutions written by the builder are
// checked with the reward functions themselves: the true answer must score 1.
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
#include "visual_rft/data/fewshot.h"
#include "visual_rft/data/task_prompts.h"
#include "visual_rft/data/visual_rft_jsonl.h"
#include "visual_rft/reward/rewards.h"

using namespace vrft;
using namespace vrft::test;
namespace fs = std::filesystem;

// ---- prompts and solutions ------------------------------------------------------------------

TEST(TaskPrompts, ReferenceTexts) {
  // The reference's detection question (without the evaluation's '<image>\n' prefix) and the #203
  // training row.
  EXPECT_EQ(
      detection_prompt("dog", PromptStyle::eval),
      "Detect all objects belonging to the category 'dog' in the image, and provide the bounding boxes (between 0 "
      "and 1000, integer) and confidence (between 0 and 1, with two decimal places).\nIf no object belonging to "
      "the category 'dog' in the image, return 'No Objects'.\nOutput the thinking process in <think> </think> and "
      "final answer in <answer> </answer> tags.The output answer format should be as follows:\n<think> ... "
      "</think> <answer>[{'Position': [x1, y1, x2, y2], 'Confidence': number}, ...]</answer>\nPlease strictly "
      "follow the format.");
  EXPECT_EQ(
      detection_prompt("tv", PromptStyle::train),
      "Detect all objects belonging to the category 'tv' in the image, and provide the bounding boxes (between 0 "
      "and 1000, integer) and confidence (between 0 and 1, with two decimal places). If no object belonging to the "
      "category 'tv' in the image, return 'No Objects'. Output the thinking process in <think> </think> and final "
      "answer in <answer> </answer> tags.The output answer format should be as follows: <think> ... </think> "
      "<answer>[{'Position': [x1, y1, x2, y2], 'Confidence': number}, ...]</answer> Please strictly follow the "
      "format.");
  // classification/Qwen2_VL_classification_infere.py, the official aircraft prompt.
  EXPECT_EQ(classification_prompt("aircraft"),
            "This is an image containing an aircraft. Please identify the model of the aircraft based on the image.\n"
            "Output the thinking process in <think> </think> and final answer in <answer> </answer> tags.The output "
            "answer format should be as follows:\n<think> ... </think> <answer>species name</answer>\nPlease strictly "
            "follow the format.");
  EXPECT_EQ(
      classification_prompt("plant").rfind(
          "This is an image containing a plant. Please identify the species of the plant based on the image.\n", 0),
      0u);
  EXPECT_THROW(classification_prompt("tree"), Error);
  EXPECT_EQ(guess_classification_subject("x/oxford_flowers.test.tsv"), "plant");
  EXPECT_EQ(guess_classification_subject("stanford_cars.test.tsv"), "car");
  EXPECT_EQ(guess_classification_subject("fgvc_aircraft.test.tsv"), "aircraft");
  EXPECT_EQ(guess_classification_subject("pets.test.tsv"), "pet");
  EXPECT_EQ(guess_classification_subject("birds.tsv"), "");

  EXPECT_EQ(detection_solution({{1, 364, 98, 649}}),
            "<answer>[{'Position': [1, 364, 98, 649], 'Confidence': 1}]</answer>");
  // The grounding solution parses back to its box, and a perfect answer scores 1 (IoU) and 2 (GIoU + 1).
  const std::string g = grounding_solution({100, 200, 300, 400});
  EXPECT_EQ(g, "<answer> (100,200),(300,400) </answer>");
  Solution sol = parse_solution(Task::ground, g);
  EXPECT_DOUBLE_EQ(sol.box.x1, 100);
  EXPECT_DOUBLE_EQ(sol.box.y2, 400);
  EXPECT_DOUBLE_EQ(iou_grounding_reward(g, sol, strict_ctx()), 1.0);
  EXPECT_DOUBLE_EQ(giou_grounding_reward(g, sol, reference_ctx()), 2.0);
  EXPECT_NE(grounding_prompt("the red cup", PromptStyle::train).find("instruction: the red cup Output the thinking"),
            std::string::npos);

  EXPECT_EQ(to_unit1000(320, 640), 500);
  EXPECT_EQ(to_unit1000(-3, 640), 0);
  EXPECT_EQ(to_unit1000(700, 640), 1000);
  EXPECT_EQ(box_to_unit1000(100.2, 50, 0.1, 0, 640, 480), (std::array<int64_t, 4>{157, 104, 158, 105}));  // widened
  EXPECT_EQ(box_to_unit1000(640, 0, 0, 480, 640, 480), (std::array<int64_t, 4>{999, 0, 1000, 1000}));
}

// ---- few-shot sets --------------------------------------------------------------------------

TEST(FewShot, SeededChoice) {
  EXPECT_EQ(seeded_choice(10, 3, 7, 1), seeded_choice(10, 3, 7, 1));
  std::vector<size_t> five = seeded_choice(10, 5, 7, 1);
  std::vector<size_t> two = seeded_choice(10, 2, 7, 1);
  EXPECT_EQ(std::vector<size_t>(five.begin(), five.begin() + 2), two);  // nested in K
  EXPECT_EQ(std::set<size_t>(five.begin(), five.end()).size(), 5u);
  EXPECT_EQ(seeded_choice(3, 8, 1, 1).size(), 3u);
  EXPECT_TRUE(seeded_choice(0, 4, 1, 1).empty());
  int differ = 0;
  for (uint64_t s = 0; s < 20; ++s) differ += seeded_choice(1000, 4, s, 1) != seeded_choice(1000, 4, s + 1, 1);
  EXPECT_EQ(differ, 20);
  // Pinned values: the draw is specified by the C++ standard, so any platform gives these.
  EXPECT_EQ(seeded_choice(100, 4, 42, 17), (std::vector<size_t>{1, 14, 93, 32}));
}

TEST(FewShot, DetectionOnCocoFixture) {
  REQUIRE_FIXTURES(coco_path(), lvis_path());
  DetDataset ds = load_detection_dataset(coco_path(), coco_images(), DetFormat::coco, MissingImages::error);
  const std::vector<std::string> cats = {"cat", "dog", "bed", "bus"};  // 3 to 5 images each
  FewShotSet a = build_detection_fewshot(ds, cats, 2, 1, PromptStyle::train);
  FewShotSet b = build_detection_fewshot(ds, cats, 2, 1, PromptStyle::train);
  ASSERT_EQ(a.rows.size(), 8u);
  ASSERT_EQ(a.classes.size(), 4u);
  for (const auto& c : a.classes) EXPECT_EQ(c.chosen, 2) << c.name;
  for (size_t i = 0; i < a.rows.size(); ++i) {
    EXPECT_EQ(a.rows[i].image, b.rows[i].image);
    EXPECT_EQ(a.rows[i].solution, b.rows[i].solution);
  }
  // Another seed, over all categories, gives another set; a larger K contains the smaller.
  auto images = [](const FewShotSet& s) {
    std::vector<std::string> v;
    for (const auto& r : s.rows) v.push_back(r.image + "|" + r.problem);
    return v;
  };
  FewShotSet all1 = build_detection_fewshot(ds, {}, 2, 1, PromptStyle::train);
  FewShotSet all2 = build_detection_fewshot(ds, {}, 2, 2, PromptStyle::train);
  EXPECT_EQ(all1.classes.size(), 80u);
  EXPECT_NE(images(all1), images(all2));
  FewShotSet one = build_detection_fewshot(ds, {"bed"}, 1, 1, PromptStyle::train);
  FewShotSet four = build_detection_fewshot(ds, {"bed"}, 4, 1, PromptStyle::train);
  ASSERT_EQ(four.rows.size(), 4u);
  EXPECT_EQ(one.rows[0].image, four.rows[0].image);
  EXPECT_EQ(build_detection_fewshot(ds, {"fire hydrant"}, 4, 1, PromptStyle::train).rows.size(), 0u);  // no image
  EXPECT_NE(error_of([&] {
              build_detection_fewshot(ds, {"firehydrant"}, 1, 1, PromptStyle::train);
            }).find("category 'firehydrant' is not in " + coco_path() + " (did you mean 'fire hydrant'?)"),
            std::string::npos);
  EXPECT_THROW(build_detection_fewshot(ds, {"cat", "cat"}, 1, 1, PromptStyle::train), Error);

  // Every row: the solution parses, round-trips to the image's non-crowd boxes within half a
  // unit, and scores 1 as its own answer in both reward modes.
  std::map<std::string, const DetImage*> by_file;
  for (const auto& im : ds.images) by_file[im.file] = &im;
  size_t row = 0;
  for (const auto& c : all1.classes) {
    for (int64_t k = 0; k < c.chosen; ++k, ++row) {
      const Sample& s = all1.rows[row];
      SCOPED_TRACE(c.name + ": " + s.solution);
      EXPECT_EQ(s.problem, detection_prompt(c.name, PromptStyle::train));
      const DetImage& im = *by_file.at(s.image);
      std::vector<const DetAnnotation*> truth;
      for (const auto& a : ds.annotations) {
        if (a.image_id == im.id && a.category_id == c.id && !a.iscrowd) truth.push_back(&a);
      }
      Solution sol = parse_solution(Task::det, s.solution);
      ASSERT_EQ(sol.boxes.size(), truth.size());  // the fixture has no boxes that merge
      const double ux = im.width / 1000.0, uy = im.height / 1000.0;
      for (size_t i = 0; i < truth.size(); ++i) {
        const DetAnnotation& t = *truth[i];
        EXPECT_LE(std::abs(sol.boxes[i].x1 * ux - t.x), ux / 2 + 1e-9);
        EXPECT_LE(std::abs(sol.boxes[i].y1 * uy - t.y), uy / 2 + 1e-9);
        EXPECT_LE(std::abs(sol.boxes[i].x2 * ux - (t.x + t.w)), ux / 2 + 1e-9);
        EXPECT_LE(std::abs(sol.boxes[i].y2 * uy - (t.y + t.h)), uy / 2 + 1e-9);
      }
      for (const RewardContext& ctx : {strict_ctx(), reference_ctx()}) {
        EXPECT_DOUBLE_EQ(iou_reward(s.solution, sol, ctx), 1.0);
        EXPECT_DOUBLE_EQ(confidence_reward(s.solution, sol, ctx), 1.0);
      }
    }
  }
  EXPECT_EQ(all1.merged_boxes, 0);
  EXPECT_EQ(all1.widened_boxes, 0);
}

TEST(FewShot, ClassificationOnPets) {
  REQUIRE_FIXTURES(coco_path(), lvis_path());
  const std::string base = test::data_dir() + "/classification/pets";
  ClassificationList list =
      load_classification_list(base + ".test.tsv", base + ".classnames.txt", "/data", MissingImages::keep);
  FewShotSet a = build_classification_fewshot(list, 4, 5, "pet");
  FewShotSet b = build_classification_fewshot(list, 4, 6, "pet");
  ASSERT_EQ(a.rows.size(), 148u);
  ASSERT_EQ(a.classes.size(), 37u);
  bool differs = false;
  for (size_t i = 0; i < a.rows.size(); ++i) differs |= a.rows[i].image != b.rows[i].image;
  EXPECT_TRUE(differs);
  std::map<std::string, int64_t> label_of;
  for (const auto& it : list.items) label_of[it.image] = it.label;
  for (size_t i = 0; i < a.rows.size(); ++i) {
    const Sample& s = a.rows[i];
    const std::string& name = list.classnames[i / 4];
    EXPECT_EQ(label_of.at(s.image), static_cast<int64_t>(i / 4));
    EXPECT_EQ(s.solution, "<answer>" + name + "</answer>");
    Solution sol = parse_solution(Task::cls, s.solution);
    EXPECT_EQ(sol.label, name);
    for (const RewardContext& ctx : {strict_ctx(), reference_ctx()})
      EXPECT_DOUBLE_EQ(accuracy_cls_reward(s.solution, sol, ctx), 1.0);
  }
  EXPECT_EQ(a.rows[0].problem.rfind("This is an image containing a pet. Please identify the species of the pet", 0),
            0u);
}

// `visual-rft data fewshot` end to end: the same files for a seed, others for another seed,
// the summary, the JSONL reader, and `visual-rft score` on solution-as-answer.
TEST(FewShot, Cli) {
  REQUIRE_FIXTURES(coco_path(), lvis_path());
  std::string d = test::scratch_dir("fewshot-cli");
  const std::string cats = test::source_dir() + "/data/categories/coco_fewshot8.txt";
  auto fewshot = [&](const std::string& out, int seed, const std::string& extra = "") {
    return test::run(test::cli() + " data fewshot --coco '" + coco_path() + "' --images '" + coco_images() +
                     "' --categories '" + cats + "' --shots 2 --seed " + std::to_string(seed) + " --out '" + d + "/" +
                     out + "'" + extra);
  };
  test::CommandResult r1 = fewshot("s3a", 3), r2 = fewshot("s3b", 3), r3 = fewshot("s4", 4);
  ASSERT_EQ(r1.status, 0) << r1.output;
  ASSERT_EQ(r2.status, 0) << r2.output;
  ASSERT_EQ(r3.status, 0) << r3.output;
  EXPECT_NE(r1.output.find("fire hydrant"), std::string::npos);  // warned: no image in the fixture
  EXPECT_EQ(read_file(d + "/s3a/train.jsonl"), read_file(d + "/s3b/train.jsonl"));
  EXPECT_NE(read_file(d + "/s3a/train.jsonl"), read_file(d + "/s4/train.jsonl"));
  auto summary = nlohmann::json::parse(read_file(d + "/s3a/summary.json"));
  EXPECT_EQ(summary["seed"], 3);
  EXPECT_EQ(summary["shots"], 2);
  EXPECT_EQ(summary["task"], "det");
  ASSERT_EQ(summary["categories"].size(), 8u);
  int64_t rows = 0;
  for (const auto& c : summary["categories"]) {
    EXPECT_EQ(c["chosen"], std::min<int64_t>(2, c["available"].get<int64_t>())) << c.dump();
    rows += c["chosen"].get<int64_t>();
  }
  EXPECT_EQ(summary["rows"], rows);
  EXPECT_EQ(summary["categories"][2]["name"], "fire hydrant");
  EXPECT_EQ(summary["categories"][2]["available"], 0);

  LoadReport rep;
  std::vector<Sample> samples = load_visual_rft_jsonl(d + "/s3a/train.jsonl", "", false, &rep);
  EXPECT_EQ(static_cast<int64_t>(samples.size()), rows);
  std::string score_in;
  for (const auto& s : samples) {
    score_in +=
        nlohmann::json{{"completion", "<think> seen </think><answer>" + s.solution.substr(8)}, {"solution", s.solution}}
            .dump() +
        "\n";
  }
  write(d + "/score.jsonl", score_in);
  test::CommandResult sc = test::run(test::cli() + " score --task det --input '" + d + "/score.jsonl'");
  ASSERT_EQ(sc.status, 0) << sc.output;
  std::istringstream lines(sc.output);
  std::string line;
  int scored = 0;
  while (std::getline(lines, line)) {
    auto j = nlohmann::json::parse(line);
    EXPECT_DOUBLE_EQ(j["total"].get<double>(), 3.0) << line;  // iou + confidence + format
    ++scored;
  }
  EXPECT_EQ(scored, rows);

  // Relative paths resolve from the output folder; errors are reported with status 1.
  test::CommandResult rel = fewshot("rel", 3, " --relative-paths");
  ASSERT_EQ(rel.status, 0) << rel.output;
  std::vector<Sample> rel_samples = load_visual_rft_jsonl(d + "/rel/train.jsonl", "", false);
  ASSERT_EQ(rel_samples.size(), samples.size());
  EXPECT_EQ(fs::canonical(rel_samples[0].image), fs::canonical(samples[0].image));
  EXPECT_EQ(read_file(d + "/rel/train.jsonl").find("\"image\":\"/"), std::string::npos);
  test::CommandResult bad = test::run(test::cli() + " data fewshot --coco '" + coco_path() +
                                      "' --images /nowhere --categories cat --shots 1 --out " + d + "/x");
  EXPECT_EQ(bad.status, 1);
  EXPECT_NE(bad.output.find("images[0] (id 1146): image '/nowhere/COCO_val2014_000000001146.jpg' does not exist"),
            std::string::npos)
      << bad.output;
  test::CommandResult keep =
      test::run(test::cli() + " data fewshot --coco '" + coco_path() +
                "' --images /nowhere --categories cat --shots 1 --missing-images keep --out " + d + "/k");
  EXPECT_EQ(keep.status, 0) << keep.output;
  test::CommandResult none =
      test::run(test::cli() + " data fewshot --coco '" + coco_path() +
                "' --images /nowhere --categories 'fire hydrant' --shots 1 --missing-images keep --out " + d + "/n");
  EXPECT_EQ(none.status, 1);
  EXPECT_NE(none.output.find("no category has a candidate image; nothing written"), std::string::npos) << none.output;
  EXPECT_FALSE(fs::exists(d + "/n/train.jsonl"));
}

// ---- category lists -------------------------------------------------------------------------

TEST(CategoryLists, NamesExistInTheDataSets) {
  REQUIRE_FIXTURES(coco_path(), lvis_path());
  const std::string dir = test::source_dir() + "/data/categories/";
  DetDataset coco = load_detection_dataset(coco_path(), "/x", DetFormat::coco, MissingImages::keep);
  std::set<std::string> lvis_v1;
  std::ifstream tsv(fixtures() + "/lvis/lvis_v1_categories.tsv");
  for (std::string line; std::getline(tsv, line);) {
    size_t a = line.find('\t'), b = line.find('\t', a + 1);
    lvis_v1.insert(line.substr(a + 1, b - a - 1));
  }
  ASSERT_EQ(lvis_v1.size(), 1203u + 1);  // and the header
  struct {
    const char* file;
    size_t count;
    bool lvis;
  } lists[] = {{"coco_fewshot8.txt", 8, false},
               {"coco_ov_base65.txt", 65, false},
               {"coco_ov_novel15.txt", 15, false},
               {"lvis_fewshot6.txt", 6, true},
               {"lvis_ov_rare13.txt", 13, true}};
  std::map<std::string, std::vector<std::string>> names;
  for (const auto& l : lists) {
    SCOPED_TRACE(l.file);
    names[l.file] = read_category_names(dir + l.file);
    EXPECT_EQ(names[l.file].size(), l.count);
    for (const auto& n : names[l.file])
      EXPECT_TRUE(l.lvis ? lvis_v1.count(n) > 0 : coco.find_category(n) != nullptr) << n;
  }
  std::set<std::string> all(names["coco_ov_base65.txt"].begin(), names["coco_ov_base65.txt"].end());
  all.insert(names["coco_ov_novel15.txt"].begin(), names["coco_ov_novel15.txt"].end());
  EXPECT_EQ(all.size(), 80u);  // base and novel are disjoint and cover COCO
  EXPECT_EQ(read_category_names("cat, dog ,fire hydrant"), (std::vector<std::string>{"cat", "dog", "fire hydrant"}));
  EXPECT_TRUE(read_category_names("all").empty());
}
