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

}  // namespace

void add_bench_command(CLI::App& app) {
  auto* bench = app.add_subcommand("bench", "Measure speed and memory");
  bench->require_subcommand(1);

  auto* rewards = bench->add_subcommand("rewards", "Score N detection completions (iou, confidence, format)");
  static int64_t n = 100000;
  static uint64_t seed = 1;
  rewards->add_option("--n", n, "Completions to score")->capture_default_str();
  rewards->add_option("--seed", seed, "Seed of the generated completions")->capture_default_str();
  rewards->callback([] {
    std::mt19937 rng(static_cast<uint32_t>(seed));
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
    for (int64_t i = 0; i < n; ++i)
      completions.push_back(make_completion(rng, sols[static_cast<size_t>(i % kSolutions)].boxes));
    size_t bytes = 0;
    for (const auto& c : completions) bytes += c.size();
    std::printf("bench rewards: %lld detection completions (%.1f MB of text), rewards iou + confidence + format\n",
                static_cast<long long>(n), static_cast<double>(bytes) / 1e6);
    for (const char* compat : {"strict", "visual_rft"}) {
      RewardsConfig cfg;
      cfg.compat = parse_compat(compat);
      RewardSet set(Task::det, cfg);
      double checksum = 0;
      auto t0 = std::chrono::steady_clock::now();
      for (int64_t i = 0; i < n; ++i)
        checksum += set.score(completions[static_cast<size_t>(i)], sols[static_cast<size_t>(i % kSolutions)]).total;
      double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      std::printf("  %-10s  %.3f s   %.2f us/completion   mean total reward %.4f\n", compat, s,
                  1e6 * s / static_cast<double>(n), checksum / static_cast<double>(n));
    }
    struct rusage ru {};
    getrusage(RUSAGE_SELF, &ru);
    std::printf("  peak RSS %.1f MB (one thread)\n", static_cast<double>(ru.ru_maxrss) / 1024.0);
  });

  auto* tok = bench->add_subcommand("tokenize", "Encode a corpus (JSONL with \"text\", or plain lines) on one thread");
  static std::string tok_path, corpus;
  static int repeat = 3;
  tok->add_option("--tokenizer", tok_path, "tokenizer.json")->required();
  tok->add_option("--corpus", corpus, "JSONL file with a \"text\" per line, or a text file (one text per line)")
      ->required();
  tok->add_option("--repeat", repeat, "Timed passes after the first")->capture_default_str();
  tok->callback([] {
    std::ifstream in(corpus);
    if (!in) throw FileError("cannot open corpus '" + corpus + "'");
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
    auto tk = load_tokenizer(tok_path);
    double load_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    auto pass = [&](size_t& tokens) {
      auto a = std::chrono::steady_clock::now();
      tokens = 0;
      for (const auto& t : texts) tokens += tk->encode(t).size();
      return std::chrono::duration<double>(std::chrono::steady_clock::now() - a).count();
    };
    size_t tokens = 0;
    double first = pass(tokens), best = 1e30;
    for (int r = 0; r < repeat; ++r) best = std::min(best, pass(tokens));
    std::printf(
        "bench tokenize: %zu texts, %.2f MB, %zu tokens; load %.2f s; first pass %.3f s; best of %d %.3f s = "
        "%.2f MB/s, %.0f tokens/s (one thread)\n",
        texts.size(), static_cast<double>(bytes) / 1e6, tokens, load_s, first, repeat, best,
        static_cast<double>(bytes) / 1e6 / best, static_cast<double>(tokens) / best);
  });

  add_bench_rollout(bench);
  add_bench_train(bench);

  auto* load = bench->add_subcommand("load", "Load a model folder and report time and peak memory");
  static std::string model_dir, random_preset, dtype_name = "bfloat16", keep_dir;
  load->add_option("--model", model_dir, "HF model folder to load");
  load->add_option("--random", random_preset,
                   "Write a random checkpoint of this shape first (tiny, 100m, 2b), then load it");
  load->add_option("--dtype", dtype_name, "float32 or bfloat16")
      ->check(CLI::IsMember({"float32", "bfloat16"}))
      ->capture_default_str();
  load->add_option("--dir", keep_dir, "Folder for the random checkpoint (default: a temporary one, removed after)");
  load->callback([] {
    const torch::Dtype dt = resolve_dtype(dtype_name, torch::kCPU);  // one of the two words above
    namespace fs = std::filesystem;
    if (!random_preset.empty()) {
      std::string dir = keep_dir.empty() ? make_temp_dir("vrft-bench-load") : keep_dir;
      {
        Qwen2VLConfig cfg = preset_model_config(random_preset);
        auto saved = torch::get_default_dtype();
        torch::set_default_dtype(caffe2::TypeMeta::fromScalarType(dt));
        torch::manual_seed(0);
        Qwen2VLForConditionalGeneration m(cfg);
        torch::set_default_dtype(saved);
        auto t0 = std::chrono::steady_clock::now();
        save_qwen2vl(m, dir, "");
        write_file_atomic(dir + "/config.json", model_config_json(cfg));
        std::printf("wrote a random %s checkpoint to %s in %.1f s\n", random_preset.c_str(), dir.c_str(),
                    std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
      }  // the model is freed before the measurement
      // Measure in a fresh process, so that only the load counts.
      char self[4096];
      ssize_t n = ::readlink("/proc/self/exe", self, sizeof self - 1);
      if (n <= 0) throw Error("cannot find the visual-rft executable");
      self[n] = 0;
      std::fflush(stdout);
      const int rc = run_process({self, "bench", "load", "--model", dir, "--dtype", dtype_name});
      if (keep_dir.empty()) remove_tree(dir);
      if (rc != 0) throw Error("the measuring process failed");
      return;
    }
    if (model_dir.empty()) throw Error("bench load needs --model DIR or --random PRESET");
    uint64_t bytes = 0;
    for (const auto& e : fs::directory_iterator(model_dir)) {
      if (e.path().extension() == ".safetensors") bytes += fs::file_size(e.path());
    }
    auto t0 = std::chrono::steady_clock::now();
    auto m = load_qwen2vl(model_dir, dt, torch::kCPU);
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    struct rusage ru {};
    getrusage(RUSAGE_SELF, &ru);
    double peak = static_cast<double>(ru.ru_maxrss) * 1024.0;
    int64_t params = 0;
    for (const auto& p : m->parameters()) params += p.numel();
    std::printf(
        "bench load: %s, %.2f B parameters, checkpoint %.2f GB; loaded as %s in %.1f s; peak RSS %.2f GB = %.2fx the "
        "checkpoint\n",
        model_dir.c_str(), static_cast<double>(params) / 1e9, static_cast<double>(bytes) / 1e9, dtype_name.c_str(),
        secs, peak / 1e9, peak / static_cast<double>(bytes));
  });
}

}  // namespace vrft::cli
