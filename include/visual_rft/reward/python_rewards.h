// visual_rft/reward/python_rewards.h: rewards computed outside visual-rft, called from a run
// without rebuilding anything: functions written in Python as TRL users write them
// (PythonRewards), and commands in any language (CommandReward, at the end).
//
//   rewards:
//     python: examples/rewards/length_penalty.py   # a file of Python functions
//     functions: [format, iou, length_penalty]     # names not built in are the file's
//
// A function takes keyword arguments and returns one float per completion, TRL's signature:
//
//   def length_penalty(completions, **kwargs) -> list[float]: ...
//
// with these keywords: prompts and problem (the rows' questions), completions (the texts),
// completion_ids (their token ids), solution and image (the rows' columns, one per completion),
// task ("cls", "det" or "ground"). One Python process (rewards.python_exe, default python3)
// imports the file once and serves a run: per step one request (a JSON line on its stdin) with
// every completion, one answer line with each function's values. A function that raises, or
// returns the wrong number of values, or a value that is not a finite number, stops the run
// with an error naming the function and the file; its traceback goes to the log.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "visual_rft/core/line_process.h"

namespace vrft {

// One completion to score, with the row it answers.
struct RewardQuery {
  const std::string* completion;
  const std::vector<int64_t>* completion_ids;  // may be null (the ids are then sent empty)
  const std::string* problem;
  const std::string* solution;
  const std::string* image;
};

class PythonRewards {
 public:
  // Starts the process and checks that `file` defines each of `functions` as a callable;
  // throws ConfigError naming rewards.python and what is wrong.
  PythonRewards(const std::string& file, const std::vector<std::string>& functions, const std::string& python_exe,
                const std::string& task, double timeout_s);
  // values[f][i]: function f's value for query i.
  std::vector<std::vector<double>> score(const std::vector<RewardQuery>& queries);

 private:
  std::string file_, task_;
  double timeout_s_;
  std::vector<std::string> functions_;
  std::unique_ptr<LineProcess> process_;
};

// rewards.external: ["name=command", ...]: a long-lived process per reward (`/bin/sh -c
// command`) that reads one JSON object per line, {"completion", "completion_ids", "solution",
// "problem", "image", "task"}, and answers each with one number on a line. A process that dies,
// an answer that is not a finite number, or no answer within the timeout stops the run with an
// error naming the reward, its command and the completion.
class CommandReward {
 public:
  CommandReward(std::string name, std::string command, std::string task, double timeout_s);
  std::vector<double> score(const std::vector<RewardQuery>& queries);

 private:
  std::string name_, command_, task_;
  double timeout_s_;
  std::unique_ptr<LineProcess> process_;
};

}  // namespace vrft
