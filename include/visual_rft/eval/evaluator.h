// visual_rft/eval/evaluator.h: `visual-rft eval`: a model answers every question of an
// evaluation set, and the answers are scored by the protocol of Visual-RFT's evaluation scripts
// (eval/task_metrics.h). Top to bottom:
//
//   the questions (eval_inputs.h): eval.data (a Visual-RFT JSONL, its own prompts), eval.coco /
//   eval.lvis (one question per (image, selected category), or per pair of eval.exist_map, with
//   the reference's eval prompt) or eval.classification (a split list, the classification prompt)
//   ->  batched generation (eval.batch_size prompts at a time, greedy unless eval.temperature > 0,
//   one answer each, or with eval.best_of K the first of K sampled answers that the rewards rank
//   highest against the truth: an oracle, pass@k-like), or the answers of an earlier
//   predictions.jsonl (--answers)
//   ->  judgements and metrics:
//         cls       accuracy by the reference's rule and by exact match, per class
//         det JSONL COCOeval on in-memory ground truth (one image per question)
//         det COCO  COCOeval on the file (the evaluated images, the selected categories, and
//                   all categories as the reference script prints it); per-category AP/AP50/AP75;
//                   the notebook's mAP = sum of per-class AP x 100 / #selected
//         det LVIS  LVISEval on the file (top 300 per image), the same two selections;
//                   per-category AP over all area ranges, the notebook's mAP of those
//         ground    mIoU and IoU >= 0.5, by the reference's box and a strict one
//   ->  files, each written atomically:
//
//   OUT/predictions.jsonl  one line per question: index, image, problem, solution, answer,
//                          finish_reason, tokens, the parsed prediction and its score
//   OUT/results.json       COCO/LVIS: the detections in the COCO results format (the
//                          reference's prediction file; `visual-rft metrics coco|lvis` reads it)
//   OUT/metrics.json       every number, full precision
//   OUT/summary.md         the main numbers and the per-class / per-category table
//   OUT/vis/NNNNNN.jpg     det and ground: the first eval.draw_images questions, true boxes in
//                          green, predicted boxes in red with their confidence
//
// data.max_prompt_length does not apply here: a metric must cover every question, so no prompt
// is skipped. A missing image is skipped and counted when data.missing_images is skip, and
// an error naming it otherwise.
#pragma once

#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>
#include <optional>
#include <string>
#include <vector>

#include "visual_rft/core/config.h"
#include "visual_rft/model/qwen2vl.h"
#include "visual_rft/reward/answer.h"

namespace vrft {

// An evaluation split over the ranks of a data-parallel run: rank r answers questions r, r + W,
// r + 2W, ..., and `all_gather` (every rank's strings, rank 0's first) brings every answer to
// every rank, so each rank scores the whole set and gets the one-process metrics (answers are
// keyed by question, not by batch); rank 0 alone writes the files.
struct EvalShard {
  int rank = 0, world = 1;
  std::function<std::vector<std::string>(const std::vector<std::string>&)> all_gather;
};

struct EvalRunOptions {
  std::string model_dir;                   // the HF model folder (e.g. a checkpoint); empty = model.path
  std::string output_dir;                  // empty = eval.output_dir, or eval/<config_name> when that is empty too
  std::string config_name = "visual-rft";  // names the default output folder (the config file's stem)
  int64_t limit = 0;                       // only the first N samples (COCO/LVIS: images); 0 = all
  std::string answers_file;                // score these answers (an earlier predictions.jsonl) instead of generating
  // Answer with this model as it is (a training run's policy, in its dtype) instead of loading
  // one; model_dir (or model.path) then gives the tokenizer and image processor.
  Qwen2VLForConditionalGeneration model{nullptr};
  EvalShard shard;
};

// The metrics.json key a task is judged by: cls accuracy_exact (the reference's substring rule
// would count "circle" as right for "red striped circle"), det map (COCO AP .5:.95), ground
// miou (the reference's).
const char* headline_metric(Task task);

struct EvalOutcome {
  std::string output_dir;
  nlohmann::json metrics;  // what metrics.json holds
  std::string summary;     // what summary.md holds
};

// A predicted box to draw, with its confidence when the task has one.
struct DrawnBox {
  Box box;  // 0-1000, as written (reversed corners are drawn in order)
  std::optional<double> confidence;
};
// An 8-bit RGB image with the true boxes in green and the predicted ones in red, labelled
// with their confidence, and a legend; returned in BGR order for cv::imencode.
cv::Mat draw_boxes(const cv::Mat& rgb, const std::vector<Box>& truth, const std::vector<DrawnBox>& predicted);

// The folder a run writes to (see EvalRunOptions::output_dir).
std::string eval_output_dir(const Config& cfg, const EvalRunOptions& opt);

// Runs the whole evaluation. Throws ConfigError when no input is set (or a key is unusable),
// Error/FileError naming the record (file:line, or the JSON record) that cannot be read.
EvalOutcome run_evaluation(const Config& cfg, const EvalRunOptions& opt);

}  // namespace vrft
