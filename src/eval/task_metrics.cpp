// src/eval/task_metrics.cpp: the Visual-RFT evaluation protocol as pure functions (see the
// header and Visual-RFT's evaluation scripts).
#include "visual_rft/eval/task_metrics.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <map>
#include <set>

#include "eval_core.h"
#include "visual_rft/core/error.h"

namespace vrft {

// ---- classification ------------------------------------------------------------------------------

ClsJudgement judge_classification(std::string_view completion, const std::string& label, const Synonyms* synonyms) {
  ClsJudgement j;
  j.answer = strict_answer_text(completion);
  Solution sol;
  sol.task = Task::cls;
  sol.text = "<answer>" + label + "</answer>";
  sol.label = label;
  // The eval script differs from the training reward in one point: an answer without a
  // one-line <answer>...</answer> is wrong, where the reward falls back to the whole text.
  if (py_answer_group(completion, /*dotall=*/false)) {
    j.reference = accuracy_cls_reward(completion, sol, {Compat::visual_rft, nullptr}) > 0.5;
  }
  j.exact = accuracy_cls_reward(completion, sol, {Compat::strict, synonyms}) > 0.5;
  return j;
}

ClsMetrics classification_metrics(const std::vector<std::string>& labels, const std::vector<ClsJudgement>& judgements) {
  if (labels.size() != judgements.size()) throw Error("classification_metrics: labels and judgements differ in number");
  ClsMetrics m;
  std::map<std::string, ClassAccuracy> per;
  for (size_t i = 0; i < labels.size(); ++i) {
    const ClsJudgement& j = judgements[i];
    ClassAccuracy& c = per[labels[i]];
    c.label = labels[i];
    ++c.n;
    c.correct_reference += j.reference;
    c.correct_exact += j.exact;
    ++m.n;
    m.correct_reference += j.reference;
    m.correct_exact += j.exact;
    m.no_answer += !j.answer.has_value();
  }
  if (m.n > 0) {
    m.accuracy_reference = static_cast<double>(m.correct_reference) / static_cast<double>(m.n);
    m.accuracy_exact = static_cast<double>(m.correct_exact) / static_cast<double>(m.n);
  }
  for (auto& [label, c] : per) m.per_class.push_back(c);
  return m;
}

// ---- detection -----------------------------------------------------------------------------------

std::optional<std::string> detection_category(std::string_view problem) {
  constexpr std::string_view kKey = "category '";
  size_t b = problem.find(kKey);
  if (b == std::string_view::npos) return std::nullopt;
  b += kKey.size();
  size_t e = problem.find('\'', b);
  if (e == std::string_view::npos || e == b) return std::nullopt;
  return std::string(problem.substr(b, e - b));
}

const char* det_status_name(DetParse::Status s) {
  switch (s) {
    case DetParse::Status::ok: return "ok";
    case DetParse::Status::partial: return "partial";
    case DetParse::Status::no_objects: return "no_objects";
    case DetParse::Status::malformed: return "malformed";
  }
  return "?";
}

namespace {

// A finite number of a parsed value (booleans count, as in Python arithmetic).
std::optional<double> finite_number(const PyValue* v) {
  if (!v || !v->is_number() || !std::isfinite(v->number)) return std::nullopt;
  return v->number;
}

// Whether the reference's remove_duplicates raises on the list, losing the whole answer: it
// runs tuple(entry['Position']) over every entry before any box is read, so an entry that is
// not a dict or has no Position, a Position that is not iterable (a number, None, a boolean)
// or one holding an unhashable item (a list or a dict) raises there.
bool reference_dedup_raises(const PyValue& list) {
  for (const PyValue& e : list.items) {
    const PyValue* pos = e.kind == PyValue::Kind::dict ? e.get("Position") : nullptr;
    if (!pos) return true;
    switch (pos->kind) {
      case PyValue::Kind::string:
      case PyValue::Kind::dict: break;  // tuple() of its characters or keys: hashable
      case PyValue::Kind::list:
        for (const PyValue& x : pos->items)
          if (x.kind == PyValue::Kind::list || x.kind == PyValue::Kind::dict) return true;
        break;
      default: return true;
    }
  }
  return false;
}

}  // namespace

DetParse parse_detection_eval(std::string_view completion) {
  DetParse out;
  // 1. the text repairs, in the reference's order
  std::string s = py_replace(completion, "[[", "[");
  s = py_replace(s, "]]", "]");
  s = py_replace(s, "\n", "");
  s = py_replace(s, ", ...", "");
  // 2. the <answer> group (one line; newlines are gone anyway) or the whole text, rewrapped
  std::optional<std::string_view> group = py_answer_group(s, /*dotall=*/false);
  const std::string wrapped = "<answer>" + std::string(py_strip(group ? *group : std::string_view(s))) + "</answer>";
  // 3. extract_bbox; 4. None, or a list of strings, is skipped
  std::optional<PyValue> v = reference_extract_bbox(wrapped);
  if (!v || v->kind != PyValue::Kind::list || (!v->items.empty() && v->items[0].kind == PyValue::Kind::string)) {
    std::optional<DetectionAnswer> strict = parse_detection_answer(completion);
    out.status = strict && strict->no_objects ? DetParse::Status::no_objects : DetParse::Status::malformed;
    return out;
  }
  // 5. duplicates by exact Position dropped, over the whole list first: a structural fault in
  // any entry loses every box
  if (reference_dedup_raises(*v)) return out;  // malformed
  // 6. entries read until one is unusable
  out.status = DetParse::Status::ok;
  std::vector<std::array<double, 4>> seen;
  for (const PyValue& e : v->items) {
    const PyValue* pos = e.kind == PyValue::Kind::dict ? e.get("Position") : nullptr;
    if (!pos || pos->kind != PyValue::Kind::list || pos->items.size() != 4) {
      out.status = DetParse::Status::partial;
      break;
    }
    std::array<double, 4> c{};
    bool finite = true;
    for (size_t k = 0; k < 4 && finite; ++k) {
      std::optional<double> x = finite_number(&pos->items[k]);
      finite = x.has_value();
      if (finite) c[k] = *x;
    }
    if (!finite) {
      out.status = DetParse::Status::partial;
      break;
    }
    if (std::find(seen.begin(), seen.end(), c) != seen.end()) continue;
    seen.push_back(c);
    std::optional<double> conf = finite_number(e.get("Confidence"));
    if (!conf) {
      out.status = DetParse::Status::partial;
      break;
    }
    out.objects.push_back({Box{c[0], c[1], c[2], c[3]}, *conf});
  }
  return out;
}

BoxXYWH box_to_pixels(const Box& b, int64_t width, int64_t height) {
  const double W = static_cast<double>(width), H = static_cast<double>(height);
  const double x1 = b.x1 / 1000 * W, y1 = b.y1 / 1000 * H, x2 = b.x2 / 1000 * W, y2 = b.y2 / 1000 * H;
  return {x1, y1, x2 - x1, y2 - y1};
}

CocoData make_coco_data(const std::vector<DetSample>& samples) {
  CocoData d;
  d.gt.source = "evaluation samples";
  std::set<std::string> names;
  for (const auto& s : samples) names.insert(s.category);
  std::map<std::string, int64_t> cat_id;
  for (const auto& n : names) {
    const int64_t id = static_cast<int64_t>(cat_id.size()) + 1;
    cat_id[n] = id;
    d.gt.categories.push_back({id, n, 0});
  }
  int64_t ann_id = 0;
  for (const auto& s : samples) {
    d.gt.images.push_back({s.image_id, {}, {}});
    const int64_t c = cat_id.at(s.category);
    for (const Box& b : s.truth) {
      GtAnnotation a;
      a.id = ++ann_id;
      a.image_id = s.image_id;
      a.category_id = c;
      a.bbox = box_to_pixels(b, s.width, s.height);
      a.area = a.bbox.w * a.bbox.h;
      d.gt.annotations.push_back(a);
    }
    for (const auto& p : s.predicted)
      d.results.push_back({s.image_id, c, box_to_pixels(p.box, s.width, s.height), p.confidence});
  }
  return d;
}

double coco_category_ap(const CocoEvalResult& r, size_t k, int t_only) {
  constexpr size_t T = kNumIouThrs, R = kNumRecThrs, A = kNumAreaRngs, M = CocoEvalResult::kNumMaxDets;
  const size_t K = r.cat_ids.size();
  std::vector<double> v;  // the selected entries in C order, as numpy's boolean indexing gives them
  for (size_t t = 0; t < T; ++t) {
    if (t_only >= 0 && t != static_cast<size_t>(t_only)) continue;
    for (size_t q = 0; q < R; ++q) {
      const double p = r.precision[(((t * R + q) * K + k) * A + 0) * M + (M - 1)];
      if (p > -1) v.push_back(p);
    }
  }
  return detail::numpy_mean_or_minus1(v);
}

DetMetrics detection_metrics(const std::vector<DetSample>& samples) {
  DetMetrics m;
  if (samples.empty()) return m;
  const CocoData d = make_coco_data(samples);
  m.coco = coco_evaluate(d.gt, d.results);
  std::map<std::string, CategoryStats> per;
  for (const auto& s : samples) {
    CategoryStats& c = per[s.category];
    ++c.images;
    c.true_boxes += static_cast<int64_t>(s.truth.size());
    c.predicted_boxes += static_cast<int64_t>(s.predicted.size());
  }
  double sum = 0, sum50 = 0;
  int64_t n = 0;
  for (size_t k = 0; k < m.coco.per_category.size(); ++k) {
    const CocoCategoryAp& a = m.coco.per_category[k];
    CategoryStats& c = per.at(a.name);
    c.name = a.name;
    c.id = a.id;
    c.ap = a.ap;
    c.ap50 = a.ap50;
    c.ap75 = coco_category_ap(m.coco, k, 5);  // iou_thresholds()[5] = 0.75
    m.per_category.push_back(c);
    if (a.ap > -1) {
      sum += a.ap;
      sum50 += a.ap50;
      ++n;
    }
  }
  if (n > 0) {
    m.mean_category_ap = sum / static_cast<double>(n);
    m.mean_category_ap50 = sum50 / static_cast<double>(n);
  }
  return m;
}

double detection_sample_score(const std::vector<Box>& truth, const std::vector<Detection>& predicted) {
  if (truth.empty() && predicted.empty()) return 1.0;
  // Corners put in order first: the reference parse keeps boxes as written.
  auto ordered = [](const Box& b) {
    return Box{std::min(b.x1, b.x2), std::min(b.y1, b.y2), std::max(b.x1, b.x2), std::max(b.y1, b.y2)};
  };
  std::vector<Detection> pred = predicted;
  std::stable_sort(pred.begin(), pred.end(),
                   [](const Detection& a, const Detection& b) { return a.confidence > b.confidence; });
  std::vector<bool> used(truth.size(), false);
  double sum = 0;
  for (const auto& p : pred) {
    double best = 0;
    int best_j = -1;
    for (size_t j = 0; j < truth.size(); ++j) {
      if (used[j]) continue;
      const double iou = box_iou(ordered(p.box), ordered(truth[j]));
      if (iou > best) {
        best = iou;
        best_j = static_cast<int>(j);
      }
    }
    if (best_j >= 0 && best > 0.5) {
      used[static_cast<size_t>(best_j)] = true;
      sum += best;
    }
  }
  return sum / static_cast<double>(std::max(truth.size(), predicted.size()));
}

// ---- grounding -----------------------------------------------------------------------------------

namespace {

// \s* \d+ \s* at s[i]: advances i past them; false without a digit.
bool digits_at(std::string_view s, size_t& i, double& out) {
  i = py_skip_spaces(s, i);
  const size_t b = i;
  while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i;
  if (i == b) return false;
  std::from_chars(s.data() + b, s.data() + i, out);
  i = py_skip_spaces(s, i);
  return true;
}

bool char_at(std::string_view s, size_t& i, char c) {
  i = py_skip_spaces(s, i);
  if (i >= s.size() || s[i] != c) return false;
  ++i;
  return true;
}

}  // namespace

std::optional<Box> reference_grounding_box(std::string_view s) {
  // The pattern starts with '(' and its parts (spaces, digits, punctuation) never overlap,
  // so a match at a position is found without backtracking; re.search takes the leftmost.
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '(') continue;
    size_t k = i + 1;
    double v[4];
    if (digits_at(s, k, v[0]) && char_at(s, k, ',') && digits_at(s, k, v[1]) && char_at(s, k, ')') &&
        char_at(s, k, ',') && char_at(s, k, '(') && digits_at(s, k, v[2]) && char_at(s, k, ',') &&
        digits_at(s, k, v[3]) && char_at(s, k, ')')) {
      return Box{v[0], v[1], v[2], v[3]};
    }
  }
  return std::nullopt;
}

double reference_box_iou(const Box& a, const Box& b) {
  const double a0 = a.x1 / 1000, a1 = a.y1 / 1000, a2 = a.x2 / 1000, a3 = a.y2 / 1000;
  const double b0 = b.x1 / 1000, b1 = b.y1 / 1000, b2 = b.x2 / 1000, b3 = b.y2 / 1000;
  const double inter =
      std::max(0.0, std::min(a2, b2) - std::max(a0, b0)) * std::max(0.0, std::min(a3, b3) - std::max(a1, b1));
  const double area_a = (a2 - a0) * (a3 - a1), area_b = (b2 - b0) * (b3 - b1);
  return inter / (area_a + area_b - inter + 1e-6);
}

GroundJudgement judge_grounding(std::string_view completion, const Box& truth) {
  GroundJudgement j;
  j.reference_box = reference_grounding_box(completion);
  j.strict_box = parse_grounding_answer(completion);
  if (j.reference_box) j.iou_reference = reference_box_iou(*j.reference_box, truth);
  if (j.strict_box) j.iou_strict = box_iou(*j.strict_box, truth);
  return j;
}

GroundMetrics grounding_metrics(const std::vector<GroundJudgement>& judgements) {
  GroundMetrics m;
  double s_ref = 0, s_strict = 0;
  int64_t hit_ref = 0, hit_strict = 0;
  for (const auto& j : judgements) {
    ++m.n;
    s_ref += j.iou_reference;
    s_strict += j.iou_strict;
    hit_ref += j.iou_reference >= 0.5;
    hit_strict += j.iou_strict >= 0.5;
    m.no_box_reference += !j.reference_box.has_value();
    m.no_box_strict += !j.strict_box.has_value();
  }
  if (m.n > 0) {
    const double n = static_cast<double>(m.n);
    m.miou_reference = s_ref / n;
    m.miou_strict = s_strict / n;
    m.acc50_reference = static_cast<double>(hit_ref) / n;
    m.acc50_strict = static_cast<double>(hit_strict) / n;
  }
  return m;
}

}  // namespace vrft
