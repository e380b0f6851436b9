// visual_rft/core/error.h: the exceptions visual-rft throws for bad input, and helpers.
//
// Errors about user input (files, config keys, data records, model answers) are exceptions
// whose message names the file, key or line and what was expected; main() catches them once,
// prints the message and exits non-zero. Invariants inside tensor code use
// TORCH_CHECK instead.
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace vrft {

// Any error caused by input the user controls.
struct Error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// A config file, --set override or config value that is wrong.
struct ConfigError : Error {
  using Error::Error;
};

// A file that cannot be read, written or parsed.
struct FileError : Error {
  using Error::Error;
};

// Levenshtein distance (insert, delete, substitute: cost 1 each).
size_t edit_distance(std::string_view a, std::string_view b);

// The candidate closest to `word` when it is close enough to be a likely misspelling
// (distance <= max(2, |word| / 3)); empty when none is.
std::string nearest(std::string_view word, const std::vector<std::string>& candidates);

}  // namespace vrft
