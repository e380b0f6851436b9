// src/core/profile.cpp: Kineto traces and their per-kernel summaries (see the header).
#include "visual_rft/core/profile.h"

#include <torch/csrc/autograd/profiler_kineto.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <unordered_map>

#include "visual_rft/core/error.h"
#include "visual_rft/core/fs.h"
#include "visual_rft/core/log.h"

// Kineto's ConfigLoader is not among LibTorch's installed headers; libtorch_cpu exports these
// two members, which are all TraceProfiler needs (see its constructor).
namespace libkineto {
class ConfigLoader {
 public:
  static ConfigLoader& instance();
  void stopThread();
};
}  // namespace libkineto

namespace vrft {

namespace kp = torch::autograd::profiler;
namespace pi = torch::profiler::impl;

ProfileRegion::ProfileRegion(const std::string& name) : guard_(at::RecordScope::USER_SCOPE) {
  if (guard_.isActive()) guard_.before(name);
}

namespace {

constexpr uint8_t kUserScope = static_cast<uint8_t>(at::RecordScope::USER_SCOPE);

struct TraceRange {
  uint64_t thread, start, end;
};

// The range (index) of `ranges` on `thread` that holds time t, or -1.
int64_t range_of(const std::vector<TraceRange>& ranges, uint64_t thread, uint64_t t) {
  for (size_t i = 0; i < ranges.size(); ++i)
    if (ranges[i].thread == thread && ranges[i].start <= t && t <= ranges[i].end) return static_cast<int64_t>(i);
  return -1;
}

bool is_region(const kp::KinetoEvent& e) { return e.scope() == kUserScope || e.name().rfind("vrft::", 0) == 0; }

// Self time of each host event (its duration less its direct children's), by nesting on
// each thread. Device events get their duration.
std::vector<uint64_t> self_times(const std::vector<kp::KinetoEvent>& ev) {
  std::vector<uint64_t> self(ev.size());
  std::map<uint64_t, std::vector<size_t>> by_thread;
  for (size_t i = 0; i < ev.size(); ++i) {
    self[i] = ev[i].durationNs();
    if (ev[i].deviceType() == c10::DeviceType::CPU) by_thread[ev[i].startThreadId()].push_back(i);
  }
  for (auto& [thread, idx] : by_thread) {
    std::sort(idx.begin(), idx.end(), [&](size_t a, size_t b) {
      if (ev[a].startNs() != ev[b].startNs()) return ev[a].startNs() < ev[b].startNs();
      return ev[a].endNs() > ev[b].endNs();  // the enclosing event first
    });
    std::vector<size_t> open;
    for (size_t i : idx) {
      while (!open.empty() && ev[open.back()].endNs() <= ev[i].startNs()) open.pop_back();
      if (!open.empty()) {
        uint64_t& parent = self[open.back()];
        parent -= std::min(parent, ev[i].durationNs());
      }
      open.push_back(i);
    }
  }
  return self;
}

using Place = std::pair<uint64_t, uint64_t>;  // (thread, start) of a host event

}  // namespace

// The recorded events and what every summary derives from all of them, computed once: each
// host event's self time, and where the calls that launched device activities ran (by CUPTI
// correlation for CUDA runtime calls, by the "External id" Kineto links activities to ops).
struct TraceProfiler::Result {
  std::unique_ptr<kp::ProfilerResult> r;
  std::vector<uint64_t> self;
  std::unordered_map<uint64_t, Place> runtime_at, op_at;

  explicit Result(std::unique_ptr<kp::ProfilerResult> result) : r(std::move(result)) {
    const std::vector<kp::KinetoEvent>& ev = r->events();
    self = self_times(ev);
    for (const auto& e : ev) {
      if (e.deviceType() != c10::DeviceType::CPU) continue;
      const bool runtime = e.name().rfind("cu", 0) == 0;
      (runtime ? runtime_at : op_at)[e.correlationId()] = {e.startThreadId(), e.startNs()};
    }
  }
};

TraceProfiler::TraceProfiler(bool cuda) {
  // Without a GPU, Kineto logs a CUDA probe failure at ERROR level: quiet unless asked for.
  if (!cuda) setenv("KINETO_LOG_LEVEL", "5", /*overwrite=*/0);
  const pi::ProfilerConfig config(pi::ProfilerState::KINETO);
  std::set<pi::ActivityType> activities{pi::ActivityType::CPU};
  if (cuda) activities.insert(pi::ActivityType::CUDA);
  kp::prepareProfiler(config, activities);
  // The first prepareProfiler starts Kineto's config thread, which at once reads its config
  // file and environment, then polls for on-demand requests we never make. A process that
  // ends during that first pass (a short CLI run, a test) corrupted the heap at exit in 1 of
  // ~70 runs on a busy machine; stopping the thread here (it finishes its pass first) ends
  // that, and nothing of ours needs it.
  libkineto::ConfigLoader::instance().stopThread();
  kp::enableProfiler(config, activities);
  running_ = true;
}

TraceProfiler::~TraceProfiler() {
  try {
    stop();
  } catch (...) {  // a destructor must not throw; the trace is lost
  }
}

void TraceProfiler::stop() {
  if (!running_) return;
  running_ = false;
  result_ = std::make_unique<Result>(kp::disableProfiler());
}

void TraceProfiler::save(const std::string& path) const {
  if (!result_) throw Error("profile: save() before stop()");
  // Kineto writes in place; a temporary name and a rename keep a half-written trace unseen.
  const std::string tmp = path + ".partial";
  result_->r->save(tmp);
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) throw FileError("cannot write the profile trace " + path + ": " + ec.message());
}

RegionProfile TraceProfiler::summarize(const std::string& region) const {
  if (!result_) throw Error("profile: summarize() before stop()");
  const std::vector<kp::KinetoEvent>& ev = result_->r->events();
  RegionProfile out;
  out.region = region;

  // The region's ranges; the whole trace is one range per thread.
  std::vector<TraceRange> ranges;
  if (region.empty()) {
    std::map<uint64_t, TraceRange> span;
    for (const auto& e : ev) {
      if (e.deviceType() != c10::DeviceType::CPU) continue;
      auto [it, fresh] = span.try_emplace(e.startThreadId(), TraceRange{e.startThreadId(), e.startNs(), e.endNs()});
      if (!fresh)
        it->second.start = std::min(it->second.start, e.startNs()),
        it->second.end = std::max(it->second.end, e.endNs());
    }
    for (const auto& [t, r] : span) ranges.push_back(r);
    out.occurrences = 1;
    for (const auto& r : ranges) out.wall_ms = std::max(out.wall_ms, 1e-6 * static_cast<double>(r.end - r.start));
  } else {
    for (const auto& e : ev) {
      if (e.deviceType() == c10::DeviceType::CPU && e.name() == region) {
        ranges.push_back({e.startThreadId(), e.startNs(), e.endNs()});
        out.wall_ms += 1e-6 * static_cast<double>(e.durationNs());
      }
    }
    out.occurrences = static_cast<int64_t>(ranges.size());
  }
  if (out.occurrences == 0) return out;

  const std::vector<uint64_t>& self = result_->self;
  const auto& runtime_at = result_->runtime_at;
  const auto& op_at = result_->op_at;
  std::map<std::pair<std::string, std::string>, KernelTime> rows;
  std::vector<std::vector<std::pair<uint64_t, uint64_t>>> device(ranges.size());  // per range: [start, end)
  double cpu_ops = 0, device_acts = 0, launches = 0;
  for (size_t i = 0; i < ev.size(); ++i) {
    const auto& e = ev[i];
    if (is_region(e)) continue;
    const bool host = e.deviceType() == c10::DeviceType::CPU;
    int64_t r = -1;
    if (host) {
      r = range_of(ranges, e.startThreadId(), e.startNs());
    } else {
      const Place* at = nullptr;
      if (auto it = runtime_at.find(e.correlationId()); it != runtime_at.end()) {
        at = &it->second;
      } else if (auto jt = op_at.find(e.linkedCorrelationId()); jt != op_at.end()) {
        at = &jt->second;
      }
      if (at) r = range_of(ranges, at->first, at->second);
    }
    if (r < 0) continue;
    KernelTime& k = rows[{host ? "cpu" : "cuda", e.name()}];
    k.name = e.name();
    k.device = host ? "cpu" : "cuda";
    k.total_ms += 1e-6 * static_cast<double>(self[i]);
    k.count += 1;
    if (host) {
      cpu_ops += 1;
      if (e.name().find("Launch") != std::string::npos) launches += 1;
    } else {
      device_acts += 1;
      device[static_cast<size_t>(r)].push_back({e.startNs(), e.endNs()});
    }
  }
  // Device time: busy = the union of its activities; the gaps lie between the first start
  // and the last end of each range's activities.
  for (auto& d : device) {
    if (d.empty()) continue;
    std::sort(d.begin(), d.end());
    uint64_t busy = 0, cur_start = d[0].first, cur_end = d[0].second;
    for (const auto& [s, e] : d) {
      if (s > cur_end) busy += cur_end - cur_start, cur_start = s;
      cur_end = std::max(cur_end, e);
    }
    busy += cur_end - cur_start;
    out.cuda_busy_ms += 1e-6 * static_cast<double>(busy);
    out.cuda_gap_ms += 1e-6 * static_cast<double>(cur_end - d[0].first - busy);
  }
  const double n = static_cast<double>(out.occurrences);
  out.cpu_ops = cpu_ops / n;
  out.cuda_activities = device_acts / n;
  out.launches = launches / n;
  out.cuda_busy_ms /= n;
  out.cuda_gap_ms /= n;
  std::map<std::string, double> device_total;
  for (const auto& [key, k] : rows) device_total[k.device] += k.total_ms;
  for (auto& [key, k] : rows) {
    k.share = device_total[k.device] > 0 ? k.total_ms / device_total[k.device] : 0;
    out.kernels.push_back(k);
  }
  std::sort(out.kernels.begin(), out.kernels.end(), [](const KernelTime& a, const KernelTime& b) {
    if (a.device != b.device) return a.device > b.device;  // cuda rows first
    return a.total_ms > b.total_ms;
  });
  return out;
}

nlohmann::json RegionProfile::json() const {
  nlohmann::json rows = nlohmann::json::array();
  for (const auto& k : kernels)
    rows.push_back(
        {{"name", k.name}, {"device", k.device}, {"total_ms", k.total_ms}, {"count", k.count}, {"share", k.share}});
  return {{"region", region.empty() ? "(whole trace)" : region},
          {"occurrences", occurrences},
          {"wall_ms", wall_ms},
          {"cpu_ops_per_occurrence", cpu_ops},
          {"cuda_activities_per_occurrence", cuda_activities},
          {"launches_per_occurrence", launches},
          {"cuda_busy_ms_per_occurrence", cuda_busy_ms},
          {"cuda_gap_ms_per_occurrence", cuda_gap_ms},
          {"kernels", rows}};
}

std::string RegionProfile::table(size_t top) const {
  std::string s =
      fmt::format("{}: {} occurrence(s), {:.3f} ms each; {:.0f} CPU ops", region.empty() ? "whole trace" : region,
                  occurrences, occurrences ? wall_ms / static_cast<double>(occurrences) : 0.0, cpu_ops);
  if (cuda_activities > 0)
    s += fmt::format(", {:.0f} CUDA kernels/copies from {:.0f} launches, device busy {:.3f} ms, idle {:.3f} ms",
                     cuda_activities, launches, cuda_busy_ms, cuda_gap_ms);
  s += " (per occurrence)\n\n| device | kernel / op (self time) | total ms | count | share "
       "|\n|---|---|---:|---:|---:|\n";
  std::map<std::string, size_t> shown;
  for (const auto& k : kernels) {
    if (shown[k.device]++ >= top) continue;
    const std::string name = k.name.size() > 90 ? k.name.substr(0, 87) + "..." : k.name;
    s += fmt::format("| {} | {} | {:.3f} | {} | {:.1f} % |\n", k.device, name, k.total_ms, k.count, 100 * k.share);
  }
  return s;
}

namespace {

StepProfileRequest& step_request() {
  static StepProfileRequest r;
  return r;
}

std::vector<RegionProfile>& step_summaries() {
  static std::vector<RegionProfile> s;
  return s;
}

}  // namespace

void request_step_profile(StepProfileRequest r) {
  step_request() = std::move(r);
  step_summaries().clear();
}

const std::vector<RegionProfile>& step_profile_summaries() { return step_summaries(); }

StepProfile::StepProfile(int64_t step) {
  if (step_request().step == step) prof_ = std::make_unique<TraceProfiler>(step_request().cuda);
}

void StepProfile::finish() {
  if (!prof_) return;
  try {
    prof_->stop();
    step_summaries() = write_profile(*prof_, step_request().path, step_request().regions);
  } catch (const std::exception& e) {
    log_error("profile of step {}: {}", step_request().step + 1, e.what());
  }
  prof_.reset();
}

std::vector<RegionProfile> write_profile(const TraceProfiler& prof, const std::string& path,
                                         const std::vector<std::string>& regions) {
  prof.save(path);
  std::vector<RegionProfile> out;
  nlohmann::json j = nlohmann::json::array();
  for (const auto& r : regions) {
    out.push_back(prof.summarize(r));
    j.push_back(out.back().json());
  }
  const bool dot_json = path.size() > 5 && path.compare(path.size() - 5, 5, ".json") == 0;
  write_file_atomic((dot_json ? path.substr(0, path.size() - 5) : path) + ".summary.json", j.dump(2) + "\n");
  return out;
}

}  // namespace vrft
