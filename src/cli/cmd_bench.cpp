// src/cli/cmd_bench.cpp: `visual-rft bench ...`: speed and memory measurements.
//   bench rewards   scores N generated detection completions with iou, confidence and format
//   bench load      loads a model folder (or a random one of a preset shape) and reports the
//                   time and the peak memory against the checkpoint's size
//   bench tokenize  encodes a corpus on one thread (scripts/bench/tokenize_vs_hf.py runs the
//                   `tokenizers` package on the same corpus and prints the ratio)
//   bench rollout   in cmd_bench_rollout.cpp
//   bench train     in cmd_bench_train.cpp
#include <sys/resource.h>

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <random>

#include "commands.h"
#include "visual_rft/core/config.h"
#include "visual_rft/core/device.h"
#include "visual_rft/core/error.h"
#include "visual_rft/core/fs.h"
#include "visual_rft/model/qwen2vl.h"
#include "visual_rft/reward/rewards.h"
#include "visual_rft/text/tokenizer.h"

#include <fstream>
#include <nlohmann/json.hpp>

namespace vrft::cli {

namespace {

// A detection completion like a model writes: 0-6 boxes near the true ones, two-decimal
// confidences, and now and then a malformed or truncated answer.
std::string make_completion(std::mt19937& rng, const std::vector<Box>& gt) {
  std::uniform_int_distribution<int> n_boxes(0, 6), jitter(-40, 40), pick(0, 99), coord(0, 900);
  std::string s = "<think>The image shows the objects; I locate each one.</think> <answer>[";
  int n = n_boxes(rng);
  for (int i = 0; i < n; ++i) {
    const Box& g = gt[static_cast<size_t>(i) % gt.size()];
    int x1 = pick(rng) < 70 ? static_cast<int>(g.x1) + jitter(rng) : coord(rng);
    int y1 = static_cast<int>(g.y1) + jitter(rng);
    char buf[128];
    std::snprintf(buf, sizeof buf, "%s{'Position': [%d, %d, %d, %d], 'Confidence': 0.%02d}", i ? ", " : "", x1, y1,
                  static_cast<int>(g.x2) + jitter(rng), static_cast<int>(g.y2) + jitter(rng), pick(rng));
    s += buf;
  }
  int kind = pick(rng);
  if (kind < 5) return s + ", {'Position': [1, 2";  // truncated
  if (kind < 8) return s + "]";                     // no closing tag
  return s + "]</answer>";
}

// ---- bench rewards ----------------------------------------------------------------------------

struct RewardsBenchArgs {
  int64_t n = 100000;
  uint64_t seed = 1;
};

void run_rewards_bench(const RewardsBenchArgs& a) {
  std::mt19937 rng(static_cast<uint32_t>(a.seed));
  std::uniform_int_distribution<int> coord(0, 700), size(50, 300), n_gt(1, 3);
  std::vector<Solution> sols;
  std::vector<std::string> completions;
  const int kSolutions = 1000;
  for (int i = 0; i < kSolutions; ++i) {
    std::string text = "<answer>[";
    int k = n_gt(rng);
    for (int j = 0; j < k; ++j) {
      int x = coord(rng), y = coord(rng);
      text += (j ? ", " : "") + std::string("{'Position': [") + std::to_string(x) + ", " + std::to_string(y) + ", " +
              std::to_string(x + size(rng)) + ", " + std::to_string(y + size(rng)) + "], 'Confidence': 1}";
    }
    sols.push_back(parse_solution(Task::det, text + "]</answer>"));
  }
  for (int64_t i = 0; i < a.n; ++i)
    completions.push_back(make_completion(rng, sols[static_cast<size_t>(i % kSolutions)].boxes));
  size_t bytes = 0;
  for (const auto& c : completions) bytes += c.size();
  std::printf("bench rewards: %lld detection completions (%.1f MB of text), rewards iou + confidence + format\n",
              static_cast<long long>(a.n), static_cast<double>(bytes) / 1e6);
  for (const char* compat : {"strict", "visual_rft"}) {
    RewardsConfig cfg;
    cfg.compat = parse_compat(compat);
    RewardSet set(Task::det, cfg);
    double checksum = 0;
    auto t0 = std::chrono::steady_clock::now();
    for (int64_t i = 0; i < a.n; ++i)
      checksum += set.score(completions[static_cast<size_t>(i)], sols[static_cast<size_t>(i % kSolutions)]).total;
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("  %-10s  %.3f s   %.2f us/completion   mean total reward %.4f\n", compat, s,
                1e6 * s / static_cast<double>(a.n), checksum / static_cast<double>(a.n));
  }
  struct rusage ru {};
  getrusage(RUSAGE_SELF, &ru);
  std::printf("  peak RSS %.1f MB (one thread)\n", static_cast<double>(ru.ru_maxrss) / 1024.0);
}

// ---- bench tokenize ---------------------------------------------------------------------------

struct TokenizeBenchArgs {
  std::string tokenizer, corpus;
  int repeat = 3;
};

void run_tokenize_bench(const TokenizeBenchArgs& a) {
  std::ifstream in(a.corpus);
  if (!in) throw FileError("cannot open corpus '" + a.corpus + "'");
  std::vector<std::string> texts;
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line[0] == '{')
      texts.push_back(nlohmann::json::parse(line).at("text").get<std::string>());
    else
      texts.push_back(line);
  }
  size_t bytes = 0;
  for (const auto& t : texts) bytes += t.size();
  auto t0 = std::chrono::steady_clock::now();
  auto tk = load_tokenizer(a.tokenizer);
  double load_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  auto pass = [&](size_t& tokens) {
    auto start = std::chrono::steady_clock::now();
    tokens = 0;
    for (const auto& t : texts) tokens += tk->encode(t).size();
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  };
  size_t tokens = 0;
  double first = pass(tokens), best = 1e30;
  for (int r = 0; r < a.repeat; ++r) best = std::min(best, pass(tokens));
  std::printf(
      "bench tokenize: %zu texts, %.2f MB, %zu tokens; load %.2f s; first pass %.3f s; best of %d %.3f s = "
      "%.2f MB/s, %.0f tokens/s (one thread)\n",
      texts.size(), static_cast<double>(bytes) / 1e6, tokens, load_s, first, a.repeat, best,
      static_cast<double>(bytes) / 1e6 / best, static_cast<double>(tokens) / best);
}

// ---- bench load -------------------------------------------------------------------------------

struct LoadBenchArgs {
  std::string model_dir, random_preset, dtype = "bfloat16", keep_dir;
};

// A random checkpoint of the preset's shape written to a folder, then measured by a fresh
// process of this executable, so that only the load counts.
void bench_random_load(const LoadBenchArgs& a, torch::Dtype dt) {
  std::string dir = a.keep_dir.empty() ? make_temp_dir("vrft-bench-load") : a.keep_dir;
  {
    Qwen2VLConfig cfg = preset_model_config(a.random_preset);
    auto saved = torch::get_default_dtype();
    torch::set_default_dtype(caffe2::TypeMeta::fromScalarType(dt));
    torch::manual_seed(0);
    Qwen2VLForConditionalGeneration m(cfg);
    torch::set_default_dtype(saved);
    auto t0 = std::chrono::steady_clock::now();
    save_qwen2vl(m, dir, "");
    write_file_atomic(dir + "/config.json", model_config_json(cfg));
    std::printf("wrote a random %s checkpoint to %s in %.1f s\n", a.random_preset.c_str(), dir.c_str(),
                std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }  // the model is freed before the measurement
  char self[4096];
  ssize_t n = ::readlink("/proc/self/exe", self, sizeof self - 1);
  if (n <= 0) throw Error("cannot find the visual-rft executable");
  self[n] = 0;
  std::fflush(stdout);
  const int rc = run_process({self, "bench", "load", "--model", dir, "--dtype", a.dtype});
  if (a.keep_dir.empty()) remove_tree(dir);
  if (rc != 0) throw Error("the measuring process failed");
}

void run_load_bench(const LoadBenchArgs& a) {
  namespace fs = std::filesystem;
  const torch::Dtype dt = resolve_dtype(a.dtype, torch::kCPU);  // float32 or bfloat16 (--dtype)
  if (!a.random_preset.empty()) return bench_random_load(a, dt);
  if (a.model_dir.empty()) throw Error("bench load needs --model DIR or --random PRESET");
  uint64_t bytes = 0;
  for (const auto& e : fs::directory_iterator(a.model_dir)) {
    if (e.path().extension() == ".safetensors") bytes += fs::file_size(e.path());
  }
  auto t0 = std::chrono::steady_clock::now();
  auto m = load_qwen2vl(a.model_dir, dt, torch::kCPU);
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  struct rusage ru {};
  getrusage(RUSAGE_SELF, &ru);
  double peak = static_cast<double>(ru.ru_maxrss) * 1024.0;
  int64_t params = 0;
  for (const auto& p : m->parameters()) params += p.numel();
  std::printf(
      "bench load: %s, %.2f B parameters, checkpoint %.2f GB; loaded as %s in %.1f s; peak RSS %.2f GB = %.2fx the "
      "checkpoint\n",
      a.model_dir.c_str(), static_cast<double>(params) / 1e9, static_cast<double>(bytes) / 1e9, a.dtype.c_str(), secs,
      peak / 1e9, peak / static_cast<double>(bytes));
}

}  // namespace

void add_bench_command(CLI::App& app) {
  auto* bench = app.add_subcommand("bench", "Measure speed and memory");
  bench->require_subcommand(1);

  auto* rewards = bench->add_subcommand("rewards", "Score N detection completions (iou, confidence, format)");
  static RewardsBenchArgs ra;
  rewards->add_option("--n", ra.n, "Completions to score")->capture_default_str();
  rewards->add_option("--seed", ra.seed, "Seed of the generated completions")->capture_default_str();
  rewards->callback([] { run_rewards_bench(ra); });

  auto* tok = bench->add_subcommand("tokenize", "Encode a corpus (JSONL with \"text\", or plain lines) on one thread");
  static TokenizeBenchArgs ta;
  tok->add_option("--tokenizer", ta.tokenizer, "tokenizer.json")->required();
  tok->add_option("--corpus", ta.corpus, "JSONL file with a \"text\" per line, or a text file (one text per line)")
      ->required();
  tok->add_option("--repeat", ta.repeat, "Timed passes after the first")->capture_default_str();
  tok->callback([] { run_tokenize_bench(ta); });

  add_bench_rollout(bench);
  add_bench_train(bench);

  auto* load = bench->add_subcommand("load", "Load a model folder and report time and peak memory");
  static LoadBenchArgs la;
  load->add_option("--model", la.model_dir, "HF model folder to load");
  load->add_option("--random", la.random_preset,
                   "Write a random checkpoint of this shape first (tiny, 100m, 2b), then load it");
  load->add_option("--dtype", la.dtype, "float32 or bfloat16")
      ->check(CLI::IsMember({"float32", "bfloat16"}))
      ->capture_default_str();
  load->add_option("--dir", la.keep_dir, "Folder for the random checkpoint (default: a temporary one, removed after)");
  load->callback([] { run_load_bench(la); });
}

}  // namespace vrft::cli
