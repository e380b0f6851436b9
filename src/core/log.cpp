// src/core/log.cpp: the JSONL metrics writer (the console backend is log_sink.cpp).
#include "visual_rft/core/log.h"

#include <cerrno>
#include <cmath>
#include <cstring>

#include "visual_rft/core/error.h"

namespace vrft {

MetricsWriter::MetricsWriter(const std::string& path, bool append) : path_(path) {
  file_ = std::fopen(path.c_str(), append ? "ab" : "wb");
  if (!file_) throw FileError("cannot open metrics file '" + path + "': " + std::strerror(errno));
}

MetricsWriter::~MetricsWriter() {
  if (file_) std::fclose(file_);
}

void MetricsWriter::write(const nlohmann::json& record) {
  nlohmann::json out = record;
  nlohmann::json nonfinite = nlohmann::json::array();
  if (out.is_object()) {
    for (auto it = out.begin(); it != out.end(); ++it) {
      if (it.value().is_number_float() && !std::isfinite(it.value().get<double>())) {
        nonfinite.push_back(it.key());
        it.value() = nullptr;
      }
    }
    if (!nonfinite.empty()) out["nonfinite"] = nonfinite;
  }
  std::string line = out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  if (std::fwrite(line.data(), 1, line.size(), file_) != line.size() || std::fflush(file_) != 0) {
    throw FileError("cannot write metrics file '" + path_ + "': " + std::strerror(errno));
  }
}

}  // namespace vrft
