// src/core/config.cpp: YAML <-> Config, --set overrides and the schema (validation: config_validate.cpp).
//
// All of it is driven by the visit() lists in config.h: a visitor sees each field once with
// its key and help, so parsing, printing and documenting cannot drift apart.
// Scalars follow the YAML 1.2 core schema (true/false, 1e-6 is a float); a quoted scalar is a
// string and is refused where a number or bool is expected.
#include "visual_rft/core/config.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <set>
#include <sstream>
#include <type_traits>
#include <utility>

#include "visual_rft/core/error.h"
#include "visual_rft/core/hub.h"
#include "visual_rft/core/log.h"

namespace vrft {
namespace {

// Where a value came from, for error messages: "configs/x.yaml:12" or "--set a.b=c".
std::string where(const std::string& origin, const YAML::Node& n) {
  if (n.Mark().line >= 0 && origin.rfind("--set", 0) != 0) {
    return origin + ":" + std::to_string(n.Mark().line + 1);
  }
  return origin;
}

std::string describe(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Null: return "null";
    case YAML::NodeType::Sequence: return "a list";
    case YAML::NodeType::Map: return "a map";
    case YAML::NodeType::Scalar:
      return (n.Tag() == "!" ? "the quoted string \"" : "'") + n.Scalar() + (n.Tag() == "!" ? "\"" : "'");
    default: return "nothing";
  }
}

// ---- scalar conversion ------------------------------------------------------------------
// Each returns false when the node is not of the type; the caller builds the message.

// A map that names a key twice is refused (YAML says keys are unique; yaml-cpp keeps both
// and reads the first, so the second would be silently ignored).
void refuse_duplicate_keys(const YAML::Node& map, const std::string& origin, const std::string& prefix) {
  std::map<std::string, YAML::Node> seen;
  for (auto it = map.begin(); it != map.end(); ++it) {
    const std::string key = it->first.Scalar();
    const auto [first, fresh] = seen.emplace(key, it->first);
    if (!fresh) {
      throw ConfigError(where(origin, it->first) + ": duplicate key '" + prefix + key + "' (first given at line " +
                        std::to_string(first->second.Mark().line + 1) + ")");
    }
  }
}

bool plain_scalar(const YAML::Node& n) { return n.IsScalar() && n.Tag() != "!"; }

bool convert(const YAML::Node& n, bool& out) {
  if (!plain_scalar(n)) return false;
  const std::string& s = n.Scalar();
  if (s == "true" || s == "True" || s == "TRUE") return out = true, true;
  if (s == "false" || s == "False" || s == "FALSE") return out = false, true;
  return false;
}

bool convert(const YAML::Node& n, int64_t& out) {
  if (!plain_scalar(n)) return false;
  const std::string& s = n.Scalar();
  const char* b = s.data() + (s.size() > 1 && s[0] == '+' ? 1 : 0);
  auto [p, ec] = std::from_chars(b, s.data() + s.size(), out);
  return ec == std::errc() && p == s.data() + s.size() && !s.empty();
}

bool convert(const YAML::Node& n, double& out) {
  if (!plain_scalar(n) || n.Scalar().empty()) return false;
  const std::string& s = n.Scalar();
  char* end = nullptr;
  out = std::strtod(s.c_str(), &end);
  // strtod also reads "nan", "inf" and hex floats; a config wants finite decimal numbers.
  return end == s.c_str() + s.size() && std::isfinite(out) && s.find_first_of("xXnN") == std::string::npos;
}

bool convert(const YAML::Node& n, std::string& out) {
  if (n.IsNull()) return out.clear(), true;  // `key:` with no value is the empty string
  if (!n.IsScalar()) return false;
  out = n.Scalar();
  return true;
}

template <class T>
bool convert(const YAML::Node& n, std::vector<T>& out) {
  if (n.IsNull()) return out.clear(), true;
  if (!n.IsSequence()) return false;
  std::vector<T> v(n.size());
  for (size_t i = 0; i < n.size(); ++i) {
    if (!convert(n[i], v[i])) return false;
  }
  out = std::move(v);
  return true;
}

template <class T>
const char* type_name();
template <>
const char* type_name<bool>() {
  return "bool";
}
template <>
const char* type_name<int64_t>() {
  return "int";
}
template <>
const char* type_name<double>() {
  return "float";
}
template <>
const char* type_name<std::string>() {
  return "string";
}
template <>
const char* type_name<std::vector<std::string>>() {
  return "list[string]";
}
template <>
const char* type_name<std::vector<double>>() {
  return "list[float]";
}

// ---- scalar formatting (YAML that convert() reads back) -------------------------------------

std::string format(bool b) { return b ? "true" : "false"; }
template <class E, std::enable_if_t<std::is_enum_v<E>, int> = 0>
std::string format(E choice) {
  return choice_name(choice);
}
std::string format(int64_t i) { return std::to_string(i); }
std::string format(double d) {
  char buf[64];
  auto [p, ec] = std::to_chars(buf, buf + sizeof buf, d);  // shortest round-trip form
  std::string s(buf, p);
  if (s.find_first_of(".eE") == std::string::npos) s += ".0";
  return s;
}
std::string format(const std::string& s) {
  bool quote = s.empty() || s.front() == ' ' || s.back() == ' ' ||
               s.find_first_of(":#{}[],&*!|>'\"%@`\\\n\t") != std::string::npos || s == "~" || s == "null" ||
               s == "Null" || s == "NULL";
  YAML::Node probe(s);
  bool b;
  int64_t i;
  double d;
  quote = quote || convert(probe, b) || convert(probe, i) || convert(probe, d);
  if (!quote) return s;
  std::string q = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\')
      q += '\\', q += c;
    else if (c == '\n')
      q += "\\n";
    else if (c == '\t')
      q += "\\t";
    else
      q += c;
  }
  return q + "\"";
}
template <class T>
std::string format(const std::vector<T>& v) {
  std::string s = "[";
  for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + format(v[i]);
  return s + "]";
}

std::string join(const std::vector<std::string>& v, const char* sep) {
  std::string s;
  for (size_t i = 0; i < v.size(); ++i) s += (i ? sep : "") + v[i];
  return s;
}

// ---- visitors ---------------------------------------------------------------------------------

// Reads one YAML root map into a Config, section by section.
struct ParseVisitor {
  const YAML::Node& root;
  const std::string& origin;
  std::string section_name;
  const YAML::Node* sec = nullptr;        // the current section's map, while it is visited
  std::vector<std::string> section_keys;  // the current section's keys, for suggestions

  template <class S>
  void section(const char* name, S& s, const char*) {
    section_name = name;
    const YAML::Node node = root[name];
    if (!node || node.IsNull()) return;  // absent, or `grpo:` with nothing under it
    if (!node.IsMap()) {
      throw ConfigError(where(origin, node) + ": section '" + name + "' must be a map of keys, got " + describe(node));
    }
    refuse_duplicate_keys(node, origin, section_name + ".");
    section_keys.clear();
    KeyCollector kc{section_keys};
    s.visit(kc);
    sec = &node;
    s.visit(*this);
    sec = nullptr;
    for (auto it = node.begin(); it != node.end(); ++it) {
      std::string key = it->first.Scalar();
      if (std::find(section_keys.begin(), section_keys.end(), key) != section_keys.end()) continue;
      std::string msg = where(origin, it->first) + ": unknown key '" + section_name + "." + key + "'";
      std::string near = nearest(key, section_keys);
      if (!near.empty()) {
        msg += " (did you mean '" + section_name + "." + near + "'?)";
      } else {
        for (const auto& k : config_keys()) {  // the right key in the wrong section?
          if (k.substr(k.find('.') + 1) == key) msg += " (did you mean '" + k + "'?)";
        }
      }
      throw ConfigError(msg);
    }
  }

  template <class T>
  void operator()(T& field, const char* key, const char* help) {
    if constexpr (std::is_enum_v<T>) {  // a choice: its words
      std::string word = choice_name(field);
      std::vector<std::string> allowed(std::begin(Choice<T>::names), std::end(Choice<T>::names));
      (*this)(word, key, help, allowed);
      if ((*sec)[key]) field = *parse_choice<T>(word);
      return;
    }
    const YAML::Node n = (*sec)[key];
    if (!n) return;
    if constexpr (!std::is_enum_v<T>) {
      if (!convert(n, field)) {
        throw ConfigError(where(origin, n) + ": key '" + section_name + "." + key + "': expected " +
                          (std::is_same_v<T, double> ? "a finite float" : std::string("a ") + type_name<T>()) +
                          ", got " + describe(n));
      }
    }
  }

  void operator()(std::string& field, const char* key, const char* help, std::initializer_list<const char*> choices) {
    (*this)(field, key, help, std::vector<std::string>(choices.begin(), choices.end()));
  }
  void operator()(std::string& field, const char* key, const char* help, const std::vector<std::string>& allowed) {
    const YAML::Node n = (*sec)[key];
    if (!n) return;
    (*this)(field, key, help);
    if (std::find(allowed.begin(), allowed.end(), field) == allowed.end()) {
      std::string msg = where(origin, n) + ": key '" + section_name + "." + key + "' must be one of " +
                        join(allowed, ", ") + "; got '" + field + "'";
      std::string near = nearest(field, allowed);
      if (!near.empty()) msg += " (did you mean '" + near + "'?)";
      throw ConfigError(msg);
    }
  }

  template <class T>
  void operator()(T& field, const char* key, const char* help, const Range&) {  // checked by validate()
    (*this)(field, key, help);
  }

  struct KeyCollector {
    std::vector<std::string>& keys;
    template <class T>
    void operator()(T&, const char* key, const char*) {
      keys.push_back(key);
    }
    template <class T>
    void operator()(T&, const char* key, const char*, const Range&) {
      keys.push_back(key);
    }
    void operator()(std::string&, const char* key, const char*, std::initializer_list<const char*>) {
      keys.push_back(key);
    }
  };
};

// Collects every field's key, type, default and help.
struct SchemaVisitor {
  std::vector<FieldInfo>& rows;
  std::string prefix;

  template <class S>
  void section(const char* name, S& s, const char*) {
    prefix = std::string(name) + ".";
    s.visit(*this);
  }
  template <class T>
  void operator()(T& field, const char* key, const char* help) {
    if constexpr (std::is_enum_v<T>) {
      rows.push_back({prefix + key, "one of: " + choice_list<T>(), format(field), help});
    } else {
      rows.push_back({prefix + key, type_name<T>(), format(field), help});
    }
  }
  void operator()(std::string& field, const char* key, const char* help, std::initializer_list<const char*> choices) {
    rows.push_back({prefix + key, "one of: " + join({choices.begin(), choices.end()}, ", "), format(field), help});
  }
  template <class T>
  void operator()(T& field, const char* key, const char* help, const Range&) {
    (*this)(field, key, help);
  }
};

// Writes a Config as YAML, one block per section.
struct YamlVisitor {
  std::ostringstream& out;
  template <class S>
  void section(const char* name, S& s, const char*) {
    out << name << ":\n";
    s.visit(*this);
  }
  template <class T>
  void operator()(T& field, const char* key, const char*) {
    out << "  " << key << ": " << format(field) << "\n";
  }
  void operator()(std::string& field, const char* key, const char*, std::initializer_list<const char*>) {
    out << "  " << key << ": " << format(field) << "\n";
  }
  template <class T>
  void operator()(T& field, const char* key, const char* help, const Range&) {
    (*this)(field, key, help);
  }
};

// Collects the section names.
struct SectionNames {
  std::vector<std::string>& names;
  template <class S>
  void section(const char* name, S&, const char*) {
    names.push_back(name);
  }
};

// Sections of the root map must all be known, each named once.
void check_sections(const YAML::Node& root, const std::string& origin) {
  refuse_duplicate_keys(root, origin, "");
  std::vector<std::string> names;
  SectionNames collector{names};
  Config probe;
  probe.visit(collector);
  for (auto it = root.begin(); it != root.end(); ++it) {
    std::string key = it->first.Scalar();
    if (std::find(names.begin(), names.end(), key) != names.end()) continue;
    std::string msg = where(origin, it->first) + ": unknown section '" + key + "'";
    std::string near = nearest(key, names);
    if (!near.empty()) msg += " (did you mean '" + near + "'?)";
    msg += "; sections are " + join(names, ", ");
    throw ConfigError(msg);
  }
}

void parse_into(Config& cfg, const YAML::Node& root, const std::string& origin) {
  if (!root || root.IsNull()) return;  // an empty file keeps the defaults
  if (!root.IsMap()) {
    throw ConfigError(where(origin, root) + ": a config is a map of sections (model:, data:, ...), got " +
                      describe(root));
  }
  check_sections(root, origin);
  ParseVisitor v{root, origin, {}, nullptr, {}};
  cfg.visit(v);
}

}  // namespace

Config parse_config(const std::string& yaml_text, const std::string& origin) {
  YAML::Node root;
  try {
    root = YAML::Load(yaml_text);
  } catch (const YAML::Exception& e) {
    throw ConfigError(origin + ":" + std::to_string(e.mark.line + 1) + ":" + std::to_string(e.mark.column + 1) +
                      ": YAML syntax error: " + e.msg);
  }
  Config cfg;
  parse_into(cfg, root, origin);
  return cfg;
}

namespace {

// A config named the way users type it: a path, or a bare name ("cls_flower102.yaml",
// "cls_flower102") of the project's configs/ folder, looked up from the working folder and
// from the executable's project (build/visual-rft -> configs/). Returns the first that exists.
std::string resolve_config_path(const std::string& name, std::vector<std::string>* tried) {
  namespace fs = std::filesystem;
  std::error_code ec;
  tried->push_back(name);
  if (fs::exists(name, ec) || name.find('/') != std::string::npos) return name;
  const std::string file = name.size() > 5 && name.compare(name.size() - 5, 5, ".yaml") == 0 ? name : name + ".yaml";
  std::vector<fs::path> roots = {fs::current_path(ec)};
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) roots.push_back(exe.parent_path().parent_path());  // build/visual-rft -> the project
  for (const auto& r : roots) {
    const fs::path c = r / "configs" / file;
    tried->push_back(c.string());
    if (fs::exists(c, ec)) return c.string();
  }
  return name;
}

}  // namespace

namespace {

// Throws a ConfigError when `path` (the value of `key`) does not exist, saying how to get it:
// the scripts/get.sh name for a shipped config's folder, else `hint` when it has one, else
// that `what` was expected.
void require_input(const std::string& key, const std::string& path, const std::string& hint, const char* what) {
  // The folders of the shipped configs and the scripts/get.sh names that fetch them.
  static const std::pair<const char*, const char*> kFetch[] = {
      {"models/Qwen2-VL-2B-Instruct", "qwen2-vl-2b"}, {"models/Qwen2-VL-7B-Instruct", "qwen2-vl-7b"},
      {"data/ViRFT_CLS_flower_4_shot", "flower"},     {"data/ViRFT_CLS_fgvc_aircraft_4_shot", "aircraft"},
      {"data/ViRFT_CLS_car196_4shot", "cars"},        {"data/ViRFT_CLS_pets37_4shot", "pets"},
      {"data/ViRFT_COCO_8cate_4shot", "coco-8cate"},  {"data/ViRFT_LVIS_few_shot", "lvis-fewshot"},
      {"data/ViRFT_COCO_base65", "coco-base65"}};
  std::error_code ec;
  if (path.empty() || std::filesystem::exists(path, ec)) return;
  std::string say = hint.empty() ? std::string("expected ") + what : hint;
  for (const auto& [folder, name] : kFetch) {
    if (path.rfind(folder, 0) == 0) say = std::string("fetch it with scripts/get.sh ") + name;
  }
  throw ConfigError(key + " '" + path + "' does not exist: " + say);
}

}  // namespace

void require_model_folder(const std::string& key, const std::string& path) {
  require_input(key, path, missing_model_hint(path), "a Hugging Face model folder (scripts/get.sh fetches Qwen2-VL)");
}

void check_run_inputs(const Config& cfg, bool training) {
  require_model_folder("model.path", cfg.model.path);
  if (!training) return;
  const std::string& data = cfg.data.train;
  const std::string dataset_hint =  // a dataset id: the JSONL comes from a conversion
      !looks_like_hub_id(data) ? ""
                               : "a Hugging Face dataset id is not read directly: download it (`hf download "
                                 "--repo-type dataset " +
                                     data +
                                     " --local-dir DIR`) and convert it (`scripts/convert_hf_dataset.py DIR --out "
                                     "OUT`), then set data.train to OUT/train.jsonl";
  require_input("data.train", data, dataset_hint, "a Visual-RFT JSONL file (scripts/get.sh fetches the released sets)");
}

Config load_config(const std::string& requested) {
  std::error_code ec;
  std::vector<std::string> tried;
  const std::string path = resolve_config_path(requested, &tried);
  if (std::filesystem::is_directory(path, ec))
    throw ConfigError("config file '" + path + "' is a folder, not a YAML file");
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    std::string where;
    for (const auto& t : tried) where += (where.empty() ? "" : ", ") + t;
    throw ConfigError("config file '" + requested + "' cannot be opened (looked for " + where + ")");
  }
  if (path != requested) log_info("config {}: {}", requested, path);
  std::stringstream ss;
  ss << in.rdbuf();
  return parse_config(ss.str(), path);
}

void apply_override(Config& cfg, const std::string& assignment) {
  const std::string origin = "--set " + assignment;
  size_t eq = assignment.find('=');
  size_t dot = assignment.find('.');
  if (eq == std::string::npos || dot == std::string::npos || dot > eq) {
    throw ConfigError(origin + ": expected section.key=value (for example optim.lr=2e-6)");
  }
  std::string section = assignment.substr(0, dot);
  std::string key = assignment.substr(dot + 1, eq - dot - 1);
  std::string raw = assignment.substr(eq + 1);
  // A list ([a, b]) or a quoted scalar is read as YAML; anything else is taken verbatim, so
  // that a string value may hold ':' or '#' without quoting on the shell.
  YAML::Node value;
  if (!raw.empty() && (raw.front() == '[' || raw.front() == '"' || raw.front() == '\'')) {
    try {
      value = YAML::Load(raw);
    } catch (const YAML::Exception& e) {
      throw ConfigError(origin + ": the value is not valid YAML: " + e.msg);
    }
  } else {
    value = YAML::Node(raw);
  }
  YAML::Node root;
  root[section][key] = value;
  parse_into(cfg, root, origin);
}

std::string to_yaml(const Config& cfg) {
  std::ostringstream out;
  Config copy = cfg;  // visitors take non-const fields; the YAML writer only reads them
  YamlVisitor v{out};
  copy.visit(v);
  return out.str();
}

std::vector<FieldInfo> config_schema() {
  std::vector<FieldInfo> rows;
  Config defaults;
  SchemaVisitor v{rows, {}};
  defaults.visit(v);
  return rows;
}

std::vector<std::string> config_keys() {
  std::vector<std::string> keys;
  for (const auto& f : config_schema()) keys.push_back(f.key);
  return keys;
}

std::string config_reference_markdown() {
  std::ostringstream out;
  out << "| key | type | default | meaning |\n|---|---|---|---|\n";
  for (const auto& f : config_schema()) {
    out << "| `" << f.key << "` | " << f.type << " | `" << f.default_value << "` | " << f.help << " |\n";
  }
  return out.str();
}

std::string Range::text() const {
  auto num = [](double x) {
    char b[32];
    std::snprintf(b, sizeof b, "%g", x);
    return std::string(b);
  };
  std::string t;
  if (hi == std::numeric_limits<double>::infinity()) {
    t = std::string("must be ") + (lo_open ? "> " : ">= ") + num(lo);
  } else {
    t = std::string("must be in ") + (lo_open ? "(" : "[") + num(lo) + ", " + num(hi) + (hi_open ? ")" : "]");
  }
  return note ? t + " (" + note + ")" : t;
}

}  // namespace vrft
