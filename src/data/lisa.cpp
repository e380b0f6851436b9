// src/data/lisa.cpp: the LISA ReasonSeg (LabelMe) annotation reader (see the header).
#include "visual_rft/data/lisa.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "visual_rft/core/error.h"
#include "visual_rft/core/fs.h"
#include "visual_rft/core/json_record.h"
#include "visual_rft/core/utf8.h"

namespace vrft {

namespace {

using json = nlohmann::json;
namespace fs = std::filesystem;

// Windows-1252 to UTF-8. Bytes 0x80-0x9F are the cp1252 specials. The five bytes cp1252
// leaves undefined (0x81, 0x8D, 0x8F, 0x90, 0x9D) become the C1 controls of the same value,
// where Python's decoder would raise: a readable annotation is more useful than an error.
std::string cp1252_to_utf8(const std::string& s) {
  static const uint16_t kHigh[32] = {0x20AC, 0x81,   0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021,
                                     0x02C6, 0x2030, 0x0160, 0x2039, 0x0152, 0x8D,   0x017D, 0x8F,
                                     0x90,   0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014,
                                     0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0x9D,   0x017E, 0x0178};
  std::string out;
  out.reserve(s.size() + s.size() / 8);
  for (unsigned char c : s) {
    if (c < 0x80) {
      out += static_cast<char>(c);
    } else {
      out += utf8_encode(c < 0xA0 ? kHigh[c - 0x80] : c);
    }
  }
  return out;
}

Polygon read_points(const json& pts, const std::string& where) {
  if (!pts.is_array() || pts.empty())
    throw FileError(where + ": \"points\" must be a non-empty list [[x, y], ...], got " + json_excerpt(pts));
  Polygon poly;
  for (size_t k = 0; k < pts.size(); ++k) {
    const json& p = pts[k];
    if (!p.is_array() || p.size() != 2 || !p[0].is_number() || !p[1].is_number()) {
      throw FileError(where + ": points[" + std::to_string(k) + "] must be [x, y], got " + json_excerpt(p));
    }
    std::array<double, 2> xy{p[0].get<double>(), p[1].get<double>()};
    if (!std::isfinite(xy[0]) || !std::isfinite(xy[1])) {
      throw FileError(where + ": points[" + std::to_string(k) + "] is not finite: " + json_excerpt(p));
    }
    poly.push_back(xy);
  }
  return poly;
}

}  // namespace

LisaSample parse_lisa_json(const std::string& raw, const std::string& json_path) {
  // LISA opens its files as UTF-8 and falls back to cp1252 for a few of them.
  const std::string text = utf8_invalid_at(raw) ? cp1252_to_utf8(raw) : raw;
  json j;
  try {
    j = json::parse(text);
  } catch (const json::parse_error& e) {
    throw FileError(json_path + ": not valid JSON (byte " + std::to_string(e.byte) + "): " + e.what());
  }
  if (!j.is_object()) throw FileError(json_path + ": expected a LabelMe object {text, is_sentence, shapes}");
  LisaSample s;
  s.json_path = json_path;

  auto t = j.find("text");
  if (t == j.end()) throw FileError(json_path + ": missing field \"text\" (the instructions)");
  if (t->is_string()) {
    s.texts.push_back(t->get<std::string>());
  } else if (t->is_array()) {
    for (size_t k = 0; k < t->size(); ++k) {
      if (!(*t)[k].is_string()) throw FileError(json_path + ": text[" + std::to_string(k) + "] must be a string");
      s.texts.push_back((*t)[k].get<std::string>());
    }
  } else {
    throw FileError(json_path + ": \"text\" must be a string or a list of strings, got " + json_excerpt(*t));
  }
  s.texts.erase(
      std::remove_if(s.texts.begin(), s.texts.end(),
                     [](const std::string& x) { return x.find_first_not_of(" \t\r\n") == std::string::npos; }),
      s.texts.end());
  if (s.texts.empty()) throw FileError(json_path + ": \"text\" holds no instruction");

  if (auto it = j.find("is_sentence"); it != j.end()) {
    if (!it->is_boolean())
      throw FileError(json_path + ": \"is_sentence\" must be true or false, got " + json_excerpt(*it));
    s.is_sentence = it->get<bool>();
  }
  for (auto [key, dst] : {std::pair<const char*, int64_t*>{"imageWidth", &s.width}, {"imageHeight", &s.height}}) {
    auto it = j.find(key);
    if (it == j.end() || it->is_null()) continue;
    if (!it->is_number_integer() || it->get<int64_t>() <= 0) {
      throw FileError(json_path + ": \"" + key + "\" must be a positive integer, got " + json_excerpt(*it));
    }
    *dst = it->get<int64_t>();
  }

  auto shapes = j.find("shapes");
  if (shapes == j.end() || !shapes->is_array()) throw FileError(json_path + ": missing the \"shapes\" list");
  for (size_t k = 0; k < shapes->size(); ++k) {
    const json& sh = (*shapes)[k];
    const std::string where = json_path + ": shapes[" + std::to_string(k) + "]";
    if (!sh.is_object()) throw FileError(where + ": expected an object {label, points}, got " + json_excerpt(sh));
    auto label = sh.find("label");
    if (label == sh.end() || !label->is_string()) throw FileError(where + ": missing string field \"label\"");
    const std::string& l = label->get_ref<const std::string&>();
    if (l == "flag") continue;  // deprecated in ReasonSeg; LISA skips them too
    if (l != "target" && l != "ignore") {
      throw FileError(where + ": label '" + l + "' is not one of target, ignore, flag");
    }
    auto pts = sh.find("points");
    if (pts == sh.end()) throw FileError(where + ": missing field \"points\"");
    (l == "target" ? s.targets : s.ignores).push_back(read_points(*pts, where));
  }
  if (s.targets.empty()) throw FileError(json_path + ": no \"target\" shape (nothing to ground)");

  s.box = {INFINITY, INFINITY, -INFINITY, -INFINITY};
  for (const auto& poly : s.targets) {
    for (const auto& p : poly) {
      s.box.x1 = std::min(s.box.x1, p[0]);
      s.box.y1 = std::min(s.box.y1, p[1]);
      s.box.x2 = std::max(s.box.x2, p[0]);
      s.box.y2 = std::max(s.box.y2, p[1]);
    }
  }
  // LabelMe lets a point be dragged a little outside the picture.
  if (s.width > 0) {
    s.box.x1 = std::clamp(s.box.x1, 0.0, double(s.width));
    s.box.x2 = std::clamp(s.box.x2, 0.0, double(s.width));
  }
  if (s.height > 0) {
    s.box.y1 = std::clamp(s.box.y1, 0.0, double(s.height));
    s.box.y2 = std::clamp(s.box.y2, 0.0, double(s.height));
  }
  return s;
}

LisaSample load_lisa_json(const std::string& json_path, MissingImages missing, bool* skipped) {
  LisaSample s = parse_lisa_json(read_file(json_path), json_path);
  fs::path stem = fs::path(json_path).replace_extension();
  s.image = stem.string() + ".jpg";
  s.image_exists = false;
  for (const char* ext : {".jpg", ".jpeg", ".png", ".JPG"}) {
    if (fs::exists(stem.string() + ext)) {
      s.image = stem.string() + ext;
      s.image_exists = true;
      break;
    }
  }
  if (skipped) *skipped = false;
  if (!s.image_exists) {
    if (missing == MissingImages::error) {
      throw FileError(json_path + ": image '" + s.image +
                      "' (or .jpeg/.png) does not exist beside it (missing images: error)");
    }
    if (skipped) *skipped = missing == MissingImages::skip;
  }
  return s;
}

std::vector<LisaSample> load_lisa_folder(const std::string& dir, MissingImages missing, LoadReport* report) {
  if (!fs::is_directory(dir)) throw FileError("LISA folder '" + dir + "' does not exist or is not a folder");
  std::vector<std::string> files;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.is_regular_file() && e.path().extension() == ".json") files.push_back(e.path().string());
  }
  std::sort(files.begin(), files.end());
  LoadReport rep;
  std::vector<LisaSample> out;
  for (const auto& f : files) {
    ++rep.lines;
    bool skipped = false;
    LisaSample s = load_lisa_json(f, missing, &skipped);
    if (!s.image_exists) ++rep.missing_images;
    if (skipped) continue;
    out.push_back(std::move(s));
  }
  rep.kept = static_cast<int64_t>(out.size());
  if (out.empty()) throw FileError("LISA folder '" + dir + "' holds no usable annotation (*.json beside its image)");
  if (report) *report = rep;
  return out;
}

}  // namespace vrft
