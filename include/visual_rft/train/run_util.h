// visual_rft/train/run_util.h: what the GRPO and SFT trainers share besides the maths:
// device and dtype resolution, the prompt of a sample, memory and metrics-file helpers.
#pragma once

#include <torch/torch.h>

#include <initializer_list>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "visual_rft/core/config.h"
#include "visual_rft/core/device.h"
#include "visual_rft/core/log.h"
#include "visual_rft/data/prompt.h"
#include "visual_rft/data/visual_rft_jsonl.h"

namespace vrft {

// The dtypes of a training run (model.dtype, model.autocast, rollout.dtype resolved). By
// default float32 master weights train under bf16 autocast on CUDA, a bf16 copy generates,
// and the reference model is held as the policy is; on the CPU everything is float32 unless
// set. With distributed.shard: gradients the model's weights are held in one working dtype
// (model.dtype, else rollout.dtype) and serve every phase (no separate rollout copy, no
// autocast by default), while the float32 master weights live, sharded, in the optimizer
// (DataParallelAdamW).
struct Precision {
  torch::Dtype weights = torch::kFloat;       // the model's weights (the trained ones, or the working copy)
  std::optional<torch::ScalarType> autocast;  // forward/backward compute dtype, if any
  torch::Dtype rollout = torch::kFloat;       // the weights that generate
  bool sharded_masters = false;               // float32 masters apart from the weights (shard: gradients)
  bool separate_rollout() const { return rollout != weights; }
};
Precision resolve_precision(const Config& cfg, const torch::Device& dev);

// Autocast on `dev` to `dtype` for this scope (no-op when dtype is empty); restores the
// previous state and clears the cast cache on exit.
class AutocastScope {
 public:
  AutocastScope(const torch::Device& dev, std::optional<torch::ScalarType> dtype);
  ~AutocastScope();
  AutocastScope(const AutocastScope&) = delete;
  AutocastScope& operator=(const AutocastScope&) = delete;

 private:
  c10::DeviceType type_;
  bool active_ = false, prev_enabled_ = false;
  torch::ScalarType prev_dtype_ = torch::kBFloat16;
};

// dst's parameters <- src's (cast to dst's dtype), without autograd.
void copy_parameters(torch::nn::Module& dst, torch::nn::Module& src);
double peak_rss_gb();

// Seeds LibTorch's generators (CPU and CUDA) from train.seed and the micro-batch's place in the
// run (step, iteration, rank, micro-batch) before its forward, so that what draws from them
// while training (LoRA's dropout) draws the same in a resumed run as in the uninterrupted one.
void seed_micro_batch(int64_t seed, std::initializer_list<int64_t> place);
// Fault injection for tests of the non-finite guards: true when VRFT_INJECT_NONFINITE is
// "STEP:ITERATION" (1-based) and names this optimizer iteration, whose loss the trainer then
// treats as NaN. Unset (always, outside tests): false.
bool inject_nonfinite(int64_t step, int64_t iteration);
// Returns the blocks LibTorch's CUDA caching allocator holds unused to the driver (nothing
// on the CPU): after a large transient, such as a model read in float32 and then cast.
void release_cached_gpu_memory(const torch::Device& dev);
// Peak bytes allocated by LibTorch's CUDA caching allocator on `dev`, in GB (0 on the CPU).
double peak_gpu_gb(const torch::Device& dev);
// Keeps the metrics lines of steps <= `step` (a resumed run rewrites what came after, and a
// line cut by a kill is dropped).
void truncate_metrics(const std::string& path, int64_t step);
// An exclusive lock on a run folder: flock on OUT/.lock, which holds the owner's pid. The
// kernel releases it when the process ends, however it ends, so a killed run never leaves a
// stale lock. Taken by rank 0 before anything in the folder is read or written; a second run
// into the same folder is refused at once (Error naming the folder and the holder's pid),
// so two runs never delete each other's checkpoints.
class RunFolderLock {
 public:
  explicit RunFolderLock(const std::string& out_dir);
  ~RunFolderLock();
  RunFolderLock(const RunFolderLock&) = delete;
  RunFolderLock& operator=(const RunFolderLock&) = delete;

 private:
  int fd_ = -1;
};

// The checkpoint a run starts from ("" = the model itself), decided after the folder's lock:
// resume "latest" takes latest_checkpoint(out_dir) (a fresh start, with a warning, when there
// is none), another non-empty resume is that checkpoint folder. A fresh run (resume "") into
// a folder that holds a run (checkpoints, `latest` or metrics.jsonl) is refused, naming the
// ways on, unless `overwrite`: then rank 0 (`main`) deletes that run's checkpoints, `latest`,
// metrics.jsonl and rollouts/ first, so nothing of the old run mixes with the new one. Only
// rank 0 judges a fresh run's folder (the other ranks would see its new files).
std::string run_start_checkpoint(const std::string& out_dir, const std::string& resume, bool overwrite, bool main);

// The optimiser steps of a run over `rows` training rows: train.max_steps, or train.epochs
// passes of ceil(rows / prompts_per_step) steps. Refuses (ConfigError naming the keys) a count
// whose step x prompts_per_step x num_iterations would overflow 64 bits.
int64_t total_steps(const Config& cfg, int64_t rows);

// What makes a run the same run across a resume, saved in each checkpoint's state.json as
// "run": the trainer, train.seed, train.prompts_per_step, data.task, data.train and
// model.path (the paths made absolute), and a checksum of what each path holds (the data
// file's bytes; the model folder's config.json and *.safetensors; "" where it is neither).
nlohmann::json run_identity(const Config& cfg);
// On --resume: the checkpoint's "run" against this run's `here` (run_identity). A difference
// is refused (ConfigError naming each key, its value here and in the checkpoint) unless
// `strict` (train.resume_strict) is false, which warns. A data or model path that differs but
// holds the same contents (a run folder moved with its data) is the same run, and a path that
// stayed but holds other contents is warned of. Checkpoints without "run" pass.
void check_resume_identity(const nlohmann::json& here, bool strict, const nlohmann::json& state,
                           const std::string& checkpoint_dir);

// Rank 0's run folder, the same for both trainers: creates out_dir (and out_dir/subdir when
// given), writes config.resolved.yaml, keeps metrics.jsonl up to step `start` (a resumed
// run) or empties it, and opens it in `metrics` for appending.
void open_run_folder(const Config& cfg, const std::string& out_dir, int64_t start, const std::string& subdir,
                     std::optional<MetricsWriter>& metrics);
// The reference's conversation for a sample: [system,] user(image, problem), or user(problem,
// image) with data.image_position after_text; the image loaded (refused above
// data.max_image_pixels).
PromptInput sample_prompt(const Sample& s, const DataConfig& data);

// data.train's rows, every one checked before step 1 (reading headers, not pixels): with
// `solutions` (GRPO: the rewards read them) the solution parses for data.task, and a cls
// solution has its <answer> tags; every image passes image_problem(data.max_image_pixels). A
// bad row stops the run with FILE:LINE and what is wrong, before anything is written; with
// data.missing_images: skip, a missing or unreadable image is skipped and counted instead
// (the kept rows are renumbered, Sample::index).
std::vector<Sample> load_training_rows(const Config& cfg, bool solutions, LoadReport* report);

}  // namespace vrft
