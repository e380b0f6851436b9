// src/train/dp_adamw.cpp: AdamW whole, ZeRO-1 or ZeRO-2 over the ranks of a DataParallel
// (see the header for the three modes and the order a trainer calls them in).
#include "visual_rft/train/dp_adamw.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "visual_rft/core/error.h"
#include "visual_rft/core/log.h"

namespace vrft {

DataParallelAdamW::DataParallelAdamW(DataParallel& dp, const std::vector<std::pair<std::string, torch::Tensor>>& params,
                                     AdamWOptions opts, Shard mode)
    : dp_(dp), mode_(mode == Shard::optimizer && !dp.active() ? Shard::none : mode) {
  int64_t total = 0;
  for (const auto& [name, p] : params) {
    if (!p.requires_grad()) continue;
    TORCH_CHECK(p.is_contiguous(), "DataParallelAdamW: parameter ", name, " is not contiguous");
    trainable_.emplace_back(name, p);
    params_.push_back(p);
    total += p.numel();
  }
  if (mode_ == Shard::none) {
    adam_ = std::make_unique<AdamW>(trainable_, opts);
    return;
  }
  // Rank r owns flat elements [bound(r), bound(r + 1)); each parameter is cut at the bounds.
  const int64_t W = dp.world();
  auto bound = [&](int64_t r) { return r * total / W; };
  int64_t start = 0;
  for (size_t i = 0; i < trainable_.size(); ++i) {
    const int64_t n = trainable_[i].second.numel();
    for (int64_t r = 0; r < W; ++r) {
      const int64_t lo = std::max(start, bound(r)), hi = std::min(start + n, bound(r + 1));
      if (lo < hi) pieces_.push_back({i, static_cast<int>(r), lo - start, hi - lo, lo - bound(r), {}, {}});
    }
    start += n;
  }
  torch::NoGradGuard ng;
  owned_.assign(static_cast<size_t>(W), 0);
  by_owner_.assign(static_cast<size_t>(W), {});
  for (size_t k = 0; k < pieces_.size(); ++k) {
    owned_[static_cast<size_t>(pieces_[k].owner)] += pieces_[k].numel;
    by_owner_[static_cast<size_t>(pieces_[k].owner)].push_back(k);
  }
  const int64_t mine = owned_[static_cast<size_t>(dp.rank())];
  if (mode_ == Shard::gradients) {
    const torch::Device dev = trainable_.empty() ? torch::Device(torch::kCPU) : trainable_[0].second.device();
    master_ = torch::empty({mine}, torch::TensorOptions().dtype(torch::kFloat).device(dev));
    grad_ = torch::zeros({mine}, master_.options());
    has_grad_.assign(trainable_.size(), 0);
  }
  std::vector<std::pair<std::string, torch::Tensor>> owned;
  int64_t at = 0;
  for (auto& pc : pieces_) {
    if (pc.owner != dp.rank()) continue;
    if (mode_ == Shard::gradients) {
      pc.view = master_.narrow(0, at, pc.numel);
      pc.view.copy_(slice(pc));  // the parameters still hold the float32 masters
      pc.grad = grad_.narrow(0, at, pc.numel);
      at += pc.numel;
    } else {
      pc.view = slice(pc);  // shares the parameter's memory; AdamW's in-place update lands there
    }
    pc.view.set_requires_grad(true);
    owned.emplace_back(pc.name(), pc.view);
  }
  adam_ = std::make_unique<AdamW>(owned, opts);
}

std::string DataParallelAdamW::Piece::name() const {
  return std::to_string(param) + "[" + std::to_string(offset) + ":" + std::to_string(offset + numel) + "]";
}

torch::Tensor DataParallelAdamW::slice(const Piece& p) const {
  return trainable_[p.param].second.detach().view({-1}).narrow(0, p.offset, p.numel);
}

// ---- the gradient path ----

void DataParallelAdamW::accumulate_gradients(int64_t mine, const std::function<void(int64_t)>& forward_backward) {
  if (mode_ != Shard::gradients) {
    for (int64_t k = 0; k < mine; ++k) forward_backward(k);
    dp_.all_reduce_grads(params_);
    return;
  }
  const auto rounds = static_cast<int64_t>(dp_.max({static_cast<double>(mine)})[0]);
  for (int64_t k = 0; k < rounds; ++k) {
    if (k < mine) forward_backward(k);  // else: out of micro-batches, this rank sends zeros
    exchange_micro_batch();
  }
}

void DataParallelAdamW::exchange_micro_batch() {
  if (trainable_.empty()) return;
  torch::NoGradGuard ng;
  const std::vector<bool> has = dp_.grads_defined_anywhere(params_);
  // Bucket by bucket, every rank sends each owner its values of c of the owner's elements
  // (all to all, in the working dtype), and each owner adds what it receives into its float32
  // accumulator in rank order. That order is one process's order of micro-batches when each
  // rank has one, so W ranks then equal one process bit for bit.
  const int W = dp_.world(), me = dp_.rank();
  const int64_t c = std::max<int64_t>(1, dp_.bucket_bytes() / params_[0].element_size() / W);
  const int64_t longest = *std::max_element(owned_.begin(), owned_.end());
  for (int64_t lo = 0; lo < longest; lo += c) {
    std::vector<int64_t> splits(static_cast<size_t>(W));  // elements [lo, lo + split) of each owner
    for (int r = 0; r < W; ++r)
      splits[static_cast<size_t>(r)] = std::clamp<int64_t>(owned_[static_cast<size_t>(r)] - lo, 0, c);
    const int64_t mine = splits[static_cast<size_t>(me)];
    torch::Tensor in = pack_for_owners(lo, splits);
    torch::Tensor out = torch::empty({mine * W}, params_[0].options());
    dp_.all_to_all(out, in, std::vector<int64_t>(static_cast<size_t>(W), mine), splits);
    torch::Tensor acc = grad_.narrow(0, lo, mine);
    for (int q = 0; q < W; ++q) acc.add_(out.narrow(0, q * mine, mine));  // float32 += working dtype, in rank order
  }
  for (size_t i = 0; i < params_.size(); ++i) {
    if (has[i]) has_grad_[i] = 1;
    params_[i].mutable_grad() = torch::Tensor();  // a rank keeps its slice only
  }
}

torch::Tensor DataParallelAdamW::pack_for_owners(int64_t lo, const std::vector<int64_t>& splits) const {
  torch::Tensor in = torch::empty({std::accumulate(splits.begin(), splits.end(), int64_t{0})}, params_[0].options());
  int64_t at = 0;
  for (int r = 0; r < dp_.world(); ++r) {
    const int64_t n = splits[static_cast<size_t>(r)];
    for_owned(r, lo, lo + n, [&](const Piece& pc, int64_t off, int64_t len, int64_t local) {
      torch::Tensor dst = in.narrow(0, at + local - lo, len);
      const torch::Tensor& g = params_[pc.param].grad();
      if (g.defined()) {
        dst.copy_(g.reshape({-1}).narrow(0, pc.offset + off, len));
      } else {
        dst.zero_();  // no gradient here this round, but some rank has one
      }
    });
    at += n;
  }
  return in;
}

void DataParallelAdamW::for_owned(int owner, int64_t lo, int64_t hi,
                                  const std::function<void(const Piece&, int64_t, int64_t, int64_t)>& f) const {
  const std::vector<size_t>& list = by_owner_[static_cast<size_t>(owner)];
  // The first of the owner's pieces that ends after lo (pieces are in local order).
  auto it = std::upper_bound(list.begin(), list.end(), lo,
                             [&](int64_t x, size_t i) { return x < pieces_[i].local + pieces_[i].numel; });
  for (; it != list.end() && pieces_[*it].local < hi; ++it) {
    const Piece& pc = pieces_[*it];
    const int64_t a = std::max(lo, pc.local), b = std::min(hi, pc.local + pc.numel);
    f(pc, a - pc.local, b - a, a);
  }
}

double DataParallelAdamW::clip_grad_norm(double max_norm) {
  if (mode_ != Shard::gradients) return vrft::clip_grad_norm(params_, max_norm);
  torch::NoGradGuard ng;
  // The sum of squares of every rank's elements, in float64: the squares of float32 values are
  // exact there and the sums round at ~1e-16, so however the elements are split among ranks
  // the norm is the same to ~1e-16, and so (almost always exactly) is the float32 coefficient.
  // In chunks, so that the float64 copy stays small; added on the device, read once.
  constexpr int64_t kChunk = int64_t{1} << 22;
  torch::Tensor sq = torch::zeros({}, grad_.options().dtype(torch::kDouble));
  bool any = false;
  for (const auto& pc : pieces_) {
    if (pc.owner != dp_.rank() || !has_grad_[pc.param]) continue;
    for (int64_t at = 0; at < pc.numel; at += kChunk)
      sq += pc.grad.narrow(0, at, std::min(kChunk, pc.numel - at)).to(torch::kDouble).square().sum();
    any = true;
  }
  const std::vector<double> sums = dp_.sum({sq.item<double>(), any ? 1.0 : 0.0});
  if (sums[1] == 0.0) return 0.0;
  const double total = std::sqrt(sums[0]);
  if (!std::isfinite(total)) return total;
  const double coef = max_norm / (total + 1e-6);  // torch: clamp(coef, max=1)
  if (max_norm > 0 && coef < 1.0) grad_.mul_(coef);
  return total;
}

void DataParallelAdamW::step(double lr) {
  if (mode_ == Shard::none) {
    adam_->step(lr);
    return;
  }
  for (auto& pc : pieces_) {  // the owned pieces see their elements of the (reduced, clipped) gradient
    if (pc.owner != dp_.rank()) continue;
    if (mode_ == Shard::gradients) {
      pc.view.mutable_grad() = has_grad_[pc.param] ? pc.grad : torch::Tensor();
    } else {
      const torch::Tensor& g = trainable_[pc.param].second.grad();
      pc.view.mutable_grad() = g.defined() ? g.reshape({-1}).narrow(0, pc.offset, pc.numel) : torch::Tensor();
    }
  }
  adam_->step(lr);
  if (mode_ == Shard::gradients) {  // the new masters, rounded into the working copy
    torch::NoGradGuard ng;
    for (const auto& pc : pieces_)
      if (pc.owner == dp_.rank()) slice(pc).copy_(pc.view);
  }
  broadcast_pieces();
}

void DataParallelAdamW::broadcast_pieces() {
  for (int r = 0; r < dp_.world(); ++r) {
    std::vector<torch::Tensor> run;
    for (const auto& pc : pieces_) {
      if (pc.owner == r) run.push_back(slice(pc));
    }
    dp_.broadcast(run, r);
  }
}

void DataParallelAdamW::zero_grad() {
  for (auto& np : trainable_) np.second.mutable_grad() = torch::Tensor();
  for (auto& pc : pieces_) {
    if (pc.view.defined()) pc.view.mutable_grad() = torch::Tensor();
  }
  if (mode_ == Shard::gradients) {
    grad_.zero_();
    std::fill(has_grad_.begin(), has_grad_.end(), 0);
  }
}

// ---- checkpoints ----

std::map<std::string, torch::Tensor> DataParallelAdamW::gather_pieces(
    const std::vector<std::string>& suffixes, const std::function<torch::ScalarType(const torch::Tensor&)>& dtype,
    const std::function<torch::Tensor(const Piece&, const std::string&)>& mine) {
  // Rank 0 assembles whole tensors; rank r >= 1 sends its pieces' values, suffix by suffix, in
  // flat order, into rank 0's slices of them.
  std::map<std::string, torch::Tensor> full;
  if (dp_.is_main()) {
    for (const auto& [name, p] : trainable_)
      for (const std::string& k : suffixes) full[name + k] = torch::zeros(p.sizes(), torch::dtype(dtype(p)));
  }
  auto part = [&](const Piece& pc, const std::string& k) {
    return full.at(trainable_[pc.param].first + k).view({-1}).narrow(0, pc.offset, pc.numel);
  };
  torch::NoGradGuard ng;
  for (int r = 0; r < dp_.world(); ++r) {
    if (dp_.rank() != r && !dp_.is_main()) continue;
    std::vector<torch::Tensor> values;
    for (const auto& pc : pieces_) {
      if (pc.owner != r) continue;
      for (const std::string& k : suffixes) {
        if (r == 0) {
          part(pc, k).copy_(mine(pc, k));
        } else {
          values.push_back(dp_.rank() == r ? mine(pc, k) : part(pc, k));
        }
      }
    }
    if (r == 0) continue;
    if (dp_.rank() == r) {
      dp_.send(values, 0);
    } else {
      dp_.recv(values, r);
    }
  }
  return full;
}

std::vector<std::pair<std::string, torch::Tensor>> DataParallelAdamW::state() {
  auto own = adam_->state();
  if (mode_ == Shard::none) return own;
  std::map<std::string, torch::Tensor> mine(own.begin(), own.end());
  const std::map<std::string, torch::Tensor> full = gather_pieces(
      {".exp_avg", ".exp_avg_sq"}, [](const torch::Tensor& p) { return AdamW::state_dtype(p.scalar_type()); },
      [&](const Piece& pc, const std::string& k) { return mine.at(pc.name() + k); });
  if (!dp_.is_main()) return {};
  std::vector<std::pair<std::string, torch::Tensor>> out;  // AdamW::state()'s order
  for (const auto& np : trainable_) {
    out.emplace_back(np.first + ".exp_avg", full.at(np.first + ".exp_avg"));
    out.emplace_back(np.first + ".exp_avg_sq", full.at(np.first + ".exp_avg_sq"));
  }
  out.emplace_back("step", mine.at("step"));
  return out;
}

std::vector<std::pair<std::string, torch::Tensor>> DataParallelAdamW::master_weights() {
  if (mode_ != Shard::gradients) return {};
  const std::map<std::string, torch::Tensor> full = gather_pieces(
      {""}, [](const torch::Tensor&) { return torch::kFloat; },
      [](const Piece& pc, const std::string&) { return pc.view.detach(); });
  std::vector<std::pair<std::string, torch::Tensor>> out;
  if (dp_.is_main())
    for (const auto& np : trainable_) out.emplace_back(np.first, full.at(np.first));
  return out;
}

void DataParallelAdamW::load_state(const std::vector<std::pair<std::string, torch::Tensor>>& state) {
  if (mode_ == Shard::none) {
    adam_->load_state(state);
    return;
  }
  std::map<std::string, torch::Tensor> m(state.begin(), state.end());
  std::vector<std::pair<std::string, torch::Tensor>> mine;
  for (const auto& pc : pieces_) {
    if (pc.owner != dp_.rank()) continue;
    const torch::Tensor& p = trainable_[pc.param].second;
    for (const char* k : {".exp_avg", ".exp_avg_sq"}) {
      const std::string key = trainable_[pc.param].first + k;
      auto it = m.find(key);
      if (it == m.end()) throw Error("optimizer state has no '" + key + "'");
      if (it->second.sizes() != p.sizes()) throw Error("optimizer state '" + key + "' has the wrong shape");
      mine.emplace_back(pc.name() + k, it->second.reshape({-1}).narrow(0, pc.offset, pc.numel));
    }
  }
  auto step = m.find("step");
  if (step == m.end()) throw Error("optimizer state has no 'step'");
  mine.emplace_back("step", step->second);
  adam_->load_state(mine);
}

double DataParallelAdamW::state_bytes() const {
  double b = adam_->state_bytes();
  if (master_.defined()) b += static_cast<double>(master_.nbytes() + grad_.nbytes());
  return b;
}

double DataParallelAdamW::report_memory() {
  std::vector<double> gb(static_cast<size_t>(dp_.world()), 0.0);
  gb[static_cast<size_t>(dp_.rank())] = state_bytes() / 1e9;
  gb = dp_.sum(gb);
  const double most = *std::max_element(gb.begin(), gb.end());
  if (mode_ == Shard::none) {
    log_info("optimizer state: {:.3f} GB{}", most, dp_.active() ? " on every rank" : "");
    return most;
  }
  std::string each;
  for (size_t r = 0; r < gb.size() && r < 16; ++r) each += fmt::format("{}{:.3f}", r ? ", " : "", gb[r]);
  const char* what =
      mode_ == Shard::gradients ? "float32 masters, gradients and AdamW state, ZeRO-2" : "optimizer state, ZeRO-1";
  log_info("{} over {} rank(s): {}{} GB (largest {:.3f} GB)", what, dp_.world(), each, gb.size() > 16 ? ", ..." : "",
           most);
  return most;
}

}  // namespace vrft
