// src/cli/cmd_config.cpp: `visual-rft config show` and `visual-rft config schema`.
#include <iostream>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "visual_rft/core/config.h"

namespace vrft::cli {

namespace {

struct ConfigShowArgs {
  std::string path;
  std::vector<std::string> sets;
};

void run_config_show(const ConfigShowArgs& a) {
  Config cfg = a.path.empty() ? Config{} : load_config(a.path);
  for (const auto& s : a.sets) apply_override(cfg, s);
  validate(cfg);
  std::cout << to_yaml(cfg);
}

struct ConfigSchemaArgs {
  std::string format = "text";
};

void run_config_schema(const ConfigSchemaArgs& a) {
  auto rows = config_schema();
  if (a.format == "markdown") {
    std::cout << config_reference_markdown();
  } else if (a.format == "json") {
    nlohmann::ordered_json j = nlohmann::ordered_json::array();
    for (const auto& r : rows) {
      j.push_back({{"key", r.key}, {"type", r.type}, {"default", r.default_value}, {"help", r.help}});
    }
    std::cout << j.dump(2) << "\n";
  } else {
    for (const auto& r : rows) {
      std::cout << r.key << " (" << r.type << ", default " << r.default_value << ")\n    " << r.help << "\n";
    }
  }
}

}  // namespace

void add_config_command(CLI::App& app) {
  auto* config = app.add_subcommand("config", "Show the resolved config or the schema of every key");
  config->require_subcommand(1);

  auto* show =
      config->add_subcommand("show", "Print the resolved config (defaults < --config file < --set overrides) as YAML");
  static ConfigShowArgs sa;
  show->add_option("--config", sa.path, "YAML config file; without it the defaults are shown");
  show->add_option("--set", sa.sets, "Override a key: section.key=value (repeatable; lists as [a, b])");
  show->callback([] { run_config_show(sa); });

  auto* schema = config->add_subcommand("schema", "List every config key with its type, default and meaning");
  static ConfigSchemaArgs ca;
  schema->add_option("--format", ca.format, "text, markdown (the README's table) or json")
      ->check(CLI::IsMember({"text", "markdown", "json"}))
      ->capture_default_str();
  schema->callback([] { run_config_schema(ca); });
}

}  // namespace vrft::cli
