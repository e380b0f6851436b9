// visual_rft/reward/rewards.h: the verifiable rewards of Visual-RFT, a registry by name, and
// the weighted set a run uses.
//
// Each reward is a pure function (completion text, ground truth, mode) -> finite double: no
// tensors, no I/O, no globals, never throws on model output. Two modes:
//   visual_rft  the reference code's behaviour, quirks included (Visual-RFT's grpo_*.py reward functions);
//   strict      the default: the known holes closed (README, "Rewards: strict vs visual_rft").
//
//   name            task    range   meaning
//   format          all     {0,1}   <think>...</think> then <answer>...</answer>, nothing around
//   accuracy_cls    cls     {0,1}   the answer names the true class
//   iou             det     [0,1]   sum of matched IoUs / max(#true, #predicted)
//   confidence      det     [0,1]   mean over predictions: conf if matched, else 1 - conf
//   iou_grounding   ground  [0,1]   IoU of the answer's box with the true box
//   giou_grounding  ground  [0,2]   GIoU + 1 (the reference's LISA reward)
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "visual_rft/core/config.h"  // Compat
#include "visual_rft/core/task.h"
#include "visual_rft/reward/answer.h"
#include "visual_rft/reward/python_rewards.h"

namespace vrft {

struct RewardsConfig;  // core/config.h (with Compat)

Compat parse_compat(const std::string& name);  // throws Error for an unknown name

// Class-name synonyms for accuracy_cls in strict mode: names on one line of the file,
// separated by '|', count as the same class ("german shepherd | alsatian").
struct Synonyms {
  std::map<std::string, int> group;  // normalised name -> group id
};
Synonyms load_synonyms(const std::string& path);  // throws FileError naming file and line
// strict-mode normal form of a class name: NFC-free ASCII-insensitive lowercase, '_' and '-'
// as spaces, runs of whitespace as one space, trimmed, one trailing '.' dropped.
std::string normalise_class_name(std::string_view s);

// The ground truth of one sample, kept as the data set's text (the reference re-parses it on
// every call) and as parsed values for strict mode.
struct Solution {
  Task task = Task::det;
  std::string text;        // e.g. <answer>[{'Position': [1, 2, 3, 4], 'Confidence': 1}]</answer>
  std::string label;       // cls: the class name inside <answer>
  std::vector<Box> boxes;  // det: true boxes (empty: "No Objects")
  Box box;                 // ground: the true box
  // det, visual_rft mode: the true boxes as the reference's extract_bbox reads `text`
  // (nullopt where it fails). Deterministic, so parsed once here, not on every call.
  std::optional<std::vector<Box>> reference_boxes;
};
// Parses a solution string of the released data sets; throws Error naming what is wrong.
Solution parse_solution(Task task, const std::string& text);

struct RewardContext {
  Compat compat = Compat::strict;
  const Synonyms* synonyms = nullptr;  // optional, strict accuracy_cls only
};

double format_reward(std::string_view completion, const Solution& sol, const RewardContext& ctx);
double accuracy_cls_reward(std::string_view completion, const Solution& sol, const RewardContext& ctx);
double iou_reward(std::string_view completion, const Solution& sol, const RewardContext& ctx);
// iou and confidence from one parse and one matching (what iou_reward and confidence_reward
// each compute).
struct DetectionScores {
  double iou = 0, confidence = 0;
};
DetectionScores detection_rewards(std::string_view completion, const Solution& sol, const RewardContext& ctx);
double confidence_reward(std::string_view completion, const Solution& sol, const RewardContext& ctx);
double iou_grounding_reward(std::string_view completion, const Solution& sol, const RewardContext& ctx);
double giou_grounding_reward(std::string_view completion, const Solution& sol, const RewardContext& ctx);

// Plain geometry on boxes (continuous coordinates, no +1), as the reference computes it.
double box_iou(const Box& a, const Box& b);
double box_giou(const Box& a, const Box& b);

using RewardFn = double (*)(std::string_view, const Solution&, const RewardContext&);
struct RewardSpec {
  const char* name;
  RewardFn fn;
  bool cls, det, ground;  // the tasks it applies to
  const char* help;
};
const std::vector<RewardSpec>& reward_registry();
const RewardSpec* find_reward(std::string_view name);
std::vector<std::string> default_rewards(Task task);

// Every reward of a run and its weight; scores one completion at a time.
struct RewardScores {
  std::vector<double> values;  // one per reward, in names() order
  double total = 0;            // sum of weight * value
};
class RewardSet {
 public:
  // Throws ConfigError naming rewards.functions / rewards.weights / rewards.synonyms.
  RewardSet(Task task, const RewardsConfig& cfg);
  const std::vector<std::string>& names() const { return names_; }
  const std::vector<double>& weights() const { return weights_; }
  Compat compat() const { return ctx_.compat; }
  Task task() const { return task_; }
  // One completion; only for a set without external rewards (throws Error otherwise).
  RewardScores score(std::string_view completion, const Solution& sol) const;
  // Many completions, sols[i] the parsed solution of queries[i]: the built-in rewards one by
  // one, each external process (rewards.python, rewards.external) asked once for the batch.
  std::vector<RewardScores> score_batch(const std::vector<RewardQuery>& queries,
                                        const std::vector<const Solution*>& sols) const;
  // Whether some rewards are computed outside (rewards.python or rewards.external).
  bool has_external() const { return python_ != nullptr || !commands_.empty(); }

 private:
  // One completion's scores; `external` holds the external rewards' values in names_ order.
  RewardScores score_with(std::string_view completion, const Solution& sol, const std::vector<double>& external) const;

  Task task_;
  std::vector<std::string> names_;
  std::vector<double> weights_;
  std::vector<RewardFn> fns_;                             // null for an external reward
  std::shared_ptr<PythonRewards> python_;                 // the Python rewards' process, when any
  std::vector<std::shared_ptr<CommandReward>> commands_;  // rewards.external
  std::vector<int> command_of_;                           // per name: its index in commands_, or -1
  Synonyms synonyms_;
  RewardContext ctx_;
  int iou_index_ = -1, confidence_index_ = -1;  // positions of iou / confidence in names_
};

}  // namespace vrft
