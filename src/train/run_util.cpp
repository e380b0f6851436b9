// src/train/run_util.cpp: helpers shared by the trainers (see the header).
#include "visual_rft/train/run_util.h"

#include <ATen/autocast_mode.h>
#if defined(__has_include)
#if __has_include(<c10/cuda/CUDACachingAllocator.h>) && __has_include(<cuda_runtime_api.h>)
#include <c10/cuda/CUDACachingAllocator.h>
#define VRFT_HAVE_CUDA_ALLOCATOR 1
#endif
#endif

#include <fcntl.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <unistd.h>

#include <fmt/format.h>
#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <vector>

#include "visual_rft/core/error.h"
#include "visual_rft/core/fs.h"
#include "visual_rft/core/log.h"
#include "visual_rft/core/random.h"
#include "visual_rft/image/image_processor.h"
#include "visual_rft/reward/answer.h"
#include "visual_rft/reward/rewards.h"
#include "visual_rft/train/checkpoint.h"

namespace vrft {

namespace fs = std::filesystem;

Precision resolve_precision(const Config& cfg, const torch::Device& dev) {
  Precision p;
  const DtypeChoice model_dtype = cfg.model.dtype, rollout_dtype = cfg.rollout.dtype;
  p.weights = model_dtype == DtypeChoice::automatic ? torch::kFloat : resolve_dtype(model_dtype, dev);
  p.rollout = rollout_dtype == DtypeChoice::automatic ? (dev.is_cuda() ? torch::kBFloat16 : p.weights)
                                                      : resolve_dtype(rollout_dtype, dev);
  p.sharded_masters = cfg.distributed.mode() == Shard::gradients;
  if (p.sharded_masters) {  // one working dtype: model.dtype when set, else rollout's (validate(): no conflict)
    if (model_dtype != DtypeChoice::automatic) p.rollout = p.weights;
    p.weights = p.rollout;
  }
  switch (cfg.model.autocast) {
    case AutocastChoice::bfloat16: p.autocast = torch::kBFloat16; break;
    case AutocastChoice::float16: p.autocast = torch::kHalf; break;
    case AutocastChoice::automatic:
      if (dev.is_cuda() && p.weights == torch::kFloat) p.autocast = torch::kBFloat16;
      break;
    case AutocastChoice::off: break;
  }
  return p;
}

AutocastScope::AutocastScope(const torch::Device& dev, std::optional<torch::ScalarType> dtype) : type_(dev.type()) {
  if (!dtype) return;
  active_ = true;
  prev_enabled_ = at::autocast::is_autocast_enabled(type_);
  prev_dtype_ = at::autocast::get_autocast_dtype(type_);
  at::autocast::set_autocast_dtype(type_, *dtype);
  at::autocast::set_autocast_enabled(type_, true);
  at::autocast::increment_nesting();
}

AutocastScope::~AutocastScope() {
  if (!active_) return;
  if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
  at::autocast::set_autocast_enabled(type_, prev_enabled_);
  at::autocast::set_autocast_dtype(type_, prev_dtype_);
}

void copy_parameters(torch::nn::Module& dst, torch::nn::Module& src) {
  torch::NoGradGuard ng;
  auto d = dst.parameters(), s = src.parameters();
  TORCH_CHECK(d.size() == s.size(), "copy_parameters: ", d.size(), " vs ", s.size(), " parameters");
  for (size_t i = 0; i < d.size(); ++i) d[i].copy_(s[i]);
}

void release_cached_gpu_memory(const torch::Device& dev) {
#ifdef VRFT_HAVE_CUDA_ALLOCATOR
  if (dev.is_cuda()) c10::cuda::CUDACachingAllocator::emptyCache();
#endif
  (void)dev;
}

double peak_gpu_gb(const torch::Device& dev) {
#ifdef VRFT_HAVE_CUDA_ALLOCATOR
  if (dev.is_cuda()) {
    const auto st = c10::cuda::CUDACachingAllocator::getDeviceStats(dev.index() < 0 ? 0 : dev.index());
    return static_cast<double>(st.allocated_bytes[0].peak) / 1e9;
  }
#endif
  (void)dev;
  return 0.0;
}

double peak_rss_gb() {
  struct rusage ru {};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_maxrss) * 1024.0 / 1e9;
}

void seed_micro_batch(int64_t seed, std::initializer_list<int64_t> place) {
  uint64_t key = splitmix64(static_cast<uint64_t>(seed) ^ salt::training);
  for (const int64_t p : place) key = splitmix64(key ^ static_cast<uint64_t>(p));
  torch::manual_seed(key);
}

// Keeps the metrics lines of steps <= `step` (a resumed run rewrites what came after).
bool inject_nonfinite(int64_t step, int64_t iteration) {
  const char* spec = std::getenv("VRFT_INJECT_NONFINITE");  // read each time: tests set it per run
  return spec && *spec && std::string(spec) == std::to_string(step) + ":" + std::to_string(iteration);
}

void truncate_metrics(const std::string& path, int64_t step) {
  if (!fs::exists(path)) return;
  std::ifstream in(path);
  std::string line, kept;
  while (std::getline(in, line)) {
    try {
      if (nlohmann::json::parse(line).value("step", int64_t{0}) <= step) kept += line + "\n";
    } catch (const nlohmann::json::exception&) {
      break;  // a line cut by the kill: drop it and what follows
    }
  }
  write_file_atomic(path, kept);
}

RunFolderLock::RunFolderLock(const std::string& out_dir) {
  std::error_code ec;
  fs::create_directories(out_dir, ec);
  if (ec) throw FileError("train.output_dir '" + out_dir + "' cannot be created: " + ec.message());
  const std::string path = out_dir + "/.lock";
  fd_ = ::open(path.c_str(), O_CREAT | O_RDWR | O_CLOEXEC | O_NOFOLLOW, 0644);
  if (fd_ < 0) throw FileError("cannot open the run folder's lock '" + path + "': " + std::strerror(errno));
  if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    char buf[32] = {};
    const ssize_t n = ::pread(fd_, buf, sizeof buf - 1, 0);
    const std::string pid = n > 0 ? std::string(buf, static_cast<size_t>(n)) : "unknown";
    ::close(fd_);
    fd_ = -1;
    throw Error("train.output_dir '" + out_dir + "' is in use by another run (pid " + pid +
                "); wait for it to finish, or choose another train.output_dir");
  }
  const std::string pid = std::to_string(::getpid());
  if (::ftruncate(fd_, 0) != 0 || ::pwrite(fd_, pid.data(), pid.size(), 0) != static_cast<ssize_t>(pid.size())) {
    log_warn("cannot write the pid into {}: {}", path, std::strerror(errno));
  }
}

RunFolderLock::~RunFolderLock() {
  if (fd_ >= 0) ::close(fd_);  // closing the descriptor releases the lock
}

std::string run_start_checkpoint(const std::string& out_dir, const std::string& resume, bool overwrite, bool main) {
  if (!resume.empty() && overwrite)
    throw Error("--resume and --overwrite exclude each other: continue the run or replace it");
  if (resume == "latest") {
    std::optional<std::string> ckpt = latest_checkpoint(out_dir);
    if (!ckpt) log_warn("--resume: no checkpoint in {}; starting from the beginning", out_dir);
    return ckpt.value_or("");
  }
  if (!resume.empty()) return resume;
  if (!main) return "";  // rank 0 alone judges the folder (the others would see its new files)
  // A fresh run: what of an earlier run is in the folder?
  std::vector<fs::path> old;
  if (fs::is_directory(out_dir)) {
    for (const auto& e : fs::directory_iterator(out_dir)) {
      const std::string n = e.path().filename().string();
      const bool run_file = n == "latest" || n == "rollouts" || (n == "metrics.jsonl" && fs::file_size(e.path()) > 0);
      if (run_file || (e.is_directory() && n.rfind("checkpoint-", 0) == 0)) old.push_back(e.path());
    }
  }
  if (old.empty()) return "";
  std::sort(old.begin(), old.end());
  if (!overwrite) {
    std::string names;
    for (size_t i = 0; i < old.size() && i < 4; ++i) names += (i ? ", " : "") + old[i].filename().string();
    if (old.size() > 4) names += ", ...";
    throw Error("train.output_dir '" + out_dir + "' holds an earlier run (" + names +
                "): continue it with --resume, replace it with --overwrite (its checkpoints and metrics are "
                "deleted), or choose another train.output_dir");
  }
  log_warn("--overwrite: deleting the earlier run in {} ({} entries)", out_dir, old.size());
  for (const auto& p : old) remove_tree(p.string());
  return "";
}

int64_t total_steps(const Config& cfg, int64_t rows) {
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
  const int64_t P = cfg.train.prompts_per_step;
  const int64_t per_epoch = (rows + P - 1) / P;
  if (cfg.train.max_steps == 0 && cfg.train.epochs > kMax / std::max<int64_t>(per_epoch, 1)) {
    throw ConfigError("train.epochs: " + std::to_string(cfg.train.epochs) + " epochs of " + std::to_string(per_epoch) +
                      " steps is more steps than 64 bits can count");
  }
  const int64_t total = cfg.train.max_steps > 0 ? cfg.train.max_steps : cfg.train.epochs * per_epoch;
  // Prompt positions (step x P + i) and optimiser steps (step x num_iterations) must fit too.
  const int64_t per_step = std::max<int64_t>({P, cfg.grpo.num_iterations, 1});
  if (total > kMax / per_step) {
    throw ConfigError("train.max_steps / train.epochs: " + std::to_string(total) + " steps of " +
                      std::to_string(per_step) + " prompts or iterations each overflow 64 bits");
  }
  return total;
}

namespace {

// A 64-bit checksum of a file's bytes, folded into `h` (a multiply-rotate mix per 8-byte word,
// as fast hashes do): enough to tell one file from another, not a cryptographic digest.
uint64_t checksum_file(const fs::path& path, uint64_t h) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw FileError("'" + path.string() + "': cannot be read to check which run it belongs to");
  std::vector<char> buf(1 << 20);
  auto mix = [&h](uint64_t w) {
    const uint64_t x = h ^ (w * 0x9E3779B97F4A7C15ull);
    h = ((x << 31) | (x >> 33)) * 0xC2B2AE3D27D4EB4Full;
  };
  while (in) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    const size_t n = static_cast<size_t>(in.gcount());
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
      uint64_t w;
      std::memcpy(&w, buf.data() + i, 8);
      mix(w);
    }
    for (; i < n; ++i) mix(static_cast<unsigned char>(buf[i]));
    mix(n);  // the chunk's length: files differing only in trailing zero bytes differ
  }
  return h;
}

// What a path holds, to know it again after a move: a file's bytes, or a model folder's
// config.json and weights (*.safetensors, by name). One pass over the weights at the start of
// a run: 3.4 GB/s from the page cache on a 2-core Xeon, so 1.3 s for a 2B model's 4.4 GB
// (docs/benchmark-log.md). "" for anything else (a hub id, a missing path): then only the path
// identifies it.
std::string content_digest(const std::string& path) {
  if (path.empty()) return "";
  std::error_code ec;
  uint64_t h = 0x84222325CBF29CE4ull;
  if (fs::is_regular_file(path, ec)) {
    h = checksum_file(path, h);
  } else if (fs::is_directory(path, ec)) {
    std::vector<fs::path> files;
    for (const auto& e : fs::directory_iterator(path, ec)) {
      const bool wanted = e.path().filename() == "config.json" || e.path().extension() == ".safetensors";
      if (e.is_regular_file() && wanted) files.push_back(e.path());
    }
    if (files.empty()) return "";
    std::sort(files.begin(), files.end());
    for (const auto& f : files) {
      for (unsigned char c : f.filename().string()) h = (h ^ c) * 0x100000001B3ull;
      h = checksum_file(f, h);
    }
  } else {
    return "";
  }
  return fmt::format("{:016x}", h);
}

}  // namespace

nlohmann::json run_identity(const Config& cfg) {
  auto absolute = [](const std::string& p) { return p.empty() ? p : fs::absolute(p).lexically_normal().string(); };
  return {{"trainer", choice_name(cfg.train.trainer)},
          {"seed", cfg.train.seed},
          {"prompts_per_step", cfg.train.prompts_per_step},
          {"task", task_name(cfg.data.task)},
          {"train_data", absolute(cfg.data.train)},
          {"train_data_digest", content_digest(cfg.data.train)},
          {"model", absolute(cfg.model.path)},
          {"model_digest", content_digest(cfg.model.path)}};
}

void check_resume_identity(const nlohmann::json& here, bool strict, const nlohmann::json& state,
                           const std::string& checkpoint_dir) {
  if (!state.contains("run")) return;  // written before runs recorded themselves
  const nlohmann::json& there = state["run"];
  static const std::map<std::string, std::string> keys = {
      {"trainer", "train.trainer"}, {"seed", "train.seed"},       {"prompts_per_step", "train.prompts_per_step"},
      {"task", "data.task"},        {"train_data", "data.train"}, {"model", "model.path"}};
  std::string diff;
  for (const auto& [k, key] : keys) {
    if (!there.contains(k)) continue;
    const std::string digest = k + "_digest";
    // Contents are compared where both runs could checksum them (both digests not "").
    const bool compared = here.contains(digest) && there.contains(digest) && here[digest] != "" && there[digest] != "";
    if (there[k] == here[k]) {
      if (compared && here[digest] != there[digest]) {
        log_warn("--resume: {} {} holds other contents than when '{}' was written", key, here[k].dump(),
                 checkpoint_dir);
      }
      continue;
    }
    // A path that moved (the run's folder copied or mounted elsewhere) holds what it held.
    if (compared && here[digest] == there[digest]) {
      log_info("--resume: {} moved from {} to {}, the same contents", key, there[k].dump(), here[k].dump());
      continue;
    }
    diff += (diff.empty() ? "" : "; ") + key + " is " + here[k].dump() + " here, " + there[k].dump() +
            " in the checkpoint" + (compared ? ", with other contents" : "");
  }
  if (diff.empty()) return;
  const std::string msg = "--resume from '" + checkpoint_dir + "', a different run: " + diff;
  if (strict) {
    throw ConfigError(msg +
                      ". Resume with the checkpoint's settings, start a new run (another train.output_dir or "
                      "--overwrite), or set train.resume_strict: false to go on anyway");
  }
  log_warn("{} (train.resume_strict is false: going on)", msg);
}

void open_run_folder(const Config& cfg, const std::string& out_dir, int64_t start, const std::string& subdir,
                     std::optional<MetricsWriter>& metrics) {
  fs::create_directories(subdir.empty() ? out_dir : out_dir + "/" + subdir);
  write_file_atomic(out_dir + "/config.resolved.yaml", to_yaml(cfg));
  const std::string path = out_dir + "/metrics.jsonl";
  if (start > 0) {
    truncate_metrics(path, start);
  } else {
    write_file_atomic(path, "");
  }
  metrics.emplace(path, /*append=*/true);
}

PromptInput sample_prompt(const Sample& s, const DataConfig& data) {
  return image_prompt(data.system_prompt, {load_image_rgb(s.image, data.max_image_pixels)}, s.problem,
                      data.image_position == ImagePosition::after_text);
}

std::vector<Sample> load_training_rows(const Config& cfg, bool solutions, LoadReport* report) {
  const bool skip = cfg.data.missing_images == OnMissingImage::skip;
  LoadReport rep;
  std::vector<Sample> rows = load_visual_rft_jsonl(cfg.data.train, cfg.data.image_root, skip, &rep);
  const Task task = cfg.data.task;
  std::vector<Sample> kept;
  kept.reserve(rows.size());
  for (Sample& s : rows) {
    const std::string where = cfg.data.train + ":" + std::to_string(s.line);
    if (solutions) {
      try {
        if (task == Task::cls && !strict_answer_text(s.solution)) {
          throw Error("the solution has no <answer>...</answer>: expected <answer>class name</answer>");
        }
        parse_solution(task, s.solution);
      } catch (const Error& e) {
        throw FileError(where + ": " + e.what() + " (data.task is " + task_name(cfg.data.task) + ")");
      }
    }
    const std::string bad = image_problem(s.image, cfg.data.max_image_pixels);
    if (!bad.empty()) {
      if (!skip) throw FileError(where + ": " + bad + " (data.missing_images: skip would skip it)");
      log_warn("{}: {}; skipped", where, bad);
      ++rep.unreadable_images;
      continue;
    }
    s.index = static_cast<int64_t>(kept.size());
    kept.push_back(std::move(s));
  }
  if (kept.empty()) throw FileError("data file '" + cfg.data.train + "' holds no usable record");
  rep.kept = static_cast<int64_t>(kept.size());
  if (report) *report = rep;
  return kept;
}

}  // namespace vrft
