// src/data/synth_internal.h: what synth.cpp (vocabulary, scenes) and synth_tasks.cpp (rows,
// files) share: a seeded random stream with exactly specified ranges, fixed-point geometry,
// and the scene drawer. Not a public header.
#pragma once

#include <cstdint>
#include <vector>

#include "visual_rft/core/random.h"
#include "visual_rft/data/synth.h"

namespace vrft::synth {

// ---- random numbers ----------------------------------------------------------------------------

// SplitMix64 with integer range helpers written out here: std::uniform_int_distribution and
// friends are implementation-defined, so they would make files differ between libraries.
class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}
  uint64_t next() { return splitmix64_next(state_); }
  uint64_t below(uint64_t n);  // uniform in [0, n), n > 0
  int64_t range(int64_t lo, int64_t hi) { return lo + static_cast<int64_t>(below(static_cast<uint64_t>(hi - lo + 1))); }
  // True with probability p: 53 random bits as a double in [0, 1) (exact), compared with p.
  bool chance(double p) { return static_cast<double>(next() >> 11) * 0x1.0p-53 < p; }
  template <class T>
  const T& pick(const std::vector<T>& v) {
    return v[below(v.size())];
  }
  template <class T>
  void shuffle(std::vector<T>& v) {  // Fisher-Yates
    for (size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[below(i)]);
  }

 private:
  uint64_t state_;
};

// A seed for one stream, e.g. (seed, task, split, row): every row draws from its own stream,
// so rows are independent of each other and of the split sizes.
uint64_t stream_key(uint64_t seed, uint64_t a, uint64_t b, uint64_t c);

// ---- fixed-point geometry ----------------------------------------------------------------------

constexpr int kSubBits = 4;              // OpenCV's `shift`: coordinates in 1/16 pixel
constexpr int64_t kSub = 1 << kSubBits;  // subpixels per pixel
constexpr int64_t kTrig = 65536;         // cos_deg/sin_deg scale

int64_t floor_div(int64_t a, int64_t b);
int64_t round_div(int64_t a, int64_t b);  // nearest, halves up; b > 0

// The position cue's level at pixel t of n along one axis (its centre's offset from the
// image centre, scaled to -kPositionCue..kPositionCue - 1): see SynthConfig::position_cue.
constexpr int64_t kPositionCue = 24;
int64_t position_cue_level(int64_t t, int64_t n);
int64_t cos_deg(int64_t deg);  // cos(deg degrees) * kTrig, rounded
int64_t sin_deg(int64_t deg);

// Where an object is drawn: centre and radius (the circumscribed circle) in subpixels, with
// pixel centres at whole pixels; rotation in whole degrees.
struct Pose {
  int64_t cx = 0, cy = 0, r = 0, rot = 0;
};

// ---- scenes ------------------------------------------------------------------------------------

struct SceneSpec {
  std::vector<int> categories;   // one object each, in drawing order
  int64_t r_min = 0, r_max = 0;  // radius range, subpixels
  double occluder_rate = 0;      // chance of a grey bar drawn over the objects
  int64_t min_visible_pct = 60;  // each object keeps at least this share of its pixels visible
};

// A scene before its pixels: objects (colours, visible boxes and areas) and the label map.
struct Layout {
  SynthScene scene;  // image still empty
  std::vector<Pose> poses;
};
// Placement, drawn again until every object keeps min_visible_pct of itself and at least 12
// pixels. Throws Error when none is found.
Layout place_scene(const SynthWorld& world, const SceneSpec& spec, int size, Rng& rng);
// The background, then the objects and the occluder as the label map shows them.
void paint_scene(Layout& layout, const SynthWorld& world, Rng& rng);
// Both: place_scene then paint_scene.
SynthScene draw_scene(const SynthWorld& world, const SceneSpec& spec, int size, Rng& rng);

}  // namespace vrft::synth
