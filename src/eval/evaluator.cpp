// src/eval/evaluator.cpp: `visual-rft eval` (see the header): samples, batched generation,
// judgements, metrics and the files of eval/NAME/, top to bottom.
#include "visual_rft/eval/evaluator.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <map>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <optional>

#include "visual_rft/core/error.h"
#include "visual_rft/core/fs.h"
#include "visual_rft/core/log.h"
#include "visual_rft/eval/task_metrics.h"
#include "visual_rft/rollout/generator.h"
#include "visual_rft/train/run_util.h"

namespace vrft::eval {
namespace {

using Clock = std::chrono::steady_clock;
using nlohmann::json;

double since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// One sample with its ground truth read.
struct Item {
  const Sample* sample = nullptr;
  Solution solution;
  std::string category;  // det: from the prompt
};

// The model's answer to one item.
struct Answer {
  std::string text;
  std::string finish_reason;  // stop | length
  int64_t tokens = 0;
  int64_t width = 0, height = 0;  // of the original image
};

// What is drawn on an image.
struct Overlay {
  std::vector<Box> truth;
  std::vector<DrawnBox> predicted;
};

// Everything scoring produces, for the files.
struct Scored {
  std::vector<json> records;  // per sample, without the common fields
  json metrics;               // the task's numbers
  std::string summary;        // the task's markdown
  std::vector<Overlay> overlays;
};

json box_json(const Box& b) { return json::array({b.x1, b.y1, b.x2, b.y2}); }
std::string pct(double v) { return v < 0 ? "–" : fmt::format("{:.2f}", 100 * v); }

std::vector<Item> read_items(const std::vector<Sample>& samples, Task task, const std::string& path) {
  std::vector<Item> items;
  for (const Sample& s : samples) {
    Item it;
    it.sample = &s;
    try {
      it.solution = parse_solution(task, s.solution);
    } catch (const Error& e) {
      throw Error(fmt::format("eval.data {}: sample {} ({}): {}", path, s.index, s.image, e.what()));
    }
    if (task == Task::det) {
      std::optional<std::string> c = detection_category(s.problem);
      if (!c) {
        throw Error(
            fmt::format("eval.data {}: sample {} ({}): the problem names no category: expected \"... the "
                        "category '<name>' ...\" as in the Visual-RFT detection prompt",
                        path, s.index, s.image));
      }
      it.category = *c;
    }
    items.push_back(std::move(it));
  }
  return items;
}

// ---- generation -----------------------------------------------------------------------------------

std::vector<Answer> generate_answers(const Config& cfg, const std::string& model_dir, const std::vector<Item>& items,
                                     json* gen_info) {
  const torch::Device dev = resolve_device(cfg.model.device);
  const torch::Dtype dtype = resolve_dtype(cfg.model.dtype, dev);
  PromptEncoder enc = PromptEncoder::from_model_dir(model_dir);
  enc.processor().min_pixels = cfg.data.min_pixels;
  enc.processor().max_pixels = cfg.data.max_pixels;
  auto model = load_qwen2vl(model_dir, dtype, dev);
  model->eval();
  for (auto& p : model->parameters()) p.set_requires_grad(false);
  log_info("model: {} ({}, {})", model_dir, c10::toString(dtype), dev.str());
  Generator gen(model, &enc.tokenizer());

  GenerateConfig g;
  g.num_samples = 1;
  g.max_new_tokens = cfg.eval.max_new_tokens;
  g.sampling.greedy = cfg.eval.temperature == 0;
  g.sampling.temperature = cfg.eval.temperature > 0 ? cfg.eval.temperature : 1.0;
  g.seed = static_cast<uint64_t>(cfg.train.seed);
  g.pad_token_id = enc.tokens().pad;
  g.decode = cfg.rollout.decode;

  const int64_t N = static_cast<int64_t>(items.size()), B = cfg.eval.batch_size;
  std::vector<Answer> answers(items.size());
  int64_t tokens = 0, truncated = 0;
  const auto t0 = Clock::now();
  torch::NoGradGuard no_grad;
  for (int64_t b0 = 0; b0 < N; b0 += B) {
    const int64_t n = std::min(B, N - b0);
    std::vector<PromptInput> inputs;
    GenerateConfig gc = g;
    for (int64_t i = b0; i < b0 + n; ++i) {
      const Sample& s = *items[static_cast<size_t>(i)].sample;
      inputs.push_back(sample_prompt(s, cfg.data.system_prompt));
      const cv::Mat& img = inputs.back().images.front();
      answers[static_cast<size_t>(i)].width = img.cols;
      answers[static_cast<size_t>(i)].height = img.rows;
      gc.prompt_keys.push_back(static_cast<uint64_t>(s.index));  // sampling independent of batching
    }
    RolloutBatch r = gen.generate(enc.encode(inputs), gc);
    for (int64_t k = 0; k < n; ++k) {
      Answer& a = answers[static_cast<size_t>(b0 + k)];
      a.text = r.texts[static_cast<size_t>(k)];
      a.finish_reason = r.finish_reasons[static_cast<size_t>(k)];
      a.tokens = r.completion_mask[k].sum().item<int64_t>();
      tokens += a.tokens;
      truncated += a.finish_reason == "length";
    }
    if (cfg.logging.progress) {
      const double el = since(t0), done = static_cast<double>(b0 + n);
      log_info("eval {}/{} ({:.0f}%)  {:.1f} s  ETA {:.0f} s  {:.1f} tok/s", b0 + n, N, 100 * done / N, el,
               el / done * (static_cast<double>(N) - done), static_cast<double>(tokens) / std::max(el, 1e-9));
    }
  }
  const double secs = since(t0);
  *gen_info = {{"batch_size", B},
               {"max_new_tokens", cfg.eval.max_new_tokens},
               {"temperature", cfg.eval.temperature},
               {"dtype", c10::toString(dtype)},
               {"device", dev.str()},
               {"generated_tokens", tokens},
               {"truncated_answers", truncated},
               {"seconds", secs},
               {"tokens_per_s", static_cast<double>(tokens) / std::max(secs, 1e-9)}};
  return answers;
}

// ---- scoring, one function per task -----------------------------------------------------------------

Scored score_cls(const std::vector<Item>& items, const std::vector<Answer>& answers, const Synonyms* synonyms) {
  Scored out;
  std::vector<std::string> labels;
  std::vector<ClsJudgement> js;
  for (size_t i = 0; i < items.size(); ++i) {
    const std::string& label = items[i].solution.label;
    ClsJudgement j = judge_classification(answers[i].text, label, synonyms);
    out.records.push_back({{"label", label},
                           {"prediction", j.answer ? json(*j.answer) : json(nullptr)},
                           {"correct_reference", j.reference},
                           {"correct_exact", j.exact},
                           {"score", j.reference ? 1.0 : 0.0}});
    labels.push_back(label);
    js.push_back(std::move(j));
  }
  const ClsMetrics m = classification_metrics(labels, js);
  json per = json::array();
  std::string table =
      "| class | samples | accuracy (reference rule, %) | accuracy (exact, %) |\n|---|---:|---:|---:|\n";
  for (const auto& c : m.per_class) {
    const double n = static_cast<double>(c.n);
    per.push_back({{"label", c.label},
                   {"samples", c.n},
                   {"correct_reference", c.correct_reference},
                   {"correct_exact", c.correct_exact},
                   {"accuracy_reference", static_cast<double>(c.correct_reference) / n},
                   {"accuracy_exact", static_cast<double>(c.correct_exact) / n}});
    table += fmt::format("| {} | {} | {} | {} |\n", c.label, c.n, pct(static_cast<double>(c.correct_reference) / n),
                         pct(static_cast<double>(c.correct_exact) / n));
  }
  out.metrics = {{"accuracy_reference", m.accuracy_reference},
                 {"accuracy_exact", m.accuracy_exact},
                 {"correct_reference", m.correct_reference},
                 {"correct_exact", m.correct_exact},
                 {"no_answer", m.no_answer},
                 {"per_class", per}};
  out.summary =
      fmt::format(
          "| metric | value |\n|---|---:|\n| accuracy, reference rule (%) | {} |\n| accuracy, exact match (%) | {} |\n"
          "| answers without <answer> | {} |\n\n",
          pct(m.accuracy_reference), pct(m.accuracy_exact), m.no_answer) +
      table;
  return out;
}

Scored score_det(const std::vector<Item>& items, const std::vector<Answer>& answers) {
  Scored out;
  std::vector<DetSample> ds;
  std::map<std::string, int64_t> status_count{{"ok", 0}, {"partial", 0}, {"no_objects", 0}, {"malformed", 0}};
  int64_t n_pred = 0, n_true = 0;
  for (size_t i = 0; i < items.size(); ++i) {
    const Answer& a = answers[i];
    const DetParse p = parse_detection_eval(a.text);
    DetSample d;
    d.image_id = items[i].sample->index + 1;
    d.category = items[i].category;
    d.width = a.width;
    d.height = a.height;
    d.truth = items[i].solution.boxes;
    d.predicted = p.objects;
    ++status_count[det_status_name(p.status)];
    n_pred += static_cast<int64_t>(p.objects.size());
    n_true += static_cast<int64_t>(d.truth.size());
    json truth = json::array(), pred = json::array();
    Overlay ov;
    for (const Box& b : d.truth) {
      truth.push_back(box_json(b));
      ov.truth.push_back(b);
    }
    for (const auto& o : p.objects) {
      const BoxXYWH px = box_to_pixels(o.box, a.width, a.height);
      pred.push_back({{"box", box_json(o.box)}, {"confidence", o.confidence}, {"bbox_xywh", {px.x, px.y, px.w, px.h}}});
      ov.predicted.push_back({o.box, o.confidence});
    }
    out.records.push_back({{"category", d.category},
                           {"image_id", d.image_id},
                           {"image_size", {a.width, a.height}},
                           {"truth", truth},
                           {"prediction", pred},
                           {"parse", det_status_name(p.status)},
                           {"score", detection_sample_score(d.truth, d.predicted)}});
    out.overlays.push_back(std::move(ov));
    ds.push_back(std::move(d));
  }
  const DetMetrics m = detection_metrics(ds);
  json stats = json::object(), per = json::array();
  for (int k = 0; k < CocoEvalResult::kNumStats; ++k) stats[coco_stat_names()[k]] = m.coco.stats[k];
  std::string table =
      "| category | images | true boxes | predicted | AP | AP50 | AP75 |\n|---|---:|---:|---:|---:|---:|---:|\n";
  for (const auto& c : m.per_category) {
    per.push_back({{"name", c.name},
                   {"id", c.id},
                   {"images", c.images},
                   {"true_boxes", c.true_boxes},
                   {"predicted_boxes", c.predicted_boxes},
                   {"ap", c.ap},
                   {"ap50", c.ap50},
                   {"ap75", c.ap75}});
    table += fmt::format("| {} | {} | {} | {} | {} | {} | {} |\n", c.name, c.images, c.true_boxes, c.predicted_boxes,
                         pct(c.ap), pct(c.ap50), pct(c.ap75));
  }
  out.metrics = {{"map", m.coco.stats[0]},
                 {"ap50", m.coco.stats[1]},
                 {"ap75", m.coco.stats[2]},
                 {"mean_category_ap", m.mean_category_ap},
                 {"mean_category_ap50", m.mean_category_ap50},
                 {"coco_stats", stats},
                 {"answers", status_count},
                 {"true_boxes", n_true},
                 {"predicted_boxes", n_pred},
                 {"per_category", per}};
  out.summary =
      fmt::format(
          "| metric | value |\n|---|---:|\n| mAP (AP .5:.95, %) | {} |\n| AP50 (%) | {} |\n| AP75 (%) | {} |\n"
          "| mean of per-category AP (%) | {} |\n| answers ok / partial / No Objects / malformed | {} / {} / {} / {} "
          "|\n"
          "| true / predicted boxes | {} / {} |\n\n",
          pct(m.coco.stats[0]), pct(m.coco.stats[1]), pct(m.coco.stats[2]), pct(m.mean_category_ap), status_count["ok"],
          status_count["partial"], status_count["no_objects"], status_count["malformed"], n_true, n_pred) +
      table + "\nCOCOeval summary:\n\n```\n" + coco_summary_text(m.coco) + "```\n";
  return out;
}

Scored score_ground(const std::vector<Item>& items, const std::vector<Answer>& answers) {
  Scored out;
  std::vector<GroundJudgement> js;
  for (size_t i = 0; i < items.size(); ++i) {
    const Box& truth = items[i].solution.box;
    GroundJudgement j = judge_grounding(answers[i].text, truth);
    auto opt_box = [](const std::optional<Box>& b) { return b ? box_json(*b) : json(nullptr); };
    out.records.push_back({{"truth", box_json(truth)},
                           {"prediction", opt_box(j.reference_box)},
                           {"prediction_strict", opt_box(j.strict_box)},
                           {"iou", j.iou_reference},
                           {"iou_strict", j.iou_strict},
                           {"score", j.iou_reference}});
    Overlay ov;
    ov.truth.push_back(truth);
    if (j.reference_box || j.strict_box)
      ov.predicted.push_back({j.reference_box ? *j.reference_box : *j.strict_box, std::nullopt});
    out.overlays.push_back(std::move(ov));
    js.push_back(std::move(j));
  }
  const GroundMetrics m = grounding_metrics(js);
  out.metrics = {{"miou", m.miou_reference},       {"acc50", m.acc50_reference},   {"miou_strict", m.miou_strict},
                 {"acc50_strict", m.acc50_strict}, {"no_box", m.no_box_reference}, {"no_box_strict", m.no_box_strict}};
  out.summary = fmt::format(
      "| metric | reference rule | strict |\n|---|---:|---:|\n| mIoU (%) | {} | {} |\n| IoU >= 0.5 (%) | {} | {} |\n"
      "| answers without a box | {} | {} |\n",
      pct(m.miou_reference), pct(m.miou_strict), pct(m.acc50_reference), pct(m.acc50_strict), m.no_box_reference,
      m.no_box_strict);
  return out;
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

std::string eval_output_dir(const Config& cfg, const EvalRunOptions& opt) {
  if (!opt.output_dir.empty()) return opt.output_dir;
  if (!cfg.eval.output_dir.empty()) return cfg.eval.output_dir;
  return "eval/" + opt.config_name;
}

EvalOutcome run_evaluation(const Config& cfg, const EvalRunOptions& opt) {
  validate(cfg);
  if (cfg.eval.data.empty()) {
    throw ConfigError(
        "eval.data is empty: set it to a Visual-RFT JSONL (--set eval.data=FILE); to score the "
        "training set, give data.train's file");
  }
  const Task task = parse_task(cfg.data.task);
  const std::string model_dir = opt.model_dir.empty() ? cfg.model.path : opt.model_dir;
  if (model_dir.empty()) throw ConfigError("no model: give --model DIR or set model.path");
  EvalOutcome outcome;
  outcome.output_dir = eval_output_dir(cfg, opt);
  const std::string& out = outcome.output_dir;

  // ---- samples ----
  LoadReport rep;
  std::vector<Sample> samples =
      load_visual_rft_jsonl(cfg.eval.data, cfg.data.image_root, cfg.data.missing_images == "skip", &rep);
  if (opt.limit > 0 && static_cast<int64_t>(samples.size()) > opt.limit) samples.resize(static_cast<size_t>(opt.limit));
  if (samples.empty()) throw Error("eval.data " + cfg.eval.data + ": no samples to evaluate");
  log_info("data: {} {} samples from {} ({} missing images skipped{})", samples.size(), task_name(task), cfg.eval.data,
           rep.missing_images, opt.limit > 0 ? fmt::format(", --limit {}", opt.limit) : "");
  const std::vector<Item> items = read_items(samples, task, cfg.eval.data);
  Synonyms synonyms;
  if (!cfg.rewards.synonyms.empty()) synonyms = load_synonyms(cfg.rewards.synonyms);

  // ---- answers, judgements ----
  json gen_info;
  const std::vector<Answer> answers = generate_answers(cfg, model_dir, items, &gen_info);
  Scored sc = task == Task::cls   ? score_cls(items, answers, cfg.rewards.synonyms.empty() ? nullptr : &synonyms)
              : task == Task::det ? score_det(items, answers)
                                  : score_ground(items, answers);

  // ---- files ----
  std::filesystem::create_directories(out);
  std::string lines;
  for (size_t i = 0; i < items.size(); ++i) {
    const Sample& s = *items[i].sample;
    json rec = {{"index", s.index},           {"image", s.image},          {"problem", s.problem},
                {"solution", s.solution},     {"answer", answers[i].text}, {"finish_reason", answers[i].finish_reason},
                {"tokens", answers[i].tokens}};
    rec.update(sc.records[i]);
    lines += rec.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
  }
  write_file_atomic(out + "/predictions.jsonl", lines);

  json metrics = {{"task", task_name(task)},
                  {"model", model_dir},
                  {"data", cfg.eval.data},
                  {"samples", static_cast<int64_t>(items.size())},
                  {"skipped_missing_images", rep.missing_images},
                  {"generation", gen_info}};
  metrics.update(sc.metrics);
  write_file_atomic(out + "/metrics.json", metrics.dump(2, ' ', false, json::error_handler_t::replace) + "\n");

  const std::string summary =
      fmt::format(
          "# Evaluation: {} on {}\n\nmodel `{}`, {} samples ({} missing images skipped), {} tokens generated "
          "({} cut at max_new_tokens)\n\n",
          task_name(task), cfg.eval.data, model_dir, items.size(), rep.missing_images,
          gen_info["generated_tokens"].get<int64_t>(), gen_info["truncated_answers"].get<int64_t>()) +
      sc.summary;
  write_file_atomic(out + "/summary.md", summary);

  if (task != Task::cls && cfg.eval.draw_images > 0) {
    std::filesystem::create_directories(out + "/images");
    const size_t n = std::min(items.size(), static_cast<size_t>(cfg.eval.draw_images));
    for (size_t i = 0; i < n; ++i) {
      std::vector<uchar> jpg;
      const cv::Mat drawn =
          draw_boxes(load_image_rgb(items[i].sample->image), sc.overlays[i].truth, sc.overlays[i].predicted);
      if (!cv::imencode(".jpg", drawn, jpg))
        throw Error("cannot encode the drawing of " + items[i].sample->image + " as JPEG");
      write_file_atomic(fmt::format("{}/images/{:06d}.jpg", out, items[i].sample->index),
                        std::string_view(reinterpret_cast<const char*>(jpg.data()), jpg.size()));
    }
  }
  outcome.metrics = std::move(metrics);
  outcome.summary = summary;
  return outcome;
}

}  // namespace vrft::eval
