// src/cli/cmd_eval.cpp: `visual-rft eval --config X.yaml [--model DIR] [--set k=v ...]
// [--limit N] [--out DIR]`: a model's answers to eval.data, scored by the Visual-RFT protocol
// (eval/evaluator.h); prints the summary and writes it with the predictions and metrics.
#include <filesystem>
#include <iostream>

#include "commands.h"
#include "visual_rft/core/config.h"
#include "visual_rft/core/log.h"
#include "visual_rft/eval/evaluator.h"

namespace vrft::cli {

void add_eval_command(CLI::App& app) {
  auto* ev = app.add_subcommand("eval",
                                "Evaluate a model on a Visual-RFT JSONL set (cls accuracy, det COCO mAP, ground mIoU)");
  static std::string config_path;
  static std::vector<std::string> sets;
  static eval::EvalRunOptions opt;
  ev->add_option("--config", config_path, "Run config (YAML): data.task, eval.*, model.device/dtype")->required();
  ev->add_option("--model", opt.model_dir, "HF model folder or checkpoint to evaluate; default model.path");
  ev->add_option("--set", sets, "Override a key: section.key=value (repeatable)");
  ev->add_option("--limit", opt.limit, "Evaluate only the first N samples; 0 = all")->capture_default_str();
  ev->add_option("--out", opt.output_dir, "Output folder; default eval.output_dir, else eval/<config name>");
  ev->callback([] {
    Config cfg = load_config(config_path);
    for (const auto& s : sets) apply_override(cfg, s);
    validate(cfg);
    opt.config_name = std::filesystem::path(config_path).stem().string();
    eval::EvalOutcome r = eval::run_evaluation(cfg, opt);
    std::cout << r.summary;
    log_info("wrote {}/predictions.jsonl, metrics.json, summary.md", r.output_dir);
  });
}

}  // namespace vrft::cli
