// visual_rft/core/safetensors_header.h: parsing and validating a safetensors header.
//
// Format (huggingface/safetensors): an 8-byte little-endian header length N, N bytes of JSON
// {"name": {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}, ...,
//  "__metadata__": {"k": "v"}}, then the data buffer; offsets are relative to its start.
// This part has no LibTorch dependency so that the libFuzzer target can build it alone.
//
// Validation follows the Python package and is stricter where a hostile file could hurt:
// the header must fit the file and 100 MB, be a JSON object, name known dtypes, have
// non-negative shapes whose byte size equals end - begin (checked without overflow), and
// the data ranges must tile the buffer exactly (no overlap, no gap, nothing left over).
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace vrft {

enum class StDtype { BOOL, U8, I8, I16, I32, I64, F16, BF16, F32, F64 };

const char* st_dtype_name(StDtype d);  // "F32", ...
size_t st_dtype_size(StDtype d);       // bytes per element

struct StTensorInfo {
  std::string name;
  StDtype dtype = StDtype::F32;
  std::vector<int64_t> shape;
  uint64_t begin = 0;  // byte offsets into the data buffer
  uint64_t end = 0;
};

struct StHeader {
  std::vector<StTensorInfo> tensors;            // sorted by begin offset
  std::map<std::string, std::string> metadata;  // the optional __metadata__ map
  uint64_t data_start = 0;                      // 8 + N: where the data buffer begins
};

// The largest header accepted (the Python package's limit).
constexpr uint64_t kMaxSafetensorsHeader = 100'000'000;

// Parses the header of a whole file held in `data[0, size)`. `name` (the file's path) is
// used in error messages. Throws vrft::FileError on anything malformed; never crashes.
StHeader parse_safetensors_header(const uint8_t* data, size_t size, const std::string& name);

}  // namespace vrft
