// tests/fuzz/fuzz_safetensors_header.cpp: libFuzzer target for the safetensors header
// parser. Any input must either parse or throw vrft::FileError: no crash, no sanitizer
// report, no other exception. Run with scripts/fuzz.sh safetensors_header SECONDS.
#include <cstddef>
#include <cstdint>

#include "visual_rft/core/error.h"
#include "visual_rft/core/safetensors_header.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    vrft::StHeader h = vrft::parse_safetensors_header(data, size, "fuzz-input");
    // A header that parses must describe ranges inside the input.
    for (const auto& t : h.tensors) {
      if (h.data_start + t.end > size) __builtin_trap();
    }
  } catch (const vrft::FileError&) {
  }
  return 0;
}
