// visual_rft/core/random.h: SplitMix64 (Steele, Lea and Flood 2014), the counter-based
// generator behind every random stream of a run: sampling (rollout/sampling.h), the data
// order (train/data_order.h) and the synthetic world (data/synth.h). Written out rather than
// taken from <random>, whose distributions are implementation-defined, so that a seed gives
// the same numbers on every platform. Streams of different purposes are kept apart by the
// named salts below, mixed into their keys.
#pragma once

#include <cstdint>

namespace vrft {

// The SplitMix64 finaliser of x + the golden-ratio increment: a hash of x.
constexpr uint64_t splitmix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// The generator form: the next number of the stream whose state is `state` (advanced).
inline uint64_t splitmix64_next(uint64_t& state) {
  const uint64_t x = state;
  state += 0x9e3779b97f4a7c15ULL;
  return splitmix64(x);
}

// Salts of the streams, one per purpose. Their values are part of a run's identity: changing
// one changes every run's numbers.
namespace salt {
constexpr uint64_t rollout = 0x7011;            // the GRPO trainer's per-step sampling seed
constexpr uint64_t data_order = 0xda7a;         // the per-epoch shuffle of the training rows
constexpr uint64_t synth_world = 0x776f726c64;  // "world": the synthetic world's categories
constexpr uint64_t synth_dense = 0x64656e7365;  // "dense": the synthetic dense rows
constexpr uint64_t training = 0x747261696e;     // "train": LibTorch's generator per micro-batch (dropout)
}  // namespace salt

}  // namespace vrft
