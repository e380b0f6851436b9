// tests/test_util.h: helpers shared by the tests: running commands (the CLI, the Python
// reference scripts) and the cache folder where generated references live.
#pragma once

#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <string>
#include <sys/wait.h>

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
inline std::string cli() { return VRFT_CLI; }

// A folder for generated references, kept between runs (inside the build folder).
inline std::string cache_dir(const std::string& name) {
  std::filesystem::path p = std::filesystem::path(VRFT_TEST_CACHE) / name;
  std::filesystem::create_directories(p);
  return p.string();
}

// A cache folder for the output of scripts/refs/SCRIPT: its name carries a hash of the
// script's text, so that changing a reference script regenerates its references.
inline std::string refs_cache_dir(const std::string& script) {
  std::string text = vrft::read_file(source_dir() + "/scripts/refs/" + script);
  return cache_dir(script.substr(0, script.find('.')) + "-" + std::to_string(std::hash<std::string>{}(text) % 1000000007));
}

// A fresh, empty scratch folder for one test.
inline std::string scratch_dir(const std::string& name) {
  std::filesystem::path p = std::filesystem::temp_directory_path() / ("vrft-test-" + name + "-" + std::to_string(::getpid()));
  vrft::remove_tree(p.string());  // not std::filesystem::remove_all: see core/fs.h
  std::filesystem::create_directories(p);
  return p.string();
}

// Runs a script of scripts/ with the project venv's Python; fails the test on error.
inline std::string python(const std::string& script_and_args) {
  std::string cmd = std::string("'") + VRFT_PYTHON + "' '" + source_dir() + "/scripts/" + script_and_args;
  CommandResult r = run(cmd);
  EXPECT_EQ(r.status, 0) << "reference script failed: " << cmd << "\n" << r.output;
  return r.output;
}

}  // namespace vrft::test
