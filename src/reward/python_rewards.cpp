// src/reward/python_rewards.cpp: the Python reward process (see the header): its server code,
// run with `python -u -c`, and the C++ side of its one-line protocol; the command rewards'
// line-per-completion protocol.
#include "visual_rft/reward/python_rewards.h"

#include <cmath>
#include <nlohmann/json.hpp>

#include "visual_rft/core/error.h"

namespace vrft {

namespace {

// argv: FILE TASK NAME... ; answers {"ready": true} once the functions are found, then one
// {"rewards": [[...], ...]} (or {"error": "..."}) per request line.
constexpr const char* kServer = R"PY(
import importlib.util, json, math, sys, traceback
path, task, names = sys.argv[1], sys.argv[2], sys.argv[3:]
out = sys.stdout
sys.stdout = sys.stderr  # what the functions print goes to the log, not into the protocol
def send(obj):
    out.write(json.dumps(obj) + "\n")
    out.flush()
try:
    spec = importlib.util.spec_from_file_location("vrft_user_rewards", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
except Exception as e:
    traceback.print_exc()
    send({"error": f"cannot import it: {type(e).__name__}: {e}"})
    sys.exit(1)
fns = []
for name in names:
    fn = getattr(module, name, None)
    if not callable(fn):
        send({"error": f"it defines no function '{name}'"})
        sys.exit(1)
    fns.append(fn)
send({"ready": True})
for line in sys.stdin:
    if not line.strip():
        continue
    req = json.loads(line)
    n = len(req["completions"])
    cols = {k: req[k] for k in ("prompts", "completions", "completion_ids", "problem", "solution", "image")}
    result = []
    for name, fn in zip(names, fns):
        try:
            values = fn(task=task, **cols)
        except Exception as e:
            traceback.print_exc()
            send({"error": f"'{name}' raised {type(e).__name__}: {e}"})
            break
        try:
            values = [float(v) for v in values]
        except (TypeError, ValueError) as e:
            send({"error": f"'{name}' returned {type(values).__name__} with a value that is not a number ({e})"})
            break
        if len(values) != n:
            send({"error": f"'{name}' returned {len(values)} values for {n} completions"})
            break
        bad = [i for i, v in enumerate(values) if not math.isfinite(v)]
        if bad:
            send({"error": f"'{name}' returned {values[bad[0]]} for completion {bad[0]}: expected a finite number"})
            break
        result.append(values)
    else:
        send({"rewards": result})
)PY";

}  // namespace

PythonRewards::PythonRewards(const std::string& file, const std::vector<std::string>& functions,
                             const std::string& python_exe, const std::string& task, double timeout_s)
    : file_(file), task_(task), timeout_s_(timeout_s), functions_(functions) {
  std::vector<std::string> argv{python_exe, "-u", "-c", kServer, file, task};
  argv.insert(argv.end(), functions.begin(), functions.end());
  process_ = std::make_unique<LineProcess>(argv, "the Python rewards of rewards.python '" + file + "'");
  std::string ready;
  try {
    // An empty line (the server skips it): the first answer is the start-up one.
    ready = process_->request("", timeout_s_);
  } catch (const Error& e) {
    throw ConfigError(std::string(e.what()) + " (rewards.python_exe: '" + python_exe + "')");
  }
  const nlohmann::json j = nlohmann::json::parse(ready, nullptr, false);
  if (j.is_object() && j.contains("error"))
    throw ConfigError("rewards.python '" + file + "': " + j["error"].get<std::string>());
  if (!j.is_object() || !j.value("ready", false))
    throw ConfigError("rewards.python '" + file + "': the reward process answered '" + ready + "' instead of ready");
}

std::vector<std::vector<double>> PythonRewards::score(const std::vector<RewardQuery>& queries) {
  nlohmann::json req = {{"prompts", nlohmann::json::array()},        {"completions", nlohmann::json::array()},
                        {"completion_ids", nlohmann::json::array()}, {"problem", nlohmann::json::array()},
                        {"solution", nlohmann::json::array()},       {"image", nlohmann::json::array()}};
  for (const RewardQuery& q : queries) {
    req["prompts"].push_back(*q.problem);
    req["problem"].push_back(*q.problem);
    req["completions"].push_back(*q.completion);
    req["completion_ids"].push_back(q.completion_ids ? nlohmann::json(*q.completion_ids) : nlohmann::json::array());
    req["solution"].push_back(*q.solution);
    req["image"].push_back(*q.image);
  }
  const std::string answer =
      process_->request(req.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace), timeout_s_);
  const nlohmann::json j = nlohmann::json::parse(answer, nullptr, false);
  if (j.is_object() && j.contains("error"))
    throw Error("rewards.python '" + file_ + "': " + j["error"].get<std::string>());
  if (!j.is_object() || !j.contains("rewards") || j["rewards"].size() != functions_.size())
    throw Error("rewards.python '" + file_ + "': the reward process answered '" + answer.substr(0, 200) + "'");
  return j["rewards"].get<std::vector<std::vector<double>>>();
}

CommandReward::CommandReward(std::string name, std::string command, std::string task, double timeout_s)
    : name_(std::move(name)), command_(std::move(command)), task_(std::move(task)), timeout_s_(timeout_s) {
  process_ = std::make_unique<LineProcess>(std::vector<std::string>{"/bin/sh", "-c", command_},
                                           "reward '" + name_ + "' (rewards.external: '" + command_ + "')");
}

std::vector<double> CommandReward::score(const std::vector<RewardQuery>& queries) {
  std::vector<double> values;
  for (size_t i = 0; i < queries.size(); ++i) {
    const RewardQuery& q = queries[i];
    const nlohmann::json line = {
        {"completion", *q.completion},
        {"completion_ids", q.completion_ids ? nlohmann::json(*q.completion_ids) : nlohmann::json::array()},
        {"solution", *q.solution},
        {"problem", *q.problem},
        {"image", *q.image},
        {"task", task_}};
    const std::string answer =
        process_->request(line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace), timeout_s_);
    const nlohmann::json v = nlohmann::json::parse(answer, nullptr, false);
    if (!v.is_number() || !std::isfinite(v.get<double>())) {
      throw Error("reward '" + name_ + "' (rewards.external: '" + command_ + "') answered '" + answer.substr(0, 100) +
                  "' for completion " + std::to_string(i) + " of the step: expected one finite number per line");
    }
    values.push_back(v.get<double>());
  }
  return values;
}

}  // namespace vrft
