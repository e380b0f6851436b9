// src/text/tokenizer.cpp: picks the tokenizer implementation for a path.
#include "visual_rft/text/tokenizer.h"

#include <filesystem>

#include "visual_rft/core/error.h"

namespace vrft {

std::unique_ptr<Tokenizer> load_tokenizer(const std::string& path, const TokenizerOptions& opts) {
  namespace fs = std::filesystem;
  if (fs::is_directory(path)) {
    if (fs::exists(fs::path(path) / "tokenizer.json")) return load_bpe_tokenizer(path + "/tokenizer.json", opts);
    if (fs::exists(fs::path(path) / "tokenizer.model")) return load_sentencepiece_tokenizer(path + "/tokenizer.model");
    throw FileError("folder '" + path + "' holds no tokenizer.json or tokenizer.model");
  }
  if (!fs::exists(path)) throw FileError("tokenizer file '" + path + "' does not exist");
  if (fs::path(path).extension() == ".model") return load_sentencepiece_tokenizer(path);
  return load_bpe_tokenizer(path, opts);
}

}  // namespace vrft
