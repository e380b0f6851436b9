// include/visual_rft/core/json_record.h: what the readers of JSON files (COCO, LVIS, LISA,
// detections) share for their error messages: a short rendering of a value, and the record
// being read ("annotations[17]" of a file) that names itself when it fails.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "visual_rft/core/error.h"

namespace vrft {

namespace json_detail {

// Appends v in dump()'s compact form, stopping once `out` holds `max` characters; lists and
// objects nested deeper than `depth` show as [...] / {...}. Unlike dump(), whose recursion a
// hostile file nested 90,000 levels deep overflows the stack with, this goes at most `depth`
// levels down and reads no more of a large value than the excerpt shows.
inline void append_excerpt(const nlohmann::json& v, std::string& out, size_t max, int depth) {
  constexpr auto replace = nlohmann::json::error_handler_t::replace;
  if (out.size() >= max) return;
  if (!v.is_structured()) {
    out += v.dump(-1, ' ', false, replace);
    return;
  }
  const bool list = v.is_array();
  if (depth <= 0) {
    out += list ? "[...]" : "{...}";
    return;
  }
  out += list ? '[' : '{';
  bool first = true;
  for (auto it = v.begin(); it != v.end() && out.size() < max; ++it) {
    if (!first) out += ',';
    first = false;
    if (!list) out += nlohmann::json(it.key()).dump(-1, ' ', false, replace) + ":";
    append_excerpt(*it, out, max, depth - 1);
  }
  out += list ? ']' : '}';
}

}  // namespace json_detail

// A JSON value in at most `max` characters, invalid UTF-8 replaced, nested values deeper
// than 16 levels elided.
inline std::string json_excerpt(const nlohmann::json& v, size_t max = 60) {
  std::string s;
  json_detail::append_excerpt(v, s, max + 1, 16);
  return s.size() > max ? s.substr(0, max - 3) + "..." : s;
}

// One record being read, for error messages: "FILE: annotations[17]: WHAT".
struct JsonRecord {
  const std::string& source;
  std::string where;
  [[noreturn]] void fail(const std::string& what) const { throw FileError(source + ": " + where + ": " + what); }
};

}  // namespace vrft
