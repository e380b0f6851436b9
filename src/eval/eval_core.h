// src/eval/eval_core.h (private): the parts COCOeval and LVISEval share, on dense indices:
// grouping ground truths and detections into (category, image) cells, the per-cell greedy
// matcher (evaluateImg / evaluate_img), the per-category accumulation (accumulate) and numpy's
// mean. coco_eval.cpp and lvis_eval.cpp turn their files into these arrays, apply their own
// selection rules first, and read the results back out in their own array layouts.
//
// Why cells: pycocotools loops over every (category, area, image) triple and skips the empty
// ones (evaluateImg returns None). Only pairs with a ground truth or a detection can
// contribute, so grouping once by (category, image) visits exactly those, in the same
// category-major, image-ascending order, with vectors and no maps in the inner loops.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "visual_rft/eval/coco_eval.h"

namespace vrft::detail {

// One ground truth as the matcher sees it.
struct GtItem {
  BoxXYWH box;
  double area = 0;      // compared with the area ranges
  int64_t id = 0;       // id 0 acts as "unmatched" (pycocotools tests dtm != 0)
  bool crowd = false;   // IoU over the detection's area; may absorb many detections
  bool ignore = false;  // ignored whatever its area (COCO: iscrowd, LVIS: the ignore field)
};

// One detection as the matcher sees it.
struct DtItem {
  BoxXYWH box;
  double area = 0;  // w*h of the box (loadRes / LVISResults)
  double score = 0;
};

// A (category, image) pair with at least one ground truth or detection.
struct Cell {
  int32_t cat = 0;                    // index into the evaluated category ids (K)
  int32_t img = 0;                    // index into the evaluated image ids
  uint32_t gt_begin = 0, gt_end = 0;  // range of Cells::gt
  uint32_t dt_begin = 0, dt_end = 0;  // range of Cells::dt
  bool ignore_unmatched = false;      // LVIS: category not exhaustively annotated on the image
};

struct Cells {
  std::vector<Cell> cells;          // sorted by (cat, img)
  std::vector<uint32_t> gt;         // ground-truth indices; file order within a cell
  std::vector<uint32_t> dt;         // detection indices; score-descending (stable) within a cell
  std::vector<uint32_t> cat_begin;  // cells of category k: [cat_begin[k], cat_begin[k+1])
};

// Groups items by key = cat * num_imgs + img (key -1: not evaluated). Within a cell ground
// truths keep file order and detections are stably sorted by descending score, then cut to
// the first `max_det` (max_det < 0: no cut).
Cells make_cells(const std::vector<int64_t>& gt_key, const std::vector<int64_t>& dt_key, const std::vector<DtItem>& dts,
                 int num_cats, int num_imgs, int max_det);

// What one detection is at one IoU threshold after matching, for accumulate.
enum : uint8_t { kFalsePositive = 0, kTruePositive = 1, kIgnored = 2 };

struct Matches {
  // codes[a][p * T + t]: detection at position p of Cells::dt, area range a, threshold t.
  std::array<std::vector<uint8_t>, kNumAreaRngs> codes;
  // npig[a][c]: non-ignored ground truths of cell c in area range a.
  std::array<std::vector<int32_t>, kNumAreaRngs> npig;
};

// evaluateImg for every cell and area range. `crowd` enables COCO's crowd rule (a crowd GT
// may be matched again); LVIS passes false.
Matches match_cells(const Cells& cells, const std::vector<GtItem>& gts, const std::vector<DtItem>& dts, bool crowd);

// accumulate for one category: cells [c0, c1) of `cells`, for each area range and each
// entry of max_dets (per (image, category) cut; < 0: none). Outputs are indexed
// precision[((a * M + m) * T + t) * R + r] and recall[(a * M + m) * T + t] and stay -1
// where pycocotools leaves -1 (no cells, or no non-ignored GT).
void accumulate_category(const Cells& cells, uint32_t c0, uint32_t c1, const Matches& matches,
                         const std::vector<DtItem>& dts, const std::vector<int>& max_dets,
                         std::vector<double>* precision, std::vector<double>* recall);

// np.mean(x) of a contiguous float64 array: numpy's pairwise summation (blocks of 8
// accumulators up to 128 elements, halves above), then one division. -1 when x is empty
// (what summarize returns for an empty selection).
double numpy_mean_or_minus1(const std::vector<double>& x);

// Sorted, de-duplicated ids (np.unique).
std::vector<int64_t> unique_sorted(std::vector<int64_t> ids);
// The evaluated ids (params.imgIds / catIds): `wanted`, or every id of `all` when empty,
// sorted and de-duplicated; throws Error for a wanted id that `all` lacks.
std::vector<int64_t> resolve_ids(const std::vector<int64_t>& wanted, std::vector<int64_t> all, const char* what);
// Position of `id` in sorted `ids`, or -1.
int find_index(const std::vector<int64_t>& ids, int64_t id);

}  // namespace vrft::detail
