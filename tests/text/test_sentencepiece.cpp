// tests/text/test_sentencepiece.cpp: sentencepiece models through the Tokenizer interface
// against the Python `sentencepiece` package: a unigram and a byte-fallback BPE model trained
// in the set-up (scripts/refs/sentencepiece_refs.py), ids and decoded text of 5,000 unseen
// strings, decoding of random ids with and without skip_special_tokens, and the errors.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>

#include "test_util.h"
#include "visual_rft/core/error.h"
#include "visual_rft/text/tokenizer.h"

using namespace vrft;

namespace {

std::string refs() { return test::script_refs("sentencepiece_refs.py", "bpe.jsonl"); }

void check_model(const std::string& kind) {
  const std::string d = refs();
  auto tok = load_tokenizer(d + "/" + kind + ".model");
  std::ifstream in(d + "/" + kind + ".jsonl");
  std::string line;
  size_t encoded = 0, decoded = 0, bad = 0;
  while (std::getline(in, line)) {
    auto r = nlohmann::json::parse(line);
    if (r.contains("decoded")) {
      auto got = tok->encode(r["text"].get<std::string>());
      if (got != r["ids"].get<std::vector<int64_t>>() && ++bad <= 5)
        ADD_FAILURE() << kind << ": ids of " << r["text"].dump();
      if (tok->decode(got) != r["decoded"].get<std::string>() && ++bad <= 5)
        ADD_FAILURE() << kind << ": decode of " << r["text"].dump();
      ++encoded;
    } else {
      auto got = tok->decode(r["ids"].get<std::vector<int64_t>>(), r["skip"].get<bool>());
      if (got != r["text"].get<std::string>() && ++bad <= 5) ADD_FAILURE() << kind << ": decode " << r["ids"].dump();
      ++decoded;
    }
  }
  EXPECT_EQ(bad, 0u);
  EXPECT_GE(encoded, 5000u);
  EXPECT_GE(decoded, 2000u);
}

}  // namespace

TEST(SentencePiece, UnigramEqualsPython) { check_model("unigram"); }
TEST(SentencePiece, BpeWithByteFallbackEqualsPython) { check_model("bpe"); }

TEST(SentencePiece, SpecialPiecesAndErrors) {
  auto tok = load_tokenizer(refs() + "/unigram.model");
  auto im_start = tok->token_id("<|im_start|>");
  ASSERT_TRUE(im_start.has_value());
  EXPECT_TRUE(tok->is_special(*im_start));
  EXPECT_FALSE(tok->token_id("<|no such piece|>").has_value());
  auto ids = tok->encode("<|im_start|>user");
  // user-defined pieces are atomic (after sentencepiece's dummy-prefix piece)
  EXPECT_NE(std::find(ids.begin(), ids.end(), *im_start), ids.end());
  EXPECT_EQ(tok->decode(ids, /*skip_special_tokens=*/true).find("<|im_start|>"), std::string::npos);
  EXPECT_NE(tok->decode(ids).find("<|im_start|>user"), std::string::npos);
  EXPECT_THROW(tok->encode("bad \xff byte"), Error);
  EXPECT_THROW(tok->decode({tok->vocab_size()}), Error);
  std::string dir = test::scratch_dir("sp-bad");
  write_file_atomic(dir + "/broken.model", "not a protobuf");
  try {
    load_tokenizer(dir + "/broken.model");
    ADD_FAILURE() << "a broken model loaded";
  } catch (const FileError& e) {
    EXPECT_NE(std::string(e.what()).find("broken.model"), std::string::npos) << e.what();
  }
}
