// tests/data/test_synth_combinations.cpp: pre-training rows drawn from every colour x pattern
// x shape combination but the novel categories (data/synth.h): the dense rows alone
// (dense_all_combinations, for a vision stage) or every base_train row (base_all_combinations,
// for a language model that composes the words). The novel categories stay unseen, and the
// few-shot and eval splits are the world's, byte for byte.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <string>

#include "data/synth_test_util.h"
#include "test_util.h"
#include "visual_rft/core/fs.h"
#include "visual_rft/data/synth.h"
#include "visual_rft/data/visual_rft_jsonl.h"

using namespace vrft;
using namespace vrft::test;

namespace {

std::set<std::string> names_of(const SynthWorld& w, const std::vector<int>& ids) {
  std::set<std::string> out;
  for (int id : ids) out.insert(w.categories[static_cast<size_t>(id)].name);
  return out;
}

// Every match of `pattern`'s first group in the solutions (or, with `in_problem`, the prompts)
// of the rows in `file`.
std::set<std::string> named_in(const std::string& file, const std::string& pattern, bool in_problem) {
  const std::regex re(pattern);
  std::set<std::string> seen;
  for (const Sample& s : load_visual_rft_jsonl(file, "", false)) {
    const std::string& text = in_problem ? s.problem : s.solution;
    for (auto it = std::sregex_iterator(text.begin(), text.end(), re); it != std::sregex_iterator(); ++it) {
      seen.insert((*it)[1]);
    }
  }
  return seen;
}

}  // namespace

TEST(SynthFiles, DenseRowsOfEveryCombinationShowAllButTheNovelCategories) {
  // dense_all_combinations: the dense rows' objects come from the 90 colour x pattern x shape
  // combinations less the novel categories, so colour and pattern no longer tell the shape;
  // the novel categories stay unseen and the tasks' rows are those of the world.
  SynthConfig cfg = small_config();
  cfg.dense_base = true;
  cfg.dense_all_combinations = true;
  cfg.tasks = {Task::cls};
  const SynthWorld w = make_synth_world(cfg);
  const SynthWorld every = synth_every_combination(w);
  ASSERT_EQ(every.categories.size(), 90u);
  std::set<std::string> names, novel, world_novel;
  for (const SynthCategory& c : every.categories) {
    names.insert(c.name);
    if (c.novel) novel.insert(c.name);
    EXPECT_EQ(c.name, std::string(synth_colour_name(c.colour)) + " " + synth_pattern_name(c.pattern) + " " +
                          synth_shape_name(c.shape));
  }
  EXPECT_EQ(names.size(), 90u) << "every combination once";
  for (int id : w.novel) world_novel.insert(w.categories[static_cast<size_t>(id)].name);
  EXPECT_EQ(novel, world_novel);
  EXPECT_EQ(every.base.size() + every.novel.size(), 90u);
  // Ids in combination order: a world category's combination is its id there.
  for (const SynthCategory& c : w.categories) {
    const int combo = (c.shape * kSynthColours + c.colour) * kSynthPatterns + c.pattern;
    EXPECT_EQ(every.categories[static_cast<size_t>(combo)].name, c.name);
  }

  const std::string out = scratch_dir("synth-dense-every");
  const nlohmann::ordered_json summary = write_synth_dataset(cfg, out, 2);
  EXPECT_EQ(summary["dense_all_combinations"], true);
  const auto dense = load_visual_rft_jsonl(out + "/dense/base_train.jsonl", "", false);
  ASSERT_EQ(static_cast<int64_t>(dense.size()), cfg.base_per_category * static_cast<int64_t>(every.base.size()));
  for (size_t i = 0; i < dense.size(); ++i) {
    EXPECT_EQ(dense[i].solution, make_synth_dense_row(every, cfg, static_cast<int64_t>(i)).sample.solution);
  }
  EXPECT_EQ(named_in(out + "/dense/base_train.jsonl", R"('Category': '([a-z ]+)')", false), names_of(every, every.base))
      << "each non-novel combination is some row's first object; no novel one appears";
  // The classification rows are the world's: without the flag they are the same bytes.
  SynthConfig plain = cfg;
  plain.dense_all_combinations = false;
  const std::string out_plain = scratch_dir("synth-dense-world");
  write_synth_dataset(plain, out_plain, 2);
  EXPECT_EQ(read_file(out + "/cls/base_train.jsonl"), read_file(out_plain + "/cls/base_train.jsonl"));
}

TEST(SynthFiles, BaseRowsOfEveryCombinationNameAllButTheNovelCategories) {
  // base_all_combinations: each task's base_train rows ask about and answer with every
  // combination that is not novel (base_per_category rows each), the dense rows too; the
  // few-shot and eval rows are those of the plain world, byte for byte.
  SynthConfig cfg = small_config();
  cfg.base_all_combinations = true;
  cfg.dense_base = true;
  cfg.think_base = true;
  const SynthWorld w = make_synth_world(cfg);
  const SynthWorld every = synth_every_combination(w);
  const std::set<std::string> base = names_of(every, every.base), novel = names_of(w, w.novel);
  ASSERT_EQ(base.size(), 86u);
  for (const std::string& n : novel) ASSERT_EQ(base.count(n), 0u) << n;
  const std::string out = scratch_dir("synth-base-every");
  const nlohmann::ordered_json summary = write_synth_dataset(cfg, out, 2);
  EXPECT_EQ(summary["base_all_combinations"], true);
  const int64_t rows = cfg.base_per_category * static_cast<int64_t>(base.size());
  for (const char* task : {"cls", "det", "ground", "dense"}) {
    SCOPED_TRACE(task);
    const std::string dir = out + "/" + task;
    EXPECT_EQ(static_cast<int64_t>(load_visual_rft_jsonl(dir + "/base_train.jsonl", "", false).size()), rows);
  }
  // Classification answers name each category; detection prompts ask for each; the objects of
  // dense rows and of detection and grounding scenes are never novel.
  EXPECT_EQ(named_in(out + "/cls/base_train.jsonl", R"(<answer>([a-z ]+)</answer>)", false), base);
  EXPECT_EQ(named_in(out + "/det/base_train.jsonl", R"(category '([a-z ]+)')", true), base);
  EXPECT_EQ(named_in(out + "/dense/base_train.jsonl", R"('Category': '([a-z ]+)')", false), base);
  // The detection and grounding rows written are the generator's rows of the every-combination
  // world, each drawn once here.
  const auto det = load_visual_rft_jsonl(out + "/det/base_train.jsonl", "", false);
  const auto ground = load_visual_rft_jsonl(out + "/ground/base_train.jsonl", "", false);
  ASSERT_EQ(static_cast<int64_t>(det.size()), rows);
  ASSERT_EQ(static_cast<int64_t>(ground.size()), rows);
  for (int64_t i = 0; i < rows; ++i) {
    for (Task t : {Task::det, Task::ground}) {
      const SynthRow row = make_synth_row(every, cfg, t, SynthSplit::base_train, i);
      const auto& written = t == Task::det ? det : ground;
      EXPECT_EQ(written[static_cast<size_t>(i)].solution, row.sample.solution) << "row " << i;
      for (const SynthObject& o : row.scene.objects) {
        ASSERT_FALSE(every.categories[static_cast<size_t>(o.category)].novel) << "row " << i;
      }
    }
  }
  SynthConfig plain = cfg;
  plain.base_all_combinations = false;
  const std::string out_plain = scratch_dir("synth-base-world");
  write_synth_dataset(plain, out_plain, 2);
  for (const char* task : {"cls", "det", "ground"}) {
    for (const char* split : {"fewshot_train", "eval"}) {
      const std::string f = std::string("/") + task + "/" + split + ".jsonl";
      EXPECT_EQ(read_file(out + f), read_file(out_plain + f)) << f;
    }
  }
  EXPECT_NE(read_file(out + "/det/base_train.jsonl"), read_file(out_plain + "/det/base_train.jsonl"));
}
