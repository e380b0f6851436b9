// tests/core/test_log.cpp: the metrics.jsonl writer and log levels.
#include <gtest/gtest.h>

#include <cmath>
#include <sstream>

#include "test_util.h"
#include "visual_rft/core/error.h"
#include "visual_rft/core/fs.h"
#include "visual_rft/core/log.h"

using namespace vrft;

TEST(Metrics, OneFlushedLinePerRecordAndNonFiniteMadeVisible) {
  std::string path = test::scratch_dir("metrics") + "/metrics.jsonl";
  {
    MetricsWriter w(path, /*append=*/false);
    w.write({{"step", 1}, {"loss", 0.5}});
    // Flushed per line: readable before the writer closes.
    EXPECT_EQ(read_file(path), "{\"loss\":0.5,\"step\":1}\n");
    w.write({{"step", 2}, {"loss", std::nan("")}, {"kl", INFINITY}});
  }
  std::istringstream lines(read_file(path));
  std::string l1, l2;
  std::getline(lines, l1);
  std::getline(lines, l2);
  auto j = nlohmann::json::parse(l2);
  EXPECT_TRUE(j["loss"].is_null());
  EXPECT_TRUE(j["kl"].is_null());
  EXPECT_EQ(j["nonfinite"], nlohmann::json::array({"kl", "loss"}));
  {
    MetricsWriter w(path, /*append=*/true);
    w.write({{"step", 3}});
  }
  std::string all = read_file(path);
  EXPECT_EQ(std::count(all.begin(), all.end(), '\n'), 3);
}

TEST(Metrics, UnwritablePathIsNamed) {
  try {
    MetricsWriter w("/nonexistent/dir/metrics.jsonl", false);
    FAIL();
  } catch (const FileError& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/dir/metrics.jsonl"), std::string::npos);
  }
}

TEST(Log, LevelsFilter) {
  init_logging("warn");
  EXPECT_FALSE(log_enabled(LogLevel::info));
  EXPECT_TRUE(log_enabled(LogLevel::error));
  init_logging("debug");
  EXPECT_TRUE(log_enabled(LogLevel::debug));
  EXPECT_THROW(init_logging("loud"), std::invalid_argument);
  LogLevel l;
  EXPECT_TRUE(parse_log_level("trace", l));
  EXPECT_EQ(l, LogLevel::trace);
  init_logging("info");
}
