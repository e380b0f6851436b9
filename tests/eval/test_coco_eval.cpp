// tests/eval/test_coco_eval.cpp: COCOeval and LVISEval parity with pycocotools and lvis-api
// (stats within 1e-12, and almost always bit-equal), on the COCO fixture pair, on 24 random
// ground-truth/detection sets and on the LVIS fixture with random detections, all made and
// scored by scripts/refs/coco_eval_refs.py in the venv and cached in the build folder; plus
// the documented quirks, input errors that name the record, and `visual-rft metrics`.
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "test_util.h"
#include "visual_rft/core/error.h"
#include "visual_rft/core/fs.h"
#include "visual_rft/eval/coco_eval.h"
#include "visual_rft/eval/lvis_eval.h"

using namespace vrft;
using nlohmann::json;
using vrft::test::error_of;

namespace {

constexpr double kTol = 1e-12;

std::string fixtures() { return test::fixtures_dir(); }
std::string coco_gt_path() { return fixtures() + "/coco/instances_val2014_100.json"; }
std::string coco_res_path() { return fixtures() + "/coco/instances_val2014_fakebbox100_results.json"; }
std::string lvis_gt_path() { return fixtures() + "/lvis/lvis_val_100.json"; }

// The references, generated once (about 10 s) and cached under build/test-cache.
const json& refs() {
  static const json r = [] {
    const std::string dir = test::script_refs("coco_eval_refs.py", "refs.json", {fixtures()});
    return json::parse(read_file(dir + "/refs.json"));
  }();
  return r;
}

// Counts bit-equal values, fails beyond the tolerance.
struct Compare {
  int exact = 0, total = 0;
  void operator()(double ours, double theirs, const std::string& what) {
    ++total;
    exact += ours == theirs;
    EXPECT_NEAR(ours, theirs, kTol) << what;
  }
};

void check_coco(const CocoEvalResult& r, const json& ref, const std::string& name, Compare& cmp) {
  for (int i = 0; i < CocoEvalResult::kNumStats; ++i)
    cmp(r.stats[i], ref["stats"][i].get<double>(), name + " " + coco_stat_names()[i]);
  ASSERT_EQ(r.per_category.size(), ref["per_category"].size()) << name;
  for (size_t k = 0; k < r.per_category.size(); ++k) {
    const json& c = ref["per_category"][k];
    EXPECT_EQ(r.per_category[k].id, c["id"].get<int64_t>()) << name;
    cmp(r.per_category[k].ap, c["ap"].get<double>(), name + " AP of category " + std::to_string(r.per_category[k].id));
    cmp(r.per_category[k].ap50, c["ap50"].get<double>(),
        name + " AP50 of category " + std::to_string(r.per_category[k].id));
  }
}

void check_lvis(const LvisEvalResult& r, const json& ref, const std::string& name, Compare& cmp) {
  for (int i = 0; i < LvisEvalResult::kNumStats; ++i)
    cmp(r.stats[i], ref["stats"][lvis_stat_names()[i]].get<double>(), name + " " + lvis_stat_names()[i]);
  ASSERT_EQ(r.per_category.size(), ref["per_category"].size()) << name;
  for (size_t k = 0; k < r.per_category.size(); ++k) {
    const json& c = ref["per_category"][k];
    EXPECT_EQ(r.per_category[k].id, c["id"].get<int64_t>()) << name;
    cmp(r.per_category[k].ap, c["ap"].get<double>(),
        name + " AP of category " + std::to_string(c["id"].get<int64_t>()));
    cmp(r.per_category[k].ap_all_areas, c["ap_all_areas"].get<double>(),
        name + " all-area AP of " + std::to_string(c["id"].get<int64_t>()));
  }
}

// A tiny COCO ground truth: image 1 with GT boxes, image 2 empty, category 1 and 2.
const char* kTinyGt = R"({"images": [{"id": 1}, {"id": 2}],
  "categories": [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}],
  "annotations": [{"id": 10, "image_id": 1, "category_id": 1, "bbox": [0, 0, 100, 100], "area": 10000, "iscrowd": 0}]})";

}  // namespace

TEST(CocoEval, ThresholdsAreNumpyLinspaceDoubles) {
  // pycocotools' np.linspace thresholds: linspace differs from 0.5 + 0.05 i and from i / 100 at these indices.
  EXPECT_EQ(iou_thresholds()[7], 0.85);
  EXPECT_EQ(iou_thresholds()[8], 0.8999999999999999);
  EXPECT_EQ(recall_thresholds()[35], 0.35000000000000003);
  EXPECT_EQ(recall_thresholds()[100], 1.0);
  const json& t = refs()["thresholds"];
  for (int i = 0; i < kNumIouThrs; ++i) EXPECT_EQ(iou_thresholds()[i], t["iou"][i].get<double>()) << i;
  for (int i = 0; i < kNumRecThrs; ++i) EXPECT_EQ(recall_thresholds()[i], t["rec"][i].get<double>()) << i;
}

TEST(CocoEval, FixturePairEqualsExpectedStats) {
  REQUIRE_FIXTURES(coco_gt_path(), lvis_gt_path());
  const GroundTruth gt = load_ground_truth(coco_gt_path(), GtFormat::coco);
  EXPECT_EQ(gt.images.size(), 100u);
  EXPECT_EQ(gt.annotations.size(), 839u);
  const auto dets = load_detections(coco_res_path(), gt);
  EXPECT_EQ(dets.size(), 734u);
  const CocoEvalResult r = coco_evaluate(gt, dets);
  const json want = json::parse(read_file(fixtures() + "/coco/expected_bbox_stats.json"));
  for (int i = 0; i < CocoEvalResult::kNumStats; ++i) {
    EXPECT_EQ(want["names"][i].get<std::string>(), coco_stat_names()[i]);
    EXPECT_NEAR(r.stats[i], want["stats"][i].get<double>(), kTol) << coco_stat_names()[i];
  }
  Compare cmp;
  check_coco(r, refs()["coco_fixture"], "fixture", cmp);
  EXPECT_EQ(coco_summary_text(r), refs()["coco_fixture"]["summary"].get<std::string>());
  std::printf("fixture pair: %d of %d values bit-equal to pycocotools\n", cmp.exact, cmp.total);
}

TEST(CocoEval, FilterOnImagesAndCategoriesMatchesPycocotools) {
  REQUIRE_FIXTURES(coco_gt_path(), lvis_gt_path());
  const json& ref = refs()["coco_fixture_filtered"];
  const GroundTruth gt = load_ground_truth(coco_gt_path(), GtFormat::coco);
  EvalFilter f{ref["img_ids"].get<std::vector<int64_t>>(), ref["cat_ids"].get<std::vector<int64_t>>()};
  Compare cmp;
  check_coco(coco_evaluate(gt, load_detections(coco_res_path(), gt), f), ref, "filtered fixture", cmp);
  EXPECT_NE(error_of([&] {
              coco_evaluate(gt, {}, {{}, {12345}});
            }).find("category id 12345 is not in the ground truth"),
            std::string::npos);
}

TEST(CocoEval, RandomSetsMatchPycocotools) {
  Compare cmp;
  ASSERT_GE(refs()["cases"].size(), 20u);
  for (const json& c : refs()["cases"]) {
    const std::string name = c["name"];
    const GroundTruth gt = load_ground_truth(c["gt"], GtFormat::coco);
    const CocoEvalResult r = coco_evaluate(gt, load_detections(c["res"], gt));
    check_coco(r, c["coco"], name, cmp);
    EXPECT_EQ(coco_summary_text(r), c["coco"]["summary"].get<std::string>()) << name;
  }
  std::printf("random sets: %d of %d values bit-equal to pycocotools\n", cmp.exact, cmp.total);
}

TEST(LvisEval, RandomSetsMatchLvisApi) {
  Compare cmp;
  for (const json& c : refs()["cases"]) {
    const std::string name = c["name"];
    const GroundTruth gt = load_ground_truth(c["gt"], GtFormat::lvis);
    const LvisEvalResult r = lvis_evaluate(gt, load_detections(c["res"], gt));
    check_lvis(r, c["lvis"], name, cmp);
    EXPECT_EQ(lvis_summary_text(r), c["lvis"]["summary"].get<std::string>()) << name;
  }
  std::printf("random sets: %d of %d values bit-equal to lvis-api\n", cmp.exact, cmp.total);
}

TEST(LvisEval, LvisVal100MatchesLvisApi) {
  REQUIRE_FIXTURES(coco_gt_path(), lvis_gt_path());
  const json& ref = refs()["lvis_fixture"];
  const GroundTruth gt = load_ground_truth(lvis_gt_path(), GtFormat::lvis);
  EXPECT_EQ(gt.categories.size(), 1230u);
  const auto dets = load_detections(ref["res"], gt);
  Compare cmp;
  check_lvis(lvis_evaluate(gt, dets), ref, "lvis_val_100", cmp);
  const json& fref = refs()["lvis_fixture_filtered"];
  LvisOptions opt;
  opt.filter = {fref["img_ids"].get<std::vector<int64_t>>(), fref["cat_ids"].get<std::vector<int64_t>>()};
  check_lvis(lvis_evaluate(gt, dets, opt), fref, "lvis_val_100 filtered", cmp);
  std::printf("lvis_val_100: %d of %d values bit-equal to lvis-api\n", cmp.exact, cmp.total);
  // COCO-read ground truth lacks the federated fields.
  const GroundTruth as_coco = load_ground_truth(lvis_gt_path(), GtFormat::coco);
  EXPECT_NE(error_of([&] { lvis_evaluate(as_coco, dets); }).find("needs the ground truth read as LVIS"),
            std::string::npos);
}

TEST(CocoEval, DocumentedQuirks) {
  const GroundTruth gt = parse_ground_truth(kTinyGt, "tiny.json", GtFormat::coco);
  // One perfect detection: precision 1 / (1 + eps) = 0.9999999999999998 at every recall (§1.6).
  auto r = coco_evaluate(
      gt,
      parse_detections(R"([{"image_id": 1, "category_id": 1, "bbox": [0, 0, 100, 100], "score": 0.9}])", "r.json", gt));
  EXPECT_EQ(r.stats[0], 0.9999999999999998);
  EXPECT_EQ(r.stats[8], 1.0);             // AR100
  EXPECT_EQ(r.stats[3], -1.0);            // no small GT anywhere: -1
  EXPECT_EQ(r.per_category[1].ap, -1.0);  // category 2 has no GT
  // False positives of a category without GT are never penalised, and an empty results list
  // is "no detections" (pycocotools would raise on it).
  auto fp = coco_evaluate(
      gt, parse_detections(R"([{"image_id": 2, "category_id": 2, "bbox": [0, 0, 5, 5], "score": 1}])", "r.json", gt));
  EXPECT_EQ(fp.stats[0], 0.0);  // category 1: GT, no detection → precision 0; category 2 stays -1
  EXPECT_EQ(coco_evaluate(gt, {}).stats[0], 0.0);
  // A crowd GT absorbs any number of detections, which are then ignored (§1.4).
  const GroundTruth crowd = parse_ground_truth(R"({"images": [{"id": 1}], "categories": [{"id": 1}],
    "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [0, 0, 50, 50], "area": 2500},
                    {"id": 2, "image_id": 1, "category_id": 1, "bbox": [100, 100, 200, 200], "area": 40000, "iscrowd": 1}]})",
                                               "crowd.json", GtFormat::coco);
  auto c =
      coco_evaluate(crowd, parse_detections(R"([{"image_id": 1, "category_id": 1, "bbox": [0, 0, 50, 50], "score": 0.5},
    {"image_id": 1, "category_id": 1, "bbox": [110, 110, 20, 20], "score": 0.9},
    {"image_id": 1, "category_id": 1, "bbox": [150, 150, 20, 20], "score": 0.8}])",
                                            "r.json", crowd));
  EXPECT_EQ(c.stats[0], 0.9999999999999998);  // the two crowd hits rank first but count for nothing
}

TEST(CocoEval, BadInputNamesFileAndRecord) {
  const GroundTruth gt = parse_ground_truth(kTinyGt, "gt.json", GtFormat::coco);
  auto res_err = [&](const std::string& text) { return error_of([&] { parse_detections(text, "res.json", gt); }); };
  const std::string ok = R"({"image_id": 1, "category_id": 1, "bbox": [0, 0, 1, 1], "score": 0.5})";
  struct Row {
    const char* why;
    std::string text;
    const char* expected;
  };
  const Row rows[] = {
      {"unknown image", "[" + ok + R"(, {"image_id": 999, "category_id": 1, "bbox": [0, 0, 1, 1], "score": 0.5}])",
       "res.json: results[1]: image_id 999 is not an image of the ground truth gt.json"},
      {"unknown category",
       "[" + ok + "," + ok + R"(, {"image_id": 1, "category_id": 7, "bbox": [0, 0, 1, 1], "score": 0.5}])",
       "res.json: results[2]: category_id 7 is not a category of the ground truth gt.json"},
      {"negative width", R"([{"image_id": 1, "category_id": 1, "bbox": [0, 0, -3, 1], "score": 0.5}])",
       "res.json: results[0]: \"bbox\" [0,0,-3,1] has a negative width or height"},
      {"missing score", "[" + ok + R"(, {"image_id": 1, "category_id": 1, "bbox": [0, 0, 1, 1]}])",
       "res.json: results[1]: missing \"score\""},
      {"bbox of 3", R"([{"image_id": 1, "category_id": 1, "bbox": [0, 0, 1], "score": 0.5}])",
       "res.json: results[0]: \"bbox\" must be [x, y, w, h], got [0,0,1]"},
      {"string id", R"([{"image_id": "1", "category_id": 1, "bbox": [0, 0, 1, 1], "score": 0.5}])",
       "res.json: results[0]: \"image_id\" must be an integer, got \"1\""},
      {"not a list", R"({"image_id": 1})", "res.json: expected a JSON list of results"},
      {"malformed JSON in record 2",
       "[" + ok + "," + ok + R"(, {"image_id": 1, "category_id": 1, "bbox": [0, 0, 1 1], "score": 0.5}])",
       "res.json: not valid JSON (in results[2].bbox[2]): "},
      {"truncated file", "[" + ok + ", {\"image_id\": 1, ", "res.json: not valid JSON (in results[1]"},
  };
  for (const Row& row : rows)
    EXPECT_NE(res_err(row.text).find(row.expected), std::string::npos) << row.why << ": " << res_err(row.text);

  auto gt_err = [&](const std::string& text, GtFormat f = GtFormat::coco) {
    return error_of([&] { parse_ground_truth(text, "gt.json", f); });
  };
  const std::string head = R"({"images": [{"id": 1}], "categories": [{"id": 1}], "annotations": [)";
  const std::string a0 = R"({"id": 1, "image_id": 1, "category_id": 1, "bbox": [0, 0, 1, 1], "area": 1})";
  EXPECT_NE(gt_err(head + a0 + "," + a0 + "]}")
                .find("gt.json: annotations[1]: duplicate annotation id 1 (also annotations[0])"),
            std::string::npos);
  EXPECT_NE(gt_err(head + R"({"id": 1, "image_id": 5, "category_id": 1, "bbox": [0, 0, 1, 1], "area": 1}]})")
                .find("gt.json: annotations[0]: image_id 5 is not in \"images\""),
            std::string::npos);
  EXPECT_NE(gt_err(head + R"({"id": 1, "image_id": 1, "category_id": 1, "bbox": [0, 0, 1, 1]}]})")
                .find("gt.json: annotations[0]: missing \"area\""),
            std::string::npos);
  EXPECT_NE(gt_err(head + R"({"id": 1, "image_id": 1, "category_id": 1, "bbox": [0, 0, 1, -1], "area": 1}]})")
                .find("gt.json: annotations[0]: \"bbox\" [0,0,1,-1] has a negative width or height"),
            std::string::npos);
  EXPECT_NE(gt_err(head + a0 + ", {\"id\": 2,, }]}").find("gt.json: not valid JSON (in annotations[1]"),
            std::string::npos);
  EXPECT_NE(gt_err(R"({"categories": []})").find("gt.json: missing the \"images\" list"), std::string::npos);
  EXPECT_NE(gt_err(head + "]}", GtFormat::lvis).find("gt.json: images[0]: missing \"neg_category_ids\""),
            std::string::npos);
  EXPECT_NE(error_of([] { load_ground_truth("/nonexistent/gt.json", GtFormat::coco); }).find("/nonexistent/gt.json"),
            std::string::npos);
}

TEST(Cli, MetricsCocoAndLvisPrintTheReferenceSummaries) {
  REQUIRE_FIXTURES(coco_gt_path(), lvis_gt_path());
  using test::cli;
  using test::run;
  const json& ref = refs()["coco_fixture"];
  auto t = run(cli() + " metrics coco --gt '" + coco_gt_path() + "' --results '" + coco_res_path() + "'");
  ASSERT_EQ(t.status, 0) << t.output;
  EXPECT_EQ(t.output, ref["summary"].get<std::string>());
  auto j =
      run(cli() + " metrics coco --json --gt '" + coco_gt_path() + "' --results '" + coco_res_path() + "' 2>/dev/null");
  ASSERT_EQ(j.status, 0) << j.output;
  const json out = json::parse(j.output);
  for (int i = 0; i < CocoEvalResult::kNumStats; ++i)
    EXPECT_NEAR(out["stats"][coco_stat_names()[i]].get<double>(), ref["stats"][i].get<double>(), kTol)
        << coco_stat_names()[i];
  EXPECT_EQ(out["per_category"].size(), 80u);
  EXPECT_NEAR(out["per_category"][0]["ap"].get<double>(), ref["per_category"][0]["ap"].get<double>(), kTol);

  const json& lref = refs()["lvis_fixture"];
  auto l =
      run(cli() + " metrics lvis --gt '" + lvis_gt_path() + "' --results '" + lref["res"].get<std::string>() + "'");
  ASSERT_EQ(l.status, 0) << l.output;
  EXPECT_EQ(l.output, lref["summary"].get<std::string>());
  auto lj = run(cli() + " metrics lvis --json --gt '" + lvis_gt_path() + "' --results '" +
                lref["res"].get<std::string>() + "' 2>/dev/null");
  ASSERT_EQ(lj.status, 0) << lj.output;
  const json lout = json::parse(lj.output);
  for (int i = 0; i < LvisEvalResult::kNumStats; ++i)
    EXPECT_NEAR(lout["stats"][lvis_stat_names()[i]].get<double>(), lref["stats"][lvis_stat_names()[i]].get<double>(),
                kTol);

  // A bad results file: exit status 1 and one line naming the file and the record.
  const std::string dir = test::scratch_dir("metrics-cli");
  write_file_atomic(dir + "/bad.json", R"([{"image_id": 74, "category_id": 18, "bbox": [1, 2, 3, 4], "score": 0.5},
                                          {"image_id": 123456789, "category_id": 18, "bbox": [1, 2, 3, 4], "score": 0.5}])");
  auto b = run(cli() + " metrics coco --gt '" + coco_gt_path() + "' --results '" + dir + "/bad.json'");
  EXPECT_EQ(b.status, 1);
  EXPECT_NE(b.output.find(dir + "/bad.json: results[1]: image_id 123456789 is not an image"), std::string::npos)
      << b.output;

  // A hostile file nested 90,000 levels deep (180 kB): a clean error naming the record, with
  // the value cut short, not a crash while the message is written.
  const std::string deep = std::string(90000, '[') + std::string(90000, ']');
  write_file_atomic(dir + "/deep_gt.json", R"({"images": [)" + deep + R"(], "annotations": [], "categories": []})");
  auto d = run(cli() + " metrics coco --gt '" + dir + "/deep_gt.json' --results '" + coco_res_path() + "'");
  EXPECT_EQ(d.status, 1) << d.output;
  EXPECT_NE(d.output.find(dir + "/deep_gt.json: images[0]: expected an object"), std::string::npos)
      << d.output.substr(0, 2000);
  // 16 levels shown, the 17th elided.
  EXPECT_NE(d.output.find("got " + std::string(17, '[') + "..." + std::string(17, ']') + "\n"), std::string::npos)
      << d.output.substr(0, 2000);
  write_file_atomic(dir + "/deep_res.json", "[" + deep + "]");
  auto e = run(cli() + " metrics coco --gt '" + coco_gt_path() + "' --results '" + dir + "/deep_res.json'");
  EXPECT_EQ(e.status, 1) << e.output.substr(0, 2000);
  EXPECT_NE(e.output.find(dir + "/deep_res.json: results[0]"), std::string::npos) << e.output.substr(0, 2000);
}
