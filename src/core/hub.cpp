// src/core/hub.cpp: hub ids to cached snapshot folders (see the header).
#include "visual_rft/core/hub.h"

#include <cstdlib>
#include <filesystem>

#include "visual_rft/core/error.h"
#include "visual_rft/core/fs.h"

namespace vrft {

namespace fs = std::filesystem;

bool looks_like_hub_id(const std::string& s) {
  const size_t slash = s.find('/');
  if (slash == std::string::npos || s.find('/', slash + 1) != std::string::npos) return false;
  auto part_ok = [](const std::string& p) {
    if (p.empty() || p[0] == '.' || p[0] == '-') return false;
    for (char c : p) {
      const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
                      c == '_' || c == '.';
      if (!ok) return false;
    }
    return true;
  };
  return part_ok(s.substr(0, slash)) && part_ok(s.substr(slash + 1));
}

std::string hf_hub_cache_dir() {
  if (const char* c = std::getenv("HF_HUB_CACHE"); c && *c) return c;
  if (const char* h = std::getenv("HF_HOME"); h && *h) return std::string(h) + "/hub";
  const char* home = std::getenv("HOME");
  return std::string(home && *home ? home : ".") + "/.cache/huggingface/hub";
}

namespace {

std::string cache_repo(const std::string& id) {
  const size_t slash = id.find('/');
  return hf_hub_cache_dir() + "/models--" + id.substr(0, slash) + "--" + id.substr(slash + 1);
}

}  // namespace

std::string resolve_model_dir(const std::string& path_or_id, const std::string& key) {
  std::error_code ec;
  if (path_or_id.empty() || fs::exists(path_or_id, ec) || !looks_like_hub_id(path_or_id)) return path_or_id;
  const std::string repo = cache_repo(path_or_id);
  if (!fs::exists(repo + "/refs/main", ec)) return path_or_id;  // not cached: the caller says it is missing
  std::string rev = read_file(repo + "/refs/main");
  while (!rev.empty() && (rev.back() == '\n' || rev.back() == '\r' || rev.back() == ' ')) rev.pop_back();
  const std::string snapshot = repo + "/snapshots/" + rev;
  if (rev.empty() || rev.find('/') != std::string::npos || !fs::exists(snapshot + "/config.json", ec)) {
    throw ConfigError(key + " '" + path_or_id + "': the Hugging Face cache names revision '" + rev + "', but " +
                      snapshot + "/config.json does not exist (an interrupted download?): download it again with " +
                      "`hf download " + path_or_id + "`");
  }
  return snapshot;
}

std::string missing_model_hint(const std::string& path) {
  if (!looks_like_hub_id(path)) return "";
  return "neither a folder nor a model in the Hugging Face cache (" + hf_hub_cache_dir() + " has no " +
         fs::path(cache_repo(path)).filename().string() + "): download it with `hf download " + path + "`";
}

}  // namespace vrft
