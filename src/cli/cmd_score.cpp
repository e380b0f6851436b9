// src/cli/cmd_score.cpp: `visual-rft score`: the rewards of given completions, one JSON line
// per input line, in order. A malformed line gets {"line": N, "error": "..."} and the others
// are still scored; the exit status is then 1.
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "visual_rft/core/config.h"
#include "visual_rft/core/error.h"
#include "visual_rft/reward/rewards.h"

namespace vrft::cli {

namespace {

struct ScoreArgs {
  std::string task = "det";
  std::string compat = "strict";
  std::string input;
  std::vector<std::string> functions;
  std::vector<double> weights;
  std::string synonyms;
  std::string python, python_exe = "python3";
};

// Scores one input line; throws Error describing what is wrong with it.
nlohmann::ordered_json score_line(const std::string& line, const RewardSet& set) {
  nlohmann::json in;
  try {
    in = nlohmann::json::parse(line);
  } catch (const nlohmann::json::exception& e) {
    throw Error(std::string("not valid JSON: ") + e.what());
  }
  if (!in.is_object()) throw Error("expected a JSON object {\"completion\": ..., \"solution\": ...}");
  for (const char* key : {"completion", "solution"}) {
    if (!in.contains(key)) throw Error(std::string("missing key \"") + key + "\"");
    if (!in[key].is_string()) throw Error(std::string("\"") + key + "\" must be a string");
  }
  for (const char* key : {"problem", "image"}) {
    if (in.contains(key) && !in[key].is_string()) throw Error(std::string("\"") + key + "\" must be a string");
  }
  const Solution sol = parse_solution(set.task(), in["solution"].get<std::string>());
  const std::string completion = in["completion"], solution = in["solution"];
  const std::string problem = in.value("problem", ""), image = in.value("image", "");
  const RewardScores s = set.score_batch({{&completion, nullptr, &problem, &solution, &image}}, {&sol})[0];
  nlohmann::ordered_json out;
  nlohmann::ordered_json rewards = nlohmann::ordered_json::object();
  for (size_t i = 0; i < s.values.size(); ++i) rewards[set.names()[i]] = s.values[i];
  out["rewards"] = rewards;
  out["total"] = s.total;
  return out;
}

int run_score(const ScoreArgs& a) {
  RewardsConfig cfg;
  cfg.compat = parse_compat(a.compat);
  cfg.functions = a.functions;
  cfg.weights = a.weights;
  cfg.synonyms = a.synonyms;
  cfg.python = a.python;
  cfg.python_exe = a.python_exe;
  RewardSet set(parse_task(a.task), cfg);

  std::ifstream file;
  if (a.input != "-") {
    file.open(a.input);
    if (!file) throw FileError("cannot open input '" + a.input + "'");
  }
  std::istream& in = a.input == "-" ? std::cin : file;
  std::string line;
  int line_no = 0, errors = 0;
  while (std::getline(in, line)) {
    ++line_no;
    nlohmann::ordered_json out;
    try {
      out = score_line(line, set);
    } catch (const Error& e) {
      out = {{"line", line_no}, {"error", a.input + ":" + std::to_string(line_no) + ": " + e.what()}};
      ++errors;
    }
    std::cout << out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
  }
  if (errors) std::cerr << "score: " << errors << " of " << line_no << " lines could not be scored\n";
  return errors ? 1 : 0;
}

}  // namespace

void add_score_command(CLI::App& app) {
  auto* cmd =
      app.add_subcommand("score", "Rewards of completions: one JSON line out per {completion, solution} line in");
  static ScoreArgs args;
  cmd->add_option("--task", args.task, "cls, det or ground")
      ->check(CLI::IsMember({"cls", "det", "ground"}))
      ->capture_default_str();
  cmd->add_option("--compat", args.compat, "strict (default) or visual_rft (the reference's exact behaviour)")
      ->check(CLI::IsMember({"strict", "visual_rft"}))
      ->capture_default_str();
  cmd->add_option("--input", args.input, "JSONL file of {\"completion\": ..., \"solution\": ...}; - for stdin")
      ->required();
  cmd->add_option("--functions", args.functions, "Rewards to compute (default: the task's)")->delimiter(',');
  cmd->add_option("--weights", args.weights, "One weight per reward (default: all 1)")->delimiter(',');
  cmd->add_option("--synonyms", args.synonyms, "Class-name synonyms file for accuracy_cls (strict)");
  cmd->add_option("--python", args.python,
                  "A Python file of reward functions (TRL's signature) named in --functions; lines may carry "
                  "\"problem\" and \"image\" for them");
  cmd->add_option("--python-exe", args.python_exe, "The Python that runs --python")->capture_default_str();
  cmd->callback([] {
    int rc = run_score(args);
    if (rc != 0) throw CLI::RuntimeError(rc);
  });
}

}  // namespace vrft::cli
