// tests/train/dist_test_util.h: what the data-parallel tests share: the tiny model with 4
// fixture photos and a GRPO config (setup), launching the built visual-rft as W ranks with
// torchrun's variables (launch, run_job), and comparing runs (max_abs_diff over safetensors
// files, metrics_diff over metrics.jsonl files).
#pragma once

#include <gtest/gtest.h>

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "test_util.h"
#include "visual_rft/core/fs.h"
#include "visual_rft/core/safetensors.h"

extern char** environ;

namespace dist_test {

using namespace vrft;
namespace fs = std::filesystem;

// The tiny model and 4 fixture photos whose class is "o". With the reference's substring rule
// (rewards.compat visual_rft) the random model's text contains an "o" about as often as not,
// so groups have reward variance and the policy gradient is not zero. `images`: other photos.
inline std::string setup(const std::string& name, const std::vector<std::string>& images = {
                                                      "apple.jpg", "orange.jpg", "baboon.jpg", "HappyFish.jpg"}) {
  std::string dir = test::scratch_with_tiny_model(name);
  std::string jsonl;
  for (const std::string& img : images) {
    jsonl += nlohmann::json{{"image", test::fixtures_dir() + "/images/" + img},
                            {"problem", "What is in the image?"},
                            {"solution", "<answer>o</answer>"}}
                 .dump() +
             "\n";
  }
  write_file_atomic(dir + "/train.jsonl", jsonl);
  // 4 prompts per step: 1 process takes 4, each of 2 ranks takes 2. micro_batch_size 4 = one
  // prompt's 4 completions: 4 micro-batches in one process, 2 per rank.
  write_file_atomic(
      dir + "/cfg.yaml",
      "model: {path: '" + dir +
          "/model', device: cpu, dtype: float32}\n"
          "data: {task: cls, train: '" +
          dir +
          "/train.jsonl', max_pixels: 12544}\n"
          "rollout: {num_generations: 4, max_new_tokens: 8, top_k: 50}\n"
          "rewards: {compat: visual_rft, functions: [accuracy_cls]}\n"
          "grpo: {beta: 0.04}\n"
          "optim: {lr: 0.001, lr_schedule: linear, warmup_steps: 1}\n"
          "train: {max_steps: 3, prompts_per_step: 4, micro_batch_size: 4, save_steps: 3, deterministic: true}\n"
          "distributed: {timeout_s: 60, bucket_mb: 1}\n"
          "logging: {sample_steps: 1, num_samples: 1}\n");
  return dir;
}

inline int free_port() {
  int s = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  ::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a);
  ::getsockname(s, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(s);
  return ntohs(a.sin_port);
}

struct Proc {
  pid_t pid = -1;
  std::string log;  // its stdout and stderr
};

// Starts `world` processes of `visual-rft --log-level warn train ARGS` as torchrun would (one
// intra-op thread each, as torchrun sets OMP_NUM_THREADS=1; the one-process baseline uses one
// thread too, so that both run the same kernels). world 1: no torchrun variables at all.
// Everything is prepared before fork(): the child only redirects its output and execs.
inline std::vector<Proc> launch(int world, const std::vector<std::string>& args, const std::string& log_prefix) {
  const int port = free_port();
  const std::string cli = test::cli();
  std::vector<std::string> argv_s{cli, "--log-level", "warn", "train"};
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : argv_s) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<Proc> procs;
  for (int r = 0; r < world; ++r) {
    std::vector<std::string> env_s;
    for (char** e = environ; *e; ++e) {
      const std::string kv = *e, k = kv.substr(0, kv.find('='));
      if (k != "RANK" && k != "LOCAL_RANK" && k != "WORLD_SIZE" && k != "MASTER_ADDR" && k != "MASTER_PORT" &&
          k != "TORCHELASTIC_USE_AGENT_STORE" && k != "OMP_NUM_THREADS" && k != "GLOO_SOCKET_IFNAME") {
        env_s.push_back(kv);
      }
    }
    env_s.push_back("OMP_NUM_THREADS=1");
    if (world > 1) {
      for (const std::string& kv : {"RANK=" + std::to_string(r), "LOCAL_RANK=" + std::to_string(r),
                                    "WORLD_SIZE=" + std::to_string(world), std::string("MASTER_ADDR=127.0.0.1"),
                                    "MASTER_PORT=" + std::to_string(port), std::string("GLOO_SOCKET_IFNAME=lo")}) {
        env_s.push_back(kv);
      }
    }
    std::vector<char*> envp;
    for (auto& kv : env_s) envp.push_back(kv.data());
    envp.push_back(nullptr);
    Proc p;
    p.log = log_prefix + ".rank" + std::to_string(r) + ".log";
    p.pid = fork();
    if (p.pid == 0) {
      const int fd = ::open(p.log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (fd < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0) _exit(126);
      execve(cli.c_str(), argv.data(), envp.data());
      _exit(127);
    }
    procs.push_back(p);
  }
  return procs;
}

// The exit status of `p` (128 + signal when killed); kills it after `seconds`, returning -1
// then: a test never hangs on a stuck rank.
inline int wait_for(const Proc& p, double seconds) {
  const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  int st = 0;
  while (waitpid(p.pid, &st, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() > end) {
      kill(p.pid, SIGKILL);
      waitpid(p.pid, &st, 0);
      return -1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

// Runs a job to the end; every process must exit 0.
inline void run_job(int world, const std::vector<std::string>& args, const std::string& log_prefix) {
  auto procs = launch(world, args, log_prefix);
  for (const auto& p : procs) {
    const int st = wait_for(p, 600);
    EXPECT_EQ(st, 0) << p.log << ":\n" << read_file(p.log);
  }
}

// Largest |a - b| over the tensors of two safetensors files (same names).
inline double max_abs_diff(const std::string& a, const std::string& b) {
  SafetensorsFile fa(a), fb(b);
  double d = 0;
  EXPECT_EQ(fa.tensors().size(), fb.tensors().size()) << a << " vs " << b;
  for (const auto& info : fa.tensors()) {
    if (!fb.contains(info.name)) {
      ADD_FAILURE() << b << " has no " << info.name;
      continue;
    }
    d = std::max(
        d, (fa.get(info.name).to(torch::kDouble) - fb.get(info.name).to(torch::kDouble)).abs().max().item<double>());
  }
  return d;
}

// Largest relative difference between the numbers of two metrics files, with every
// non-number equal (time, throughput and memory left out: they are measurements).
inline double metrics_diff(const std::string& a, const std::string& b) {
  std::ifstream fa(a), fb(b);
  double worst = 0;
  std::function<void(const nlohmann::json&, const nlohmann::json&, const std::string&)> cmp =
      [&](const nlohmann::json& x, const nlohmann::json& y, const std::string& key) {
        if (x.is_object()) {
          ASSERT_TRUE(y.is_object()) << key;
          for (auto it = x.begin(); it != x.end(); ++it) {
            if (it.key() == "time" || it.key() == "tokens_per_s" || it.key().rfind("peak_", 0) == 0 ||
                it.key() == "optimizer_state_gb") {
              continue;
            }
            ASSERT_TRUE(y.contains(it.key())) << key << "." << it.key();
            cmp(it.value(), y[it.key()], key + "." + it.key());
          }
        } else if (x.is_number()) {
          ASSERT_TRUE(y.is_number()) << key;
          const double u = x.get<double>(), v = y.get<double>();
          worst = std::max(worst, std::abs(u - v) / std::max(1.0, std::abs(u)));
        } else {
          EXPECT_EQ(x, y) << key;
        }
      };
  std::string la, lb;
  int lines = 0;
  while (std::getline(fa, la)) {
    EXPECT_TRUE(static_cast<bool>(std::getline(fb, lb))) << b << " has fewer lines than " << a;
    cmp(nlohmann::json::parse(la), nlohmann::json::parse(lb), "step " + std::to_string(++lines));
  }
  EXPECT_FALSE(static_cast<bool>(std::getline(fb, lb))) << b << " has more lines than " << a;
  EXPECT_GT(lines, 0) << a << " is empty";
  return worst;
}

}  // namespace dist_test
