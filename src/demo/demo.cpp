// src/demo/demo.cpp: `visual-rft demo` (see the header): data, then per task baseline,
// Visual-RFT and SFT with their evaluations, then the table, the curves and the drawings.
#include "visual_rft/demo/demo.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <opencv2/imgcodecs.hpp>

#include "visual_rft/core/config.h"
#include "visual_rft/core/error.h"
#include "visual_rft/core/fs.h"
#include "visual_rft/core/log.h"
#include "visual_rft/data/synth.h"
#include "visual_rft/demo/plot.h"
#include "visual_rft/eval/evaluator.h"
#include "visual_rft/train/grpo_trainer.h"
#include "visual_rft/train/sft_trainer.h"

namespace vrft {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using nlohmann::json;

// The three models of the table, in its order.
constexpr const char* kMethods[] = {"baseline", "sft", "rft"};
constexpr const char* kMethodNames[] = {"baseline", "+ SFT", "+ Visual-RFT"};

// The number the table shows for a task, from an evaluation's metrics.json, and its label.
// Classification: exact match (the reference's substring rule would count "circle" as right
// for "red striped circle", a hole these fine-grained names fall into; both are in
// results.json). Detection: COCO mAP (AP .5:.95). Grounding: the reference's mIoU.
const char* headline_key(Task t) { return t == Task::cls ? "accuracy_exact" : t == Task::det ? "map" : "miou"; }
const char* headline_label(Task t) {
  return t == Task::cls ? "classification accuracy" : t == Task::det ? "detection mAP" : "grounding mIoU";
}

// metrics.jsonl: one JSON object per line.
std::vector<json> read_jsonl(const std::string& path) {
  std::vector<json> rows;
  std::ifstream in(path);
  std::string line;
  int64_t n = 0;
  while (std::getline(in, line)) {
    ++n;
    if (line.empty()) continue;
    try {
      rows.push_back(json::parse(line));
    } catch (const json::exception& e) {
      throw FileError(fmt::format("{}:{}: not JSON: {}", path, n, e.what()));
    }
  }
  return rows;
}

// The series `key` (a number, or an object whose "mean" is one) of a metrics.jsonl per step.
Series metric_series(const std::vector<json>& rows, const std::string& key, const std::string& label) {
  Series s{label, {}, {}};
  for (const json& r : rows) {
    if (!r.contains(key) || !r.contains("step")) continue;
    const json& v = r[key].is_object() && r[key].contains("mean") ? r[key]["mean"] : r[key];
    if (!v.is_number()) continue;
    s.x.push_back(r["step"].get<double>());
    s.y.push_back(v.get<double>());
  }
  return s;
}

// The first `n` drawn evaluation images (eval writes them under vis/).
std::vector<cv::Mat> drawn_images(const std::string& eval_dir, size_t n) {
  std::vector<std::string> files;
  const fs::path dir = fs::path(eval_dir) / "vis";
  if (fs::exists(dir)) {
    for (const auto& e : fs::directory_iterator(dir)) files.push_back(e.path().string());
  }
  std::sort(files.begin(), files.end());
  std::vector<cv::Mat> out;
  for (size_t i = 0; i < files.size() && i < n; ++i) out.push_back(cv::imread(files[i], cv::IMREAD_COLOR));
  return out;
}

void write_png(const std::string& path, const cv::Mat& img) {
  std::vector<uchar> png;
  if (!cv::imencode(".png", img, png)) throw Error("cannot encode " + path + " as PNG");
  write_file_atomic(path, std::string_view(reinterpret_cast<const char*>(png.data()), png.size()));
}

std::string pct_1dp(double v) { return std::isfinite(v) ? fmt::format("{:.1f}", 100.0 * v) : "n/a"; }

class Stages {
 public:
  explicit Stages(int total) : total_(total), t0_(Clock::now()) {}
  void begin(const std::string& what) {
    log_info("[demo {}/{}, {:.0f} s] {}", ++done_, total_, std::chrono::duration<double>(Clock::now() - t0_).count(), what);
  }
  double elapsed() const { return std::chrono::duration<double>(Clock::now() - t0_).count(); }

 private:
  int total_, done_ = 0;
  Clock::time_point t0_;
};

}  // namespace

json read_demo_model_info(const std::string& model_dir) {
  if (!fs::exists(fs::path(model_dir) / "config.json")) {
    throw FileError("demo: no model folder at '" + model_dir + "' (make it with scripts/make_demo_model.sh, or pass --model DIR)");
  }
  const std::string path = (fs::path(model_dir) / "visual_rft_demo.json").string();
  if (!fs::exists(path)) {
    throw FileError("demo: '" + model_dir + "' has no visual_rft_demo.json naming its synthetic world (pass --seed S)");
  }
  try {
    json j = json::parse(read_file(path));
    if (!j.contains("synth_seed") || !j["synth_seed"].is_number_integer()) throw FileError(path + ": needs an integer synth_seed");
    return j;
  } catch (const json::exception& e) {
    throw FileError(path + ": not valid JSON: " + e.what());
  }
}

DemoResult run_demo(const DemoOptions& opt) {
  SynthConfig sc;
  if (opt.seed >= 0) {
    sc.seed = static_cast<uint64_t>(opt.seed);
  } else {
    sc.seed = read_demo_model_info(opt.model_dir)["synth_seed"].get<uint64_t>();
  }
  // Only the splits the demo uses: the model was pre-trained on base_train already.
  sc.base_per_category = 0;
  sc.shots = opt.shots;
  sc.eval_rows = opt.eval_rows;
  sc.tasks = opt.tasks;
  Config rft = load_config(opt.rft_config), sft = load_config(opt.sft_config);
  for (Config* c : {&rft, &sft}) {
    for (const std::string& s : opt.sets) apply_override(*c, s);
    c->model.path = opt.model_dir;
    if (opt.steps > 0) c->train.max_steps = opt.steps;
  }
  rft.train.trainer = "grpo";
  sft.train.trainer = "sft";

  Stages stages(1 + 5 * static_cast<int>(opt.tasks.size()) + 1);
  const std::string data_dir = opt.out_dir + "/data";
  stages.begin(fmt::format("synthetic world {}: {} few-shot rows per novel category, {} eval rows per task -> {}", sc.seed,
                           sc.shots, sc.eval_rows, data_dir));
  const json summary = write_synth_dataset(sc, data_dir);

  json results = json::object();
  std::vector<Series> rewards, kls, losses;
  for (Task task : opt.tasks) {
    const std::string tn = task_name(task), tdir = opt.out_dir + "/" + tn;
    remove_tree(tdir);  // a demo run starts afresh (not std::filesystem::remove_all: core/fs.h)
    fs::create_directories(tdir);
    auto configure = [&](Config c) {
      c.data.task = tn;
      c.data.train = data_dir + "/" + tn + "/fewshot_train.jsonl";
      c.eval.data = data_dir + "/" + tn + "/eval.jsonl";
      c.rewards.functions.clear();  // the task's defaults
      c.rewards.weights.clear();
      validate(c);
      return c;
    };
    const Config rc = configure(rft), scfg = configure(sft);
    auto evaluate = [&](const std::string& model, const std::string& method) {
      eval::EvalRunOptions eo;
      eo.model_dir = model;
      eo.output_dir = tdir + "/eval_" + method;
      eval::EvalOutcome out = eval::run_evaluation(rc, eo);
      results[tn][method] = out.metrics;
      log_info("demo: {} {} {} = {}%", tn, method, headline_label(task), pct_1dp(out.metrics.value(headline_key(task), NAN)));
    };

    stages.begin(fmt::format("{}: evaluate the base model on {} novel-category questions", tn, sc.eval_rows));
    evaluate(opt.model_dir, "baseline");

    Config c = rc;
    c.train.output_dir = tdir + "/rft";
    stages.begin(fmt::format("{}: Visual-RFT (GRPO, G = {}, rewards of the task) on {} few-shot rows", tn,
                             c.rollout.num_generations, summary["tasks"][tn]["fewshot_train"]["rows"].get<int64_t>()));
    TrainResult r = train_grpo(c, "");
    if (r.last_checkpoint.empty()) throw Error("demo: the GRPO run wrote no checkpoint (train.save_steps?)");
    stages.begin(fmt::format("{}: evaluate the Visual-RFT model", tn));
    evaluate(r.last_checkpoint, "rft");

    c = scfg;
    c.train.output_dir = tdir + "/sft";
    stages.begin(fmt::format("{}: SFT on the same few-shot rows", tn));
    r = train_sft(c, "");
    if (r.last_checkpoint.empty()) throw Error("demo: the SFT run wrote no checkpoint (train.save_steps?)");
    stages.begin(fmt::format("{}: evaluate the SFT model", tn));
    evaluate(r.last_checkpoint, "sft");

    const auto rft_rows = read_jsonl(tdir + "/rft/metrics.jsonl");
    rewards.push_back(metric_series(rft_rows, "reward", tn));
    kls.push_back(metric_series(rft_rows, "kl", tn));
    losses.push_back(metric_series(read_jsonl(tdir + "/sft/metrics.jsonl"), "loss", tn));
    if (task != Task::cls) {
      std::vector<std::vector<cv::Mat>> rows;
      for (const char* m : {"baseline", "sft", "rft"}) rows.push_back(drawn_images(tdir + "/eval_" + m, 6));
      write_png(opt.out_dir + "/examples_" + tn + ".png", image_grid({"baseline", "+ SFT", "+ Visual-RFT"}, rows, 224));
    }
  }

  stages.begin("table, curves and drawings");
  write_png(opt.out_dir + "/curves.png", plot_panels({{"Visual-RFT: mean reward", "step", rewards},
                                                      {"Visual-RFT: KL to the base model", "step", kls},
                                                      {"SFT: answer loss", "step", losses}}));
  std::string table = "| model |";
  std::string rule = "|---|";
  for (Task t : opt.tasks) table += fmt::format(" {} (%) |", headline_label(t)), rule += "---:|";
  table += "\n" + rule + "\n";
  DemoResult out;
  for (size_t m = 0; m < 3; ++m) {
    table += fmt::format("| {} |", kMethodNames[m]);
    for (Task t : opt.tasks) {
      table += fmt::format(" {} |", pct_1dp(results[task_name(t)][kMethods[m]].value(headline_key(t), NAN)));
      out.results["table"][task_name(t)][kMethods[m]] = results[task_name(t)][kMethods[m]].value(headline_key(t), NAN);
    }
    table += "\n";
  }
  out.table = table;
  out.results["world"] = summary;
  out.results["model"] = opt.model_dir;
  out.results["settings"] = {{"shots", opt.shots}, {"eval_rows", opt.eval_rows}, {"grpo_steps", rft.train.max_steps},
                             {"sft_steps", sft.train.max_steps}, {"rft_config", opt.rft_config},
                             {"sft_config", opt.sft_config}, {"overrides", opt.sets}};
  out.results["metrics"] = results;
  out.results["seconds"] = stages.elapsed();
  write_file_atomic(opt.out_dir + "/results.json", out.results.dump(2, ' ', false, json::error_handler_t::replace) + "\n");
  std::string md = "# visual-rft demo: few-shot novel categories of a synthetic world\n\n" + table +
                   fmt::format("\nBase model `{}`, world seed {}, {} shots per novel category, {} eval questions per task; "
                               "{:.0f} s.\nClassification: exact match of the category name; detection: COCO AP .5:.95; "
                               "grounding: the reference's mIoU. Every number: results.json and <task>/eval_*/metrics.json.\n",
                               opt.model_dir, sc.seed, opt.shots, opt.eval_rows, stages.elapsed());
  write_file_atomic(opt.out_dir + "/results.md", md);
  return out;
}

}  // namespace vrft
