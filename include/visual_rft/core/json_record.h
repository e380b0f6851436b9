// include/visual_rft/core/json_record.h: what the readers of JSON files (COCO, LVIS, LISA,
// detections) share for their error messages: a short rendering of a value, and the record
// being read ("annotations[17]" of a file) that names itself when it fails.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "visual_rft/core/error.h"

namespace vrft {

// A JSON value in at most `max` characters, invalid UTF-8 replaced.
inline std::string json_excerpt(const nlohmann::json& v, size_t max = 60) {
  std::string s = v.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return s.size() > max ? s.substr(0, max - 3) + "..." : s;
}

// One record being read, for error messages: "FILE: annotations[17]: WHAT".
struct JsonRecord {
  const std::string& source;
  std::string where;
  [[noreturn]] void fail(const std::string& what) const { throw FileError(source + ": " + where + ": " + what); }
};

}  // namespace vrft
