// src/cli/cmd_train.cpp: `visual-rft train --config X.yaml [--set k=v ...] [--resume [DIR] | --overwrite]`,
// one process or one rank of a torchrun job (train/distributed.h).
#include "commands.h"
#include "visual_rft/core/config.h"
#include "visual_rft/core/error.h"
#include "visual_rft/core/log.h"
#include "visual_rft/train/distributed.h"
#include "visual_rft/train/grpo_trainer.h"
#include "visual_rft/train/sft_trainer.h"

namespace vrft::cli {

namespace {

struct TrainArgs {
  std::string config_path, resume;
  std::vector<std::string> sets;
  bool resume_given = false;  // --resume, with or without a value
  bool overwrite = false;
};

void run_train(const TrainArgs& a) {
  Config cfg = load_run_config(a.config_path, a.sets);
  validate(cfg);
  check_run_inputs(cfg, /*training=*/true);
  const DistEnv env = dist_env_from_environment();
  log_info("visual-rft train: rank {} of {} (local rank {}), trainer {}, {}", env.rank, env.world_size, env.local_rank,
           choice_name(cfg.train.trainer), env.world_size > 1 ? "data parallel" : "one process");
  const std::string from = !a.resume_given ? "" : (a.resume.empty() ? "latest" : a.resume);
  TrainResult r = cfg.train.trainer == TrainerKind::sft ? train_sft(cfg, from, a.overwrite)
                                                        : train_grpo(cfg, from, nullptr, a.overwrite);
  if (r.steps_done == 0)
    log_info("nothing to do: the run already stands at its last step, {}", r.final_step);
  else
    log_info("done: {} steps this run, at step {}; {}", r.steps_done, r.final_step,
             r.last_checkpoint.empty() ? "no checkpoint" : "last checkpoint " + r.last_checkpoint);
}

}  // namespace

void add_train_command(CLI::App& app) {
  auto* train = app.add_subcommand("train", "Fine-tune a model: GRPO (Visual-RFT) or the SFT baseline (train.trainer)");
  static TrainArgs a;
  train->add_option("--config", a.config_path, "Run config (YAML)")->required();
  train->add_option("--set", a.sets, "Override a key: section.key=value (repeatable)");
  auto* res =
      train->add_option("--resume", a.resume,
                        "Resume: without a value from the newest complete checkpoint of train.output_dir, or from DIR");
  res->expected(0, 1);
  train->add_flag("--overwrite", a.overwrite,
                  "Start afresh in a train.output_dir that holds an earlier run, deleting its checkpoints and metrics");
  train->callback([res] {
    a.resume_given = res->count() > 0;
    run_train(a);
  });
}

}  // namespace vrft::cli
