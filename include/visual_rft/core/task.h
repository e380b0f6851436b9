// visual_rft/core/task.h: the three Visual-RFT tasks, named as in configs (data.task) and
// file paths: classification, open-vocabulary detection, reasoning grounding. Data, rewards,
// training and evaluation all branch on it, so it lives below them.
#pragma once

#include <string>

#include "visual_rft/core/choice.h"

namespace vrft {

enum class Task { cls, det, ground };
template <>
struct Choice<Task> {
  static constexpr const char* names[] = {"cls", "det", "ground"};
};

Task parse_task(const std::string& name);  // throws Error for an unknown name
const char* task_name(Task t);

}  // namespace vrft
