// src/core/utf8.cpp: UTF-8 validation (the Unicode "maximal subpart" rule), NFC.
#include "visual_rft/core/utf8.h"

#include <utf8proc.h>

#include <cstdlib>

#include "visual_rft/core/error.h"

namespace vrft {
namespace {

// Length of the valid sequence at s[i], or the length of its maximal invalid prefix
// (at least 1) with `valid` false.
size_t sequence_at(std::string_view s, size_t i, bool& valid) {
  const unsigned char b = static_cast<unsigned char>(s[i]);
  valid = true;
  if (b < 0x80) return 1;
  unsigned char lo = 0x80, hi = 0xbf;
  size_t need;
  if (b >= 0xc2 && b <= 0xdf)
    need = 1;
  else if (b == 0xe0)
    need = 2, lo = 0xa0;
  else if ((b >= 0xe1 && b <= 0xec) || b == 0xee || b == 0xef)
    need = 2;
  else if (b == 0xed)
    need = 2, hi = 0x9f;
  else if (b == 0xf0)
    need = 3, lo = 0x90;
  else if (b >= 0xf1 && b <= 0xf3)
    need = 3;
  else if (b == 0xf4)
    need = 3, hi = 0x8f;
  else
    return valid = false, 1;
  for (size_t k = 1; k <= need; ++k) {
    if (i + k >= s.size()) return valid = false, k;
    unsigned char c = static_cast<unsigned char>(s[i + k]);
    unsigned char l = k == 1 ? lo : 0x80, h = k == 1 ? hi : 0xbf;
    if (c < l || c > h) return valid = false, k;
  }
  return need + 1;
}

}  // namespace

std::string utf8_encode(uint32_t cp) {
  std::string out;
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xc0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xe0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  } else {
    out += static_cast<char>(0xf0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3f));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  }
  return out;
}

size_t utf8_char_length(unsigned char lead) {
  if (lead < 0xc0) return 1;
  if (lead < 0xe0) return 2;
  if (lead < 0xf0) return 3;
  return lead < 0xf8 ? 4 : 1;
}

std::optional<size_t> utf8_invalid_at(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    bool valid;
    size_t n = sequence_at(s, i, valid);
    if (!valid) return i;
    i += n;
  }
  return std::nullopt;
}

std::string utf8_replace_invalid(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    bool valid;
    size_t n = sequence_at(s, i, valid);
    if (valid)
      out.append(s.substr(i, n));
    else
      out += "\xef\xbf\xbd";  // U+FFFD
    i += n;
  }
  return out;
}

std::string utf8_nfc(std::string_view s) {
  // Pure ASCII is already NFC: the common case costs one scan.
  bool ascii = true;
  for (char c : s) {
    if (static_cast<unsigned char>(c) >= 0x80) {
      ascii = false;
      break;
    }
  }
  if (ascii) return std::string(s);
  utf8proc_uint8_t* out = nullptr;
  utf8proc_ssize_t n =
      utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(s.data()), static_cast<utf8proc_ssize_t>(s.size()), &out,
                   static_cast<utf8proc_option_t>(UTF8PROC_STABLE | UTF8PROC_COMPOSE));
  if (n < 0) throw Error(std::string("NFC normalisation failed: ") + utf8proc_errmsg(n));
  std::string r(reinterpret_cast<char*>(out), static_cast<size_t>(n));
  std::free(out);
  return r;
}

}  // namespace vrft
