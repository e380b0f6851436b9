// src/train/stop_signal.cpp: SIGINT/SIGTERM to a flag the trainers read between steps.
#include "visual_rft/train/stop_signal.h"

#include <signal.h>

#include <atomic>

namespace vrft {
namespace {

volatile sig_atomic_t g_signal = 0;
std::atomic<bool> g_installed{false};
struct sigaction g_prev_int, g_prev_term;

// Async-signal-safe: stores the first signal; on the second, the default action (end).
void on_signal(int sig) {
  if (g_signal != 0) {
    ::signal(sig, SIG_DFL);
    ::raise(sig);
    return;
  }
  g_signal = sig;
}

}  // namespace

StopOnSignal::StopOnSignal() {
  if (g_installed.exchange(true)) throw Error("StopOnSignal: already installed in this process");
  g_signal = 0;
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;  // a signal during a read or write does not fail it
  sigaction(SIGINT, &sa, &g_prev_int);
  sigaction(SIGTERM, &sa, &g_prev_term);
}

StopOnSignal::~StopOnSignal() {
  sigaction(SIGINT, &g_prev_int, nullptr);
  sigaction(SIGTERM, &g_prev_term, nullptr);
  g_installed = false;
}

bool StopOnSignal::requested() const { return g_signal != 0; }
int StopOnSignal::signal() const { return static_cast<int>(g_signal); }

Interrupted stopped_by_signal(int sig, int64_t step, int64_t total, const std::string& checkpoint, bool resumable) {
  return Interrupted("stopped by " + signal_name(sig) + " after step " + std::to_string(step) + " of " +
                         std::to_string(total) + ": checkpoint " + (checkpoint.empty() ? "(rank 0's)" : checkpoint) +
                         (resumable ? " written; continue with --resume"
                                    : " written (weights only, train.save_only_model: not resumable)"),
                     128 + sig);
}

std::string signal_name(int sig) {
  if (sig == SIGINT) return "SIGINT";
  if (sig == SIGTERM) return "SIGTERM";
  return "signal " + std::to_string(sig);
}

}  // namespace vrft
