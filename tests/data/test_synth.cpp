// tests/data/test_synth.cpp: the synthetic few-shot world (data/synth.h) and
// `visual-rft data synth`: same seed -> byte-identical files, another seed -> other files;
// rows per split and category; boxes inside the image and tight around the drawn pixels
// (checked on the PNG as written); every solution, given as an answer, scores the maximum of
// its task's rewards (with --think-base, a reasoning first); the mixed base_train.jsonl; the
// position cue changes only the background, by its ramp. (The grounding instructions:
// test_synth_grounding.cpp; rows of every combination: test_synth_combinations.cpp.)
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <regex>
#include <set>
#include <tuple>

#include "data/data_test_util.h"
#include "data/synth_test_util.h"
#include "test_util.h"
#include "visual_rft/core/fs.h"
#include "visual_rft/data/fewshot.h"  // box_to_unit1000
#include "visual_rft/data/synth.h"
#include "visual_rft/data/visual_rft_jsonl.h"
#include "visual_rft/reward/rewards.h"

using namespace vrft;
using namespace vrft::test;
namespace fs = std::filesystem;

namespace {

// FNV-1a of every file under dir, by relative path.
std::map<std::string, uint64_t> hash_tree(const std::string& dir) {
  std::map<std::string, uint64_t> out;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    if (!e.is_regular_file()) continue;
    uint64_t h = 1469598103934665603ULL;
    for (unsigned char c : read_file(e.path().string())) h = (h ^ c) * 1099511628211ULL;
    out[fs::relative(e.path(), dir).string()] = h;
  }
  return out;
}

bool same_colour(const cv::Vec3b& p, const std::array<uint8_t, 3>& c) {
  return p[0] == c[0] && p[1] == c[1] && p[2] == c[2];
}
bool object_colour(const cv::Vec3b& p, const SynthObject& o) {
  return same_colour(p, o.colour) || same_colour(p, o.shade);
}

// The category named in a detection prompt: "...the category 'red solid star' in...".
std::string named_category(const std::string& problem) {
  const size_t b = problem.find("category '") + 10;
  return problem.substr(b, problem.find('\'', b) - b);
}

}  // namespace

TEST(SynthWorld, CategoriesAndSplit) {
  const SynthConfig cfg;  // the defaults: 32 categories, 8 novel
  const SynthWorld w = make_synth_world(cfg);
  ASSERT_EQ(w.categories.size(), 32u);
  EXPECT_EQ(w.base.size(), 24u);
  EXPECT_EQ(w.novel.size(), 8u);
  std::set<std::string> names;
  std::set<int> base_shapes, base_colours, base_patterns;
  for (const auto& c : w.categories) {
    names.insert(c.name);
    EXPECT_EQ(c.name, std::string(synth_colour_name(c.colour)) + " " + synth_pattern_name(c.pattern) + " " +
                          synth_shape_name(c.shape));
    if (!c.novel) base_shapes.insert(c.shape), base_colours.insert(c.colour), base_patterns.insert(c.pattern);
  }
  EXPECT_EQ(names.size(), 32u) << "names are unique";
  for (int id : w.novel) {  // every word of a novel name occurs in a base name
    const auto& c = w.categories[static_cast<size_t>(id)];
    EXPECT_TRUE(c.novel);
    EXPECT_TRUE(base_shapes.count(c.shape) && base_colours.count(c.colour) && base_patterns.count(c.pattern)) << c.name;
  }
  // Fixed by the seed; another seed draws another world.
  SynthConfig other = cfg;
  other.seed = 1;
  const SynthWorld w2 = make_synth_world(cfg), w3 = make_synth_world(other);
  EXPECT_EQ(w2.novel, w.novel);
  std::vector<std::string> a, b;
  for (const auto& c : w.categories) a.push_back(c.name + (c.novel ? "*" : ""));
  for (const auto& c : w3.categories) b.push_back(c.name + (c.novel ? "*" : ""));
  EXPECT_NE(a, b);

  SynthConfig bad = cfg;
  bad.num_novel = 32;
  EXPECT_NE(error_of([&] { make_synth_world(bad); }).find("some categories must stay base"), std::string::npos);
  bad = cfg;
  bad.num_categories = 91;
  EXPECT_NE(error_of([&] { make_synth_world(bad); }).find("must be in 2..90"), std::string::npos);
}

TEST(SynthFiles, SameSeedSameBytesOtherSeedOtherBytes) {
  const std::string root = scratch_dir("synth-determinism");
  write_synth_dataset(small_config(7), root + "/a", /*threads=*/1);
  write_synth_dataset(small_config(7), root + "/b", /*threads=*/3);  // rows in another order
  write_synth_dataset(small_config(8), root + "/c");
  const auto a = hash_tree(root + "/a"), b = hash_tree(root + "/b"), c = hash_tree(root + "/c");
  // 3 tasks x (3 JSONL + (12 + 8 + 10) images) + categories.json + summary.json + base_train.jsonl
  EXPECT_EQ(a.size(), 3u * (3 + 8 * 3 + 4 * 2 + 10) + 3);
  EXPECT_EQ(a, b);
  ASSERT_EQ(a.size(), c.size());  // same counts, other contents
  size_t differ = 0;
  for (const auto& [path, h] : a) differ += c.at(path) != h;
  EXPECT_GT(differ, a.size() * 9 / 10) << "another seed changes nearly every file";
  EXPECT_NE(a.at("categories.json"), c.at("categories.json"));

  // Writing again over an earlier, larger output leaves no stale image behind.
  SynthConfig smaller = small_config(7);
  smaller.eval_rows = 4;
  write_synth_dataset(smaller, root + "/a");
  EXPECT_FALSE(fs::exists(root + "/a/cls/images/eval_00009.png"));
  EXPECT_TRUE(fs::exists(root + "/a/cls/images/eval_00003.png"));
}

TEST(SynthFiles, ImageSeedDrawsFreshImagesOfTheSameWorld) {
  const std::string root = scratch_dir("synth-image-seed");
  SynthConfig same = small_config(7), fresh = small_config(7);
  same.image_seed = 7;  // the default draws from the world's seed
  fresh.image_seed = 1234;
  write_synth_dataset(small_config(7), root + "/a");
  write_synth_dataset(same, root + "/b");
  write_synth_dataset(fresh, root + "/c");
  const auto a = hash_tree(root + "/a"), b = hash_tree(root + "/b"), c = hash_tree(root + "/c");
  EXPECT_EQ(a, b) << "--image-seed equal to --seed changes nothing";
  EXPECT_EQ(a.at("categories.json"), c.at("categories.json")) << "the world (categories and split) stays";
  size_t differ = 0;
  for (const auto& [path, h] : a) differ += c.at(path) != h;
  EXPECT_GT(differ, a.size() * 9 / 10) << "every image and row is drawn anew";
  const auto summary = nlohmann::json::parse(read_file(root + "/c/summary.json"));
  EXPECT_EQ(summary["seed"], 7);
  EXPECT_EQ(summary["image_seed"], 1234);
  EXPECT_EQ(summary["eval_categories"], "novel");
}

TEST(SynthFiles, EvalOfBaseCategoriesShowsOnlyBaseCategories) {
  const std::string root = scratch_dir("synth-eval-base");
  SynthConfig cfg = small_config();
  cfg.eval_base = true;
  cfg.eval_rows = 16;
  cfg.image_seed = 99;
  const nlohmann::ordered_json summary = write_synth_dataset(cfg, root);
  EXPECT_EQ(summary["eval_categories"], "base");
  const SynthWorld w = make_synth_world(cfg);
  std::set<int> asked;
  for (Task task : kTasks) {
    for (int64_t i = 0; i < cfg.eval_rows; ++i) {
      const SynthRow row = make_synth_row(w, cfg, task, SynthSplit::eval, i);
      EXPECT_EQ(row.category, w.base[static_cast<size_t>(i) % w.base.size()]) << task_name(task) << " row " << i;
      asked.insert(row.category);
      for (const SynthObject& o : row.scene.objects) {
        EXPECT_FALSE(w.categories[static_cast<size_t>(o.category)].novel)
            << task_name(task) << " row " << i << ": a novel object among the base categories' images";
      }
    }
  }
  EXPECT_EQ(asked.size(), w.base.size()) << "16 rows per task cycle over all 8 base categories";
}

TEST(SynthFiles, CountsPerSplitAndCategory) {
  const std::string root = scratch_dir("synth-counts");
  const SynthConfig cfg = small_config();
  const nlohmann::ordered_json summary = write_synth_dataset(cfg, root);
  const SynthWorld w = make_synth_world(cfg);
  std::map<std::string, int> id_of;
  for (const auto& c : w.categories) id_of[c.name] = c.id;

  const auto cats = nlohmann::json::parse(read_file(root + "/categories.json"));
  EXPECT_EQ(cats["categories"].size(), 12u);
  EXPECT_EQ(cats["novel"].size(), 4u);
  EXPECT_EQ(cats["corners"]["cross"], 12);
  EXPECT_EQ(nlohmann::json::parse(read_file(root + "/summary.json")), nlohmann::json::parse(summary.dump()));

  for (Task task : kTasks) {
    for (SynthSplit split : kSplits) {
      const std::string file = root + "/" + task_name(task) + "/" + synth_split_name(split) + ".jsonl";
      // Loads with the project's reader, which also checks that every image exists.
      const std::vector<Sample> rows = load_visual_rft_jsonl(file, "", false);
      ASSERT_EQ(static_cast<int64_t>(rows.size()), synth_split_rows(w, cfg, split)) << file;
      std::map<int, int> per_category;
      for (const Sample& s : rows) {
        int id = -1;
        if (task == Task::cls) id = id_of.at(parse_solution(Task::cls, s.solution).label);
        if (task == Task::det) id = id_of.at(named_category(s.problem));
        if (task == Task::ground) id = make_synth_row(w, cfg, task, split, s.index).category;
        ++per_category[id];
        EXPECT_EQ(cv::imread(s.image).cols, cfg.image_size);
      }
      const std::vector<int>& expected = split == SynthSplit::base_train ? w.base : w.novel;
      const int each = split == SynthSplit::base_train ? 3 : split == SynthSplit::fewshot_train ? 2 : -1;
      for (const auto& [id, n] : per_category) {
        EXPECT_TRUE(std::count(expected.begin(), expected.end(), id)) << file << ": category " << id;
        if (each > 0) {
          EXPECT_EQ(n, each) << file;
        }
      }
      EXPECT_EQ(per_category.size(), split == SynthSplit::base_train ? 8u : 4u) << file;
      EXPECT_EQ(summary["tasks"][task_name(task)][synth_split_name(split)]["rows"], rows.size());
    }
  }
  // Detection asks for absent categories in base_train and eval, never in the few-shot set.
  const auto& det = summary["tasks"]["det"];
  EXPECT_EQ(det["fewshot_train"]["no_objects"], 0);
  EXPECT_GE(det["base_train"]["boxes"].get<int>(), 24 * 8 / 10);
}

TEST(SynthRows, BoxesInsideAndTightOnTheWrittenImage) {
  const std::string root = scratch_dir("synth-boxes");
  const SynthConfig cfg = small_config();
  write_synth_dataset(cfg, root);
  const SynthWorld w = make_synth_world(cfg);
  const int n = static_cast<int>(cfg.image_size);
  int checked = 0;
  for (Task task : kTasks) {
    for (SynthSplit split : kSplits) {
      for (int64_t i = 0; i < synth_split_rows(w, cfg, split); ++i) {
        const SynthRow row = make_synth_row(w, cfg, task, split, i);
        const std::string path = root + "/" + task_name(task) + "/" + row.sample.image;
        const cv::Mat png = cv::imread(path, cv::IMREAD_COLOR);
        ASSERT_EQ(cv::norm(png, row.scene.image, cv::NORM_INF), 0) << path << ": the file is the scene, losslessly";
        for (size_t k = 0; k < row.scene.objects.size(); ++k) {
          const SynthObject& o = row.scene.objects[k];
          const auto& b = o.box;
          SCOPED_TRACE(path + " object " + std::to_string(k));
          ASSERT_TRUE(0 <= b[0] && b[0] < b[2] && b[2] <= n && 0 <= b[1] && b[1] < b[3] && b[3] <= n);
          // The box is the bounding rectangle of the object's visible pixels in the label map.
          cv::Mat mask = row.scene.labels == static_cast<int>(k);
          EXPECT_EQ(cv::boundingRect(mask), cv::Rect(b[0], b[1], b[2] - b[0], b[3] - b[1]));
          EXPECT_EQ(cv::countNonZero(mask), o.area);
          EXPECT_GE(o.area * 100, o.full_area * 60) << "occlusion hides at most 40%";
          // In the written image, the object's colours touch each side of the box (within 2 px).
          auto colour_in = [&](int x1, int y1, int x2, int y2) {
            for (int y = std::max(y1, 0); y < std::min(y2, n); ++y) {
              for (int x = std::max(x1, 0); x < std::min(x2, n); ++x) {
                if (object_colour(png.at<cv::Vec3b>(y, x), o)) return true;
              }
            }
            return false;
          };
          EXPECT_TRUE(colour_in(b[0], b[1], b[0] + 2, b[3])) << "left side";
          EXPECT_TRUE(colour_in(b[2] - 2, b[1], b[2], b[3])) << "right side";
          EXPECT_TRUE(colour_in(b[0], b[1], b[2], b[1] + 2)) << "top side";
          EXPECT_TRUE(colour_in(b[0], b[3] - 2, b[2], b[3])) << "bottom side";
          if (task == Task::cls) {  // one object: none of its colours outside its box
            int outside = 0;
            for (int y = 0; y < n; ++y) {
              for (int x = 0; x < n; ++x) {
                const bool in = b[0] <= x && x < b[2] && b[1] <= y && y < b[3];
                outside += !in && object_colour(png.at<cv::Vec3b>(y, x), o);
              }
            }
            EXPECT_EQ(outside, 0);
          }
          ++checked;
        }
        // The solution's 0..1000 boxes are the pixel boxes, to within rounding.
        auto near_px = [&](const Box& got, const SynthObject& o) {
          const double s = n / 1000.0;
          return std::abs(got.x1 * s - o.box[0]) <= 1 && std::abs(got.y1 * s - o.box[1]) <= 1 &&
                 std::abs(got.x2 * s - o.box[2]) <= 1 && std::abs(got.y2 * s - o.box[3]) <= 1;
        };
        if (task == Task::ground) {
          EXPECT_TRUE(near_px(parse_solution(Task::ground, row.sample.solution).box,
                              row.scene.objects[static_cast<size_t>(row.target)]));
        }
        if (task == Task::det) {
          const Solution sol = parse_solution(Task::det, row.sample.solution);
          ASSERT_EQ(sol.boxes.size(), row.matches.size());
          for (int m : row.matches) {
            const SynthObject& o = row.scene.objects[static_cast<size_t>(m)];
            EXPECT_TRUE(std::any_of(sol.boxes.begin(), sol.boxes.end(), [&](const Box& bx) { return near_px(bx, o); }));
            EXPECT_EQ(o.category, row.category);
          }
        }
      }
    }
  }
  EXPECT_GT(checked, 150);
}

TEST(SynthRows, SolutionsScoreTheMaximum) {
  SynthConfig cfg = small_config();
  cfg.eval_rows = 40;  // enough detection rows for 'No Objects' cases
  const SynthWorld w = make_synth_world(cfg);
  int no_objects = 0;
  for (Task task : kTasks) {
    for (SynthSplit split : kSplits) {
      for (int64_t i = 0; i < synth_split_rows(w, cfg, split); ++i) {
        const SynthRow row = make_synth_row(w, cfg, task, split, i);
        const Solution sol = parse_solution(task, row.sample.solution);
        const std::string answer = "<think>I look at the shapes.</think>" + row.sample.solution;
        SCOPED_TRACE(row.sample.solution);
        EXPECT_EQ(format_reward(answer, sol, strict_ctx()), 1.0);
        if (task == Task::cls) {
          EXPECT_EQ(accuracy_cls_reward(answer, sol, strict_ctx()), 1.0);
          EXPECT_EQ(accuracy_cls_reward(answer, sol, reference_ctx()), 1.0);
          EXPECT_EQ(row.sample.problem, synth_classification_prompt());
        } else if (task == Task::det) {
          const DetectionScores s = detection_rewards(answer, sol, strict_ctx());
          EXPECT_EQ(s.iou, 1.0);
          EXPECT_EQ(s.confidence, 1.0);
          if (row.matches.empty()) {
            ++no_objects;
            EXPECT_EQ(row.sample.solution, "<answer>No Objects</answer>");
          } else {  // the reference's code scores positives the same (it gives 'No Objects' 0)
            const DetectionScores r = detection_rewards(answer, sol, reference_ctx());
            EXPECT_EQ(r.iou, 1.0);
            EXPECT_EQ(r.confidence, 1.0);
          }
          EXPECT_EQ(row.sample.problem,
                    detection_prompt(w.categories[static_cast<size_t>(row.category)].name, PromptStyle::train));
        } else {
          EXPECT_EQ(iou_grounding_reward(answer, sol, strict_ctx()), 1.0);
          EXPECT_EQ(iou_grounding_reward(answer, sol, reference_ctx()), 1.0);
          EXPECT_EQ(giou_grounding_reward(answer, sol, reference_ctx()), 2.0);
          EXPECT_EQ(row.sample.problem, grounding_prompt(row.instruction, PromptStyle::train));
        }
      }
    }
  }
  EXPECT_GT(no_objects, 0);
  // A wrong class or a missed box does not score the maximum (the solutions are not trivial).
  const SynthRow r = make_synth_row(w, cfg, Task::cls, SynthSplit::eval, 0);
  const std::string other = w.categories[static_cast<size_t>(w.novel[1])].name;
  EXPECT_EQ(accuracy_cls_reward("<think>x</think><answer>" + other + "</answer>",
                                parse_solution(Task::cls, r.sample.solution), strict_ctx()),
            0.0);
}

TEST(SynthCli, WritesTheRequestedTasksAndPrintsASummary) {
  const std::string out = scratch_dir("synth-cli") + "/world";
  CommandResult r = run(cli() + " data synth --out " + out +
                        " --seed 3 --train-per-category 2 --base-per-category 2 --eval 6 --categories 12 --novel 4"
                        " --image-size 56 --tasks cls,det");
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("12 categories (8 base, 4 novel), 56x56 images"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("det     fewshot_train       8  "), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("wrote 60 images"), std::string::npos) << r.output;
  EXPECT_TRUE(fs::exists(out + "/det/eval.jsonl"));
  EXPECT_TRUE(fs::exists(out + "/cls/images/base_train_00015.png"));
  EXPECT_FALSE(fs::exists(out + "/ground"));
  EXPECT_EQ(cv::imread(out + "/cls/images/eval_00000.png").rows, 56);

  // --dense-all-combinations: dense rows of the 90 combinations less the 4 novel ones.
  r = run(cli() + " data synth --out " + out +
          " --seed 3 --base-per-category 1 --eval 0 --categories 12 --novel 4 --image-size 56 --tasks cls"
          " --dense-base --dense-all-combinations");
  ASSERT_EQ(r.status, 0) << r.output;
  const nlohmann::json summary = nlohmann::json::parse(read_file(out + "/summary.json"));
  EXPECT_EQ(summary["dense_all_combinations"], true);
  EXPECT_EQ(summary["dense"]["base_train"]["rows"], 86);
  EXPECT_EQ(load_visual_rft_jsonl(out + "/dense/base_train.jsonl", "", false).size(), 86u);
  // --base-all-combinations: every task's base rows too (test_synth_combinations.cpp).
  r = run(cli() + " data synth --out " + out +
          " --seed 3 --base-per-category 1 --eval 0 --categories 12 --novel 4 --image-size 56 --tasks det"
          " --base-all-combinations");
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_EQ(nlohmann::json::parse(read_file(out + "/summary.json"))["base_all_combinations"], true);
  EXPECT_EQ(load_visual_rft_jsonl(out + "/det/base_train.jsonl", "", false).size(), 86u);

  r = run(cli() + " data synth --out " + out + " --tasks cls,segment");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.output.find("unknown task 'segment'"), std::string::npos) << r.output;
}

TEST(SynthRows, ThinkBaseReasonsAboutTheRowInBaseTrainOnly) {
  SynthConfig cfg = small_config();
  cfg.think_base = true;
  SynthConfig plain = cfg;
  plain.think_base = false;
  const SynthWorld w = make_synth_world(cfg);
  for (Task task : kTasks) {
    for (int64_t i = 0; i < synth_split_rows(w, cfg, SynthSplit::base_train); ++i) {
      const SynthRow row = make_synth_row(w, cfg, task, SynthSplit::base_train, i);
      const std::string& sol = row.sample.solution;
      // The released answer, after the row's reasoning: same scene, same answer as without it.
      const std::string released = make_synth_row(w, plain, task, SynthSplit::base_train, i).sample.solution;
      ASSERT_EQ(sol, "<think>" + synth_reasoning(w, task, row) + "</think> " + released);
      // A model that writes it gets the format reward the plain answer misses.
      const Solution parsed = parse_solution(task, sol);
      EXPECT_EQ(format_reward(sol, parsed, strict_ctx()), 1.0) << sol;
      EXPECT_EQ(format_reward(released, parsed, strict_ctx()), 0.0) << released;
      const int shown =
          task == Task::ground ? row.scene.objects[static_cast<size_t>(row.target)].category : row.category;
      EXPECT_NE(synth_reasoning(w, task, row).find(w.categories[static_cast<size_t>(shown)].name), std::string::npos)
          << sol;
      if (task == Task::det) {
        const std::string count =
            row.matches.empty() ? "I see no " : "I count " + std::to_string(row.matches.size()) + " ";
        EXPECT_EQ(sol.rfind("<think>" + count, 0), 0u) << sol;
      }
    }
    // The few-shot and eval splits keep the released format (no <think>).
    EXPECT_EQ(make_synth_row(w, cfg, task, SynthSplit::fewshot_train, 0).sample.solution.rfind("<answer>", 0), 0u);
    EXPECT_EQ(make_synth_row(w, cfg, task, SynthSplit::eval, 0).sample.solution.rfind("<answer>", 0), 0u);
  }
}

TEST(SynthFiles, MixedBaseTrainInterleavesEveryTask) {
  const SynthConfig cfg = small_config();
  const std::string out = scratch_dir("synth-mixed");
  write_synth_dataset(cfg, out, 2);
  const auto mixed = load_visual_rft_jsonl(out + "/base_train.jsonl", "", false);
  const int64_t per_task = synth_split_rows(make_synth_world(cfg), cfg, SynthSplit::base_train);
  ASSERT_EQ(static_cast<int64_t>(mixed.size()), 3 * per_task);
  for (int64_t i = 0; i < per_task; ++i) {
    for (int t = 0; t < 3; ++t) {
      const Sample& s = mixed[static_cast<size_t>(3 * i + t)];
      const std::string task = task_name(kTasks[t]);
      const auto own = load_visual_rft_jsonl(out + "/" + task + "/base_train.jsonl", "", false);
      EXPECT_EQ(s.image, own[static_cast<size_t>(i)].image) << "row " << i << " of " << task;  // both resolved paths
      EXPECT_EQ(s.problem, own[static_cast<size_t>(i)].problem);
      EXPECT_EQ(s.solution, own[static_cast<size_t>(i)].solution);
    }
  }
}

TEST(SynthFiles, DenseRowsLocateAndNameEveryObjectOnTheWrittenImage) {
  SynthConfig cfg = small_config();
  cfg.dense_base = true;
  cfg.think_base = true;
  const std::string out = scratch_dir("synth-dense");
  const nlohmann::ordered_json summary = write_synth_dataset(cfg, out, 2);
  const SynthWorld w = make_synth_world(cfg);
  const int64_t per_task = synth_split_rows(w, cfg, SynthSplit::base_train);
  const auto dense = load_visual_rft_jsonl(out + "/dense/base_train.jsonl", "", false);
  ASSERT_EQ(static_cast<int64_t>(dense.size()), per_task);
  EXPECT_EQ(summary["dense"]["base_train"]["rows"], per_task);
  // The mixed file holds the dense rows as a fourth stream: row i of cls, det, ground, dense.
  const auto mixed = load_visual_rft_jsonl(out + "/base_train.jsonl", "", false);
  ASSERT_EQ(static_cast<int64_t>(mixed.size()), 4 * per_task);
  std::map<std::string, int> id_of;
  for (const auto& c : w.categories) id_of[c.name] = c.id;
  const std::regex item(R"(\{'Position': \[(\d+), (\d+), (\d+), (\d+)\], 'Category': '([a-z ]+)'\})");
  int64_t boxes = 0;
  for (int64_t i = 0; i < per_task; ++i) {
    const Sample& s = dense[static_cast<size_t>(i)];
    EXPECT_EQ(mixed[static_cast<size_t>(4 * i + 3)].solution, s.solution);
    EXPECT_EQ(s.problem, synth_dense_prompt());
    const SynthRow row = make_synth_dense_row(w, cfg, i);
    EXPECT_EQ(row.sample.solution, s.solution) << "the row is a function of its index";
    ASSERT_GE(row.scene.objects.size(), 1u);
    ASSERT_LE(row.scene.objects.size(), 5u);
    EXPECT_NE(
        s.solution.find("<think>I see " + std::to_string(row.scene.objects.size()) + " objects.</think> <answer>["),
        std::string::npos)
        << s.solution;
    // Every object once, with its name and its visible box read off the written PNG.
    const cv::Mat img = cv::imread(s.image, cv::IMREAD_COLOR);
    ASSERT_EQ(img.cols, cfg.image_size);
    std::vector<std::array<int64_t, 4>> listed;
    std::multiset<std::pair<std::array<int64_t, 4>, int>> expected, got;
    for (const SynthObject& o : row.scene.objects) {
      EXPECT_FALSE(w.categories[static_cast<size_t>(o.category)].novel) << "row " << i << ": only base categories";
      int x1 = img.cols, y1 = img.rows, x2 = -1, y2 = -1;
      for (int y = 0; y < img.rows; ++y)
        for (int x = 0; x < img.cols; ++x)
          if (object_colour(img.at<cv::Vec3b>(y, x), o))
            x1 = std::min(x1, x), y1 = std::min(y1, y), x2 = std::max(x2, x), y2 = std::max(y2, y);
      // The drawn pixels of that colour bound the object's box (objects of one colour may
      // share pixels' colours, so the box is inside the colour's extent).
      EXPECT_LE(x1, o.box[0]);
      EXPECT_LE(y1, o.box[1]);
      EXPECT_GE(x2 + 1, o.box[2]);
      EXPECT_GE(y2 + 1, o.box[3]);
      expected.insert({box_to_unit1000(o.box[0], o.box[1], o.box[2] - o.box[0], o.box[3] - o.box[1], cfg.image_size,
                                       cfg.image_size),
                       o.category});
    }
    for (auto it = std::sregex_iterator(s.solution.begin(), s.solution.end(), item); it != std::sregex_iterator();
         ++it) {
      const std::array<int64_t, 4> b{std::stoll((*it)[1]), std::stoll((*it)[2]), std::stoll((*it)[3]),
                                     std::stoll((*it)[4])};
      got.insert({b, id_of.at((*it)[5])});
      listed.push_back(b);
    }
    EXPECT_EQ(got, expected) << s.solution;
    for (size_t k = 1; k < listed.size(); ++k) {
      EXPECT_LE(std::tie(listed[k - 1][1], listed[k - 1][0]), std::tie(listed[k][1], listed[k][0])) << "reading order";
    }
    boxes += static_cast<int64_t>(listed.size());
  }
  EXPECT_EQ(summary["dense"]["base_train"]["boxes"], boxes);

  // dense_max_objects 1: single-object scenes, each row's first object the one of the 1-5 row.
  SynthConfig one = cfg;
  one.dense_max_objects = 1;
  for (int64_t i = 0; i < per_task; ++i) {
    const SynthRow row = make_synth_dense_row(w, one, i);
    ASSERT_EQ(row.scene.objects.size(), 1u) << "row " << i;
    EXPECT_EQ(row.category, make_synth_dense_row(w, cfg, i).category) << "row " << i;
    EXPECT_NE(row.sample.solution.find("<think>I see 1 objects.</think>"), std::string::npos) << row.sample.solution;
  }
}

TEST(SynthRows, PositionCueRampsTheBackgroundOnlyAndKeepsEveryScene) {
  // The cue changes background pixels alone, by the documented ramp: blue rises to the right,
  // red to the bottom, green falls by their mean; objects, occluders, boxes and rows stay.
  SynthConfig plain = small_config(), cued = small_config();
  cued.position_cue = true;
  const SynthWorld wp = make_synth_world(plain), wc = make_synth_world(cued);
  ASSERT_TRUE(wc.position_cue);
  const int n = static_cast<int>(plain.image_size);
  // The ramp recomputed here, in real numbers: 24 x (pixel centre - image centre) / half-width.
  auto level = [n](int t) { return static_cast<int>(std::floor(24.0 * (2 * t + 1 - n) / n)); };
  double mean_blue_left = 0, mean_blue_right = 0, mean_red_top = 0, mean_red_bottom = 0;
  int checked = 0, clipped = 0;
  for (Task task : kTasks) {
    for (int64_t i = 0; i < 6; ++i) {
      const SynthRow a = make_synth_row(wp, plain, task, SynthSplit::eval, i);
      const SynthRow b = make_synth_row(wc, cued, task, SynthSplit::eval, i);
      ASSERT_EQ(a.sample.problem, b.sample.problem);
      ASSERT_EQ(a.sample.solution, b.sample.solution);
      ASSERT_EQ(cv::norm(a.scene.labels, b.scene.labels, cv::NORM_INF), 0);
      for (int y = 0; y < n; ++y) {
        for (int x = 0; x < n; ++x) {
          const cv::Vec3b p = a.scene.image.at<cv::Vec3b>(y, x), q = b.scene.image.at<cv::Vec3b>(y, x);
          if (a.scene.labels.at<int32_t>(y, x) != -1) {  // objects and occluders: untouched
            ASSERT_EQ(p, q) << "row " << i << " pixel " << x << "," << y;
            continue;
          }
          const int cx = level(x), cy = level(y);
          const int want[3] = {cx, -static_cast<int>(std::floor((cx + cy) / 2.0)), cy};
          for (int ch = 0; ch < 3; ++ch) {
            const int plain_v = p[ch], got = q[ch], expect = std::clamp(plain_v + want[ch], 0, 255);
            // Where the plain background was clipped at 0 or 255 the sum before clipping is unknown.
            if (plain_v == 0 || plain_v == 255) {
              ++clipped;
              continue;
            }
            ASSERT_EQ(got, expect) << "row " << i << " pixel " << x << "," << y << " channel " << ch;
          }
          ++checked;
          if (x < n / 4) mean_blue_left += q[0] - p[0];
          if (x >= n - n / 4) mean_blue_right += q[0] - p[0];
          if (y < n / 4) mean_red_top += q[2] - p[2];
          if (y >= n - n / 4) mean_red_bottom += q[2] - p[2];
        }
      }
    }
  }
  EXPECT_GT(checked, 100000);
  EXPECT_LT(clipped, checked / 100);
  EXPECT_LT(mean_blue_left, 0);
  EXPECT_GT(mean_blue_right, 0);
  EXPECT_LT(mean_red_top, 0);
  EXPECT_GT(mean_red_bottom, 0);
}
