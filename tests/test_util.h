// tests/test_util.h: helpers shared by the tests: running commands (the CLI, the Python
// reference scripts), the cache folder where generated references live, scratch folders and
// the tiny random model folder of the end-to-end tests.
#pragma once

#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>
#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <initializer_list>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "visual_rft/core/error.h"
#include "visual_rft/core/fs.h"

namespace vrft::test {

struct CommandResult {
  int status = -1;     // exit status (128 + signal when killed)
  std::string output;  // stdout and stderr together
};

// Runs `cmd` through the shell and captures its output.
inline CommandResult run(const std::string& cmd) {
  CommandResult r;
  std::FILE* p = ::popen((cmd + " 2>&1").c_str(), "r");
  if (!p) return r;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0) r.output.append(buf.data(), n);
  int st = ::pclose(p);
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  return r;
}

inline std::string source_dir() { return VRFT_SOURCE_DIR; }

// Scratch folders made by this test program (see scratch_dir).
inline std::vector<std::string>* made_dirs() {
  static std::vector<std::string> dirs;
  return &dirs;
}
inline std::string cli() { return VRFT_CLI; }

// A folder for generated references, kept between runs (inside the build folder).
inline std::string cache_dir(const std::string& name) {
  std::filesystem::path p = std::filesystem::path(VRFT_TEST_CACHE) / name;
  std::filesystem::create_directories(p);
  return p.string();
}

// A cache folder for the output of scripts/refs/SCRIPT: its name carries a hash of the
// script's text and of the scripts/refs/ modules it imports (`import NAME`, `from NAME
// import`), so that changing a reference script, or one it builds on, regenerates its
// references.
inline std::string refs_cache_dir(const std::string& script) {
  const std::string dir = source_dir() + "/scripts/refs/";
  std::string text = vrft::read_file(dir + script);
  std::string all = text;
  std::istringstream lines(text);
  for (std::string l; std::getline(lines, l);) {
    std::istringstream words(l);
    std::string first, name;
    words >> first >> name;
    if (first != "import" && first != "from") continue;
    const std::string module = dir + name + ".py";
    if (!name.empty() && module != dir + script && std::filesystem::exists(module)) all += vrft::read_file(module);
  }
  return cache_dir(script.substr(0, script.find('.')) + "-" +
                   std::to_string(std::hash<std::string>{}(all) % 1000000007));
}

// A fresh, empty scratch folder for one test, removed when the test program exits (kept when
// the environment sets VRFT_KEEP_SCRATCH, to look into a failure).
inline std::string scratch_dir(const std::string& name) {
  static const bool registered = [] {
    made_dirs();  // constructed before the handler is registered, so destroyed after it runs
    return std::atexit([] {
             if (std::getenv("VRFT_KEEP_SCRATCH")) return;
             for (const auto& d : *made_dirs()) vrft::remove_tree(d);
           }) == 0;
  }();
  (void)registered;
  std::filesystem::path p =
      std::filesystem::temp_directory_path() / ("vrft-test-" + name + "-" + std::to_string(::getpid()));
  vrft::remove_tree(p.string());  // not std::filesystem::remove_all: see core/fs.h
  std::filesystem::create_directories(p);
  made_dirs()->push_back(p.string());
  return p.string();
}

// The rows of a JSON Lines file, one parsed value per line.
inline std::vector<nlohmann::json> read_jsonl(const std::string& path) {
  std::vector<nlohmann::json> out;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) out.push_back(nlohmann::json::parse(line));
  return out;
}

// Runs a script of scripts/ with the project venv's Python; fails the test on error.
inline std::string python(const std::string& script_and_args) {
  std::string cmd = std::string("'") + VRFT_PYTHON + "' '" + source_dir() + "/scripts/" + script_and_args;
  CommandResult r = run(cmd);
  EXPECT_EQ(r.status, 0) << "reference script failed: " << cmd << "\n" << r.output;
  return r.output;
}

// Runs scripts/SCRIPT_AND_ARGS once to make `dir`/`done_file`, under a file lock, so that
// test processes running in parallel (ctest -j) neither race nor read half-written files.
inline void generate_once(const std::string& dir, const std::string& done_file, const std::string& script_and_args) {
  const std::string done = dir + "/" + done_file;
  if (std::filesystem::exists(done)) return;
  int fd = ::open((dir + "/.lock").c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0644);
  ASSERT_GE(fd, 0) << "cannot create " << dir << "/.lock";
  ::flock(fd, LOCK_EX);
  if (!std::filesystem::exists(done)) python(script_and_args);
  ::flock(fd, LOCK_UN);
  ::close(fd);
}

// The references of scripts/refs/SCRIPT for this version of the script: made once (the script
// gets `args` and then the output folder) into the test cache, where `done_file` marks a
// complete set; returns the folder.
inline std::string script_refs(const std::string& script, const std::string& done_file,
                               const std::vector<std::string>& args = {}) {
  const std::string d = refs_cache_dir(script);
  std::string cmd = "refs/" + script + "'";
  for (const std::string& a : args) cmd += " '" + a + "'";
  generate_once(d, done_file, cmd + " '" + d + "'");
  return d;
}

// Test fixtures (tests/fixtures/README.md) and the data files users run with (data/).
// The message of the Error (or FileError, ConfigError) that `f` throws ("" when it throws none).
template <class F>
inline std::string error_of(F f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

inline std::string fixtures_dir() { return source_dir() + "/tests/fixtures"; }
inline std::string data_dir() { return source_dir() + "/data"; }
inline std::string tokenizer_fixture() { return fixtures_dir() + "/qwen2_5/tokenizer.json"; }

// The first of `paths` that does not exist, or "" when all do.
inline std::string first_missing(std::initializer_list<std::string> paths) {
  for (const std::string& p : paths) {
    if (!std::filesystem::exists(p)) return p;
  }
  return "";
}

// REQUIRE_FIXTURES(path, ...): fails the test (never skips it) when a fixture file is missing;
// the fixtures are part of the repository, so a missing one is a broken checkout.
#define REQUIRE_FIXTURES(...)                                                                                     \
  if (const std::string missing_fixture_ = ::vrft::test::first_missing({__VA_ARGS__}); !missing_fixture_.empty()) \
  GTEST_FAIL() << "fixture missing: " << missing_fixture_ << " (tests/fixtures, part of the repository)"

// A fresh scratch folder `name` holding model/: the tiny random Qwen2-VL of
// scripts/refs/rollout_refs.py (generated once, cached) with the real Qwen2 tokenizer and
// max_pixels 12544, for end-to-end runs of train and eval on the CPU. The weights are
// symlinks into the cache, so a test that wants to change them must copy them first.
inline std::string scratch_with_tiny_model(const std::string& name) {
  const std::string refs = script_refs("rollout_refs.py", "qwen25vl/outputs.safetensors");
  std::string dir = scratch_dir(name);
  std::filesystem::create_directories(dir + "/model");
  for (const auto& e : std::filesystem::directory_iterator(refs + "/qwen2vl/model"))
    std::filesystem::create_symlink(e.path(), dir + "/model/" + e.path().filename().string());
  std::filesystem::create_symlink(fixtures_dir() + "/qwen2_5/tokenizer.json", dir + "/model/tokenizer.json");
  vrft::write_file_atomic(dir + "/model/preprocessor_config.json", R"({"min_pixels": 3136, "max_pixels": 12544})");
  return dir;
}

}  // namespace vrft::test
