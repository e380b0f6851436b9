// src/data/synth_tasks.cpp: the rows of the synthetic world's three tasks (classification,
// detection, reasoning grounding) and the files `visual-rft data synth` writes (see
// data/synth.h; scenes are drawn in synth.cpp).
#include <algorithm>
#include <atomic>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <opencv2/imgcodecs.hpp>
#include <optional>
#include <thread>
#include <tuple>

#include "synth_internal.h"
#include "visual_rft/core/error.h"
#include "visual_rft/core/fs.h"
#include "visual_rft/data/fewshot.h"  // box_to_unit1000
#include "visual_rft/data/synth.h"

namespace vrft {

using namespace synth;

namespace {

namespace fs = std::filesystem;

// The dense rows' stream key, beside the tasks' (Task + 1 = 1..3).

// The category a row is about: base_train and fewshot_train run through their categories
// in blocks of base_per_category / shots rows; eval cycles over the novel ones (the base ones
// with eval_base).
int row_category(const SynthWorld& w, const SynthConfig& cfg, SynthSplit split, int64_t i) {
  switch (split) {
    case SynthSplit::base_train: return w.base[static_cast<size_t>(i / cfg.base_per_category)];
    case SynthSplit::fewshot_train: return w.novel[static_cast<size_t>(i / cfg.shots)];
    case SynthSplit::eval: {
      const std::vector<int>& cats = cfg.eval_base ? w.base : w.novel;
      return cats[static_cast<size_t>(i) % cats.size()];
    }
  }
  return -1;
}

// Objects of other categories may be drawn from this pool: base_train shows base categories
// only (novel ones stay unseen, as in open-vocabulary training), and so does a base-category
// eval (it checks the base model on the world it knows); the other splits show all.
std::vector<int> distractor_pool(const SynthWorld& w, const SynthConfig& cfg, SynthSplit split) {
  if (split == SynthSplit::base_train || (split == SynthSplit::eval && cfg.eval_base)) return w.base;
  std::vector<int> all(w.categories.size());
  for (size_t i = 0; i < all.size(); ++i) all[i] = static_cast<int>(i);
  return all;
}

int shared_attributes(const SynthCategory& a, const SynthCategory& b) {
  return (a.shape == b.shape) + (a.colour == b.colour) + (a.pattern == b.pattern);
}

std::array<int64_t, 4> box1000(const SynthObject& o, int64_t size) {
  return box_to_unit1000(o.box[0], o.box[1], o.box[2] - o.box[0], o.box[3] - o.box[1], size, size);
}

// Below 56 px the smallest objects (5 px radius) lose their patterns.
void check_image_size(const SynthConfig& cfg) {
  if (cfg.image_size < 56 || cfg.image_size > 4096) {
    throw Error("synth: --image-size " + std::to_string(cfg.image_size) + " must be in 56..4096");
  }
}

// Radii in subpixels: one large object for classification, several smaller ones otherwise.
SceneSpec single_spec(int64_t size) { return {{}, size * kSub * 22 / 100, size * kSub * 34 / 100, 0.3, 60}; }
SceneSpec multi_spec(int64_t size) { return {{}, size * kSub * 9 / 100, size * kSub * 16 / 100, 0.15, 65}; }

// ---- grounding instructions ---------------------------------------------------------------------

// What an instruction may refer to, per object.
struct Fact {
  int shape, colour, pattern, corners;
  int64_t area, cx2, cy2;  // visible pixels; twice the box centre
};

std::vector<Fact> facts_of(const SynthScene& sc, const SynthWorld& w) {
  std::vector<Fact> f;
  for (const auto& o : sc.objects) {
    const SynthCategory& c = w.categories[static_cast<size_t>(o.category)];
    f.push_back({c.shape, c.colour, c.pattern, synth_shape_corners(c.shape), o.area, int64_t{o.box[0]} + o.box[2],
                 int64_t{o.box[1]} + o.box[3]});
  }
  return f;
}

// The kinds of instruction, in the order rows take them. Those before kFirstHeldOut are the
// kinds of base_train and of a base-category eval, tried in turn row by row so that each is
// about as frequent; the rest are held out of them, the kinds of instruction a base model has
// never been taught: the few-shot and novel-category eval rows ask only those, so that few-shot
// grounding has something new to learn, as the paper's reasoning-grounding instructions were
// new to its base model.
enum class Rule : int {
  most_corners,
  fewest_corners,
  largest,
  smallest,
  largest_not_colour,
  only_pattern,
  only_colour,
  only_shape,
  position,
  colour_most_corners,
  nearest_centre,  // held out; the last kind: kNumRules counts from it
};
constexpr int kNumRules = static_cast<int>(Rule::nearest_centre) + 1;
constexpr int kFirstHeldOut = static_cast<int>(Rule::nearest_centre);
// The names the rows record (SynthRow::rule), by Rule.
const char* const kRuleNames[] = {"most_corners",       "fewest_corners",      "largest",       "smallest",
                                  "largest_not_colour", "only_pattern",        "only_colour",   "only_shape",
                                  "position",           "colour_most_corners", "nearest_centre"};
static_assert(sizeof(kRuleNames) / sizeof(kRuleNames[0]) == kNumRules, "a name for every Rule");

// Sizes must differ by 40% and positions by 8% of the image to count as "largest" or
// "leftmost": a reader of the image should see it at a glance.
bool clearly_larger(int64_t a, int64_t b) { return a * 10 >= b * 14; }
// 8% of an image of `size` pixels in doubled coordinates (Fact::cx2, cy2), rounded up.
int64_t position_margin(int64_t size) { return (2 * size * 8 + 99) / 100; }

// The instruction of `rule` when it picks object t and no other in this scene, else "".
std::string try_rule(Rule rule, const std::vector<Fact>& f, size_t t, int64_t size, Rng& rng) {
  auto all_others = [&](auto pred) {
    for (size_t i = 0; i < f.size(); ++i) {
      if (i != t && !pred(f[i])) return false;
    }
    return true;
  };
  auto count = [&](auto pred) { return std::count_if(f.begin(), f.end(), pred); };
  const Fact& me = f[t];
  switch (rule) {
    case Rule::most_corners:
      return all_others([&](const Fact& o) { return o.corners < me.corners; }) ? "the object with the most corners"
                                                                               : "";
    case Rule::fewest_corners:
      return all_others([&](const Fact& o) { return o.corners > me.corners; }) ? "the object with the fewest corners"
                                                                               : "";
    case Rule::largest:
      return all_others([&](const Fact& o) { return clearly_larger(me.area, o.area); }) ? "the largest object" : "";
    case Rule::smallest:
      return all_others([&](const Fact& o) { return clearly_larger(o.area, me.area); }) ? "the smallest object" : "";
    case Rule::largest_not_colour: {  // "the largest object that is not red": red is a colour some other object has
      std::vector<int> colours;
      for (const Fact& o : f) {
        if (o.colour != me.colour && std::find(colours.begin(), colours.end(), o.colour) == colours.end()) {
          colours.push_back(o.colour);
        }
      }
      rng.shuffle(colours);
      for (int c : colours) {
        const bool rivals = count([&](const Fact& o) { return o.colour != c; }) >= 2;
        if (rivals && all_others([&](const Fact& o) { return o.colour == c || clearly_larger(me.area, o.area); })) {
          return std::string("the largest object that is not ") + synth_colour_name(c);
        }
      }
      return "";
    }
    case Rule::only_pattern:
      return count([&](const Fact& o) { return o.pattern == me.pattern; }) == 1
                 ? std::string("the only ") + synth_pattern_name(me.pattern) + " object"
                 : "";
    case Rule::only_colour:
      return count([&](const Fact& o) { return o.colour == me.colour; }) == 1
                 ? std::string("the only ") + synth_colour_name(me.colour) + " object"
                 : "";
    case Rule::only_shape:
      return count([&](const Fact& o) { return o.shape == me.shape; }) == 1
                 ? std::string("the only ") + synth_shape_name(me.shape)
                 : "";
    case Rule::position: {
      const int64_t m = position_margin(size);
      std::vector<int> dirs = {0, 1, 2, 3};
      rng.shuffle(dirs);
      for (int d : dirs) {
        const bool ok = all_others([&](const Fact& o) {
          return d == 0   ? me.cx2 + m <= o.cx2
                 : d == 1 ? me.cx2 >= o.cx2 + m
                 : d == 2 ? me.cy2 + m <= o.cy2
                          : me.cy2 >= o.cy2 + m;
        });
        if (ok)
          return d == 0   ? "the leftmost object"
                 : d == 1 ? "the rightmost object"
                 : d == 2 ? "the topmost object"
                          : "the bottommost object";
      }
      return "";
    }
    case Rule::colour_most_corners: {
      const bool peers = count([&](const Fact& o) { return o.colour == me.colour; }) >= 2;
      return peers && all_others([&](const Fact& o) { return o.colour != me.colour || o.corners < me.corners; })
                 ? std::string("the ") + synth_colour_name(me.colour) + " object with the most corners"
                 : "";
    }
    case Rule::nearest_centre: {  // nearer the image's centre than every other object by 8% of the image
      const int64_t m = position_margin(size);
      // Squared distances to the centre (doubled coordinates). sqrt(a) + m <= sqrt(b) in
      // integers: b - a - m^2 >= 2 m sqrt(a), both sides squared once the left is >= 0.
      auto dist2 = [&](const Fact& o) { return (o.cx2 - size) * (o.cx2 - size) + (o.cy2 - size) * (o.cy2 - size); };
      const int64_t a = dist2(me);
      return all_others([&](const Fact& o) {
        const int64_t lhs = dist2(o) - a - m * m;
        return lhs >= 0 && lhs * lhs >= 4 * m * m * a;
      })
                 ? "the object nearest the centre of the image"
                 : "";
    }
  }
  return "";
}

void fill_grounding(SynthRow& row, const SynthWorld& w, const SynthConfig& cfg, SynthSplit split, int64_t index,
                    Rng& rng) {
  const std::vector<int> pool = distractor_pool(w, cfg, split);
  // The few-shot rows and a novel-category eval ask the held-out kinds (Rule above).
  const bool held_out = split == SynthSplit::fewshot_train || (split == SynthSplit::eval && !cfg.eval_base);
  const int first = held_out ? kFirstHeldOut : 0, kinds = held_out ? kNumRules - kFirstHeldOut : kFirstHeldOut;
  const int preferred = first + static_cast<int>(index % kinds);
  for (int attempt = 0; attempt < 1000; ++attempt) {
    // (category, is the target), shuffled so the target's drawing order varies.
    std::vector<std::pair<int, bool>> objs{{row.category, true}};
    for (int64_t k = rng.range(2, 4); k > 0; --k) objs.push_back({rng.pick(pool), false});
    rng.shuffle(objs);
    SceneSpec spec = multi_spec(cfg.image_size);
    size_t target = 0;
    for (size_t i = 0; i < objs.size(); ++i) {
      spec.categories.push_back(objs[i].first);
      if (objs[i].second) target = i;
    }
    // Placed only: the pixels are painted once an instruction fits.
    Layout lay = place_scene(w, spec, static_cast<int>(cfg.image_size), rng);
    const std::vector<Fact> f = facts_of(lay.scene, w);
    // The first 40 placements try only this row's preferred kind of instruction (placing is
    // cheap; the pixels come later), then any kind.
    std::vector<int> rules{preferred};
    if (attempt >= 40) {
      rules.clear();
      for (int r = first; r < first + kinds; ++r) rules.push_back(r);
      rng.shuffle(rules);
    }
    for (int r : rules) {
      std::string text = try_rule(static_cast<Rule>(r), f, target, cfg.image_size, rng);
      if (text.empty()) continue;
      paint_scene(lay, w, rng);
      row.scene = std::move(lay.scene);
      row.target = static_cast<int>(target);
      row.rule = kRuleNames[r];
      row.instruction = std::move(text);
      row.sample.problem = grounding_prompt(row.instruction, cfg.prompt_style);
      row.sample.solution = grounding_solution(box1000(row.scene.objects[target], cfg.image_size));
      return;
    }
  }
  throw Error("synth: no instruction picks one object for grounding row " + std::to_string(index));
}

void fill_detection(SynthRow& row, const SynthWorld& w, const SynthConfig& cfg, SynthSplit split, Rng& rng) {
  const SynthCategory& named = w.categories[static_cast<size_t>(row.category)];
  // The paper's few-shot sets hold positives only; the other splits also ask for categories
  // that are absent, the prompt's 'No Objects' case.
  // Distractors: half of them near misses, one word away from the named category, which is
  // what makes the categories fine-grained.
  std::vector<int> others, near;
  for (int c : distractor_pool(w, cfg, split)) {
    if (c == row.category) continue;
    others.push_back(c);
    if (shared_attributes(named, w.categories[static_cast<size_t>(c)]) == 2) near.push_back(c);
  }
  // (A world with a single base category has no distractor for base_train: positives only.)
  const bool positive = split == SynthSplit::fewshot_train || !rng.chance(cfg.negative_rate) || others.empty();
  const int64_t roll = rng.range(0, 9);
  const int64_t k = positive ? (roll < 6 ? 1 : roll < 9 ? 2 : 3) : 0;
  int64_t d = positive ? rng.range(1, std::max<int64_t>(1, 5 - k)) : rng.range(2, 4);
  if (others.empty()) d = 0;
  SceneSpec spec = multi_spec(cfg.image_size);
  for (int64_t i = 0; i < k; ++i) spec.categories.push_back(row.category);
  for (int64_t i = 0; i < d; ++i)
    spec.categories.push_back(!near.empty() && rng.chance(0.5) ? rng.pick(near) : rng.pick(others));
  rng.shuffle(spec.categories);
  row.scene = draw_scene(w, spec, static_cast<int>(cfg.image_size), rng);
  std::vector<std::array<int64_t, 4>> boxes;
  for (size_t i = 0; i < row.scene.objects.size(); ++i) {
    if (row.scene.objects[i].category != row.category) continue;
    row.matches.push_back(static_cast<int>(i));
    boxes.push_back(box1000(row.scene.objects[i], cfg.image_size));
  }
  // Reading order (top to bottom, then left to right): one fixed order is easier to learn.
  std::sort(boxes.begin(), boxes.end(),
            [](const auto& a, const auto& b) { return std::tie(a[1], a[0]) < std::tie(b[1], b[0]); });
  row.sample.problem = detection_prompt(named.name, cfg.prompt_style);
  row.sample.solution = boxes.empty() ? "<answer>No Objects</answer>" : detection_solution(boxes);
}

}  // namespace

std::string synth_classification_prompt() {
  // The reference's classification text (task_prompts.cpp) with the subject of this world.
  return "This is an image containing an object. Please identify the category of the object based on the image.\n"
         "Output the thinking process in <think> </think> and final answer in <answer> </answer> tags."
         "The output answer format should be as follows:\n<think> ... </think> <answer>category name</answer>\n"
         "Please strictly follow the format.";
}

int64_t synth_split_rows(const SynthWorld& w, const SynthConfig& cfg, SynthSplit split) {
  switch (split) {
    case SynthSplit::base_train: return cfg.base_per_category * static_cast<int64_t>(w.base.size());
    case SynthSplit::fewshot_train: return cfg.shots * static_cast<int64_t>(w.novel.size());
    case SynthSplit::eval: return cfg.eval_rows;
  }
  return 0;
}

uint64_t synth_image_seed(const SynthConfig& cfg) {
  return cfg.image_seed < 0 ? cfg.seed : static_cast<uint64_t>(cfg.image_seed);
}

namespace {

// What every row starts with: its index checked against the split, its category and image
// name, and its own random stream keyed by (image seed, stream, split, index).
SynthRow begin_row(const SynthWorld& w, const SynthConfig& cfg, SynthSplit split, int64_t index, uint64_t stream,
                   std::optional<Rng>& rng) {
  if (index < 0 || index >= synth_split_rows(w, cfg, split)) {
    throw Error("synth: row " + std::to_string(index) + " is outside " + synth_split_name(split));
  }
  check_image_size(cfg);
  rng.emplace(
      stream_key(synth_image_seed(cfg), stream, static_cast<uint64_t>(split) + 1, static_cast<uint64_t>(index)));
  SynthRow row;
  row.category = row_category(w, cfg, split, index);
  char name[64];
  std::snprintf(name, sizeof name, "images/%s_%05lld.png", synth_split_name(split), static_cast<long long>(index));
  row.sample.index = index;
  row.sample.image = name;
  return row;
}

}  // namespace

SynthRow make_synth_row(const SynthWorld& w, const SynthConfig& cfg, Task task, SynthSplit split, int64_t index) {
  std::optional<Rng> stream;
  SynthRow row = begin_row(w, cfg, split, index, static_cast<uint64_t>(task) + 1, stream);
  Rng& rng = *stream;
  if (task == Task::cls) {
    SceneSpec spec = single_spec(cfg.image_size);
    spec.categories = {row.category};
    row.scene = draw_scene(w, spec, static_cast<int>(cfg.image_size), rng);
    row.sample.problem = synth_classification_prompt();
    row.sample.solution = classification_solution(w.categories[static_cast<size_t>(row.category)].name);
  } else if (task == Task::det) {
    fill_detection(row, w, cfg, split, rng);
  } else {
    fill_grounding(row, w, cfg, split, index, rng);
  }
  if (cfg.think_base && split == SynthSplit::base_train) {
    row.sample.solution = "<think>" + synth_reasoning(w, task, row) + "</think> " + row.sample.solution;
  }
  return row;
}

std::string synth_dense_prompt() {
  // In the words of the detection prompt (task_prompts.cpp), for every object with its name.
  return "Locate every object in the image and name its category. Output the thinking process in <think> </think> "
         "and final answer in <answer> </answer> tags.The output answer format should be as follows: <think> ... "
         "</think> <answer>[{'Position': [x1, y1, x2, y2], 'Category': 'category name'}, ...]</answer> Please strictly "
         "follow the format.";
}

SynthRow make_synth_dense_row(const SynthWorld& w, const SynthConfig& cfg, int64_t index) {
  std::optional<Rng> stream;  // the dense rows' own stream, beside the three tasks'
  SynthRow row = begin_row(w, cfg, SynthSplit::base_train, index, salt::synth_dense, stream);
  Rng& rng = *stream;
  SceneSpec spec = multi_spec(cfg.image_size);
  spec.categories = {row.category};
  // 1 to dense_max_objects objects: scenes of one object teach where a thing is without
  // having to pick it out.
  for (int64_t k = rng.range(0, cfg.dense_max_objects - 1); k > 0; --k) spec.categories.push_back(rng.pick(w.base));
  rng.shuffle(spec.categories);
  row.scene = draw_scene(w, spec, static_cast<int>(cfg.image_size), rng);
  // Reading order, as detection answers are written.
  std::vector<std::pair<std::array<int64_t, 4>, int>> objs;
  for (size_t i = 0; i < row.scene.objects.size(); ++i) {
    objs.push_back({box1000(row.scene.objects[i], cfg.image_size), row.scene.objects[i].category});
    row.matches.push_back(static_cast<int>(i));
  }
  std::sort(objs.begin(), objs.end(), [](const auto& a, const auto& b) {
    return std::tie(a.first[1], a.first[0]) < std::tie(b.first[1], b.first[0]);
  });
  std::string answer;
  for (const auto& [b, c] : objs) {
    answer += answer.empty() ? "[" : ", ";
    answer += "{'Position': [" + std::to_string(b[0]) + ", " + std::to_string(b[1]) + ", " + std::to_string(b[2]) +
              ", " + std::to_string(b[3]) + "], 'Category': '" + w.categories[static_cast<size_t>(c)].name + "'}";
  }
  row.sample.problem = synth_dense_prompt();
  row.sample.solution =
      "<think>I see " + std::to_string(objs.size()) + " objects.</think> <answer>" + answer + "]</answer>";
  return row;
}

std::string synth_reasoning(const SynthWorld& w, Task task, const SynthRow& row) {
  const SynthCategory& c = w.categories.at(static_cast<size_t>(
      task == Task::ground ? row.scene.objects.at(static_cast<size_t>(row.target)).category : row.category));
  switch (task) {
    case Task::cls:
      return std::string("colour ") + synth_colour_name(c.colour) + ", pattern " + synth_pattern_name(c.pattern) +
             ", " + std::to_string(synth_shape_corners(c.shape)) + " corners: a " + c.name + ".";
    case Task::det:
      if (row.matches.empty()) return "I see no " + c.name + ".";
      if (row.matches.size() == 1) return "I count 1 " + c.name + ".";
      return "I count " + std::to_string(row.matches.size()) + " " + c.name + "s.";
    case Task::ground: return "The instruction points to the " + c.name + ".";
  }
  return "";
}

// ---- files -------------------------------------------------------------------------------------

namespace {

nlohmann::ordered_json categories_json(const SynthWorld& w) {
  nlohmann::ordered_json j;
  auto names = [](const char* (*f)(int), int n) {
    std::vector<std::string> v;
    for (int i = 0; i < n; ++i) v.push_back(f(i));
    return v;
  };
  j["shapes"] = names(synth_shape_name, kSynthShapes);
  j["colours"] = names(synth_colour_name, kSynthColours);
  j["patterns"] = names(synth_pattern_name, kSynthPatterns);
  nlohmann::ordered_json corners;
  for (int s = 0; s < kSynthShapes; ++s) corners[synth_shape_name(s)] = synth_shape_corners(s);
  j["corners"] = corners;
  nlohmann::ordered_json cats = nlohmann::ordered_json::array();
  for (const auto& c : w.categories) {
    cats.push_back({{"id", c.id},
                    {"name", c.name},
                    {"colour", synth_colour_name(c.colour)},
                    {"pattern", synth_pattern_name(c.pattern)},
                    {"shape", synth_shape_name(c.shape)},
                    {"split", c.novel ? "novel" : "base"}});
  }
  j["categories"] = cats;
  for (const char* split : {"base", "novel"}) {
    std::vector<std::string> v;
    for (int id : split[0] == 'b' ? w.base : w.novel) v.push_back(w.categories[static_cast<size_t>(id)].name);
    j[split] = v;
  }
  return j;
}

// What the summary needs of a row once its image is written.
struct RowRecord {
  Sample sample;
  int category = -1;
  int64_t boxes = 0;
  std::string rule;
};

// One split of one task: images, then the JSONL; returns its summary. Rows are independent
// (each has its own random stream), so `threads` workers take them in any order and the
// files are the same for every thread count.
nlohmann::ordered_json write_split(const SynthWorld& w, const SynthConfig& cfg, Task task, SynthSplit split,
                                   const std::string& dir, int threads, std::vector<Sample>* rows_out,
                                   const std::function<SynthRow(int64_t)>& make_row) {
  const int64_t n = synth_split_rows(w, cfg, split);
  std::vector<RowRecord> records(static_cast<size_t>(n));
  // PNG, lossless, so that colours and boxes stay exact; run-length coding is faster than
  // the default and, on these flat objects and noise, a little smaller.
  const std::vector<int> png{cv::IMWRITE_PNG_COMPRESSION, 1, cv::IMWRITE_PNG_STRATEGY, cv::IMWRITE_PNG_STRATEGY_RLE};
  std::atomic<int64_t> next{0};
  std::atomic<bool> failed{false};
  std::exception_ptr error;
  std::mutex error_mutex;
  auto work = [&] {
    while (!failed) {
      const int64_t i = next++;
      if (i >= n) break;
      try {
        SynthRow row = make_row(i);
        const std::string path = dir + "/" + row.sample.image;
        if (!cv::imwrite(path, row.scene.image, png)) throw FileError("synth: cannot write image '" + path + "'");
        records[static_cast<size_t>(i)] = {std::move(row.sample), row.category,
                                           static_cast<int64_t>(row.matches.size()), row.rule};
      } catch (...) {
        std::lock_guard<std::mutex> lock(error_mutex);
        if (!error) error = std::current_exception();
        failed = true;
      }
    }
  };
  std::vector<std::thread> pool;
  for (int t = 1; t < threads; ++t) pool.emplace_back(work);
  work();
  for (auto& t : pool) t.join();
  if (error) std::rethrow_exception(error);

  std::vector<Sample> rows;
  std::map<int, int64_t> per_category;
  std::map<std::string, int64_t> rules;
  int64_t negatives = 0, boxes = 0;
  for (RowRecord& r : records) {
    ++per_category[r.category];
    negatives += r.boxes == 0;
    boxes += r.boxes;
    ++rules[r.rule];
    rows.push_back(std::move(r.sample));
  }
  write_visual_rft_jsonl(dir + "/" + synth_split_name(split) + ".jsonl", rows);
  if (rows_out) *rows_out = rows;
  nlohmann::ordered_json s = {{"rows", n}};
  if (task == Task::det) {
    s["no_objects"] = negatives;
    s["boxes"] = boxes;
  }
  if (task == Task::ground) {
    nlohmann::ordered_json r;
    for (const char* name : kRuleNames) r[name] = rules.count(name) ? rules[name] : 0;
    s["instructions"] = r;
  }
  nlohmann::ordered_json cats;
  for (const auto& [id, count] : per_category) cats[w.categories[static_cast<size_t>(id)].name] = count;
  s["per_category"] = cats;
  return s;
}

}  // namespace

nlohmann::ordered_json write_synth_dataset(const SynthConfig& cfg, const std::string& out_dir, int threads) {
  const SynthWorld w = make_synth_world(cfg);
  if (threads <= 0) threads = static_cast<int>(std::max(1u, std::min(8u, std::thread::hardware_concurrency())));
  if (cfg.base_per_category < 0 || cfg.shots < 0 || cfg.eval_rows < 0) {
    throw Error("synth: row counts must not be negative (--base-per-category, --train-per-category, --eval)");
  }
  if (cfg.tasks.empty()) throw Error("synth: no task to write (--tasks cls,det,ground)");
  check_image_size(cfg);  // before any folder is removed
  std::error_code ec;
  fs::create_directories(out_dir, ec);
  if (ec) throw FileError("synth: cannot create '" + out_dir + "': " + ec.message());

  nlohmann::ordered_json summary = {{"generator", "visual-rft data synth"},
                                    {"seed", cfg.seed},
                                    {"image_seed", synth_image_seed(cfg)},
                                    {"image_size", cfg.image_size},
                                    {"categories", cfg.num_categories},
                                    {"base_categories", w.base.size()},
                                    {"novel_categories", w.novel.size()},
                                    {"base_per_category", cfg.base_per_category},
                                    {"shots", cfg.shots},
                                    {"eval_rows", cfg.eval_rows},
                                    {"eval_categories", cfg.eval_base ? "base" : "novel"},
                                    {"negative_rate", cfg.negative_rate},
                                    {"prompt_style", cfg.prompt_style == PromptStyle::train ? "train" : "eval"},
                                    {"think_base", cfg.think_base},
                                    {"dense_base", cfg.dense_base},
                                    {"dense_all_combinations", cfg.dense_all_combinations},
                                    {"base_all_combinations", cfg.base_all_combinations},
                                    {"position_cue", cfg.position_cue}};
  nlohmann::ordered_json tasks;
  std::vector<std::vector<Sample>> base_rows;  // per task, for the mixed base_train.jsonl
  const SynthWorld every = synth_every_combination(w);
  const SynthWorld& base_world = cfg.base_all_combinations ? every : w;
  for (Task task : cfg.tasks) {
    const std::string dir = out_dir + "/" + task_name(task);
    remove_tree(dir);  // not std::filesystem::remove_all: see core/fs.h
    fs::create_directories(dir + "/images", ec);
    if (ec) throw FileError("synth: cannot create '" + dir + "/images': " + ec.message());
    nlohmann::ordered_json t;
    for (SynthSplit split : {SynthSplit::base_train, SynthSplit::fewshot_train, SynthSplit::eval}) {
      std::vector<Sample>* keep = split == SynthSplit::base_train ? &base_rows.emplace_back() : nullptr;
      const SynthWorld& sw = split == SynthSplit::base_train ? base_world : w;
      t[synth_split_name(split)] = write_split(sw, cfg, task, split, dir, threads, keep,
                                               [&](int64_t i) { return make_synth_row(sw, cfg, task, split, i); });
      if (keep) {
        for (Sample& r : *keep) r.image = std::string(task_name(task)) + "/" + r.image;
      }
    }
    tasks[task_name(task)] = t;
  }
  // Dense grounding rows: pre-training data only, in base_train.jsonl beside the tasks' rows.
  remove_tree(out_dir + "/dense");
  if (cfg.dense_base) {
    const std::string dir = out_dir + "/dense";
    fs::create_directories(dir + "/images", ec);
    if (ec) throw FileError("synth: cannot create '" + dir + "/images': " + ec.message());
    std::vector<Sample>& keep = base_rows.emplace_back();
    const SynthWorld& dense_world = cfg.dense_all_combinations || cfg.base_all_combinations ? every : w;
    // Summarised as detection rows are: rows, boxes, per category.
    summary["dense"] = {
        {"base_train", write_split(dense_world, cfg, Task::det, SynthSplit::base_train, dir, threads, &keep,
                                   [&](int64_t i) { return make_synth_dense_row(dense_world, cfg, i); })}};
    for (Sample& r : keep) r.image = "dense/" + r.image;
  }
  // OUT/base_train.jsonl: the base rows of every task interleaved (row i of each task in
  // turn), image paths relative to OUT: one file to pre-train a model on all tasks at once.
  std::vector<Sample> mixed;
  for (size_t i = 0;; ++i) {
    bool any = false;
    for (auto& rows : base_rows) {
      if (i < rows.size()) mixed.push_back(rows[i]), any = true;
    }
    if (!any) break;
  }
  write_visual_rft_jsonl(out_dir + "/base_train.jsonl", mixed);
  summary["base_train_mixed"] = mixed.size();
  summary["tasks"] = tasks;
  write_file_atomic(out_dir + "/categories.json", categories_json(w).dump(2) + "\n");
  write_file_atomic(out_dir + "/summary.json", summary.dump(2) + "\n");
  return summary;
}

}  // namespace vrft
