// src/data/task_prompts.cpp: the Visual-RFT question and answer texts (see the header).
#include "visual_rft/data/task_prompts.h"

#include <algorithm>
#include <cctype>
#include <cmath>

#include "visual_rft/core/error.h"

namespace vrft {

namespace {

struct Subject {
  const char* name;     // the object word of the prompt
  const char* article;  // "a" or "an"
  const char* kind;     // what to identify: "model" or "species"
};
const Subject kSubjects[] = {
    {"aircraft", "an", "model"}, {"plant", "a", "species"}, {"flower", "a", "species"},
    {"pet", "a", "species"},     {"car", "a", "model"},
};

// Everything after the question, shared by the classification prompts.
const char* kClsFormat =
    "Output the thinking process in <think> </think> and final answer in <answer> </answer> tags."
    "The output answer format should be as follows:\n<think> ... </think> <answer>species name</answer>\n"
    "Please strictly follow the format.";

std::string coord(int64_t v) { return std::to_string(v); }

}  // namespace

PromptStyle parse_prompt_style(const std::string& name) {
  if (name == "train") return PromptStyle::train;
  if (name == "eval") return PromptStyle::eval;
  throw Error("prompt style '" + name + "': expected train or eval");
}

std::string detection_prompt(std::string_view category, PromptStyle style) {
  const std::string sep = style == PromptStyle::eval ? "\n" : " ";
  const std::string c(category);
  // Note the missing space in "tags.The output": the reference joins its strings that way.
  return "Detect all objects belonging to the category '" + c +
         "' in the image, and provide the bounding boxes (between 0 and 1000, integer) and confidence "
         "(between 0 and 1, with two decimal places)." +
         sep + "If no object belonging to the category '" + c + "' in the image, return 'No Objects'." + sep +
         "Output the thinking process in <think> </think> and final answer in <answer> </answer> tags."
         "The output answer format should be as follows:" +
         sep + "<think> ... </think> <answer>[{'Position': [x1, y1, x2, y2], 'Confidence': number}, ...]</answer>" +
         sep + "Please strictly follow the format.";
}

std::string eval_question(std::string_view question) { return "<image>\n" + std::string(question); }

std::string detection_solution(const std::vector<std::array<int64_t, 4>>& boxes) {
  std::string s = "<answer>[";
  for (size_t i = 0; i < boxes.size(); ++i) {
    const auto& b = boxes[i];
    if (i) s += ", ";
    s += "{'Position': [" + coord(b[0]) + ", " + coord(b[1]) + ", " + coord(b[2]) + ", " + coord(b[3]) +
         "], 'Confidence': 1}";
  }
  return s + "]</answer>";
}

const std::vector<std::string>& classification_subjects() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> v;
    for (const auto& s : kSubjects) v.push_back(s.name);
    return v;
  }();
  return names;
}

std::string classification_prompt(std::string_view subject) {
  for (const auto& s : kSubjects) {
    if (subject != s.name) continue;
    return std::string("This is an image containing ") + s.article + " " + s.name + ". Please identify the " + s.kind +
           " of the " + s.name + " based on the image.\n" + kClsFormat;
  }
  std::string list;
  for (const auto& s : kSubjects) list += std::string(list.empty() ? "" : ", ") + s.name;
  throw Error("classification subject '" + std::string(subject) + "': expected one of " + list);
}

std::string guess_classification_subject(std::string_view list_path) {
  const size_t slash = list_path.find_last_of('/');
  std::string name(list_path.substr(slash == std::string_view::npos ? 0 : slash + 1));
  std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
  // The data sets' usual file and dataset names; the first match wins.
  if (name.find("aircraft") != std::string::npos) return "aircraft";
  if (name.find("flower") != std::string::npos) return "plant";
  if (name.find("pet") != std::string::npos) return "pet";
  if (name.find("car") != std::string::npos) return "car";
  return "";
}

std::string classification_solution(std::string_view classname) {
  return "<answer>" + std::string(classname) + "</answer>";
}

std::string grounding_prompt(std::string_view instruction, PromptStyle style) {
  return "Output the bounding box in the image corresponding to the instruction: " + std::string(instruction) +
         (style == PromptStyle::eval ? ". " : " ") +
         "Output the thinking process in <think> </think> and your grouding box. Following \"<think> thinking process "
         "</think>\n<answer>(x1,y1),(x2,y2)</answer>)\" format.";
}

std::string grounding_solution(const std::array<int64_t, 4>& b) {
  return "<answer> (" + coord(b[0]) + "," + coord(b[1]) + "),(" + coord(b[2]) + "," + coord(b[3]) + ") </answer>";
}

int64_t to_unit1000(double pixels, int64_t size) {
  return std::clamp<int64_t>(std::llround(pixels / static_cast<double>(size) * 1000.0), 0, 1000);
}

}  // namespace vrft
