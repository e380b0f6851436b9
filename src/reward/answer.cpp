// src/reward/answer.cpp: reading model answers (see the header for the rules).
#include "visual_rft/reward/answer.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <cstring>

#include "visual_rft/core/utf8.h"

namespace vrft {

// ---- Python-exact text operations -----------------------------------------------------------

size_t py_space_at(std::string_view s, size_t i) {
  // The code points of str.isspace(), as UTF-8 byte sequences.
  unsigned char c = static_cast<unsigned char>(s[i]);
  if ((c >= 0x09 && c <= 0x0d) || (c >= 0x1c && c <= 0x20)) return 1;
  auto at = [&](size_t k) { return i + k < s.size() ? static_cast<unsigned char>(s[i + k]) : 0; };
  if (c == 0xc2 && (at(1) == 0x85 || at(1) == 0xa0)) return 2;  // U+0085, U+00A0
  if (c == 0xe1 && at(1) == 0x9a && at(2) == 0x80) return 3;    // U+1680
  if (c == 0xe2 && at(1) == 0x80 &&
      ((at(2) >= 0x80 && at(2) <= 0x8a) ||  // U+2000..200A
       at(2) == 0xa8 || at(2) == 0xa9 ||    // U+2028, U+2029
       at(2) == 0xaf)) {                    // U+202F
    return 3;
  }
  if (c == 0xe2 && at(1) == 0x81 && at(2) == 0x9f) return 3;  // U+205F
  if (c == 0xe3 && at(1) == 0x80 && at(2) == 0x80) return 3;  // U+3000
  return 0;
}

size_t py_skip_spaces(std::string_view s, size_t i) {
  while (i < s.size()) {
    size_t n = py_space_at(s, i);
    if (!n) break;
    i += n;
  }
  return i;
}

std::string_view py_strip(std::string_view s) {
  size_t b = py_skip_spaces(s, 0);
  size_t e = s.size();
  while (e > b) {
    size_t n = 0;
    for (size_t k = 1; k <= 3 && k <= e - b; ++k) {  // a space character ending at e
      if (py_space_at(s.substr(0, e), e - k) == k) {
        n = k;
        break;
      }
    }
    if (!n) break;
    e -= n;
  }
  return s.substr(b, e - b);
}

std::string py_replace(std::string_view s, std::string_view from, std::string_view to) {
  std::string out;
  out.reserve(s.size());
  size_t i = 0;
  while (true) {
    size_t j = s.find(from, i);
    if (j == std::string_view::npos) break;
    out.append(s.substr(i, j - i)).append(to);
    i = j + from.size();
  }
  return out.append(s.substr(i));
}

std::optional<std::string_view> py_answer_group(std::string_view s, bool dotall) {
  size_t pos = 0;
  while (true) {
    size_t b = s.find("<answer>", pos);
    if (b == std::string_view::npos) return std::nullopt;
    size_t start = b + 8;
    size_t e = s.find("</answer>", start);
    if (e == std::string_view::npos) return std::nullopt;  // none after any later start either
    std::string_view inner = s.substr(start, e - start);
    // Without DOTALL `.` stops at '\n': this start fails, the regex tries the next one.
    if (dotall || inner.find('\n') == std::string_view::npos) return inner;
    pos = b + 1;
  }
}

bool py_format_match(std::string_view s) {
  constexpr std::string_view kThink = "<think>", kEndThink = "</think>", kAnswer = "<answer>", kEndAnswer = "</answer>";
  if (s.size() < kThink.size() + kEndThink.size() + kAnswer.size() + kEndAnswer.size()) return false;
  if (s.substr(0, kThink.size()) != kThink) return false;
  if (s.substr(s.size() - kEndAnswer.size()) != kEndAnswer) return false;
  const size_t answer_body_end = s.size() - kEndAnswer.size();
  // Some "</think>" after the opening tag, then whitespace, then "<answer>" that ends no
  // later than where the closing "</answer>" begins.
  for (size_t i = s.find(kEndThink, kThink.size()); i != std::string_view::npos; i = s.find(kEndThink, i + 1)) {
    size_t j = py_skip_spaces(s, i + kEndThink.size());
    if (s.substr(j, kAnswer.size()) == kAnswer && j + kAnswer.size() <= answer_body_end) return true;
  }
  return false;
}

// ---- values --------------------------------------------------------------------------------------

const PyValue* PyValue::get(std::string_view key) const {
  for (auto it = fields.rbegin(); it != fields.rend(); ++it) {
    if (it->first == key) return &it->second;
  }
  return nullptr;
}

namespace {

constexpr int kMaxDepth = 512;

// Python's json module (the C scanner): strict JSON plus NaN / Infinity / -Infinity.
struct JsonParser {
  std::string_view s;
  size_t i = 0;

  void ws() {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r')) ++i;
  }
  bool lit(std::string_view w) {
    if (s.substr(i, w.size()) != w) return false;
    i += w.size();
    return true;
  }
  bool digits() {
    size_t b = i;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i;
    return i > b;
  }

  bool number(PyValue& v) {
    size_t b = i;
    if (i < s.size() && s[i] == '-') ++i;
    if (i < s.size() && s[i] == '0') {
      ++i;
    } else if (!digits()) {
      return false;
    }
    if (i + 1 < s.size() && s[i] == '.' && s[i + 1] >= '0' && s[i + 1] <= '9') {
      ++i;
      digits();
    }
    if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
      size_t save = i++;
      if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
      if (!digits()) i = save;  // "1e" is the number 1 followed by "e" (then an error)
    }
    v.kind = PyValue::Kind::number;
    std::from_chars(s.data() + b, s.data() + i, v.number);  // the JSON grammar is a subset
    return true;
  }

  bool string(std::string& out) {
    if (i >= s.size() || s[i] != '"') return false;
    ++i;
    while (i < s.size()) {
      unsigned char c = static_cast<unsigned char>(s[i]);
      if (c == '"') {
        ++i;
        return true;
      }
      if (c < 0x20) return false;  // control characters must be escaped
      if (c != '\\') {
        out += static_cast<char>(c);
        ++i;
        continue;
      }
      if (++i >= s.size()) return false;
      char e = s[i++];
      switch (e) {
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case '/': out += '/'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': {
          if (i + 4 > s.size()) return false;
          uint32_t cp = 0;
          for (int k = 0; k < 4; ++k) {
            char h = s[i++];
            cp <<= 4;
            if (h >= '0' && h <= '9')
              cp |= h - '0';
            else if (h >= 'a' && h <= 'f')
              cp |= h - 'a' + 10;
            else if (h >= 'A' && h <= 'F')
              cp |= h - 'A' + 10;
            else
              return false;
          }
          out += utf8_encode(cp);
          break;
        }
        default: return false;
      }
    }
    return false;
  }

  bool value(PyValue& v, int depth) {
    if (depth > kMaxDepth || i >= s.size()) return false;
    char c = s[i];
    if (c == '{') {
      ++i;
      v.kind = PyValue::Kind::dict;
      ws();
      if (i < s.size() && s[i] == '}') return ++i, true;
      while (true) {
        ws();
        std::string key;
        if (!string(key)) return false;
        ws();
        if (i >= s.size() || s[i] != ':') return false;
        ++i;
        ws();
        PyValue item;
        if (!value(item, depth + 1)) return false;
        v.fields.emplace_back(std::move(key), std::move(item));
        ws();
        if (i < s.size() && s[i] == ',') {
          ++i;
          continue;
        }
        if (i < s.size() && s[i] == '}') return ++i, true;
        return false;
      }
    }
    if (c == '[') {
      ++i;
      v.kind = PyValue::Kind::list;
      ws();
      if (i < s.size() && s[i] == ']') return ++i, true;
      while (true) {
        ws();
        PyValue item;
        if (!value(item, depth + 1)) return false;
        v.items.push_back(std::move(item));
        ws();
        if (i < s.size() && s[i] == ',') {
          ++i;
          continue;
        }
        if (i < s.size() && s[i] == ']') return ++i, true;
        return false;
      }
    }
    if (c == '"') {
      v.kind = PyValue::Kind::string;
      return string(v.text);
    }
    if (lit("null")) return v.kind = PyValue::Kind::null, true;
    if (lit("true")) return v.kind = PyValue::Kind::boolean, v.number = 1, true;
    if (lit("false")) return v.kind = PyValue::Kind::boolean, v.number = 0, true;
    if (lit("NaN")) return v.kind = PyValue::Kind::number, v.number = NAN, true;
    if (lit("Infinity")) return v.kind = PyValue::Kind::number, v.number = INFINITY, true;
    if (lit("-Infinity")) return v.kind = PyValue::Kind::number, v.number = -INFINITY, true;
    return number(v);
  }
};

// The forgiving reader. `truncated` is set when the text ends inside a container.
struct LenientParser {
  std::string_view s;
  size_t i = 0;
  bool truncated = false;

  void ws() { i = py_skip_spaces(s, i); }
  bool at_end() { return i >= s.size(); }

  static bool ident_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }

  // Returns false on a syntax error or the end of the text (then `truncated` is set).
  bool value(PyValue& v, int depth) {
    ws();
    if (depth > kMaxDepth) return false;
    if (at_end()) return truncated = true, false;
    char c = s[i];
    if (c == '[' || c == '(') return container(v, depth, c == '[' ? ']' : ')', false);
    if (c == '{') return container(v, depth, '}', true);
    if (c == '\'' || c == '"') {
      v.kind = PyValue::Kind::string;
      ++i;
      while (i < s.size() && s[i] != c) {
        if (s[i] == '\\' && i + 1 < s.size()) ++i;
        v.text += s[i++];
      }
      if (at_end()) return truncated = true, false;
      ++i;
      return true;
    }
    // A bare word or number: read the token, then classify it.
    size_t b = i;
    while (i < s.size() && (ident_char(s[i]) || s[i] == '.' || s[i] == '+' || s[i] == '-')) ++i;
    std::string_view tok = s.substr(b, i - b);
    if (tok.empty()) return false;
    if (i >= s.size()) truncated = true;  // a token cut by the end may be incomplete
    if (std::isdigit(static_cast<unsigned char>(tok[0])) || tok[0] == '.' ||
        (tok.size() > 1 && (tok[0] == '-' || tok[0] == '+') &&
         (std::isdigit(static_cast<unsigned char>(tok[1])) || tok[1] == '.'))) {
      // A decimal number (Python float syntax): digits, optional point and exponent.
      if (tok.find_first_not_of("0123456789.eE+-") != std::string_view::npos) return false;
      v.kind = PyValue::Kind::number;
      const char* first = tok.data() + (tok[0] == '+' ? 1 : 0);
      auto [end, ec] = std::from_chars(first, tok.data() + tok.size(), v.number);
      return ec == std::errc() && end == tok.data() + tok.size();
    }
    std::string low(tok);
    std::transform(low.begin(), low.end(), low.begin(), [](unsigned char ch) { return std::tolower(ch); });
    bool neg = low[0] == '-';
    std::string word = (low[0] == '-' || low[0] == '+') ? low.substr(1) : low;
    if (low == "true") return v.kind = PyValue::Kind::boolean, v.number = 1, true;
    if (low == "false") return v.kind = PyValue::Kind::boolean, v.number = 0, true;
    if (low == "none" || low == "null") return v.kind = PyValue::Kind::null, true;
    v.kind = PyValue::Kind::number;
    if (word == "nan") return v.number = NAN, true;
    if (word == "inf" || word == "infinity") return v.number = neg ? -INFINITY : INFINITY, true;
    return false;
  }

  bool container(PyValue& v, int depth, char close, bool dict) {
    ++i;
    v.kind = dict ? PyValue::Kind::dict : PyValue::Kind::list;
    while (true) {
      ws();
      if (at_end()) return truncated = true, false;
      if (s[i] == close) return ++i, true;
      std::string key;
      if (dict) {
        PyValue k;
        if (!value(k, depth + 1)) return false;
        if (k.kind != PyValue::Kind::string) return false;
        key = k.text;
        ws();
        if (at_end()) return truncated = true, false;
        if (s[i] != ':') return false;
        ++i;
      }
      PyValue item;
      if (!value(item, depth + 1)) {
        // A list cut off inside an element keeps its complete elements.
        if (truncated && !dict && depth == 0) return true;
        return false;
      }
      if (dict)
        v.fields.emplace_back(std::move(key), std::move(item));
      else
        v.items.push_back(std::move(item));
      ws();
      if (at_end()) {
        truncated = true;
        return !dict && depth == 0;
      }
      if (s[i] == ',') {
        ++i;
        continue;
      }
      if (s[i] == close) return ++i, true;
      return false;
    }
  }
};

}  // namespace

std::optional<PyValue> py_json_loads(std::string_view s) {
  JsonParser p{s};
  p.ws();
  PyValue v;
  if (!p.value(v, 0)) return std::nullopt;
  p.ws();
  if (p.i != s.size()) return std::nullopt;  // "Extra data"
  return v;
}

std::optional<PyValue> parse_literal_lenient(std::string_view s) {
  LenientParser p{s};
  PyValue v;
  if (!p.value(v, 0)) return std::nullopt;
  return v;  // text after a complete value is ignored
}

// ---- detection -----------------------------------------------------------------------------------

std::optional<PyValue> reference_extract_bbox(std::string_view s) {
  size_t open = s.find("<answer>");
  if (open == std::string_view::npos) return std::nullopt;
  size_t start = open + 8;
  size_t end = s.find("</answer>");  // the first one anywhere, as the reference does
  if (end == std::string_view::npos) end = s.size();
  std::string content(end > start ? s.substr(start, end - start) : std::string_view());  // s[a:b], b < a -> ""
  if (content.empty() || content.back() != ']') {
    size_t cut = content.rfind("},");
    content = (cut == std::string::npos ? content : content.substr(0, cut)) + "}]";
  }
  return py_json_loads(py_replace(content, "'", "\""));
}

namespace {

const PyValue* get_ci(const PyValue& d, std::string_view key) {
  const PyValue* found = nullptr;
  for (const auto& [k, v] : d.fields) {
    if (k.size() == key.size() && std::equal(k.begin(), k.end(), key.begin(),
                                             [](char a, char b) { return std::tolower(a) == std::tolower(b); })) {
      found = &v;  // last wins, like a dict
    }
  }
  return found;
}

double clamp(double v, double lo, double hi) { return std::min(hi, std::max(lo, v)); }

Box normalise(double a, double b, double c, double d) {
  Box box{clamp(a, 0, 1000), clamp(b, 0, 1000), clamp(c, 0, 1000), clamp(d, 0, 1000)};
  if (box.x2 < box.x1) std::swap(box.x1, box.x2);
  if (box.y2 < box.y1) std::swap(box.y1, box.y2);
  return box;
}

bool is_no_objects(std::string_view body) {
  std::string t(py_strip(body));
  while (!t.empty() && (t.back() == '.' || t.back() == '\'' || t.back() == '"')) t.pop_back();
  while (!t.empty() && (t.front() == '\'' || t.front() == '"')) t.erase(t.begin());
  std::transform(t.begin(), t.end(), t.begin(), [](unsigned char c) { return std::tolower(c); });
  return t == "no objects" || t == "no object";
}

std::optional<DetectionAnswer> detections_from(std::string_view body) {
  DetectionAnswer out;
  if (is_no_objects(body)) {
    out.no_objects = true;
    return out;
  }
  std::optional<PyValue> v = parse_literal_lenient(body);
  if (!v) return std::nullopt;
  std::vector<const PyValue*> entries;
  if (v->kind == PyValue::Kind::dict) {
    entries.push_back(&*v);  // one object without brackets
  } else if (v->kind == PyValue::Kind::list) {
    // [[{...}, ...]]: a list wrapped in one more list is unwrapped (the reference's "[[" fix).
    const bool wrapped = v->items.size() == 1 && v->items[0].kind == PyValue::Kind::list;
    for (const PyValue& e : wrapped ? v->items[0].items : v->items) entries.push_back(&e);
  } else {
    return std::nullopt;
  }
  for (const PyValue* ep : entries) {
    const PyValue& e = *ep;
    if (e.kind != PyValue::Kind::dict) return std::nullopt;
    const PyValue* pos = get_ci(e, "position");
    const PyValue* conf = get_ci(e, "confidence");
    if (!pos || !conf || pos->kind != PyValue::Kind::list || pos->items.size() != 4) return std::nullopt;
    double c[4];
    for (int k = 0; k < 4; ++k) {
      if (!pos->items[k].is_number() || !std::isfinite(pos->items[k].number)) return std::nullopt;
      c[k] = pos->items[k].number;
    }
    if (!conf->is_number() || !std::isfinite(conf->number)) return std::nullopt;
    Detection d{normalise(c[0], c[1], c[2], c[3]), clamp(conf->number, 0, 1)};
    bool dup = std::any_of(out.objects.begin(), out.objects.end(), [&](const Detection& o) {
      return o.box.x1 == d.box.x1 && o.box.y1 == d.box.y1 && o.box.x2 == d.box.x2 && o.box.y2 == d.box.y2;
    });
    if (!dup) out.objects.push_back(d);
  }
  return out;
}

// The body of the first <answer> (any lines); without a closing tag, the rest of the text.
std::optional<std::string_view> answer_body(std::string_view s, bool allow_truncated) {
  size_t b = s.find("<answer>");
  if (b == std::string_view::npos) return std::nullopt;
  size_t start = b + 8;
  size_t e = s.find("</answer>", start);
  if (e == std::string_view::npos) {
    if (!allow_truncated) return std::nullopt;
    e = s.size();
  }
  return s.substr(start, e - start);
}

}  // namespace

std::optional<DetectionAnswer> parse_detection_answer(std::string_view completion) {
  std::optional<std::string_view> body = answer_body(completion, /*allow_truncated=*/true);
  if (!body) return std::nullopt;
  return detections_from(*body);
}

std::optional<DetectionAnswer> parse_detection_solution(std::string_view solution) {
  std::optional<std::string_view> body = answer_body(solution, /*allow_truncated=*/false);
  return detections_from(body ? *body : solution);
}

std::optional<std::string> strict_answer_text(std::string_view completion) {
  std::optional<std::string_view> body = answer_body(completion, /*allow_truncated=*/false);
  if (!body) return std::nullopt;
  return std::string(py_strip(*body));
}

// ---- grounding -----------------------------------------------------------------------------------

namespace {

// A decimal number at s[i] ([+-]digits[.digits]); advances i.
bool scan_number(std::string_view s, size_t& i, double& out) {
  size_t b = i;
  if (i < s.size() && (s[i] == '-' || s[i] == '+')) ++i;
  size_t d = i;
  while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) ++i;
  if (i == d) return i = b, false;
  if (i + 1 < s.size() && s[i] == '.' && std::isdigit(static_cast<unsigned char>(s[i + 1]))) {
    ++i;
    while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) ++i;
  }
  std::from_chars(s.data() + b + (s[b] == '+' ? 1 : 0), s.data() + i, out);
  return true;
}

void skip_ws(std::string_view s, size_t& i) { i = py_skip_spaces(s, i); }

bool expect(std::string_view s, size_t& i, char c) {
  skip_ws(s, i);
  if (i >= s.size() || s[i] != c) return false;
  ++i;
  skip_ws(s, i);
  return true;
}

// "(x1,y1),(x2,y2)" or "[x1,y1,x2,y2]" starting at s[i].
std::optional<Box> box_at(std::string_view s, size_t i) {
  double v[4];
  if (s[i] == '(') {
    size_t k = i + 1;
    skip_ws(s, k);
    if (!scan_number(s, k, v[0]) || !expect(s, k, ',') || !scan_number(s, k, v[1]) || !expect(s, k, ')') ||
        !expect(s, k, ',') || !expect(s, k, '(') || !scan_number(s, k, v[2]) || !expect(s, k, ',') ||
        !scan_number(s, k, v[3]) || !expect(s, k, ')')) {
      return std::nullopt;
    }
  } else {
    size_t k = i + 1;
    skip_ws(s, k);
    for (int n = 0; n < 4; ++n) {
      if (!scan_number(s, k, v[n])) return std::nullopt;
      if (!expect(s, k, n < 3 ? ',' : ']')) return std::nullopt;
    }
  }
  for (double x : v) {
    if (!std::isfinite(x)) return std::nullopt;
  }
  return normalise(v[0], v[1], v[2], v[3]);
}

std::optional<Box> first_box(std::string_view s) {
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '(' && s[i] != '[') continue;
    if (auto b = box_at(s, i)) return b;
  }
  return std::nullopt;
}

}  // namespace

std::optional<Box> parse_grounding_answer(std::string_view completion) {
  std::optional<std::string_view> body = answer_body(completion, /*allow_truncated=*/false);
  if (!body) return std::nullopt;
  return first_box(*body);
}

std::optional<Box> parse_grounding_solution(std::string_view solution) {
  std::optional<std::string_view> body = answer_body(solution, /*allow_truncated=*/false);
  return first_box(body ? *body : solution);
}

}  // namespace vrft
