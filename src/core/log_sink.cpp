// src/core/log_sink.cpp: spdlog behind log_sink.h (compiled without LibTorch; see there).
#include "visual_rft/core/log_sink.h"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <stdexcept>

namespace vrft {
namespace {

spdlog::level::level_enum to_spdlog(LogLevel l) {
  switch (l) {
    case LogLevel::trace: return spdlog::level::trace;
    case LogLevel::debug: return spdlog::level::debug;
    case LogLevel::info: return spdlog::level::info;
    case LogLevel::warn: return spdlog::level::warn;
    case LogLevel::error: return spdlog::level::err;
    case LogLevel::off: return spdlog::level::off;
  }
  return spdlog::level::info;
}

std::shared_ptr<spdlog::logger> logger() {
  static std::shared_ptr<spdlog::logger> l = [] {
    auto made = spdlog::stderr_color_mt("visual-rft");
    made->set_pattern("%^[%H:%M:%S %L]%$ %v");
    made->set_level(spdlog::level::info);
    return made;
  }();
  return l;
}

}  // namespace

bool parse_log_level(const std::string& name, LogLevel& out) {
  static const std::pair<const char*, LogLevel> kNames[] = {{"trace", LogLevel::trace}, {"debug", LogLevel::debug},
                                                            {"info", LogLevel::info},   {"warn", LogLevel::warn},
                                                            {"error", LogLevel::error}, {"off", LogLevel::off}};
  for (const auto& [n, l] : kNames) {
    if (name == n) return out = l, true;
  }
  return false;
}

void init_logging(const std::string& level) {
  LogLevel l;
  if (!parse_log_level(level, l)) {
    throw std::invalid_argument("unknown log level '" + level + "' (trace, debug, info, warn, error, off)");
  }
  logger()->set_level(to_spdlog(l));
}

bool log_enabled(LogLevel level) { return logger()->should_log(to_spdlog(level)); }

void log_write(LogLevel level, const std::string& message) { logger()->log(to_spdlog(level), message); }

}  // namespace vrft
