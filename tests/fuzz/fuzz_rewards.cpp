// tests/fuzz/fuzz_rewards.cpp: libFuzzer target for the answer parsers and every reward in
// both modes. Whatever the model writes, a reward must return a finite number (in its range,
// except the reference's own GIoU in visual_rft mode) and never crash. Run with scripts/fuzz.sh rewards SECONDS.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>

#include "visual_rft/core/error.h"
#include "visual_rft/reward/rewards.h"

namespace {

const vrft::Solution& solution(int which) {
  static const vrft::Solution kSolutions[] = {
      vrft::parse_solution(vrft::Task::det, "<answer>[{'Position': [100, 100, 200, 200], 'Confidence': 1}]</answer>"),
      vrft::parse_solution(vrft::Task::det, "<answer>[]</answer>"),
      vrft::parse_solution(vrft::Task::cls, "<answer>daisy</answer>"),
      vrft::parse_solution(vrft::Task::ground, "<answer> (100,100),(200,200) </answer>"),
  };
  return kSolutions[which % 4];
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  std::string text(reinterpret_cast<const char*>(data + 1), size - 1);
  const vrft::Solution& sol = solution(data[0]);
  for (vrft::Compat mode : {vrft::Compat::strict, vrft::Compat::visual_rft}) {
    vrft::RewardContext ctx;
    ctx.compat = mode;
    for (const auto& spec : vrft::reward_registry()) {
      double r = spec.fn(text, sol, ctx);
      double hi = std::string(spec.name) == "giou_grounding" ? 2.0 : 1.0;
      if (!std::isfinite(r)) __builtin_trap();
      // The reference's LISA GIoU can leave [0, 2] (a box with y2 < y1 gives a negative
      // union); visual_rft mode reproduces that. strict must stay in range.
      bool lisa = mode == vrft::Compat::visual_rft && std::string(spec.name) == "giou_grounding";
      if (!lisa && (r < 0 || r > hi + 1e-9)) __builtin_trap();
    }
  }
  // The same text as a data set's solution: parses or throws vrft::Error, nothing else.
  for (vrft::Task t : {vrft::Task::cls, vrft::Task::det, vrft::Task::ground}) {
    try {
      vrft::parse_solution(t, text);
    } catch (const vrft::Error&) {
    }
  }
  vrft::py_json_loads(text);
  vrft::parse_literal_lenient(text);
  return 0;
}
