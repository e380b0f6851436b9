// src/eval/eval_scoring.cpp: answers -> records, metrics and summary tables, per task and
// input (see eval_scoring.h). The judging rules are task_metrics.h's; this file arranges
// their results for predictions.jsonl, metrics.json and summary.md.
#include "eval_scoring.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include "eval_core.h"
#include "visual_rft/eval/lvis_eval.h"
#include "visual_rft/eval/task_metrics.h"

namespace vrft::detail {

namespace {

using nlohmann::json;

json box_json(const Box& b) { return json::array({b.x1, b.y1, b.x2, b.y2}); }

// The image size boxes are mapped with: the file's (COCO/LVIS, as the reference), else the
// loaded image's.
int64_t width_of(const EvalItem& it, const Answer& a) { return it.width > 0 ? it.width : a.width; }
int64_t height_of(const EvalItem& it, const Answer& a) { return it.height > 0 ? it.height : a.height; }

// The parsed answer of a detection question as a record, its overlay and its status.
struct DetRecord {
  json record;
  Overlay overlay;
  DetParse parse;
};

DetRecord det_record(const EvalItem& it, const Answer& a) {
  DetRecord r;
  r.parse = parse_detection_eval(a.text);
  const int64_t W = width_of(it, a), H = height_of(it, a);
  json truth = json::array(), pred = json::array();
  for (const Box& b : it.solution.boxes) {
    truth.push_back(box_json(b));
    r.overlay.truth.push_back(b);
  }
  for (const auto& o : r.parse.objects) {
    const BoxXYWH px = box_to_pixels(o.box, W, H);
    pred.push_back({{"box", box_json(o.box)}, {"confidence", o.confidence}, {"bbox_xywh", {px.x, px.y, px.w, px.h}}});
    r.overlay.predicted.push_back({o.box, o.confidence});
  }
  r.record = {{"category", it.category},
              {"image_size", {W, H}},
              {"truth", truth},
              {"prediction", pred},
              {"parse", det_status_name(r.parse.status)},
              {"score", detection_sample_score(it.solution.boxes, r.parse.objects)}};
  return r;
}

using StatusCount = std::map<std::string, int64_t>;
StatusCount empty_status() { return {{"ok", 0}, {"partial", 0}, {"no_objects", 0}, {"malformed", 0}}; }

std::string answers_row(StatusCount& s) {
  return fmt::format("| answers ok / partial / No Objects / malformed | {} / {} / {} / {} |\n", s["ok"], s["partial"],
                     s["no_objects"], s["malformed"]);
}

}  // namespace

std::string pct_2dp(double v) { return v < 0 ? "–" : fmt::format("{:.2f}", 100 * v); }

// ---- classification ------------------------------------------------------------------------------

Scored score_cls(const std::vector<EvalItem>& items, const std::vector<Answer>& answers, const Synonyms* synonyms) {
  Scored out;
  std::vector<std::string> labels;
  std::vector<ClsJudgement> js;
  for (size_t i = 0; i < items.size(); ++i) {
    const std::string& label = items[i].solution.label;
    ClsJudgement j = judge_classification(answers[i].text, label, synonyms);
    out.records.push_back({{"label", label},
                           {"prediction", j.answer ? json(*j.answer) : json(nullptr)},
                           {"correct_reference", j.reference},
                           {"correct_exact", j.exact},
                           {"score", j.reference ? 1.0 : 0.0}});
    labels.push_back(label);
    js.push_back(std::move(j));
  }
  const ClsMetrics m = classification_metrics(labels, js);
  json per = json::array();
  std::string table =
      "| class | samples | accuracy (reference rule, %) | accuracy (exact, %) |\n|---|---:|---:|---:|\n";
  for (const auto& c : m.per_class) {
    const double n = static_cast<double>(c.n);
    per.push_back({{"label", c.label},
                   {"samples", c.n},
                   {"correct_reference", c.correct_reference},
                   {"correct_exact", c.correct_exact},
                   {"accuracy_reference", static_cast<double>(c.correct_reference) / n},
                   {"accuracy_exact", static_cast<double>(c.correct_exact) / n}});
    table += fmt::format("| {} | {} | {} | {} |\n", c.label, c.n, pct_2dp(static_cast<double>(c.correct_reference) / n),
                         pct_2dp(static_cast<double>(c.correct_exact) / n));
  }
  out.metrics = {{"accuracy_reference", m.accuracy_reference},
                 {"accuracy_exact", m.accuracy_exact},
                 {"correct_reference", m.correct_reference},
                 {"correct_exact", m.correct_exact},
                 {"no_answer", m.no_answer},
                 {"per_class", per}};
  out.summary =
      fmt::format(
          "| metric | value |\n|---|---:|\n| accuracy, reference rule (%) | {} |\n| accuracy, exact match (%) | {} |\n"
          "| answers without <answer> | {} |\n\n",
          pct_2dp(m.accuracy_reference), pct_2dp(m.accuracy_exact), m.no_answer) +
      table;
  return out;
}

// ---- detection from a JSONL ------------------------------------------------------------------------

Scored score_det(const std::vector<EvalItem>& items, const std::vector<Answer>& answers) {
  Scored out;
  std::vector<DetSample> ds;
  StatusCount status = empty_status();
  int64_t n_pred = 0, n_true = 0;
  for (size_t i = 0; i < items.size(); ++i) {
    DetRecord r = det_record(items[i], answers[i]);
    DetSample d;
    d.image_id = items[i].sample.index + 1;  // one image per question
    d.category = items[i].category;
    d.width = width_of(items[i], answers[i]);
    d.height = height_of(items[i], answers[i]);
    d.truth = items[i].solution.boxes;
    d.predicted = r.parse.objects;
    ++status[det_status_name(r.parse.status)];
    n_pred += static_cast<int64_t>(d.predicted.size());
    n_true += static_cast<int64_t>(d.truth.size());
    r.record["image_id"] = d.image_id;
    out.records.push_back(std::move(r.record));
    out.overlays.push_back(std::move(r.overlay));
    ds.push_back(std::move(d));
  }
  const DetMetrics m = detection_metrics(ds);
  json stats = json::object(), per = json::array();
  for (int k = 0; k < CocoEvalResult::kNumStats; ++k) stats[coco_stat_names()[k]] = m.coco.stats[k];
  std::string table =
      "| category | images | true boxes | predicted | AP | AP50 | AP75 |\n|---|---:|---:|---:|---:|---:|---:|\n";
  for (const auto& c : m.per_category) {
    per.push_back({{"name", c.name},
                   {"id", c.id},
                   {"images", c.images},
                   {"true_boxes", c.true_boxes},
                   {"predicted_boxes", c.predicted_boxes},
                   {"ap", c.ap},
                   {"ap50", c.ap50},
                   {"ap75", c.ap75}});
    table += fmt::format("| {} | {} | {} | {} | {} | {} | {} |\n", c.name, c.images, c.true_boxes, c.predicted_boxes,
                         pct_2dp(c.ap), pct_2dp(c.ap50), pct_2dp(c.ap75));
  }
  out.metrics = {{"map", m.coco.stats[0]},
                 {"ap50", m.coco.stats[1]},
                 {"ap75", m.coco.stats[2]},
                 {"mean_category_ap", m.mean_category_ap},
                 {"mean_category_ap50", m.mean_category_ap50},
                 {"coco_stats", stats},
                 {"answers", status},
                 {"true_boxes", n_true},
                 {"predicted_boxes", n_pred},
                 {"per_category", per}};
  out.summary =
      fmt::format(
          "| metric | value |\n|---|---:|\n| mAP (AP .5:.95, %) | {} |\n| AP50 (%) | {} |\n| AP75 (%) | {} |\n"
          "| mean of per-category AP (%) | {} |\n",
          pct_2dp(m.coco.stats[0]), pct_2dp(m.coco.stats[1]), pct_2dp(m.coco.stats[2]), pct_2dp(m.mean_category_ap)) +
      answers_row(status) + fmt::format("| true / predicted boxes | {} / {} |\n\n", n_true, n_pred) + table +
      "\nCOCOeval summary:\n\n```\n" + coco_summary_text(m.coco) + "```\n";
  return out;
}

// ---- detection from a COCO/LVIS file ------------------------------------------------------------------

namespace {

// One selected category's counts and APs.
struct FileCategory {
  const SelectedCategory* cat = nullptr;
  int64_t questions = 0, predicted = 0, true_boxes = 0, images_with_truth = 0;
  double ap = -1;            // COCO: AP .5:.95 (area all, maxDets 100); LVIS: area all
  double ap50 = -1;          // COCO
  double ap75 = -1;          // COCO
  double ap_all_areas = -1;  // LVIS: the notebook's per-class AP
  // The per-class AP of the reference notebooks: COCO precision[:, :, k, 0, -1], LVIS
  // precision[:, :, k, :] (all four area ranges).
  double notebook_ap(bool lvis) const { return lvis ? ap_all_areas : ap; }
};

// True boxes of each selected category in the evaluated images (COCOeval's non-ignored ones
// at area "all": crowd regions excluded).
void count_truth(const EvalSet& set, std::map<int64_t, FileCategory>& per) {
  std::map<int64_t, std::set<int64_t>> images;
  for (const GtAnnotation& a : set.gt.annotations) {
    auto it = per.find(a.category_id);
    if (it == per.end() || a.iscrowd || find_index(set.img_ids, a.image_id) < 0) continue;
    ++it->second.true_boxes;
    images[a.category_id].insert(a.image_id);
  }
  for (auto& [id, c] : per) c.images_with_truth = static_cast<int64_t>(images[id].size());
}

json stats_json(const double* stats, const char* const* names, int n) {
  json j = json::object();
  for (int k = 0; k < n; ++k) j[names[k]] = stats[k];
  return j;
}

}  // namespace

Scored score_det_file(const EvalSet& set, const std::vector<Answer>& answers) {
  const bool lvis = set.input == EvalInput::lvis;
  Scored out;
  std::map<int64_t, FileCategory> per;
  for (const SelectedCategory& c : set.categories) per[c.id].cat = &c;
  std::vector<CocoDetection> results;  // query order, then answer order: the reference's order
  json results_json = json::array();
  StatusCount status = empty_status();
  for (size_t i = 0; i < set.items.size(); ++i) {
    const EvalItem& it = set.items[i];
    DetRecord r = det_record(it, answers[i]);
    FileCategory& c = per.at(it.category_id);
    ++c.questions;
    c.predicted += static_cast<int64_t>(r.parse.objects.size());
    ++status[det_status_name(r.parse.status)];
    for (const auto& o : r.parse.objects) {
      const BoxXYWH b = box_to_pixels(o.box, it.width, it.height);
      results.push_back({it.image_id, it.category_id, b, o.confidence});
      results_json.push_back({{"image_id", it.image_id},
                              {"category_id", it.category_id},
                              {"bbox", {b.x, b.y, b.w, b.h}},
                              {"score", o.confidence}});
    }
    r.record["image_id"] = it.image_id;
    r.record["category_id"] = it.category_id;
    out.records.push_back(std::move(r.record));
    out.overlays.push_back(std::move(r.overlay));
  }
  count_truth(set, per);

  // The selected categories (the numbers that matter) and every category of the file (what
  // the reference's scripts print: categories never asked count with AP 0 where they have
  // truth). Per-category results do not depend on the other categories evaluated.
  std::vector<int64_t> sel_ids;
  for (const auto& [id, c] : per) sel_ids.push_back(id);
  const EvalFilter sel{set.img_ids, sel_ids}, all{set.img_ids, {}};
  json stats, stats_all;
  std::string summary_text;
  double ap_sel = -1, ap50_sel = -1, ap75_sel = -1;
  if (!lvis) {
    const CocoEvalResult rs = coco_evaluate(set.gt, results, sel), ra = coco_evaluate(set.gt, results, all);
    for (size_t k = 0; k < rs.per_category.size(); ++k) {
      FileCategory& c = per.at(rs.per_category[k].id);
      c.ap = rs.per_category[k].ap;
      c.ap50 = rs.per_category[k].ap50;
      c.ap75 = coco_category_ap(rs, k, 5);  // iou_thresholds()[5] = 0.75
    }
    stats = stats_json(rs.stats.data(), coco_stat_names().data(), CocoEvalResult::kNumStats);
    stats_all = stats_json(ra.stats.data(), coco_stat_names().data(), CocoEvalResult::kNumStats);
    ap_sel = rs.stats[0], ap50_sel = rs.stats[1], ap75_sel = rs.stats[2];
    summary_text = coco_summary_text(rs);
    out.metrics["coco_stats"] = stats;
    out.metrics["coco_stats_all_categories"] = stats_all;
  } else {
    const LvisEvalResult rs = lvis_evaluate(set.gt, results, {sel, 300}),
                         ra = lvis_evaluate(set.gt, results, {all, 300});
    for (const LvisCategoryAp& a : rs.per_category) {
      FileCategory& c = per.at(a.id);
      c.ap = a.ap;
      c.ap_all_areas = a.ap_all_areas;
    }
    stats = stats_json(rs.stats.data(), lvis_stat_names().data(), LvisEvalResult::kNumStats);
    stats_all = stats_json(ra.stats.data(), lvis_stat_names().data(), LvisEvalResult::kNumStats);
    ap_sel = rs.stats[0], ap50_sel = rs.stats[1], ap75_sel = rs.stats[2];
    summary_text = lvis_summary_text(rs);
    out.metrics["lvis_stats"] = stats;
    out.metrics["lvis_stats_all_categories"] = stats_all;
  }

  // The notebooks' "mAP for selected categories" (coco_evaluation.py and the LVIS notebook): per-class AP x 100
  // summed in category-id order, divided by the number of selected categories. A category
  // without truth makes it NaN there (np.mean of nothing): null here, and the mean of the
  // others is still given as mean_category_ap.
  double notebook_sum = 0, mean_sum = 0;
  int64_t with_truth = 0;
  bool nan = false;
  json per_json = json::array();
  std::string table = lvis ? "| category | id | questions | images with truth | true boxes | predicted | AP, all areas "
                             "(notebook) | AP, area all |\n|---|---:|---:|---:|---:|---:|---:|---:|\n"
                           : "| category | id | questions | images with truth | true boxes | predicted | AP | AP50 | "
                             "AP75 |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|\n";
  for (const auto& [id, c] : per) {
    const double ap = c.notebook_ap(lvis);
    if (ap < 0) {
      nan = true;
    } else {
      notebook_sum += ap * 100;
      mean_sum += ap;
      ++with_truth;
    }
    json j = {{"name", c.cat->name},
              {"id", id},
              {"questions", c.questions},
              {"images_with_truth", c.images_with_truth},
              {"true_boxes", c.true_boxes},
              {"predicted_boxes", c.predicted},
              {"ap", c.ap}};
    std::string row = fmt::format("| {} | {} | {} | {} | {} | {} |", c.cat->name, id, c.questions, c.images_with_truth,
                                  c.true_boxes, c.predicted);
    if (lvis) {
      j["frequency"] = c.cat->frequency ? std::string(1, c.cat->frequency) : std::string();
      j["ap_all_areas"] = c.ap_all_areas;
      row += fmt::format(" {} | {} |\n", pct_2dp(c.ap_all_areas), pct_2dp(c.ap));
    } else {
      j["ap50"] = c.ap50;
      j["ap75"] = c.ap75;
      row += fmt::format(" {} | {} | {} |\n", pct_2dp(c.ap), pct_2dp(c.ap50), pct_2dp(c.ap75));
    }
    per_json.push_back(std::move(j));
    table += row;
  }
  const double n_sel = static_cast<double>(per.size());
  const json notebook = nan ? json(nullptr) : json(notebook_sum / n_sel);
  const double mean_ap = with_truth ? mean_sum / static_cast<double>(with_truth) : -1;

  int64_t n_pred = 0, n_true = 0;
  for (const auto& [id, c] : per) {
    n_pred += c.predicted;
    n_true += c.true_boxes;
  }
  out.metrics.update({{"map", ap_sel},
                      {"ap50", ap50_sel},
                      {"ap75", ap75_sel},
                      {"reference_map", notebook},
                      {"mean_category_ap", mean_ap},
                      {"answers", status},
                      {"true_boxes", n_true},
                      {"predicted_boxes", n_pred},
                      {"per_category", per_json}});
  const char* tool = lvis ? "LVISEval" : "COCOeval";
  const size_t n_all = set.gt.categories.size();
  out.summary = fmt::format(
                    "| metric | value |\n|---|---:|\n"
                    "| mAP of the selected categories, the reference notebook's (%) | {} |\n"
                    "| {} AP .5:.95 of the selected categories (%) | {} |\n| AP50 (%) | {} |\n| AP75 (%) | {} |\n"
                    "| {} AP .5:.95 of all {} categories, as the reference script prints it (%) | {} |\n"
                    "| questions (image, category) | {} |\n",
                    nan ? std::string("– (a category without truth: NaN in the notebook)")
                        : fmt::format("{:.2f}", notebook_sum / n_sel),
                    tool, pct_2dp(ap_sel), pct_2dp(ap50_sel), pct_2dp(ap75_sel), tool, n_all,
                    pct_2dp(stats_all["AP"].get<double>()), set.items.size()) +
                answers_row(status) + fmt::format("| true / predicted boxes | {} / {} |\n\n", n_true, n_pred) + table +
                "\n" + tool + " summary, selected categories:\n\n```\n" + summary_text + "```\n";
  out.results = std::move(results_json);
  return out;
}

// ---- grounding -----------------------------------------------------------------------------------

Scored score_ground(const std::vector<EvalItem>& items, const std::vector<Answer>& answers) {
  Scored out;
  std::vector<GroundJudgement> js;
  for (size_t i = 0; i < items.size(); ++i) {
    const Box& truth = items[i].solution.box;
    GroundJudgement j = judge_grounding(answers[i].text, truth);
    auto opt_box = [](const std::optional<Box>& b) { return b ? box_json(*b) : json(nullptr); };
    out.records.push_back({{"truth", box_json(truth)},
                           {"prediction", opt_box(j.reference_box)},
                           {"prediction_strict", opt_box(j.strict_box)},
                           {"iou", j.iou_reference},
                           {"iou_strict", j.iou_strict},
                           {"score", j.iou_reference}});
    Overlay ov;
    ov.truth.push_back(truth);
    if (j.reference_box || j.strict_box)
      ov.predicted.push_back({j.reference_box ? *j.reference_box : *j.strict_box, std::nullopt});
    out.overlays.push_back(std::move(ov));
    js.push_back(std::move(j));
  }
  const GroundMetrics m = grounding_metrics(js);
  out.metrics = {{"miou", m.miou_reference},       {"acc50", m.acc50_reference},   {"miou_strict", m.miou_strict},
                 {"acc50_strict", m.acc50_strict}, {"no_box", m.no_box_reference}, {"no_box_strict", m.no_box_strict}};
  out.summary = fmt::format(
      "| metric | reference rule | strict |\n|---|---:|---:|\n| mIoU (%) | {} | {} |\n| IoU >= 0.5 (%) | {} | {} |\n"
      "| answers without a box | {} | {} |\n",
      pct_2dp(m.miou_reference), pct_2dp(m.miou_strict), pct_2dp(m.acc50_reference), pct_2dp(m.acc50_strict),
      m.no_box_reference, m.no_box_strict);
  return out;
}

}  // namespace vrft::detail
