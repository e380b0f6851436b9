// src/text/bpe_tokenizer.cpp: the byte-level BPE tokenizer of tokenizer.json (Qwen2 family).
//
// encode(text):
//   1. split out added tokens (exact match, leftmost, longest at a position);
//   2. per remaining segment: NFC, then the pre-tokenizer regex (every match is a piece);
//   3. per piece: UTF-8 bytes -> byte-level symbols -> repeatedly merge the adjacent pair of
//      lowest merge rank (leftmost on ties) -> ids. Pieces are cached.
// decode(ids): token strings -> bytes through the inverse byte map -> UTF-8 with U+FFFD for
// each maximal invalid subsequence (Python's and Rust's from_utf8_lossy rule).
#include <utf8proc.h>

#include <mutex>
#include <nlohmann/json.hpp>
#include <unordered_map>

#include "visual_rft/core/error.h"
#include "visual_rft/core/fs.h"
#include "visual_rft/core/utf8.h"
#include "visual_rft/text/tokenizer.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

namespace vrft {
namespace {

// The Qwen2 pre-tokenizer (tokenizer.json pre_tokenizer Split pattern).
constexpr const char* kQwen2Pattern =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

// GPT-2's bytes_to_unicode: printable bytes map to themselves, the others to 256 + n.
std::vector<std::string> byte_to_unicode() {
  std::vector<std::string> out(256);
  int n = 0;
  for (int b = 0; b < 256; ++b) {
    bool printable = (b >= '!' && b <= '~') || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
    uint32_t cp = printable ? static_cast<uint32_t>(b) : static_cast<uint32_t>(256 + n++);
    out[static_cast<size_t>(b)] = utf8_encode(cp);
  }
  return out;
}

struct AddedToken {
  std::string content;
  int64_t id;
  bool special;
};

class BpeTokenizer : public Tokenizer {
 public:
  BpeTokenizer(const std::string& path, const TokenizerOptions& opts);
  ~BpeTokenizer() override {
    if (match_) pcre2_match_data_free(match_);
    if (re_) pcre2_code_free(re_);
  }
  std::vector<int64_t> encode(std::string_view text) const override;
  std::string decode(const std::vector<int64_t>& ids, bool skip_special_tokens) const override;
  int64_t vocab_size() const override { return static_cast<int64_t>(id_to_token_.size()); }
  std::optional<int64_t> token_id(std::string_view token) const override;
  bool is_special(int64_t id) const override;

 private:
  void encode_segment(std::string_view text, std::vector<int64_t>& out) const;
  void encode_piece(std::string_view piece, std::vector<int64_t>& out) const;

  std::unordered_map<std::string, int64_t> token_to_id_;
  std::vector<std::string> id_to_token_;                              // regular and added tokens
  std::vector<std::string> id_to_bytes_;                              // regular tokens as raw bytes
  std::unordered_map<uint64_t, std::pair<int32_t, int32_t>> merges_;  // (left id, right id) -> (rank, merged id)
  int32_t byte_id_[256];
  std::vector<AddedToken> added_;
  std::vector<int8_t> special_;  // per id
  pcre2_code* re_ = nullptr;
  pcre2_match_data* match_ = nullptr;
  mutable std::mutex mu_;  // guards the cache and the match data
  mutable std::unordered_map<std::string, std::vector<int64_t>> cache_;
};

BpeTokenizer::BpeTokenizer(const std::string& path, const TokenizerOptions& opts) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(read_file(path));
  } catch (const nlohmann::json::exception& e) {
    throw FileError("tokenizer file '" + path + "' is not valid JSON: " + e.what());
  }
  auto unsupported = [&](const std::string& what) {
    return FileError("tokenizer file '" + path + "' is not supported: " + what +
                     " (visual-rft reads the byte-level BPE tokenizer.json of Qwen2 / Qwen2-VL / Qwen2.5-VL)");
  };
  if (!j.contains("model") || j["model"].value("type", "") != "BPE") throw unsupported("model.type is not BPE");
  const auto& model = j["model"];
  if (model.value("byte_fallback", false)) throw unsupported("byte_fallback BPE");
  std::string pattern;
  if (j.contains("pre_tokenizer") && j["pre_tokenizer"].is_object()) {
    for (const auto& p : j["pre_tokenizer"].value("pretokenizers", nlohmann::json::array())) {
      if (p.value("type", "") == "Split" && p.contains("pattern")) pattern = p["pattern"].value("Regex", "");
    }
  }
  if (pattern != kQwen2Pattern) throw unsupported("the pre-tokenizer is not the Qwen2 Split regex");
  if (j.contains("normalizer") && !j["normalizer"].is_null() && j["normalizer"].value("type", "") != "NFC") {
    throw unsupported("normalizer " + j["normalizer"].dump());
  }

  // Vocabulary, then merges as (left id, right id) -> (rank, merged id).
  const auto& vocab = model["vocab"];
  id_to_token_.resize(vocab.size());
  for (auto it = vocab.begin(); it != vocab.end(); ++it) {
    int64_t id = it.value().get<int64_t>();
    if (id < 0 || id >= static_cast<int64_t>(vocab.size()))
      throw FileError("tokenizer file '" + path + "': vocab ids are not 0..n-1");
    token_to_id_[it.key()] = id;
    id_to_token_[static_cast<size_t>(id)] = it.key();
  }
  std::vector<std::string> b2u = byte_to_unicode();
  std::unordered_map<std::string, uint8_t> u2b;
  for (int b = 0; b < 256; ++b) {
    u2b[b2u[static_cast<size_t>(b)]] = static_cast<uint8_t>(b);
    auto it = token_to_id_.find(b2u[static_cast<size_t>(b)]);
    if (it == token_to_id_.end())
      throw FileError("tokenizer file '" + path + "': byte token " + std::to_string(b) + " is missing");
    byte_id_[b] = static_cast<int32_t>(it->second);
  }
  id_to_bytes_.resize(id_to_token_.size());
  for (size_t id = 0; id < id_to_token_.size(); ++id) {
    const std::string& t = id_to_token_[id];
    std::string bytes;
    for (size_t i = 0; i < t.size();) {
      size_t n = utf8_char_length(static_cast<unsigned char>(t[i]));
      auto it = u2b.find(t.substr(i, n));
      if (it == u2b.end()) throw FileError("tokenizer file '" + path + "': token '" + t + "' is not byte-level");
      bytes += static_cast<char>(it->second);
      i += n;
    }
    id_to_bytes_[id] = bytes;
  }
  int32_t rank = 0;
  for (const auto& m : model["merges"]) {
    std::string a, b;
    if (m.is_string()) {  // "a b"
      std::string s = m.get<std::string>();
      size_t sp = s.find(' ');
      a = s.substr(0, sp);
      b = s.substr(sp + 1);
    } else {  // ["a", "b"] (newer files)
      a = m[0].get<std::string>();
      b = m[1].get<std::string>();
    }
    auto ia = token_to_id_.find(a), ib = token_to_id_.find(b), iab = token_to_id_.find(a + b);
    if (ia == token_to_id_.end() || ib == token_to_id_.end() || iab == token_to_id_.end()) {
      throw FileError("tokenizer file '" + path + "': merge '" + a + " " + b + "' names tokens not in the vocabulary");
    }
    uint64_t key = (static_cast<uint64_t>(ia->second) << 32) | static_cast<uint64_t>(ib->second);
    merges_.emplace(key, std::make_pair(rank++, static_cast<int32_t>(iab->second)));
  }

  special_.assign(id_to_token_.size(), 0);
  for (const auto& t : j.value("added_tokens", nlohmann::json::array())) {
    int64_t id = t["id"].get<int64_t>();
    if (opts.max_added_token_id >= 0 && id > opts.max_added_token_id) continue;
    std::string content = t["content"].get<std::string>();
    if (id >= static_cast<int64_t>(id_to_token_.size())) {
      id_to_token_.resize(static_cast<size_t>(id) + 1);
      special_.resize(static_cast<size_t>(id) + 1, 0);
    }
    id_to_token_[static_cast<size_t>(id)] = content;
    special_[static_cast<size_t>(id)] = t.value("special", false) ? 1 : 0;
    token_to_id_[content] = id;
    added_.push_back({content, id, t.value("special", false)});
  }

  int err = 0;
  PCRE2_SIZE off = 0;
  re_ = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(kQwen2Pattern), PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_UCP, &err,
                      &off, nullptr);
  if (!re_) throw Error("cannot compile the Qwen2 pre-tokenizer regex (PCRE2 error " + std::to_string(err) + ")");
  pcre2_jit_compile(re_, PCRE2_JIT_COMPLETE);  // falls back to the interpreter without JIT
  match_ = pcre2_match_data_create_from_pattern(re_, nullptr);
}

std::optional<int64_t> BpeTokenizer::token_id(std::string_view token) const {
  auto it = token_to_id_.find(std::string(token));
  if (it == token_to_id_.end()) return std::nullopt;
  return it->second;
}

bool BpeTokenizer::is_special(int64_t id) const {
  return id >= 0 && id < static_cast<int64_t>(special_.size()) && special_[static_cast<size_t>(id)];
}

std::vector<int64_t> BpeTokenizer::encode(std::string_view text) const {
  if (auto bad = utf8_invalid_at(text)) throw Error("text is not valid UTF-8 at byte " + std::to_string(*bad));
  std::vector<int64_t> out;
  size_t start = 0, i = 0;
  while (i < text.size()) {
    // The longest added token starting here, if any.
    const AddedToken* best = nullptr;
    for (const AddedToken& a : added_) {
      if (text.compare(i, a.content.size(), a.content) == 0 && (!best || a.content.size() > best->content.size()))
        best = &a;
    }
    if (!best) {
      ++i;
      continue;
    }
    encode_segment(text.substr(start, i - start), out);
    out.push_back(best->id);
    i += best->content.size();
    start = i;
  }
  encode_segment(text.substr(start), out);
  return out;
}

void BpeTokenizer::encode_segment(std::string_view text, std::vector<int64_t>& out) const {
  if (text.empty()) return;
  std::string nfc = utf8_nfc(text);
  std::lock_guard<std::mutex> lock(mu_);
  PCRE2_SPTR subject = reinterpret_cast<PCRE2_SPTR>(nfc.data());
  size_t pos = 0;
  while (pos < nfc.size()) {
    int rc = pcre2_match(re_, subject, nfc.size(), pos, PCRE2_NO_UTF_CHECK, match_, nullptr);
    if (rc < 0) {  // no more matches: the rest is one piece (never happens with this pattern)
      encode_piece(std::string_view(nfc).substr(pos), out);
      break;
    }
    PCRE2_SIZE* ov = pcre2_get_ovector_pointer(match_);
    if (ov[0] > pos) encode_piece(std::string_view(nfc).substr(pos, ov[0] - pos), out);  // an unmatched gap
    if (ov[1] == ov[0]) {  // an empty match: step over one character
      size_t n = utf8_char_length(static_cast<unsigned char>(nfc[ov[0]]));
      encode_piece(std::string_view(nfc).substr(ov[0], n), out);
      pos = ov[0] + n;
      continue;
    }
    encode_piece(std::string_view(nfc).substr(ov[0], ov[1] - ov[0]), out);
    pos = ov[1];
  }
}

void BpeTokenizer::encode_piece(std::string_view piece, std::vector<int64_t>& out) const {
  std::string key(piece);
  auto hit = cache_.find(key);
  if (hit != cache_.end()) {
    out.insert(out.end(), hit->second.begin(), hit->second.end());
    return;
  }
  std::vector<int32_t> sym;
  sym.reserve(piece.size());
  for (unsigned char c : piece) sym.push_back(byte_id_[c]);
  // Merge the adjacent pair of lowest rank, leftmost first, until none is mergeable.
  while (sym.size() > 1) {
    int32_t best_rank = INT32_MAX, best_id = -1;
    size_t best_i = 0;
    for (size_t i = 0; i + 1 < sym.size(); ++i) {
      uint64_t k = (static_cast<uint64_t>(sym[i]) << 32) | static_cast<uint64_t>(static_cast<uint32_t>(sym[i + 1]));
      auto it = merges_.find(k);
      if (it != merges_.end() && it->second.first < best_rank) {
        best_rank = it->second.first;
        best_id = it->second.second;
        best_i = i;
      }
    }
    if (best_id < 0) break;
    sym[best_i] = best_id;
    sym.erase(sym.begin() + static_cast<std::ptrdiff_t>(best_i) + 1);
  }
  std::vector<int64_t> ids(sym.begin(), sym.end());
  if (cache_.size() < 200000) cache_.emplace(std::move(key), ids);
  out.insert(out.end(), ids.begin(), ids.end());
}

std::string BpeTokenizer::decode(const std::vector<int64_t>& ids, bool skip_special_tokens) const {
  std::string bytes;
  for (int64_t id : ids) {
    if (id < 0 || id >= static_cast<int64_t>(id_to_token_.size()) || id_to_token_[static_cast<size_t>(id)].empty()) {
      throw Error("token id " + std::to_string(id) + " is not in the vocabulary (size " +
                  std::to_string(id_to_token_.size()) + ")");
    }
    size_t u = static_cast<size_t>(id);
    // Special before regular: a tokenizer trained with special tokens (the demo model's) has
    // them inside the BPE vocabulary too, and `tokenizers` skips them there as well.
    if (skip_special_tokens && special_[u]) continue;
    if (u < id_to_bytes_.size()) {  // a regular token: its bytes
      bytes += id_to_bytes_[u];
    } else {
      bytes += id_to_token_[u];  // an added token: its literal text
    }
  }
  return utf8_replace_invalid(bytes);
}

}  // namespace

std::unique_ptr<Tokenizer> load_bpe_tokenizer(const std::string& path, const TokenizerOptions& opts) {
  return std::make_unique<BpeTokenizer>(path, opts);
}

}  // namespace vrft
