// visual_rft/eval/coco_eval.h: COCO-format ground truth and detection results, and the bbox
// COCOeval of pycocotools, reproduced to the last bit (pycocotools' cocoeval.py).
//
// Loading validates the input and throws FileError naming the file, the record (e.g.
// "annotations[17]", "results[3]") and what is wrong. Evaluation follows pycocotools'
// COCOeval(iouType="bbox") step by step: loadRes (result area = w*h, ids = index + 1,
// iscrowd 0), evaluateImg (stable score sort, top 100 per image and category, crowd IoU, the
// greedy matcher), accumulate (precision/recall arrays, envelope, searchsorted) and summarize
// (means in numpy's pairwise-summation order), all in double precision and in the same
// operation order, so the 12 stats equal pycocotools' bit for bit.
//
// Deviations, all on input pycocotools accepts silently or crashes on:
//   - in a results file, a category id the ground truth lacks is an error (pycocotools drops
//     such results, as coco_evaluate does for CocoDetection lists built in code), and so is an
//     unknown image id (pycocotools asserts; coco_evaluate throws Error);
//   - duplicate image, category or annotation ids, annotations on unknown images or
//     categories, negative box sizes and non-finite numbers are errors;
//   - a missing `iscrowd` counts as 0 (pycocotools raises KeyError);
//   - an empty results list evaluates as "no detections" (pycocotools raises IndexError).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace vrft {

// A box [x, y, w, h] in pixels, top-left origin, continuous coordinates (no +1).
struct BoxXYWH {
  double x = 0, y = 0, w = 0, h = 0;
};

// Which reader: LVIS ground truth additionally needs the federated fields of §2.2 (images:
// neg_category_ids, not_exhaustive_category_ids; categories: frequency).
enum class GtFormat { coco, lvis };

struct GtImage {
  int64_t id = 0;
  std::vector<int64_t> neg_category_ids;             // LVIS only; sorted, unique
  std::vector<int64_t> not_exhaustive_category_ids;  // LVIS only; sorted, unique
};

struct GtCategory {
  int64_t id = 0;
  std::string name;    // "" when the file has none
  char frequency = 0;  // LVIS: 'r', 'c' or 'f'; COCO: 0
};

struct GtAnnotation {
  int64_t id = 0;  // int64: COCO crowd ids are around 9e11; id 0 acts as "unmatched" (§1.4.6)
  int64_t image_id = 0;
  int64_t category_id = 0;
  BoxXYWH bbox;
  double area = 0;       // the file's `area` (segmentation area for COCO), not w*h
  bool iscrowd = false;  // COCO: crowd region (ignored, IoU over the detection's area)
  bool ignore = false;   // LVIS: the `ignore` field; COCO overwrites it with iscrowd
};

// A ground-truth file, in file order.
struct GroundTruth {
  std::string source;  // the path (or a name) used in error messages
  GtFormat format = GtFormat::coco;
  std::vector<GtImage> images;
  std::vector<GtCategory> categories;
  std::vector<GtAnnotation> annotations;
};

// One result {image_id, category_id, bbox, score}; the list keeps file order (ids and tie
// breaking depend on it).
struct CocoDetection {
  int64_t image_id = 0;
  int64_t category_id = 0;
  BoxXYWH bbox;
  double score = 0;
};

// Parses a ground-truth JSON document; `source` names it in errors. Throws FileError.
GroundTruth parse_ground_truth(const std::string& json_text, const std::string& source, GtFormat format);
GroundTruth load_ground_truth(const std::string& path, GtFormat format);

// Parses a results JSON array and checks it against `gt`: every image and category id must
// exist, boxes must have 4 finite numbers with w, h >= 0, scores must be finite.
std::vector<CocoDetection> parse_detections(const std::string& json_text, const std::string& source,
                                            const GroundTruth& gt);
std::vector<CocoDetection> load_detections(const std::string& path, const GroundTruth& gt);

// params.imgIds / params.catIds: empty means every image / category of the ground truth.
// The lists are sorted and de-duplicated (np.unique); an id the ground truth lacks is an error.
struct EvalFilter {
  std::vector<int64_t> img_ids;
  std::vector<int64_t> cat_ids;
};

// The exact threshold doubles of pycocotools' np.linspace, shared by COCO and LVIS.
constexpr int kNumIouThrs = 10;                              // T
constexpr int kNumRecThrs = 101;                             // R
constexpr int kNumAreaRngs = 4;                              // A: all, small, medium, large
const std::array<double, kNumIouThrs>& iou_thresholds();     // 0.5 : 0.05 : 0.95
const std::array<double, kNumRecThrs>& recall_thresholds();  // 0 : 0.01 : 1
// [lo, hi] in pixels², inclusive: all [0, 1e10], small [0, 32²], medium [32², 96²], large [96², 1e10]
const std::array<std::array<double, 2>, kNumAreaRngs>& area_ranges();
const std::array<const char*, kNumAreaRngs>& area_range_labels();  // all, small, medium, large

// Per-category AP as Visual-RFT's coco_evaluation.py computes it: the mean of
// the entries > -1 of precision[:, :, k, area all, maxDets 100] (ap) and of precision[0, ...]
// (ap50, IoU 0.5). -1 when the category has no (non-crowd) ground truth in the evaluated images.
struct CocoCategoryAp {
  int64_t id = 0;
  std::string name;
  double ap = -1;
  double ap50 = -1;
};

struct CocoEvalResult {
  static constexpr int kNumStats = 12;
  static constexpr int kNumMaxDets = 3;      // M: maxDets 1, 10, 100
  std::array<double, kNumStats> stats{};     // AP, AP50, AP75, APs, APm, APl, AR1, AR10, AR100, ARs, ARm, ARl
  std::vector<CocoCategoryAp> per_category;  // in cat_ids order
  std::vector<int64_t> img_ids;              // evaluated images, sorted
  std::vector<int64_t> cat_ids;              // evaluated categories, sorted (K)
  std::vector<double> precision;             // [T, R, K, A, M], C order; -1 where absent
  std::vector<double> recall;                // [T, K, A, M], C order; -1 where absent
};
// "AP", "AP50", ..., "ARl": the short names of the 12 stats (fixtures' expected_bbox_stats.json).
const std::array<const char*, CocoEvalResult::kNumStats>& coco_stat_names();

// COCOeval(gt, gt.loadRes(dets), "bbox") with params.imgIds/catIds from `filter`, then
// evaluate(), accumulate(), summarize().
CocoEvalResult coco_evaluate(const GroundTruth& gt, const std::vector<CocoDetection>& dets,
                             const EvalFilter& filter = {});

// The 12 lines pycocotools' summarize() prints, each ending in '\n'.
std::string coco_summary_text(const CocoEvalResult& r);

}  // namespace vrft
