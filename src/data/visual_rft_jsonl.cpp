// src/data/visual_rft_jsonl.cpp: the Visual-RFT JSONL reader (see the header).
#include "visual_rft/data/visual_rft_jsonl.h"

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "visual_rft/core/error.h"
#include "visual_rft/core/fs.h"

namespace vrft {

std::vector<Sample> load_visual_rft_jsonl(const std::string& path, const std::string& image_root,
                                          bool skip_missing_images, LoadReport* report) {
  namespace fs = std::filesystem;
  std::ifstream in(path);
  if (!in) throw FileError("data file '" + path + "' cannot be opened");
  const fs::path root = image_root.empty() ? fs::path(path).parent_path() : fs::path(image_root);
  LoadReport rep;
  std::vector<Sample> out;
  std::string line;
  while (std::getline(in, line)) {
    ++rep.lines;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const std::string where = path + ":" + std::to_string(rep.lines);
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(line);
    } catch (const nlohmann::json::exception& e) {
      throw FileError(where + ": not a JSON object (" + std::string(e.what()) + ")");
    }
    for (const char* key : {"image", "problem", "solution"}) {
      if (!j.is_object() || !j.contains(key) || !j[key].is_string()) {
        throw FileError(where + ": expected a string field '" + key + "' ({image, problem, solution})");
      }
    }
    Sample s;
    if (j["image"].get<std::string>().find('\0') != std::string::npos) {
      throw FileError(where +
                      ": the image path holds a NUL byte (a path ends at the first one: another file would be read)");
    }
    fs::path img = j["image"].get<std::string>();
    s.image = (img.is_absolute() ? img : root / img).string();
    if (!fs::exists(s.image)) {
      if (!skip_missing_images) throw FileError(where + ": image '" + s.image + "' does not exist");
      ++rep.missing_images;
      continue;
    }
    s.problem = j["problem"].get<std::string>();
    s.solution = j["solution"].get<std::string>();
    s.index = static_cast<int64_t>(out.size());
    s.line = rep.lines;
    out.push_back(std::move(s));
  }
  rep.kept = static_cast<int64_t>(out.size());
  if (out.empty()) throw FileError("data file '" + path + "' holds no usable record");
  if (report) *report = rep;
  return out;
}

MissingImages parse_missing_images(const std::string& name) {
  if (name == "error") return MissingImages::error;
  if (name == "skip") return MissingImages::skip;
  if (name == "keep") return MissingImages::keep;
  throw Error("missing-images policy '" + name + "': expected error, skip or keep");
}

void write_visual_rft_jsonl(const std::string& path, const std::vector<Sample>& rows) {
  std::string text;
  for (const Sample& s : rows) {
    nlohmann::ordered_json j = {{"image", s.image}, {"problem", s.problem}, {"solution", s.solution}};
    try {
      text += j.dump() + "\n";
    } catch (const nlohmann::json::exception& e) {  // invalid UTF-8 in a field
      throw FileError(path + ": row " + std::to_string(s.index) + " cannot be written as JSON (" + e.what() + ")");
    }
  }
  write_file_atomic(path, text);
}

}  // namespace vrft
