// visual_rft/eval/task_metrics.h: the Visual-RFT evaluation protocol (Visual-RFT's evaluation scripts) as pure
// functions on text and numbers: reading a model's answer the way the reference's eval
// scripts do, judging one sample, and the data-set metrics of each task. No model, no I/O;
// evaluator.h runs the model and writes the files.
//
//   cls     §4.5  the reference's rule (no <answer> on one line = wrong; spaces and '_'
//                 removed, lowercased, substring either way) and a strict exact match
//                 (normalise_class_name equality, synonyms allowed), overall and per class
//   det     §4.3  the reference's answer parser (boxes with confidences, 0-1000 -> pixels),
//           §4.4  then the exact COCOeval on in-memory ground truth: one image per sample,
//                 one category per name
//   ground  §4.6  the reference's box (first "(x1,y1),(x2,y2)" of integers anywhere in the
//                 answer) and IoU with +1e-6 in the denominator, and a strict box read from
//                 inside <answer>; mIoU and accuracy at IoU >= 0.5 for both
//
// Deviations from the reference, each because it has no defined result there:
//   - det: an entry whose Position is not 4 finite numbers or whose Confidence is not a
//     finite number ends the list (the reference raises partway and keeps the earlier boxes;
//     NaN would make the score sort undefined); an empty list is "no detections" (the
//     reference's answer[0] raises IndexError).
//   - ground: only the answer is searched, not the decoded prompt as well (the prompts hold
//     no digit pairs, so the first match is the same).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "visual_rft/eval/coco_eval.h"
#include "visual_rft/reward/answer.h"
#include "visual_rft/reward/rewards.h"

namespace vrft {

// ---- classification (classification/Qwen2_VL_classification_infere.py)
// -----------------------------------------------------------

struct ClsJudgement {
  std::optional<std::string> answer;  // the strict <answer> text (any lines), trimmed; nullopt without one
  bool reference = false;             // correct by the reference's rule
  bool exact = false;                 // correct by strict exact match
};
// `label` is the true class name (Solution::label); `synonyms` may be null.
ClsJudgement judge_classification(std::string_view completion, const std::string& label, const Synonyms* synonyms);

struct ClassAccuracy {
  std::string label;
  int64_t n = 0, correct_reference = 0, correct_exact = 0;
};
struct ClsMetrics {
  int64_t n = 0;
  int64_t correct_reference = 0, correct_exact = 0;
  int64_t no_answer = 0;          // answers without <answer>...</answer>
  double accuracy_reference = 0;  // correct / n (0 when n = 0)
  double accuracy_exact = 0;
  std::vector<ClassAccuracy> per_class;  // sorted by label
};
// labels[i] is the true class of judgements[i].
ClsMetrics classification_metrics(const std::vector<std::string>& labels, const std::vector<ClsJudgement>& judgements);

// ---- detection (coco_evaluation/Qwen2_VL_coco_infere.py and coco_evaluation.py)
// --------------------------------------------------------

// The category of a detection prompt: the text inside the first "category '...'" (§4.1:
// "Detect all objects belonging to the category '{category}' ..."); nullopt without one.
std::optional<std::string> detection_category(std::string_view problem);

// A predicted object as the reference reads it: the 0-1000 box as written (not clamped, not
// reordered) and the confidence, which COCOeval uses as the score.
struct DetParse {
  enum class Status { ok, partial, no_objects, malformed };
  Status status = Status::malformed;
  std::vector<Detection> objects;  // empty unless ok or partial
};
const char* det_status_name(DetParse::Status s);  // "ok", "partial", "no_objects", "malformed"

// The reference's parse (§4.3): the text repairs, the <answer> group (or the whole text)
// rewrapped, extract_bbox, duplicates by exact Position dropped (first kept), entries read
// until one is unusable (then `partial`: a Position of the wrong length or with a non-number,
// a missing Confidence). An entry that is not a dict, lacks Position, or whose Position is
// not iterable or holds a list loses the whole answer (`malformed`): the reference's
// remove_duplicates raises on it before any box is read. A "No Objects" answer is `no_objects` and anything
// else without a list is `malformed`; both give no detections. As in the reference, an
// answer cut off before </answer> is lost: the whole text is wrapped in a second <answer>,
// which json.loads rejects.
DetParse parse_detection_eval(std::string_view completion);

// A 0-1000 box in pixels of a W x H image, [x, y, w, h], in the reference's float order
// (x1/1000*W, y1/1000*H, x2/1000*W - x1/1000*W, y2/1000*H - y1/1000*H).
BoxXYWH box_to_pixels(const Box& b, int64_t width, int64_t height);

// One evaluated detection sample: one image, one category.
struct DetSample {
  int64_t image_id = 0;  // unique per sample
  std::string category;
  int64_t width = 0, height = 0;     // of the original image, in pixels
  std::vector<Box> truth;            // 0-1000
  std::vector<Detection> predicted;  // 0-1000, confidence as the score
};

// The in-memory COCO data set of the samples: images in sample order, categories named by
// the samples' categories (ids 1..K in sorted name order), one non-crowd annotation per true
// box (area = w*h), and the predictions as results.
struct CocoData {
  GroundTruth gt;
  std::vector<CocoDetection> results;
};
CocoData make_coco_data(const std::vector<DetSample>& samples);

struct CategoryStats {
  std::string name;
  int64_t id = 0;
  int64_t images = 0, true_boxes = 0, predicted_boxes = 0;
  double ap = -1, ap50 = -1, ap75 = -1;  // -1: no true box of the category
};
struct DetMetrics {
  CocoEvalResult coco;  // stats[0] = mAP (AP .5:.95), [1] AP50, [2] AP75, ...
  std::vector<CategoryStats> per_category;
  double mean_category_ap = -1;  // the reference notebook's mAP: mean of the per-category APs
  double mean_category_ap50 = -1;
};
DetMetrics detection_metrics(const std::vector<DetSample>& samples);

// np.mean of the entries > -1 of precision[t, :, k, area all, maxDets 100] at IoU index t
// (t < 0: all ten thresholds, the AP of CocoEvalResult::per_category); -1 without any.
// t = 5 (IoU 0.75) gives the per-category AP75 that summary tables show.
double coco_category_ap(const CocoEvalResult& r, size_t k, int t);

// The iou reward's formula on parsed boxes, as a per-sample score in [0, 1]: predictions by
// descending confidence each take the unmatched true box of largest IoU > 0.5; the sum of
// the matched IoUs / max(#true, #predicted); 1 when both are empty.
double detection_sample_score(const std::vector<Box>& truth, const std::vector<Detection>& predicted);

// ---- grounding (lisa_evaluation/) ------------------------------------------------------------------

// The first "(x1,y1),(x2,y2)" of ASCII integers anywhere in the text (the reference's regex
// \(\s*(\d+)\s*,\s*(\d+)\s*\)\s*,\s*\(\s*(\d+)\s*,\s*(\d+)\s*\)), as written.
std::optional<Box> reference_grounding_box(std::string_view completion);
// The reference's IoU of two 0-1000 boxes after dividing by 1000: inter / (areaA + areaB -
// inter + 1e-6), inter clamped at 0, the areas not (an inverted box has a negative area).
double reference_box_iou(const Box& a, const Box& b);

struct GroundJudgement {
  std::optional<Box> reference_box;  // reference_grounding_box
  std::optional<Box> strict_box;     // parse_grounding_answer: inside <answer>, clamped, ordered
  double iou_reference = 0;          // 0 without a box
  double iou_strict = 0;             // box_iou (no epsilon); 0 without a box
};
GroundJudgement judge_grounding(std::string_view completion, const Box& truth);

struct GroundMetrics {
  int64_t n = 0;
  double miou_reference = 0, acc50_reference = 0;  // mean IoU; fraction with IoU >= 0.5
  double miou_strict = 0, acc50_strict = 0;
  int64_t no_box_reference = 0, no_box_strict = 0;
};
GroundMetrics grounding_metrics(const std::vector<GroundJudgement>& judgements);

}  // namespace vrft
