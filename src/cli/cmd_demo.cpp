// src/cli/cmd_demo.cpp: `visual-rft demo`: baseline / SFT / Visual-RFT on the synthetic
// world's few-shot novel categories, on a CPU in minutes (demo/demo.h).
#include <cstdio>
#include <sstream>

#include "commands.h"
#include "visual_rft/demo/demo.h"

namespace vrft::cli {

namespace {

struct DemoArgs {
  DemoOptions opt;
  std::string tasks = "cls,det,ground";
};

void run_demo_command(DemoArgs& a) {
  a.opt.tasks.clear();
  std::stringstream ss(a.tasks);
  for (std::string t; std::getline(ss, t, ',');) a.opt.tasks.push_back(parse_task(t));
  DemoResult r = run_demo(a.opt);
  const char* out = a.opt.out_dir.c_str();
  std::printf("\n%s\nresults: %s/results.md, results.json; curves: %s/curves.png; drawn answers: %s/examples_*.png\n",
              r.table.c_str(), out, out, out);
}

}  // namespace

void add_demo_command(CLI::App& app) {
  static DemoArgs a;
  DemoOptions& opt = a.opt;
  auto* cmd = app.add_subcommand(
      "demo", "Visual-RFT against SFT on few-shot novel categories of a synthetic world (CPU, minutes)");
  cmd->add_option("--model", opt.model_dir, "The base model folder (scripts/make_demo_model.sh makes it)")
      ->capture_default_str();
  cmd->add_option("--out", opt.out_dir, "Output folder")->capture_default_str();
  cmd->add_option("--tasks", a.tasks, "Comma-separated tasks: cls, det, ground")->capture_default_str();
  cmd->add_option("--shots", opt.shots, "Few-shot rows per novel category (K)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_option("--eval", opt.eval_rows, "Evaluation questions per task")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_option("--steps", opt.steps, "Optimiser steps of each GRPO and SFT run (0: the configs')")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  cmd->add_option("--seed", opt.seed, "The synthetic world's seed (default: the one the model was pre-trained on)");
  auto* seeds = cmd->add_option("--image-seeds", opt.image_seeds,
                                "Comma-separated seeds of the images and rows, one whole demo each; the table shows "
                                "mean ± std over them")
                    ->delimiter(',')
                    ->check(CLI::NonNegativeNumber)
                    ->capture_default_str();
  cmd->add_option("--image-seed", opt.image_seeds, "One image seed (the same as --image-seeds N)")
      ->check(CLI::NonNegativeNumber)
      ->excludes(seeds);
  cmd->add_option("--rft-config", opt.rft_config, "GRPO run settings")->capture_default_str();
  cmd->add_option("--sft-config", opt.sft_config, "SFT run settings")->capture_default_str();
  cmd->add_option("--set", opt.sets, "Override a key of both runs: section.key=value (repeatable)");
  cmd->callback([] { run_demo_command(a); });
}

}  // namespace vrft::cli
