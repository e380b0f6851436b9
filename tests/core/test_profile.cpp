// tests/core/test_profile.cpp: Kineto traces and their per-region summaries (core/profile.h).
#include "visual_rft/core/profile.h"

#include <torch/torch.h>

#include <map>
#include <nlohmann/json.hpp>

#include "test_util.h"
#include "visual_rft/core/fs.h"

namespace vrft {
namespace {

const KernelTime* row(const RegionProfile& r, const std::string& name) {
  for (const auto& k : r.kernels)
    if (k.name == name) return &k;
  return nullptr;
}

TEST(Profile, RegionsCountTheirOwnOpsBySelfTime) {
  const std::string dir = test::scratch_dir("profile");
  torch::Tensor x = torch::randn({64, 128}), w = torch::randn({256, 128});
  TraceProfiler prof(false);
  for (int i = 0; i < 3; ++i) {
    ProfileRegion r("vrft::test");
    torch::Tensor y = torch::matmul(x, w.t()).relu();  // aten::matmul > aten::mm: nested ops
    (void)y.sum().item<float>();
  }
  (void)torch::sigmoid(x);  // outside the region
  prof.stop();

  const RegionProfile r = prof.summarize("vrft::test");
  EXPECT_EQ(r.occurrences, 3);
  EXPECT_GT(r.wall_ms, 0.0);
  ASSERT_NE(row(r, "aten::matmul"), nullptr);
  ASSERT_NE(row(r, "aten::mm"), nullptr);
  EXPECT_EQ(row(r, "aten::matmul")->count, 3);
  EXPECT_EQ(row(r, "aten::mm")->count, 3);
  EXPECT_LT(row(r, "aten::matmul")->total_ms, row(r, "aten::mm")->total_ms) << "the mm's time is not the matmul's";
  EXPECT_EQ(row(r, "aten::relu")->count, 3);
  EXPECT_EQ(row(r, "aten::sigmoid"), nullptr) << "the op outside the region is not its";
  EXPECT_EQ(row(r, "vrft::test"), nullptr) << "regions are not kernels";
  double share = 0, self = 0;
  for (const auto& k : r.kernels) {
    EXPECT_EQ(k.device, "cpu");
    share += k.share;
    self += k.total_ms;
  }
  EXPECT_NEAR(share, 1.0, 1e-9);
  // Self times do not count nested ops twice: together they fit in the regions' time.
  EXPECT_LE(self, r.wall_ms * 1.0001);
  EXPECT_NEAR(r.cpu_ops * 3, static_cast<double>([&] {
                int64_t n = 0;
                for (const auto& k : r.kernels) n += k.count;
                return n;
              }()),
              1e-9);

  const RegionProfile all = prof.summarize("");
  EXPECT_EQ(all.occurrences, 1);
  ASSERT_NE(row(all, "aten::sigmoid"), nullptr);
  EXPECT_EQ(row(all, "aten::sigmoid")->count, 1);
  EXPECT_EQ(prof.summarize("vrft::absent").occurrences, 0);

  // The trace (Chrome JSON) and the summaries beside it.
  const auto summaries = write_profile(prof, dir + "/t.json", {"vrft::test", ""});
  ASSERT_EQ(summaries.size(), 2u);
  const auto trace = nlohmann::json::parse(read_file(dir + "/t.json"));
  std::map<std::string, int> seen;
  for (const auto& e : trace["traceEvents"])
    if (e.contains("name") && e["name"].is_string()) ++seen[e["name"].get<std::string>()];
  EXPECT_EQ(seen["vrft::test"], 3);
  EXPECT_EQ(seen["aten::mm"], 3);
  const auto sj = nlohmann::json::parse(read_file(dir + "/t.summary.json"));
  ASSERT_EQ(sj.size(), 2u);
  EXPECT_EQ(sj[0]["region"], "vrft::test");
  EXPECT_EQ(sj[0]["occurrences"], 3);
  EXPECT_EQ(sj[1]["region"], "(whole trace)");
  EXPECT_NE(summaries[0].table(5).find("| cpu | aten::"), std::string::npos);
  EXPECT_FALSE(std::filesystem::exists(dir + "/t.json.partial"));
}

TEST(Profile, AStepIsRecordedOnlyWhenRequested) {
  const std::string dir = test::scratch_dir("profile-step");
  request_step_profile({1, dir + "/s.json", false, {"vrft::work"}});
  for (int64_t step = 0; step < 3; ++step) {
    StepProfile p(step);
    ProfileRegion r("vrft::work");
    (void)torch::ones({8, 8}).matmul(torch::ones({8, 8})).sum();
  }
  ASSERT_EQ(step_profile_summaries().size(), 1u);
  EXPECT_EQ(step_profile_summaries()[0].occurrences, 1) << "step 2 only";
  EXPECT_TRUE(std::filesystem::exists(dir + "/s.json"));
  request_step_profile({});
  EXPECT_TRUE(step_profile_summaries().empty());
}

// Kineto starts a config thread with the first profiler; a process that ended while it ran its
// first pass could corrupt the heap at exit. The profiler stops it before recording.
TEST(Profile, LeavesNoKinetoThreadRunning) {
  const auto threads = [] {
    size_t n = 0;
    for ([[maybe_unused]] const auto& t : std::filesystem::directory_iterator("/proc/self/task")) ++n;
    return n;
  };
  const size_t before = threads();
  TraceProfiler prof(false);
  EXPECT_EQ(threads(), before) << "a thread was left running by the profiler's start";
  prof.stop();
  EXPECT_EQ(threads(), before);
}

}  // namespace
}  // namespace vrft
