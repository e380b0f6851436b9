// visual_rft/core/utf8.h: small UTF-8 helpers shared by the tokenizer and the reward parsers.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace vrft {

std::string utf8_encode(uint32_t code_point);
// Length of the character that starts with `lead` (1 for a stray byte).
size_t utf8_char_length(unsigned char lead);
// The byte offset of the first invalid sequence, nullopt when `s` is valid UTF-8.
std::optional<size_t> utf8_invalid_at(std::string_view s);
// Each maximal invalid subsequence becomes U+FFFD (Python's errors="replace", Rust's
// String::from_utf8_lossy).
std::string utf8_replace_invalid(std::string_view bytes);
// Unicode NFC (utf8proc). `s` must be valid UTF-8.
std::string utf8_nfc(std::string_view s);

}  // namespace vrft
