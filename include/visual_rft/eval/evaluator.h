// visual_rft/eval/evaluator.h: `visual-rft eval`: a model answers every sample of a
// Visual-RFT JSONL set, and the answers are scored by the protocol of eval.md §4
// (eval/task_metrics.h). Top to bottom:
//
//   samples (eval.data)  ->  prompts (sample_prompt, like training)  ->  batched generation
//   (eval.batch_size prompts at a time, greedy unless eval.temperature > 0, one answer each)
//   ->  per-sample judgements  ->  metrics  ->  files, each written atomically:
//
//   OUT/predictions.jsonl  one line per sample: index, image, problem, solution, answer,
//                          finish_reason, tokens, the parsed prediction and its score
//   OUT/metrics.json       every number, full precision
//   OUT/summary.md         the main numbers and the per-class / per-category table
//   OUT/images/NNNNNN.jpg  det and ground: the first eval.draw_images samples, true boxes in
//                          green, predicted boxes in red with their confidence
//
// data.max_prompt_length does not apply here: a metric must cover every sample, so no prompt
// is skipped. A missing image is skipped and counted when data.missing_images is skip, and
// an error naming it otherwise.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>
#include <optional>
#include <string>
#include <vector>

#include "visual_rft/core/config.h"
#include "visual_rft/reward/answer.h"

namespace vrft::eval {

struct EvalRunOptions {
  std::string model_dir;                   // the HF model folder (e.g. a checkpoint); empty = model.path
  std::string output_dir;                  // empty = eval.output_dir, or eval/<config_name> when that is empty too
  std::string config_name = "visual-rft";  // names the default output folder (the config file's stem)
  int64_t limit = 0;                       // evaluate only the first N samples; 0 = all
};

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

// Runs the whole evaluation. Throws ConfigError when eval.data is empty, Error/FileError
// naming the sample (file:line) whose solution or prompt cannot be read.
EvalOutcome run_evaluation(const Config& cfg, const EvalRunOptions& opt);

}  // namespace vrft::eval
