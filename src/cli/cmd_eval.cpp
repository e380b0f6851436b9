// src/cli/cmd_eval.cpp: `visual-rft eval --config X.yaml [--model DIR] [--set k=v ...]
// [--limit N] [--out DIR] [--answers predictions.jsonl]`: a model's answers to the evaluation
// set (eval.data, eval.coco, eval.lvis or eval.classification), scored by the Visual-RFT
// protocol (eval/evaluator.h); prints the summary and writes it with the predictions and metrics.
#include <filesystem>
#include <iostream>

#include "commands.h"
#include "visual_rft/core/config.h"
#include "visual_rft/core/log.h"
#include "visual_rft/eval/evaluator.h"

namespace vrft::cli {

void add_eval_command(CLI::App& app) {
  auto* ev = app.add_subcommand("eval",
                                "Evaluate a model: a Visual-RFT JSONL, COCO/LVIS (with the exist-map protocol) or a "
                                "classification list (cls accuracy, det COCO/LVIS mAP, ground mIoU)");
  static std::string config_path;
  static std::vector<std::string> sets;
  static eval::EvalRunOptions opt;
  ev->add_option("--config", config_path, "Run config (YAML): data.task, eval.*, model.device/dtype")->required();
  ev->add_option("--model", opt.model_dir, "HF model folder or checkpoint to evaluate; default model.path");
  ev->add_option("--set", sets, "Override a key: section.key=value (repeatable)");
  ev->add_option("--limit", opt.limit, "Evaluate only the first N samples (COCO/LVIS: images); 0 = all")
      ->capture_default_str();
  ev->add_option("--answers", opt.answers_file,
                 "Score the answers of an earlier predictions.jsonl (same questions) instead of running a model");
  ev->add_option("--out", opt.output_dir, "Output folder; default eval.output_dir, else eval/<config name>");
  ev->callback([] {
    Config cfg = load_config(config_path);
    for (const auto& s : sets) apply_override(cfg, s);
    apply_config_log_level(cfg.logging.level);
    validate(cfg);
    if (opt.answers_file.empty()) {  // the model the answers come from (--model, else model.path)
      Config m = cfg;
      if (!opt.model_dir.empty()) m.model.path = opt.model_dir;
      check_run_inputs(m, /*training=*/false);
    }
    opt.config_name = std::filesystem::path(config_path).stem().string();
    eval::EvalOutcome r = eval::run_evaluation(cfg, opt);
    std::cout << r.summary;
    log_info("wrote {}/predictions.jsonl, metrics.json, summary.md{}", r.output_dir,
             std::filesystem::exists(r.output_dir + "/results.json") ? ", results.json" : "");
  });
}

}  // namespace vrft::cli
