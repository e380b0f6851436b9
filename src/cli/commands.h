// src/cli/commands.h: every subcommand adds itself to the CLI11 app through one function
// here. The cli/ files parse arguments and wire library calls together; they hold no logic.
// One shape for every subcommand: its flags bind to the fields of an `XArgs` struct (a
// function-local static, as CLI11 keeps pointers to them), and its callback only calls
// `run_x(args)`, a function in the file's anonymous namespace that reads like the command.
#pragma once

#include <CLI/CLI.hpp>
#include <string>
#include <vector>

#include "visual_rft/core/config.h"

namespace vrft::cli {

// A loaded config's logging.level, which applies unless --log-level was given (main.cpp).
void apply_config_log_level(const std::string& level);

// The config of a run: the file, then the --set overrides, its logging.level applied, and
// (with resolve_model) a model.path given as a hub id resolved to its cached snapshot
// (core/hub.h); a command whose --model replaces model.path passes false.
Config load_run_config(const std::string& path, const std::vector<std::string>& sets, bool resolve_model = true);

void add_config_command(CLI::App& app);    // config show | schema
void add_inspect_command(CLI::App& app);   // inspect tensors | forward | prompt
void add_score_command(CLI::App& app);     // score
void add_metrics_command(CLI::App& app);   // metrics coco | lvis
void add_data_command(CLI::App& app);      // data fewshot | synth
void add_eval_command(CLI::App& app);      // eval
void add_bench_command(CLI::App& app);     // bench rewards | tokenize | rollout | train | load
void add_tokenize_command(CLI::App& app);  // tokenize
void add_generate_command(CLI::App& app);  // generate
void add_train_command(CLI::App& app);     // train
void add_model_command(CLI::App& app);     // model init | merge
void add_plan_command(CLI::App& app);      // plan
void add_demo_command(CLI::App& app);      // demo
void add_bench_rollout(CLI::App* bench);   // bench rollout (called by add_bench_command)
void add_bench_train(CLI::App* bench);     // bench train (called by add_bench_command)

}  // namespace vrft::cli
