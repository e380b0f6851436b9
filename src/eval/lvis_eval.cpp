// src/eval/lvis_eval.cpp: lvis-api's bbox LVISEval (lvis-api's eval.py): LVISResults' top-k per
// image, the federated _prepare, and summarize with the frequency groups, on the matcher and
// accumulation shared with COCOeval (eval_core.h).
#include "visual_rft/eval/lvis_eval.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <unordered_map>
#include <utility>

#include "eval_core.h"
#include "visual_rft/core/error.h"

namespace vrft {

const std::array<const char*, LvisEvalResult::kNumStats>& lvis_stat_names() {
  static const std::array<const char*, LvisEvalResult::kNumStats> n{
      "AP", "AP50", "AP75", "APs", "APm", "APl", "APr", "APc", "APf", "AR@300", "ARs@300", "ARm@300", "ARl@300"};
  return n;
}

namespace {

// LVISResults.limit_dets_per_image: for an image with more than max_dets results, only the
// first max_dets of sorted(..., key=score, reverse=True) (stable) survive. Returns a keep flag
// per detection.
std::vector<uint8_t> top_k_per_image(const std::vector<CocoDetection>& dets, int max_dets) {
  std::vector<uint8_t> keep(dets.size(), 1);
  if (max_dets < 0) return keep;
  std::vector<std::pair<int64_t, uint32_t>> by_img(dets.size());  // (image id, index): file order per image
  for (size_t i = 0; i < dets.size(); ++i) by_img[i] = {dets[i].image_id, static_cast<uint32_t>(i)};
  std::sort(by_img.begin(), by_img.end());
  std::vector<uint32_t> group;
  for (size_t b = 0; b < by_img.size();) {
    size_t e = b;
    while (e < by_img.size() && by_img[e].first == by_img[b].first) ++e;
    if (e - b > static_cast<size_t>(max_dets)) {
      group.clear();
      for (size_t i = b; i < e; ++i) group.push_back(by_img[i].second);
      std::stable_sort(group.begin(), group.end(),
                       [&](uint32_t x, uint32_t y) { return dets[x].score > dets[y].score; });
      for (size_t i = max_dets; i < group.size(); ++i) keep[group[i]] = 0;
    }
    b = e;
  }
  return keep;
}

bool contains(const std::vector<int64_t>& sorted_ids, int64_t id) {
  return std::binary_search(sorted_ids.begin(), sorted_ids.end(), id);
}

}  // namespace

LvisEvalResult lvis_evaluate(const GroundTruth& gt, const std::vector<CocoDetection>& dets, const LvisOptions& opt) {
  using namespace detail;
  constexpr int T = kNumIouThrs, R = kNumRecThrs, A = kNumAreaRngs;
  if (gt.format != GtFormat::lvis)
    throw Error(gt.source +
                ": LVIS evaluation needs the ground truth read as LVIS (neg_category_ids, "
                "not_exhaustive_category_ids, frequency)");
  LvisEvalResult res;
  std::vector<int64_t> all_imgs, all_cats;
  for (const auto& im : gt.images) all_imgs.push_back(im.id);
  for (const auto& c : gt.categories) all_cats.push_back(c.id);
  res.img_ids = resolve_ids(opt.filter.img_ids, all_imgs, "image");
  res.cat_ids = resolve_ids(opt.filter.cat_ids, all_cats, "category");
  all_imgs = unique_sorted(std::move(all_imgs));
  const int I = static_cast<int>(res.img_ids.size()), K = static_cast<int>(res.cat_ids.size());
  std::unordered_map<int64_t, const GtImage*> image_by_id;
  for (const auto& im : gt.images) image_by_id.emplace(im.id, &im);
  std::vector<const GtImage*> image(I);  // by evaluated image index
  for (int i = 0; i < I; ++i) image[i] = image_by_id.at(res.img_ids[i]);
  auto key = [&](int64_t img, int64_t cat) -> int64_t {
    const int i = find_index(res.img_ids, img), k = find_index(res.cat_ids, cat);
    return i < 0 || k < 0 ? -1 : static_cast<int64_t>(k) * I + i;
  };
  const double inf = std::numeric_limits<double>::infinity();

  // _prepare, ground truths: get_ann_ids(img_ids, cat_ids) keeps 0 < area < inf.
  std::vector<GtItem> gts(gt.annotations.size());
  std::vector<int64_t> gt_key(gt.annotations.size());
  for (size_t i = 0; i < gt.annotations.size(); ++i) {
    const GtAnnotation& a = gt.annotations[i];
    gts[i] = {a.bbox, a.area, a.id, /*crowd=*/false, a.ignore};
    gt_key[i] = a.area > 0 && a.area < inf ? key(a.image_id, a.category_id) : -1;
  }
  // The (category, image) pairs with a ground truth: img_pl of the federated filter.
  std::vector<int64_t> has_gt = gt_key;
  has_gt.erase(std::remove(has_gt.begin(), has_gt.end(), int64_t{-1}), has_gt.end());
  has_gt = unique_sorted(std::move(has_gt));

  // Detections: LVISResults' top-k per image and area = w*h, then the same area filter, then
  // the federated filter: keep only categories known absent (negative) or present on the image.
  const std::vector<uint8_t> keep = top_k_per_image(dets, opt.max_dets);
  std::vector<DtItem> dts(dets.size());
  std::vector<int64_t> dt_key(dets.size(), -1);
  for (size_t i = 0; i < dets.size(); ++i) {
    const CocoDetection& d = dets[i];
    if (find_index(all_imgs, d.image_id) < 0)  // LVISResults asserts this
      throw Error("detection " + std::to_string(i) + ": image_id " + std::to_string(d.image_id) +
                  " is not an image of the ground truth " + gt.source);
    dts[i] = {d.bbox, d.bbox.w * d.bbox.h, d.score};
    if (!keep[i] || !(dts[i].area > 0 && dts[i].area < inf)) continue;
    const int64_t k = key(d.image_id, d.category_id);
    if (k < 0) continue;
    if (contains(image[k % I]->neg_category_ids, d.category_id) || contains(has_gt, k)) dt_key[i] = k;
  }

  // evaluate: no per-cell cut; no crowd; unmatched detections of not-exhaustive categories
  // are ignored.
  Cells cells = make_cells(gt_key, dt_key, dts, K, I, /*max_det=*/-1);
  for (Cell& c : cells.cells)
    c.ignore_unmatched = contains(image[c.img]->not_exhaustive_category_ids, res.cat_ids[c.cat]);
  const Matches matches = match_cells(cells, gts, dts, /*crowd=*/false);

  // accumulate into precision [T, R, K, A] and recall [T, K, A].
  res.precision.assign(static_cast<size_t>(T) * R * K * A, -1.0);
  res.recall.assign(static_cast<size_t>(T) * K * A, -1.0);
  std::vector<double> p, rc;
  for (int k = 0; k < K; ++k) {
    accumulate_category(cells, cells.cat_begin[k], cells.cat_begin[k + 1], matches, dts, {-1}, &p, &rc);
    for (int a = 0; a < A; ++a)
      for (int t = 0; t < T; ++t) {
        const size_t src = static_cast<size_t>(a) * T + t;  // M = 1
        res.recall[(static_cast<size_t>(t) * K + k) * A + a] = rc[src];
        for (int r = 0; r < R; ++r) res.precision[((static_cast<size_t>(t) * R + r) * K + k) * A + a] = p[src * R + r];
      }
  }

  // summarize: means over the entries > -1 in numpy's C order of each slice.
  std::unordered_map<int64_t, const GtCategory*> cat_by_id;
  for (const auto& c : gt.categories) cat_by_id.emplace(c.id, &c);
  std::array<std::vector<int>, 3> freq_group;  // r, c, f: category indices, ascending
  for (int k = 0; k < K; ++k) {
    const char f = cat_by_id.at(res.cat_ids[k])->frequency;
    freq_group[f == 'r' ? 0 : f == 'c' ? 1 : 2].push_back(k);
  }
  std::vector<int> all_k(K);
  for (int k = 0; k < K; ++k) all_k[k] = k;
  const auto& thr = iou_thresholds();
  std::vector<double> v;
  auto ap = [&](double iou, int a, const std::vector<int>& ks) {
    v.clear();
    for (int t = 0; t < T; ++t) {
      if (iou >= 0 && thr[t] != iou) continue;  // np.where(iou_thr == iou_thrs)
      for (int r = 0; r < R; ++r)
        for (int k : ks) {
          const double x = res.precision[((static_cast<size_t>(t) * R + r) * K + k) * A + a];
          if (x > -1) v.push_back(x);
        }
    }
    return numpy_mean_or_minus1(v);
  };
  auto ar = [&](int a) {
    v.clear();
    for (int t = 0; t < T; ++t)
      for (int k = 0; k < K; ++k) {
        const double x = res.recall[(static_cast<size_t>(t) * K + k) * A + a];
        if (x > -1) v.push_back(x);
      }
    return numpy_mean_or_minus1(v);
  };
  res.stats = {ap(-1, 0, all_k),
               ap(.5, 0, all_k),
               ap(.75, 0, all_k),
               ap(-1, 1, all_k),
               ap(-1, 2, all_k),
               ap(-1, 3, all_k),
               ap(-1, 0, freq_group[0]),
               ap(-1, 0, freq_group[1]),
               ap(-1, 0, freq_group[2]),
               ar(0),
               ar(1),
               ar(2),
               ar(3)};

  for (int k = 0; k < K; ++k) {
    const GtCategory& gc = *cat_by_id.at(res.cat_ids[k]);
    LvisCategoryAp c{gc.id, gc.name, gc.frequency, -1, -1};
    for (int areas : {1, A}) {  // precision[:, :, k, 0], then precision[:, :, k, :]
      v.clear();
      for (int t = 0; t < T; ++t)
        for (int r = 0; r < R; ++r)
          for (int a = 0; a < areas; ++a) {
            const double x = res.precision[((static_cast<size_t>(t) * R + r) * K + k) * A + a];
            if (x > -1) v.push_back(x);
          }
      (areas == 1 ? c.ap : c.ap_all_areas) = numpy_mean_or_minus1(v);
    }
    res.per_category.push_back(std::move(c));
  }
  return res;
}

std::string lvis_summary_text(const LvisEvalResult& r) {
  // print_results(): " {:<18} {} @[ IoU={:<9} | area={:>6s} | maxDets={:>3d} catIds={:>3s}] = {:0.3f}",
  // with the IoU, area and category group read off the key as lvis-api does.
  const auto& thr = iou_thresholds();
  std::string out;
  char buf[192];
  for (int i = 0; i < LvisEvalResult::kNumStats; ++i) {
    const std::string key = lvis_stat_names()[i];
    const bool ap = key.find("AP") != std::string::npos;
    char iou[32];
    if (key.size() > 2 && key[2] >= '0' && key[2] <= '9')
      std::snprintf(iou, sizeof iou, "%0.2f", std::stod(key.substr(2)) / 100);
    else
      std::snprintf(iou, sizeof iou, "%0.2f:%0.2f", thr.front(), thr.back());
    const char c = key.size() > 2 ? key[2] : 0;
    const std::string group = c == 'r' || c == 'c' || c == 'f' ? std::string(1, c) : "all";
    const std::string area = c == 's' || c == 'm' || c == 'l' ? std::string(1, c) : "all";
    std::snprintf(buf, sizeof buf, " %-18s %s @[ IoU=%-9s | area=%6s | maxDets=%3d catIds=%3s] = %0.3f\n",
                  ap ? "Average Precision" : "Average Recall", ap ? "(AP)" : "(AR)", iou, area.c_str(), 300,
                  group.c_str(), r.stats[i]);
    out += buf;
  }
  return out;
}

}  // namespace vrft
