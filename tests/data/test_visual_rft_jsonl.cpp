// tests/data/test_visual_rft_jsonl.cpp: the Visual-RFT JSONL reader (data/visual_rft_jsonl.h)
// and scripts/convert_hf_dataset.py (parquet shards to JSONL) read back with it.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "data/data_test_util.h"
#include "test_util.h"
#include "visual_rft/core/error.h"
#include "visual_rft/core/fs.h"
#include "visual_rft/data/classification.h"
#include "visual_rft/data/coco.h"
#include "visual_rft/data/lisa.h"
#include "visual_rft/data/visual_rft_jsonl.h"
#include "visual_rft/reward/rewards.h"

using namespace vrft;
using namespace vrft::test;
namespace fs = std::filesystem;

// ---- JSONL ------------------------------------------------------------------------------------

// A NUL inside an image path would end the path early and read another file: refused.
TEST(VisualRftJsonl, ANulInAnImagePathIsRefused) {
  std::string d = test::scratch_dir("jsonl-nul");
  write(d + "/a.jsonl", R"({"image": "a.jpg\u0000.png", "problem": "q", "solution": "<answer>x</answer>"})"
                        "\n");
  const std::string m = error_of([&] { load_visual_rft_jsonl(d + "/a.jsonl", "", false); });
  EXPECT_NE(m.find(d + "/a.jsonl:1: the image path holds a NUL byte"), std::string::npos) << m;
}

// ---- scripts/convert_hf_dataset.py ----------------------------------------------------------

TEST(ConvertHfDataset, ParquetToJsonl) {
  if (test::run(std::string("'") + VRFT_PYTHON + "' -c 'import pyarrow'").status != 0) {
    GTEST_FAIL() << "pyarrow is not in " << VRFT_PYTHON << " (scripts/setup.sh installs it)";
  }
  std::string d = test::scratch_dir("convert");
  cv::Mat img(6, 10, CV_8UC3, cv::Scalar(1, 2, 3));
  ASSERT_TRUE(cv::imwrite(d + "/a.png", img));
  ASSERT_TRUE(cv::imwrite(d + "/b.jpg", img));
  // Two shards: the HF Image struct {bytes, path}, and plain binary images.
  write(d + "/make.py", R"(import sys, pyarrow as pa, pyarrow.parquet as pq
d = sys.argv[1]
a, b = open(d + "/a.png", "rb").read(), open(d + "/b.jpg", "rb").read()
img = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
pq.write_table(pa.table({"image": pa.array([{"bytes": a, "path": "x.png"}, {"bytes": b, "path": None}], img),
                         "problem": ["What is this? \u00e9", "q2"],
                         "solution": ["<answer>[{'Position': [1, 2, 3, 4], 'Confidence': 1}]</answer>", "<answer>cat</answer>"]}),
               d + "/in/train-00000-of-00002.parquet")
pq.write_table(pa.table({"image": pa.array([a], pa.binary()), "problem": ["q3"], "solution": ["<answer>dog</answer>"]}),
               d + "/in/train-00001-of-00002.parquet")
pq.write_table(pa.table({"image": pa.array([a], pa.binary()), "problem": ["q"]}), d + "/bad.parquet")
)");
  fs::create_directories(d + "/in");
  test::CommandResult mk = test::run(std::string("'") + VRFT_PYTHON + "' '" + d + "/make.py' '" + d + "'");
  ASSERT_EQ(mk.status, 0) << mk.output;
  std::string out = test::python("convert_hf_dataset.py' '" + d + "/in' --out '" + d + "/out'");
  EXPECT_NE(out.find("wrote 3 rows"), std::string::npos) << out;

  std::vector<Sample> rows = load_visual_rft_jsonl(d + "/out/train.jsonl", "", false);
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0].image, d + "/out/images/000000.png");
  EXPECT_EQ(rows[1].image, d + "/out/images/000001.jpg");
  EXPECT_EQ(rows[2].image, d + "/out/images/000002.png");
  EXPECT_EQ(rows[0].problem, "What is this? \xc3\xa9");
  EXPECT_EQ(read_file(rows[0].image), read_file(d + "/a.png"));
  EXPECT_EQ(read_file(rows[1].image), read_file(d + "/b.jpg"));
  EXPECT_EQ(parse_solution(Task::det, rows[0].solution).boxes.size(), 1u);
  EXPECT_EQ(parse_solution(Task::cls, rows[2].solution).label, "dog");
  auto summary = nlohmann::json::parse(read_file(d + "/out/summary.json"));
  EXPECT_EQ(summary["rows"], 3);

  test::CommandResult bad = test::run(std::string("'") + VRFT_PYTHON + "' '" + test::source_dir() +
                                      "/scripts/convert_hf_dataset.py' '" + d + "/bad.parquet' --out '" + d + "/o2'");
  EXPECT_NE(bad.status, 0);
  EXPECT_NE(bad.output.find("bad.parquet: no column 'solution'"), std::string::npos) << bad.output;
}
