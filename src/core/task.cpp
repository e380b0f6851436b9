// src/core/task.cpp: task names (see the header).
#include "visual_rft/core/task.h"

#include "visual_rft/core/error.h"

namespace vrft {

Task parse_task(const std::string& name) {
  if (name == "cls") return Task::cls;
  if (name == "det") return Task::det;
  if (name == "ground") return Task::ground;
  throw Error("unknown task '" + name + "' (cls, det, ground)");
}

const char* task_name(Task t) { return t == Task::cls ? "cls" : t == Task::det ? "det" : "ground"; }

}  // namespace vrft
