// src/cli/main.cpp: the visual-rft executable: global options, subcommands, and the one
// place where errors are caught, printed and turned into an exit status.
#include <torch/version.h>

#include <malloc.h>

#include <cstdio>

#include "commands.h"
#include "visual_rft/core/error.h"
#include "visual_rft/core/hub.h"
#include "visual_rft/core/log.h"
#include "visual_rft/train/stop_signal.h"

namespace {
bool log_level_given = false;  // --log-level on the command line: it wins over a config's logging.level
}  // namespace

void vrft::cli::apply_config_log_level(const std::string& level) {
  if (!log_level_given) vrft::init_logging(level);
}

vrft::Config vrft::cli::load_run_config(const std::string& path, const std::vector<std::string>& sets,
                                        bool resolve_model) {
  Config cfg = load_config(path);
  for (const auto& s : sets) apply_override(cfg, s);
  apply_config_log_level(cfg.logging.level);
  if (!resolve_model) return cfg;
  const std::string given = cfg.model.path;
  cfg.model.path = resolve_model_dir(given, "model.path");
  if (cfg.model.path != given) log_info("model.path {}: {}", given, cfg.model.path);
  return cfg;
}

int main(int argc, char** argv) {
  CLI::App app{"visual-rft: reinforcement fine-tuning of vision-language models (Visual-RFT, GRPO)"};
  app.add_flag_callback(
      "--version",
      [] {
        std::printf("visual-rft %s (LibTorch %s)\n", VRFT_VERSION, TORCH_VERSION);
        throw CLI::Success();
      },
      "Print the version and exit");
  std::string log_level = "info";
  auto* level_flag =
      app.add_option(
             "--log-level", log_level,
             "Console log level: trace, debug, info, warn, error, off (default: the config's logging.level, else info)")
          ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "off"}))
          ->capture_default_str();
  app.fallthrough();  // global options may also follow the subcommand
  app.require_subcommand(1);
  app.parse_complete_callback([&] {
    vrft::init_logging(log_level);
    log_level_given = level_flag->count() > 0;
  });

  // Generation makes per-step temporaries of tens of MB (logits [rows, vocab] and what
  // sampling derives from them). glibc would mmap and unmap each, so every step paid page
  // faults and page clearing (a third of a tiny model's decode step on the CPU). Keep blocks
  // up to 32 MB (glibc's maximum threshold) in the heap, and trim it only above 1 GB free.
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);

  vrft::cli::add_config_command(app);
  vrft::cli::add_inspect_command(app);
  vrft::cli::add_score_command(app);
  vrft::cli::add_metrics_command(app);
  vrft::cli::add_model_command(app);
  vrft::cli::add_demo_command(app);
  vrft::cli::add_data_command(app);
  vrft::cli::add_eval_command(app);
  vrft::cli::add_bench_command(app);
  vrft::cli::add_tokenize_command(app);
  vrft::cli::add_generate_command(app);
  vrft::cli::add_train_command(app);
  vrft::cli::add_plan_command(app);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const vrft::Interrupted& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return e.code;  // 128 + the signal, as a shell reports a process the signal ended
  } catch (const vrft::Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  } catch (const c10::Error& e) {
    std::fprintf(stderr, "error (LibTorch): %s\n", e.what_without_backtrace());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
