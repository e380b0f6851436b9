// visual_rft/train/data_order.h: the order in which a run visits its samples. The k-th
// prompt of the run is sample at(k); each epoch is a permutation seeded by (seed, epoch), so
// the order never depends on where a run was resumed.
#pragma once

#include <cstdint>
#include <numeric>
#include <random>
#include <vector>

#include "visual_rft/core/random.h"
#include "visual_rft/rollout/sampling.h"

namespace vrft {

class DataOrder {
 public:
  DataOrder(int64_t n, uint64_t seed, bool shuffle) : n_(n), seed_(seed), shuffle_(shuffle) {}
  int64_t at(int64_t k) {
    const int64_t epoch = k / n_;
    if (epoch != epoch_) {
      perm_.resize(static_cast<size_t>(n_));
      std::iota(perm_.begin(), perm_.end(), 0);
      if (shuffle_) {
        std::mt19937_64 rng(sample_stream(seed_, salt::data_order, static_cast<uint64_t>(epoch)));
        for (int64_t i = n_ - 1; i > 0; --i) {  // Fisher-Yates with our own draws: portable
          std::swap(perm_[static_cast<size_t>(i)], perm_[static_cast<size_t>(rng() % static_cast<uint64_t>(i + 1))]);
        }
      }
      epoch_ = epoch;
    }
    return perm_[static_cast<size_t>(k % n_)];
  }

 private:
  int64_t n_, epoch_ = -1;
  uint64_t seed_;
  bool shuffle_;
  std::vector<int64_t> perm_;
};

}  // namespace vrft
