// visual_rft/core/log_sink.h: the console log backend (spdlog), behind three functions.
//
// Why a separate unit: LibTorch ships fmt 12 headers, Debian's spdlog is built on fmt 9, and
// both would be found as <fmt/...>. log_sink.cpp is compiled without LibTorch's include
// path, so spdlog sees its own fmt; project code formats with LibTorch's fmt (header-only)
// and hands finished strings over. fmt's versioned namespaces keep the two apart at link time.
#pragma once

#include <string>

namespace vrft {

enum class LogLevel { trace, debug, info, warn, error, off };

// Parses a level name; returns false for an unknown name.
bool parse_log_level(const std::string& name, LogLevel& out);
// Sets up the stderr logger at `level`. Throws std::invalid_argument for an unknown level.
void init_logging(const std::string& level);
bool log_enabled(LogLevel level);
void log_write(LogLevel level, const std::string& message);

}  // namespace vrft
