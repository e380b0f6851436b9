// visual_rft/reward/answer.h: reading model answers. Pure functions on text; none throws on
// model output.
//
// Two families of helpers:
//  - Python-exact text operations used by the `visual_rft` compatibility mode, which must
//    behave like the reference's `re.search`, `str.strip`, `str.replace` and `json.loads`
//    (Visual-RFT's grpo_*.py reward functions);
//  - a forgiving parser for the Python-literal lists that models write
//    (`[{'Position': [x1, y1, x2, y2], 'Confidence': 0.9}, ...]`), used by `strict` mode.
// Text is UTF-8. Python's `\s` and `str.strip()` use Unicode whitespace; so do these.
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace vrft {

// ---- Python-exact text operations -----------------------------------------------------------

// str.strip(): removes leading and trailing Unicode whitespace (str.isspace()).
std::string_view py_strip(std::string_view s);
// Length in bytes of the Unicode whitespace character starting at s[i], 0 if none.
size_t py_space_at(std::string_view s, size_t i);
// The first position at or after i that is not Unicode whitespace (Python's \s*).
size_t py_skip_spaces(std::string_view s, size_t i);
// str.replace(old, new): every non-overlapping occurrence, left to right.
std::string py_replace(std::string_view s, std::string_view from, std::string_view to);

// re.search(r'<answer>(.*?)</answer>', s [, re.DOTALL]).group(1): the first <answer> whose
// nearest following </answer> is reached without a newline (without DOTALL), or any
// (with DOTALL). nullopt when there is no match.
std::optional<std::string_view> py_answer_group(std::string_view s, bool dotall);

// re.fullmatch(r"<think>.*?</think>\s*<answer>.*?</answer>", s, re.DOTALL) is not None.
bool py_format_match(std::string_view s);

// ---- a small JSON / Python-literal value ------------------------------------------------------

struct PyValue {
  enum class Kind { null, boolean, number, string, list, dict };
  Kind kind = Kind::null;
  double number = 0;                                    // booleans too (True == 1), as in Python arithmetic
  std::string text;                                     // strings
  std::vector<PyValue> items;                           // lists
  std::vector<std::pair<std::string, PyValue>> fields;  // dicts, in order (duplicates: last wins on lookup)

  bool is_number() const { return kind == Kind::number || kind == Kind::boolean; }
  const PyValue* get(std::string_view key) const;  // dict lookup; nullptr when absent
};

// json.loads as Python does it: RFC 8259 plus NaN, Infinity and -Infinity; surrounding
// JSON whitespace allowed; nullopt on any error (including nesting deeper than 512).
std::optional<PyValue> py_json_loads(std::string_view s);

// A forgiving reader of Python-literal / JSON values: single or double quotes, True/False/
// None, true/false/null, NaN/nan/Infinity/inf, trailing commas, and a list cut off mid-way
// (the complete elements are kept). nullopt when nothing usable is there.
std::optional<PyValue> parse_literal_lenient(std::string_view s);

// ---- answers of each task -----------------------------------------------------------------

// A box in the 0-1000 coordinate space of the Visual-RFT prompts.
struct Box {
  double x1 = 0, y1 = 0, x2 = 0, y2 = 0;
};

// One predicted or true object of a detection answer.
struct Detection {
  Box box;
  double confidence = 1;
};

// The reference's `extract_bbox` (visual_rft mode): text between the first <answer> and the
// first </answer>, a truncated list "repaired" by cutting after the last "},", quotes
// swapped, then json.loads. nullopt where the reference gets None.
std::optional<PyValue> reference_extract_bbox(std::string_view s);

// strict mode: the detection list of an answer. `no_objects` is set for "No Objects".
// Rules: the answer is the first <answer>...</answer> (any lines), or, when the closing tag
// is missing, the rest of the text (truncation); entries need a Position of 4 finite numbers
// and a finite numeric Confidence, otherwise the whole answer is malformed (nullopt).
// Coordinates are clamped to [0, 1000] and reversed corners swapped; confidences clamped
// to [0, 1]; entries with the same Position as an earlier one are dropped; a single object
// without brackets and a list wrapped in one more list are accepted.
struct DetectionAnswer {
  std::vector<Detection> objects;
  bool no_objects = false;
};
std::optional<DetectionAnswer> parse_detection_answer(std::string_view completion);
// The same rules for a data set's solution string (`<answer>[{...}]</answer>`).
std::optional<DetectionAnswer> parse_detection_solution(std::string_view solution);

// strict mode: the first box of a grounding answer, written (x1,y1),(x2,y2) or
// [x1, y1, x2, y2] (integers or decimals) inside <answer>...</answer>; clamped to
// [0, 1000], reversed corners swapped. nullopt when there is none or it is not finite.
std::optional<Box> parse_grounding_answer(std::string_view completion);
std::optional<Box> parse_grounding_solution(std::string_view solution);

// The text of the first <answer>...</answer> (any lines), trimmed; nullopt without one.
std::optional<std::string> strict_answer_text(std::string_view completion);

}  // namespace vrft
