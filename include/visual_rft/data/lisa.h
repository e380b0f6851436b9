// visual_rft/data/lisa.h: LISA ReasonSeg annotations (LISA's ReasonSeg release): each image.jpg sits
// beside an image.json in LabelMe style:
//   {"text": ["instruction", ...] (or one string), "is_sentence": bool,
//    "shapes": [{"label": "target" | "ignore" | "flag", "points": [[x, y], ...], ...}, ...],
//    "imageWidth": W, "imageHeight": H (LabelMe; optional)}
//
// "target" shapes are the object, "ignore" shapes ambiguous regions, "flag" shapes are
// deprecated and skipped (as LISA does). The box of a sample is the bounding box of all its
// target polygons: the strict reading. Visual-RFT's gen_box_ann.py takes the bounding box of
// shapes[0] whatever its label, unclipped; that equals ours when the first shape is the only
// target. Table 6's protocol follows the reference (scripts/repro/lisa_to_jsonl.py --box
// reference); `--box union` writes this reader's box.
// Files that are not valid UTF-8 are decoded as cp1252, LISA's own fallback.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "visual_rft/data/visual_rft_jsonl.h"

namespace vrft {

// A box in pixels of the original image, corners (x1, y1) top-left and (x2, y2) bottom-right.
struct PixelBox {
  double x1 = 0, y1 = 0, x2 = 0, y2 = 0;
};

using Polygon = std::vector<std::array<double, 2>>;  // [[x, y], ...] in pixels

struct LisaSample {
  std::string json_path;
  std::string image;               // resolved image path (same stem, .jpg/.jpeg/.png)
  bool image_exists = true;        // false only for MissingImages::keep
  std::vector<std::string> texts;  // the instructions; LISA validates with texts[0]
  bool is_sentence = false;
  std::vector<Polygon> targets;   // the object's polygons
  std::vector<Polygon> ignores;   // regions excluded from the mask metrics
  int64_t width = 0, height = 0;  // imageWidth / imageHeight; 0 when the file has none
  PixelBox box;                   // bounding box of all target points (clamped to the image when its size is known)
};

// Parses one annotation; `json_path` names it in errors ("FILE: shapes[2]: ..."). Throws
// FileError for malformed JSON (with line and column), no instruction, a shape without a label
// or with points that are not [[x, y], ...] of finite numbers, an unknown label, or no target.
LisaSample parse_lisa_json(const std::string& text, const std::string& json_path);

// Reads one annotation file and finds its image beside it.
LisaSample load_lisa_json(const std::string& json_path, MissingImages missing, bool* skipped = nullptr);

// Every *.json of a folder (not recursive), in file-name order. lines = JSON files read.
std::vector<LisaSample> load_lisa_folder(const std::string& dir, MissingImages missing, LoadReport* report = nullptr);

}  // namespace vrft
