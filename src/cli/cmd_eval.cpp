// src/cli/cmd_eval.cpp: `visual-rft eval --config X.yaml [--model DIR] [--set k=v ...]
// [--limit N] [--out DIR] [--answers predictions.jsonl] [--best-of K]`: a model's answers to the evaluation
// set (eval.data, eval.coco, eval.lvis or eval.classification), scored by the Visual-RFT
// protocol (eval/evaluator.h); prints the summary and writes it with the predictions and metrics.
#include <filesystem>
#include <iostream>

#include "commands.h"
#include "visual_rft/core/config.h"
#include "visual_rft/core/hub.h"
#include "visual_rft/core/log.h"
#include "visual_rft/eval/evaluator.h"

namespace vrft::cli {

namespace {

struct EvalArgs {
  std::string config_path;
  std::vector<std::string> sets;
  int64_t best_of = 0;
  EvalRunOptions opt;
};

void run_eval(EvalArgs& a) {
  if (a.best_of > 0) a.sets.push_back("eval.best_of=" + std::to_string(a.best_of));  // after the user's --set
  Config cfg = load_run_config(a.config_path, a.sets, /*resolve_model=*/a.opt.model_dir.empty());
  validate(cfg);
  a.opt.model_dir = resolve_model_dir(a.opt.model_dir, "--model");
  if (a.opt.answers_file.empty()) {  // the model the answers come from (--model, else model.path)
    Config m = cfg;
    if (!a.opt.model_dir.empty()) m.model.path = a.opt.model_dir;
    check_run_inputs(m, /*training=*/false);
  }
  a.opt.config_name = std::filesystem::path(a.config_path).stem().string();
  EvalOutcome r = run_evaluation(cfg, a.opt);
  std::cout << r.summary;
  log_info("wrote {}/predictions.jsonl, metrics.json, summary.md{}", r.output_dir,
           std::filesystem::exists(r.output_dir + "/results.json") ? ", results.json" : "");
}

}  // namespace

void add_eval_command(CLI::App& app) {
  auto* ev = app.add_subcommand("eval",
                                "Evaluate a model: a Visual-RFT JSONL, COCO/LVIS (with the exist-map protocol) or a "
                                "classification list (cls accuracy, det COCO/LVIS mAP, ground mIoU)");
  static EvalArgs a;
  ev->add_option("--config", a.config_path, "Run config (YAML): data.task, eval.*, model.device/dtype")->required();
  ev->add_option(
      "--model", a.opt.model_dir,
      "HF model folder, checkpoint or hub id (org/name, from the local cache) to evaluate; default model.path");
  ev->add_option("--set", a.sets, "Override a key: section.key=value (repeatable)");
  ev->add_option("--limit", a.opt.limit, "Evaluate only the first N samples (COCO/LVIS: images); 0 = all")
      ->capture_default_str();
  ev->add_option("--answers", a.opt.answers_file,
                 "Score the answers of an earlier predictions.jsonl (same questions) instead of running a model");
  ev->add_option("--best-of", a.best_of,
                 "Sample K answers per question (eval.temperature > 0) and score the one the rewards rank first "
                 "against the truth: an oracle (pass@k) of what the model answers in K tries (sets eval.best_of)")
      ->check(CLI::PositiveNumber);
  ev->add_option("--out", a.opt.output_dir, "Output folder; default eval.output_dir, else eval/<config name>");
  ev->callback([] { run_eval(a); });
}

}  // namespace vrft::cli
