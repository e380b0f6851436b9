// src/data/classification.cpp: classification split lists and class-name files (see the header).
#include "visual_rft/data/classification.h"

#include <charconv>
#include <filesystem>
#include <fstream>
#include <unordered_map>

#include "visual_rft/core/error.h"

namespace vrft {

namespace {

// The lines of a text file without their '\n' or "\r\n".
std::vector<std::string> read_lines(const std::string& path, const char* what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw FileError(std::string(what) + " '" + path + "' cannot be opened");
  std::vector<std::string> lines;
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    lines.push_back(std::move(line));
  }
  return lines;
}

std::vector<std::string> split_tabs(const std::string& line) {
  std::vector<std::string> out;
  size_t start = 0;
  for (;;) {
    size_t tab = line.find('\t', start);
    out.push_back(line.substr(start, tab == std::string::npos ? std::string::npos : tab - start));
    if (tab == std::string::npos) return out;
    start = tab + 1;
  }
}

}  // namespace

std::vector<std::string> load_classnames(const std::string& path) {
  std::vector<std::string> lines = read_lines(path, "class-name file");
  // A final newline gives no extra line with getline; a blank last line is still an error
  // below, since a blank class name cannot be answered.
  std::unordered_map<std::string, size_t> seen;
  for (size_t i = 0; i < lines.size(); ++i) {
    const std::string where = path + ":" + std::to_string(i + 1);
    if (lines[i].find_first_not_of(" \t") == std::string::npos) throw FileError(where + ": empty class name");
    auto [it, fresh] = seen.emplace(lines[i], i + 1);
    if (!fresh) {
      throw FileError(where + ": class name '" + lines[i] + "' repeats line " + std::to_string(it->second) +
                      " (labels would be ambiguous)");
    }
  }
  if (lines.empty()) throw FileError("class-name file '" + path + "' is empty");
  return lines;
}

ClassificationList load_classification_list(const std::string& list_path, const std::string& classnames_path,
                                            const std::string& image_root, MissingImages missing, LoadReport* report) {
  namespace fs = std::filesystem;
  ClassificationList out;
  out.source = list_path;
  out.classnames = load_classnames(classnames_path);
  const fs::path root = image_root.empty() ? fs::path(list_path).parent_path() : fs::path(image_root);
  const int64_t num_classes = static_cast<int64_t>(out.classnames.size());
  std::vector<std::string> lines = read_lines(list_path, "classification list");
  LoadReport rep;
  for (size_t i = 0; i < lines.size(); ++i) {
    const std::string& line = lines[i];
    const std::string where = list_path + ":" + std::to_string(i + 1);
    if (line.empty()) continue;
    std::vector<std::string> f = split_tabs(line);
    if (i == 0 && f.size() == 3 && f[0] == "relpath" && f[1] == "label") continue;  // the header
    ++rep.lines;
    if (f.size() != 3) {
      throw FileError(where + ": expected 3 tab-separated fields relpath, label, classname; got " +
                      std::to_string(f.size()));
    }
    if (f[0].empty()) throw FileError(where + ": empty image path");
    ClassificationItem item;
    item.line = static_cast<int64_t>(i + 1);
    const char* end = f[1].data() + f[1].size();
    auto [p, ec] = std::from_chars(f[1].data(), end, item.label);
    if (ec != std::errc() || p != end) throw FileError(where + ": label '" + f[1] + "' is not an integer");
    if (item.label < 0 || item.label >= num_classes) {
      throw FileError(where + ": label " + f[1] + " is outside [0, " + std::to_string(num_classes) + ") of " +
                      classnames_path);
    }
    if (f[2] != out.classnames[item.label]) {
      throw FileError(where + ": class name '" + f[2] + "' differs from '" + out.classnames[item.label] + "', line " +
                      std::to_string(item.label + 1) + " of " + classnames_path);
    }
    fs::path img = f[0];
    item.image = (img.is_absolute() ? img : root / img).string();
    // keep still counts missing files, so that the report says how many are not there yet
    if (!fs::exists(item.image)) {
      if (missing == MissingImages::error) {
        throw FileError(where + ": image '" + item.image + "' does not exist (missing images: error; skip drops them)");
      }
      ++rep.missing_images;
      if (missing == MissingImages::skip) continue;
    }
    out.items.push_back(std::move(item));
  }
  rep.kept = static_cast<int64_t>(out.items.size());
  if (out.items.empty()) throw FileError("classification list '" + list_path + "' holds no usable line");
  if (report) *report = rep;
  return out;
}

}  // namespace vrft
