// tests/text/test_tokenizer.cpp: the Qwen2 byte-level BPE tokenizer against the `tokenizers`
// package on the official Qwen2.5 tokenizer.json (tests/fixtures/qwen2_5): ids of a
// generated 20,000-string corpus, decoding of random id sequences (invalid UTF-8 included,
// with and without skip_special_tokens), the test vectors of tokenizers' output on the Qwen2.5 tokenizer, round trips.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "test_util.h"
#include "visual_rft/core/error.h"
#include "visual_rft/core/utf8.h"
#include "visual_rft/text/tokenizer.h"

using namespace vrft;

namespace {

std::string fixture() { return test::fixtures_dir() + "/qwen2_5/tokenizer.json"; }

const Tokenizer& qwen() {
  static std::unique_ptr<Tokenizer> t = load_tokenizer(fixture());
  return *t;
}

std::string refs() { return test::script_refs("tokenizer_refs.py", "encode.jsonl", {fixture()}); }

}  // namespace

TEST(Tokenizer, TestVectors) {
  REQUIRE_FIXTURES(fixture());
  const Tokenizer& t = qwen();
  EXPECT_EQ(t.encode("Hello world"), (std::vector<int64_t>{9707, 1879}));
  EXPECT_EQ(t.encode(" Hello world"), (std::vector<int64_t>{21927, 1879}));
  EXPECT_EQ(t.encode("I'm 3.14 ok"), (std::vector<int64_t>{40, 2776, 220, 18, 13, 16, 19, 5394}));
  EXPECT_EQ(
      t.encode("你好，世界！ 12345  tabs\tand\n\nnewlines"),
      (std::vector<int64_t>{108386, 3837, 99489, 6313, 220, 16, 17, 18, 19, 20, 220, 22398, 52477, 271, 931, 7969}));
  EXPECT_EQ(t.encode("<|im_start|>user"), (std::vector<int64_t>{151644, 872}));
  EXPECT_EQ(t.vocab_size(), 151665);
  EXPECT_TRUE(t.is_special(151645));
  EXPECT_EQ(*t.token_id("<|image_pad|>"), 151655);
}

TEST(Tokenizer, IdsEqualTokenizersOnTheCorpus) {
  REQUIRE_FIXTURES(fixture());
  auto rows = test::read_jsonl(refs() + "/encode.jsonl");
  ASSERT_GE(rows.size(), 20000u);
  size_t bad = 0;
  for (const auto& r : rows) {
    std::string text = r["text"].get<std::string>();
    std::vector<int64_t> want = r["ids"].get<std::vector<int64_t>>();
    std::vector<int64_t> got = qwen().encode(text);
    if (got != want && ++bad <= 5)
      ADD_FAILURE() << "text " << nlohmann::json(text).dump() << "\n ours " << nlohmann::json(got).dump()
                    << "\n theirs " << nlohmann::json(want).dump();
    // decode(encode(x)) == NFC(x)
    if (qwen().decode(got) != utf8_nfc(text) && ++bad <= 5)
      ADD_FAILURE() << "round trip of " << nlohmann::json(text).dump();
  }
  EXPECT_EQ(bad, 0u) << "mismatches out of " << rows.size();
}

TEST(Tokenizer, DecodeEqualsTokenizers) {
  REQUIRE_FIXTURES(fixture());
  size_t bad = 0;
  auto rows = test::read_jsonl(refs() + "/decode.jsonl");
  for (const auto& r : rows) {
    std::vector<int64_t> ids = r["ids"].get<std::vector<int64_t>>();
    std::string got = qwen().decode(ids, r["skip"].get<bool>());
    if (got != r["text"].get<std::string>() && ++bad <= 5) {
      ADD_FAILURE() << "ids " << nlohmann::json(ids).dump() << " skip " << r["skip"] << "\n ours "
                    << nlohmann::json(got).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)
                    << "\n theirs " << r["text"].dump();
    }
  }
  EXPECT_EQ(bad, 0u) << "mismatches out of " << rows.size();
}

TEST(Tokenizer, BadInput) {
  REQUIRE_FIXTURES(fixture());
  EXPECT_THROW(qwen().encode("abc\xff"), Error);
  EXPECT_THROW(qwen().decode({-1}), Error);
  EXPECT_THROW(qwen().decode({999999}), Error);
  std::string dir = test::scratch_dir("tok-bad");
  std::ofstream(dir + "/t.json") << R"({"model": {"type": "Unigram", "vocab": []}})";
  try {
    load_tokenizer(dir + "/t.json");
    FAIL();
  } catch (const FileError& e) {
    EXPECT_NE(std::string(e.what()).find("is not supported: model.type is not BPE"), std::string::npos) << e.what();
  }
  EXPECT_THROW(load_tokenizer(dir + "/missing.json"), FileError);
}

TEST(Tokenizer, Qwen2VLDropsLaterAddedTokens) {
  REQUIRE_FIXTURES(fixture());
  TokenizerOptions o;
  o.max_added_token_id = 151656;
  auto t = load_tokenizer(fixture(), o);
  EXPECT_EQ(t->vocab_size(), 151657);
  EXPECT_GT(t->encode("<tool_call>").size(), 1u);  // BPE-encoded, not one added token
  EXPECT_EQ(qwen().encode("<tool_call>").size(), 1u);
}

TEST(Utf8, ReplaceInvalidLikePython) {
  // Expected values from CPython: bytes.decode("utf-8", errors="replace").
  EXPECT_EQ(utf8_replace_invalid("a\xe4\xbd"), "a\xef\xbf\xbd");    // truncated 3-byte: one U+FFFD
  EXPECT_EQ(utf8_replace_invalid("\xf0\x9f\x98"), "\xef\xbf\xbd");  // truncated 4-byte
  EXPECT_EQ(utf8_replace_invalid("\xed\xa0\x80"), "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");  // surrogate: 3
  EXPECT_EQ(utf8_replace_invalid("\xc0\xaf"), "\xef\xbf\xbd\xef\xbf\xbd");                  // overlong
  EXPECT_EQ(utf8_replace_invalid("ok"), "ok");
  EXPECT_EQ(*utf8_invalid_at("ab\x80"), 2u);
  EXPECT_EQ(utf8_nfc("e\xcc\x81"), "\xc3\xa9");
}

TEST(Tokenizer, TokenizeCli) {
  REQUIRE_FIXTURES(fixture());
  std::string dir = test::scratch_dir("tok-cli");
  std::ofstream(dir + "/in.txt") << "Hello world\n你好，世界！\n";
  auto r = test::run("'" + test::cli() + "' tokenize --tokenizer '" + fixture() + "' < '" + dir + "/in.txt'");
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("{\"ids\":[9707,1879]}"), std::string::npos) << r.output;
  std::ofstream(dir + "/ids.txt") << "[9707, 1879]\n[151644, 872]\nnot json\n";
  auto d = test::run("'" + test::cli() + "' tokenize --decode --skip-special --tokenizer '" + fixture() + "' < '" +
                     dir + "/ids.txt'");
  EXPECT_EQ(d.status, 1) << d.output;  // the third line is bad
  EXPECT_NE(d.output.find("{\"text\":\"Hello world\"}"), std::string::npos) << d.output;
  EXPECT_NE(d.output.find("{\"text\":\"user\"}"), std::string::npos) << d.output;
  EXPECT_NE(d.output.find("{\"error\":\"expected a JSON list of ids\",\"line\":3}"), std::string::npos) << d.output;
}
