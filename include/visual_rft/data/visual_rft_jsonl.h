// visual_rft/data/visual_rft_jsonl.h: the Visual-RFT data format, one JSON object per line:
//   {"image": "relative/or/absolute.jpg", "problem": "<question>", "solution": "<answer>...</answer>"}
// (the released data sets' columns; visual-rft-reference.md §2). The data issue extends this
// file with the other readers.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace vrft {

struct Sample {
  int64_t index = 0;     // line order in the file, counting only kept records: the stable key
  std::string image;     // resolved path
  std::string problem;   // the question shown to the model
  std::string solution;  // the ground truth the rewards compare with
};

struct LoadReport {
  int64_t lines = 0, kept = 0, missing_images = 0;
};

// Reads a JSONL file. Relative image paths start at `image_root` (empty: the file's folder).
// A malformed line or a record without the three string fields is an error naming file:line
// and what was expected. A missing image is an error too, unless skip_missing_images (then it
// is counted in the report).
std::vector<Sample> load_visual_rft_jsonl(const std::string& path, const std::string& image_root,
                                          bool skip_missing_images, LoadReport* report = nullptr);

}  // namespace vrft
