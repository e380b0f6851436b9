// tests/eval/test_eval_inputs.cpp: `visual-rft eval` on COCO, LVIS and classification-list
// inputs (eval/eval_inputs.h). The reference's existence-map selection on the four fixture
// maps (pair counts of the existence maps as released, per category list of data/categories/) and on hand-made
// maps; the refusal of inconsistent eval.* keys; then end to end on the tiny random model with
// a small COCO set, the same set as LVIS, and a classification list: all files are written,
// and metrics.json equals `visual-rft metrics coco|lvis` on the written results.json and
// pycocotools / lvis-api (with the reference notebooks' per-class AP and selected-category
// mAP) for answers replayed from a file (--answers), since a random model finds no boxes.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "test_util.h"
#include "visual_rft/core/config.h"
#include "visual_rft/core/error.h"
#include "visual_rft/core/fs.h"
#include "visual_rft/data/fewshot.h"
#include "visual_rft/data/task_prompts.h"
#include "visual_rft/eval/eval_inputs.h"

using namespace vrft;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

std::string fixtures() { return test::fixtures_dir(); }

// ---- existence maps ------------------------------------------------------------------------------

std::vector<int64_t> map_images(const ExistMap& m) {
  std::vector<int64_t> ids;
  for (const auto& [id, names] : m.names) ids.push_back(id);
  std::sort(ids.begin(), ids.end());
  return ids;
}

std::vector<std::string> map_categories(const ExistMap& m) {
  std::set<std::string> s;
  for (const auto& [id, names] : m.names) s.insert(names.begin(), names.end());
  return {s.begin(), s.end()};
}

TEST(ExistMap, FixtureCounts) {
  REQUIRE_FIXTURES(test::tokenizer_fixture());
  // the existence maps as released (keys, images with a category, pairs, distinct names), and per category list
  // the pairs the reference asks and the images they are on (counted with Python's json).
  struct Split {
    const char* list;
    int64_t pairs, images;
  };
  struct Row {
    const char* map;
    int64_t keys, images_with, pairs, distinct;
    Split a, b;
  };
  const Row rows[] = {
      {"coco_Qwen2_vl_2B", 5000, 4980, 25067, 80, {"coco_fewshot8", 1608, 1300}, {"coco_ov_novel15", 2224, 1844}},
      {"coco_Qwen2_vl_7B", 5000, 4963, 17002, 80, {"coco_fewshot8", 1299, 1170}, {"coco_ov_novel15", 1621, 1466}},
      {"lvis_Qwen2_vl_2B", 19809, 9486, 15226, 15, {"lvis_fewshot6", 6926, 6025}, {"lvis_ov_rare13", 14506, 9099}},
      {"lvis_Qwen2_vl_7B", 19809, 4626, 5765, 15, {"lvis_fewshot6", 2611, 2421}, {"lvis_ov_rare13", 5381, 4366}},
  };
  for (const Row& r : rows) {
    const ExistMap m = load_exist_map(test::data_dir() + "/visual_rft/exist_map_" + r.map + "_baseline.json");
    EXPECT_EQ(static_cast<int64_t>(m.names.size()), r.keys) << r.map;
    EXPECT_EQ(m.pairs, r.pairs) << r.map;
    const std::vector<int64_t> images = map_images(m);
    const std::vector<std::string> all = map_categories(m);
    EXPECT_EQ(static_cast<int64_t>(all.size()), r.distinct) << r.map;
    // Every name selected: every pair is asked.
    QuerySelection s = select_detection_queries(images, all, &m);
    EXPECT_EQ(static_cast<int64_t>(s.queries.size()), r.pairs) << r.map;
    EXPECT_EQ(s.map_pairs, r.pairs) << r.map;
    EXPECT_EQ(s.map_pairs_not_selected, 0) << r.map;
    EXPECT_EQ(s.images_not_in_map, 0) << r.map;
    EXPECT_EQ(r.keys - s.images_without_queries, r.images_with) << r.map;
    // The paper's splits (the category lists shipped in data/categories/).
    for (const Split& sp : {r.a, r.b}) {
      const auto names = read_category_names(test::source_dir() + "/data/categories/" + sp.list + ".txt");
      s = select_detection_queries(images, names, &m);
      EXPECT_EQ(static_cast<int64_t>(s.queries.size()), sp.pairs) << r.map << " " << sp.list;
      EXPECT_EQ(r.keys - s.images_without_queries, sp.images) << r.map << " " << sp.list;
      EXPECT_EQ(s.map_pairs_not_selected, r.pairs - sp.pairs) << r.map << " " << sp.list;
    }
  }
}

TEST(ExistMap, OrderMissingImagesAndNoMap) {
  const ExistMap m = parse_exist_map(R"({"5": ["dog", "cat", "bird"], "7": [], "8": ["cat"]})", "map.json");
  EXPECT_EQ(m.pairs, 4);
  const std::vector<std::string> sel = {"cat", "dog"};
  // Images in the caller's order; each image's names in the map's order, unselected skipped.
  QuerySelection s = select_detection_queries({7, 5, 9}, sel, &m);
  ASSERT_EQ(s.queries.size(), 2u);
  EXPECT_EQ(s.queries[0].image, 1u);
  EXPECT_EQ(s.queries[0].category, 1u);  // dog first, as listed
  EXPECT_EQ(s.queries[1].category, 0u);
  EXPECT_EQ(s.images_not_in_map, 1);       // 9
  EXPECT_EQ(s.images_without_queries, 2);  // 7 (empty list) and 9
  EXPECT_EQ(s.map_pairs, 3);               // image 8 is not evaluated
  EXPECT_EQ(s.map_pairs_not_selected, 1);  // bird
  // Without a map: every (image, selected category) pair, image-major, in the selection's order.
  s = select_detection_queries({7, 5, 9}, sel, nullptr);
  ASSERT_EQ(s.queries.size(), 6u);
  EXPECT_EQ(s.queries[1].image, 0u);
  EXPECT_EQ(s.queries[1].category, 1u);
  EXPECT_EQ(s.queries[5].image, 2u);
  // A map that names none of the images belongs to another data set.
  try {
    select_detection_queries({100, 101}, sel, &m);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("names none of the 2 images"), std::string::npos) << e.what();
  }
}

TEST(ExistMap, BadFilesNameTheKey) {
  struct Row {
    const char* text;
    const char* message;
  };
  const Row rows[] = {
      {"[1, 2]", "expected an existence map"},
      {R"({"12a": ["cat"]})", "key \"12a\" is not an image id"},
      {R"({"012": ["cat"]})", "key \"012\" is not an image id"},
      {R"({"-3": ["cat"]})", "key \"-3\" is not an image id"},
      {R"({"12": "cat"})", "\"12\": expected a list of category names, got string"},
      {R"({"12": ["cat", 3]})", "\"12\"[1]: expected a category name, got 3"},
      {R"({"12": [""]})", "\"12\"[0]: expected a category name"},
      {R"({"12": ["cat"],})", "not valid JSON"},
  };
  for (const Row& r : rows) {
    try {
      parse_exist_map(r.text, "m.json");
      ADD_FAILURE() << "no error for " << r.text;
    } catch (const FileError& e) {
      EXPECT_NE(std::string(e.what()).find(r.message), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("m.json"), std::string::npos) << e.what();
    }
  }
}

// ---- config refusals -----------------------------------------------------------------------------

TEST(EvalConfig, InconsistentKeysAreRefusedByName) {
  struct Row {
    std::vector<const char*> sets;
    const char* key;  // the key the error names
  };
  const Row rows[] = {
      {{"eval.data=a.jsonl", "eval.coco=b.json", "eval.categories=all"}, "'eval.coco': is set together with eval.data"},
      {{"eval.lvis=a.json", "eval.classification=b.tsv", "eval.classnames=c.txt"}, "'eval.classification'"},
      {{"eval.coco=a.json", "eval.categories=all", "data.task=cls"}, "'data.task': must be det with eval.coco"},
      {{"eval.classification=a.tsv", "eval.classnames=c.txt"}, "'data.task': must be cls"},
      {{"eval.lvis=a.json"}, "'eval.categories': is required with eval.lvis"},
      {{"eval.data=a.jsonl", "eval.categories=cat"}, "'eval.categories': applies only"},
      {{"eval.data=a.jsonl", "eval.exist_map=m.json"}, "'eval.exist_map': applies only"},
      {{"data.task=cls", "eval.classification=a.tsv"}, "'eval.classnames': is required"},
      {{"eval.data=a.jsonl", "eval.classnames=c.txt"}, "'eval.classnames': applies only"},
      {{"eval.data=a.jsonl", "eval.subject=pet"}, "'eval.subject': applies only"},
      {{"eval.data=a.jsonl", "eval.images=imgs"}, "'eval.images': applies only"},
  };
  for (const Row& r : rows) {
    Config c;
    for (const char* s : r.sets) apply_override(c, s);
    try {
      validate(c);
      ADD_FAILURE() << "accepted: " << r.sets[0] << " ...";
    } catch (const ConfigError& e) {
      EXPECT_NE(std::string(e.what()).find(r.key), std::string::npos) << e.what();
    }
  }
  // The consistent combinations pass.
  Config c;
  for (const char* s : {"eval.coco=a.json", "eval.categories=all", "eval.exist_map=m.json", "eval.images=imgs"})
    apply_override(c, s);
  EXPECT_NO_THROW(validate(c));
  Config k;
  for (const char* s : {"data.task=cls", "eval.classification=a.tsv", "eval.classnames=c.txt", "eval.subject=car"})
    apply_override(k, s);
  EXPECT_NO_THROW(validate(k));
  EXPECT_THROW(apply_override(k, "eval.subject=dog"), ConfigError);  // not one of the choices
}

// ---- end to end: a small COCO / LVIS set -----------------------------------------------------------

struct Img {
  int64_t id;
  const char* file;
  int w, h;
};
const Img kImgs[] = {{11, "apple.jpg", 512, 512},
                     {12, "orange.jpg", 512, 512},
                     {13, "chelsea.png", 451, 300},
                     {14, "messi5.jpg", 548, 342}};

// The ground truth of the fixture photos: apple (1), orange (2), cat (3), person (4); COCO
// adds a crowd region, LVIS its federated fields (apple is negative on the orange image, orange
// not exhaustively annotated on the apple image).
json make_gt(bool lvis) {
  json g = {{"images", json::array()}, {"annotations", json::array()}, {"categories", json::array()}};
  for (const Img& im : kImgs) {
    json j = {{"id", im.id}, {"width", im.w}, {"height", im.h}};
    if (lvis) {
      j["coco_url"] = std::string("http://images.cocodataset.org/val2017/") + im.file;
      j["neg_category_ids"] = im.id == 12 ? json::array({1}) : json::array();
      j["not_exhaustive_category_ids"] = im.id == 11 ? json::array({2}) : json::array();
    } else {
      j["file_name"] = im.file;
    }
    g["images"].push_back(j);
  }
  const char* names[] = {"apple", "orange", "cat", "person"};
  const char* freq[] = {"r", "c", "r", "f"};
  for (int i = 0; i < 4; ++i) {
    json c = {{"id", i + 1}, {"name", names[i]}};
    if (lvis) c["frequency"] = freq[i];
    g["categories"].push_back(c);
  }
  struct Ann {
    int64_t id, img, cat;
    double x, y, w, h;
    int crowd;
  };
  const Ann anns[] = {{101, 11, 1, 60, 80, 200, 180, 0},  {102, 11, 1, 300, 250, 150, 160, 0},
                      {107, 11, 2, 10, 10, 30, 30, 0},    {103, 12, 2, 40, 40, 420, 430, 0},
                      {104, 13, 3, 100, 20, 300, 270, 0}, {105, 14, 4, 200, 30, 150, 300, 0},
                      {106, 14, 4, 0, 0, 100, 100, 1}};
  for (const Ann& a : anns) {
    if (lvis && a.crowd) continue;  // LVIS has no crowd regions
    json j = {
        {"id", a.id}, {"image_id", a.img}, {"category_id", a.cat}, {"bbox", {a.x, a.y, a.w, a.h}}, {"area", a.w * a.h}};
    if (!lvis) j["iscrowd"] = a.crowd;
    g["annotations"].push_back(j);
  }
  return g;
}

// A scratch folder with the tiny model, gt.json, exist.json and cfg.yaml.
std::string setup_det(const std::string& name, bool lvis, const json& exist_map) {
  const std::string dir = test::scratch_with_tiny_model(name);
  write_file_atomic(dir + "/gt.json", make_gt(lvis).dump());
  write_file_atomic(dir + "/exist.json", exist_map.dump());
  write_file_atomic(dir + "/cfg.yaml", "model: {path: '" + dir + "/model', device: cpu, dtype: float32}\n" +
                                           "data: {task: det, max_pixels: 12544}\n" + "eval: {" +
                                           (lvis ? "lvis" : "coco") + ": '" + dir + "/gt.json', images: '" +
                                           fixtures() + "/images', categories: 'apple,orange,cat', exist_map: '" + dir +
                                           "/exist.json', batch_size: 3, max_new_tokens: 12, draw_images: 2}\n");
  return dir;
}

test::CommandResult run_eval(const std::string& dir, const std::string& out, const std::string& extra = "") {
  return test::run("'" + test::cli() + "' --log-level warn eval --config '" + dir + "/cfg.yaml' --model '" + dir +
                   "/model' --out '" + dir + "/" + out + "' " + extra);
}

// stdout of a command as JSON (stderr dropped).
json json_of(const std::string& cmd) {
  const auto r = test::run("{ " + cmd + " 2>/dev/null; }");
  EXPECT_EQ(r.status, 0) << cmd << "\n" << r.output;
  return json::parse(r.output.substr(std::min(r.output.find_first_of("{["), r.output.size())));
}

// predictions.jsonl with the answers replaced (for --answers).
void write_answers(const std::string& from, const std::string& to, const std::vector<std::string>& answers) {
  std::vector<json> p = test::read_jsonl(from);
  ASSERT_EQ(p.size(), answers.size());
  std::string out;
  for (size_t i = 0; i < p.size(); ++i) {
    p[i]["answer"] = answers[i];
    out += p[i].dump() + "\n";
  }
  write_file_atomic(to, out);
}

// `visual-rft metrics coco|lvis --json` on the run's results.json.
json our_metrics(const std::string& tool, const std::string& dir, const std::string& out, const std::string& extra) {
  return json_of("'" + test::cli() + "' --log-level warn metrics " + tool + " --gt '" + dir + "/gt.json' --results '" +
                 dir + "/" + out + "/results.json' --json " + extra);
}

// pycocotools / lvis-api on gt.json and results.json: the stats for the selected categories
// [1, 2, 3] and for all, and the reference notebook's per-class APs and selected mAP.
json reference_metrics(const std::string& tool, const std::string& dir, const std::string& out) {
  const std::string py = tool == "coco" ? R"(import sys, json, io, contextlib
import numpy as np
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval
sel = ['apple', 'orange', 'cat']
with contextlib.redirect_stdout(io.StringIO()):
    gt = COCO(sys.argv[1]); dt = gt.loadRes(sys.argv[2])
    def run(cat_ids):
        e = COCOeval(gt, dt, 'bbox')
        if cat_ids: e.params.catIds = cat_ids
        e.evaluate(); e.accumulate(); e.summarize()
        return e
    es, ea = run([1, 2, 3]), run(None)
# coco_evaluation.py's per-class AP and the notebook's "mAP for selected categories"
per = {}
names = [c['name'] for c in gt.loadCats(sorted(gt.getCatIds()))]
for idx, name in enumerate(names):
    p = ea.eval['precision'][:, :, idx, 0, -1]; p = p[p > -1]
    per[name] = float(np.mean(p) * 100) if p.size else float('nan')
s = 0
for name, v in per.items():
    if name in sel: s += v
print(json.dumps({'stats': [float(x) for x in es.stats], 'stats_all': [float(x) for x in ea.stats],
                  'per_class': per, 'map': s / len(sel)}))
)"
                                        : R"(import sys, json, io, contextlib, logging
import numpy as np
if not hasattr(np, "float"):  # lvis-api 0.5.3 still uses np.float (removed in numpy 1.24)
    np.float = float
from lvis import LVIS, LVISResults, LVISEval
logging.disable(logging.CRITICAL)
sel = ['apple', 'orange', 'cat']
with contextlib.redirect_stdout(io.StringIO()):
    gt = LVIS(sys.argv[1]); res = json.load(open(sys.argv[2]))
    def run(cat_ids):
        e = LVISEval(gt, LVISResults(gt, res, max_dets=300), 'bbox')
        if cat_ids: e.params.cat_ids = cat_ids
        e.run()
        return e
    es, ea = run([1, 2, 3]), run(None)
# the deleted LVIS notebook: per-class AP over all area ranges, mAP of the selected
cats = gt.load_cats(gt.get_cat_ids())
per, s, n = {}, 0, 0
for idx, c in enumerate(cats):
    p = ea.eval['precision'][:, :, idx, :]; p = p[p > -1]
    per[c['name']] = float(np.mean(p) * 100) if p.size else float('nan')
for name, v in per.items():
    if name in sel: s += v; n += 1
print(json.dumps({'stats': {k: float(v) for k, v in es.results.items()},
                  'stats_all': {k: float(v) for k, v in ea.results.items()}, 'per_class': per, 'map': s / n}))
)";
  write_file_atomic(dir + "/ref_" + tool + ".py", py);
  return json_of("'" + std::string(VRFT_PYTHON) + "' '" + dir + "/ref_" + tool + ".py' '" + dir + "/gt.json' '" + dir +
                 "/" + out + "/results.json'");
}

// Stats as {name: value} in the order of `names`.
void expect_stats_equal(const json& ours, const json& theirs, const char* what) {
  ASSERT_EQ(ours.size(), theirs.size()) << what;
  for (const auto& [k, v] : ours.items()) EXPECT_EQ(v.get<double>(), theirs.at(k).get<double>()) << what << " " << k;
}

json coco_list_to_object(const json& list) {
  static const char* names[] = {"AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs", "ARm", "ARl"};
  json o = json::object();
  for (size_t k = 0; k < list.size(); ++k) o[names[k]] = list[k];
  return o;
}

TEST(EvalCoco, ExistMapProtocolFilesAndParity) {
  REQUIRE_FIXTURES(test::tokenizer_fixture());
  // Image 14 is not in the map; person and dog are not selected; 999 is not an image here.
  const json map = {
      {"11", {"apple", "orange", "person"}}, {"12", {"orange"}}, {"13", {"cat", "dog"}}, {"999", {"apple"}}};
  const std::string dir = setup_det("eval-coco", false, map);
  auto r = run_eval(dir, "out");
  ASSERT_EQ(r.status, 0) << r.output;
  // The questions: the map's pairs of the selected categories, image by image.
  const std::vector<json> preds = test::read_jsonl(dir + "/out/predictions.jsonl");
  const std::vector<std::pair<int64_t, int64_t>> asked = {{11, 1}, {11, 2}, {12, 2}, {13, 3}};
  ASSERT_EQ(preds.size(), asked.size());
  for (size_t i = 0; i < preds.size(); ++i) {
    EXPECT_EQ(preds[i]["image_id"], asked[i].first) << i;
    EXPECT_EQ(preds[i]["category_id"], asked[i].second) << i;
    EXPECT_EQ(preds[i]["problem"],
              eval_question(detection_prompt(preds[i]["category"].get<std::string>(), PromptStyle::eval)));
  }
  EXPECT_EQ(preds[0]["truth"].size(), 2u);  // the two apples
  EXPECT_EQ(preds[1]["truth"].size(), 1u);  // the small orange on the apple image
  EXPECT_EQ(preds[0]["image_size"], json::array({512, 512}));
  const json m = json::parse(read_file(dir + "/out/metrics.json"));
  EXPECT_EQ(m["input"]["questions"], 4);
  EXPECT_EQ(m["input"]["images_evaluated"], 4);
  EXPECT_EQ(m["input"]["images_not_in_exist_map"], 1);
  EXPECT_EQ(m["input"]["exist_map_pairs"], 6);
  EXPECT_EQ(m["input"]["exist_map_pairs_not_selected"], 2);
  EXPECT_EQ(m["true_boxes"], 5);  // apple 2, orange 2, cat 1 (person not selected)
  for (const char* f : {"summary.md", "results.json", "vis/000000.jpg", "vis/000001.jpg"})
    EXPECT_TRUE(fs::exists(dir + "/out/" + f)) << f;
  EXPECT_FALSE(fs::exists(dir + "/out/vis/000002.jpg"));  // draw_images: 2
  // metrics.json = `visual-rft metrics coco` on results.json (selected categories, and all).
  expect_stats_equal(m["coco_stats"], our_metrics("coco", dir, "out", "--cat-ids 1,2,3")["stats"], "model, selected");
  expect_stats_equal(m["coco_stats_all_categories"], our_metrics("coco", dir, "out", "")["stats"], "model, all");

  // The same questions answered by a file: hits, a false positive, a duplicate (dropped), No
  // Objects and a malformed answer. 0-1000 boxes of the 512 x 512 apple and orange photos.
  write_answers(dir + "/out/predictions.jsonl", dir + "/answers.jsonl",
                {"<think>two</think><answer>[{'Position': [120, 150, 505, 510], 'Confidence': 0.9}, "
                 "{'Position': [700, 700, 800, 800], 'Confidence': 0.95}, {'Position': [585, 490, 880, 800], "
                 "'Confidence': 0.6}, {'Position': [120, 150, 505, 510], 'Confidence': 0.2}]</answer>",
                 "<answer>No Objects</answer>",
                 "<answer>[{'Position': [80, 80, 900, 920], 'Confidence': 0.8}]</answer>", "<answer>a cat</answer>"});
  r = run_eval(dir, "out2", "--answers '" + dir + "/answers.jsonl'");
  ASSERT_EQ(r.status, 0) << r.output;
  const json m2 = json::parse(read_file(dir + "/out2/metrics.json"));
  EXPECT_EQ(m2["predicted_boxes"], 4);
  EXPECT_EQ(m2["answers"]["malformed"], 1);
  EXPECT_EQ(m2["answers"]["no_objects"], 1);
  EXPECT_GT(m2["map"].get<double>(), 0.2);
  const json ours = our_metrics("coco", dir, "out2", "--cat-ids 1,2,3");
  const json ref = reference_metrics("coco", dir, "out2");
  expect_stats_equal(m2["coco_stats"], ours["stats"], "answers, ours");
  expect_stats_equal(m2["coco_stats"], coco_list_to_object(ref["stats"]), "answers, pycocotools");
  expect_stats_equal(m2["coco_stats_all_categories"], coco_list_to_object(ref["stats_all"]), "answers, all");
  EXPECT_EQ(m2["map"].get<double>(), ref["stats"][0].get<double>());
  // The notebook's mAP for the selected categories, and each per-class AP (x 100).
  EXPECT_EQ(m2["reference_map"].get<double>(), ref["map"].get<double>());
  ASSERT_EQ(m2["per_category"].size(), 3u);
  for (const auto& c : m2["per_category"])
    EXPECT_EQ(c["ap"].get<double>() * 100, ref["per_class"][c["name"].get<std::string>()].get<double>()) << c["name"];
  EXPECT_NE(read_file(dir + "/out2/summary.md").find("| apple | 1 | 1 | 1 | 2 | 3 |"), std::string::npos)
      << read_file(dir + "/out2/summary.md");

  // Without a map every (image, selected category) pair is asked; --limit keeps images.
  r = run_eval(dir, "out3", "--set \"eval.exist_map=''\" --limit 1");
  ASSERT_EQ(r.status, 0) << r.output;
  const json m3 = json::parse(read_file(dir + "/out3/metrics.json"));
  EXPECT_EQ(m3["input"]["questions"], 3);
  EXPECT_EQ(m3["input"]["images_evaluated"], 1);
  expect_stats_equal(m3["coco_stats"], our_metrics("coco", dir, "out3", "--cat-ids 1,2,3 --img-ids 11")["stats"],
                     "no map, image 11");
  // The answers of one set do not replay on another.
  r = run_eval(dir, "out4", "--set \"eval.exist_map=''\" --answers '" + dir + "/answers.jsonl'");
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.output.find("asks another question"), std::string::npos) << r.output;
  // An unknown category is refused by name, with the nearest one.
  r = run_eval(dir, "out5", "--set eval.categories=apple,oragne");
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.output.find("'oragne' is not in"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("did you mean 'orange'"), std::string::npos) << r.output;
}

TEST(EvalLvis, ExistMapProtocolFilesAndParity) {
  REQUIRE_FIXTURES(test::tokenizer_fixture());
  // Apple is asked on the orange image, where it is a negative category (a detection is a
  // false positive), and cat on the messi image, where it is neither present nor negative (its
  // detections are dropped by the federated rule).
  const json map = {{"11", {"apple", "orange"}}, {"12", {"orange", "apple"}}, {"13", {"cat"}}, {"14", {"cat"}}};
  const std::string dir = setup_det("eval-lvis", true, map);
  auto r = run_eval(dir, "out");
  ASSERT_EQ(r.status, 0) << r.output;
  const std::vector<json> preds = test::read_jsonl(dir + "/out/predictions.jsonl");
  ASSERT_EQ(preds.size(), 6u);
  EXPECT_EQ(preds[3]["category"], "apple");
  EXPECT_EQ(preds[3]["image_id"], 12);
  const json m = json::parse(read_file(dir + "/out/metrics.json"));
  EXPECT_EQ(m["input"]["input"], "lvis");
  expect_stats_equal(m["lvis_stats"], our_metrics("lvis", dir, "out", "--cat-ids 1,2,3")["stats"], "model, selected");
  expect_stats_equal(m["lvis_stats_all_categories"], our_metrics("lvis", dir, "out", "")["stats"], "model, all");
  EXPECT_TRUE(fs::exists(dir + "/out/vis/000001.jpg"));

  write_answers(dir + "/out/predictions.jsonl", dir + "/answers.jsonl",
                {"<answer>[{'Position': [120, 150, 505, 510], 'Confidence': 0.9}, {'Position': [590, 500, 880, "
                 "790], 'Confidence': 0.7}]</answer>",
                 "<answer>[{'Position': [20, 20, 80, 80], 'Confidence': 0.5}, {'Position': [500, 500, 600, 600], "
                 "'Confidence': 0.6}]</answer>",
                 "<answer>[{'Position': [80, 80, 900, 920], 'Confidence': 0.8}]</answer>",
                 "<answer>[{'Position': [100, 100, 400, 400], 'Confidence': 0.99}]</answer>",
                 "<answer>[{'Position': [230, 60, 900, 960], 'Confidence': 0.7}]</answer>",
                 "<answer>[{'Position': [0, 0, 500, 500], 'Confidence': 0.9}]</answer>"});
  r = run_eval(dir, "out2", "--answers '" + dir + "/answers.jsonl'");
  ASSERT_EQ(r.status, 0) << r.output;
  const json m2 = json::parse(read_file(dir + "/out2/metrics.json"));
  EXPECT_EQ(m2["predicted_boxes"], 8);
  EXPECT_GT(m2["map"].get<double>(), 0.2);
  const json ref = reference_metrics("lvis", dir, "out2");
  expect_stats_equal(m2["lvis_stats"], our_metrics("lvis", dir, "out2", "--cat-ids 1,2,3")["stats"], "answers, ours");
  expect_stats_equal(m2["lvis_stats"], ref["stats"], "answers, lvis-api");
  expect_stats_equal(m2["lvis_stats_all_categories"], ref["stats_all"], "answers, lvis-api, all");
  // The deleted LVIS notebook: per-class AP over all area ranges (x 100), their mean.
  EXPECT_EQ(m2["reference_map"].get<double>(), ref["map"].get<double>());
  for (const auto& c : m2["per_category"]) {
    EXPECT_EQ(c["ap_all_areas"].get<double>() * 100, ref["per_class"][c["name"].get<std::string>()].get<double>())
        << c["name"];
    EXPECT_EQ(c["frequency"], c["name"] == "orange" ? "c" : "r");
  }
}

// ---- end to end: a classification list -------------------------------------------------------------

TEST(EvalClassificationList, PromptsFilesAndAccuracy) {
  REQUIRE_FIXTURES(test::tokenizer_fixture());
  const std::string dir = test::scratch_with_tiny_model("eval-cls-list");
  write_file_atomic(dir + "/fruits.classnames.txt", "apple\norange\nbaboon\nfish\n");
  write_file_atomic(dir + "/fruits.test.tsv",
                    "relpath\tlabel\tclassname\napple.jpg\t0\tapple\norange.jpg\t1\torange\nbaboon.jpg\t2\tbaboon\n"
                    "HappyFish.jpg\t3\tfish\n");
  write_file_atomic(dir + "/cfg.yaml", "model: {path: '" + dir + "/model', device: cpu, dtype: float32}\n" +
                                           "data: {task: cls, max_pixels: 12544}\n" + "eval: {classification: '" + dir +
                                           "/fruits.test.tsv', classnames: '" + dir +
                                           "/fruits.classnames.txt', images: '" + fixtures() +
                                           "/images', batch_size: 4, max_new_tokens: 8}\n");
  // "fruits" suggests no prompt subject.
  auto r = run_eval(dir, "out");
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.output.find("'eval.subject'"), std::string::npos) << r.output;
  r = run_eval(dir, "out", "--set eval.subject=plant");
  ASSERT_EQ(r.status, 0) << r.output;
  const std::vector<json> preds = test::read_jsonl(dir + "/out/predictions.jsonl");
  ASSERT_EQ(preds.size(), 4u);
  EXPECT_EQ(preds[0]["problem"], eval_question(classification_prompt("plant")));
  EXPECT_EQ(preds[3]["label"], "fish");
  EXPECT_EQ(preds[3]["image"], fixtures() + "/images/HappyFish.jpg");
  const json m = json::parse(read_file(dir + "/out/metrics.json"));
  EXPECT_EQ(m["input"]["subject"], "plant");
  EXPECT_EQ(m["per_class"].size(), 4u);
  EXPECT_FALSE(fs::exists(dir + "/out/results.json"));
  // Replayed answers: the reference's substring rule and exact match.
  write_answers(dir + "/out/predictions.jsonl", dir + "/answers.jsonl",
                {"<answer>Apple</answer>", "<answer>orange fruit</answer>", "baboon", "<answer>fish</answer>"});
  r = run_eval(dir, "out2", "--set eval.subject=plant --answers '" + dir + "/answers.jsonl'");
  ASSERT_EQ(r.status, 0) << r.output;
  const json m2 = json::parse(read_file(dir + "/out2/metrics.json"));
  EXPECT_EQ(m2["accuracy_reference"].get<double>(), 0.75);
  EXPECT_EQ(m2["accuracy_exact"].get<double>(), 0.5);
  EXPECT_EQ(m2["no_answer"], 1);
  EXPECT_TRUE(m2["model"].is_null());
  EXPECT_EQ(m2["generation"]["answers_from"], dir + "/answers.jsonl");
  // --limit keeps the first lines.
  r = run_eval(dir, "out3", "--set eval.subject=plant --limit 2");
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_EQ(test::read_jsonl(dir + "/out3/predictions.jsonl").size(), 2u);
}

}  // namespace
