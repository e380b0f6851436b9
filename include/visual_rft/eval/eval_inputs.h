// visual_rft/eval/eval_inputs.h: what `visual-rft eval` asks the model, built from one of four
// inputs (the eval.* keys of core/config.h), and the reference's existence-map protocol for
// detection (the reference's exist_cat loop).
//
//   eval.data            a Visual-RFT JSONL of task data.task: one question per line, as written
//   eval.coco            a COCO instances JSON + eval.images: one question per (image, category)
//   eval.lvis            an LVIS v1 JSON + eval.images: the same, image files from coco_url
//   eval.classification  a split list relpath<TAB>label<TAB>classname + eval.classnames: one
//                        question per line, with the classification prompt of eval.subject
//
// Detection from COCO/LVIS follows Qwen2_VL_{coco,lvis}_infere.py: the images in file order;
// for each image the categories of exist_map[str(image_id)] in the map's order, kept when they
// are among the selected categories (eval.categories), or, without a map, every selected
// category in the selection's order; the eval prompt of data/task_prompts.h. Scoring then runs
// COCOeval or LVISEval on the file's ground truth (evaluator.h), so an image/category pair that
// was not asked still counts its true boxes as missed, as in the reference.
//
// Deviations, where the reference has no defined result: an image the map lacks is asked
// nothing and counted (the reference raises KeyError); a map naming no image of the data set
// is an error (surely the map of another data set). `--limit N` keeps the first N images
// (COCO/LVIS) or lines (JSONL, lists), and scoring covers only those images.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <unordered_map>
#include <vector>

#include "visual_rft/core/config.h"
#include "visual_rft/data/visual_rft_jsonl.h"
#include "visual_rft/eval/coco_eval.h"
#include "visual_rft/reward/rewards.h"

namespace vrft {

// ---- the existence maps (Visual-RFT's coco_evaluation/ and lvis_evaluation/)
// --------------------------------------------------------

// exist_map_{coco,lvis}_Qwen2_vl_{2B,7B}_baseline.json: image id (a decimal string) -> the
// category names the baseline model said were present, in file order.
struct ExistMap {
  std::string source;
  std::unordered_map<int64_t, std::vector<std::string>> names;
  int64_t pairs = 0;  // all (image, name) entries
};
// Throws FileError naming the file and key for anything but {"<int>": ["name", ...], ...}.
ExistMap parse_exist_map(const std::string& json_text, const std::string& source);
ExistMap load_exist_map(const std::string& path);

// One question: an image and a category, as indices into the caller's lists.
struct DetQuery {
  size_t image = 0;     // into image_ids
  size_t category = 0;  // into selected
};

struct QuerySelection {
  std::vector<DetQuery> queries;       // image-major, in the order of the reference's exist_cat loop
  int64_t images_not_in_map = 0;       // images the map lacks: asked nothing
  int64_t images_without_queries = 0;  // images asked nothing (not in the map, or none of its names selected)
  int64_t map_pairs = 0;               // the map's pairs on these images
  int64_t map_pairs_not_selected = 0;  // of those, names outside `selected` (skipped, as the reference does)
};
// The questions for `image_ids` (file order) and the `selected` category names; `map` may be
// null (every pair). Throws Error when a map is given and none of the images is in it.
QuerySelection select_detection_queries(const std::vector<int64_t>& image_ids, const std::vector<std::string>& selected,
                                        const ExistMap* map);

// ---- evaluation items -----------------------------------------------------------------------------

enum class EvalInput { jsonl, coco, lvis, classification };
const char* eval_input_name(EvalInput in);  // "jsonl", "coco", "lvis", "classification"

// One question and its ground truth.
struct EvalItem {
  Sample sample;         // index: the stable key (predictions.jsonl, vis/NNNNNN.jpg); image; problem; solution text
  Solution solution;     // parsed truth: cls label, det boxes (0-1000, unrounded for COCO/LVIS), ground box
  std::string category;  // det: the category asked about
  // COCO/LVIS only: the file's ids, and the image size from the JSON, which the reference
  // maps boxes with (0 elsewhere: the loaded image's size is used).
  int64_t image_id = 0, category_id = 0;
  int64_t width = 0, height = 0;
};

// A selected category of a COCO/LVIS file.
struct SelectedCategory {
  int64_t id = 0;
  std::string name;
  char frequency = 0;  // LVIS r/c/f
};

struct EvalSet {
  EvalInput input = EvalInput::jsonl;
  std::string source;  // the file read
  std::vector<EvalItem> items;
  LoadReport report;  // records read and kept, missing images skipped
  // COCO/LVIS only
  GroundTruth gt;                            // the scorer's reading of the same file
  std::vector<int64_t> img_ids;              // the evaluated images (kept, within --limit), sorted
  std::vector<SelectedCategory> categories;  // the selection, in its order
  QuerySelection selection;                  // its counts (queries moved into items)
  // classification only
  std::string subject;
  nlohmann::json info;  // what metrics.json records about the input
};

// Reads the input the config names (exactly one of eval.data/coco/lvis/classification, else
// ConfigError); `limit` > 0 keeps the first N images (COCO/LVIS) or records (otherwise).
// Missing images follow data.missing_images. Throws ConfigError naming the key of an unusable
// setting (an unknown category, no subject), FileError/Error naming the record of bad data.
EvalSet load_eval_set(const Config& cfg, int64_t limit);

}  // namespace vrft
