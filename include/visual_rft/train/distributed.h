// visual_rft/train/distributed.h: data-parallel training on PyTorch's own collectives (c10d),
// launched by torchrun (README "Many GPUs and nodes"):
//
//   torchrun --nproc-per-node 8 --no-python visual-rft train --config X.yaml
//
// Each rank reads RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and MASTER_PORT, meets the others
// through a c10d TCPStore (hosted by torchrun's agent when TORCHELASTIC_USE_AGENT_STORE says
// so, else by rank 0) and joins a ProcessGroupNCCL (CUDA) or ProcessGroupGloo (CPU). A run
// with WORLD_SIZE unset or 1 creates no process group: every collective here is then the
// identity and costs nothing.
//
// What the trainers reduce, and where (grpo_trainer.cpp, sft_trainer.cpp):
//   - each rank takes prompts_per_step / world consecutive prompts of the step (whole groups
//     of G completions), so the concatenation of the ranks' rows in rank order is the
//     single-process batch;
//   - the step's rewards are gathered (N doubles), so advantages, scale_rewards: batch and
//     reward metrics are computed on the whole batch exactly as in one process;
//   - loss normalisers that span the step (micro-batch count, dapo's token count) are summed,
//     each rank's loss is its share of the one-process loss, and gradients are SUMMED (not
//     averaged) in flat buckets of distributed.bucket_mb, so the reduced gradient equals the
//     one-process gradient up to float summation order;
//   - clipping uses the norm of the reduced gradient (identical on every rank), then every
//     rank applies the same AdamW update, or with distributed.shard each rank updates the
//     elements it owns and broadcasts them (dp_adamw.h: ZeRO-1 and ZeRO-2).
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "visual_rft/core/config.h"

namespace vrft {

// torchrun's environment of this process.
struct DistEnv {
  int rank = 0, world_size = 1, local_rank = 0;
  std::string master_addr;   // MASTER_ADDR
  int master_port = 0;       // MASTER_PORT
  bool agent_store = false;  // TORCHELASTIC_USE_AGENT_STORE=True: torchrun's agent hosts the store
};

// Reads the environment; WORLD_SIZE unset means one process. Throws ConfigError naming the
// variable that is missing or malformed.
DistEnv dist_env_from_environment();

// The device of this rank: with world > 1, model.device auto (on a CUDA machine) or cuda
// means cuda:LOCAL_RANK; an explicit cuda:N or cpu is kept.
torch::Device rank_device(const std::string& device, const DistEnv& env);

// The config checks that depend on the world size: train.prompts_per_step must split into
// equal shares, and for GRPO each share must split into equal micro-batches (the one-process
// loss normalisation assumes equal micro-batches). Throws ConfigError naming the key.
void check_world(const Config& cfg, int world_size);

class DataParallel {
 public:
  // Joins the process group (world > 1) on `dev`'s backend (distributed.backend: auto = nccl
  // on CUDA, gloo on the CPU). Ranks other than 0 log only warnings and errors from here on.
  // Throws Error when the group cannot be formed within distributed.timeout_s.
  DataParallel(const DistEnv& env, const DistributedConfig& cfg, const torch::Device& dev);
  ~DataParallel();
  DataParallel(const DataParallel&) = delete;
  DataParallel& operator=(const DataParallel&) = delete;

  int rank() const { return env_.rank; }
  int world() const { return env_.world_size; }
  bool is_main() const { return env_.rank == 0; }
  bool active() const { return env_.world_size > 1; }
  const std::string& backend() const { return backend_; }  // "none", "gloo" or "nccl"

  // Element-wise sum / max of `values` over the ranks (in float64).
  std::vector<double> sum(std::vector<double> values);
  double sum(double value) { return sum(std::vector<double>{value})[0]; }
  std::vector<double> max(std::vector<double> values);
  // Every rank's rows of x [n_r, ...] (n_r may differ), concatenated in rank order, on every
  // rank; `offset` (optional) gets the index of this rank's first row. Sent as float64: for
  // metrics and rewards, not for bulk data.
  torch::Tensor gather_rows(const torch::Tensor& x, int64_t* offset = nullptr);
  // Every rank's strings, concatenated in rank order, on every rank (their bytes through
  // gather_rows: for small payloads such as evaluation answers).
  std::vector<std::string> gather_strings(const std::vector<std::string>& mine);

  // For each of `params`, whether its gradient is defined on any rank (a rank whose prompts
  // were all skipped, or that is out of micro-batches, has none).
  std::vector<bool> grads_defined_anywhere(const std::vector<torch::Tensor>& params);
  // Sums the gradients of `params` over the ranks, in place, in flat buckets. A parameter
  // whose gradient is undefined on some ranks gets zeros there; one undefined on every rank
  // stays undefined (AdamW skips it, as in one process).
  void all_reduce_grads(const std::vector<torch::Tensor>& params);
  // All to all: `input` holds in_splits[r] elements for rank r, in rank order; `output` gets
  // out_splits[q] elements from rank q, in rank order (1-D tensors of one dtype on the
  // training device). One process: output = input.
  void all_to_all(torch::Tensor& output, torch::Tensor& input, std::vector<int64_t> out_splits,
                  std::vector<int64_t> in_splits);
  int64_t bucket_bytes() const;  // distributed.bucket_mb
  // `tensors` of rank `root` copied into the others' (in place, bucketed).
  void broadcast(const std::vector<torch::Tensor>& tensors, int root);
  // Point to point, bucketed: `tensors` of rank `src` into `tensors` of rank `dst` (same
  // shapes and dtypes on both sides).
  void send(const std::vector<torch::Tensor>& tensors, int dst);
  void recv(const std::vector<torch::Tensor>& tensors, int src);
  // Returns when every rank has called it.
  void barrier();
  // The normal end of a run: a barrier (no rank reports success before rank 0 has written
  // the last checkpoint), then the backend shuts down cleanly. Without it (an error), the
  // destructor aborts the backend instead, so that a rank never waits on dead peers.
  void finish();

 private:
  struct Impl;
  DistEnv env_;
  std::string backend_ = "none";
  bool finished_ = false;
  std::unique_ptr<Impl> impl_;
};

}  // namespace vrft
