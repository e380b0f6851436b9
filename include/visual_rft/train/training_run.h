// visual_rft/train/training_run.h: what the GRPO and SFT trainers share around their steps.
//   TrainingRun   everything before step 1: ranks and device, the run folder's lock,
//                 precision, the training rows (checked), the prompt encoder, the start
//                 checkpoint (resume or fresh), the policy and its AdamW, the step count, the
//                 run folder and the data order; and after every step the checkpoint when
//                 due and the stop on SIGINT/SIGTERM.
//   PhaseTimer    the seconds of a step's phases: the metrics' "time" object.
// The trainers add their own models (GRPO's reference and rollout copy) and the step itself.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "visual_rft/core/config.h"
#include "visual_rft/core/log.h"
#include "visual_rft/core/profile.h"
#include "visual_rft/core/tensorboard.h"
#include "visual_rft/data/prompt.h"
#include "visual_rft/model/qwen2vl.h"
#include "visual_rft/train/checkpoint.h"
#include "visual_rft/train/data_order.h"
#include "visual_rft/train/distributed.h"
#include "visual_rft/train/dp_adamw.h"
#include "visual_rft/train/grpo_trainer.h"
#include "visual_rft/train/run_util.h"
#include "visual_rft/train/stop_signal.h"

namespace vrft {

// Seconds spent in named phases of one step. `phase(name)` times a scope and adds it to the
// name's total (a phase may run several times, e.g. once per optimizer iteration);
// `json()` is {"step_s": since construction, name: total, ...}. Each phase is also a range
// "vrft::NAME" (without "_s") in a profile trace (core/profile.h).
class PhaseTimer {
 public:
  using Clock = std::chrono::steady_clock;
  class Scope {
   public:
    Scope(double& total, const std::string& name)
        : total_(total), t0_(Clock::now()), region_("vrft::" + name.substr(0, name.rfind("_s"))) {}
    ~Scope() { total_ += std::chrono::duration<double>(Clock::now() - t0_).count(); }
    Scope(const Scope&) = delete;
    Scope& operator=(const Scope&) = delete;

   private:
    double& total_;
    Clock::time_point t0_;
    ProfileRegion region_;
  };
  Scope phase(const std::string& name) { return Scope(seconds_[name], name); }
  double step_s() const { return std::chrono::duration<double>(Clock::now() - t0_).count(); }
  nlohmann::json json(double step_s) const;

 private:
  Clock::time_point t0_ = Clock::now();
  std::map<std::string, double> seconds_;
};

// How a trainer opens its run.
struct RunKind {
  std::string trainer;         // "grpo" or "sft": saved in each checkpoint's state
  bool check_solutions;        // the rows' solutions must parse for data.task (the rewards read them)
  std::string samples_subdir;  // created in the run folder ("rollouts"), or ""
};

// A metrics.jsonl record's numbers as TensorBoard scalars, named as TRL names them where it has
// the metric ("train/reward", "train/rewards/iou/mean", "train/completions/mean_length",
// "train/learning_rate", ...) and otherwise "train/" + the record's path ("train/time/rollout").
// Nulls, booleans and "step" are left out. docs/metrics.md lists every name.
std::vector<std::pair<std::string, double>> tensorboard_tags(const nlohmann::json& record);

class TrainingRun {
 public:
  // Validates `cfg`, joins the ranks (torchrun's environment; one process without it), locks
  // the run folder (rank 0), loads and checks the rows, and opens the policy and AdamW from the
  // start checkpoint: `resume` "" (a fresh run; an earlier run in the folder is refused unless
  // `overwrite`), "latest" or a checkpoint folder. On a resume the optimiser state is loaded
  // and `resumed` holds the checkpoint's state.json and saved reference model.
  TrainingRun(const Config& cfg, const std::string& resume, bool overwrite, RunKind kind);

  const Config& cfg;
  const RunKind kind;
  const DistEnv env;
  const torch::Device dev;
  DataParallel dp;
  std::optional<RunFolderLock> lock;  // rank 0 owns the run folder until the run ends
  const Precision prec;
  const int64_t P, P_rank;            // prompts per step, and this rank's share (check_world: divides)
  const std::vector<Sample> samples;  // checked (load_training_rows); DataOrder indexes them
  PromptEncoder enc;
  std::string start_checkpoint;  // "" = a fresh run from model.path
  Qwen2VLForConditionalGeneration policy{nullptr};
  std::vector<std::pair<std::string, torch::Tensor>> named;  // the policy's parameters by name
  std::optional<DataParallelAdamW> adam;
  double optimizer_gb = 0;       // the largest rank's optimiser state
  int64_t total = 0, start = 0;  // steps of the run, and the step it starts after
  nlohmann::json resumed_state;  // state.json of the start checkpoint (null when fresh)
  nlohmann::json identity;       // run_identity, checked on --resume and saved in every checkpoint
  std::vector<std::pair<std::string, torch::Tensor>> resumed_ref_model;  // may be empty
  std::optional<MetricsWriter> metrics;                                  // rank 0's metrics.jsonl
  std::optional<TensorBoardWriter> tb;  // rank 0's OUT/tb/ when logging.report_to has tensorboard
  DataOrder order;
  torch::Dtype save_dtype = torch::kFloat;  // the checkpoints' model files (train.save_dtype)
  TrainResult result;
  double best_eval = -1;  // train.save_best: the best headline value so far (OUT/best/best.json)
  const PhaseTimer::Clock::time_point t0 = PhaseTimer::Clock::now();

  // The `position`-th prompt of the run (step * P + place in the step) and its row.
  const Sample& row_at(int64_t position) { return samples[static_cast<size_t>(order.at(position))]; }
  double epoch_after(int64_t step) const {
    return static_cast<double>((step + 1) * P) / static_cast<double>(samples.size());
  }
  // Seconds to the end of the run at the pace since it started, after step `step`.
  double eta_s(int64_t step) const;
  // After step `step` (0-based), on every rank: evaluates the policy when train.eval_steps says
  // so (the record then gains "eval": the headline metric; see evaluate), then writes the record
  // when logging.log_steps says so or it holds an evaluation (rank 0): to metrics.jsonl, and its
  // numbers to TensorBoard under tensorboard_tags' names.
  void log_metrics(int64_t step, nlohmann::json record);
  // Rank 0: `record` to metrics.jsonl and its numbers to TensorBoard at step `steps_done`.
  void write_record(int64_t steps_done, const nlohmann::json& record);
  // Evaluates the policy as it is after `steps_done` steps on the eval section's input, split
  // over the ranks (equal to one process), into OUT/eval/step-N/; with train.save_best, a new
  // best headline value saves the model to OUT/best/ (best.json: step, metric, value). Returns
  // {metric: value, "samples": n}. Every rank calls it.
  nlohmann::json evaluate(int64_t steps_done);
  // OUT/best/checkpoint-N (model files only, as train.save_dtype says) and OUT/best/best.json;
  // `master_weights`: the float32 masters with shard: gradients (DataParallelAdamW).
  void save_best(int64_t steps_done, const std::string& metric, double value,
                 std::vector<std::pair<std::string, torch::Tensor>> master_weights);

  // After step `step` (0-based): counts it; saves a checkpoint at save_steps, at the last step,
  // or when a SIGINT/SIGTERM reached any rank (one max-reduction, so that all ranks stop after
  // the same step), and then ends the run by throwing Interrupted. The checkpoint's state is
  // step, seed, trainer, prompts_per_step, skipped_updates, world_size and run identity, plus
  // `extra(state)` on rank 0 (more state fields, a reference model to save).
  void end_step(int64_t step, const StopOnSignal& stop, int64_t skipped_updates,
                const std::function<void(CheckpointData&)>& extra = {});
  // The end of a run that was not stopped: waits for rank 0's last checkpoint.
  TrainResult finish();

 private:
  // lora.r > 0: the base model with fresh adapters, or the start checkpoint's adapter on it;
  // only the adapters require gradients.
  void open_lora_policy();
};

}  // namespace vrft
