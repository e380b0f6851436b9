// src/eval/eval_inputs.cpp: the questions of `visual-rft eval` from a JSONL, a COCO/LVIS file
// or a classification list, and the existence-map selection (see the header).
#include "visual_rft/eval/eval_inputs.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <filesystem>
#include <set>

#include "visual_rft/core/error.h"
#include "visual_rft/core/fs.h"
#include "visual_rft/core/json_record.h"
#include "visual_rft/data/classification.h"
#include "visual_rft/data/coco.h"
#include "visual_rft/data/fewshot.h"
#include "visual_rft/data/task_prompts.h"
#include "visual_rft/eval/task_metrics.h"

namespace vrft {

namespace {

using json = nlohmann::json;
namespace fs = std::filesystem;

// The folder relative image paths of `file` start from: eval.images, else the file's folder.
std::string image_folder(const std::string& images, const std::string& file) {
  return images.empty() ? fs::path(file).parent_path().string() : images;
}

MissingImages missing_images(const Config& cfg) {
  return cfg.data.missing_images == OnMissingImage::skip ? MissingImages::skip : MissingImages::error;
}

// ---- eval.data: a Visual-RFT JSONL ----------------------------------------------------------------

EvalSet load_jsonl(const Config& cfg, int64_t limit) {
  EvalSet set;
  set.input = EvalInput::jsonl;
  set.source = cfg.eval.data;
  const Task task = cfg.data.task;
  std::vector<Sample> samples =
      load_visual_rft_jsonl(set.source, cfg.data.image_root, missing_images(cfg) == MissingImages::skip, &set.report);
  if (limit > 0 && static_cast<int64_t>(samples.size()) > limit) samples.resize(static_cast<size_t>(limit));
  for (Sample& s : samples) {
    EvalItem it;
    try {
      it.solution = parse_solution(task, s.solution);
    } catch (const Error& e) {
      throw Error(fmt::format("eval.data {}: sample {} ({}): {}", set.source, s.index, s.image, e.what()));
    }
    if (task == Task::det) {
      std::optional<std::string> c = detection_category(s.problem);
      if (!c) {
        throw Error(
            fmt::format("eval.data {}: sample {} ({}): the problem names no category: expected \"... the "
                        "category '<name>' ...\" as in the Visual-RFT detection prompt",
                        set.source, s.index, s.image));
      }
      it.category = *c;
    }
    it.sample = std::move(s);
    set.items.push_back(std::move(it));
  }
  set.info = {{"input", "jsonl"}, {"data", set.source}};
  return set;
}

// ---- eval.classification: a split list ------------------------------------------------------------

EvalSet load_classification(const Config& cfg, int64_t limit) {
  const EvalConfig& e = cfg.eval;
  EvalSet set;
  set.input = EvalInput::classification;
  set.source = e.classification;
  set.subject =
      e.subject == ClsSubject::automatic ? guess_classification_subject(e.classification) : choice_name(e.subject);
  if (set.subject.empty()) {
    throw ConfigError("config key 'eval.subject': the list's file name (" + e.classification +
                      ") suggests no subject: set it to aircraft, plant, flower, pet or car");
  }
  const ClassificationList list =
      load_classification_list(e.classification, e.classnames, e.images, missing_images(cfg), &set.report);
  // One prompt for the whole list: the reference asks every image the same question.
  const std::string prompt = eval_question(classification_prompt(set.subject));
  size_t n = list.items.size();
  if (limit > 0) n = std::min(n, static_cast<size_t>(limit));
  for (size_t i = 0; i < n; ++i) {
    const ClassificationItem& c = list.items[i];
    EvalItem it;
    it.sample.index = static_cast<int64_t>(i);
    it.sample.image = c.image;
    it.sample.problem = prompt;
    it.sample.solution = classification_solution(list.classnames[static_cast<size_t>(c.label)]);
    it.solution.task = Task::cls;
    it.solution.text = it.sample.solution;
    it.solution.label = list.classnames[static_cast<size_t>(c.label)];
    set.items.push_back(std::move(it));
  }
  set.info = {{"input", "classification"},  {"list", e.classification},
              {"classnames", e.classnames}, {"images", image_folder(e.images, e.classification)},
              {"subject", set.subject},     {"classes", list.classnames.size()}};
  return set;
}

// ---- eval.coco / eval.lvis ----------------------------------------------------------------------------

// The selected categories, by name, in the selection's order ("all": the file's order).
std::vector<SelectedCategory> select_categories(const DetDataset& ds, const std::string& arg) {
  std::vector<std::string> names;
  try {
    names = read_category_names(arg);
  } catch (const Error& e) {
    throw ConfigError(std::string("config key 'eval.categories': ") + e.what());
  }
  std::vector<SelectedCategory> out;
  if (names.empty()) {  // all
    for (const DetCategory& c : ds.categories) out.push_back({c.id, c.name, c.frequency});
    return out;
  }
  std::vector<std::string> known;
  for (const DetCategory& c : ds.categories) known.push_back(c.name);
  std::set<std::string> seen;
  for (const std::string& name : names) {
    const DetCategory* c = ds.find_category(name);
    if (!c) {
      const std::string near = nearest(name, known);
      throw ConfigError("config key 'eval.categories': category '" + name + "' is not in " + ds.source +
                        (near.empty() ? "" : " (did you mean '" + near + "'?)"));
    }
    if (!seen.insert(name).second) throw ConfigError("config key 'eval.categories': '" + name + "' is listed twice");
    out.push_back({c->id, c->name, c->frequency});
  }
  return out;
}

EvalSet load_detection_file(const Config& cfg, EvalInput input, int64_t limit) {
  const EvalConfig& e = cfg.eval;
  const bool lvis = input == EvalInput::lvis;
  EvalSet set;
  set.input = input;
  set.source = lvis ? e.lvis : e.coco;
  const std::string images = image_folder(e.images, set.source);
  DetLoadReport rep;
  DetDataset ds =
      load_detection_dataset(set.source, images, lvis ? DetFormat::lvis : DetFormat::coco, missing_images(cfg), &rep);
  // The scorer keeps its own reading (crowd, ignore and the LVIS federated fields); both
  // readers validate the same file, so the ids agree.
  set.gt = load_ground_truth(set.source, lvis ? GtFormat::lvis : GtFormat::coco);
  set.report = rep.images;
  if (limit > 0 && static_cast<int64_t>(ds.images.size()) > limit) ds.images.resize(static_cast<size_t>(limit));
  if (ds.images.empty()) throw Error(set.source + ": no image to evaluate");
  set.categories = select_categories(ds, e.categories);

  ExistMap map;
  if (!e.exist_map.empty()) map = load_exist_map(e.exist_map);
  std::vector<int64_t> image_ids;
  for (const DetImage& im : ds.images) image_ids.push_back(im.id);
  std::vector<std::string> names;
  for (const SelectedCategory& c : set.categories) names.push_back(c.name);
  set.selection = select_detection_queries(image_ids, names, e.exist_map.empty() ? nullptr : &map);

  // Non-crowd true boxes per (image, category): crowd regions are groups, not objects
  // (COCOeval ignores them), as in the few-shot training sets.
  std::unordered_map<int64_t, std::vector<const DetAnnotation*>> by_image;
  for (const DetAnnotation& a : ds.annotations)
    if (!a.iscrowd) by_image[a.image_id].push_back(&a);
  for (size_t k = 0; k < set.selection.queries.size(); ++k) {
    const DetQuery& q = set.selection.queries[k];
    const DetImage& im = ds.images[q.image];
    const SelectedCategory& c = set.categories[q.category];
    EvalItem it;
    it.sample.index = static_cast<int64_t>(k);
    it.sample.image = im.file;
    it.sample.problem = eval_question(detection_prompt(c.name, PromptStyle::eval));
    it.category = c.name;
    it.image_id = im.id;
    it.category_id = c.id;
    it.width = im.width;
    it.height = im.height;
    std::vector<std::array<int64_t, 4>> rounded;
    const double W = static_cast<double>(im.width), H = static_cast<double>(im.height);
    for (const DetAnnotation* a : by_image[im.id]) {
      if (a->category_id != c.id) continue;
      it.solution.boxes.push_back(
          {a->x / W * 1000, a->y / H * 1000, (a->x + a->w) / W * 1000, (a->y + a->h) / H * 1000});
      rounded.push_back(box_to_unit1000(a->x, a->y, a->w, a->h, im.width, im.height));
    }
    // The truth as a training row would hold it (0-1000 integers), for predictions.jsonl.
    it.sample.solution = detection_solution(rounded);
    it.solution.task = Task::det;
    it.solution.text = it.sample.solution;
    set.items.push_back(std::move(it));
  }
  set.selection.queries.clear();  // moved into items
  for (int64_t id : image_ids) set.img_ids.push_back(id);
  std::sort(set.img_ids.begin(), set.img_ids.end());

  json cats = json::array();
  for (const SelectedCategory& c : set.categories) cats.push_back(c.name);
  const QuerySelection& s = set.selection;
  set.info = {{"input", eval_input_name(input)},
              {"file", set.source},
              {"images", images},
              {"categories", cats},
              {"exist_map", e.exist_map.empty() ? json(nullptr) : json(e.exist_map)},
              {"images_in_file", rep.images.lines},
              {"images_evaluated", static_cast<int64_t>(image_ids.size())},
              {"questions", static_cast<int64_t>(set.items.size())},
              {"images_without_questions", s.images_without_queries}};
  if (!e.exist_map.empty()) {
    set.info["exist_map_pairs"] = s.map_pairs;
    set.info["exist_map_pairs_not_selected"] = s.map_pairs_not_selected;
    set.info["images_not_in_exist_map"] = s.images_not_in_map;
  }
  return set;
}

}  // namespace

// ---- existence maps ----------------------------------------------------------------------------------

ExistMap parse_exist_map(const std::string& text, const std::string& source) {
  json root;
  try {
    root = json::parse(text);
  } catch (const json::parse_error& e) {
    throw FileError(source + ": not valid JSON (byte " + std::to_string(e.byte) + "): " + e.what());
  }
  const std::string expected =
      "expected an existence map {\"<image id>\": [\"category name\", ...], ...} (Visual-RFT's coco_evaluation/ and "
      "lvis_evaluation/)";
  if (!root.is_object()) throw FileError(source + ": " + expected);
  ExistMap m;
  m.source = source;
  for (auto it = root.begin(); it != root.end(); ++it) {
    const std::string& key = it.key();
    // str(image_id) of the reference: decimal digits, no sign, no leading zero.
    int64_t id = -1;
    const char* end = key.data() + key.size();
    auto [p, ec] = std::from_chars(key.data(), end, id);
    if (key.empty() || ec != std::errc() || p != end || id < 0 || (key.size() > 1 && key[0] == '0'))
      throw FileError(source + ": key \"" + key + "\" is not an image id; " + expected);
    if (!it.value().is_array())
      throw FileError(source + ": \"" + key + "\": expected a list of category names, got " + it.value().type_name());
    std::vector<std::string> names;
    for (size_t i = 0; i < it.value().size(); ++i) {
      const json& v = it.value()[i];
      if (!v.is_string() || v.get_ref<const std::string&>().empty())
        throw FileError(source + ": \"" + key + "\"[" + std::to_string(i) + "]: expected a category name, got " +
                        json_excerpt(v));
      names.push_back(v.get<std::string>());
    }
    m.pairs += static_cast<int64_t>(names.size());
    m.names.emplace(id, std::move(names));
  }
  return m;
}

ExistMap load_exist_map(const std::string& path) { return parse_exist_map(read_file(path), path); }

QuerySelection select_detection_queries(const std::vector<int64_t>& image_ids, const std::vector<std::string>& selected,
                                        const ExistMap* map) {
  QuerySelection out;
  std::unordered_map<std::string, size_t> index;
  for (size_t c = 0; c < selected.size(); ++c) index.emplace(selected[c], c);
  for (size_t i = 0; i < image_ids.size(); ++i) {
    const size_t before = out.queries.size();
    if (!map) {
      for (size_t c = 0; c < selected.size(); ++c) out.queries.push_back({i, c});
    } else if (auto it = map->names.find(image_ids[i]); it == map->names.end()) {
      ++out.images_not_in_map;
    } else {
      // The reference's loop: the map's names in its order, skipping those not selected.
      for (const std::string& name : it->second) {
        ++out.map_pairs;
        auto c = index.find(name);
        if (c == index.end()) {
          ++out.map_pairs_not_selected;
          continue;
        }
        out.queries.push_back({i, c->second});
      }
    }
    out.images_without_queries += out.queries.size() == before;
  }
  if (map && !image_ids.empty() && out.images_not_in_map == static_cast<int64_t>(image_ids.size())) {
    throw Error("existence map " + map->source + " names none of the " + std::to_string(image_ids.size()) +
                " images (the map of another data set?)");
  }
  return out;
}

// ---- dispatch ------------------------------------------------------------------------------------------

const char* eval_input_name(EvalInput in) {
  switch (in) {
    case EvalInput::jsonl: return "jsonl";
    case EvalInput::coco: return "coco";
    case EvalInput::lvis: return "lvis";
    case EvalInput::classification: return "classification";
  }
  return "?";
}

EvalSet load_eval_set(const Config& cfg, int64_t limit) {
  const EvalConfig& e = cfg.eval;
  EvalSet set;
  if (!e.coco.empty()) {
    set = load_detection_file(cfg, EvalInput::coco, limit);
  } else if (!e.lvis.empty()) {
    set = load_detection_file(cfg, EvalInput::lvis, limit);
  } else if (!e.classification.empty()) {
    set = load_classification(cfg, limit);
  } else if (!e.data.empty()) {
    set = load_jsonl(cfg, limit);
  } else {
    throw ConfigError(
        "config key 'eval.data': no evaluation input: set eval.data (a Visual-RFT JSONL, e.g. --set "
        "eval.data=test.jsonl; to score the training set, give data.train's file), eval.coco or eval.lvis (with "
        "eval.categories), or eval.classification (with eval.classnames)");
  }
  if (set.items.empty()) throw Error(set.source + ": nothing to evaluate (no sample, or no question selected)");
  return set;
}

}  // namespace vrft
