// src/text/sentencepiece_tokenizer.cpp: sentencepiece `.model` files through Debian's
// libsentencepiece, behind the Tokenizer interface.
//
// sentencepiece normalises (the model's own rules, e.g. nmt_nfkc), matches user-defined pieces
// atomically and segments with the model's algorithm; all of that is the library's. What is
// ours: invalid UTF-8 is refused (naming the byte offset) instead of being silently replaced,
// ids are range-checked on decode, and skip_special_tokens drops control, unknown and
// user-defined pieces before decoding.
#include <sentencepiece_processor.h>

#include "visual_rft/core/error.h"
#include "visual_rft/core/utf8.h"
#include "visual_rft/text/tokenizer.h"

namespace vrft {
namespace {

// The type of each piece, read from the serialised ModelProto: Debian's libsentencepiece
// (0.1.97) has no IsUserDefined() and ships no .pb.h, and the wire format is small enough to
// walk here. ModelProto.pieces = field 1 (repeated message); SentencePiece.type = field 3
// (enum; NORMAL = 1 when absent, USER_DEFINED = 4).
constexpr int kUserDefined = 4;

uint64_t read_varint(const std::string& b, size_t& i) {
  uint64_t v = 0;
  for (int shift = 0; i < b.size() && shift < 64; shift += 7) {
    const uint8_t byte = static_cast<uint8_t>(b[i++]);
    v |= static_cast<uint64_t>(byte & 0x7f) << shift;
    if (!(byte & 0x80)) return v;
  }
  throw Error("malformed sentencepiece model (bad varint)");
}

// Skips one field of wire type `wt` at i; returns [start, end) of a length-delimited payload.
std::pair<size_t, size_t> skip_field(const std::string& b, size_t& i, uint64_t wt) {
  switch (wt) {
    case 0: read_varint(b, i); return {i, i};
    case 1: i += 8; break;
    case 5: i += 4; break;
    case 2: {
      const uint64_t n = read_varint(b, i);
      if (n > b.size() - i) throw Error("malformed sentencepiece model (field past the end)");
      i += n;
      return {i - n, i};
    }
    default: throw Error("malformed sentencepiece model (wire type " + std::to_string(wt) + ")");
  }
  if (i > b.size()) throw Error("malformed sentencepiece model (field past the end)");
  return {i, i};
}

std::vector<int> piece_types(const std::string& proto) {
  std::vector<int> types;
  for (size_t i = 0; i < proto.size();) {
    const uint64_t key = read_varint(proto, i);
    auto [start, end] = skip_field(proto, i, key & 7);
    if ((key >> 3) != 1 || (key & 7) != 2) continue;
    int type = 1;
    for (size_t j = start; j < end;) {
      const uint64_t k = read_varint(proto, j);
      if ((k >> 3) == 3 && (k & 7) == 0) {
        type = static_cast<int>(read_varint(proto, j));
      } else {
        skip_field(proto, j, k & 7);
      }
    }
    types.push_back(type);
  }
  return types;
}

class SentencePieceTokenizer : public Tokenizer {
 public:
  explicit SentencePieceTokenizer(const std::string& path) {
    auto st = sp_.Load(path);
    if (!st.ok()) throw FileError("sentencepiece model '" + path + "' cannot be loaded: " + st.ToString());
    types_ = piece_types(sp_.serialized_model_proto());
    if (static_cast<int64_t>(types_.size()) != vocab_size()) {
      throw FileError("sentencepiece model '" + path + "': " + std::to_string(types_.size()) + " pieces read, " +
                      std::to_string(vocab_size()) + " expected");
    }
  }

  std::vector<int64_t> encode(std::string_view text) const override {
    if (auto bad = utf8_invalid_at(text)) {
      throw Error("text to tokenize is not valid UTF-8 at byte " + std::to_string(*bad));
    }
    std::vector<int> ids;
    auto st = sp_.Encode(text, &ids);
    if (!st.ok()) throw Error("sentencepiece cannot encode the text: " + st.ToString());
    return std::vector<int64_t>(ids.begin(), ids.end());
  }

  std::string decode(const std::vector<int64_t>& ids, bool skip_special_tokens) const override {
    std::vector<int> keep;
    keep.reserve(ids.size());
    for (int64_t id : ids) {
      if (id < 0 || id >= vocab_size()) {
        throw Error("token id " + std::to_string(id) + " is outside the vocabulary (size " +
                    std::to_string(vocab_size()) + ")");
      }
      if (skip_special_tokens && is_special(id)) continue;
      keep.push_back(static_cast<int>(id));
    }
    std::string out;
    auto st = sp_.Decode(keep, &out);
    if (!st.ok()) throw Error("sentencepiece cannot decode the ids: " + st.ToString());
    return out;
  }

  int64_t vocab_size() const override { return sp_.GetPieceSize(); }

  std::optional<int64_t> token_id(std::string_view token) const override {
    const int id = sp_.PieceToId(token);
    if (sp_.IdToPiece(id) != token) return std::nullopt;  // PieceToId answers unk when unknown
    return id;
  }

  bool is_special(int64_t id) const override {
    const int i = static_cast<int>(id);
    return id >= 0 && id < vocab_size() &&
           (sp_.IsControl(i) || sp_.IsUnknown(i) || types_[static_cast<size_t>(i)] == kUserDefined);
  }

 private:
  sentencepiece::SentencePieceProcessor sp_;
  std::vector<int> types_;  // per id, ModelProto.SentencePiece.Type
};

}  // namespace

std::unique_ptr<Tokenizer> load_sentencepiece_tokenizer(const std::string& path) {
  return std::make_unique<SentencePieceTokenizer>(path);
}

}  // namespace vrft
