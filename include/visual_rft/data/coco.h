// visual_rft/data/coco.h: detection data sets in the COCO instances and LVIS formats, read for
// building training sets (COCO's instances format). Scoring reads the same files through
// eval/coco_eval.h, which keeps only what COCOeval needs; this reader keeps what a training
// set needs: image files and sizes, category names, boxes.
//
// Both formats: {images, annotations, categories}. Differences handled here:
//   COCO   images carry file_name; the image is image_dir/file_name.
//   LVIS   v1 images have no file_name: the file is the last part of coco_url, and its folder
//          the part before (train2017 or val2017), so the image is image_dir/split/name
//          (detectron2's layout; image_dir/name is used when only that exists). The v0.5-style
//          lvis_val_100 fixture has both fields; coco_url wins, as for v1. No iscrowd.
//
// Validation (FileError naming the file, the record as "annotations[17]" and what was
// expected): JSON syntax (with line and column), the three lists, integer ids unique per list,
// positive image sizes, non-empty unique category names, annotations on known images and
// categories, bbox [x, y, w, h] of 4 finite numbers with w, h >= 0, area >= 0 (w*h when
// absent), iscrowd 0/1 (0 when absent). Segmentations are skipped while parsing (they are most
// of a COCO file and no training set here needs them).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "visual_rft/data/visual_rft_jsonl.h"

namespace vrft {

enum class DetFormat { coco, lvis };

struct DetImage {
  int64_t id = 0;
  std::string file;               // resolved path of the image file
  int64_t width = 0, height = 0;  // the original size, from the JSON (boxes are relative to it)
  bool exists = true;             // false only for MissingImages::keep
};

struct DetCategory {
  int64_t id = 0;
  std::string name;
  char frequency = 0;  // LVIS 'r', 'c' or 'f' (0 when absent or COCO)
};

struct DetAnnotation {
  int64_t id = 0;  // int64: COCO crowd ids are around 9e11
  int64_t image_id = 0;
  int64_t category_id = 0;
  double x = 0, y = 0, w = 0, h = 0;  // pixels, top-left origin, continuous (no +1)
  double area = 0;
  bool iscrowd = false;
};

// A detection data set in file order. Annotations of images dropped for a missing file are
// dropped too.
struct DetDataset {
  std::string source;  // the JSON path, for messages
  DetFormat format = DetFormat::coco;
  std::vector<DetImage> images;
  std::vector<DetCategory> categories;
  std::vector<DetAnnotation> annotations;

  const DetCategory* find_category(std::string_view name) const;  // nullptr when absent
};

struct DetLoadReport {
  LoadReport images;                   // lines = images in the file, kept, missing_images
  int64_t annotations = 0, crowd = 0;  // kept annotations, of which iscrowd
  int64_t dropped_annotations = 0;     // on images dropped for a missing file
};

// Reads a COCO instances or LVIS JSON file; images are looked up under image_dir.
DetDataset load_detection_dataset(const std::string& path, const std::string& image_dir, DetFormat format,
                                  MissingImages missing, DetLoadReport* report = nullptr);
// The same from JSON text; `source` names it in errors, relative paths start at image_dir.
DetDataset parse_detection_dataset(const std::string& json_text, const std::string& source,
                                   const std::string& image_dir, DetFormat format, MissingImages missing,
                                   DetLoadReport* report = nullptr);

}  // namespace vrft
