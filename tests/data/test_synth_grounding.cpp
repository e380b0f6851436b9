// tests/data/test_synth_grounding.cpp: every grounding instruction of the synthetic world
// (data/synth.h), read back by an interpreter written here from the instructions' meaning,
// independently of the generator, picks exactly its target, never names the target's
// category, and every kind of instruction occurs; the held-out kinds only in the few-shot and
// novel-category eval rows, and only they there.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "data/synth_test_util.h"
#include "visual_rft/data/synth.h"

using namespace vrft;
using namespace vrft::test;

namespace {

// Reads an instruction back and returns the objects it describes: an interpreter of the
// instruction texts written from their meaning, not from the generator's code. Superlatives
// must also be clear: 40% larger in area, or 8% of the image further in position.
std::vector<size_t> interpret(const std::string& text, const SynthScene& sc, const SynthWorld& w, int64_t size) {
  struct Obj {
    std::string colour, pattern, shape;
    int corners;
    double area, cx, cy;
  };
  std::vector<Obj> objs;
  for (const auto& o : sc.objects) {
    const auto& c = w.categories[static_cast<size_t>(o.category)];
    objs.push_back({synth_colour_name(c.colour), synth_pattern_name(c.pattern), synth_shape_name(c.shape),
                    synth_shape_corners(c.shape), static_cast<double>(o.area), (o.box[0] + o.box[2]) / 2.0,
                    (o.box[1] + o.box[3]) / 2.0});
  }
  std::vector<size_t> all(objs.size());
  for (size_t i = 0; i < all.size(); ++i) all[i] = i;
  // The objects of `among` with the largest key, when it beats every other by `margin`.
  auto best = [&](const std::vector<size_t>& among, auto key, double margin, bool ratio) -> std::vector<size_t> {
    std::vector<size_t> top;
    for (size_t i : among) {
      if (top.empty() || key(i) > key(top[0]))
        top = {i};
      else if (key(i) == key(top[0]))
        top.push_back(i);
    }
    for (size_t i : among) {
      if (top.size() == 1 && i != top[0]) {
        const bool clear = ratio ? key(top[0]) >= key(i) * margin : key(top[0]) >= key(i) + margin;
        if (!clear) return {};
      }
    }
    return top;
  };
  auto where = [&](auto pred) {
    std::vector<size_t> v;
    for (size_t i : all)
      if (pred(objs[i])) v.push_back(i);
    return v;
  };
  std::smatch m;
  const double pos = size * 0.08;
  if (text == "the object with the most corners")
    return best(
        all, [&](size_t i) { return objs[i].corners; }, 1, false);
  if (text == "the object with the fewest corners")
    return best(
        all, [&](size_t i) { return -objs[i].corners; }, 1, false);
  if (text == "the largest object")
    return best(
        all, [&](size_t i) { return objs[i].area; }, 1.4, true);
  if (text == "the smallest object")
    return best(
        all, [&](size_t i) { return 1 / objs[i].area; }, 1.4, true);
  if (std::regex_match(text, m, std::regex("the largest object that is not (\\w+)"))) {
    const std::string c = m[1];
    return best(
        where([&](const Obj& o) { return o.colour != c; }), [&](size_t i) { return objs[i].area; }, 1.4, true);
  }
  if (std::regex_match(text, m, std::regex("the (\\w+) object with the most corners"))) {
    const std::string c = m[1];
    return best(
        where([&](const Obj& o) { return o.colour == c; }), [&](size_t i) { return objs[i].corners; }, 1, false);
  }
  if (std::regex_match(text, m, std::regex("the only (\\w+) object"))) {
    const std::string a = m[1];
    return where([&](const Obj& o) { return o.colour == a || o.pattern == a; });
  }
  if (std::regex_match(text, m, std::regex("the only (\\w+)"))) {
    const std::string s = m[1];
    return where([&](const Obj& o) { return o.shape == s; });
  }
  if (text == "the leftmost object")
    return best(
        all, [&](size_t i) { return -objs[i].cx; }, pos, false);
  if (text == "the rightmost object")
    return best(
        all, [&](size_t i) { return objs[i].cx; }, pos, false);
  if (text == "the topmost object")
    return best(
        all, [&](size_t i) { return -objs[i].cy; }, pos, false);
  if (text == "the bottommost object")
    return best(
        all, [&](size_t i) { return objs[i].cy; }, pos, false);
  if (text == "the object nearest the centre of the image")
    return best(
        all, [&](size_t i) { return -std::hypot(objs[i].cx - size / 2.0, objs[i].cy - size / 2.0); }, pos, false);
  ADD_FAILURE() << "unknown instruction: " << text;
  return {};
}

}  // namespace

TEST(SynthRows, GroundingInstructionsPickExactlyTheTarget) {
  SynthConfig cfg = small_config();
  cfg.base_per_category = 10;  // 80 rows: every kind of instruction several times
  const SynthWorld w = make_synth_world(cfg);
  std::map<std::string, int> rules;
  const std::set<std::string> held_out = {"nearest_centre"};
  for (SynthSplit split : kSplits) {
    for (int64_t i = 0; i < synth_split_rows(w, cfg, split); ++i) {
      const SynthRow row = make_synth_row(w, cfg, Task::ground, split, i);
      SCOPED_TRACE(row.instruction);
      ++rules[row.rule];
      // The base model's rows never ask a held-out kind; the few-shot and novel eval rows only those.
      EXPECT_EQ(held_out.count(row.rule) == 1, split != SynthSplit::base_train) << synth_split_name(split);
      const std::vector<size_t> picked = interpret(row.instruction, row.scene, w, cfg.image_size);
      ASSERT_EQ(picked.size(), 1u);
      EXPECT_EQ(static_cast<int>(picked[0]), row.target);
      EXPECT_EQ(row.scene.objects[static_cast<size_t>(row.target)].category, row.category);
      EXPECT_GE(row.scene.objects.size(), 3u);
      // The instruction never names the target's category.
      EXPECT_EQ(row.instruction.find(w.categories[static_cast<size_t>(row.category)].name), std::string::npos);
    }
  }
  EXPECT_EQ(rules.size(), 11u) << "every kind of instruction occurs";
  for (const auto& [rule, n] : rules) EXPECT_GE(n, 3) << rule;

  // A base-category eval asks what the base model was taught: the base kinds only.
  cfg.eval_base = true;
  const SynthWorld wb = make_synth_world(cfg);
  for (int64_t i = 0; i < synth_split_rows(wb, cfg, SynthSplit::eval); ++i) {
    const SynthRow row = make_synth_row(wb, cfg, Task::ground, SynthSplit::eval, i);
    EXPECT_EQ(held_out.count(row.rule), 0u) << row.instruction;
    const std::vector<size_t> picked = interpret(row.instruction, row.scene, wb, cfg.image_size);
    ASSERT_EQ(picked.size(), 1u) << row.instruction;
    EXPECT_EQ(static_cast<int>(picked[0]), row.target);
  }
}
