// src/demo/demo.cpp: `visual-rft demo` (see the header): data, then per task baseline,
// Visual-RFT and SFT with their evaluations, then the table, the curves and the drawings.
#include "visual_rft/demo/demo.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
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

// The number the table shows for a task, from an evaluation's metrics.json (headline_metric,
// eval/evaluator.h), and its label.
// The headline number of an evaluation's metrics; NaN when missing. (json::value with a NAN
// default would return a float, rounding the metric.)
double headline(const json& metrics, Task t) {
  return metrics.value(headline_metric(t), std::numeric_limits<double>::quiet_NaN());
}
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
    log_info("[demo {}/{}, {:.0f} s] {}", ++done_, total_, std::chrono::duration<double>(Clock::now() - t0_).count(),
             what);
  }
  double elapsed() const { return std::chrono::duration<double>(Clock::now() - t0_).count(); }

 private:
  int total_, done_ = 0;
  Clock::time_point t0_;
};

}  // namespace

json read_demo_model_info(const std::string& model_dir) {
  if (!fs::exists(fs::path(model_dir) / "config.json")) {
    throw FileError("demo: no model folder at '" + model_dir +
                    "' (make it with scripts/make_demo_model.sh, or pass --model DIR)");
  }
  const std::string path = (fs::path(model_dir) / "visual_rft_demo.json").string();
  if (!fs::exists(path)) {
    throw FileError("demo: '" + model_dir + "' has no visual_rft_demo.json naming its synthetic world (pass --seed S)");
  }
  try {
    json j = json::parse(read_file(path));
    if (!j.contains("synth_seed") || !j["synth_seed"].is_number_integer())
      throw FileError(path + ": needs an integer synth_seed");
    return j;
  } catch (const json::exception& e) {
    throw FileError(path + ": not valid JSON: " + e.what());
  }
}

namespace {

// mean and sample standard deviation (n - 1; 0 for one value) of finite values; NaN if none.
std::pair<double, double> mean_std(const std::vector<double>& v) {
  std::vector<double> f;
  for (double x : v) {
    if (std::isfinite(x)) f.push_back(x);
  }
  if (f.empty()) return {NAN, NAN};
  double m = 0;
  for (double x : f) m += x;
  m /= static_cast<double>(f.size());
  double ss = 0;
  for (double x : f) ss += (x - m) * (x - m);
  return {m, f.size() > 1 ? std::sqrt(ss / static_cast<double>(f.size() - 1)) : 0.0};
}

// One image seed's runs: what the table, the curves and the drawings are made from.
struct SeedRun {
  int64_t image_seed = 0;
  json metrics = json::object();  // [task][method]: the evaluation's metrics.json
  std::vector<Series> rewards, kls, losses;
};

// The few-shot and eval splits drawn from `sc` (its image seed), then per task: the base
// model's evaluation, Visual-RFT and its evaluation, SFT and its evaluation, all in `dir`.
SeedRun run_one_seed(const DemoOptions& opt, const SynthConfig& sc, const Config& rft, const Config& sft,
                     const std::string& dir, const std::string& label, Stages& stages) {
  SeedRun run;
  run.image_seed = static_cast<int64_t>(synth_image_seed(sc));
  const std::string data_dir = dir + "/data";
  stages.begin(
      fmt::format("synthetic world {}, image seed {}: {} few-shot rows per novel category, {} eval rows per task -> {}",
                  sc.seed, run.image_seed, sc.shots, sc.eval_rows, data_dir));
  const json summary = write_synth_dataset(sc, data_dir);
  for (Task task : opt.tasks) {
    const std::string tn = task_name(task), tdir = dir + "/" + tn;
    remove_tree(tdir);  // a demo run starts afresh (not std::filesystem::remove_all: core/fs.h)
    fs::create_directories(tdir);
    auto configure = [&](Config c) {
      c.data.task = task;
      c.data.train = data_dir + "/" + tn + "/fewshot_train.jsonl";
      c.eval.data = data_dir + "/" + tn + "/eval.jsonl";
      c.rewards.functions.clear();  // the task's defaults
      c.rewards.weights.clear();
      validate(c);
      return c;
    };
    const Config rc = configure(rft), scfg = configure(sft);
    auto evaluate = [&](const std::string& model, const std::string& method) {
      EvalRunOptions eo;
      eo.model_dir = model;
      eo.output_dir = tdir + "/eval_" + method;
      EvalOutcome out = run_evaluation(rc, eo);
      run.metrics[tn][method] = out.metrics;
      log_info("demo: image seed {}: {} {} {} = {}%", run.image_seed, tn, method, headline_label(task),
               pct_1dp(headline(out.metrics, task)));
    };

    stages.begin(fmt::format("{}: evaluate the base model on {} novel-category questions", tn, sc.eval_rows));
    evaluate(opt.model_dir, "baseline");

    Config c = rc;
    c.train.output_dir = tdir + "/rft";
    stages.begin(fmt::format("{}: Visual-RFT (GRPO, G = {}, rewards of the task) on {} few-shot rows", tn,
                             c.rollout.num_generations, summary["tasks"][tn]["fewshot_train"]["rows"].get<int64_t>()));
    TrainResult r = train_grpo(c, "", nullptr, /*overwrite=*/true);  // the demo owns its folders: a rerun replaces them
    if (r.last_checkpoint.empty()) throw Error("demo: the GRPO run wrote no checkpoint (train.save_steps?)");
    stages.begin(fmt::format("{}: evaluate the Visual-RFT model", tn));
    evaluate(r.last_checkpoint, "rft");

    c = scfg;
    c.train.output_dir = tdir + "/sft";
    stages.begin(fmt::format("{}: SFT on the same few-shot rows", tn));
    r = train_sft(c, "", /*overwrite=*/true);
    if (r.last_checkpoint.empty()) throw Error("demo: the SFT run wrote no checkpoint (train.save_steps?)");
    stages.begin(fmt::format("{}: evaluate the SFT model", tn));
    evaluate(r.last_checkpoint, "sft");

    const auto rft_rows = read_jsonl(tdir + "/rft/metrics.jsonl");
    const std::string series = label.empty() ? tn : tn + " " + label;
    run.rewards.push_back(metric_series(rft_rows, "reward", series));
    run.kls.push_back(metric_series(rft_rows, "kl", series));
    run.losses.push_back(metric_series(read_jsonl(tdir + "/sft/metrics.jsonl"), "loss", series));
  }
  return run;
}

// The drawn answers of one seed's evaluations: one row per model, for det and ground.
void write_examples(const DemoOptions& opt, const std::string& seed_dir) {
  for (Task task : opt.tasks) {
    if (task == Task::cls) continue;
    const std::string tdir = seed_dir + "/" + task_name(task);
    std::vector<std::vector<cv::Mat>> rows;
    for (const char* m : kMethods) rows.push_back(drawn_images(tdir + "/eval_" + m, 6));
    write_png(opt.out_dir + "/examples_" + task_name(task) + ".png",
              image_grid({kMethodNames[0], kMethodNames[1], kMethodNames[2]}, rows, 224));
  }
}

}  // namespace

DemoResult run_demo(const DemoOptions& opt) {
  // With --seed the model folder needs no visual_rft_demo.json (the world is named).
  const json info = opt.seed >= 0 && !fs::exists(fs::path(opt.model_dir) / "visual_rft_demo.json")
                        ? json::object()
                        : read_demo_model_info(opt.model_dir);
  SynthConfig sc;
  sc.seed = opt.seed >= 0 ? static_cast<uint64_t>(opt.seed) : info["synth_seed"].get<uint64_t>();
  // The images the model was pre-trained on, at their size (older model folders: 112).
  sc.image_size = info.value("image_size", sc.image_size);
  sc.position_cue = info.value("position_cue", false);  // the world's backgrounds, as pre-trained on
  // Only the splits the demo uses: the model was pre-trained on base_train already.
  sc.base_per_category = 0;
  sc.shots = opt.shots;
  sc.eval_rows = opt.eval_rows;
  sc.tasks = opt.tasks;
  if (opt.image_seeds.empty()) throw Error("demo: --image-seeds names no seed");
  Config rft = load_config(opt.rft_config), sft = load_config(opt.sft_config);
  // The layout of the prompts the model was pre-trained with (older model folders: image first).
  const std::string image_position = info.value("image_position", std::string("before_text"));
  for (Config* c : {&rft, &sft}) {
    apply_override(*c, "data.image_position=" + image_position);
    // Every image whole, as the model was pre-trained on it (make_demo_model.sh's IMAGE_SIZE).
    apply_override(*c, "data.max_pixels=" + std::to_string(sc.image_size * sc.image_size));
    for (const std::string& s : opt.sets) apply_override(*c, s);
    c->model.path = opt.model_dir;
    if (opt.steps > 0) c->train.max_steps = opt.steps;
  }
  rft.train.trainer = TrainerKind::grpo;
  sft.train.trainer = TrainerKind::sft;

  // Every image seed is a whole demo of its own in OUT/seed-N/; the table is over seeds.
  const size_t n_seeds = opt.image_seeds.size();
  Stages stages(static_cast<int>(n_seeds) * (1 + 5 * static_cast<int>(opt.tasks.size())) + 1);
  std::vector<SeedRun> runs;
  std::vector<Series> rewards, kls, losses;
  for (int64_t seed : opt.image_seeds) {
    sc.image_seed = seed;
    const std::string dir = fmt::format("{}/seed-{}", opt.out_dir, seed);
    runs.push_back(run_one_seed(opt, sc, rft, sft, dir, n_seeds > 1 ? fmt::format("s{}", seed) : "", stages));
    const SeedRun& r = runs.back();
    rewards.insert(rewards.end(), r.rewards.begin(), r.rewards.end());
    kls.insert(kls.end(), r.kls.begin(), r.kls.end());
    losses.insert(losses.end(), r.losses.begin(), r.losses.end());
  }

  stages.begin("table, curves and drawings");
  write_png(opt.out_dir + "/curves.png", plot_panels({{"Visual-RFT: mean reward", "step", rewards},
                                                      {"Visual-RFT: KL to the base model", "step", kls},
                                                      {"SFT: answer loss", "step", losses}}));
  write_examples(opt, fmt::format("{}/seed-{}", opt.out_dir, opt.image_seeds.front()));
  // One cell per task and model: the headline metric, as mean ± std over the image seeds.
  std::string table = "| model |";
  std::string rule = "|---|";
  for (Task t : opt.tasks) table += fmt::format(" {} (%) |", headline_label(t)), rule += "---:|";
  table += "\n" + rule + "\n";
  DemoResult out;
  for (size_t m = 0; m < 3; ++m) {
    table += fmt::format("| {} |", kMethodNames[m]);
    for (Task t : opt.tasks) {
      const std::string tn = task_name(t);
      std::vector<double> values;
      for (const SeedRun& r : runs) values.push_back(headline(r.metrics[tn][kMethods[m]], t));
      const auto [mean, sd] = mean_std(values);
      table +=
          n_seeds > 1 ? fmt::format(" {} ± {} |", pct_1dp(mean), pct_1dp(sd)) : fmt::format(" {} |", pct_1dp(mean));
      out.results["table"][tn][kMethods[m]] = mean;
      out.results["table_std"][tn][kMethods[m]] = sd;
      out.results["table_per_seed"][tn][kMethods[m]] = values;
    }
    table += "\n";
  }
  out.table = table;
  out.results["model"] = opt.model_dir;
  out.results["world_seed"] = sc.seed;
  out.results["image_seeds"] = opt.image_seeds;
  out.results["settings"] = {{"shots", opt.shots},
                             {"eval_rows", opt.eval_rows},
                             {"image_size", sc.image_size},
                             {"position_cue", sc.position_cue},
                             {"image_position", choice_name(rft.data.image_position)},
                             {"grpo_steps", rft.train.max_steps},
                             {"sft_steps", sft.train.max_steps},
                             {"rft_config", opt.rft_config},
                             {"sft_config", opt.sft_config},
                             {"overrides", opt.sets}};
  json per_run = json::array();
  for (const SeedRun& r : runs) {
    per_run.push_back(
        {{"image_seed", r.image_seed}, {"folder", fmt::format("seed-{}", r.image_seed)}, {"metrics", r.metrics}});
  }
  out.results["runs"] = per_run;
  out.results["seconds"] = stages.elapsed();
  write_file_atomic(opt.out_dir + "/results.json",
                    out.results.dump(2, ' ', false, json::error_handler_t::replace) + "\n");
  std::string seeds;
  for (int64_t s : opt.image_seeds) seeds += (seeds.empty() ? "" : ", ") + std::to_string(s);
  std::string md =
      "# visual-rft demo: few-shot novel categories of a synthetic world\n\n" + table +
      fmt::format(
          "\nBase model `{}`, world seed {}, image seed{} {}{}, {} shots per novel category, {} eval "
          "questions per task; {:.0f} s.\nClassification: exact match of the category name; "
          "detection: COCO AP .5:.95; grounding: the reference's mIoU. Every number: results.json "
          "and seed-N/<task>/eval_*/metrics.json.\n",
          opt.model_dir, sc.seed, n_seeds > 1 ? "s" : "", seeds,
          n_seeds > 1 ? " (mean ± sample std over the seeds)" : "", opt.shots, opt.eval_rows, stages.elapsed());
  write_file_atomic(opt.out_dir + "/results.md", md);
  return out;
}

}  // namespace vrft
