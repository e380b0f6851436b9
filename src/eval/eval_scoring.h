// src/eval/eval_scoring.h (private): the scoring half of `visual-rft eval` (evaluator.h): the
// model's answers to an EvalSet's questions -> per-question records, the metrics and the
// summary's tables, one function per task and input. Pure: no model, no files; the
// evaluator generates the answers and writes what these return.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "visual_rft/eval/eval_inputs.h"
#include "visual_rft/eval/evaluator.h"

namespace vrft::detail {

// The model's answer to one question.
struct Answer {
  std::string text;
  std::string finish_reason;  // stop | length
  int64_t tokens = 0;
  int64_t width = 0, height = 0;  // of the image as loaded (EvalItem::width/height win when set)
  // eval.best_of K > 1: which of the K sampled answers this is, and every sample's total reward.
  int64_t sample = 0;
  std::vector<double> sample_rewards;
};

// What is drawn on an image.
struct Overlay {
  std::vector<Box> truth;
  std::vector<DrawnBox> predicted;
};

// Everything scoring produces, for the files.
struct Scored {
  std::vector<nlohmann::json> records;    // per question, without the common fields
  nlohmann::json metrics;                 // the task's numbers
  std::string summary;                    // the task's markdown
  std::vector<Overlay> overlays;          // det and ground, per question
  std::optional<nlohmann::json> results;  // COCO/LVIS: results.json, the reference's prediction file
};

Scored score_cls(const std::vector<EvalItem>& items, const std::vector<Answer>& answers, const Synonyms* synonyms);
// det from a JSONL: COCOeval on in-memory ground truth (one image per question).
Scored score_det(const std::vector<EvalItem>& items, const std::vector<Answer>& answers);
// det from a COCO/LVIS file: COCOeval or LVISEval on the file's ground truth (coco_evaluation.py and the LVIS
// notebook).
Scored score_det_file(const EvalSet& set, const std::vector<Answer>& answers);
Scored score_ground(const std::vector<EvalItem>& items, const std::vector<Answer>& answers);

// A fraction as a percentage with 2 decimals; "–" for -1 (no ground truth).
std::string pct(double v);

}  // namespace vrft::detail
