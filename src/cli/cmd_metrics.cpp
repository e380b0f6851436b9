// src/cli/cmd_metrics.cpp: `visual-rft metrics coco|lvis`: bbox detection metrics of a
// results file against a ground-truth file, equal to pycocotools' COCOeval and lvis-api's
// LVISEval (eval/coco_eval.h, eval/lvis_eval.h). Prints the summary lines those packages
// print, or with --json one object with the stats at full precision and the per-category AP.
#include <array>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "visual_rft/core/log.h"
#include "visual_rft/eval/coco_eval.h"
#include "visual_rft/eval/lvis_eval.h"

namespace vrft::cli {

namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

struct MetricsArgs {
  std::string gt;
  std::string results;
  bool json = false;
  std::vector<int64_t> img_ids;
  std::vector<int64_t> cat_ids;
  int max_dets = 300;  // lvis only
};

// Ground truth and results of either format, timed (--log-level debug shows the split).
struct Inputs {
  GroundTruth gt;
  std::vector<CocoDetection> dets;
};

Inputs load_inputs(const MetricsArgs& a, GtFormat format) {
  auto t0 = std::chrono::steady_clock::now();
  Inputs in;
  in.gt = load_ground_truth(a.gt, format);
  log_debug("metrics: read {} ({} images, {} annotations) in {:.3f} s", a.gt, in.gt.images.size(),
            in.gt.annotations.size(), seconds_since(t0));
  t0 = std::chrono::steady_clock::now();
  in.dets = load_detections(a.results, in.gt);
  log_debug("metrics: read {} ({} results) in {:.3f} s", a.results, in.dets.size(), seconds_since(t0));
  return in;
}

// What both formats' JSON starts with: the inputs and their sizes.
nlohmann::ordered_json json_head(const MetricsArgs& a, size_t num_images, size_t num_detections) {
  nlohmann::ordered_json out;
  out["gt"] = a.gt;
  out["results"] = a.results;
  out["num_images"] = num_images;
  out["num_detections"] = num_detections;
  return out;
}

// The summary stats by name, at full precision.
template <size_t N>
nlohmann::ordered_json named_stats(const std::array<const char*, N>& names, const std::array<double, N>& stats) {
  nlohmann::ordered_json out = nlohmann::ordered_json::object();
  for (size_t i = 0; i < N; ++i) out[names[i]] = stats[i];
  return out;
}

void print_json(const nlohmann::ordered_json& out) {
  std::cout << out.dump(1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
}

void run_coco(const MetricsArgs& a) {
  const auto [gt, dets] = load_inputs(a, GtFormat::coco);
  auto t0 = std::chrono::steady_clock::now();
  const CocoEvalResult r = coco_evaluate(gt, dets, {a.img_ids, a.cat_ids});
  log_debug("metrics: evaluated in {:.3f} s", seconds_since(t0));
  if (!a.json) {
    std::cout << coco_summary_text(r);
    return;
  }
  nlohmann::ordered_json out = json_head(a, r.img_ids.size(), dets.size());
  out["stats"] = named_stats(coco_stat_names(), r.stats);
  nlohmann::ordered_json cats = nlohmann::ordered_json::array();
  for (const auto& c : r.per_category) cats.push_back({{"id", c.id}, {"name", c.name}, {"ap", c.ap}, {"ap50", c.ap50}});
  out["per_category"] = cats;
  print_json(out);
}

void run_lvis(const MetricsArgs& a) {
  const auto [gt, dets] = load_inputs(a, GtFormat::lvis);
  auto t0 = std::chrono::steady_clock::now();
  const LvisEvalResult r = lvis_evaluate(gt, dets, {{a.img_ids, a.cat_ids}, a.max_dets});
  log_debug("metrics: evaluated in {:.3f} s", seconds_since(t0));
  if (!a.json) {
    std::cout << lvis_summary_text(r);
    return;
  }
  nlohmann::ordered_json out = json_head(a, r.img_ids.size(), dets.size());
  out["max_dets"] = a.max_dets;
  out["stats"] = named_stats(lvis_stat_names(), r.stats);
  nlohmann::ordered_json cats = nlohmann::ordered_json::array();
  for (const auto& c : r.per_category)
    cats.push_back({{"id", c.id},
                    {"name", c.name},
                    {"frequency", std::string(1, c.frequency)},
                    {"ap", c.ap},
                    {"ap_all_areas", c.ap_all_areas}});
  out["per_category"] = cats;
  print_json(out);
}

// The options both subcommands share.
void add_common(CLI::App* cmd, MetricsArgs& a) {
  cmd->add_option("--gt", a.gt, "Ground-truth JSON (instances format)")->required();
  cmd->add_option("--results", a.results,
                  "Results JSON: [{\"image_id\", \"category_id\", \"bbox\": [x, y, w, h], \"score\"}, ...]")
      ->required();
  cmd->add_flag("--json", a.json, "Print one JSON object: stats at full precision and per-category AP");
  cmd->add_option("--img-ids", a.img_ids, "Evaluate only these image ids (params.imgIds; default: all)")
      ->delimiter(',');
  cmd->add_option("--cat-ids", a.cat_ids, "Evaluate only these category ids (params.catIds; default: all)")
      ->delimiter(',');
}

}  // namespace

void add_metrics_command(CLI::App& app) {
  static MetricsArgs coco_args, lvis_args;
  auto* cmd = app.add_subcommand("metrics", "Detection metrics: COCOeval (pycocotools) or LVISEval (lvis-api), bbox");
  cmd->require_subcommand(1);
  auto* coco = cmd->add_subcommand("coco", "pycocotools COCOeval(iouType='bbox'): the 12 summary stats");
  add_common(coco, coco_args);
  coco->callback([] { run_coco(coco_args); });
  auto* lvis = cmd->add_subcommand("lvis", "lvis-api LVISEval(iou_type='bbox'): AP, APr/APc/APf, AR@300, ...");
  add_common(lvis, lvis_args);
  lvis->add_option("--max-dets", lvis_args.max_dets, "Detections kept per image, all categories (LVISResults max_dets)")
      ->capture_default_str();
  lvis->callback([] { run_lvis(lvis_args); });
}

}  // namespace vrft::cli
