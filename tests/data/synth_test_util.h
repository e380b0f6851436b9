// tests/data/synth_test_util.h: the small synthetic world shared by test_synth.cpp and
// test_synth_grounding.cpp.
#pragma once

#include "visual_rft/core/task.h"
#include "visual_rft/data/synth.h"

namespace vrft::test {

// A small world that still has every feature: 12 categories, 4 novel.
inline SynthConfig small_config(uint64_t seed = 7) {
  SynthConfig c;
  c.seed = seed;
  c.num_categories = 12;
  c.num_novel = 4;
  c.base_per_category = 3;
  c.shots = 2;
  c.eval_rows = 10;
  return c;
}

// The splits and tasks every test walks.
inline const SynthSplit kSplits[] = {SynthSplit::base_train, SynthSplit::fewshot_train, SynthSplit::eval};
inline const Task kTasks[] = {Task::cls, Task::det, Task::ground};

}  // namespace vrft::test
