// src/eval/eval_core.cpp: the matcher, accumulation and numpy helpers shared by COCOeval and
// LVISEval (eval_core.h). Every floating-point expression keeps pycocotools' operand order:
// the results are compared bit for bit with the Python packages.
#include "eval_core.h"

#include <algorithm>
#include <cstddef>
#include <numeric>
#include <utility>

#include "visual_rft/core/error.h"

namespace vrft {

namespace {

// np.linspace(start, stop, n): step = (stop - start) / (n - 1), y[i] = i * step + start
// rounded after each operation (no fused multiply-add), and the last element forced to stop.
template <size_t N>
std::array<double, N> numpy_linspace(double start, double stop) {
  std::array<double, N> y{};
  const double delta = stop - start;
  const double step = delta / static_cast<double>(N - 1);
  for (size_t i = 0; i < N; ++i) {
    volatile double scaled = static_cast<double>(i) * step;  // volatile: keep the two roundings
    y[i] = scaled + start;
  }
  y[N - 1] = stop;
  return y;
}

}  // namespace

const std::array<double, kNumIouThrs>& iou_thresholds() {
  static const auto t = numpy_linspace<kNumIouThrs>(0.5, 0.95);
  return t;
}

const std::array<double, kNumRecThrs>& recall_thresholds() {
  static const auto r = numpy_linspace<kNumRecThrs>(0.0, 1.0);
  return r;
}

const std::array<std::array<double, 2>, kNumAreaRngs>& area_ranges() {
  // [0 ** 2, 1e5 ** 2], [0 ** 2, 32 ** 2], [32 ** 2, 96 ** 2], [96 ** 2, 1e5 ** 2]
  static const std::array<std::array<double, 2>, kNumAreaRngs> r{
      {{0.0, 1e10}, {0.0, 1024.0}, {1024.0, 9216.0}, {9216.0, 1e10}}};
  return r;
}

const std::array<const char*, kNumAreaRngs>& area_range_labels() {
  static const std::array<const char*, kNumAreaRngs> l{"all", "small", "medium", "large"};
  return l;
}

namespace detail {

namespace {

constexpr int T = kNumIouThrs;
constexpr int R = kNumRecThrs;
constexpr int A = kNumAreaRngs;

// pycocotools' bbIou (maskApi.c) for one pair: continuous coordinates, IoU 0 unless the
// intersection has positive width and height; a crowd GT divides by the detection's area.
inline double box_iou(const BoxXYWH& d, const BoxXYWH& g, bool crowd) {
  const double da = d.w * d.h;
  const double ga = g.w * g.h;
  const double w = std::min(d.w + d.x, g.w + g.x) - std::max(d.x, g.x);
  if (w <= 0) return 0;
  const double h = std::min(d.h + d.y, g.h + g.y) - std::max(d.y, g.y);
  if (h <= 0) return 0;
  const double i = w * h;
  const double u = crowd ? da : da + ga - i;
  return i / u;
}

// numpy's DOUBLE_pairwise_sum over x[0, n).
double pairwise_sum(const double* x, size_t n) {
  if (n < 8) {
    double res = 0.;
    for (size_t i = 0; i < n; ++i) res += x[i];
    return res;
  }
  if (n <= 128) {
    double r[8];
    for (int j = 0; j < 8; ++j) r[j] = x[j];
    size_t i = 8;
    for (; i < n - (n % 8); i += 8)
      for (int j = 0; j < 8; ++j) r[j] += x[i + j];
    double res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
    for (; i < n; ++i) res += x[i];
    return res;
  }
  size_t n2 = n / 2;
  n2 -= n2 % 8;
  return pairwise_sum(x, n2) + pairwise_sum(x + n2, n - n2);
}

}  // namespace

double numpy_mean_or_minus1(const std::vector<double>& x) {
  if (x.empty()) return -1;
  return pairwise_sum(x.data(), x.size()) / static_cast<double>(x.size());
}

std::vector<int64_t> unique_sorted(std::vector<int64_t> ids) {
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  return ids;
}

int find_index(const std::vector<int64_t>& ids, int64_t id) {
  auto it = std::lower_bound(ids.begin(), ids.end(), id);
  return it != ids.end() && *it == id ? static_cast<int>(it - ids.begin()) : -1;
}

// The evaluated ids: `wanted` (or every id of the ground truth) sorted and de-duplicated;
// an id the ground truth lacks is an error.
std::vector<int64_t> resolve_ids(const std::vector<int64_t>& wanted, std::vector<int64_t> all, const char* what) {
  all = unique_sorted(std::move(all));
  if (wanted.empty()) return all;
  std::vector<int64_t> ids = unique_sorted(wanted);
  for (int64_t id : ids)
    if (find_index(all, id) < 0)
      throw Error(std::string("evaluation filter: ") + what + " id " + std::to_string(id) +
                  " is not in the ground truth");
  return ids;
}

Cells make_cells(const std::vector<int64_t>& gt_key, const std::vector<int64_t>& dt_key, const std::vector<DtItem>& dts,
                 int num_cats, int num_imgs, int max_det) {
  // (key, index) pairs sorted by key then index: file order within a key.
  auto keyed = [](const std::vector<int64_t>& keys) {
    std::vector<std::pair<int64_t, uint32_t>> v;
    v.reserve(keys.size());
    for (size_t i = 0; i < keys.size(); ++i)
      if (keys[i] >= 0) v.emplace_back(keys[i], static_cast<uint32_t>(i));
    std::sort(v.begin(), v.end());
    return v;
  };
  const auto g = keyed(gt_key), d = keyed(dt_key);
  Cells out;
  out.gt.reserve(g.size());
  out.dt.reserve(d.size());
  out.cat_begin.assign(static_cast<size_t>(num_cats) + 1, 0);
  size_t gi = 0, di = 0;
  while (gi < g.size() || di < d.size()) {
    const int64_t key = gi == g.size()   ? d[di].first
                        : di == d.size() ? g[gi].first
                                         : std::min(g[gi].first, d[di].first);
    Cell c;
    c.cat = static_cast<int32_t>(key / num_imgs);
    c.img = static_cast<int32_t>(key % num_imgs);
    c.gt_begin = static_cast<uint32_t>(out.gt.size());
    for (; gi < g.size() && g[gi].first == key; ++gi) out.gt.push_back(g[gi].second);
    c.gt_end = static_cast<uint32_t>(out.gt.size());
    c.dt_begin = static_cast<uint32_t>(out.dt.size());
    for (; di < d.size() && d[di].first == key; ++di) out.dt.push_back(d[di].second);
    // np.argsort(-score, kind="mergesort"): stable, highest score first; then dt[:maxDet].
    std::stable_sort(out.dt.begin() + c.dt_begin, out.dt.end(),
                     [&](uint32_t a, uint32_t b) { return dts[a].score > dts[b].score; });
    if (max_det >= 0 && out.dt.size() - c.dt_begin > static_cast<size_t>(max_det)) out.dt.resize(c.dt_begin + max_det);
    c.dt_end = static_cast<uint32_t>(out.dt.size());
    out.cells.push_back(c);
    ++out.cat_begin[c.cat + 1];
  }
  std::partial_sum(out.cat_begin.begin(), out.cat_begin.end(), out.cat_begin.begin());
  return out;
}

Matches match_cells(const Cells& cs, const std::vector<GtItem>& gts, const std::vector<DtItem>& dts, bool crowd) {
  const auto& thr = iou_thresholds();
  const auto& rng = area_ranges();
  Matches out;
  for (int a = 0; a < A; ++a) {
    out.codes[a].assign(cs.dt.size() * T, kFalsePositive);
    out.npig[a].assign(cs.cells.size(), 0);
  }
  // Scratch, reused across cells. Suffix s_: ground truths in the sorted (non-ignored
  // first) order of one area range.
  std::vector<double> iou;
  std::vector<uint32_t> order;
  std::vector<uint8_t> ig, s_ig, s_crowd, s_counts, taken, dt_out;
  for (size_t ci = 0; ci < cs.cells.size(); ++ci) {
    const Cell& c = cs.cells[ci];
    const uint32_t G = c.gt_end - c.gt_begin, D = c.dt_end - c.dt_begin;
    const uint32_t* gidx = cs.gt.data() + c.gt_begin;
    const uint32_t* didx = cs.dt.data() + c.dt_begin;
    // IoU [D, G]: detections in score order, ground truths in file order.
    iou.resize(static_cast<size_t>(D) * G);
    for (uint32_t d = 0; d < D; ++d)
      for (uint32_t g = 0; g < G; ++g)
        iou[static_cast<size_t>(d) * G + g] = box_iou(dts[didx[d]].box, gts[gidx[g]].box, crowd && gts[gidx[g]].crowd);
    for (int a = 0; a < A; ++a) {
      const double lo = rng[a][0], hi = rng[a][1];
      // _ignore, then np.argsort(_ignore, kind="mergesort"): non-ignored first, stable.
      ig.resize(G);
      order.clear();
      for (uint32_t g = 0; g < G; ++g) {
        const GtItem& gt = gts[gidx[g]];
        ig[g] = gt.ignore || gt.area < lo || gt.area > hi;
        if (!ig[g]) order.push_back(g);
      }
      out.npig[a][ci] = static_cast<int32_t>(order.size());
      for (uint32_t g = 0; g < G; ++g)
        if (ig[g]) order.push_back(g);
      s_ig.resize(G);
      s_crowd.resize(G);
      s_counts.resize(G);
      for (uint32_t j = 0; j < G; ++j) {
        const GtItem& gt = gts[gidx[order[j]]];
        s_ig[j] = ig[order[j]];
        s_crowd[j] = crowd && gt.crowd;
        s_counts[j] = gt.id != 0;  // dtm = gt id: a match on id 0 reads as no match
      }
      // Unmatched detections outside the area range (LVIS: or of a not-exhaustive category)
      // are ignored.
      dt_out.resize(D);
      for (uint32_t d = 0; d < D; ++d) {
        const double area = dts[didx[d]].area;
        dt_out[d] = c.ignore_unmatched || area < lo || area > hi;
      }
      uint8_t* codes = out.codes[a].data() + static_cast<size_t>(c.dt_begin) * T;
      for (int t = 0; t < T; ++t) {
        taken.assign(G, 0);
        for (uint32_t d = 0; d < D; ++d) {
          // The greedy matcher: best IoU >= threshold, ties to the later GT, and once matched
          // to a non-ignored GT the ignored ones (sorted last) are not considered.
          double best = std::min(thr[t], 1 - 1e-10);
          int m = -1;
          const double* row = iou.data() + static_cast<size_t>(d) * G;
          for (uint32_t j = 0; j < G; ++j) {
            if (taken[j] && !s_crowd[j]) continue;
            if (m > -1 && !s_ig[m] && s_ig[j]) break;
            const double v = row[order[j]];
            if (v < best) continue;
            best = v;
            m = static_cast<int>(j);
          }
          uint8_t code;
          if (m == -1) {
            code = dt_out[d] ? kIgnored : kFalsePositive;
          } else {
            taken[m] = 1;
            if (s_counts[m])
              code = s_ig[m] ? kIgnored : kTruePositive;
            else
              code = (s_ig[m] || dt_out[d]) ? kIgnored : kFalsePositive;
          }
          codes[static_cast<size_t>(d) * T + t] = code;
        }
      }
    }
  }
  return out;
}

void accumulate_category(const Cells& cs, uint32_t c0, uint32_t c1, const Matches& matches,
                         const std::vector<DtItem>& dts, const std::vector<int>& max_dets,
                         std::vector<double>* precision, std::vector<double>* recall) {
  const size_t M = max_dets.size();
  precision->assign(A * M * T * R, -1.0);
  recall->assign(A * M * T, -1.0);
  if (c0 == c1) return;  // every evalImg of the category is None
  const auto& rec_thrs = recall_thresholds();
  // The category's detections are contiguous in Cells::dt, in concatenation order (image
  // order, then score order within the image). rank: position within its cell.
  const uint32_t p0 = cs.cells[c0].dt_begin, p1 = cs.cells[c1 - 1].dt_end, n = p1 - p0;
  std::vector<uint32_t> rank(n), sorted(n);
  std::vector<double> score(n);
  for (uint32_t c = c0; c < c1; ++c)
    for (uint32_t p = cs.cells[c].dt_begin; p < cs.cells[c].dt_end; ++p) rank[p - p0] = p - cs.cells[c].dt_begin;
  for (uint32_t i = 0; i < n; ++i) score[i] = dts[cs.dt[p0 + i]].score;
  std::iota(sorted.begin(), sorted.end(), 0u);
  // np.argsort(-dtScores, kind="mergesort"): ties keep the concatenation order.
  std::stable_sort(sorted.begin(), sorted.end(), [&](uint32_t a, uint32_t b) { return score[a] > score[b]; });

  std::vector<uint32_t> list;
  std::vector<double> rc, pr;
  const double eps = 2.220446049250313e-16;  // np.spacing(1)
  for (size_t m = 0; m < M; ++m) {
    // The detections that survive dtScores[0:maxDet] per image; a cut keeps the sorted order.
    list.clear();
    for (uint32_t i : sorted)
      if (max_dets[m] < 0 || rank[i] < static_cast<uint32_t>(max_dets[m])) list.push_back(i);
    const size_t nd = list.size();
    for (int a = 0; a < A; ++a) {
      int64_t npig = 0;
      for (uint32_t c = c0; c < c1; ++c) npig += matches.npig[a][c];
      if (npig == 0) continue;
      const uint8_t* codes = matches.codes[a].data() + static_cast<size_t>(p0) * T;
      for (int t = 0; t < T; ++t) {
        rc.resize(nd);
        pr.resize(nd);
        double tp = 0, fp = 0;  // cumsum(tps), cumsum(fps) as float
        for (size_t i = 0; i < nd; ++i) {
          const uint8_t code = codes[static_cast<size_t>(list[i]) * T + t];
          if (code == kTruePositive)
            tp += 1;
          else if (code == kFalsePositive)
            fp += 1;
          rc[i] = tp / static_cast<double>(npig);
          pr[i] = tp / (fp + tp + eps);
        }
        const size_t base = (a * M + m) * T + t;
        (*recall)[base] = nd ? rc[nd - 1] : 0;
        // Monotone envelope: precision at i is the best precision at any recall >= rc[i].
        for (size_t i = nd - (nd ? 1 : 0); i > 0; --i)
          if (pr[i] > pr[i - 1]) pr[i - 1] = pr[i];
        // q[r] = pr[searchsorted(rc, recThrs[r], side="left")], 0 once past the end.
        double* q = precision->data() + base * R;
        size_t i = 0;
        for (int r = 0; r < R; ++r) {
          while (i < nd && rc[i] < rec_thrs[r]) ++i;
          q[r] = i < nd ? pr[i] : 0.0;
        }
      }
    }
  }
}

}  // namespace detail
}  // namespace vrft
