// tests/eval/test_task_metrics.cpp: the Visual-RFT evaluation protocol (eval/task_metrics.h) on
// hand-made answers: classification by both rules, the reference's detection parser, COCO
// mAP of in-memory detection samples (1 for perfect boxes, hand-computed and pycocotools'
// numbers for shifted ones), grounding boxes and mIoU.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "test_util.h"
#include "visual_rft/core/error.h"
#include "visual_rft/core/fs.h"
#include "visual_rft/eval/task_metrics.h"

using namespace vrft;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

// ---- classification ------------------------------------------------------------------------------

TEST(EvalCls, BothRules) {
  struct Row {
    const char* name;
    const char* completion;
    bool reference, exact;
  };
  const std::string label = "pink primrose";
  const Row rows[] = {
      {"exact answer, other case", "<think>a flower</think><answer>Pink Primrose</answer>", true, true},
      {"underscores count as spaces", "<answer>pink_primrose</answer>", true, true},
      {"a part of the name: substring rule only", "<answer>primrose</answer>", true, false},
      {"a shorter name inside the label (rose in primrose)", "<answer>rose</answer>", true, false},
      {"the label inside a longer answer", "<answer>a pink primrose or a tulip</answer>", true, false},
      {"empty answer: the reference's hole", "<answer></answer>", true, false},
      {"no tags: wrong in eval (the reward would use the whole text)", "pink primrose", false, false},
      {"multi-line answer: no match without DOTALL; strict reads it", "<answer>\npink primrose\n</answer>", false,
       true},
      {"another class", "<think>x</think><answer>tulip</answer>", false, false},
  };
  for (const Row& r : rows) {
    ClsJudgement j = judge_classification(r.completion, label, nullptr);
    EXPECT_EQ(j.reference, r.reference) << r.name;
    EXPECT_EQ(j.exact, r.exact) << r.name;
  }
  // Synonyms count for the exact rule.
  Synonyms syn;
  syn.group = {{"pink primrose", 0}, {"evening primrose", 0}};
  EXPECT_TRUE(judge_classification("<answer>Evening primrose</answer>", label, &syn).exact);
  EXPECT_FALSE(judge_classification("<answer>Evening primrose</answer>", label, nullptr).exact);
}

TEST(EvalCls, AccuracyPerClass) {
  const std::vector<std::string> labels = {"cat", "dog", "dog", "cat", "dog"};
  const std::vector<std::string> answers = {"<answer>cat</answer>", "<answer>dog</answer>", "<answer>hotdog</answer>",
                                            "no tags", "<answer>Dog</answer>"};
  std::vector<ClsJudgement> js;
  for (size_t i = 0; i < labels.size(); ++i) js.push_back(judge_classification(answers[i], labels[i], nullptr));
  ClsMetrics m = classification_metrics(labels, js);
  EXPECT_EQ(m.n, 5);
  EXPECT_EQ(m.correct_reference, 4);  // "hotdog" contains "dog"
  EXPECT_EQ(m.correct_exact, 3);
  EXPECT_EQ(m.no_answer, 1);
  EXPECT_DOUBLE_EQ(m.accuracy_reference, 0.8);
  EXPECT_DOUBLE_EQ(m.accuracy_exact, 0.6);
  ASSERT_EQ(m.per_class.size(), 2u);
  EXPECT_EQ(m.per_class[0].label, "cat");
  EXPECT_EQ(m.per_class[0].n, 2);
  EXPECT_EQ(m.per_class[0].correct_reference, 1);
  EXPECT_EQ(m.per_class[1].label, "dog");
  EXPECT_EQ(m.per_class[1].correct_reference, 3);
  EXPECT_EQ(m.per_class[1].correct_exact, 2);
}

// ---- detection parsing ---------------------------------------------------------------------------

TEST(EvalDet, ReferenceParser) {
  using S = DetParse::Status;
  struct Row {
    const char* name;
    const char* completion;
    S status;
    size_t objects;
  };
  const Row rows[] = {
      {"two boxes",
       "<think>x</think><answer>[{'Position': [1, 2, 30, 40], 'Confidence': 0.9}, "
       "{'Position': [5, 6, 70, 80], 'Confidence': 0.5}]</answer>",
       S::ok, 2},
      {"a list in a list", "<answer>[[{'Position': [1, 2, 30, 40], 'Confidence': 0.9}]]</answer>", S::ok, 1},
      {"duplicate Position: the first kept",
       "<answer>[{'Position': [1, 2, 30, 40], 'Confidence': 0.9}, "
       "{'Position': [1, 2, 30, 40], 'Confidence': 0.1}]</answer>",
       S::ok, 1},
      {"unclosed entry: repaired after the last '},'",
       "<answer>[{'Position': [1, 2, 30, 40], 'Confidence': 0.9}, "
       "{'Position': [5, 6, 70, 80], 'Confidence': 0.5</answer>",
       S::ok, 1},
      // Without </answer> the reference wraps the text in a second <answer>, so json.loads
      // sees "<answer>[..." and fails: a cut-off answer is lost.
      {"cut off before </answer>", "<answer>[{'Position': [1, 2, 30, 40], 'Confidence': 0.9}, {'Position': [5,",
       S::malformed, 0},
      {"', ...' removed", "<answer>[{'Position': [1, 2, 30, 40], 'Confidence': 0.9}, ...]</answer>", S::ok, 1},
      {"newlines removed", "<answer>[\n{'Position': [1, 2, 30, 40],\n'Confidence': 0.9}\n]</answer>", S::ok, 1},
      {"no tags: the whole text", "[{'Position': [1, 2, 30, 40], 'Confidence': 0.9}]", S::ok, 1},
      {"empty list", "<answer>[]</answer>", S::ok, 0},
      {"second entry without Confidence",
       "<answer>[{'Position': [1, 2, 30, 40], 'Confidence': 0.9}, "
       "{'Position': [5, 6, 70, 80]}]</answer>",
       S::partial, 1},
      {"Position of 3 numbers first", "<answer>[{'Position': [1, 2, 30], 'Confidence': 0.9}]</answer>", S::partial, 0},
      {"a string Position after a good box: read until it",
       "<answer>[{'Position': [1, 2, 30, 40], 'Confidence': 0.9}, {'Position': 'abcd', 'Confidence': 0.5}]</answer>",
       S::partial, 1},
      // remove_duplicates runs over the whole list first and raises on these: every box is lost.
      {"second entry without Position",
       "<answer>[{'Position': [1, 2, 30, 40], 'Confidence': 0.9}, {'Confidence': 0.5}]</answer>", S::malformed, 0},
      {"second entry not a dict", "<answer>[{'Position': [1, 2, 30, 40], 'Confidence': 0.9}, [5, 6, 70, 80]]</answer>",
       S::malformed, 0},
      {"a number as Position", "<answer>[{'Position': [1, 2, 30, 40], 'Confidence': 0.9}, {'Position': 7}]</answer>",
       S::malformed, 0},
      {"a dict inside Position",
       "<answer>[{'Position': [1, 2, 30, 40], 'Confidence': 0.9}, {'Position': [{'x': 5}, 6, 70, 80], "
       "'Confidence': 0.5}]</answer>",
       S::malformed, 0},
      {"No Objects", "<think>none</think><answer>No Objects</answer>", S::no_objects, 0},
      {"prose", "<answer>a cat on the left</answer>", S::malformed, 0},
      {"a list of strings", "<answer>['cat', 'dog']</answer>", S::malformed, 0},
      {"nothing", "", S::malformed, 0},
  };
  for (const Row& r : rows) {
    DetParse p = parse_detection_eval(r.completion);
    EXPECT_EQ(det_status_name(p.status), std::string(det_status_name(r.status))) << r.name;
    EXPECT_EQ(p.objects.size(), r.objects) << r.name;
  }
  // Boxes as written, confidence unchanged (COCOeval's score).
  DetParse p = parse_detection_eval("<answer>[{'Position': [300, 200, 100, 50], 'Confidence': 1.5}]</answer>");
  ASSERT_EQ(p.objects.size(), 1u);
  EXPECT_EQ(p.objects[0].box.x1, 300);
  EXPECT_EQ(p.objects[0].box.y2, 50);
  EXPECT_EQ(p.objects[0].confidence, 1.5);
}

TEST(EvalDet, CategoryAndPixels) {
  EXPECT_EQ(detection_category("Detect all objects belonging to the category 'fire hydrant' in the image, and "
                               "provide ... If no object belonging to the category 'fire hydrant' ..."),
            std::optional<std::string>("fire hydrant"));
  EXPECT_FALSE(detection_category("What is in the image?"));
  EXPECT_FALSE(detection_category("the category '' is empty"));
  BoxXYWH b = box_to_pixels({100, 200, 500, 600}, 640, 480);
  EXPECT_DOUBLE_EQ(b.x, 64);
  EXPECT_DOUBLE_EQ(b.y, 96);
  EXPECT_DOUBLE_EQ(b.w, 256);
  EXPECT_DOUBLE_EQ(b.h, 192);
}

// ---- detection mAP -------------------------------------------------------------------------------

std::vector<DetSample> perfect_samples() {
  std::vector<DetSample> s(3);
  s[0] = {1, "cat", 640, 480, {{100, 100, 400, 500}, {500, 500, 900, 950}}, {}};
  s[1] = {2, "dog", 500, 375, {{0, 0, 1000, 1000}}, {}};
  s[2] = {3, "cat", 333, 500, {}, {}};  // no cat here, and none predicted
  for (auto& x : s)
    for (const Box& b : x.truth) x.predicted.push_back({b, 0.8});
  return s;
}

TEST(EvalDet, PerfectPredictionsGiveOne) {
  DetMetrics m = detection_metrics(perfect_samples());
  EXPECT_DOUBLE_EQ(m.coco.stats[0], 1.0);
  EXPECT_DOUBLE_EQ(m.coco.stats[1], 1.0);
  EXPECT_DOUBLE_EQ(m.coco.stats[2], 1.0);
  EXPECT_DOUBLE_EQ(m.mean_category_ap, 1.0);
  ASSERT_EQ(m.per_category.size(), 2u);
  EXPECT_EQ(m.per_category[0].name, "cat");
  EXPECT_EQ(m.per_category[0].true_boxes, 2);
  EXPECT_EQ(m.per_category[0].images, 2);
  EXPECT_DOUBLE_EQ(m.per_category[1].ap75, 1.0);
}

TEST(EvalDet, ShiftedBoxHandComputed) {
  // One true box and one prediction of IoU 0.52: a match at the 0.5 threshold only, so
  // precision is 1 on all 101 recall points there and 0 at the nine others: AP = 0.1.
  std::vector<DetSample> s = {{1, "bus", 1000, 1000, {{0, 0, 100, 100}}, {{{0, 0, 100, 52}, 0.7}}}};
  DetMetrics m = detection_metrics(s);
  EXPECT_NEAR(m.coco.stats[0], 0.1, 1e-15);
  EXPECT_DOUBLE_EQ(m.coco.stats[1], 1.0);
  EXPECT_DOUBLE_EQ(m.coco.stats[2], 0.0);
  EXPECT_NEAR(m.per_category[0].ap, 0.1, 1e-15);
  EXPECT_DOUBLE_EQ(m.per_category[0].ap50, 1.0);
  EXPECT_DOUBLE_EQ(m.per_category[0].ap75, 0.0);
  EXPECT_DOUBLE_EQ(detection_sample_score(s[0].truth, s[0].predicted), 0.52);
}

// Shifted, missing and extra boxes on several images and categories, scored three ways: our
// detection_metrics, COCOeval on a ground truth written out by hand here, and pycocotools.
std::vector<DetSample> shifted_samples() {
  std::vector<DetSample> s = {
      {1,
       "cat",
       640,
       480,
       {{100, 100, 400, 500}, {500, 500, 900, 950}},
       {{{110, 90, 420, 480}, 0.9}, {{520, 530, 880, 990}, 0.6}, {{0, 0, 50, 50}, 0.95}}},
      {2, "dog", 500, 375, {{200, 100, 800, 900}}, {{{150, 150, 750, 900}, 0.8}, {{600, 100, 1000, 400}, 0.3}}},
      {3, "cat", 333, 500, {{10, 10, 300, 200}}, {}},
      {4, "dog", 800, 600, {}, {{{100, 100, 200, 200}, 0.5}}},
      {5, "bird", 1000, 1000, {{0, 0, 20, 20}, {30, 30, 60, 60}}, {{{0, 0, 22, 20}, 0.4}, {{30, 32, 60, 60}, 0.4}}},
  };
  return s;
}

TEST(EvalDet, ShiftedBoxesEqualCocoEvalAndPycocotools) {
  const std::vector<DetSample> samples = shifted_samples();
  const DetMetrics m = detection_metrics(samples);
  // The same data set, written by hand: categories sorted by name, boxes in pixels.
  GroundTruth gt;
  gt.source = "hand-made";
  for (int64_t i = 1; i <= 5; ++i) gt.images.push_back({i, {}, {}});
  gt.categories = {{1, "bird", 0}, {2, "cat", 0}, {3, "dog", 0}};
  auto px = [](double x1, double y1, double x2, double y2, double W, double H) {
    return BoxXYWH{x1 / 1000 * W, y1 / 1000 * H, x2 / 1000 * W - x1 / 1000 * W, y2 / 1000 * H - y1 / 1000 * H};
  };
  int64_t id = 0;
  auto ann = [&](int64_t img, int64_t cat, BoxXYWH b) {
    GtAnnotation a;
    a.id = ++id;
    a.image_id = img;
    a.category_id = cat;
    a.bbox = b;
    a.area = b.w * b.h;
    gt.annotations.push_back(a);
  };
  ann(1, 2, px(100, 100, 400, 500, 640, 480));
  ann(1, 2, px(500, 500, 900, 950, 640, 480));
  ann(2, 3, px(200, 100, 800, 900, 500, 375));
  ann(3, 2, px(10, 10, 300, 200, 333, 500));
  ann(5, 1, px(0, 0, 20, 20, 1000, 1000));
  ann(5, 1, px(30, 30, 60, 60, 1000, 1000));
  const std::vector<CocoDetection> dets = {
      {1, 2, px(110, 90, 420, 480, 640, 480), 0.9},   {1, 2, px(520, 530, 880, 990, 640, 480), 0.6},
      {1, 2, px(0, 0, 50, 50, 640, 480), 0.95},       {2, 3, px(150, 150, 750, 900, 500, 375), 0.8},
      {2, 3, px(600, 100, 1000, 400, 500, 375), 0.3}, {4, 3, px(100, 100, 200, 200, 800, 600), 0.5},
      {5, 1, px(0, 0, 22, 20, 1000, 1000), 0.4},      {5, 1, px(30, 32, 60, 60, 1000, 1000), 0.4},
  };
  const CocoEvalResult ref = coco_evaluate(gt, dets);
  for (int k = 0; k < CocoEvalResult::kNumStats; ++k) EXPECT_EQ(m.coco.stats[k], ref.stats[k]) << coco_stat_names()[k];
  ASSERT_EQ(m.per_category.size(), 3u);
  for (size_t k = 0; k < 3; ++k) EXPECT_EQ(m.per_category[k].ap, ref.per_category[k].ap) << k;
  EXPECT_GT(m.coco.stats[0], 0.05);  // not a degenerate case
  EXPECT_LT(m.coco.stats[0], 0.95);

  // pycocotools on the files of make_coco_data.
  const std::string dir = test::scratch_dir("eval-pycoco");
  const CocoData d = make_coco_data(samples);
  json g = {{"images", json::array()}, {"categories", json::array()}, {"annotations", json::array()}};
  for (const auto& im : d.gt.images) g["images"].push_back({{"id", im.id}});
  for (const auto& c : d.gt.categories) g["categories"].push_back({{"id", c.id}, {"name", c.name}});
  for (const auto& a : d.gt.annotations)
    g["annotations"].push_back({{"id", a.id},
                                {"image_id", a.image_id},
                                {"category_id", a.category_id},
                                {"bbox", {a.bbox.x, a.bbox.y, a.bbox.w, a.bbox.h}},
                                {"area", a.area},
                                {"iscrowd", 0}});
  json r = json::array();
  for (const auto& x : d.results)
    r.push_back({{"image_id", x.image_id},
                 {"category_id", x.category_id},
                 {"bbox", {x.bbox.x, x.bbox.y, x.bbox.w, x.bbox.h}},
                 {"score", x.score}});
  write_file_atomic(dir + "/gt.json", g.dump());
  write_file_atomic(dir + "/res.json", r.dump());
  const std::string py =
      "import sys, json, io, contextlib\n"
      "from pycocotools.coco import COCO\nfrom pycocotools.cocoeval import COCOeval\n"
      "with contextlib.redirect_stdout(io.StringIO()):\n"
      "    gt = COCO(sys.argv[1]); e = COCOeval(gt, gt.loadRes(sys.argv[2]), 'bbox')\n"
      "    e.evaluate(); e.accumulate(); e.summarize()\n"
      "print(json.dumps([float(x) for x in e.stats]))\n";
  write_file_atomic(dir + "/ref.py", py);
  auto out =
      test::run("'" + std::string(VRFT_PYTHON) + "' '" + dir + "/ref.py' '" + dir + "/gt.json' '" + dir + "/res.json'");
  ASSERT_EQ(out.status, 0) << out.output;
  const json stats = json::parse(out.output.substr(out.output.find('[')));
  for (int k = 0; k < CocoEvalResult::kNumStats; ++k)
    EXPECT_NEAR(m.coco.stats[k], stats[static_cast<size_t>(k)].get<double>(), 1e-12) << coco_stat_names()[k];
}

// ---- grounding -----------------------------------------------------------------------------------

TEST(EvalGround, ReferenceBoxAndIou) {
  struct Row {
    const char* name;
    const char* completion;
    std::optional<Box> box;
  };
  const Row rows[] = {
      {"answer form", "<think>x</think>\n<answer>(10,20),(300,400)</answer>", Box{10, 20, 300, 400}},
      {"spaces", "<answer>( 10 , 20 ) , ( 300 , 400 )</answer>", Box{10, 20, 300, 400}},
      {"first match anywhere, even in <think>", "<think>(1,2),(3,4)</think><answer>(10,20),(300,400)</answer>",
       Box{1, 2, 3, 4}},
      {"a broken pair first, then a box", "(1,2) and (10,20),(300,400)", Box{10, 20, 300, 400}},
      {"decimals do not match", "<answer>(10.5,20),(300,400)</answer>", std::nullopt},
      {"brackets do not match", "<answer>[10, 20, 300, 400]</answer>", std::nullopt},
      {"negative numbers do not match", "<answer>(-10,20),(300,400)</answer>", std::nullopt},
  };
  for (const Row& r : rows) {
    std::optional<Box> b = reference_grounding_box(r.completion);
    ASSERT_EQ(b.has_value(), r.box.has_value()) << r.name;
    if (b) {
      EXPECT_EQ(b->x1, r.box->x1) << r.name;
      EXPECT_EQ(b->y1, r.box->y1) << r.name;
      EXPECT_EQ(b->x2, r.box->x2) << r.name;
      EXPECT_EQ(b->y2, r.box->y2) << r.name;
    }
  }
  // IoU of [0,0,.5,.5] with [0,0,.5,.25]: 0.125 / (0.25 + 0.125 - 0.125 + 1e-6).
  EXPECT_DOUBLE_EQ(reference_box_iou({0, 0, 500, 500}, {0, 0, 500, 250}), 0.125 / (0.25 + 1e-6));
  EXPECT_DOUBLE_EQ(reference_box_iou({0, 0, 100, 100}, {200, 200, 300, 300}), 0.0);
}

TEST(EvalGround, MeanIou) {
  const Box truth{0, 0, 500, 500};
  std::vector<GroundJudgement> js = {
      judge_grounding("<answer>(0,0),(500,500)</answer>", truth),   // IoU ~1
      judge_grounding("<answer>(0,0),(500,250)</answer>", truth),   // IoU ~0.5
      judge_grounding("<answer>[0, 0, 500, 125]</answer>", truth),  // strict only: 0.25
      judge_grounding("no box", truth),
  };
  GroundMetrics m = grounding_metrics(js);
  EXPECT_EQ(m.n, 4);
  const double iou1 = 0.25 / (0.25 + 1e-6), iou2 = 0.125 / (0.25 + 1e-6);
  EXPECT_DOUBLE_EQ(m.miou_reference, (iou1 + iou2) / 4);
  EXPECT_DOUBLE_EQ(m.acc50_reference, 0.25);  // 0.4999998 misses 0.5
  EXPECT_DOUBLE_EQ(m.miou_strict, (1.0 + 0.5 + 0.25) / 4);
  EXPECT_DOUBLE_EQ(m.acc50_strict, 0.5);
  EXPECT_EQ(m.no_box_reference, 2);
  EXPECT_EQ(m.no_box_strict, 1);
}

}  // namespace
