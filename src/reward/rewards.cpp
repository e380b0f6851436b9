// src/reward/rewards.cpp: the reward functions in both modes, the registry and RewardSet.
//
// The visual_rft branches follow the reference scripts line by line (grpo.py,
// grpo_classification.py, grpo_lisa.py; Visual-RFT's grpo_*.py reward functions), including where they
// raise: every Python exception inside the reference's try-block means reward 0, written
// here as `return std::nullopt` from the matching helpers. Departures, all listed in the
// README: no math_verify short-circuit; a non-finite confidence is taken as 0 (the reference
// returns NaN); a Position that is not 4 numbers scores 0.
#include "visual_rft/reward/rewards.h"

#include <filesystem>

#include <utf8proc.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <sstream>

#include "visual_rft/core/config.h"
#include "visual_rft/core/error.h"
#include "visual_rft/core/fs.h"

namespace vrft {

Compat parse_compat(const std::string& name) {
  if (auto c = parse_choice<Compat>(name)) return *c;
  throw Error("unknown rewards mode '" + name + "' (" + choice_list<Compat>() + ")");
}

// ---- geometry ------------------------------------------------------------------------------------

double box_iou(const Box& a, const Box& b) {
  double w = std::min(a.x2, b.x2) - std::max(a.x1, b.x1);
  double h = std::min(a.y2, b.y2) - std::max(a.y1, b.y1);
  if (w <= 0 || h <= 0) return 0;
  double inter = w * h;
  double uni = (a.x2 - a.x1) * (a.y2 - a.y1) + (b.x2 - b.x1) * (b.y2 - b.y1) - inter;
  return uni > 0 ? inter / uni : 0;
}

double box_giou(const Box& a, const Box& b) {
  // compute_giou of grpo_lisa.py, without the + 1.
  double inter = std::max(0.0, std::min(a.x2, b.x2) - std::max(a.x1, b.x1)) *
                 std::max(0.0, std::min(a.y2, b.y2) - std::max(a.y1, b.y1));
  double uni = (a.x2 - a.x1) * (a.y2 - a.y1) + (b.x2 - b.x1) * (b.y2 - b.y1) - inter;
  double iou = uni > 0 ? inter / uni : 0;
  double c = (std::max(a.x2, b.x2) - std::min(a.x1, b.x1)) * (std::max(a.y2, b.y2) - std::min(a.y1, b.y1));
  return c > 0 ? iou - (c - uni) / c : iou;
}

// ---- format ------------------------------------------------------------------------------------------

double format_reward(std::string_view completion, const Solution&, const RewardContext&) {
  return py_format_match(completion) ? 1.0 : 0.0;  // the same rule in both modes
}

// ---- classification ------------------------------------------------------------------------------

namespace {

// Python's str.lower() on UTF-8 (simple case mapping through utf8proc; ASCII for bad bytes).
std::string py_lower(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    utf8proc_int32_t cp;
    utf8proc_ssize_t n = utf8proc_iterate(reinterpret_cast<const utf8proc_uint8_t*>(s.data() + i),
                                          static_cast<utf8proc_ssize_t>(s.size() - i), &cp);
    if (n <= 0) {
      out += static_cast<char>(std::tolower(static_cast<unsigned char>(s[i++])));
      continue;
    }
    utf8proc_uint8_t buf[4];
    utf8proc_ssize_t m = utf8proc_encode_char(utf8proc_tolower(cp), buf);
    out.append(reinterpret_cast<const char*>(buf), static_cast<size_t>(m));
    i += static_cast<size_t>(n);
  }
  return out;
}

// The reference's `re.search(r'<answer>(.*?)</answer>', s)` then strip, or the whole text.
std::string reference_answer(std::string_view s, bool dotall) {
  std::optional<std::string_view> m = py_answer_group(s, dotall);
  return std::string(py_strip(m ? *m : s));
}

}  // namespace

std::string normalise_class_name(std::string_view s) {
  std::string low = py_lower(s);
  std::string out;
  bool space = false;
  for (size_t i = 0; i < low.size();) {
    size_t n = py_space_at(low, i);
    char c = low[i];
    if (n || c == '_' || c == '-') {
      space = true;
      i += n ? n : 1;
      continue;
    }
    if (space && !out.empty()) out += ' ';
    space = false;
    out += c;
    ++i;
  }
  if (!out.empty() && out.back() == '.') out.pop_back();
  return out;
}

Synonyms load_synonyms(const std::string& path) {
  Synonyms syn;
  std::istringstream in(read_file(path));
  std::string line;
  int line_no = 0, group = 0;
  while (std::getline(in, line)) {
    ++line_no;
    if (line.empty() || line[0] == '#') continue;
    std::istringstream parts(line);
    std::string name;
    int names = 0;
    while (std::getline(parts, name, '|')) {
      std::string n = normalise_class_name(name);
      if (n.empty()) continue;
      auto [it, fresh] = syn.group.emplace(n, group);
      if (!fresh && it->second != group) {
        throw FileError(path + ":" + std::to_string(line_no) + ": '" + n + "' is already in another group of synonyms");
      }
      ++names;
    }
    if (names == 0) throw FileError(path + ":" + std::to_string(line_no) + ": expected names separated by '|'");
    ++group;
  }
  return syn;
}

double accuracy_cls_reward(std::string_view completion, const Solution& sol, const RewardContext& ctx) {
  if (ctx.compat == Compat::visual_rft) {
    // Both sides: answer span (one line) or the whole text; drop ' ' and '_'; lowercase; then
    // a substring test either way round.
    auto squash = [](std::string s) {
      s = py_replace(py_replace(s, " ", ""), "_", "");
      return py_lower(s);
    };
    std::string gt = squash(reference_answer(sol.text, false));
    std::string ans = squash(reference_answer(completion, false));
    return (ans.find(gt) != std::string::npos || gt.find(ans) != std::string::npos) ? 1.0 : 0.0;
  }
  std::optional<std::string> ans = strict_answer_text(completion);
  if (!ans) return 0.0;
  std::string a = normalise_class_name(*ans), g = normalise_class_name(sol.label);
  if (a.empty()) return 0.0;
  if (a == g) return 1.0;
  if (ctx.synonyms) {
    auto ia = ctx.synonyms->group.find(a), ig = ctx.synonyms->group.find(g);
    if (ia != ctx.synonyms->group.end() && ig != ctx.synonyms->group.end() && ia->second == ig->second) return 1.0;
  }
  return 0.0;
}

// ---- detection -----------------------------------------------------------------------------------

namespace {

// What both detection rewards compute before they differ: (IoU, confidence) per prediction
// in descending confidence, and the number of true boxes.
struct Matches {
  std::vector<std::pair<double, double>> results;
  size_t n_gt = 0;
};

// sort_and_calculate_iou: predictions by descending confidence (stable), each takes the
// unmatched true box of largest IoU (strictly larger than the best so far, from 0); a match
// needs IoU > 0.5. `iou` may signal an exception (the reference's ZeroDivisionError).
template <class IouFn>
std::optional<Matches> greedy_match(const std::vector<Box>& gt, std::vector<Detection> pred, IouFn iou) {
  std::stable_sort(pred.begin(), pred.end(),
                   [](const Detection& a, const Detection& b) { return a.confidence > b.confidence; });
  Matches m;
  m.n_gt = gt.size();
  std::vector<bool> used(gt.size(), false);
  for (const Detection& p : pred) {
    double best = 0;
    size_t best_i = 0;
    bool any = false;
    for (size_t i = 0; i < gt.size(); ++i) {
      if (used[i]) continue;
      std::optional<double> v = iou(gt[i], p.box);
      if (!v) return std::nullopt;
      if (*v > best) {
        best = *v;
        best_i = i;
        any = true;
      }
    }
    if (any && best > 0.5) {
      m.results.emplace_back(best, p.confidence);
      used[best_i] = true;
    } else {
      m.results.emplace_back(0.0, p.confidence);
    }
  }
  return m;
}

// calculate_iou of grpo.py, with Python's float semantics: a zero union raises.
std::optional<double> reference_iou(const Box& a, const Box& b) {
  double xi1 = std::max(a.x1, b.x1), yi1 = std::max(a.y1, b.y1);
  double xi2 = std::min(a.x2, b.x2), yi2 = std::min(a.y2, b.y2);
  // std::max(a, b) and Python's max(a, b) both return a when the comparison is false (NaN).
  if (xi2 <= xi1 || yi2 <= yi1) return 0.0;
  double inter = (xi2 - xi1) * (yi2 - yi1);
  double uni = (a.x2 - a.x1) * (a.y2 - a.y1) + (b.x2 - b.x1) * (b.y2 - b.y1) - inter;
  if (uni == 0) return std::nullopt;  // ZeroDivisionError
  return inter / uni;
}

// A reference bbox list as boxes; nullopt where the reference would raise. Predictions must
// be a non-empty list whose first element is a dict (`type(bbox[0]) != dict` -> 0).
std::optional<std::vector<Detection>> reference_boxes(const PyValue& v, bool need_confidence) {
  if (v.kind != PyValue::Kind::list || v.items.empty()) return std::nullopt;
  std::vector<Detection> out;
  for (const PyValue& e : v.items) {
    if (e.kind != PyValue::Kind::dict) return std::nullopt;
    const PyValue* pos = e.get("Position");
    if (!pos || pos->kind != PyValue::Kind::list || pos->items.size() != 4) return std::nullopt;
    for (const PyValue& x : pos->items) {
      if (!x.is_number()) return std::nullopt;
    }
    Detection d{{pos->items[0].number, pos->items[1].number, pos->items[2].number, pos->items[3].number}, 1.0};
    if (need_confidence) {
      const PyValue* conf = e.get("Confidence");
      if (!conf || !conf->is_number()) return std::nullopt;
      d.confidence = std::isfinite(conf->number) ? conf->number : 0.0;  // the community NaN fix
    }
    out.push_back(d);
  }
  return out;
}

// The true boxes as the reference reads them: `extract_bbox(sol.strip())`, a list of dicts
// with a 4-number Position (an empty list is allowed); nullopt where it would raise.
std::optional<std::vector<Box>> reference_truth(std::string_view solution) {
  std::optional<PyValue> gt_v = reference_extract_bbox(py_strip(solution));
  if (!gt_v || gt_v->kind != PyValue::Kind::list) return std::nullopt;
  std::vector<Box> gt;
  if (!gt_v->items.empty()) {
    auto g = reference_boxes(*gt_v, false);
    if (!g) return std::nullopt;
    for (const auto& d : *g) gt.push_back(d.box);
  }
  return gt;
}

std::optional<Matches> reference_detection(std::string_view content, const Solution& sol) {
  std::string student = "<answer>" + reference_answer(content, false) + "</answer>";
  student = py_replace(py_replace(py_replace(student, "[[", "["), "]]", "]"), "\n", "");
  std::optional<PyValue> pred_v = reference_extract_bbox(student);
  if (!pred_v || !sol.reference_boxes) return std::nullopt;
  auto pred = reference_boxes(*pred_v, true);
  if (!pred) return std::nullopt;
  // remove_duplicates: the first of equal Position tuples stays.
  std::vector<Detection> unique;
  for (const Detection& d : *pred) {
    bool dup = std::any_of(unique.begin(), unique.end(), [&](const Detection& u) {
      return u.box.x1 == d.box.x1 && u.box.y1 == d.box.y1 && u.box.x2 == d.box.x2 && u.box.y2 == d.box.y2;
    });
    if (!dup) unique.push_back(d);
  }
  return greedy_match(*sol.reference_boxes, unique, reference_iou);
}

std::optional<Matches> strict_detection(std::string_view content, const Solution& sol, bool& both_empty) {
  both_empty = false;
  std::optional<DetectionAnswer> ans = parse_detection_answer(content);
  if (!ans) return std::nullopt;
  if (ans->objects.empty()) {
    both_empty = sol.boxes.empty();  // "No Objects" where there are none: right
    return std::nullopt;
  }
  return greedy_match(sol.boxes, ans->objects,
                      [](const Box& a, const Box& b) { return std::optional<double>(box_iou(a, b)); });
}

}  // namespace

DetectionScores detection_rewards(std::string_view completion, const Solution& sol, const RewardContext& ctx) {
  std::optional<Matches> m;
  if (ctx.compat == Compat::visual_rft) {
    m = reference_detection(completion, sol);
  } else {
    bool both_empty;
    m = strict_detection(completion, sol, both_empty);
    if (both_empty) return {1.0, 1.0};
  }
  if (!m || m->results.empty()) return {0.0, 0.0};
  // compute_reward_iou_v2: sum of IoUs / max(#true, #predicted), at most 1.
  double iou_sum = 0, conf_sum = 0;
  for (const auto& [iou, conf] : m->results) {
    iou_sum += iou;
    conf_sum += iou != 0 ? conf : (1 - iou) * (1 - conf);  // compute_reward_confidence
  }
  DetectionScores out;
  out.iou = std::min(1.0, iou_sum / static_cast<double>(std::max(m->n_gt, m->results.size())));
  out.confidence = std::min(1.0, std::max(0.0, conf_sum / static_cast<double>(m->results.size())));
  return out;
}

double iou_reward(std::string_view completion, const Solution& sol, const RewardContext& ctx) {
  return detection_rewards(completion, sol, ctx).iou;
}

double confidence_reward(std::string_view completion, const Solution& sol, const RewardContext& ctx) {
  return detection_rewards(completion, sol, ctx).confidence;
}

// ---- grounding -------------------------------------------------------------------------------------

namespace {

// re.findall of grpo_lisa.py's `\(\s*(\d+)\s*,\s*(\d+)\s*\)\s*,\s*\(\s*(\d+)\s*,\s*(\d+)\s*\)`,
// each number divided by 1000.
std::vector<Box> reference_lisa_matches(std::string_view s) {
  std::vector<Box> out;
  auto ws = [&](size_t& k) { k = py_skip_spaces(s, k); };
  auto num = [&](size_t& k, double& v) {
    size_t b = k;
    while (k < s.size() && s[k] >= '0' && s[k] <= '9') ++k;
    if (k == b) return false;
    v = std::strtod(std::string(s.substr(b, k - b)).c_str(), nullptr) / 1000;
    return true;
  };
  auto ch = [&](size_t& k, char c) {
    if (k < s.size() && s[k] == c) return ++k, true;
    return false;
  };
  size_t i = 0;
  while (i < s.size()) {
    size_t k = i;
    double v[4];
    bool ok = ch(k, '(') && (ws(k), num(k, v[0])) && (ws(k), ch(k, ',')) && (ws(k), num(k, v[1])) &&
              (ws(k), ch(k, ')')) && (ws(k), ch(k, ',')) && (ws(k), ch(k, '(')) && (ws(k), num(k, v[2])) &&
              (ws(k), ch(k, ',')) && (ws(k), num(k, v[3])) && (ws(k), ch(k, ')'));
    if (ok) {
      out.push_back({v[0], v[1], v[2], v[3]});
      i = k;
    } else {
      ++i;
    }
  }
  return out;
}

// The two points compute_giou reads: p[0] and p[1] of [(x1,y1) of each match] + [(x2,y2)
// of each match], so with two matches p[1] is the second box's top-left (the reference bug).
std::optional<Box> reference_lisa_box(std::string_view s) {
  std::vector<Box> m = reference_lisa_matches(s);
  if (m.empty()) return std::nullopt;  // IndexError
  if (m.size() == 1) return m[0];
  return Box{m[0].x1, m[0].y1, m[1].x1, m[1].y1};
}

enum class GroundKind { iou, giou };

double grounding(std::string_view completion, const Solution& sol, const RewardContext& ctx, GroundKind kind) {
  if (ctx.compat == Compat::visual_rft) {
    std::string gt = reference_answer(sol.text, false);
    std::string st = reference_answer(completion, true);
    double reward = 0;
    std::optional<Box> a = reference_lisa_box(st), b = reference_lisa_box(gt);
    if (a && b) reward = kind == GroundKind::giou ? box_giou(*b, *a) + 1 : box_iou(*b, *a);
    if (st == gt) reward = kind == GroundKind::giou ? 2.0 : 1.0;
    return reward;
  }
  std::optional<Box> a = parse_grounding_answer(completion);
  if (!a) return 0.0;
  return kind == GroundKind::giou ? box_giou(sol.box, *a) + 1 : box_iou(sol.box, *a);
}

}  // namespace

double iou_grounding_reward(std::string_view completion, const Solution& sol, const RewardContext& ctx) {
  return grounding(completion, sol, ctx, GroundKind::iou);
}

double giou_grounding_reward(std::string_view completion, const Solution& sol, const RewardContext& ctx) {
  return grounding(completion, sol, ctx, GroundKind::giou);
}

// ---- solutions, registry, RewardSet -------------------------------------------------------------

Solution parse_solution(Task task, const std::string& text) {
  Solution s;
  s.task = task;
  s.text = text;
  if (task == Task::cls) {
    std::optional<std::string> a = strict_answer_text(text);
    s.label = a ? *a : std::string(py_strip(text));
    if (normalise_class_name(s.label).empty())
      throw Error("solution has an empty class name: expected <answer>class name</answer>");
  } else if (task == Task::det) {
    std::optional<DetectionAnswer> d = parse_detection_solution(text);
    if (!d) {
      throw Error(
          "solution is not a detection list: expected <answer>[{'Position': [x1, y1, x2, y2], 'Confidence': 1}, "
          "...]</answer>");
    }
    for (const auto& o : d->objects) s.boxes.push_back(o.box);
    s.reference_boxes = reference_truth(text);
  } else {
    std::optional<Box> b = parse_grounding_solution(text);
    if (!b) throw Error("solution has no box: expected <answer>(x1,y1),(x2,y2)</answer>");
    s.box = *b;
  }
  return s;
}

const std::vector<RewardSpec>& reward_registry() {
  static const std::vector<RewardSpec> kRegistry = {
      {"format", format_reward, true, true, true, "<think>...</think> then <answer>...</answer> and nothing else"},
      {"accuracy_cls", accuracy_cls_reward, true, false, false, "the answer names the true class"},
      {"iou", iou_reward, false, true, false, "sum of matched IoUs / max(#true, #predicted)"},
      {"confidence", confidence_reward, false, true, false, "mean of conf (matched) or 1 - conf (unmatched)"},
      {"iou_grounding", iou_grounding_reward, false, false, true, "IoU of the answer's box with the true box"},
      {"giou_grounding", giou_grounding_reward, false, false, true, "GIoU + 1, the reference's LISA reward"},
  };
  return kRegistry;
}

const RewardSpec* find_reward(std::string_view name) {
  for (const auto& r : reward_registry()) {
    if (name == r.name) return &r;
  }
  return nullptr;
}

std::vector<std::string> default_rewards(Task task) {
  switch (task) {
    case Task::cls: return {"accuracy_cls", "format"};
    case Task::det: return {"iou", "confidence", "format"};
    case Task::ground: return {"iou_grounding", "format"};
  }
  return {};
}

RewardSet::RewardSet(Task task, const RewardsConfig& cfg) : task_(task) {
  names_ = cfg.functions.empty() ? default_rewards(task) : cfg.functions;
  std::vector<std::string> known;
  for (const auto& r : reward_registry()) known.push_back(r.name);
  // rewards.external: name=command.
  std::map<std::string, std::string> external;
  for (const std::string& e : cfg.external) {
    const size_t eq = e.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == e.size())
      throw ConfigError("rewards.external: '" + e + "': expected name=command (e.g. vqa=python3 vqa_reward.py)");
    const std::string name = e.substr(0, eq);
    if (find_reward(name) || external.count(name))
      throw ConfigError("rewards.external: the name '" + name + "' is taken (a built-in reward or another entry)");
    external[name] = e.substr(eq + 1);
  }
  std::vector<std::string> python_names;
  size_t used_external = 0;
  for (const auto& n : names_) {
    const RewardSpec* spec = find_reward(n);
    command_of_.push_back(-1);
    if (!spec && external.count(n)) {  // a command
      command_of_.back() = static_cast<int>(commands_.size());
      commands_.push_back(std::make_shared<CommandReward>(n, external[n], task_name(task), cfg.python_timeout_s));
      fns_.push_back(nullptr);
      ++used_external;
      continue;
    }
    if (!spec && !cfg.python.empty()) {  // a function of the Python file
      python_names.push_back(n);
      fns_.push_back(nullptr);
      continue;
    }
    if (!spec) {
      std::string near = nearest(n, known);
      throw ConfigError(
          "rewards.functions: unknown reward '" + n + "'" + (near.empty() ? "" : " (did you mean '" + near + "'?)") +
          "; rewards are format, accuracy_cls, iou, "
          "confidence, iou_grounding, giou_grounding, rewards.external commands, or functions of a Python file "
          "(rewards.python)");
    }
    bool fits = task == Task::cls ? spec->cls : task == Task::det ? spec->det : spec->ground;
    if (!fits) throw ConfigError("rewards.functions: reward '" + n + "' does not apply to task " + task_name(task));
    if (n == "iou") iou_index_ = static_cast<int>(fns_.size());
    if (n == "confidence") confidence_index_ = static_cast<int>(fns_.size());
    fns_.push_back(spec->fn);
  }
  if (used_external != external.size())
    throw ConfigError("rewards.external: every entry must be named in rewards.functions (" +
                      std::to_string(external.size() - used_external) + " not named)");
  if (!cfg.python.empty() && python_names.empty())
    throw ConfigError("rewards.python: '" + cfg.python + "' is set but rewards.functions names none of its functions");
  if (!python_names.empty()) {
    if (!std::filesystem::is_regular_file(cfg.python))
      throw ConfigError("rewards.python: '" + cfg.python + "' is not a file (a Python file of reward functions)");
    python_ = std::make_shared<PythonRewards>(cfg.python, python_names, cfg.python_exe, task_name(task),
                                              cfg.python_timeout_s);
  }
  weights_ = cfg.weights.empty() ? std::vector<double>(names_.size(), 1.0) : cfg.weights;
  if (weights_.size() != names_.size()) {
    throw ConfigError("rewards.weights: needs one weight per reward (" + std::to_string(names_.size()) + "), got " +
                      std::to_string(weights_.size()));
  }
  ctx_.compat = cfg.compat;
  for (size_t i = 0; i < weights_.size(); ++i) {
    if (!std::isfinite(weights_[i])) {
      throw ConfigError("rewards.weights: weight " + std::to_string(i + 1) + " (" + names_[i] + ") is " +
                        std::to_string(weights_[i]) + ": expected a finite number");
    }
  }
  if (!cfg.synonyms.empty()) {
    try {
      synonyms_ = load_synonyms(cfg.synonyms);
    } catch (const Error& e) {
      throw ConfigError(std::string("rewards.synonyms: ") + e.what());
    }
  }
}

std::vector<RewardScores> RewardSet::score_batch(const std::vector<RewardQuery>& queries,
                                                 const std::vector<const Solution*>& sols) const {
  // The external rewards' values first, each process asked once for the whole batch.
  const std::vector<std::vector<double>> py = python_ ? python_->score(queries) : std::vector<std::vector<double>>{};
  std::vector<std::vector<double>> cmd;
  for (const auto& c : commands_) cmd.push_back(c->score(queries));
  std::vector<RewardScores> out;
  std::vector<double> external;  // one completion's external values, in names_ order
  for (size_t q = 0; q < queries.size(); ++q) {
    external.clear();
    size_t next_python = 0;
    for (size_t i = 0; i < fns_.size(); ++i) {
      if (command_of_[i] >= 0)
        external.push_back(cmd[static_cast<size_t>(command_of_[i])][q]);
      else if (!fns_[i])
        external.push_back(py[next_python++][q]);
    }
    out.push_back(score_with(*queries[q].completion, *sols[q], external));
  }
  return out;
}

RewardScores RewardSet::score(std::string_view completion, const Solution& sol) const {
  if (has_external()) throw Error("RewardSet::score: external and Python rewards score batches (score_batch)");
  return score_with(completion, sol, {});
}

RewardScores RewardSet::score_with(std::string_view completion, const Solution& sol,
                                   const std::vector<double>& external) const {
  RewardScores out;
  out.values.reserve(fns_.size());
  RewardContext ctx = ctx_;
  ctx.synonyms = synonyms_.group.empty() ? nullptr : &synonyms_;  // this object's own copy
  // iou and confidence share their parsing and matching: do it once.
  DetectionScores det;
  const bool shared = iou_index_ >= 0 && confidence_index_ >= 0;
  if (shared) det = detection_rewards(completion, sol, ctx);
  size_t next_external = 0;
  for (size_t i = 0; i < fns_.size(); ++i) {
    const int k = static_cast<int>(i);
    double v = !fns_[i]                           ? external[next_external++]
               : shared && k == iou_index_        ? det.iou
               : shared && k == confidence_index_ ? det.confidence
                                                  : fns_[i](completion, sol, ctx);
    if (!std::isfinite(v)) v = 0;  // the built-in rules never give one; external ones are refused
    out.values.push_back(v);
    out.total += weights_[i] * v;
  }
  return out;
}

}  // namespace vrft
