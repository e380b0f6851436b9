// visual_rft/text/tokenizer.h: text <-> token ids.
//
// Implemented: the Hugging Face tokenizer.json byte-level BPE of Qwen2 / Qwen2-VL /
// Qwen2.5-VL (the Qwen2 tokenizer.json): added tokens split first (leftmost-longest), NFC (utf8proc),
// the Qwen2 pre-tokenizer regex (PCRE2 with Unicode properties), GPT-2's byte-to-unicode
// map, merges by rank with a cache, and decoding with errors="replace" and
// skip_special_tokens. Ids equal those of the `tokenizers` package (tested on a 20,000-string
// corpus). And sentencepiece `.model` files through Debian's libsentencepiece (ids equal
// those of the Python `sentencepiece` package).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace vrft {

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;
  // Throws Error when `text` is not valid UTF-8 (naming the byte offset).
  virtual std::vector<int64_t> encode(std::string_view text) const = 0;
  // Invalid UTF-8 (a token sequence cut inside a character) becomes U+FFFD, as Python's
  // bytes.decode(errors="replace") does. Ids outside the vocabulary throw Error.
  virtual std::string decode(const std::vector<int64_t>& ids, bool skip_special_tokens = false) const = 0;
  virtual int64_t vocab_size() const = 0;  // regular plus added tokens
  virtual std::optional<int64_t> token_id(std::string_view token) const = 0;
  virtual bool is_special(int64_t id) const = 0;
};

struct TokenizerOptions {
  // Added tokens with a larger id are dropped (Qwen2-VL: 151656; the Qwen2.5 file has more).
  int64_t max_added_token_id = -1;  // -1: keep all
};

// Loads a tokenizer: a `.model` file is sentencepiece, any other file a tokenizer.json; a
// folder (a model folder) holds tokenizer.json or else tokenizer.model. Throws FileError for
// a missing or malformed file and for unsupported tokenizer types, naming what is unsupported.
std::unique_ptr<Tokenizer> load_tokenizer(const std::string& path, const TokenizerOptions& opts = {});

// A tokenizer.json with byte-level BPE and the Qwen2 pre-tokenizer.
std::unique_ptr<Tokenizer> load_bpe_tokenizer(const std::string& path, const TokenizerOptions& opts = {});

// A sentencepiece model (unigram or BPE, with or without byte fallback). Special tokens are
// its control, unknown and user-defined pieces (the Qwen chat tokens of a small model are
// user-defined pieces, matched atomically by sentencepiece itself).
std::unique_ptr<Tokenizer> load_sentencepiece_tokenizer(const std::string& path);

}  // namespace vrft
