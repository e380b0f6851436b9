// src/data/synth.cpp: the synthetic world's vocabulary, categories and scenes (see
// data/synth.h); the three tasks' rows and the files are in synth_tasks.cpp.
//
// Scenes are drawn in two steps: placement makes a label map that records which object (or
// occluder) shows at each pixel, placing the objects again until every one keeps enough of
// itself visible; painting draws a noisy, textured grey background and then the flat colours
// and patterns of what the label map shows. The label map gives each object's visible box and
// area exactly, and grounding can try instructions on a placement before paying for pixels.
#include "visual_rft/data/synth.h"

#include <algorithm>
#include <cmath>
#include <opencv2/imgproc.hpp>

#include "synth_internal.h"
#include "visual_rft/core/error.h"

namespace vrft {

namespace synth {

// ---- random numbers ------------------------------------------------------------------------

uint64_t Rng::below(uint64_t n) {
  // Rejection sampling: the top of the range that does not fill a whole multiple of n is
  // drawn again, so every value is equally likely.
  const uint64_t limit = UINT64_MAX - UINT64_MAX % n;
  uint64_t r;
  do {
    r = next();
  } while (r >= limit);
  return r % n;
}

uint64_t stream_key(uint64_t seed, uint64_t a, uint64_t b, uint64_t c) {
  uint64_t s = seed;
  uint64_t h = splitmix64_next(s);
  for (uint64_t v : {a, b, c}) {
    s = h ^ v;
    h = splitmix64_next(s);
  }
  return h;
}

// ---- fixed-point geometry ----------------------------------------------------------------------

int64_t floor_div(int64_t a, int64_t b) {
  const int64_t q = a / b;
  return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

int64_t round_div(int64_t a, int64_t b) { return floor_div(2 * a + b, 2 * b); }  // b > 0

int64_t position_cue_level(int64_t t, int64_t n) { return floor_div((2 * t + 1 - n) * kPositionCue, n); }

// cos of whole degrees times kTrig. Only 360 values: std::cos is rounded to them, so a libm
// that differs in the last bit still gives the same table.
int64_t cos_deg(int64_t deg) {
  static const std::array<int64_t, 360> table = [] {
    std::array<int64_t, 360> t{};
    for (int d = 0; d < 360; ++d) t[d] = std::llround(std::cos(d * 3.14159265358979323846 / 180.0) * kTrig);
    return t;
  }();
  return table[static_cast<size_t>(((deg % 360) + 360) % 360)];
}
int64_t sin_deg(int64_t deg) { return cos_deg(deg - 90); }

}  // namespace synth

using namespace synth;

// ---- vocabulary --------------------------------------------------------------------------------

namespace {

const char* const kShapeNames[kSynthShapes] = {"circle", "triangle", "square", "hexagon", "star", "cross"};
const int kCorners[kSynthShapes] = {0, 3, 4, 6, 10, 12};
const char* const kColourNames[kSynthColours] = {"red", "green", "blue", "yellow", "purple"};
// BGR, saturated (channel spread >= 130) so that no background grey comes near them.
const int kColourBgr[kSynthColours][3] = {{40, 40, 215}, {50, 170, 40}, {215, 90, 30}, {30, 215, 230}, {175, 50, 160}};
const char* const kPatternNames[kSynthPatterns] = {"solid", "striped", "dotted"};

template <class T>
T checked(const T* table, int n, int i, const char* what) {
  if (i < 0 || i >= n) throw Error(std::string("synth: no ") + what + " " + std::to_string(i));
  return table[i];
}

}  // namespace

const char* synth_shape_name(int s) { return checked(kShapeNames, kSynthShapes, s, "shape"); }
const char* synth_colour_name(int c) { return checked(kColourNames, kSynthColours, c, "colour"); }
const char* synth_pattern_name(int p) { return checked(kPatternNames, kSynthPatterns, p, "pattern"); }
int synth_shape_corners(int s) { return checked(kCorners, kSynthShapes, s, "shape"); }

const char* synth_split_name(SynthSplit s) {
  switch (s) {
    case SynthSplit::base_train: return "base_train";
    case SynthSplit::fewshot_train: return "fewshot_train";
    case SynthSplit::eval: return "eval";
  }
  return "?";
}

namespace {

constexpr int64_t kSynthCombinations = int64_t{kSynthShapes} * kSynthColours * kSynthPatterns;

// Category `id` of combination `combo` = (shape * colours + colour) * patterns + pattern.
SynthCategory category_of(int combo, int id) {
  SynthCategory c;
  c.id = id;
  c.pattern = combo % kSynthPatterns;
  c.colour = combo / kSynthPatterns % kSynthColours;
  c.shape = combo / (kSynthPatterns * kSynthColours);
  c.name = std::string(kColourNames[c.colour]) + " " + kPatternNames[c.pattern] + " " + kShapeNames[c.shape];
  return c;
}

}  // namespace

SynthWorld make_synth_world(const SynthConfig& cfg) {
  const int64_t all = kSynthCombinations;
  if (cfg.num_categories < 2 || cfg.num_categories > all) {
    throw Error("synth: --categories " + std::to_string(cfg.num_categories) + " must be in 2.." + std::to_string(all));
  }
  if (cfg.num_novel < 1 || cfg.num_novel >= cfg.num_categories) {
    throw Error("synth: --novel " + std::to_string(cfg.num_novel) + " must be in 1.." +
                std::to_string(cfg.num_categories - 1) + " (some categories must stay base)");
  }
  Rng rng(stream_key(cfg.seed, salt::synth_world, 0, 0));
  std::vector<int> combos(static_cast<size_t>(all));
  for (size_t i = 0; i < combos.size(); ++i) combos[i] = static_cast<int>(i);
  rng.shuffle(combos);
  combos.resize(static_cast<size_t>(cfg.num_categories));
  std::sort(combos.begin(), combos.end());  // combo = (shape * colours + colour) * patterns + pattern

  SynthWorld w;
  for (int combo : combos) w.categories.push_back(category_of(combo, static_cast<int>(w.categories.size())));
  // Novel categories are drawn until each of their words also names a base category; a
  // novel name made only of known words is what few-shot learning can build on.
  std::vector<int> ids(w.categories.size());
  for (size_t i = 0; i < ids.size(); ++i) ids[i] = static_cast<int>(i);
  for (int attempt = 0;; ++attempt) {
    if (attempt == 10000) throw Error("synth: no split of these categories has every novel word in a base name");
    rng.shuffle(ids);
    bool shape[kSynthShapes] = {}, colour[kSynthColours] = {}, pattern[kSynthPatterns] = {};
    for (size_t i = static_cast<size_t>(cfg.num_novel); i < ids.size(); ++i) {
      const SynthCategory& c = w.categories[static_cast<size_t>(ids[i])];
      shape[c.shape] = colour[c.colour] = pattern[c.pattern] = true;
    }
    bool ok = true;
    for (int64_t i = 0; i < cfg.num_novel; ++i) {
      const SynthCategory& c = w.categories[static_cast<size_t>(ids[static_cast<size_t>(i)])];
      ok = ok && shape[c.shape] && colour[c.colour] && pattern[c.pattern];
    }
    if (ok) break;
  }
  for (int64_t i = 0; i < cfg.num_novel; ++i)
    w.categories[static_cast<size_t>(ids[static_cast<size_t>(i)])].novel = true;
  for (const auto& c : w.categories) (c.novel ? w.novel : w.base).push_back(c.id);
  w.position_cue = cfg.position_cue;
  return w;
}

SynthWorld synth_every_combination(const SynthWorld& world) {
  SynthWorld all;
  all.position_cue = world.position_cue;
  for (int combo = 0; combo < kSynthCombinations; ++combo) {
    SynthCategory c = category_of(combo, combo);
    for (int id : world.novel) c.novel = c.novel || world.categories[static_cast<size_t>(id)].name == c.name;
    (c.novel ? all.novel : all.base).push_back(c.id);
    all.categories.push_back(std::move(c));
  }
  return all;
}

// ---- scenes ------------------------------------------------------------------------------------

namespace synth {

namespace {

using Point = std::array<int64_t, 2>;

// A polygon's corners in thousandths of the shape's radius, before rotation; y points down.
std::vector<Point> outline(int shape) {
  auto polar = [](int n, int start_deg, std::initializer_list<int64_t> radii) {
    std::vector<Point> pts;
    const std::vector<int64_t> rs(radii);
    for (int k = 0; k < n; ++k) {
      const int64_t deg = start_deg + k * 360 / n, r = rs[static_cast<size_t>(k) % rs.size()];
      pts.push_back({round_div(r * cos_deg(deg), kTrig), round_div(r * sin_deg(deg), kTrig)});
    }
    return pts;
  };
  switch (shape) {
    case 1: return polar(3, -90, {1000});
    case 2: return polar(4, 45, {1000});
    case 3: return polar(6, 0, {1000});
    case 4: return polar(10, -90, {1000, 420});
    case 5: {
      const int64_t w = 340, r = 1000;  // arm half-width
      return {{w, -r}, {w, -w}, {r, -w}, {r, w},   {w, w},   {w, r},
              {-w, r}, {-w, w}, {-r, w}, {-r, -w}, {-w, -w}, {-w, -r}};
    }
  }
  return {};
}

// The pixels of one shape at a pose into m (CV_8U): 255 inside, 0 elsewhere. No anti-aliasing,
// so colours stay exact and boxes sharp.
void shape_mask(cv::Mat& m, int shape, const Pose& p) {
  m.setTo(cv::Scalar(0));
  if (shape == 0) {
    cv::circle(m, cv::Point(static_cast<int>(p.cx), static_cast<int>(p.cy)), static_cast<int>(p.r), cv::Scalar(255),
               cv::FILLED, cv::LINE_8, kSubBits);
    return;
  }
  const int64_t c = cos_deg(p.rot), s = sin_deg(p.rot);
  std::vector<cv::Point> pts;
  for (const Point& q : outline(shape)) {
    const int64_t rx = q[0] * c - q[1] * s, ry = q[0] * s + q[1] * c;  // thousandths of r, times kTrig
    pts.emplace_back(static_cast<int>(p.cx + round_div(rx * p.r, 1000 * kTrig)),
                     static_cast<int>(p.cy + round_div(ry * p.r, 1000 * kTrig)));
  }
  cv::fillPoly(m, std::vector<std::vector<cv::Point>>{pts}, cv::Scalar(255), cv::LINE_8, kSubBits);
}

// Whether pixel (x, y) of an object shows the pattern's shade: stripes across the object's
// own x axis, or dots on a grid in its frame, both turning with the object.
bool in_shade(int pattern, const Pose& p, int x, int y) {
  if (pattern == 0) return false;
  const int64_t dx = int64_t{x} * kSub - p.cx, dy = int64_t{y} * kSub - p.cy;
  const int64_t c = cos_deg(p.rot), s = sin_deg(p.rot);
  const int64_t u = dx * c + dy * s, v = -dx * s + dy * c;  // subpixels times kTrig
  if (pattern == 1) {
    const int64_t band = std::max<int64_t>(2 * kSub, p.r / 3);  // stripe width, at least 2 px
    return (floor_div(u, band * kTrig) % 2 + 2) % 2 == 1;
  }
  const int64_t period = std::max<int64_t>(5 * kSub, p.r * 3 / 5), radius = period * 3 / 10;
  auto offset = [&](int64_t t) {  // from the centre of the grid cell, in subpixels
    const int64_t P = period * kTrig;
    return floor_div(t - floor_div(t, P) * P - P / 2, kTrig);
  };
  const int64_t du = offset(u), dv = offset(v);
  return du * du + dv * dv < radius * radius;
}

// A grey background: level, a faint tint, a linear gradient, one texture (none, a soft
// triangle-wave grating, or grey blocks) and per-channel noise. Low saturation throughout
// (channel spread under 40), far from every object colour. With the position cue, a fixed
// ramp on top: blue +-24 from left to right, red +-24 from top to bottom, green the opposite
// of their mean (brightness kept); channel spread then stays under 90, still far from the
// objects' 130. It draws nothing from rng, so the scenes are the same with or without it.
// Returns the mean grey.
int draw_background(cv::Mat& img, Rng& rng, bool position_cue) {
  const int n = img.rows;
  const int grey = static_cast<int>(rng.range(70, 190));
  int tint[3];
  for (int& t : tint) t = static_cast<int>(rng.range(-10, 10));
  const int64_t gdeg = rng.range(0, 359), gamp = rng.range(0, 30);
  const int64_t gc = cos_deg(gdeg), gs = sin_deg(gdeg);
  const int64_t kind = rng.range(0, 2);
  const int64_t tdeg = rng.range(0, 359), tperiod = rng.range(5, 14), tamp = rng.range(5, 12);
  const int64_t tc = cos_deg(tdeg), ts = sin_deg(tdeg);
  cv::Mat blocks = cv::Mat::zeros(n, n, CV_32S);
  if (kind == 2) {
    for (int64_t k = rng.range(3, 7); k > 0; --k) {
      const int x = static_cast<int>(rng.range(0, n - 1)), y = static_cast<int>(rng.range(0, n - 1));
      const int w = static_cast<int>(rng.range(n / 8, n / 2)), h = static_cast<int>(rng.range(n / 8, n / 2));
      cv::rectangle(blocks, cv::Rect(x - w / 2, y - h / 2, w, h), cv::Scalar(static_cast<int>(rng.range(-22, 22))),
                    cv::FILLED);
    }
  }
  // The cue's ramp at pixel centre t + 1/2 of n: -24..24.
  auto ramp = [n](int64_t t) { return position_cue_level(t, n); };
  for (int y = 0; y < n; ++y) {
    auto* row = img.ptr<cv::Vec3b>(y);
    const int64_t cue_y = position_cue ? ramp(y) : 0;
    for (int x = 0; x < n; ++x) {
      const int64_t cue_x = position_cue ? ramp(x) : 0;
      const int64_t cue[3] = {cue_x, -floor_div(cue_x + cue_y, 2), cue_y};  // B, G, R
      const int64_t px = x - n / 2, py = y - n / 2;
      int64_t v = grey + floor_div(gamp * floor_div(px * gc + py * gs, kTrig), n);  // +-gamp/sqrt(2) or so
      if (kind == 1) {
        const int64_t t = floor_div(px * tc + py * ts, kTrig), phase = t - floor_div(t, tperiod) * tperiod;
        v += floor_div(std::llabs(2 * phase - tperiod) * tamp, tperiod) - tamp / 2;
      } else if (kind == 2) {
        v += blocks.at<int32_t>(y, x);
      }
      // Noise in -8..8 per channel, three values from one draw (multiply-shift of 16-bit
      // fields: off uniform by under 0.03%, which noise does not care about).
      const uint64_t r = rng.next();
      for (int ch = 0; ch < 3; ++ch) {
        const int64_t noise = static_cast<int64_t>(((r >> (16 * ch)) & 0xffff) * 17 >> 16) - 8;
        row[x][ch] = cv::saturate_cast<uint8_t>(v + tint[ch] + noise + cue[ch]);
      }
    }
  }
  return grey;
}

}  // namespace

Layout place_scene(const SynthWorld& world, const SceneSpec& spec, int size, Rng& rng) {
  Layout lay;
  SynthScene& sc = lay.scene;
  const size_t n = spec.categories.size();
  sc.objects.resize(n);
  lay.poses.resize(n);
  for (size_t i = 0; i < n; ++i) {
    SynthObject& o = sc.objects[i];
    o.category = spec.categories[i];
    const int colour = world.categories[static_cast<size_t>(o.category)].colour;
    const bool solid = world.categories[static_cast<size_t>(o.category)].pattern == 0;
    // Brightness varies, hue does not: a red never drifts towards orange or yellow.
    const int64_t brightness = rng.range(-20, 20);
    for (int ch = 0; ch < 3; ++ch) {
      o.colour[ch] = cv::saturate_cast<uint8_t>(kColourBgr[colour][ch] + brightness);
      o.shade[ch] = solid ? o.colour[ch] : static_cast<uint8_t>(o.colour[ch] * 45 / 100);
    }
  }
  const int64_t size16 = int64_t{size} * kSub;
  cv::Mat mask(size, size, CV_8U);
  for (int attempt = 0; attempt < 2000; ++attempt) {
    sc.labels = cv::Mat(size, size, CV_32S, cv::Scalar(-1));
    for (size_t i = 0; i < n; ++i) {
      Pose& p = lay.poses[i];
      p.r = rng.range(spec.r_min, spec.r_max);
      p.rot = rng.range(0, 359);
      const int64_t margin = p.r + kSub;  // the whole shape inside the image, with a pixel to spare
      p.cx = rng.range(margin, size16 - 1 - margin);
      p.cy = rng.range(margin, size16 - 1 - margin);
      shape_mask(mask, world.categories[static_cast<size_t>(spec.categories[i])].shape, p);
      sc.objects[i].full_area = cv::countNonZero(mask);
      sc.labels.setTo(cv::Scalar(static_cast<int>(i)), mask);
    }
    bool occluded = false;
    if (rng.chance(spec.occluder_rate)) {  // a bar across or along
      const bool across = rng.chance(0.5);
      int64_t w = rng.range(size / 10, size / 3), h = rng.range(size / 16, size / 7);
      if (across) std::swap(w, h);
      const int x = static_cast<int>(rng.range(0, size - w)), y = static_cast<int>(rng.range(0, size - h));
      sc.labels(cv::Rect(x, y, static_cast<int>(w), static_cast<int>(h))).setTo(cv::Scalar(-2));
      occluded = true;
    }
    // What each object keeps visible.
    for (auto& o : sc.objects) {
      o.area = 0;
      o.box = {size, size, -1, -1};
    }
    for (int y = 0; y < size; ++y) {
      const int32_t* row = sc.labels.ptr<int32_t>(y);
      for (int x = 0; x < size; ++x) {
        if (row[x] < 0) continue;
        SynthObject& o = sc.objects[static_cast<size_t>(row[x])];
        ++o.area;
        o.box = {std::min(o.box[0], x), std::min(o.box[1], y), std::max(o.box[2], x + 1), std::max(o.box[3], y + 1)};
      }
    }
    bool placed = true, any_hidden = false;
    for (const auto& o : sc.objects) {
      placed = placed && o.area >= 12 && o.area * 100 >= o.full_area * spec.min_visible_pct;
      any_hidden = any_hidden || o.area < o.full_area;
    }
    // A single object's occluder must cover some of it, or it is only background clutter.
    if (occluded && n == 1 && !any_hidden) placed = false;
    if (placed) return lay;
  }
  throw Error("synth: could not place " + std::to_string(n) + " objects in a " + std::to_string(size) + " px image");
}

void paint_scene(Layout& lay, const SynthWorld& world, Rng& rng) {
  SynthScene& sc = lay.scene;
  const int size = sc.labels.rows;
  sc.image.create(size, size, CV_8UC3);
  const int grey = draw_background(sc.image, rng, world.position_cue);
  // The occluder: a flat grey bar, clearly lighter or darker than the background.
  const uint8_t occluder = static_cast<uint8_t>(grey < 130 ? grey + rng.range(45, 70) : grey - rng.range(45, 70));
  for (int y = 0; y < size; ++y) {
    const int32_t* lab = sc.labels.ptr<int32_t>(y);
    auto* px = sc.image.ptr<cv::Vec3b>(y);
    for (int x = 0; x < size; ++x) {
      if (lab[x] == -2) {
        px[x] = cv::Vec3b(occluder, occluder, occluder);
      } else if (lab[x] >= 0) {
        const size_t i = static_cast<size_t>(lab[x]);
        const int pattern = world.categories[static_cast<size_t>(sc.objects[i].category)].pattern;
        const auto& c = in_shade(pattern, lay.poses[i], x, y) ? sc.objects[i].shade : sc.objects[i].colour;
        px[x] = cv::Vec3b(c[0], c[1], c[2]);
      }
    }
  }
}

SynthScene draw_scene(const SynthWorld& world, const SceneSpec& spec, int size, Rng& rng) {
  Layout lay = place_scene(world, spec, size, rng);
  paint_scene(lay, world, rng);
  return std::move(lay.scene);
}

}  // namespace synth

}  // namespace vrft
