// visual_rft/core/choice.h: config choices as enums. A choice enum E lists the words users
// write for its values, in the enum's order, in Choice<E>::names; the config parser, schema
// and YAML writer (core/config.h) and the CLI flags take the words from there, so a word is
// compared with a string once, where it is read, and everywhere else the compiler checks the
// value (a misspelt case does not compile; a switch that misses one is warned about).
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace vrft {

template <class E>
struct Choice;  // specialised beside each enum: static constexpr const char* names[]

template <class E>
constexpr size_t choice_count() {
  return sizeof(Choice<E>::names) / sizeof(Choice<E>::names[0]);
}

template <class E>
const char* choice_name(E value) {
  return Choice<E>::names[static_cast<size_t>(value)];
}

template <class E>
std::optional<E> parse_choice(std::string_view word) {
  for (size_t i = 0; i < choice_count<E>(); ++i) {
    if (word == Choice<E>::names[i]) return static_cast<E>(i);
  }
  return std::nullopt;
}

// "a, b, c" (or with another separator): the words, for messages and help.
template <class E>
std::string choice_list(const char* sep = ", ") {
  std::string s;
  for (size_t i = 0; i < choice_count<E>(); ++i) s += (i ? sep : "") + std::string(Choice<E>::names[i]);
  return s;
}

// The words, for command-line flags (CLI11's IsMember).
template <class E>
std::vector<std::string> choice_words() {
  return std::vector<std::string>(std::begin(Choice<E>::names), std::end(Choice<E>::names));
}

}  // namespace vrft
