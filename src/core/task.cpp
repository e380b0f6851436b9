// src/core/task.cpp: task names (see the header).
#include "visual_rft/core/task.h"

#include "visual_rft/core/error.h"

namespace vrft {

Task parse_task(const std::string& name) {
  if (auto t = parse_choice<Task>(name)) return *t;
  throw Error("unknown task '" + name + "' (" + choice_list<Task>() + ")");
}

const char* task_name(Task t) { return choice_name(t); }

}  // namespace vrft
