// src/eval/evaluator.cpp: `visual-rft eval` (see the header): the questions (eval_inputs.h),
// batched generation or answers replayed from a file, scoring (eval_scoring.h) and the files
// of eval/NAME/, top to bottom.
#include "visual_rft/eval/evaluator.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <optional>

#include "eval_scoring.h"
#include "visual_rft/core/device.h"
#include "visual_rft/core/error.h"
#include "visual_rft/core/fs.h"
#include "visual_rft/core/log.h"
#include "visual_rft/data/prompt.h"
#include "visual_rft/eval/eval_inputs.h"
#include "visual_rft/eval/task_metrics.h"
#include "visual_rft/model/lora.h"
#include "visual_rft/reward/rewards.h"
#include "visual_rft/rollout/generator.h"
#include "visual_rft/rollout/rollout_rewards.h"
#include "visual_rft/rollout/sampling.h"

namespace vrft {
namespace {

using Clock = std::chrono::steady_clock;
using detail::Answer;
using detail::Scored;
using nlohmann::json;

double since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// ---- generation -----------------------------------------------------------------------------------

// sample_prompt (train/run_util.h) with the decoded image reused: COCO/LVIS questions come
// image by image, several per image.
struct PromptBuilder {
  std::string system_prompt;
  int64_t max_image_pixels = kMaxImagePixels;  // data.max_image_pixels
  bool question_first = false;                 // data.image_position: after_text
  std::string last_path;
  cv::Mat last_image;

  PromptInput operator()(const Sample& s) {
    if (s.image != last_path) {
      last_image = load_image_rgb(s.image, max_image_pixels);
      last_path = s.image;
    }
    // The image shared, not copied: the encoder only reads it.
    return image_prompt(system_prompt, {last_image}, s.problem, question_first);
  }
};

// The answers of every rank in question order: rank r answered questions r, r + W, ... (see
// EvalShard), each sent as a JSON array.
std::vector<Answer> gather_answers(const EvalShard& shard, const std::vector<Answer>& mine, size_t n_items) {
  std::vector<std::string> sent;
  for (const Answer& a : mine)
    sent.push_back(json{a.text, a.finish_reason, a.tokens, a.width, a.height, a.sample, a.sample_rewards}.dump());
  const std::vector<std::string> got = shard.all_gather(sent);
  if (got.size() != n_items)
    throw Error(fmt::format("eval: {} answers gathered from the ranks for {} questions", got.size(), n_items));
  std::vector<Answer> all(n_items);
  size_t k = 0;
  for (int r = 0; r < shard.world; ++r) {
    for (size_t i = static_cast<size_t>(r); i < n_items; i += static_cast<size_t>(shard.world), ++k) {
      const json j = json::parse(got[k]);
      all[i] = {j[0].get<std::string>(),
                j[1].get<std::string>(),
                j[2].get<int64_t>(),
                j[3].get<int64_t>(),
                j[4].get<int64_t>(),
                j[5].get<int64_t>(),
                j[6].get<std::vector<double>>()};
    }
  }
  return all;
}

// eval.best_of: which of each question's K sampled answers to keep, the first of those with
// the highest total reward (rewards.*, against the question's truth), and every sample's total.
// The batch's n questions are scored at once, as a GRPO step scores its rollouts (rows are
// question-major: [n, K]). An oracle, as pass@k is: it reads the truth to choose, so it says
// what the model can answer in K tries (the most a reinforcement step could sharpen into one
// answer), not a score it reaches alone.
void keep_best_samples(const RewardSet& rewards, const EvalItem* items, int64_t n, const RolloutBatch& r, int64_t K,
                       Answer* answers) {
  std::vector<const Sample*> rows;
  std::vector<const Solution*> sols;
  for (int64_t k = 0; k < n; ++k) {
    rows.push_back(&items[k].sample);
    sols.push_back(&items[k].solution);
  }
  const std::vector<RewardScores> scores = score_rollouts(rewards, rows, sols, r, K);
  for (int64_t k = 0; k < n; ++k) {
    std::vector<double>& totals = answers[k].sample_rewards;
    totals.clear();
    for (int64_t j = 0; j < K; ++j) totals.push_back(scores[static_cast<size_t>(k * K + j)].total);
    answers[k].sample = std::max_element(totals.begin(), totals.end()) - totals.begin();  // the first of equals
  }
}

std::vector<Answer> generate_answers(const Config& cfg, const std::string& model_dir, const EvalRunOptions& opt,
                                     const std::vector<EvalItem>& all_items, json* gen_info) {
  const torch::Device dev = resolve_device(cfg.model.device);
  PromptEncoder enc = PromptEncoder::from_model_dir(model_dir);
  if (cfg.eval.pixels == EvalPixels::config) {  // else the model folder's, as PromptEncoder read it
    enc.processor().min_pixels = cfg.data.min_pixels;
    enc.processor().max_pixels = cfg.data.max_pixels;
  }
  Qwen2VLForConditionalGeneration model = opt.model;
  const bool was_training = model && model->is_training();
  if (!model) {
    model = load_model(model_dir, resolve_dtype(cfg.model.dtype, dev), dev);
    for (auto& p : model->parameters()) p.set_requires_grad(false);
  }
  model->eval();
  const torch::Dtype dtype = model->parameters().front().scalar_type();
  log_info("model: {} ({}, {})", opt.model ? "the policy in training" : model_dir, c10::toString(dtype), dev.str());
  Generator gen(model, &enc.tokenizer());
  // This rank's questions (all of them in one process).
  const EvalShard& shard = opt.shard;
  std::vector<EvalItem> shard_items;
  for (size_t i = static_cast<size_t>(shard.rank); i < all_items.size(); i += static_cast<size_t>(shard.world))
    shard_items.push_back(all_items[i]);
  const std::vector<EvalItem>& items = shard.world > 1 ? shard_items : all_items;

  // eval.best_of > 1 samples K answers per question and keeps the one its rewards rank first.
  const int64_t K = cfg.eval.best_of;
  std::optional<RewardSet> rewards;
  if (K > 1) rewards.emplace(cfg.data.task, cfg.rewards);
  GenerateConfig g;
  g.num_samples = K;
  g.max_new_tokens = cfg.eval.max_new_tokens;
  // eval.repetition_penalty 0: the model folder's, as transformers' generate() applies it.
  g.sampling =
      sampling_settings(cfg.eval.temperature, 0, 1.0, 0.0,
                        cfg.eval.repetition_penalty > 0 ? cfg.eval.repetition_penalty : model->cfg.repetition_penalty);
  g.seed = static_cast<uint64_t>(cfg.train.seed);
  g.pad_token_id = enc.tokens().pad;
  g.decode = cfg.rollout.decode;

  const int64_t N = static_cast<int64_t>(items.size()), B = cfg.eval.batch_size;
  std::vector<Answer> answers(items.size());
  PromptBuilder prompt{
      cfg.data.system_prompt, cfg.data.max_image_pixels, cfg.data.image_position == ImagePosition::after_text, {}, {}};
  int64_t tokens = 0, truncated = 0, sampled = 0;
  const auto t0 = Clock::now();
  torch::NoGradGuard no_grad;
  for (int64_t b0 = 0; b0 < N; b0 += B) {
    const int64_t n = std::min(B, N - b0);
    std::vector<PromptInput> inputs;
    GenerateConfig gc = g;
    for (int64_t i = b0; i < b0 + n; ++i) {
      const Sample& s = items[static_cast<size_t>(i)].sample;
      inputs.push_back(prompt(s));
      const cv::Mat& img = inputs.back().images.front();
      answers[static_cast<size_t>(i)].width = img.cols;
      answers[static_cast<size_t>(i)].height = img.rows;
      gc.prompt_keys.push_back(static_cast<uint64_t>(s.index));  // sampling independent of batching
    }
    RolloutBatch r = gen.generate(enc.encode(inputs), gc);
    if (rewards)
      keep_best_samples(*rewards, &items[static_cast<size_t>(b0)], n, r, K, &answers[static_cast<size_t>(b0)]);
    for (int64_t k = 0; k < n; ++k) {
      Answer& a = answers[static_cast<size_t>(b0 + k)];
      const int64_t row = k * K + a.sample;  // rows are prompt-major: [n, K]
      a.text = r.texts[static_cast<size_t>(row)];
      a.finish_reason = r.finish_reasons[static_cast<size_t>(row)];
      a.tokens = r.completion_mask[row].sum().item<int64_t>();
      tokens += a.tokens;
      truncated += a.finish_reason == "length";
    }
    sampled += r.completion_mask.sum().item<int64_t>();  // every sample's, for the rate
    const double el = since(t0), done = static_cast<double>(b0 + n);
    const std::string line =
        fmt::format("eval {}/{} ({:.0f}%)  {:.1f} s  ETA {:.0f} s  {:.1f} tok/s", b0 + n, N, 100 * done / N, el,
                    el / done * (static_cast<double>(N) - done), static_cast<double>(sampled) / std::max(el, 1e-9));
    log_progress(cfg.logging.progress, line);
  }
  if (was_training) model->train();
  if (shard.world > 1) {
    answers = gather_answers(shard, answers, all_items.size());
    tokens = truncated = 0;
    for (const Answer& a : answers) {
      tokens += a.tokens;
      truncated += a.finish_reason == "length";
    }
  }
  const double secs = since(t0);
  *gen_info = {{"batch_size", B},
               {"max_new_tokens", cfg.eval.max_new_tokens},
               {"temperature", cfg.eval.temperature},
               {"best_of", K},
               {"repetition_penalty", g.sampling.repetition_penalty},
               {"min_pixels", enc.processor().min_pixels},
               {"max_pixels", enc.processor().max_pixels},
               {"dtype", c10::toString(dtype)},
               {"device", dev.str()},
               {"generated_tokens", tokens},
               {"truncated_answers", truncated},
               {"seconds", secs},
               {"tokens_per_s", static_cast<double>(tokens) / std::max(secs, 1e-9)}};
  if (K > 1) (*gen_info)["sampled_tokens"] = sampled;  // all K samples of this process's questions
  return answers;
}

// The answers of an earlier run's predictions.jsonl, matched by index; each record must ask
// the same question of the same image, so that a file from another set is refused.
std::vector<Answer> replay_answers(const std::string& path, const std::vector<EvalItem>& items, json* gen_info) {
  std::ifstream in(path);
  if (!in) throw FileError("answers file '" + path + "' cannot be opened");
  std::map<int64_t, json> by_index;
  int64_t line_no = 0;
  for (std::string line; std::getline(in, line);) {
    ++line_no;
    if (line.empty()) continue;
    const std::string where = path + ":" + std::to_string(line_no);
    json j;
    try {
      j = json::parse(line);
    } catch (const json::parse_error& e) {
      throw FileError(where + ": not valid JSON: " + e.what());
    }
    if (!j.is_object() || !j.contains("index") || !j["index"].is_number_integer() || !j.contains("answer") ||
        !j["answer"].is_string() || !j.contains("problem") || !j.contains("image"))
      throw FileError(where + ": expected a predictions.jsonl record with index, image, problem and answer");
    j["line"] = line_no;
    const int64_t index = j["index"].get<int64_t>();  // before the move below
    by_index[index] = std::move(j);
  }
  std::vector<Answer> answers(items.size());
  int64_t tokens = 0, truncated = 0;
  for (size_t i = 0; i < items.size(); ++i) {
    const Sample& s = items[i].sample;
    auto it = by_index.find(s.index);
    if (it == by_index.end()) throw FileError(fmt::format("answers file {}: no record of index {}", path, s.index));
    const json& j = it->second;
    if (j["problem"] != s.problem || j["image"] != s.image) {
      throw FileError(fmt::format("{}:{}: index {} asks another question or image than the evaluation set ({})", path,
                                  j["line"].get<int64_t>(), s.index, s.image));
    }
    Answer& a = answers[i];
    a.text = j["answer"].get<std::string>();
    a.finish_reason = j.value("finish_reason", "stop");
    a.tokens = j.value("tokens", int64_t{0});
    tokens += a.tokens;
    truncated += a.finish_reason == "length";
    if (items[i].width == 0) {  // the size boxes are mapped with (COCO/LVIS have it from the file)
      const cv::Mat img = load_image_rgb(s.image);
      a.width = img.cols;
      a.height = img.rows;
    }
  }
  *gen_info = {{"answers_from", path}, {"generated_tokens", tokens}, {"truncated_answers", truncated}};
  return answers;
}

}  // namespace

cv::Mat draw_boxes(const cv::Mat& rgb, const std::vector<Box>& truth, const std::vector<DrawnBox>& predicted) {
  cv::Mat bgr;
  cv::cvtColor(rgb, bgr, cv::COLOR_RGB2BGR);
  const double W = bgr.cols, H = bgr.rows;
  const int thick = std::max(2, static_cast<int>(std::min(W, H) / 300));
  const double font = std::max(0.5, std::min(W, H) / 800);
  auto px = [](double v, double size) { return static_cast<int>(std::lround(v / 1000 * size)); };
  auto rect = [&](const Box& b) {
    return cv::Rect(cv::Point(px(std::min(b.x1, b.x2), W), px(std::min(b.y1, b.y2), H)),
                    cv::Point(px(std::max(b.x1, b.x2), W), px(std::max(b.y1, b.y2), H)));
  };
  const cv::Scalar green(0, 200, 0), red(0, 0, 255);
  for (const Box& b : truth) cv::rectangle(bgr, rect(b), green, thick);
  const int line = static_cast<int>(std::lround(22 * font));
  for (const DrawnBox& d : predicted) {
    const cv::Rect r = rect(d.box);
    cv::rectangle(bgr, r, red, thick);
    if (d.confidence) {
      cv::putText(bgr, fmt::format("{:.2f}", *d.confidence),
                  cv::Point(r.x + thick, r.y > line ? r.y - thick : r.y + line), cv::FONT_HERSHEY_SIMPLEX, font, red,
                  std::max(1, thick / 2));
    }
  }
  cv::putText(bgr, "true", cv::Point(4, bgr.rows - 4 - line), cv::FONT_HERSHEY_SIMPLEX, font, green,
              std::max(1, thick / 2));
  cv::putText(bgr, "predicted", cv::Point(4, bgr.rows - 4), cv::FONT_HERSHEY_SIMPLEX, font, red,
              std::max(1, thick / 2));
  return bgr;
}

const char* headline_metric(Task task) {
  return task == Task::cls ? "accuracy_exact" : task == Task::det ? "map" : "miou";
}

std::string eval_output_dir(const Config& cfg, const EvalRunOptions& opt) {
  if (!opt.output_dir.empty()) return opt.output_dir;
  if (!cfg.eval.output_dir.empty()) return cfg.eval.output_dir;
  return "eval/" + opt.config_name;
}

EvalOutcome run_evaluation(const Config& cfg, const EvalRunOptions& opt) {
  validate(cfg);
  const Task task = cfg.data.task;
  const std::string model_dir = opt.model_dir.empty() ? cfg.model.path : opt.model_dir;
  if (model_dir.empty() && opt.answers_file.empty()) throw ConfigError("no model: give --model DIR or set model.path");
  if (opt.shard.world > 1 && !opt.shard.all_gather) throw Error("eval: a split evaluation needs shard.all_gather");
  if (cfg.eval.best_of > 1 && !opt.answers_file.empty())
    throw ConfigError("eval.best_of: " + std::to_string(cfg.eval.best_of) +
                      " samples per question cannot come from --answers, which replays one answer per question; set "
                      "eval.best_of to 1");
  EvalOutcome outcome;
  outcome.output_dir = eval_output_dir(cfg, opt);
  const std::string& out = outcome.output_dir;

  // ---- questions ----
  const EvalSet set = load_eval_set(cfg, opt.limit);
  const std::vector<EvalItem>& items = set.items;
  log_info("data: {} {} questions from {} ({}; {} missing images skipped{})", items.size(), task_name(task), set.source,
           eval_input_name(set.input), set.report.missing_images,
           opt.limit > 0 ? fmt::format(", --limit {}", opt.limit) : "");
  Synonyms synonyms;
  if (!cfg.rewards.synonyms.empty()) synonyms = load_synonyms(cfg.rewards.synonyms);

  // ---- answers, judgements ----
  json gen_info;
  const std::vector<Answer> answers = opt.answers_file.empty() ? generate_answers(cfg, model_dir, opt, items, &gen_info)
                                                               : replay_answers(opt.answers_file, items, &gen_info);
  const bool det_file = set.input == EvalInput::coco || set.input == EvalInput::lvis;
  Scored sc = task == Task::cls ? detail::score_cls(items, answers, cfg.rewards.synonyms.empty() ? nullptr : &synonyms)
              : det_file        ? detail::score_det_file(set, answers)
              : task == Task::det ? detail::score_det(items, answers)
                                  : detail::score_ground(items, answers);

  // ---- files (rank 0 of a split evaluation; every rank has the metrics) ----
  const bool writes = opt.shard.rank == 0;
  if (writes) std::filesystem::create_directories(out);
  std::string lines;
  for (size_t i = 0; i < items.size(); ++i) {
    const Sample& s = items[i].sample;
    json rec = {{"index", s.index},           {"image", s.image},          {"problem", s.problem},
                {"solution", s.solution},     {"answer", answers[i].text}, {"finish_reason", answers[i].finish_reason},
                {"tokens", answers[i].tokens}};
    rec.update(sc.records[i]);
    if (cfg.eval.best_of > 1 && opt.answers_file.empty())
      rec["best_of"] = {{"sample", answers[i].sample}, {"rewards", answers[i].sample_rewards}};
    lines += rec.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
  }
  if (writes) {
    write_file_atomic(out + "/predictions.jsonl", lines);
    if (sc.results)
      write_file_atomic(out + "/results.json", sc.results->dump() + "\n");
    else
      std::filesystem::remove(out + "/results.json");  // not another input's, left by an earlier run
  }

  const std::string model_name = opt.model ? "the policy in training" : model_dir;
  json metrics = {{"task", task_name(task)},
                  {"model", opt.answers_file.empty() ? json(model_name) : json(nullptr)},
                  {"data", set.source},
                  {"input", set.info},
                  {"samples", static_cast<int64_t>(items.size())},
                  {"skipped_missing_images", set.report.missing_images},
                  {"generation", gen_info}};
  metrics.update(sc.metrics);
  if (writes)
    write_file_atomic(out + "/metrics.json", metrics.dump(2, ' ', false, json::error_handler_t::replace) + "\n");

  const std::string who = !opt.answers_file.empty() ? fmt::format("answers from `{}`", opt.answers_file)
                          : opt.model               ? model_name
                                                    : fmt::format("model `{}`", model_name);
  const std::string summary =
      fmt::format(
          "# Evaluation: {} on {}\n\n{}, {} questions ({} missing images skipped), {} tokens generated "
          "({} cut at max_new_tokens)\n\n",
          task_name(task), set.source, who, items.size(), set.report.missing_images,
          gen_info["generated_tokens"].get<int64_t>(), gen_info["truncated_answers"].get<int64_t>()) +
      (cfg.eval.best_of > 1 ? fmt::format("Best of {} answers sampled at temperature {} per question, chosen by the "
                                          "rewards against the truth (an oracle, as pass@k is).\n\n",
                                          cfg.eval.best_of, cfg.eval.temperature)
                            : std::string()) +
      sc.summary;
  if (writes) write_file_atomic(out + "/summary.md", summary);

  // The run layout: eval/NAME/vis/*.jpg.
  if (writes && task != Task::cls && cfg.eval.draw_images > 0) {
    std::filesystem::create_directories(out + "/vis");
    const size_t n = std::min(items.size(), static_cast<size_t>(cfg.eval.draw_images));
    for (size_t i = 0; i < n; ++i) {
      std::vector<uchar> jpg;
      const cv::Mat drawn =
          draw_boxes(load_image_rgb(items[i].sample.image), sc.overlays[i].truth, sc.overlays[i].predicted);
      if (!cv::imencode(".jpg", drawn, jpg))
        throw Error("cannot encode the drawing of " + items[i].sample.image + " as JPEG");
      write_file_atomic(fmt::format("{}/vis/{:06d}.jpg", out, items[i].sample.index),
                        std::string_view(reinterpret_cast<const char*>(jpg.data()), jpg.size()));
    }
  }
  outcome.metrics = std::move(metrics);
  outcome.summary = summary;
  return outcome;
}

}  // namespace vrft
