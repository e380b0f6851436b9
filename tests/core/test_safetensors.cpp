// tests/core/test_safetensors.cpp: round trips, parity with the Python `safetensors`
// package in both directions, sharded folders, atomic writing, and a table of hostile headers.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "test_util.h"
#include "visual_rft/core/error.h"
#include "visual_rft/core/fs.h"
#include "visual_rft/core/safetensors.h"

using namespace vrft;
namespace fs = std::filesystem;

namespace {

// Bit patterns of a tensor as int64 (floats through an integer view), so NaN, -0.0 and
// denormals compare exactly.
std::vector<int64_t> bits_of(const torch::Tensor& t) {
  torch::Tensor c = t.contiguous();
  switch (c.scalar_type()) {
    case torch::kFloat64: c = c.view(torch::kInt64); break;
    case torch::kFloat32: c = c.view(torch::kInt32); break;
    case torch::kFloat16:
    case torch::kBFloat16: c = c.view(torch::kInt16); break;
    default: break;
  }
  c = c.to(torch::kInt64).flatten();
  return std::vector<int64_t>(c.data_ptr<int64_t>(), c.data_ptr<int64_t>() + c.numel());
}

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// A file made of an 8-byte length, a header text and `data_bytes` zero bytes.
std::string file_with_header(const std::string& header, size_t data_bytes, uint64_t claimed_len = UINT64_MAX) {
  uint64_t n = claimed_len == UINT64_MAX ? header.size() : claimed_len;
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) s[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  return s + header + std::string(data_bytes, '\0');
}

NamedTensors sample_tensors() {
  torch::manual_seed(7);
  return {
      {"w.f32", torch::randn({3, 4})},
      {"w.f64", torch::randn({2}, torch::kFloat64)},
      {"w.bf16", torch::randn({5}).to(torch::kBFloat16)},
      {"w.f16", torch::randn({1, 3}).to(torch::kFloat16)},
      {"ids.i64", torch::arange(-3, 4, torch::kInt64)},
      {"ids.i32", torch::tensor({1, -2}, torch::kInt32)},
      {"ids.i16", torch::tensor({300, -300}, torch::kInt16)},
      {"ids.i8", torch::tensor({-7}, torch::kInt8)},
      {"px.u8", torch::tensor({0, 255, 17}, torch::kUInt8)},
      {"mask", torch::tensor({true, false})},
      {"scalar", torch::tensor(2.5)},
      {"empty", torch::zeros({0, 3})},
      {"strided", torch::arange(12.0).reshape({3, 4}).t()},  // non-contiguous input
  };
}

}  // namespace

TEST(Safetensors, RoundTripEveryDtype) {
  std::string dir = test::scratch_dir("st-roundtrip");
  std::string path = dir + "/a.safetensors";
  NamedTensors in = sample_tensors();
  save_safetensors(path, in, {{"format", "pt"}, {"k", "v"}});
  SafetensorsFile f(path);
  ASSERT_EQ(f.tensors().size(), in.size());
  EXPECT_EQ(f.metadata().at("k"), "v");
  for (const auto& [name, t] : in) {
    SCOPED_TRACE(name);
    torch::Tensor got = f.get(name);
    EXPECT_EQ(got.scalar_type(), t.scalar_type());
    EXPECT_EQ(got.sizes(), t.sizes());
    EXPECT_EQ(bits_of(got), bits_of(t));
  }
  // No temporary file is left behind.
  EXPECT_EQ(std::distance(fs::directory_iterator(dir), fs::directory_iterator()), 1);
}

TEST(Safetensors, TensorsViewTheMappingAndOutliveTheFileObject) {
  std::string path = test::scratch_dir("st-view") + "/a.safetensors";
  save_safetensors(path, {{"x", torch::arange(1000, torch::kFloat32)}});
  torch::Tensor x;
  {
    SafetensorsFile f(path);
    x = f.get("x");
  }
  EXPECT_EQ(x[999].item<float>(), 999.0f);  // the mapping lives as long as the tensor
  x.add_(1);                                // copy-on-write: allowed, and the file is unchanged
  EXPECT_EQ(SafetensorsFile(path).get("x")[0].item<float>(), 0.0f);
}

TEST(Safetensors, ReadsFilesWrittenByPython) {
  const std::string dir = test::script_refs("safetensors_refs.py", "py_dtypes.json", {"make"});
  nlohmann::json expect = nlohmann::json::parse(read_file(dir + "/py_dtypes.json"));
  SafetensorsFile f(dir + "/py_dtypes.safetensors");
  EXPECT_EQ(f.metadata().at("note"), expect["metadata"]["note"].get<std::string>());
  ASSERT_EQ(f.tensors().size(), expect["tensors"].size());
  for (auto it = expect["tensors"].begin(); it != expect["tensors"].end(); ++it) {
    SCOPED_TRACE(it.key());
    torch::Tensor t = f.get(it.key());
    EXPECT_EQ(t.sizes().vec(), it.value()["shape"].get<std::vector<int64_t>>());
    EXPECT_EQ(bits_of(t), it.value()["bits"].get<std::vector<int64_t>>());
  }
  // dtype names as Python spells them (torch.float32 ...).
  const std::map<std::string, torch::Dtype> kPy = {
      {"torch.float64", torch::kFloat64},   {"torch.float32", torch::kFloat32}, {"torch.float16", torch::kFloat16},
      {"torch.bfloat16", torch::kBFloat16}, {"torch.int64", torch::kInt64},     {"torch.int32", torch::kInt32},
      {"torch.int16", torch::kInt16},       {"torch.int8", torch::kInt8},       {"torch.uint8", torch::kUInt8},
      {"torch.bool", torch::kBool}};
  for (auto it = expect["tensors"].begin(); it != expect["tensors"].end(); ++it) {
    EXPECT_EQ(f.get(it.key()).scalar_type(), kPy.at(it.value()["dtype"].get<std::string>())) << it.key();
  }
}

TEST(Safetensors, PythonReadsOurFilesExactly) {
  // We write; Python loads (values and metadata) and saves again; we compare what came back.
  std::string dir = test::scratch_dir("st-py-reads");
  NamedTensors in = sample_tensors();
  save_safetensors(dir + "/ours.safetensors", in, {{"format", "pt"}, {"who", "visual-rft"}});
  test::python("refs/safetensors_refs.py' roundtrip '" + dir + "/ours.safetensors' '" + dir + "/back.safetensors'");
  SafetensorsFile back(dir + "/back.safetensors");
  EXPECT_EQ(back.metadata().at("who"), "visual-rft");
  ASSERT_EQ(back.tensors().size(), in.size());
  for (const auto& [name, t] : in) {
    SCOPED_TRACE(name);
    torch::Tensor got = back.get(name);
    EXPECT_EQ(got.scalar_type(), t.scalar_type());
    EXPECT_EQ(got.sizes(), t.sizes());
    EXPECT_EQ(bits_of(got), bits_of(t));
  }
}

TEST(Safetensors, ShardedFolderFromPython) {
  const std::string dir = test::script_refs("safetensors_refs.py", "py_dtypes.json", {"make"});
  SafetensorsDir d(dir + "/py_sharded");
  EXPECT_EQ(d.names(), (std::vector<std::string>{"a.bias", "a.weight", "b.weight"}));
  EXPECT_EQ(d.files().size(), 2u);
  EXPECT_TRUE(torch::equal(d.get("a.weight"), torch::arange(6.0).reshape({2, 3})));
  EXPECT_EQ(d.get("b.weight").scalar_type(), torch::kBFloat16);
  EXPECT_EQ(d.get("b.weight")[1][1].item<float>(), -1.5f);
}

TEST(Safetensors, ShardedWriteAndRead) {
  std::string dir = test::scratch_dir("st-shards");
  NamedTensors in = {{"a", torch::ones({100})}, {"b", torch::ones({100})}, {"c", torch::ones({300})}};
  auto files = save_safetensors_sharded(dir, in, /*max_shard_bytes=*/800);
  ASSERT_EQ(files.size(), 3u);  // a+b (800 bytes), c (1200 bytes alone), index
  EXPECT_TRUE(fs::exists(dir + "/model-00001-of-00002.safetensors"));
  SafetensorsDir d(dir);
  EXPECT_EQ(d.names().size(), 3u);
  EXPECT_EQ(d.get("c").sum().item<float>(), 300.0f);

  std::string one = test::scratch_dir("st-one");
  save_safetensors_sharded(one, in, 1 << 20);
  EXPECT_TRUE(fs::exists(one + "/model.safetensors"));
  EXPECT_FALSE(fs::exists(one + "/model.safetensors.index.json"));
}

TEST(Safetensors, ShardedFolderErrors) {
  std::string dir = test::scratch_dir("st-shard-errors");
  EXPECT_THROW(SafetensorsDir{dir}, FileError);  // neither file
  save_safetensors(dir + "/s1.safetensors", {{"a", torch::ones({1})}});
  write_file_atomic(dir + "/model.safetensors.index.json",
                    R"({"weight_map": {"a": "s1.safetensors", "b": "s1.safetensors"}})");
  try {
    SafetensorsDir d(dir);
    FAIL() << "expected an error";
  } catch (const FileError& e) {
    EXPECT_NE(std::string(e.what()).find("maps tensor 'b' to 's1.safetensors', which does not hold it"),
              std::string::npos)
        << e.what();
  }
  write_file_atomic(dir + "/model.safetensors.index.json", R"({"weight_map": {"a": "missing.safetensors"}})");
  EXPECT_THROW(SafetensorsDir{dir}, FileError);
}

TEST(Safetensors, AtomicFileLeavesOldContentWhenNotCommitted) {
  std::string dir = test::scratch_dir("st-atomic");
  std::string path = dir + "/f.txt";
  write_file_atomic(path, "old");
  {
    AtomicFile f(path);
    f.write(std::string("half-writ"));
    // destroyed without commit(), as after an exception mid-write
  }
  EXPECT_EQ(read_file(path), "old");
  EXPECT_EQ(std::distance(fs::directory_iterator(dir), fs::directory_iterator()), 1);
}

TEST(Safetensors, WriterRefusesBadInput) {
  std::string dir = test::scratch_dir("st-writer");
  EXPECT_THROW(save_safetensors(dir + "/a.safetensors", {{"a", torch::ones(1)}, {"a", torch::ones(1)}}), Error);
  EXPECT_THROW(save_safetensors(dir + "/a.safetensors", {{"c", torch::ones(1, torch::kComplexFloat)}}), Error);
  EXPECT_THROW(save_safetensors("/nonexistent-dir/a.safetensors", {{"a", torch::ones(1)}}), FileError);
}

// Hostile and corrupt headers: each must give a FileError naming the problem, never a crash.
TEST(Safetensors, CorruptHeadersAreRefusedClearly) {
  const std::string t = R"("t":{"dtype":"F32","shape":[2],"data_offsets":[0,8]})";
  struct Case {
    const char* what;
    std::string bytes;
    const char* expect;
  };
  std::string deep(200000, '[');
  std::vector<Case> cases = {
      {"empty file", "", "too short"},
      {"7 bytes", std::string(7, '\0'), "too short"},
      {"header over 100 MB", file_with_header("{}", 0, 200'000'000), "exceeds the 100 MB limit"},
      {"header past end of file", file_with_header("{}", 0, 1000), "exceeds the file size"},
      {"not JSON", file_with_header("{\"t\": nope}", 0), "not valid JSON"},
      {"truncated JSON", file_with_header("{\"t\": {", 0), "not valid JSON"},
      {"deeply nested JSON", file_with_header(deep, 0), "not valid JSON"},
      {"JSON array", file_with_header("[1,2]", 0), "must be a JSON object"},
      {"entry not an object", file_with_header("{\"t\": 3}", 0), "entry must be an object"},
      {"missing dtype", file_with_header(R"({"t":{"shape":[1],"data_offsets":[0,4]}})", 4), "needs dtype, shape"},
      {"unknown dtype", file_with_header(R"({"t":{"dtype":"F8_E4M3","shape":[1],"data_offsets":[0,1]}})", 1),
       "dtype 'F8_E4M3' is not supported"},
      {"dtype not a string", file_with_header(R"({"t":{"dtype":4,"shape":[1],"data_offsets":[0,1]}})", 1),
       "dtype must be a string"},
      {"negative dim", file_with_header(R"({"t":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})", 4),
       "non-negative integers"},
      {"float dim", file_with_header(R"({"t":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}})", 4),
       "non-negative integers"},
      {"shape not a list", file_with_header(R"({"t":{"dtype":"F32","shape":4,"data_offsets":[0,16]}})", 16),
       "non-negative integers"},
      {"offsets wrong length", file_with_header(R"({"t":{"dtype":"F32","shape":[1],"data_offsets":[0]}})", 4),
       "data_offsets must be [begin, end]"},
      {"negative offset", file_with_header(R"({"t":{"dtype":"F32","shape":[1],"data_offsets":[-4,0]}})", 4),
       "data_offsets must be [begin, end]"},
      {"begin > end", file_with_header(R"({"t":{"dtype":"F32","shape":[1],"data_offsets":[8,4]}})", 8), "begin > end"},
      {"end past buffer", file_with_header(R"({"t":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", 4),
       "past the data buffer"},
      {"size mismatch", file_with_header(R"({"t":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", 8),
       "need 12 bytes but data_offsets span 8"},
      {"overflowing shape",
       file_with_header(R"({"t":{"dtype":"F64","shape":[4294967296,4294967296,4294967296],"data_offsets":[0,8]}})", 8),
       "need too many bytes"},
      {"absurd dim",
       file_with_header(R"({"t":{"dtype":"F32","shape":[18446744073709551615],"data_offsets":[0,8]}})", 8), "absurd"},
      {"overlap", file_with_header("{" + t + R"(,"u":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})", 12),
       "overlaps"},
      {"gap", file_with_header(R"({"t":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", 8), "gap of 4 bytes"},
      {"trailing bytes", file_with_header("{" + t + "}", 12), "4 bytes that no tensor covers"},
      {"metadata not strings", file_with_header(R"({"__metadata__":{"a":1}})", 0), "must be a string"},
      {"metadata not an object", file_with_header(R"({"__metadata__":[1]})", 0), "__metadata__ must be an object"},
  };
  std::string dir = test::scratch_dir("st-corrupt");
  for (size_t i = 0; i < cases.size(); ++i) {
    const Case& c = cases[i];
    SCOPED_TRACE(c.what);
    std::string path = dir + "/c" + std::to_string(i) + ".safetensors";
    write_bytes(path, c.bytes);
    try {
      SafetensorsFile f(path);
      ADD_FAILURE() << "accepted";
    } catch (const FileError& e) {
      std::string msg = e.what();
      EXPECT_NE(msg.find(c.expect), std::string::npos) << msg;
      EXPECT_NE(msg.find(path), std::string::npos) << "the message must name the file: " << msg;
    }
  }
}

TEST(Safetensors, MissingFileIsNamed) {
  try {
    SafetensorsFile f("/nonexistent/model.safetensors");
    FAIL();
  } catch (const FileError& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/model.safetensors"), std::string::npos);
  }
}
