// visual_rft/data/fewshot.h: few-shot training sets as in the Visual-RFT paper: K images per
// category (detection) or per class (classification), drawn with a seed, written as
// Visual-RFT JSONL (visual_rft_jsonl.h) plus a summary.
//
// Detection: for each category, the candidates are the images with at least one non-crowd box
// of it (sorted by image id, so the file's order does not matter); K of them are drawn; each
// gives one row whose problem is the detection prompt for that category and whose solution
// lists all its non-crowd boxes in the image as 0..1000 integers of the original size. Crowd
// regions are left out: they are groups, not objects, and COCOeval ignores them too. A
// category with fewer than K candidates keeps all of them (the paper's LVIS set has 1 to 10
// images per category); the summary shows it.
// Classification: for each class of the list, K of its images, in file order before drawing.
//
// The draw: a partial Fisher-Yates shuffle driven by std::mt19937_64, seeded from (seed,
// category id or label) through std::seed_seq, with rejection sampling for the bounds. All of
// these are fully specified by the C++ standard, so a seed gives the same set on every
// platform; each category has its own stream, so adding a category to the list does not change
// the images of the others; and the first K of a category's draw do not depend on K, so with
// one seed the 1-shot set is inside the 2-shot set, and so on.
#pragma once

#include <array>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "visual_rft/data/classification.h"
#include "visual_rft/data/coco.h"
#include "visual_rft/data/task_prompts.h"
#include "visual_rft/data/visual_rft_jsonl.h"

namespace vrft {

// k distinct indices of [0, n) (k is capped at n), in draw order.
std::vector<size_t> seeded_choice(size_t n, size_t k, uint64_t seed, uint64_t stream);

// Category names from "all" (empty result: every category), from a file when the argument
// names one (one per line; blank lines and lines starting with '#' skipped), or from a
// comma-separated list ("cat,dog,fire hydrant").
std::vector<std::string> read_category_names(const std::string& names_or_file);

// A box [x, y, w, h] in pixels as [x1, y1, x2, y2] in 0..1000 of a W x H image (rounded),
// at least 1 wide and high, so that no true box has zero area (its IoU would always be 0);
// *widened tells whether that changed it.
std::array<int64_t, 4> box_to_unit1000(double x, double y, double w, double h, int64_t width, int64_t height,
                                       bool* widened = nullptr);

struct FewShotClass {
  std::string name;
  int64_t id = 0;         // category id, or class label
  int64_t available = 0;  // candidate images
  int64_t chosen = 0;     // rows written (min(K, available))
  int64_t boxes = 0;      // detection: boxes in the chosen rows' solutions
};

struct FewShotSet {
  std::vector<Sample> rows;  // image = resolved path; category-major, draw order inside
  std::vector<FewShotClass> classes;
  int64_t merged_boxes = 0;   // detection: boxes equal to another of the row after rounding, written once
  int64_t widened_boxes = 0;  // detection: boxes under 1 unit wide or high, widened to 1
};

// `categories` empty: all of them, in file order. Throws Error for an unknown or repeated name.
FewShotSet build_detection_fewshot(const DetDataset& ds, const std::vector<std::string>& categories, int64_t shots,
                                   uint64_t seed, PromptStyle style);
FewShotSet build_classification_fewshot(const ClassificationList& list, int64_t shots, uint64_t seed,
                                        const std::string& subject);

// Writes OUT/train.jsonl and OUT/summary.json (both atomically; OUT is created). Image paths
// are absolute, or relative to OUT when relative_paths. `meta` (source, seed, ...) opens the
// summary; the counts per category follow.
void write_fewshot_set(const FewShotSet& set, const std::string& out_dir, bool relative_paths,
                       const nlohmann::ordered_json& meta);

}  // namespace vrft
