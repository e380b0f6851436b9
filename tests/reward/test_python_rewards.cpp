// tests/reward/test_python_rewards.cpp: rewards computed outside visual-rft. A Python file
// written here defines functions with TRL's signature (rewards.python), and a command answers
// one number per JSON line (rewards.external); RewardSet, `visual-rft score --python`, a GRPO
// run and `eval --best-of` call them and get exactly their values, weighted with the built-in
// ones; a function that raises, returns the wrong count or a non-finite value, a process that
// dies, hangs or answers garbage, and a missing function or file, each stop with an error
// naming the function or key.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "test_util.h"
#include "train/train_test_util.h"
#include "visual_rft/core/config.h"
#include "visual_rft/core/error.h"
#include "visual_rft/core/fs.h"
#include "visual_rft/eval/evaluator.h"
#include "visual_rft/reward/rewards.h"
#include "visual_rft/train/grpo_trainer.h"

using namespace vrft;
using namespace vrft::test;
namespace fs = std::filesystem;

namespace {

// chars: the completion's length / 100; problem_words: words of the problem (a column);
// ids_count: the completion's tokens; boom raises; short returns one value too few; nan
// returns NaN; words returns strings; die ends the process; sleepy takes 30 s.
const char* kRewards = R"PY(
import math
def chars(completions, **kwargs):
    return [len(c) / 100 for c in completions]
def problem_words(completions, problem, task, **kwargs):
    assert task in ("cls", "det", "ground")
    return [len(p.split()) for p in problem]
def ids_count(completions, completion_ids, **kwargs):
    return [len(i) for i in completion_ids]
def boom(completions, **kwargs):
    raise ValueError("no reward today")
def short(completions, **kwargs):
    return [0.0] * (len(completions) - 1)
def nan(completions, **kwargs):
    return [math.nan] * len(completions)
def words(completions, **kwargs):
    return ["many words"] * len(completions)
def die(completions, **kwargs):
    import os
    os._exit(3)
def sleepy(completions, **kwargs):
    import time
    time.sleep(30)
    return [0.0] * len(completions)
print("imported")  # printing must not break the protocol
)PY";

std::string python_exe() { return VRFT_PYTHON; }

// A command reward (rewards.external): one JSON line in, one number out; "garbage" in a
// completion makes it answer garbage, "die" makes it exit.
const char* kCommand = R"PY(
import json, sys
for line in sys.stdin:
    q = json.loads(line)
    if "garbage" in q["completion"]:
        print("not a number", flush=True)
    elif "die" in q["completion"]:
        sys.exit(4)
    else:
        print(len(q["completion"]) / 50 + len(q["task"]), flush=True)
)PY";

RewardsConfig config(const std::string& file, std::vector<std::string> functions, std::vector<double> weights = {}) {
  RewardsConfig c;
  c.python = file;
  c.python_exe = python_exe();
  c.functions = std::move(functions);
  c.weights = std::move(weights);
  return c;
}

// Milliseconds per score_batch of a step's 128 completions of 200 characters (printed by the
// tests, never asserted: the protocols' overhead).
double ms_per_step(const RewardSet& set, const Solution& sol, const std::string& sol_text, int repeats) {
  const std::string problem = "q", image = "i";
  const std::vector<std::string> texts(128, std::string(200, 'x'));
  std::vector<RewardQuery> queries;
  std::vector<const Solution*> sols;
  for (const auto& t : texts) {
    queries.push_back({&t, nullptr, &problem, &sol_text, &image});
    sols.push_back(&sol);
  }
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < repeats; ++i) set.score_batch(queries, sols);
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count() / repeats;
}

}  // namespace

TEST(PythonRewards, ValuesAndWeightsWithTheBuiltInOnes) {
  const std::string dir = scratch_dir("python-rewards");
  write_file_atomic(dir + "/r.py", kRewards);
  RewardSet set(Task::cls, config(dir + "/r.py", {"format", "chars", "problem_words"}, {1.0, 2.0, 0.5}));
  EXPECT_TRUE(set.has_external());
  const std::string sol_text = "<answer>daisy</answer>";
  const Solution sol = parse_solution(Task::cls, sol_text);
  const std::vector<std::string> texts = {"<think>a</think><answer>daisy</answer>", "nothing", ""};
  const std::string problem = "What flower is this?", image = "x.jpg";
  std::vector<RewardQuery> q;
  for (const auto& t : texts) q.push_back({&t, nullptr, &problem, &sol_text, &image});
  const auto scores = set.score_batch(q, {&sol, &sol, &sol});
  ASSERT_EQ(scores.size(), 3u);
  for (size_t i = 0; i < texts.size(); ++i) {
    const double format = i == 0 ? 1.0 : 0.0;
    ASSERT_EQ(scores[i].values.size(), 3u);
    EXPECT_EQ(scores[i].values[0], format) << i;
    EXPECT_EQ(scores[i].values[1], static_cast<double>(texts[i].size()) / 100) << i;
    EXPECT_EQ(scores[i].values[2], 4.0) << i;
    EXPECT_DOUBLE_EQ(scores[i].total, format + 2.0 * static_cast<double>(texts[i].size()) / 100 + 0.5 * 4.0) << i;
  }
  EXPECT_THROW(set.score(texts[0], sol), Error);  // one at a time is for built-in sets

  // The overhead of a step's request: G x P = 128 completions.
  std::printf("python rewards: %.2f ms per request of 128 completions (format + 2 Python functions)\n",
              ms_per_step(set, sol, sol_text, 20));
}

TEST(PythonRewards, BadFunctionsAndFilesAreNamed) {
  const std::string dir = scratch_dir("python-rewards-bad");
  write_file_atomic(dir + "/r.py", kRewards);
  const std::string sol_text = "<answer>a</answer>", problem = "q", image = "i", text = "t";
  const Solution sol = parse_solution(Task::cls, sol_text);
  auto run = [&](const std::string& fn) {
    return error_of([&] {
      RewardSet set(Task::cls, config(dir + "/r.py", {fn}));
      set.score_batch({{&text, nullptr, &problem, &sol_text, &image}, {&text, nullptr, &problem, &sol_text, &image}},
                      {&sol, &sol});
    });
  };
  EXPECT_NE(run("boom").find("'boom' raised ValueError: no reward today"), std::string::npos) << run("boom");
  EXPECT_NE(run("short").find("'short' returned 1 values for 2 completions"), std::string::npos) << run("short");
  EXPECT_NE(run("nan").find("'nan' returned nan for completion 0: expected a finite number"), std::string::npos)
      << run("nan");
  EXPECT_NE(run("words").find("'words' returned list with a value that is not a number"), std::string::npos)
      << run("words");
  const std::string died = run("die");
  EXPECT_NE(died.find("rewards.python '" + dir + "/r.py' exited with status 3"), std::string::npos) << died;
  const std::string slow = error_of([&] {
    RewardsConfig c = config(dir + "/r.py", {"sleepy"});
    c.python_timeout_s = 1;
    RewardSet set(Task::cls, c);
    set.score_batch({{&text, nullptr, &problem, &sol_text, &image}}, {&sol});
  });
  EXPECT_NE(slow.find("did not answer within 1 s"), std::string::npos) << slow;
  const std::string missing = run("nope");
  EXPECT_NE(missing.find("rewards.python"), std::string::npos) << missing;
  EXPECT_NE(missing.find("defines no function 'nope'"), std::string::npos) << missing;
  const std::string no_file = error_of([&] { RewardSet set(Task::cls, config(dir + "/absent.py", {"chars"})); });
  EXPECT_NE(no_file.find("rewards.python: '" + dir + "/absent.py' is not a file"), std::string::npos) << no_file;
  write_file_atomic(dir + "/broken.py", "def f(:\n");
  const std::string broken = error_of([&] { RewardSet set(Task::cls, config(dir + "/broken.py", {"f"})); });
  EXPECT_NE(broken.find("cannot import it: SyntaxError"), std::string::npos) << broken;
  const std::string unused = error_of([&] { RewardSet set(Task::cls, config(dir + "/r.py", {"format"})); });
  EXPECT_NE(unused.find("names none of its functions"), std::string::npos) << unused;
}

TEST(PythonRewards, ScoreCommandCallsThem) {
  const std::string dir = scratch_dir("python-rewards-cli");
  write_file_atomic(dir + "/r.py", kRewards);
  write_file_atomic(dir + "/in.jsonl",
                    "{\"completion\": \"<think>x</think><answer>a</answer>\", \"solution\": \"<answer>a</answer>\", "
                    "\"problem\": \"one two three\"}\n");
  CommandResult r = run(cli() + " score --task cls --input " + dir +
                        "/in.jsonl --functions accuracy_cls,chars,problem_words --python " + dir +
                        "/r.py --python-exe '" + python_exe() + "'");
  ASSERT_EQ(r.status, 0) << r.output;
  const auto out = nlohmann::json::parse(r.output.substr(r.output.find('{')));
  EXPECT_EQ(out["rewards"]["accuracy_cls"], 1.0);
  EXPECT_EQ(out["rewards"]["chars"],
            static_cast<double>(std::string("<think>x</think><answer>a</answer>").size()) / 100);
  EXPECT_EQ(out["rewards"]["problem_words"], 3.0);

  // The shipped example file.
  write_file_atomic(dir + "/vqa.jsonl",
                    "{\"completion\": \"<think>it is red</think> <answer>The red car.</answer>\", "
                    "\"solution\": \"<answer>red car</answer>\"}\n");
  r = run(cli() + " score --task cls --input " + dir + "/vqa.jsonl --functions format,vqa_exact_match,length_penalty" +
          " --python '" + source_dir() + "/examples/rewards/length_penalty.py' --python-exe '" + python_exe() + "'");
  ASSERT_EQ(r.status, 0) << r.output;
  const auto ex = nlohmann::json::parse(r.output.substr(r.output.find('{')));
  EXPECT_EQ(ex["rewards"]["format"], 1.0);
  EXPECT_EQ(ex["rewards"]["vqa_exact_match"], 1.0);
  EXPECT_EQ(ex["rewards"]["length_penalty"], 1.0);
}

TEST(PythonRewards, GrpoRunUsesThemForEveryCompletion) {
  REQUIRE_FIXTURES(test::tokenizer_fixture());
  std::string dir = setup("python-rewards-grpo");
  write_file_atomic(dir + "/r.py", kRewards);
  Config cfg = parse_config(config_yaml(dir, 2, 1e-3, /*G=*/4), "test");
  cfg.rewards.python = dir + "/r.py";
  cfg.rewards.python_exe = python_exe();
  write_file_atomic(dir + "/cmd.py", kCommand);
  cfg.rewards.external = {"clen=" + python_exe() + " -u " + dir + "/cmd.py"};
  cfg.rewards.functions = {"chars", "ids_count", "clen"};
  cfg.logging.sample_steps = 1;
  cfg.logging.num_samples = 2;
  train_grpo(cfg, "");
  for (int step = 1; step <= 2; ++step) {
    std::ifstream in(dir + "/run/rollouts/step_00000" + std::to_string(step) + ".jsonl");
    int n = 0;
    for (std::string l; std::getline(in, l); ++n) {
      const auto s = nlohmann::json::parse(l);
      // Python's len counts code points: UTF-8 bytes that do not continue a character.
      const std::string text = s["text"].get<std::string>();
      const auto code_points = std::count_if(text.begin(), text.end(), [](char c) { return (c & 0xC0) != 0x80; });
      EXPECT_EQ(s["rewards"]["chars"].get<double>(), static_cast<double>(code_points) / 100) << text;
      EXPECT_GE(s["rewards"]["ids_count"].get<double>(), 1.0);
      EXPECT_LE(s["rewards"]["ids_count"].get<double>(), 8.0);  // rollout.max_new_tokens
      EXPECT_DOUBLE_EQ(s["rewards"]["clen"].get<double>(), static_cast<double>(code_points) / 50 + 3);  // "cls"
    }
    EXPECT_EQ(n, 8) << "2 prompts x G = 4";
  }
  // In metrics.jsonl by name, the mean over the step's completions (all 8 are in the samples).
  const auto lines = metrics_without_time(dir + "/run/metrics.jsonl");
  ASSERT_EQ(lines.size(), 2u);
  for (int step = 1; step <= 2; ++step) {
    std::ifstream in(dir + "/run/rollouts/step_00000" + std::to_string(step) + ".jsonl");
    double sum = 0;
    for (std::string l; std::getline(in, l);) sum += nlohmann::json::parse(l)["rewards"]["ids_count"].get<double>();
    EXPECT_DOUBLE_EQ(lines[static_cast<size_t>(step - 1)]["rewards"]["ids_count"]["mean"].get<double>(), sum / 8);
  }
}

// `visual-rft eval --best-of K` scores its samples as a GRPO step scores its rollouts: a Python
// reward gets every sample's token ids (here it returns their count and logs each call), and
// the process is asked once per evaluation batch, not once per question.
TEST(PythonRewards, EvalBestOfSendsThemTokenIdsOncePerBatch) {
  REQUIRE_FIXTURES(test::tokenizer_fixture());
  const std::string dir = setup("python-rewards-best-of");
  write_file_atomic(dir + "/r.py",
                    "import json\n"
                    "def logged(completions, completion_ids, **kwargs):\n"
                    "    with open(" +
                        nlohmann::json(dir + "/calls.jsonl").dump() +
                        ", 'a') as f:\n"
                        "        f.write(json.dumps([len(i) for i in completion_ids]) + '\\n')\n"
                        "    return [len(i) for i in completion_ids]\n");
  Config cfg = parse_config(config_yaml(dir, 1, 1e-3), "test");
  cfg.rewards.python = dir + "/r.py";
  cfg.rewards.python_exe = python_exe();
  cfg.rewards.functions = {"logged"};
  cfg.eval.data = dir + "/train.jsonl";  // 4 questions
  cfg.eval.temperature = 1.0;
  cfg.eval.best_of = 3;
  cfg.eval.batch_size = 2;
  cfg.eval.max_new_tokens = 8;
  EvalRunOptions opt;
  opt.output_dir = dir + "/eval";
  run_evaluation(cfg, opt);

  const std::vector<nlohmann::json> calls = read_jsonl(dir + "/calls.jsonl");
  ASSERT_EQ(calls.size(), 2u) << "4 questions in batches of 2";
  const std::vector<nlohmann::json> preds = read_jsonl(dir + "/eval/predictions.jsonl");
  ASSERT_EQ(preds.size(), 4u);
  for (size_t q = 0; q < preds.size(); ++q) {
    const std::vector<double> totals = preds[q]["best_of"]["rewards"].get<std::vector<double>>();
    ASSERT_EQ(totals.size(), 3u);
    for (size_t j = 0; j < 3; ++j) {
      const int64_t n = calls[q / 2][(q % 2) * 3 + j].get<int64_t>();  // the batch's samples, question-major
      EXPECT_GE(n, 1) << "question " << q << " sample " << j << ": no token ids";
      EXPECT_EQ(totals[j], static_cast<double>(n)) << q << " " << j;
    }
    const int64_t kept = preds[q]["best_of"]["sample"].get<int64_t>();
    EXPECT_EQ(kept, std::max_element(totals.begin(), totals.end()) - totals.begin()) << q;
    EXPECT_EQ(static_cast<double>(preds[q]["tokens"].get<int64_t>()), totals[static_cast<size_t>(kept)]) << q;
  }
}

TEST(CommandRewards, OneNumberPerLineAndTheirErrorsNamed) {
  const std::string dir = scratch_dir("command-rewards");
  write_file_atomic(dir + "/cmd.py", kCommand);
  RewardsConfig c;
  c.external = {"clen=" + python_exe() + " -u " + dir + "/cmd.py"};
  c.functions = {"format", "clen"};
  c.weights = {1.0, 2.0};
  RewardSet set(Task::det, c);
  const std::string sol_text = "<answer>[{'Position': [1, 2, 3, 4], 'Confidence': 1}]</answer>";
  const Solution sol = parse_solution(Task::det, sol_text);
  const std::string problem = "q", image = "i";
  const std::vector<std::string> texts = {"abc", "a longer completion"};
  std::vector<RewardQuery> q;
  for (const auto& t : texts) q.push_back({&t, nullptr, &problem, &sol_text, &image});
  const auto scores = set.score_batch(q, {&sol, &sol});
  for (size_t i = 0; i < texts.size(); ++i) {
    const double want = static_cast<double>(texts[i].size()) / 50 + 3;  // len("det") = 3
    EXPECT_DOUBLE_EQ(scores[i].values[1], want) << i;
    EXPECT_DOUBLE_EQ(scores[i].total, 2 * want) << i;
  }
  // The overhead of a step: 128 completions, one line each.
  std::printf("external rewards: %.2f ms per step of 128 completions (one command reward)\n",
              ms_per_step(set, sol, sol_text, 10));
  for (const char* bad : {"garbage", "die"}) {
    const std::string t = bad;
    const std::string e = error_of([&] { set.score_batch({{&t, nullptr, &problem, &sol_text, &image}}, {&sol}); });
    EXPECT_NE(e.find("reward 'clen' (rewards.external: '"), std::string::npos) << e;
    EXPECT_NE(e.find(std::string(bad) == "die" ? "exited with status 4" : "answered 'not a number' for completion 0"),
              std::string::npos)
        << e;
  }
  c.functions = {"format"};
  const std::string unnamed = error_of([&] { RewardSet s2(Task::det, c); });
  EXPECT_NE(unnamed.find("rewards.external: every entry must be named in rewards.functions"), std::string::npos)
      << unnamed;
  c.external = {"no command"};
  const std::string malformed = error_of([&] { RewardSet s3(Task::det, c); });
  EXPECT_NE(malformed.find("expected name=command"), std::string::npos) << malformed;
}
