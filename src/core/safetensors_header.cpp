// src/core/safetensors_header.cpp: the safetensors header parser (see the header file).
#include "visual_rft/core/safetensors_header.h"

#include <algorithm>
#include <cstring>
#include <nlohmann/json.hpp>

#include "visual_rft/core/error.h"

namespace vrft {
namespace {

struct DtypeRow {
  StDtype dtype;
  const char* name;
  size_t size;
};
constexpr DtypeRow kDtypes[] = {
    {StDtype::BOOL, "BOOL", 1}, {StDtype::U8, "U8", 1},   {StDtype::I8, "I8", 1},   {StDtype::I16, "I16", 2},
    {StDtype::I32, "I32", 4},   {StDtype::I64, "I64", 8}, {StDtype::F16, "F16", 2}, {StDtype::BF16, "BF16", 2},
    {StDtype::F32, "F32", 4},   {StDtype::F64, "F64", 8},
};

[[noreturn]] void bad(const std::string& file, const std::string& what) {
  throw FileError("safetensors file '" + file + "': " + what);
}

}  // namespace

const char* st_dtype_name(StDtype d) { return kDtypes[static_cast<int>(d)].name; }
size_t st_dtype_size(StDtype d) { return kDtypes[static_cast<int>(d)].size; }

StHeader parse_safetensors_header(const uint8_t* data, size_t size, const std::string& name) {
  if (size < 8) bad(name, "is " + std::to_string(size) + " bytes, too short for a header");
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | data[i];  // little-endian
  if (n > kMaxSafetensorsHeader) {
    bad(name, "header length " + std::to_string(n) + " exceeds the 100 MB limit (corrupt or not safetensors)");
  }
  if (n > size - 8) {
    bad(name, "header length " + std::to_string(n) + " exceeds the file size " + std::to_string(size) +
                  " (truncated or not safetensors)");
  }
  const char* text = reinterpret_cast<const char*>(data + 8);
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text, text + n);
  } catch (const nlohmann::json::exception& e) {
    bad(name, std::string("header is not valid JSON: ") + e.what());
  }
  if (!j.is_object()) bad(name, "header must be a JSON object");

  StHeader h;
  h.data_start = 8 + n;
  const uint64_t buffer = size - h.data_start;
  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string& key = it.key();
    const auto& v = it.value();
    if (key == "__metadata__") {
      if (!v.is_object()) bad(name, "__metadata__ must be an object of strings");
      for (auto m = v.begin(); m != v.end(); ++m) {
        if (!m.value().is_string()) bad(name, "__metadata__ value of '" + m.key() + "' must be a string");
        h.metadata[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    const std::string where = "tensor '" + key + "': ";
    if (!v.is_object()) bad(name, where + "entry must be an object");
    auto dt = v.find("dtype");
    auto sh = v.find("shape");
    auto off = v.find("data_offsets");
    if (dt == v.end() || sh == v.end() || off == v.end()) {
      bad(name, where + "entry needs dtype, shape and data_offsets");
    }
    StTensorInfo t;
    t.name = key;
    if (!dt->is_string()) bad(name, where + "dtype must be a string");
    const std::string dname = dt->get<std::string>();
    auto row = std::find_if(std::begin(kDtypes), std::end(kDtypes), [&](const DtypeRow& r) { return dname == r.name; });
    if (row == std::end(kDtypes)) {
      bad(name,
          where + "dtype '" + dname + "' is not supported (BOOL, U8, I8, I16, I32, I64, F16, BF16, F32, F64 are)");
    }
    t.dtype = row->dtype;

    if (!sh->is_array()) bad(name, where + "shape must be a list of non-negative integers");
    uint64_t bytes = row->size;
    bool empty = false;
    for (const auto& d : *sh) {
      if (!d.is_number_unsigned()) bad(name, where + "shape must be a list of non-negative integers");
      uint64_t dim = d.get<uint64_t>();
      if (dim > (uint64_t(1) << 62)) bad(name, where + "dimension " + std::to_string(dim) + " is absurd");
      t.shape.push_back(static_cast<int64_t>(dim));
      if (dim == 0) empty = true;
      // Saturating multiply: a product past 2^64 stays UINT64_MAX ("too many" below).
      if (dim != 0) bytes = bytes > UINT64_MAX / dim ? UINT64_MAX : bytes * dim;
    }
    if (empty) bytes = 0;

    if (!off->is_array() || off->size() != 2 || !(*off)[0].is_number_unsigned() || !(*off)[1].is_number_unsigned()) {
      bad(name, where + "data_offsets must be [begin, end] with non-negative integers");
    }
    t.begin = (*off)[0].get<uint64_t>();
    t.end = (*off)[1].get<uint64_t>();
    if (t.begin > t.end) bad(name, where + "data_offsets begin > end");
    if (t.end > buffer) {
      bad(name, where + "data_offsets end " + std::to_string(t.end) + " is past the data buffer (" +
                    std::to_string(buffer) + " bytes)");
    }
    if (bytes != t.end - t.begin) {
      bad(name, where + "shape and dtype need " +
                    (bytes == UINT64_MAX ? std::string("too many") : std::to_string(bytes)) +
                    " bytes but data_offsets span " + std::to_string(t.end - t.begin));
    }
    h.tensors.push_back(std::move(t));
  }

  // The ranges must tile [0, buffer) exactly, as the Python package requires.
  std::sort(h.tensors.begin(), h.tensors.end(), [](const StTensorInfo& a, const StTensorInfo& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  uint64_t expect = 0;
  for (size_t i = 0; i < h.tensors.size(); ++i) {
    const auto& t = h.tensors[i];
    if (t.begin < expect) bad(name, "tensor '" + t.name + "' overlaps tensor '" + h.tensors[i - 1].name + "'");
    if (t.begin > expect) {
      bad(name, "gap of " + std::to_string(t.begin - expect) + " bytes before tensor '" + t.name + "'");
    }
    expect = t.end;
  }
  if (expect != buffer) {
    bad(name, "data buffer has " + std::to_string(buffer - expect) + " bytes that no tensor covers");
  }
  return h;
}

}  // namespace vrft
