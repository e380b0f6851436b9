// visual_rft/data/task_prompts.h: the question and answer texts of the Visual-RFT tasks
// (Visual-RFT's training and evaluation scripts), written into data sets as the
// `problem` and `solution` fields. The solutions are in the forms the reward parsers read
// (reward/rewards.h parse_solution); tests check that they parse back.
//
// Coordinates are integers in 0..1000 relative to the original image size (the Qwen2-VL
// convention): resizing the image through max_pixels does not change them.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace vrft {

// Detection. The training rows quoted in Visual-RFT issue #203 separate the sentences with
// spaces; the evaluation scripts with '\n'. Otherwise the two texts are the same.
enum class PromptStyle { train, eval };
PromptStyle parse_prompt_style(const std::string& name);  // "train" | "eval"

std::string detection_prompt(std::string_view category, PromptStyle style);
// The question as the reference's detection and classification evaluation scripts ask it:
// "<image>\n" + question, after the image item. "<image>" is not a special token of Qwen2-VL,
// so the model reads it as plain text ('<', 'image', '>\n'). Training rows and the LISA
// evaluation have no such prefix.
std::string eval_question(std::string_view question);
// <answer>[{'Position': [x1, y1, x2, y2], 'Confidence': 1}, ...]</answer>: Python's str() of
// the list, as in the released data sets (true confidence 1, no <think>).
std::string detection_solution(const std::vector<std::array<int64_t, 4>>& boxes);

// Classification: "This is an image containing an aircraft. Please identify the model of the
// aircraft based on the image.\n..." The official script has only the aircraft wording; plant
// (Flower102), pet and car come from a fork's consolidated script; flower is the paper's
// Fig. 4 wording.
const std::vector<std::string>& classification_subjects();    // aircraft, plant, flower, pet, car
std::string classification_prompt(std::string_view subject);  // throws Error for another subject
// The subject a list file's name suggests (fgvc_aircraft -> aircraft, oxford_flowers -> plant,
// pets -> pet, stanford_cars -> car); empty when none.
std::string guess_classification_subject(std::string_view list_path);
std::string classification_solution(std::string_view classname);  // <answer>name</answer>

// Reasoning grounding (LISA): grpo_lisa.py's training template ("...instruction: {text}
// Output the thinking...") or the evaluation one ("...instruction: {text}. Output...").
std::string grounding_prompt(std::string_view instruction, PromptStyle style);
// gen_sft.py's "<answer> (x1,y1),(x2,y2) </answer>".
std::string grounding_solution(const std::array<int64_t, 4>& box);

// A pixel coordinate as an integer in [0, 1000] of `size` pixels, rounded to nearest (the
// reference's LISA script truncates with int(); rounding halves the worst-case error).
int64_t to_unit1000(double pixels, int64_t size);

}  // namespace vrft
