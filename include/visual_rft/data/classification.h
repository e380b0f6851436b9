// visual_rft/data/classification.h: classification split lists (Visual-RFT's classification/val_data lists).
//
//   NAME.classnames.txt   one class name per line; line index (0-based) = label
//   NAME.test.tsv         tab-separated "relpath<TAB>label<TAB>classname", an optional header
//                         line "relpath label classname"; relpath is relative to an image root
//
// Validation (FileError naming file:line and what was expected): three fields, a non-empty
// path, an integer label in [0, #classes), and a class name equal to classnames[label]
// (a list decoded against another names file would otherwise train on wrong answers). Class
// names must be non-empty and unique. A trailing '\r' (CRLF files) is ignored.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "visual_rft/data/visual_rft_jsonl.h"

namespace vrft {

struct ClassificationItem {
  int64_t line = 0;   // 1-based line in the list file
  std::string image;  // resolved path
  int64_t label = 0;  // index into ClassificationList::classnames
};

struct ClassificationList {
  std::string source;                   // the list path, for messages
  std::vector<std::string> classnames;  // index = label
  std::vector<ClassificationItem> items;
};

// One name per line; throws FileError for an empty or duplicate name (naming both lines).
std::vector<std::string> load_classnames(const std::string& path);

// Reads a split list. Relative paths start at image_root (empty: the list file's folder).
ClassificationList load_classification_list(const std::string& list_path, const std::string& classnames_path,
                                            const std::string& image_root, MissingImages missing,
                                            LoadReport* report = nullptr);

}  // namespace vrft
