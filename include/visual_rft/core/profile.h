// visual_rft/core/profile.h: traces through LibTorch's Kineto profiler, for
// `visual-rft bench rollout|train --profile OUT.json`.
//
//   TraceProfiler prof(cuda);            // records every op (and CUDA kernel) from here
//   { ProfileRegion r("vrft::decode_step"); ... }   // named ranges, free when nothing records
//   prof.stop(); prof.save("OUT.json");  // Chrome trace: chrome://tracing, ui.perfetto.dev
//   prof.summarize("vrft::decode_step"); // per-kernel time, count and share in those ranges
//
// Summaries count CPU ops by self time (their own time, children excluded, so that nested ops
// such as aten::linear > aten::addmm are not counted twice) and CUDA activities (kernels,
// copies) by their device time. A CUDA activity belongs to a region when the CPU op that
// launched it ran inside the region.
#pragma once

#include <ATen/record_function.h>

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace vrft {

// A named range in the trace (a RecordFunction user scope): nothing when no profiler records.
class ProfileRegion {
 public:
  explicit ProfileRegion(const std::string& name);
  ProfileRegion(const ProfileRegion&) = delete;
  ProfileRegion& operator=(const ProfileRegion&) = delete;

 private:
  at::RecordFunction guard_;
};

struct KernelTime {
  std::string name;
  std::string device;  // "cpu" (op self time) or "cuda" (device time)
  double total_ms = 0;
  int64_t count = 0;
  double share = 0;  // of the region's total on that device
};

// What happened inside one region's ranges (or in the whole trace for the region "").
struct RegionProfile {
  std::string region;
  int64_t occurrences = 0;                   // ranges of that name (1 for the whole trace)
  double wall_ms = 0;                        // summed over the ranges
  double cpu_ops = 0;                        // CPU ops per occurrence
  double cuda_activities = 0, launches = 0;  // per occurrence (kernels + copies; launch calls)
  double cuda_busy_ms = 0, cuda_gap_ms = 0;  // per occurrence: device busy, idle between activities
  std::vector<KernelTime> kernels;           // by total time, largest first, per device

  nlohmann::json json() const;
  // A Markdown table of the `top` largest rows of each device.
  std::string table(size_t top) const;
};

class TraceProfiler {
 public:
  // Starts recording CPU ops, and CUDA activities when `cuda` (the build must have CUDA).
  explicit TraceProfiler(bool cuda);
  ~TraceProfiler();
  TraceProfiler(const TraceProfiler&) = delete;
  TraceProfiler& operator=(const TraceProfiler&) = delete;

  void stop();                                               // ends recording (once)
  void save(const std::string& path) const;                  // the Chrome/Perfetto trace (after stop)
  RegionProfile summarize(const std::string& region) const;  // "" = the whole trace

 private:
  struct Result;
  std::unique_ptr<Result> result_;
  bool running_ = false;
};

// The trainers call this at the start of each step: when `bench train --profile` asked for
// that step (request_step_profile), it records the step and, at the end of the scope, writes
// the trace and its summary (write_profile). One request at a time, for this process.
class StepProfile {
 public:
  explicit StepProfile(int64_t step);
  ~StepProfile() { finish(); }
  StepProfile(const StepProfile&) = delete;
  StepProfile& operator=(const StepProfile&) = delete;
  void finish();  // stops and writes (once); errors are logged, never thrown

 private:
  std::unique_ptr<TraceProfiler> prof_;
};

struct StepProfileRequest {
  int64_t step = -1;                 // 0-based step to record; -1 = none
  std::string path;                  // trace path (see write_profile)
  bool cuda = false;                 // record CUDA activities too
  std::vector<std::string> regions;  // the summary's regions
};
void request_step_profile(StepProfileRequest r);
// The summaries of the requested step once it has been written (empty before).
const std::vector<RegionProfile>& step_profile_summaries();

// Saves the trace to `path` and the regions' summaries (JSON) beside it, at `path` with
// ".json" replaced by ".summary.json"; returns the summaries.
std::vector<RegionProfile> write_profile(const TraceProfiler& prof, const std::string& path,
                                         const std::vector<std::string>& regions);

}  // namespace vrft
