// visual_rft/eval/lvis_eval.h: the bbox LVISEval of lvis-api (lvis-api's eval.py), reproduced to the
// last bit, on ground truth read with GtFormat::lvis (coco_eval.h).
//
// What differs from COCOeval: LVISResults keeps the top 300 detections per image across all
// categories (stable sort by score); ground truths and detections with area <= 0 are dropped;
// there is no crowd handling (a GT matches once; its `ignore` field is honoured); a detection
// of category c on image i is dropped unless c is in neg_category_ids(i) or c has a GT on i
// (federated evaluation); unmatched detections of a category in
// not_exhaustive_category_ids(i) are ignored; no per-(image, category) cut; the arrays have
// no maxDets axis; and the summary adds APr, APc, APf by category frequency.
//
// Deviations are those of coco_eval.h (errors on unknown ids and malformed records; an empty
// results list evaluates as no detections, where lvis-api raises IndexError).
#pragma once

#include <array>
#include <string>
#include <vector>

#include "visual_rft/eval/coco_eval.h"

namespace vrft {

struct LvisOptions {
  EvalFilter filter;   // params.img_ids / params.cat_ids; empty: all
  int max_dets = 300;  // LVISResults(max_dets=...): per image, all categories; < 0: no limit
};

// Per-category AP. ap: mean of the entries > -1 of precision[:, :, k, area all], the slice
// APr/APc/APf average. ap_all_areas: of precision[:, :, k, :], all four area ranges, which is
// what Visual-RFT's LVIS notebook reports as a class's AP. -1 when the
// category has no ground truth in the evaluated images.
struct LvisCategoryAp {
  int64_t id = 0;
  std::string name;
  char frequency = 0;  // 'r', 'c' or 'f'
  double ap = -1;
  double ap_all_areas = -1;
};

struct LvisEvalResult {
  static constexpr int kNumStats = 13;
  // AP, AP50, AP75, APs, APm, APl, APr, APc, APf, AR@300, ARs@300, ARm@300, ARl@300
  std::array<double, kNumStats> stats{};
  std::vector<LvisCategoryAp> per_category;  // in cat_ids order
  std::vector<int64_t> img_ids;              // evaluated images, sorted
  std::vector<int64_t> cat_ids;              // evaluated categories, sorted (K)
  std::vector<double> precision;             // [T, R, K, A], C order; -1 where absent
  std::vector<double> recall;                // [T, K, A], C order; -1 where absent
};
// The keys of LVISEval.results, in order: "AP", ..., "AR@300", "ARs@300", "ARm@300", "ARl@300".
const std::array<const char*, LvisEvalResult::kNumStats>& lvis_stat_names();

// LVISEval(gt, LVISResults(gt, dets, max_dets), "bbox").run() with the params of `opt`.
// `gt` must have been read with GtFormat::lvis (the federated fields are needed).
LvisEvalResult lvis_evaluate(const GroundTruth& gt, const std::vector<CocoDetection>& dets,
                             const LvisOptions& opt = {});

// The 13 lines LVISEval.print_results() prints, each ending in '\n'.
std::string lvis_summary_text(const LvisEvalResult& r);

}  // namespace vrft
