// src/data/fewshot.cpp: seeded few-shot detection and classification sets (see the header).
#include "visual_rft/data/fewshot.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <random>
#include <set>
#include <unordered_map>

#include "visual_rft/core/error.h"
#include "visual_rft/core/fs.h"

namespace vrft {

namespace {

namespace fs = std::filesystem;

// Uniform in [0, n), n > 0, by rejection: std::uniform_int_distribution is not specified
// exactly and differs between standard libraries.
uint64_t draw_below(std::mt19937_64& rng, uint64_t n) {
  const uint64_t max = std::numeric_limits<uint64_t>::max();
  const uint64_t limit = max - max % n;  // a multiple of n
  uint64_t r;
  do {
    r = rng();
  } while (r >= limit);
  return r % n;
}

std::string trim(const std::string& s) {
  const size_t b = s.find_first_not_of(" \t\r");
  if (b == std::string::npos) return "";
  return s.substr(b, s.find_last_not_of(" \t\r") - b + 1);
}

}  // namespace

std::vector<size_t> seeded_choice(size_t n, size_t k, uint64_t seed, uint64_t stream) {
  std::seed_seq seq{static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32), static_cast<uint32_t>(stream),
                    static_cast<uint32_t>(stream >> 32)};
  std::mt19937_64 rng(seq);
  std::vector<size_t> idx(n);
  for (size_t i = 0; i < n; ++i) idx[i] = i;
  k = std::min(k, n);
  for (size_t i = 0; i < k; ++i) std::swap(idx[i], idx[i + draw_below(rng, n - i)]);
  idx.resize(k);
  return idx;
}

std::vector<std::string> read_category_names(const std::string& arg) {
  std::vector<std::string> out;
  if (arg == "all") return out;
  if (fs::is_regular_file(arg)) {
    std::ifstream in(arg);
    if (!in) throw FileError("category file '" + arg + "' cannot be opened");
    std::string line;
    while (std::getline(in, line)) {
      std::string name = trim(line);
      if (!name.empty() && name[0] != '#') out.push_back(name);
    }
    if (out.empty()) throw FileError("category file '" + arg + "' names no category");
    return out;
  }
  size_t start = 0;
  for (;;) {
    size_t comma = arg.find(',', start);
    std::string name = trim(arg.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
    if (!name.empty()) out.push_back(name);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  if (out.empty()) throw Error("--categories '" + arg + "' names no category (a file, a comma-separated list, or all)");
  return out;
}

std::array<int64_t, 4> box_to_unit1000(double x, double y, double w, double h, int64_t width, int64_t height,
                                       bool* widened) {
  std::array<int64_t, 4> b{to_unit1000(x, width), to_unit1000(y, height), to_unit1000(x + w, width),
                           to_unit1000(y + h, height)};
  if (widened) *widened = false;
  for (int lo : {0, 1}) {
    int64_t& a = b[lo];
    int64_t& c = b[lo + 2];
    if (c > a) continue;
    if (widened) *widened = true;
    if (a < 1000) {
      c = a + 1;
    } else {
      a = c - 1;
    }
  }
  return b;
}

FewShotSet build_detection_fewshot(const DetDataset& ds, const std::vector<std::string>& categories, int64_t shots,
                                   uint64_t seed, PromptStyle style) {
  if (shots <= 0) throw Error("shots must be positive, got " + std::to_string(shots));
  std::vector<const DetCategory*> cats;
  if (categories.empty()) {
    for (const auto& c : ds.categories) cats.push_back(&c);
  } else {
    std::vector<std::string> known;
    for (const auto& c : ds.categories) known.push_back(c.name);
    std::set<std::string> seen;
    for (const auto& name : categories) {
      const DetCategory* c = ds.find_category(name);
      if (!c) {
        std::string near = nearest(name, known);
        throw Error("category '" + name + "' is not in " + ds.source +
                    (near.empty() ? "" : " (did you mean '" + near + "'?)"));
      }
      if (!seen.insert(name).second) throw Error("category '" + name + "' is listed twice");
      cats.push_back(c);
    }
  }

  std::unordered_map<int64_t, const DetImage*> images;
  for (const auto& im : ds.images) images[im.id] = &im;
  // category id -> image id (sorted) -> its non-crowd annotations, in file order
  std::unordered_map<int64_t, std::map<int64_t, std::vector<const DetAnnotation*>>> by_cat;
  for (const auto& a : ds.annotations) {
    if (!a.iscrowd) by_cat[a.category_id][a.image_id].push_back(&a);
  }

  FewShotSet set;
  for (const DetCategory* c : cats) {
    FewShotClass fc{c->name, c->id};
    const auto& per_image = by_cat[c->id];
    std::vector<int64_t> candidates;
    for (const auto& kv : per_image) candidates.push_back(kv.first);
    fc.available = static_cast<int64_t>(candidates.size());
    for (size_t pick :
         seeded_choice(candidates.size(), static_cast<size_t>(shots), seed, static_cast<uint64_t>(c->id))) {
      const DetImage& im = *images.at(candidates[pick]);
      std::vector<std::array<int64_t, 4>> boxes;
      for (const DetAnnotation* a : per_image.at(im.id)) {
        bool widened = false;
        std::array<int64_t, 4> b = box_to_unit1000(a->x, a->y, a->w, a->h, im.width, im.height, &widened);
        set.widened_boxes += widened;
        // The rewards drop a prediction equal to an earlier one, so a repeated true box could
        // never be matched twice: write it once.
        if (std::find(boxes.begin(), boxes.end(), b) != boxes.end()) {
          ++set.merged_boxes;
          continue;
        }
        boxes.push_back(b);
      }
      Sample s;
      s.index = static_cast<int64_t>(set.rows.size());
      s.image = im.file;
      s.problem = detection_prompt(c->name, style);
      s.solution = detection_solution(boxes);
      set.rows.push_back(std::move(s));
      ++fc.chosen;
      fc.boxes += static_cast<int64_t>(boxes.size());
    }
    set.classes.push_back(std::move(fc));
  }
  return set;
}

FewShotSet build_classification_fewshot(const ClassificationList& list, int64_t shots, uint64_t seed,
                                        const std::string& subject) {
  if (shots <= 0) throw Error("shots must be positive, got " + std::to_string(shots));
  const std::string problem = classification_prompt(subject);
  std::vector<std::vector<const ClassificationItem*>> by_label(list.classnames.size());
  for (const auto& it : list.items) by_label[static_cast<size_t>(it.label)].push_back(&it);
  FewShotSet set;
  for (size_t label = 0; label < by_label.size(); ++label) {
    FewShotClass fc{list.classnames[label], static_cast<int64_t>(label)};
    const auto& items = by_label[label];
    fc.available = static_cast<int64_t>(items.size());
    for (size_t pick : seeded_choice(items.size(), static_cast<size_t>(shots), seed, label)) {
      Sample s;
      s.index = static_cast<int64_t>(set.rows.size());
      s.image = items[pick]->image;
      s.problem = problem;
      s.solution = classification_solution(list.classnames[label]);
      set.rows.push_back(std::move(s));
      ++fc.chosen;
    }
    set.classes.push_back(std::move(fc));
  }
  return set;
}

void write_fewshot_set(const FewShotSet& set, const std::string& out_dir, bool relative_paths,
                       const nlohmann::ordered_json& meta) {
  std::error_code ec;
  fs::create_directories(out_dir, ec);
  if (ec || !fs::is_directory(out_dir))
    throw FileError("output folder '" + out_dir + "' cannot be created: " + ec.message());
  const fs::path out_abs = fs::absolute(out_dir).lexically_normal();
  std::vector<Sample> rows = set.rows;
  for (auto& r : rows) {
    fs::path img = fs::absolute(r.image).lexically_normal();
    r.image = (relative_paths ? img.lexically_relative(out_abs) : img).string();
  }
  write_visual_rft_jsonl((out_abs / "train.jsonl").string(), rows);

  nlohmann::ordered_json summary = meta;
  summary["rows"] = rows.size();
  summary["paths"] = relative_paths ? "relative" : "absolute";
  summary["merged_boxes"] = set.merged_boxes;
  summary["widened_boxes"] = set.widened_boxes;
  nlohmann::ordered_json per = nlohmann::ordered_json::array();
  for (const auto& c : set.classes) {
    per.push_back(
        {{"name", c.name}, {"id", c.id}, {"available", c.available}, {"chosen", c.chosen}, {"boxes", c.boxes}});
  }
  summary["categories"] = per;
  write_file_atomic((out_abs / "summary.json").string(), summary.dump(2) + "\n");
}

}  // namespace vrft
