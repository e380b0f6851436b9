// visual_rft/data/synth.h: a synthetic few-shot world for the CPU demo (issue #9): small
// images of flat objects whose fine-grained category is colour x pattern x shape
// ("red striped triangle"), on textured, noisy backgrounds, with varied sizes, rotations and
// partial occlusion. Its categories are split into base and novel, as in the paper's
// open-vocabulary setting, and it poses the three Visual-RFT tasks with the reference's
// prompts and answer formats (task_prompts.h), so that the reward functions score the
// solutions as they score the released data sets:
//   cls     one object; "which category"; <answer>red striped triangle</answer>
//   det     2-5 objects; the question names a category; all its boxes in 0..1000 with
//           confidence 1, or <answer>No Objects</answer> when there is none (the prompt asks
//           for 'No Objects'; strict rewards score it 1, the reference's code 0)
//   ground  3-5 objects; an instruction that picks exactly one without naming its category
//           ("the object with the most corners", "the largest object that is not red");
//           <answer> (x1,y1),(x2,y2) </answer>. The few-shot and novel-category eval rows
//           ask only kinds of instruction held out of base_train ("the object nearest the
//           centre of the image"), so that few-shot grounding has something new to learn.
//
// Splits: base_train (base categories only, many rows: the base model's SFT data),
// fewshot_train (K rows per novel category: the category named, classified or picked; other
// objects of any category) and eval (rows cycling over the novel categories, or over the base
// ones with eval_base, to check what a base model has learnt).
//
// Two seeds: `seed` makes the world (its categories and their split), `image_seed` every
// image and row. A model pre-trained on one world is evaluated on fresh images of the same
// world by changing image_seed alone.
//
// Determinism: every row draws from its own SplitMix64 stream keyed by (image_seed, task, split,
// row), with integer helpers for the ranges (std::uniform_*_distribution is not specified
// exactly), and all geometry is fixed-point integer maths, so a seed gives the same
// categories, scenes and files on every platform (PNG bytes also depend on the zlib build).
// Boxes are those of the *visible* pixels of an object (COCO's convention), exact: the
// objects are drawn without anti-aliasing in flat colours, after the background noise.
#pragma once

#include <array>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>
#include <string>
#include <vector>

#include "visual_rft/core/task.h"
#include "visual_rft/data/task_prompts.h"
#include "visual_rft/data/visual_rft_jsonl.h"

namespace vrft {

// ---- vocabulary --------------------------------------------------------------------------------

// Shapes in order of their corner counts: circle 0, triangle 3, square 4, hexagon 6,
// star 10 (5 points and 5 inner corners), cross 12.
constexpr int kSynthShapes = 6, kSynthColours = 5, kSynthPatterns = 3;
const char* synth_shape_name(int shape);      // circle, triangle, square, hexagon, star, cross
const char* synth_colour_name(int colour);    // red, green, blue, yellow, purple
const char* synth_pattern_name(int pattern);  // solid, striped, dotted
int synth_shape_corners(int shape);

struct SynthCategory {
  int id = 0;  // index in SynthWorld::categories
  int shape = 0, colour = 0, pattern = 0;
  std::string name;  // "<colour> <pattern> <shape>", e.g. "red striped triangle"
  bool novel = false;
};

struct SynthConfig {
  uint64_t seed = 0;               // the categories and their base/novel split
  int64_t image_seed = -1;         // every image and row; -1: the same as seed
  int64_t image_size = 112;        // square images, pixels (>= 56; 112 = 8x8 patches of 14)
  int64_t num_categories = 32;     // drawn from the 90 combinations
  int64_t num_novel = 8;           // of them held out of base_train
  int64_t base_per_category = 16;  // base_train rows per base category
  int64_t shots = 4;               // fewshot_train rows per novel category (K)
  int64_t eval_rows = 64;          // eval rows per task
  bool eval_base = false;          // eval rows of the base categories (to check a base model)
  double negative_rate = 0.2;      // det base_train/eval rows without the named category
  std::vector<Task> tasks{Task::cls, Task::det, Task::ground};
  PromptStyle prompt_style = PromptStyle::train;
  // base_train solutions start with a short reasoning, "<think>...</think> <answer>...":
  // the reference's data has none, so a base model SFT-trained on it would never write the
  // <think> part the format reward asks for. The few-shot and eval splits stay as released.
  bool think_base = false;
  // Pre-training rows that locate and name every object of a scene (OUT/dense/, in the mixed
  // base_train.jsonl): 1-5 boxes per image where the tasks' rows teach one or two, so that a
  // small model learns where things are from fewer images.
  bool dense_base = false;
  // The most objects of a dense scene (1 to this many). 1 gives single-object rows: where a
  // thing is, without having to pick it out (a localisation stage of the pre-training).
  int64_t dense_max_objects = 5;
  // Dense rows draw their objects from every colour x pattern x shape combination that is not
  // a novel category (synth_every_combination) instead of the base categories. Among the
  // world's few categories colour and pattern nearly tell the shape, so a vision tower
  // trained on them alone learns that shortcut and cannot read the shape of a new combination;
  // here every attribute must be seen. The novel categories stay unseen.
  bool dense_all_combinations = false;
  // Every base_train row (each task's and the dense ones) draws and names the combinations of
  // synth_every_combination, not only the base categories: a language model pre-trained on
  // them has read each attribute's word with every other one, so a novel name is a new
  // combination of parts it has composed before. The novel categories stay unseen; the
  // few-shot and eval splits are the world's. Implies dense_all_combinations.
  bool base_all_combinations = false;
  // A position cue in every background: a fixed colour ramp, bluer to the right and redder to
  // the bottom (up to 24 levels from the centre), the same in every image. Qwen2-VL's vision
  // tower knows only relative positions (2D rotary); with the ramp a small tower can read
  // where a patch is from its pixels, as a large one learns it from real images' layout. Part
  // of the world, like the seed: a model pre-trained with it is shown it everywhere.
  bool position_cue = false;
};

struct SynthWorld {
  std::vector<SynthCategory> categories;  // sorted by (shape, colour, pattern)
  std::vector<int> base, novel;           // ids, ascending
  bool position_cue = false;              // SynthConfig::position_cue
};
// The categories of cfg.seed and their split. Every colour, pattern and shape of a novel
// category also occurs in some base category, so novel names are new combinations of known
// words. Throws Error for counts out of range.
SynthWorld make_synth_world(const SynthConfig& cfg);
// The 90 combinations as categories (ids in combination order, sorted as above), the world's
// novel ones novel and every other one base: the vocabulary of dense_all_combinations rows.
SynthWorld synth_every_combination(const SynthWorld& world);

// ---- scenes and rows ---------------------------------------------------------------------------

struct SynthObject {
  int category = 0;
  std::array<int, 4> box{};  // visible pixels: x1, y1 (inclusive), x2, y2 (exclusive)
  int64_t area = 0;          // visible pixels
  int64_t full_area = 0;     // pixels of the whole shape, before occlusion
  // BGR as drawn: the main colour and the pattern's darker shade (== colour when solid).
  std::array<uint8_t, 3> colour{}, shade{};
};

struct SynthScene {
  cv::Mat image;                     // CV_8UC3, BGR
  cv::Mat labels;                    // CV_32S: the index of the object shown at each pixel; -1 background, -2 occluder
  std::vector<SynthObject> objects;  // in drawing order (later ones on top)
};

enum class SynthSplit { base_train, fewshot_train, eval };
const char* synth_split_name(SynthSplit s);  // "base_train", ...

struct SynthRow {
  Sample sample;  // image = "images/<split>_<row>.png", relative to the task's folder
  SynthScene scene;
  int category = -1;         // cls: the class; det: the named category; ground: the target's
  std::vector<int> matches;  // det: indices of the objects of the named category (empty: none)
  int target = -1;           // ground: index of the picked object
  std::string rule;          // ground: which kind of instruction ("largest_not_colour", ...)
  std::string instruction;   // ground: "the largest object that is not red"
};

int64_t synth_split_rows(const SynthWorld& world, const SynthConfig& cfg, SynthSplit split);
// The seed of the rows and images: image_seed, or seed when image_seed is -1.
uint64_t synth_image_seed(const SynthConfig& cfg);
// Row `index` of a task's split; independent of every other row.
SynthRow make_synth_row(const SynthWorld& world, const SynthConfig& cfg, Task task, SynthSplit split, int64_t index);

// The classification question: the reference's text with "object"/"category" as subject
// (task_prompts.h has only the real data sets' subjects).
std::string synth_classification_prompt();

// Dense grounding (dense_base; base_train only): base row `index`'s category and 0-4 other
// base objects; "Locate every object in the image and name its category..." answered with
// "<think>I see 3 objects.</think> <answer>[{'Position': [x1, y1, x2, y2], 'Category':
// 'red striped triangle'}, ...]</answer>" in reading order (top to bottom, then left to right).
SynthRow make_synth_dense_row(const SynthWorld& world, const SynthConfig& cfg, int64_t index);
std::string synth_dense_prompt();

// The reasoning of a row (without the tags), as think_base writes it:
//   cls     "colour red, pattern striped, 3 corners: a red striped triangle."
//   det     "I count 2 red striped triangles." / "I see no red striped triangle."
//   ground  "The instruction points to the blue dotted star."
std::string synth_reasoning(const SynthWorld& world, Task task, const SynthRow& row);

// ---- files -------------------------------------------------------------------------------------

// Writes OUT/categories.json, OUT/summary.json, per task of cfg.tasks OUT/<task>/
// {base_train,fewshot_train,eval}.jsonl with OUT/<task>/images/ (with dense_base also
// OUT/dense/base_train.jsonl), and OUT/base_train.jsonl (every task's base rows and the dense
// ones interleaved, images relative to OUT: pre-training data). A task's folder is removed
// first, so no image of an earlier run stays behind. Images are plain writes and the JSON
// files atomic, written last: a JSONL file that exists has all its images. `threads` workers
// draw the rows (<= 0: one per core, at most 8); the files do not depend on it. Returns the
// summary (also written to summary.json).
nlohmann::ordered_json write_synth_dataset(const SynthConfig& cfg, const std::string& out_dir, int threads = 0);

}  // namespace vrft
