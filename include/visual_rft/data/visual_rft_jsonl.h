// visual_rft/data/visual_rft_jsonl.h: the Visual-RFT data format, one JSON object per line:
//   {"image": "relative/or/absolute.jpg", "problem": "<question>", "solution": "<answer>...</answer>"}
// (the columns of the released data sets on the Hugging Face hub). The other readers of data/
// (coco.h, classification.h, lisa.h) share LoadReport and MissingImages from here.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace vrft {

struct Sample {
  int64_t index = 0;     // line order in the file, counting only kept records: the stable key
  int64_t line = 0;      // 1-based line of the file it came from (0: not from a file), for messages
  std::string image;     // resolved path
  std::string problem;   // the question shown to the model
  std::string solution;  // the ground truth the rewards compare with
};

// What a reader saw. `lines` counts the records read: lines of a text file, images of a
// COCO/LVIS file, files of a LISA folder.
struct LoadReport {
  int64_t lines = 0, kept = 0, missing_images = 0;
  int64_t unreadable_images = 0;  // skipped by the training rows' check (data.missing_images: skip)
};

// What a reader does with a record whose image file does not exist.
enum class MissingImages {
  error,  // throw FileError naming the file and record (the default everywhere)
  skip,   // drop the record and count it in LoadReport::missing_images
  keep,   // keep the record unchecked (tests, or images copied in later); still counted
};
MissingImages parse_missing_images(const std::string& name);  // "error" | "skip" | "keep"

// Reads a JSONL file. Relative image paths start at `image_root` (empty: the file's folder).
// A malformed line or a record without the three string fields is an error naming file:line
// and what was expected. A missing image is an error too, unless skip_missing_images (then it
// is counted in the report).
std::vector<Sample> load_visual_rft_jsonl(const std::string& path, const std::string& image_root,
                                          bool skip_missing_images, LoadReport* report = nullptr);

// Writes rows as Visual-RFT JSONL, atomically (core/fs.h): {"image", "problem", "solution"}
// with `image` as given (the reader resolves a relative path from the file's folder).
void write_visual_rft_jsonl(const std::string& path, const std::vector<Sample>& rows);

}  // namespace vrft
