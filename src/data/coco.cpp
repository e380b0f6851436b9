// src/data/coco.cpp: the COCO instances / LVIS reader for training sets (see the header).
#include "visual_rft/data/coco.h"

#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <unordered_map>
#include <unordered_set>

#include "visual_rft/core/error.h"
#include "visual_rft/core/fs.h"
#include "visual_rft/core/json_record.h"

namespace vrft {

namespace {

using json = nlohmann::json;
namespace fs = std::filesystem;

// One record being read ("annotations[17]" of a file) with the typed reads its fields need.
struct CocoRecord : JsonRecord {
  const json& field(const json& obj, const char* key) const {
    auto it = obj.find(key);
    if (it == obj.end()) fail(std::string("missing field \"") + key + "\"");
    return *it;
  }
  int64_t integer(const json& obj, const char* key) const {
    const json& v = field(obj, key);
    if (!v.is_number_integer()) fail(std::string("\"") + key + "\" must be an integer, got " + json_excerpt(v));
    return v.get<int64_t>();
  }
  double number(const json& v, const std::string& what) const {
    if (!v.is_number()) fail(what + " must be a number, got " + json_excerpt(v));
    double d = v.get<double>();
    if (!std::isfinite(d)) fail(what + " must be finite, got " + json_excerpt(v));
    return d;
  }
  std::string string(const json& obj, const char* key) const {
    const json& v = field(obj, key);
    if (!v.is_string() || v.get_ref<const std::string&>().empty()) {
      fail(std::string("\"") + key + "\" must be a non-empty string, got " + json_excerpt(v));
    }
    return v.get<std::string>();
  }
};

const json& list(const json& root, const char* key, const std::string& source) {
  auto it = root.find(key);
  if (it == root.end())
    throw FileError(source + ": missing the \"" + key + "\" list (expected COCO/LVIS instances JSON)");
  if (!it->is_array()) throw FileError(source + ": \"" + key + "\" must be a list, got " + json_excerpt(*it));
  return *it;
}

// The image file of images[i], relative to image_dir, and a second place to look (LVIS: the
// file straight under image_dir), empty when there is none.
std::pair<fs::path, fs::path> image_relpath(const json& im, const CocoRecord& r, DetFormat format) {
  if (format == DetFormat::coco) return {fs::path(r.string(im, "file_name")), {}};
  if (!im.contains("coco_url")) return {fs::path(r.string(im, "file_name")), {}};
  const std::string url = r.string(im, "coco_url");
  const size_t slash = url.rfind('/');
  const std::string name = slash == std::string::npos ? url : url.substr(slash + 1);
  if (name.empty()) r.fail("\"coco_url\" does not end with a file name: " + url);
  if (slash == std::string::npos || slash == 0) return {fs::path(name), {}};
  const size_t prev = url.rfind('/', slash - 1);
  const std::string split =
      url.substr(prev == std::string::npos ? 0 : prev + 1, slash - (prev == std::string::npos ? 0 : prev + 1));
  if (split.empty()) return {fs::path(name), {}};
  return {fs::path(split) / name, fs::path(name)};
}

}  // namespace

const DetCategory* DetDataset::find_category(std::string_view name) const {
  for (const auto& c : categories) {
    if (c.name == name) return &c;
  }
  return nullptr;
}

DetDataset parse_detection_dataset(const std::string& json_text, const std::string& source,
                                   const std::string& image_dir, DetFormat format, MissingImages missing,
                                   DetLoadReport* report) {
  json root;
  try {
    // Dropping "segmentation" while parsing keeps a 450 MB train2017 file to a fraction of
    // the memory a full DOM would take.
    json::parser_callback_t drop_segmentation = [](int, json::parse_event_t event, json& parsed) {
      return !(event == json::parse_event_t::key && parsed == "segmentation");
    };
    root = json::parse(json_text, drop_segmentation);
  } catch (const json::parse_error& e) {
    throw FileError(source + ": not valid JSON (byte " + std::to_string(e.byte) + "): " + e.what());
  } catch (const json::exception& e) {  // e.g. out_of_range: a number such as 1e999
    throw FileError(source + ": not usable JSON: " + e.what());
  }
  if (!root.is_object())
    throw FileError(source + ": expected a JSON object with \"images\", \"annotations\" and \"categories\"");

  DetDataset ds;
  ds.source = source;
  ds.format = format;
  DetLoadReport rep;

  const json& cats = list(root, "categories", source);
  std::unordered_map<int64_t, size_t> cat_index;
  std::unordered_set<std::string> cat_names;
  for (size_t i = 0; i < cats.size(); ++i) {
    CocoRecord r{{source, "categories[" + std::to_string(i) + "]"}};
    if (!cats[i].is_object()) r.fail("expected an object {id, name, ...}, got " + json_excerpt(cats[i]));
    DetCategory c;
    c.id = r.integer(cats[i], "id");
    c.name = r.string(cats[i], "name");
    if (auto f = cats[i].find("frequency"); f != cats[i].end()) {
      if (!f->is_string() || f->get_ref<const std::string&>().size() != 1 ||
          std::string("rcf").find(f->get_ref<const std::string&>()[0]) == std::string::npos) {
        r.fail("\"frequency\" must be \"r\", \"c\" or \"f\", got " + json_excerpt(*f));
      }
      c.frequency = f->get_ref<const std::string&>()[0];
    }
    if (!cat_index.emplace(c.id, ds.categories.size()).second) r.fail("duplicate category id " + std::to_string(c.id));
    if (!cat_names.insert(c.name).second) r.fail("duplicate category name '" + c.name + "'");
    ds.categories.push_back(std::move(c));
  }

  const json& imgs = list(root, "images", source);
  std::unordered_map<int64_t, bool> image_kept;  // id -> kept
  for (size_t i = 0; i < imgs.size(); ++i) {
    ++rep.images.lines;
    CocoRecord r{{source, "images[" + std::to_string(i) + "]"}};
    if (!imgs[i].is_object())
      r.fail("expected an object {id, file_name, width, height, ...}, got " + json_excerpt(imgs[i]));
    DetImage im;
    im.id = r.integer(imgs[i], "id");
    r.where += " (id " + std::to_string(im.id) + ")";
    im.width = r.integer(imgs[i], "width");
    im.height = r.integer(imgs[i], "height");
    if (im.width <= 0 || im.height <= 0) {
      r.fail("width and height must be positive, got " + std::to_string(im.width) + "x" + std::to_string(im.height));
    }
    auto [rel, alt] = image_relpath(imgs[i], r, format);
    fs::path file = fs::path(image_dir) / rel;
    bool exists = fs::exists(file);
    if (!exists && !alt.empty() && fs::exists(fs::path(image_dir) / alt)) {
      file = fs::path(image_dir) / alt;
      exists = true;
    }
    im.file = file.string();
    im.exists = exists;
    if (image_kept.count(im.id)) r.fail("duplicate image id " + std::to_string(im.id));
    if (!exists) {
      if (missing == MissingImages::error) {
        r.fail("image '" + im.file + "' does not exist (missing images: error; skip drops them, keep keeps them)");
      }
      ++rep.images.missing_images;
      if (missing == MissingImages::skip) {
        image_kept[im.id] = false;
        continue;
      }
    }
    image_kept[im.id] = true;
    ds.images.push_back(std::move(im));
  }
  rep.images.kept = static_cast<int64_t>(ds.images.size());

  const json& anns = list(root, "annotations", source);
  std::unordered_set<int64_t> ann_ids;
  for (size_t i = 0; i < anns.size(); ++i) {
    CocoRecord r{{source, "annotations[" + std::to_string(i) + "]"}};
    const json& a = anns[i];
    if (!a.is_object()) r.fail("expected an object {id, image_id, category_id, bbox, ...}, got " + json_excerpt(a));
    DetAnnotation an;
    an.id = r.integer(a, "id");
    r.where += " (id " + std::to_string(an.id) + ")";
    if (!ann_ids.insert(an.id).second) r.fail("duplicate annotation id " + std::to_string(an.id));
    an.image_id = r.integer(a, "image_id");
    an.category_id = r.integer(a, "category_id");
    auto img = image_kept.find(an.image_id);
    if (img == image_kept.end()) r.fail("unknown image_id " + std::to_string(an.image_id) + " (not in \"images\")");
    if (!cat_index.count(an.category_id)) {
      r.fail("unknown category_id " + std::to_string(an.category_id) + " (not in \"categories\")");
    }
    const json& b = r.field(a, "bbox");
    if (!b.is_array() || b.size() != 4) r.fail("\"bbox\" must be [x, y, w, h], got " + json_excerpt(b));
    an.x = r.number(b[0], "bbox x");
    an.y = r.number(b[1], "bbox y");
    an.w = r.number(b[2], "bbox w");
    an.h = r.number(b[3], "bbox h");
    if (an.w < 0 || an.h < 0) r.fail("\"bbox\" has a negative width or height: " + json_excerpt(b));
    an.area = an.w * an.h;
    if (auto it = a.find("area"); it != a.end()) {
      an.area = r.number(*it, "\"area\"");
      if (an.area < 0) r.fail("\"area\" must be >= 0, got " + json_excerpt(*it));
    }
    if (auto it = a.find("iscrowd"); it != a.end()) {
      if (it->is_boolean()) {
        an.iscrowd = it->get<bool>();
      } else if (it->is_number_integer() && (it->get<int64_t>() == 0 || it->get<int64_t>() == 1)) {
        an.iscrowd = it->get<int64_t>() == 1;
      } else {
        r.fail("\"iscrowd\" must be 0 or 1, got " + json_excerpt(*it));
      }
    }
    if (!img->second) {
      ++rep.dropped_annotations;
      continue;
    }
    rep.crowd += an.iscrowd;
    ds.annotations.push_back(an);
  }
  rep.annotations = static_cast<int64_t>(ds.annotations.size());
  if (report) *report = rep;
  return ds;
}

DetDataset load_detection_dataset(const std::string& path, const std::string& image_dir, DetFormat format,
                                  MissingImages missing, DetLoadReport* report) {
  return parse_detection_dataset(read_file(path), path, image_dir, format, missing, report);
}

}  // namespace vrft
