// visual_rft/train/stop_signal.h: a training run stopped by SIGINT (Ctrl-C) or SIGTERM (Slurm
// pre-emption, torchrun shutting down a job) ends cleanly: the current step finishes, a
// checkpoint of it is written, and the process exits with 128 + the signal's number, so that
// `--resume` continues exactly. A second signal ends the process at once, as without us.
#pragma once

#include <cstdint>
#include <string>

#include "visual_rft/core/error.h"

namespace vrft {

// While alive, SIGINT and SIGTERM set a flag instead of ending the process; the first signal
// is remembered, a second one restores the default action and re-raises (immediate exit).
// The previous handlers come back on destruction. One at a time per process.
class StopOnSignal {
 public:
  StopOnSignal();
  ~StopOnSignal();
  StopOnSignal(const StopOnSignal&) = delete;
  StopOnSignal& operator=(const StopOnSignal&) = delete;

  bool requested() const;  // a signal arrived
  int signal() const;      // which (0 = none)
};

// What the trainers throw after the checkpoint of a stopped run; main exits with `code`.
struct Interrupted : Error {
  Interrupted(const std::string& what, int exit_code) : Error(what), code(exit_code) {}
  int code;
};

// The name of a signal for messages: "SIGINT", "SIGTERM", or "signal N".
std::string signal_name(int sig);

// What a trainer throws once the checkpoint of the step a signal stopped it after is written
// (`checkpoint` empty on the ranks that do not write it): says so, and how to go on.
Interrupted stopped_by_signal(int sig, int64_t step, int64_t total, const std::string& checkpoint,
                              bool resumable = true);

}  // namespace vrft
