// src/eval/coco_eval.cpp: reading COCO/LVIS ground truth and detection results with checks
// that name the file and the record, and the bbox COCOeval of pycocotools (pycocotools' cocoeval.py) on
// top of the shared matcher and accumulation of eval_core.h.
#include "visual_rft/eval/coco_eval.h"

#include <algorithm>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <limits>
#include <nlohmann/json.hpp>
#include <string_view>
#include <unordered_map>

#include "eval_core.h"
#include "visual_rft/core/error.h"
#include "visual_rft/core/fs.h"
#include "visual_rft/core/json_record.h"

namespace vrft {

namespace {

using nlohmann::json;

// The path (e.g. "annotations[17].bbox") of the value being read at byte `end` of a JSON
// text, for parse errors: a scan that tracks nesting, object keys and array positions.
std::string json_path_at(std::string_view text, size_t end) {
  struct Level {
    bool array;
    size_t index;     // arrays: position of the current element
    std::string key;  // objects: the current key
    bool want_key;    // objects: the next string is a key
  };
  std::vector<Level> st;
  std::string str;
  bool in_str = false, esc = false;
  for (size_t i = 0; i < end && i < text.size(); ++i) {
    const char ch = text[i];
    if (in_str) {
      if (esc)
        esc = false;
      else if (ch == '\\')
        esc = true;
      else if (ch == '"') {
        in_str = false;
        if (!st.empty() && !st.back().array && st.back().want_key) {
          st.back().key = str;
          st.back().want_key = false;
        }
      } else if (str.size() < 64)
        str += ch;
      continue;
    }
    if (ch == '"') {
      in_str = true;
      str.clear();
    } else if (ch == '{')
      st.push_back({false, 0, "", true});
    else if (ch == '[')
      st.push_back({true, 0, "", false});
    else if ((ch == '}' || ch == ']') && !st.empty())
      st.pop_back();
    else if (ch == ',' && !st.empty()) {
      if (st.back().array)
        ++st.back().index;
      else
        st.back().want_key = true;
    }
  }
  std::string path;
  for (const Level& l : st) {
    if (l.array)
      path += "[" + std::to_string(l.index) + "]";
    else if (!l.key.empty() && !l.want_key)
      path += (path.empty() ? "" : ".") + l.key;
  }
  return path;
}

// A SAX handler that builds the document like json::parse but skips the values of
// "segmentation" keys: polygons are most of a COCO/LVIS ground-truth file and bbox
// evaluation never reads them (LVIS v1 val is about 200 MB of them). nlohmann's own
// parser-callback filter does the same but is about 10x slower than a plain parse.
class SkipSegmentationSax {
 public:
  explicit SkipSegmentationSax(json& root) : dom_(root, /*allow_exceptions=*/true) {}
  bool null() { return skipped() || dom_.null(); }
  bool boolean(bool v) { return skipped() || dom_.boolean(v); }
  bool number_integer(json::number_integer_t v) { return skipped() || dom_.number_integer(v); }
  bool number_unsigned(json::number_unsigned_t v) { return skipped() || dom_.number_unsigned(v); }
  bool number_float(json::number_float_t v, const json::string_t& s) { return skipped() || dom_.number_float(v, s); }
  bool string(json::string_t& v) { return skipped() || dom_.string(v); }
  bool binary(json::binary_t& v) { return skipped() || dom_.binary(v); }
  bool start_object(std::size_t n) { return open() || dom_.start_object(n); }
  bool end_object() { return close() || dom_.end_object(); }
  bool start_array(std::size_t n) { return open() || dom_.start_array(n); }
  bool end_array() { return close() || dom_.end_array(); }
  bool key(json::string_t& k) {
    if (depth_ > 0) return true;
    if (k == "segmentation") return pending_ = true;
    return dom_.key(k);
  }
  template <class Exception>  // a template, so that the exact type (json::parse_error) is thrown
  bool parse_error(std::size_t pos, const std::string& token, const Exception& e) {
    return dom_.parse_error(pos, token, e);
  }

 private:
  // A scalar inside (or as) a skipped value.
  bool skipped() {
    if (depth_ > 0) return true;
    if (!pending_) return false;
    pending_ = false;
    return true;
  }
  bool open() {
    if (depth_ == 0 && !pending_) return false;
    pending_ = false;
    ++depth_;
    return true;
  }
  bool close() {
    if (depth_ == 0) return false;
    --depth_;
    return true;
  }
  nlohmann::detail::json_sax_dom_parser<json> dom_;
  int depth_ = 0;         // > 0: inside a skipped object or array
  bool pending_ = false;  // the next value belongs to a skipped key
};

// Parses JSON; a syntax error names the file, line, column and the record it is in.
json parse_json(const std::string& text, const std::string& source, const std::string& root, bool drop_segmentation) {
  try {
    if (!drop_segmentation) return json::parse(text);
    json j;
    SkipSegmentationSax sax(j);
    json::sax_parse(text, &sax);
    return j;
  } catch (const json::parse_error& e) {
    const std::string path = json_path_at(text, e.byte > 0 ? e.byte - 1 : 0);
    const std::string in =
        path.empty() ? "" : " (in " + root + (root.empty() || path[0] == '[' ? "" : ".") + path + ")";
    throw FileError(source + ": not valid JSON" + in + ": " + e.what());
  } catch (const json::exception& e) {  // e.g. out_of_range: a number such as 1e999
    throw FileError(source + ": not usable JSON: " + e.what());
  }
}

using Rec = JsonRecord;

const json& field(const json& obj, const char* key, const Rec& r) {
  auto it = obj.find(key);
  if (it == obj.end()) r.fail(std::string("missing \"") + key + "\"");
  return *it;
}

// An id: a JSON integer, or a float with an integral value (Python compares 42.0 == 42).
int64_t as_id(const json& v, const char* key, const Rec& r) {
  if (v.is_number_unsigned() && v.get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
    r.fail(std::string("\"") + key + "\" " + json_excerpt(v, 80) + " is out of the int64 range");
  if (v.is_number_integer()) return v.get<int64_t>();
  if (v.is_number_float()) {
    const double x = v.get<double>();
    if (std::isfinite(x) && x == std::floor(x) && std::fabs(x) < 9.2e18) return static_cast<int64_t>(x);
  }
  r.fail(std::string("\"") + key + "\" must be an integer, got " + json_excerpt(v, 80));
}

double as_number(const json& v, const char* key, const Rec& r) {
  if (!v.is_number()) r.fail(std::string("\"") + key + "\" must be a number, got " + json_excerpt(v, 80));
  const double x = v.get<double>();
  if (!std::isfinite(x)) r.fail(std::string("\"") + key + "\" must be finite, got " + json_excerpt(v, 80));
  return x;
}

// [x, y, w, h]: four finite numbers, w and h >= 0.
BoxXYWH as_box(const json& v, const Rec& r) {
  if (!v.is_array() || v.size() != 4) r.fail("\"bbox\" must be [x, y, w, h], got " + json_excerpt(v, 80));
  double x[4];
  for (int i = 0; i < 4; ++i) x[i] = as_number(v[i], "bbox", r);
  if (x[2] < 0 || x[3] < 0) r.fail("\"bbox\" " + json_excerpt(v, 80) + " has a negative width or height");
  return {x[0], x[1], x[2], x[3]};
}

// An optional 0/1 flag (iscrowd, ignore): true, false, 0 or 1.
bool as_flag(const json& obj, const char* key, const Rec& r) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return false;
  if (it->is_boolean()) return it->get<bool>();
  if (it->is_number() && (it->get<double>() == 0 || it->get<double>() == 1)) return it->get<double>() == 1;
  r.fail(std::string("\"") + key + "\" must be 0 or 1, got " + json_excerpt(*it, 80));
}

// A sorted, de-duplicated list of ids (LVIS neg_category_ids, not_exhaustive_category_ids).
std::vector<int64_t> as_id_list(const json& obj, const char* key, const Rec& r) {
  const json& v = field(obj, key, r);
  if (!v.is_array()) r.fail(std::string("\"") + key + "\" must be a list of ids, got " + json_excerpt(v, 80));
  std::vector<int64_t> ids;
  ids.reserve(v.size());
  for (const json& e : v) ids.push_back(as_id(e, key, r));
  return detail::unique_sorted(std::move(ids));
}

const json& as_object(const json& v, const Rec& r, const char* expected) {
  if (!v.is_object()) r.fail(std::string("expected an object ") + expected + ", got " + json_excerpt(v, 80));
  return v;
}

// Throws when `id` was already seen in this list; remembers it otherwise.
void check_unique(std::unordered_map<int64_t, size_t>& seen, int64_t id, size_t i, const char* what, const char* list,
                  const Rec& r) {
  auto [it, fresh] = seen.emplace(id, i);
  if (!fresh)
    r.fail(std::string("duplicate ") + what + " id " + std::to_string(id) + " (also " + list + "[" +
           std::to_string(it->second) + "])");
}

std::string rec_name(const char* list, size_t i) { return std::string(list) + "[" + std::to_string(i) + "]"; }

}  // namespace

GroundTruth parse_ground_truth(const std::string& text, const std::string& source, GtFormat format) {
  const json j = parse_json(text, source, "", true);
  if (!j.is_object())
    throw FileError(source + ": expected a JSON object with \"images\", \"annotations\" and \"categories\"");
  const bool lvis = format == GtFormat::lvis;
  auto list = [&](const char* key, bool required) -> const json* {
    auto it = j.find(key);
    if (it == j.end()) {
      if (required) throw FileError(source + ": missing the \"" + key + "\" list");
      return nullptr;
    }
    if (!it->is_array()) throw FileError(source + ": \"" + key + "\" must be a list, got " + json_excerpt(*it, 80));
    return &*it;
  };
  GroundTruth gt;
  gt.source = source;
  gt.format = format;
  std::unordered_map<int64_t, size_t> seen;
  const json& images = *list("images", true);
  gt.images.reserve(images.size());
  for (size_t i = 0; i < images.size(); ++i) {
    const Rec r{source, rec_name("images", i)};
    const json& o = as_object(images[i], r, "{id, ...}");
    GtImage im;
    im.id = as_id(field(o, "id", r), "id", r);
    check_unique(seen, im.id, i, "image", "images", r);
    if (lvis) {
      im.neg_category_ids = as_id_list(o, "neg_category_ids", r);
      im.not_exhaustive_category_ids = as_id_list(o, "not_exhaustive_category_ids", r);
    }
    gt.images.push_back(std::move(im));
  }
  seen.clear();
  const json& cats = *list("categories", true);
  for (size_t i = 0; i < cats.size(); ++i) {
    const Rec r{source, rec_name("categories", i)};
    const json& o = as_object(cats[i], r, "{id, name, ...}");
    GtCategory c;
    c.id = as_id(field(o, "id", r), "id", r);
    check_unique(seen, c.id, i, "category", "categories", r);
    if (auto it = o.find("name"); it != o.end() && it->is_string()) c.name = it->get<std::string>();
    if (lvis) {
      const json& f = field(o, "frequency", r);
      if (!f.is_string() || (f != "r" && f != "c" && f != "f"))
        r.fail("\"frequency\" must be \"r\", \"c\" or \"f\", got " + json_excerpt(f, 80));
      c.frequency = f.get_ref<const std::string&>()[0];
    }
    gt.categories.push_back(std::move(c));
  }
  std::vector<int64_t> img_ids, cat_ids;
  for (const auto& im : gt.images) img_ids.push_back(im.id);
  for (const auto& c : gt.categories) cat_ids.push_back(c.id);
  img_ids = detail::unique_sorted(std::move(img_ids));
  cat_ids = detail::unique_sorted(std::move(cat_ids));
  seen.clear();
  const json* anns = list("annotations", lvis);
  if (anns) gt.annotations.reserve(anns->size());
  for (size_t i = 0; anns && i < anns->size(); ++i) {
    const Rec r{source, rec_name("annotations", i)};
    const json& o = as_object((*anns)[i], r, "{id, image_id, category_id, bbox, area, ...}");
    GtAnnotation a;
    a.id = as_id(field(o, "id", r), "id", r);
    check_unique(seen, a.id, i, "annotation", "annotations", r);
    a.image_id = as_id(field(o, "image_id", r), "image_id", r);
    if (detail::find_index(img_ids, a.image_id) < 0)
      r.fail("image_id " + std::to_string(a.image_id) + " is not in \"images\"");
    a.category_id = as_id(field(o, "category_id", r), "category_id", r);
    if (detail::find_index(cat_ids, a.category_id) < 0)
      r.fail("category_id " + std::to_string(a.category_id) + " is not in \"categories\"");
    a.bbox = as_box(field(o, "bbox", r), r);
    a.area = as_number(field(o, "area", r), "area", r);
    a.iscrowd = as_flag(o, "iscrowd", r);
    a.ignore = as_flag(o, "ignore", r);
    gt.annotations.push_back(a);
  }
  return gt;
}

GroundTruth load_ground_truth(const std::string& path, GtFormat format) {
  return parse_ground_truth(read_file(path), path, format);
}

std::vector<CocoDetection> parse_detections(const std::string& text, const std::string& source, const GroundTruth& gt) {
  const json j = parse_json(text, source, "results", false);
  if (!j.is_array())
    throw FileError(source +
                    ": expected a JSON list of results [{\"image_id\", \"category_id\", \"bbox\", \"score\"}, ...]");
  std::vector<int64_t> img_ids, cat_ids;
  for (const auto& im : gt.images) img_ids.push_back(im.id);
  for (const auto& c : gt.categories) cat_ids.push_back(c.id);
  img_ids = detail::unique_sorted(std::move(img_ids));
  cat_ids = detail::unique_sorted(std::move(cat_ids));
  std::vector<CocoDetection> dets;
  dets.reserve(j.size());
  for (size_t i = 0; i < j.size(); ++i) {
    const Rec r{source, rec_name("results", i)};
    const json& o = as_object(j[i], r, "{image_id, category_id, bbox, score}");
    CocoDetection d;
    d.image_id = as_id(field(o, "image_id", r), "image_id", r);
    if (detail::find_index(img_ids, d.image_id) < 0)
      r.fail("image_id " + std::to_string(d.image_id) + " is not an image of the ground truth " + gt.source);
    d.category_id = as_id(field(o, "category_id", r), "category_id", r);
    if (detail::find_index(cat_ids, d.category_id) < 0)
      r.fail("category_id " + std::to_string(d.category_id) + " is not a category of the ground truth " + gt.source);
    d.bbox = as_box(field(o, "bbox", r), r);
    d.score = as_number(field(o, "score", r), "score", r);
    dets.push_back(d);
  }
  return dets;
}

std::vector<CocoDetection> load_detections(const std::string& path, const GroundTruth& gt) {
  return parse_detections(read_file(path), path, gt);
}

const std::array<const char*, CocoEvalResult::kNumStats>& coco_stat_names() {
  static const std::array<const char*, CocoEvalResult::kNumStats> n{"AP",  "AP50", "AP75",  "APs", "APm", "APl",
                                                                    "AR1", "AR10", "AR100", "ARs", "ARm", "ARl"};
  return n;
}

CocoEvalResult coco_evaluate(const GroundTruth& gt, const std::vector<CocoDetection>& dets, const EvalFilter& filter) {
  using namespace detail;
  constexpr int T = kNumIouThrs, R = kNumRecThrs, A = kNumAreaRngs, M = CocoEvalResult::kNumMaxDets;
  const std::vector<int> max_dets{1, 10, 100};
  CocoEvalResult res;
  std::vector<int64_t> all_imgs, all_cats;
  for (const auto& im : gt.images) all_imgs.push_back(im.id);
  for (const auto& c : gt.categories) all_cats.push_back(c.id);
  res.img_ids = resolve_ids(filter.img_ids, all_imgs, "image");
  res.cat_ids = resolve_ids(filter.cat_ids, all_cats, "category");
  all_imgs = unique_sorted(std::move(all_imgs));
  const int I = static_cast<int>(res.img_ids.size()), K = static_cast<int>(res.cat_ids.size());
  auto key = [&](int64_t img, int64_t cat) -> int64_t {
    const int i = find_index(res.img_ids, img), k = find_index(res.cat_ids, cat);
    return i < 0 || k < 0 ? -1 : static_cast<int64_t>(k) * I + i;
  };

  // _prepare: ground truths with ignore = iscrowd; loadRes: area = w*h, iscrowd 0.
  std::vector<GtItem> gts(gt.annotations.size());
  std::vector<int64_t> gt_key(gt.annotations.size());
  for (size_t i = 0; i < gt.annotations.size(); ++i) {
    const GtAnnotation& a = gt.annotations[i];
    gts[i] = {a.bbox, a.area, a.id, a.iscrowd, a.iscrowd};
    gt_key[i] = key(a.image_id, a.category_id);
  }
  std::vector<DtItem> dts(dets.size());
  std::vector<int64_t> dt_key(dets.size());
  for (size_t i = 0; i < dets.size(); ++i) {
    const CocoDetection& d = dets[i];
    if (find_index(all_imgs, d.image_id) < 0)  // loadRes asserts this
      throw Error("detection " + std::to_string(i) + ": image_id " + std::to_string(d.image_id) +
                  " is not an image of the ground truth " + gt.source);
    dts[i] = {d.bbox, d.bbox.w * d.bbox.h, d.score};
    dt_key[i] = key(d.image_id, d.category_id);
  }

  // evaluate: per (category, image) cell the top maxDets[-1] = 100 detections.
  const Cells cells = make_cells(gt_key, dt_key, dts, K, I, max_dets.back());
  const Matches matches = match_cells(cells, gts, dts, /*crowd=*/true);

  // accumulate into precision [T, R, K, A, M] and recall [T, K, A, M].
  res.precision.assign(static_cast<size_t>(T) * R * K * A * M, -1.0);
  res.recall.assign(static_cast<size_t>(T) * K * A * M, -1.0);
  std::vector<double> p, rc;
  for (int k = 0; k < K; ++k) {
    accumulate_category(cells, cells.cat_begin[k], cells.cat_begin[k + 1], matches, dts, max_dets, &p, &rc);
    for (int a = 0; a < A; ++a)
      for (int m = 0; m < M; ++m)
        for (int t = 0; t < T; ++t) {
          const size_t src = (static_cast<size_t>(a) * M + m) * T + t;
          res.recall[((static_cast<size_t>(t) * K + k) * A + a) * M + m] = rc[src];
          for (int r = 0; r < R; ++r)
            res.precision[(((static_cast<size_t>(t) * R + r) * K + k) * A + a) * M + m] = p[src * R + r];
        }
  }

  // summarize: means over the entries > -1, in numpy's C order of the selected slice.
  const auto& thr = iou_thresholds();
  auto iou_sel = [&](double iou) {  // np.where(iouThr == p.iouThrs); iou < 0: all
    std::vector<int> ts;
    for (int t = 0; t < T; ++t)
      if (iou < 0 || thr[t] == iou) ts.push_back(t);
    return ts;
  };
  std::vector<double> v;
  auto ap = [&](double iou, int a, int m) {
    v.clear();
    for (int t : iou_sel(iou))
      for (int r = 0; r < R; ++r)
        for (int k = 0; k < K; ++k) {
          const double x = res.precision[(((static_cast<size_t>(t) * R + r) * K + k) * A + a) * M + m];
          if (x > -1) v.push_back(x);
        }
    return numpy_mean_or_minus1(v);
  };
  auto ar = [&](int a, int m) {
    v.clear();
    for (int t = 0; t < T; ++t)
      for (int k = 0; k < K; ++k) {
        const double x = res.recall[((static_cast<size_t>(t) * K + k) * A + a) * M + m];
        if (x > -1) v.push_back(x);
      }
    return numpy_mean_or_minus1(v);
  };
  res.stats = {ap(-1, 0, 2), ap(.5, 0, 2), ap(.75, 0, 2), ap(-1, 1, 2), ap(-1, 2, 2), ap(-1, 3, 2),
               ar(0, 0),     ar(0, 1),     ar(0, 2),      ar(1, 2),     ar(2, 2),     ar(3, 2)};

  // Visual-RFT's per-class AP: precision[:, :, k, 0, -1] and precision[0, :, k, 0, -1].
  std::unordered_map<int64_t, const GtCategory*> by_id;
  for (const auto& c : gt.categories) by_id.emplace(c.id, &c);
  for (int k = 0; k < K; ++k) {
    CocoCategoryAp c;
    c.id = res.cat_ids[k];
    c.name = by_id.at(c.id)->name;
    for (int only_first : {0, 1}) {
      v.clear();
      for (int t = 0; t < (only_first ? 1 : T); ++t)
        for (int r = 0; r < R; ++r) {
          const double x = res.precision[(((static_cast<size_t>(t) * R + r) * K + k) * A + 0) * M + 2];
          if (x > -1) v.push_back(x);
        }
      (only_first ? c.ap50 : c.ap) = numpy_mean_or_minus1(v);
    }
    res.per_category.push_back(std::move(c));
  }
  return res;
}

std::string coco_summary_text(const CocoEvalResult& r) {
  // ' {:<18} {} @[ IoU={:<9} | area={:>6s} | maxDets={:>3d} ] = {:0.3f}', as summarize() prints.
  struct Line {
    bool ap;
    double iou;  // < 0: the whole range
    int area, max_det;
  };
  static const Line lines[CocoEvalResult::kNumStats] = {{true, -1, 0, 100},  {true, .5, 0, 100},  {true, .75, 0, 100},
                                                        {true, -1, 1, 100},  {true, -1, 2, 100},  {true, -1, 3, 100},
                                                        {false, -1, 0, 1},   {false, -1, 0, 10},  {false, -1, 0, 100},
                                                        {false, -1, 1, 100}, {false, -1, 2, 100}, {false, -1, 3, 100}};
  const auto& thr = iou_thresholds();
  std::string out;
  char buf[160];
  for (int i = 0; i < CocoEvalResult::kNumStats; ++i) {
    const Line& l = lines[i];
    char iou[32];
    if (l.iou < 0)
      std::snprintf(iou, sizeof iou, "%0.2f:%0.2f", thr.front(), thr.back());
    else
      std::snprintf(iou, sizeof iou, "%0.2f", l.iou);
    std::snprintf(buf, sizeof buf, " %-18s %s @[ IoU=%-9s | area=%6s | maxDets=%3d ] = %0.3f\n",
                  l.ap ? "Average Precision" : "Average Recall", l.ap ? "(AP)" : "(AR)", iou,
                  area_range_labels()[l.area], l.max_det, r.stats[i]);
    out += buf;
  }
  return out;
}

}  // namespace vrft
