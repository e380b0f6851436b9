// visual_rft/train/dp_adamw.h: AdamW for data-parallel training and the gradient path around
// it, as distributed.shard chooses. Every trainer runs an optimiser step the same way:
//
//   accumulate_gradients(n, forward and backward of micro-batch k);  norm = clip_grad_norm(max);
//   step(lr) unless the norm is not finite;  zero_grad()
//
//   none       every rank holds the whole AdamW state; the gradients accumulate in .grad and
//              are all-reduced once per step; every rank applies the same update.
//   optimizer  ZeRO-1: the trainable parameters are seen as one flat run of E elements in
//              model order; rank r keeps the AdamW state of elements [r*E/W, (r+1)*E/W) only
//              (a tensor may be split between ranks), updates them in place through views of
//              the parameters and broadcasts them. AdamW is element-wise, so the weights are
//              bitwise those of `none`.
//   gradients  ZeRO-2 with mixed precision: the model's parameters are the working copy in
//              one dtype (model.dtype, else rollout.dtype: bf16 on CUDA), used by the forward,
//              the backward and the rollouts. Rank r keeps, for its elements only, the float32 master weights, a
//              float32 gradient accumulator and the AdamW moments. After each micro-batch's
//              backward every rank sends each owner its values of the owner's elements
//              (bucketed all-to-all, in the working dtype), the owner adds them into its
//              float32 accumulator in rank order, and .grad is freed: a rank holds whole
//              gradients only during a backward. The update runs on the float32
//              slice; the owner rounds it into the working copy and broadcasts it. One process
//              runs the same arithmetic without collectives; W ranks with one micro-batch each
//              add in one process's order and equal it bit for bit (with several per rank, up
//              to the order of float32 sums).
// Checkpoints do not depend on the world size or the mode: state() and master_weights() give
// whole tensors, and load_state() takes this rank's part of them.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "visual_rft/core/config.h"
#include "visual_rft/train/distributed.h"
#include "visual_rft/train/optim.h"

namespace vrft {

class DataParallelAdamW {
 public:
  // `params`: the model's (name, parameter) pairs; those that require a gradient train. With
  // `gradients` they must still hold the float32 master values (the caller casts the model to
  // its working dtype afterwards; the master slices are copied here).
  DataParallelAdamW(DataParallel& dp, const std::vector<std::pair<std::string, torch::Tensor>>& params,
                    AdamWOptions opts, Shard mode);

  // The step's gradient: `forward_backward(k)` for each of this rank's micro-batches k = 0 ..
  // mine - 1, then the reduction over the ranks. `none`/`optimizer`: the gradients accumulate
  // in .grad and are all-reduced (summed) at the end, so every rank holds the step's gradient.
  // `gradients`: each micro-batch's gradients go to their owners' float32 accumulators and .grad
  // is freed; a rank with fewer micro-batches than another takes part in the extra rounds with
  // zero gradients (each round is a collective).
  void accumulate_gradients(int64_t mine, const std::function<void(int64_t)>& forward_backward);
  // Global L2 norm of the step's gradient, scaled to max_norm when above (max_norm > 0), as
  // clip_grad_norm does; with `gradients` from every rank's slice. Returns the norm before
  // clipping (inf or NaN: nothing scaled; the caller skips the update).
  double clip_grad_norm(double max_norm);
  void step(double lr);
  void zero_grad();

  // The whole AdamW state in AdamW::state()'s layout (on the CPU when sharded). Collective:
  // every rank must call it; sharded, the pieces are sent to rank 0 and the others get an
  // empty list.
  std::vector<std::pair<std::string, torch::Tensor>> state();
  // Takes this rank's part of a whole state (any world size and mode wrote it). Throws Error
  // naming a missing or mis-shaped entry.
  void load_state(const std::vector<std::pair<std::string, torch::Tensor>>& state);
  // `gradients`: the whole float32 master weights of the trainable parameters (on the CPU, on
  // rank 0; the others get an empty list). Otherwise empty: the model's parameters are the
  // masters. Collective.
  std::vector<std::pair<std::string, torch::Tensor>> master_weights();

  double state_bytes() const;  // of this rank: AdamW moments, plus masters and accumulator
  // Collective: logs (rank 0) every rank's optimiser state in GB and returns the largest.
  double report_memory();
  Shard mode() const { return mode_; }

 private:
  // Elements [offset, offset + numel) of the flattened trainable_[param], owned by `owner`.
  struct Piece {
    size_t param;
    int owner;
    int64_t offset, numel;
    int64_t local;       // its first element in the owner's elements (0 .. the owner's count)
    torch::Tensor view;  // on the owner: what AdamW updates (a view of the parameter, or of master_)
    torch::Tensor grad;  // on the owner, `gradients`: its elements of grad_
    std::string name() const;
  };
  torch::Tensor slice(const Piece& p) const;  // the piece's elements of the parameter (a view)
  // `gradients`: sums the round's .grad over the ranks into the owners' accumulators, frees .grad.
  void exchange_micro_batch();
  // Whole tensors on rank 0 (on the CPU, shaped as the parameters, `dtype`), one per parameter
  // and suffix, assembled from the owners' pieces: `mine(piece, suffix)` is this rank's values.
  std::map<std::string, torch::Tensor> gather_pieces(
      const std::vector<std::string>& suffixes, const std::function<torch::ScalarType(const torch::Tensor&)>& dtype,
      const std::function<torch::Tensor(const Piece&, const std::string&)>& mine);
  // The owners' pieces to every rank: each owner's current values of its elements.
  void broadcast_pieces();
  // This rank's gradient values of elements [lo, lo + splits[r]) of each owner r, in rank
  // order (zeros where it has no gradient): what it sends in one all-to-all bucket.
  torch::Tensor pack_for_owners(int64_t lo, const std::vector<int64_t>& splits) const;
  // f(piece, first element in the piece, count, first element in the owner's local order) for
  // each piece of `owner` that holds some of its local elements [lo, hi).
  void for_owned(int owner, int64_t lo, int64_t hi,
                 const std::function<void(const Piece&, int64_t, int64_t, int64_t)>& f) const;

  DataParallel& dp_;
  Shard mode_;
  std::vector<std::pair<std::string, torch::Tensor>> trainable_;  // in model order
  std::vector<torch::Tensor> params_;                             // trainable_'s tensors
  std::vector<Piece> pieces_;                                     // sharded: every rank's, in flat order
  std::vector<int64_t> owned_;                                    // sharded: elements each rank owns
  std::vector<std::vector<size_t>> by_owner_;                     // sharded: each rank's pieces (indices)
  torch::Tensor master_, grad_;  // `gradients`: this rank's float32 masters and accumulator, flat
  std::vector<char> has_grad_;   // `gradients`: per trainable parameter, whether any rank had a gradient
  std::unique_ptr<AdamW> adam_;  // over the parameters (none) or this rank's pieces
};

}  // namespace vrft
