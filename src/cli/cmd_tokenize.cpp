// src/cli/cmd_tokenize.cpp: `visual-rft tokenize --tokenizer PATH [--decode]`: one text per
// line on stdin (or one JSON id list per line with --decode), one JSON result per line out.
// A bad line gets {"line": N, "error": ...}; the exit status is then 1.
#include <iostream>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "visual_rft/core/error.h"
#include "visual_rft/text/tokenizer.h"

namespace vrft::cli {

namespace {

struct TokenizeArgs {
  std::string path;
  bool decode = false, skip_special = false;
  int64_t max_added = -1;
};

// One line of stdin: its ids, or with --decode its text.
nlohmann::json tokenize_line(const TokenizeArgs& a, const Tokenizer& tok, const std::string& line) {
  if (!a.decode) return {{"ids", tok.encode(line)}};
  nlohmann::json ids;
  try {
    ids = nlohmann::json::parse(line);
  } catch (const nlohmann::json::exception&) {
    throw Error("expected a JSON list of ids");
  }
  if (!ids.is_array()) throw Error("expected a JSON list of ids");
  return {{"text", tok.decode(ids.get<std::vector<int64_t>>(), a.skip_special)}};
}

void run_tokenize(const TokenizeArgs& a) {
  std::string file = a.path;
  if (file.size() < 5 || file.substr(file.size() - 5) != ".json") file += "/tokenizer.json";  // a model folder
  TokenizerOptions o;
  o.max_added_token_id = a.max_added;
  auto tok = load_tokenizer(file, o);
  std::string line;
  int line_no = 0, errors = 0;
  while (std::getline(std::cin, line)) {
    ++line_no;
    nlohmann::json out;
    try {
      out = tokenize_line(a, *tok, line);
    } catch (const Error& e) {
      out = {{"line", line_no}, {"error", e.what()}};
      ++errors;
    } catch (const nlohmann::json::exception& e) {
      out = {{"line", line_no}, {"error", std::string("expected a JSON list of integer ids: ") + e.what()}};
      ++errors;
    }
    std::cout << out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
  }
  if (errors) throw CLI::RuntimeError(1);
}

}  // namespace

void add_tokenize_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("tokenize", "Encode text lines from stdin to ids (or decode id lists with --decode)");
  static TokenizeArgs a;
  cmd->add_option("--tokenizer", a.path, "tokenizer.json (or a model folder holding one)")->required();
  cmd->add_flag("--decode", a.decode, "Read one JSON list of ids per line and print the text");
  cmd->add_flag("--skip-special", a.skip_special, "With --decode: drop special tokens");
  cmd->add_option("--max-added-id", a.max_added, "Drop added tokens above this id (Qwen2-VL: 151656)");
  cmd->callback([] { run_tokenize(a); });
}

}  // namespace vrft::cli
