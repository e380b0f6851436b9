// tests/eval/test_evaluator.cpp: the evaluator (eval/evaluator.h): drawn boxes, then
// `visual-rft eval` end to end on the tiny random Qwen2-VL (test_util.h) for a det, a cls and
// a ground set, checking that the files exist and that metrics.json agrees with
// predictions.jsonl. The protocol's scoring itself: test_task_metrics.cpp.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "test_util.h"
#include "visual_rft/core/error.h"
#include "visual_rft/core/fs.h"
#include "visual_rft/eval/evaluator.h"
#include "visual_rft/eval/task_metrics.h"

using namespace vrft;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

// ---- drawings ------------------------------------------------------------------------------------

TEST(EvalDraw, TrueGreenPredictedRed) {
  const cv::Mat gray(400, 500, CV_8UC3, cv::Scalar(128, 128, 128));
  // true [100,100,500,500] -> pixels (50,40)-(250,200); predicted, corners reversed,
  // [800,750,600,500] -> (300,200)-(400,300).
  const cv::Mat d =
      draw_boxes(gray, {{100, 100, 500, 500}}, {{{800, 750, 600, 500}, 0.87}, {{0, 0, 100, 100}, std::nullopt}});
  ASSERT_EQ(d.size(), gray.size());
  const cv::Vec3b g = d.at<cv::Vec3b>(120, 50), r = d.at<cv::Vec3b>(250, 400), inside = d.at<cv::Vec3b>(250, 350);
  EXPECT_EQ(g, cv::Vec3b(0, 200, 0));  // BGR
  EXPECT_EQ(r, cv::Vec3b(0, 0, 255));
  EXPECT_EQ(inside, cv::Vec3b(128, 128, 128));
  // The confidence is written above the box: red pixels just above its top edge.
  cv::Mat red_text;
  cv::inRange(d(cv::Rect(300, 160, 80, 38)), cv::Scalar(0, 0, 255), cv::Scalar(0, 0, 255), red_text);
  EXPECT_GT(cv::countNonZero(red_text), 20);
}

// ---- `visual-rft eval` end to end ----------------------------------------------------------------

std::string fixtures() { return test::fixtures_dir(); }

const char* kImages[] = {"apple.jpg", "orange.jpg", "baboon.jpg", "HappyFish.jpg"};

// The tiny model folder (test_util.h) and a 4-sample JSONL of the task.
std::string setup(const std::string& name, const std::string& task) {
  std::string dir = test::scratch_with_tiny_model(name);
  const char* cats[] = {"apple", "orange", "baboon", "fish"};
  std::string jsonl;
  for (int i = 0; i < 4; ++i) {
    json j = {{"image", fixtures() + "/images/" + kImages[i]}};
    if (task == "det") {
      j["problem"] = std::string("Detect all objects belonging to the category '") + cats[i % 2] +
                     "' in the image, and provide the bounding boxes.";
      j["solution"] = i == 3 ? "<answer>No Objects</answer>"
                             : "<answer>[{'Position': [100, 200, 600, 700], 'Confidence': 1}]</answer>";
    } else if (task == "cls") {
      j["problem"] = "What is in the image?";
      j["solution"] = std::string("<answer>") + cats[i] + "</answer>";
    } else {
      j["problem"] = "Output the bounding box of the fruit.";
      j["solution"] = "<answer>(100,200),(600,700)</answer>";
    }
    jsonl += j.dump() + "\n";
  }
  write_file_atomic(dir + "/eval.jsonl", jsonl);
  write_file_atomic(dir + "/cfg.yaml", "model: {path: '" + dir +
                                           "/model', device: cpu, dtype: float32}\n"
                                           "data: {task: " +
                                           task +
                                           ", max_pixels: 12544}\n"
                                           "eval: {data: '" +
                                           dir +
                                           "/eval.jsonl', batch_size: 3, max_new_tokens: 12, "
                                           "draw_images: 3}\n");
  return dir;
}

test::CommandResult run_eval(const std::string& dir, const std::string& extra = "") {
  return test::run("'" + test::cli() + "' --log-level warn eval --config '" + dir + "/cfg.yaml' --model '" + dir +
                   "/model' --out '" + dir + "/out' " + extra);
}

Box box_of(const json& a) { return {a[0].get<double>(), a[1].get<double>(), a[2].get<double>(), a[3].get<double>()}; }

TEST(EvalCli, DetectionFilesAgree) {
  REQUIRE_FIXTURES(test::tokenizer_fixture());
  const std::string dir = setup("eval-det", "det");
  auto r = run_eval(dir);
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("mAP (AP .5:.95, %)"), std::string::npos) << r.output;  // the summary is printed
  const std::vector<json> preds = test::read_jsonl(dir + "/out/predictions.jsonl");
  const json m = json::parse(read_file(dir + "/out/metrics.json"));
  ASSERT_EQ(preds.size(), 4u);
  EXPECT_EQ(m["samples"], 4);
  EXPECT_EQ(m["task"], "det");
  // Rebuild the detection samples from predictions.jsonl: the same COCO numbers.
  std::vector<DetSample> samples;
  int64_t n_pred = 0;
  std::map<std::string, int64_t> status;
  for (size_t i = 0; i < preds.size(); ++i) {
    const json& p = preds[i];
    EXPECT_EQ(p["index"], static_cast<int64_t>(i));
    EXPECT_TRUE(p.contains("answer") && p.contains("problem") && p.contains("solution") && p.contains("score"));
    DetSample s;
    s.image_id = p["image_id"].get<int64_t>();
    s.category = p["category"].get<std::string>();
    s.width = p["image_size"][0].get<int64_t>();
    s.height = p["image_size"][1].get<int64_t>();
    for (const auto& b : p["truth"]) s.truth.push_back(box_of(b));
    for (const auto& o : p["prediction"]) s.predicted.push_back({box_of(o["box"]), o["confidence"].get<double>()});
    n_pred += static_cast<int64_t>(s.predicted.size());
    ++status[p["parse"].get<std::string>()];
    EXPECT_EQ(p["score"].get<double>(), detection_sample_score(s.truth, s.predicted));
    samples.push_back(s);
  }
  EXPECT_EQ(samples[0].category, "apple");
  EXPECT_EQ(samples[1].category, "orange");
  EXPECT_EQ(samples[3].truth.size(), 0u);  // "No Objects"
  const DetMetrics dm = detection_metrics(samples);
  for (int k = 0; k < CocoEvalResult::kNumStats; ++k)
    EXPECT_EQ(m["coco_stats"][coco_stat_names()[k]].get<double>(), dm.coco.stats[k]) << coco_stat_names()[k];
  EXPECT_EQ(m["map"].get<double>(), dm.coco.stats[0]);
  EXPECT_EQ(m["predicted_boxes"], n_pred);
  EXPECT_EQ(m["true_boxes"], 3);
  for (const auto& [k, v] : status) EXPECT_EQ(m["answers"][k], v) << k;
  ASSERT_EQ(m["per_category"].size(), 2u);
  EXPECT_EQ(m["per_category"][0]["name"], "apple");
  EXPECT_EQ(m["per_category"][1]["images"], 2);
  // summary.md and three drawings (eval.draw_images), named by sample index.
  const std::string summary = read_file(dir + "/out/summary.md");
  EXPECT_NE(summary.find("| apple |"), std::string::npos) << summary;
  EXPECT_NE(summary.find("Average Precision"), std::string::npos) << summary;
  for (const char* f : {"000000.jpg", "000001.jpg", "000002.jpg"})
    EXPECT_GT(fs::file_size(dir + "/out/vis/" + f), 1000u) << f;
  EXPECT_FALSE(fs::exists(dir + "/out/vis/000003.jpg"));
  // The same run is deterministic (greedy), whatever the batch size.
  auto r2 = test::run("'" + test::cli() + "' --log-level warn eval --config '" + dir + "/cfg.yaml' --model '" + dir +
                      "/model' --out '" + dir + "/out1' --set eval.batch_size=1 --limit 2");
  ASSERT_EQ(r2.status, 0) << r2.output;
  const std::vector<json> p1 = test::read_jsonl(dir + "/out1/predictions.jsonl");
  ASSERT_EQ(p1.size(), 2u);  // --limit 2
  for (size_t i = 0; i < 2; ++i) EXPECT_EQ(p1[i]["answer"], preds[i]["answer"]) << i;
}

TEST(EvalCli, ClassificationFilesAgree) {
  REQUIRE_FIXTURES(test::tokenizer_fixture());
  const std::string dir = setup("eval-cls", "cls");
  auto r = run_eval(dir);
  ASSERT_EQ(r.status, 0) << r.output;
  const std::vector<json> preds = test::read_jsonl(dir + "/out/predictions.jsonl");
  const json m = json::parse(read_file(dir + "/out/metrics.json"));
  ASSERT_EQ(preds.size(), 4u);
  int64_t ref = 0, exact = 0;
  for (const auto& p : preds) {
    const ClsJudgement j = judge_classification(p["answer"].get<std::string>(), p["label"].get<std::string>(), nullptr);
    EXPECT_EQ(p["correct_reference"].get<bool>(), j.reference);
    EXPECT_EQ(p["correct_exact"].get<bool>(), j.exact);
    ref += j.reference;
    exact += j.exact;
  }
  EXPECT_EQ(m["correct_reference"], ref);
  EXPECT_EQ(m["correct_exact"], exact);
  EXPECT_EQ(m["accuracy_reference"].get<double>(), static_cast<double>(ref) / 4);
  EXPECT_EQ(m["accuracy_exact"].get<double>(), static_cast<double>(exact) / 4);
  ASSERT_EQ(m["per_class"].size(), 4u);
  EXPECT_EQ(m["per_class"][0]["label"], "apple");  // sorted by label
  EXPECT_NE(read_file(dir + "/out/summary.md").find("| baboon | 1 |"), std::string::npos);
  EXPECT_FALSE(fs::exists(dir + "/out/vis"));  // nothing to draw for classification
}

TEST(EvalCli, GroundingFilesAgree) {
  REQUIRE_FIXTURES(test::tokenizer_fixture());
  const std::string dir = setup("eval-ground", "ground");
  auto r = run_eval(dir);
  ASSERT_EQ(r.status, 0) << r.output;
  const std::vector<json> preds = test::read_jsonl(dir + "/out/predictions.jsonl");
  const json m = json::parse(read_file(dir + "/out/metrics.json"));
  ASSERT_EQ(preds.size(), 4u);
  std::vector<GroundJudgement> js;
  for (const auto& p : preds) {
    js.push_back(judge_grounding(p["answer"].get<std::string>(), box_of(p["truth"])));
    EXPECT_EQ(p["iou"].get<double>(), js.back().iou_reference);
  }
  const GroundMetrics gm = grounding_metrics(js);
  EXPECT_EQ(m["miou"].get<double>(), gm.miou_reference);
  EXPECT_EQ(m["acc50_strict"].get<double>(), gm.acc50_strict);
  EXPECT_EQ(m["no_box"], gm.no_box_reference);
  EXPECT_TRUE(fs::exists(dir + "/out/vis/000002.jpg"));
}

TEST(EvalCli, ConfigAndDataErrors) {
  REQUIRE_FIXTURES(test::tokenizer_fixture());
  const std::string dir = setup("eval-errors", "det");
  // A misspelt key: the config system's error, with the nearest key.
  auto r = run_eval(dir, "--set eval.draw_image=2");
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.output.find("draw_images"), std::string::npos) << r.output;
  // No eval.data.
  r = run_eval(dir, "--set \"eval.data=''\"");
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.output.find("no evaluation input"), std::string::npos) << r.output;
  // A prompt without a category.
  write_file_atomic(
      dir + "/bad.jsonl",
      json{{"image", fixtures() + "/images/apple.jpg"}, {"problem", "Find it."}, {"solution", "<answer>[]</answer>"}}
              .dump() +
          "\n");
  r = run_eval(dir, "--set eval.data='" + dir + "/bad.jsonl'");
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.output.find("names no category"), std::string::npos) << r.output;
  // A missing image: an error naming it, or skipped and counted.
  std::string jsonl = read_file(dir + "/eval.jsonl");
  jsonl += json{{"image", dir + "/nowhere.jpg"}, {"problem", "the category 'x'"}, {"solution", "<answer>[]</answer>"}}
               .dump() +
           "\n";
  write_file_atomic(dir + "/missing.jsonl", jsonl);
  r = run_eval(dir, "--set eval.data='" + dir + "/missing.jsonl' --limit 1");
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.output.find("nowhere.jpg"), std::string::npos) << r.output;
  r = run_eval(dir, "--set eval.data='" + dir + "/missing.jsonl' --set data.missing_images=skip --limit 1");
  ASSERT_EQ(r.status, 0) << r.output;
  const json m = json::parse(read_file(dir + "/out/metrics.json"));
  EXPECT_EQ(m["skipped_missing_images"], 1);
  EXPECT_EQ(m["samples"], 1);
}

}  // namespace
