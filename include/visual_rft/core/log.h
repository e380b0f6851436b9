// visual_rft/core/log.h: console logging and the metrics.jsonl writer.
//
//   log_info("loaded {} tensors from {}", n, path);   // fmt syntax; nothing is formatted
//                                                       // when the level is off
// Levels are set once from --log-level or logging.level (log_sink.h). Metrics are one JSON
// object per line, flushed per line, so `tail -f metrics.jsonl` and a crash both see every
// completed step (llm.c's main.log).
#pragma once

#include <fmt/format.h>

#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>

#include "visual_rft/core/log_sink.h"

namespace vrft {

template <class... A>
void log_at(LogLevel level, fmt::format_string<A...> f, A&&... args) {
  if (log_enabled(level)) log_write(level, fmt::format(f, std::forward<A>(args)...));
}
template <class... A>
void log_debug(fmt::format_string<A...> f, A&&... a) {
  log_at(LogLevel::debug, f, std::forward<A>(a)...);
}
template <class... A>
void log_info(fmt::format_string<A...> f, A&&... a) {
  log_at(LogLevel::info, f, std::forward<A>(a)...);
}
template <class... A>
void log_warn(fmt::format_string<A...> f, A&&... a) {
  log_at(LogLevel::warn, f, std::forward<A>(a)...);
}
template <class... A>
void log_error(fmt::format_string<A...> f, A&&... a) {
  log_at(LogLevel::error, f, std::forward<A>(a)...);
}

// A progress line (a trainer's step, an evaluation's batch): at info level when `shown`
// (logging.progress), else at debug level.
inline void log_progress(bool shown, const std::string& line) {
  log_at(shown ? LogLevel::info : LogLevel::debug, "{}", line);
}

// Appends JSON objects as lines to a file.
class MetricsWriter {
 public:
  // Opens `path` for appending (append = true) or anew; throws FileError naming the path.
  MetricsWriter(const std::string& path, bool append);
  ~MetricsWriter();
  MetricsWriter(const MetricsWriter&) = delete;
  MetricsWriter& operator=(const MetricsWriter&) = delete;

  // Writes one line and flushes it. Non-finite floats are written as null (JSON has no NaN)
  // and their keys listed under "nonfinite", so that nothing is hidden.
  void write(const nlohmann::json& record);
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::FILE* file_ = nullptr;
};

}  // namespace vrft
