// src/cli/cmd_plan.cpp: `visual-rft plan --config X.yaml [--world-size W] [--gpu-memory-gb M]`:
// the per-GPU memory of a training run, part by part, from the config and the model's
// config.json (or a named shape, --model-preset 2b|7b, when the weights are not here), and
// whether it fits (train/memory_plan.h).
#include <cstdio>
#include <nlohmann/json.hpp>
#include <optional>

#include "commands.h"
#include "visual_rft/core/config.h"
#include "visual_rft/core/error.h"
#include "visual_rft/data/prompt.h"
#include "visual_rft/train/memory_plan.h"

namespace vrft::cli {

namespace {

struct PlanArgs {
  std::string config_path, preset, device = "cuda";
  std::vector<std::string> sets;
  PlanOptions opt;
  double gpu_memory_gb = 0;
  bool as_json = false;
};

// A run that does not fit: the first of these changes that would make it fit, as the --set
// arguments that ask for it, with its peak; nullopt when none does. From the least to the
// most intrusive: recomputing activations, sharding (ZeRO-2), both, and LoRA.
struct Remedy {
  std::vector<std::string> sets;
  double peak_gb;
};
std::optional<Remedy> remedy(const Config& cfg, const Qwen2VLConfig& model, const PlanOptions& opt, double gpu_gb) {
  const std::string ckpt = "model.gradient_checkpointing=true", zero2 = "distributed.shard=gradients";
  std::vector<std::string> lora = {"lora.r=64", "lora.alpha=128",
                                   "lora.target_modules=[q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj]",
                                   ckpt};
  if (cfg.distributed.mode() == Shard::gradients) lora.push_back("distributed.shard=optimizer");  // LoRA: not ZeRO-2
  const std::vector<std::vector<std::string>> tries = {{ckpt}, {zero2}, {zero2, ckpt}, lora};
  for (const auto& sets : tries) {
    Config c = cfg;
    for (const std::string& s : sets) apply_override(c, s);
    if (c.model.gradient_checkpointing == cfg.model.gradient_checkpointing &&
        c.distributed.mode() == cfg.distributed.mode() && c.lora.r == cfg.lora.r)
      continue;  // already so
    try {
      validate(c);
    } catch (const ConfigError&) {
      continue;  // not possible with this config (e.g. LoRA with grpo.ref_sync_steps)
    }
    const double peak = plan_memory(c, model, opt).peak_gb();
    if (peak <= gpu_gb) return Remedy{sets, peak};
  }
  return std::nullopt;
}

void run_plan(PlanArgs& a) {
  Config cfg = load_run_config(a.config_path, a.sets, /*resolve_model=*/a.preset.empty());
  validate(cfg);
  const Qwen2VLConfig model = a.preset.empty() ? load_model_config(cfg.model.path) : preset_model_config(a.preset);
  a.opt.cuda = a.device == "cuda";
  // On the CPU the process's own size is part of the plan: measured here after loading what a
  // trainer loads besides the model (LibTorch, the tokenizer and image processor).
  std::optional<PromptEncoder> enc;
  if (!a.opt.cuda && a.preset.empty()) enc.emplace(PromptEncoder::from_model_dir(cfg.model.path));
  const MemoryPlan plan = plan_memory(cfg, model, a.opt);
  if (a.as_json) {
    nlohmann::json parts = nlohmann::json::array();
    for (const PlanPart& p : plan.parts) parts.push_back({{"phase", p.phase}, {"name", p.name}, {"gb", p.gb}});
    nlohmann::json j{
        {"params", plan.params},           {"trainable", plan.trainable},   {"prompt_tokens", plan.prompt_tokens},
        {"resident_gb", plan.resident_gb}, {"rollout_gb", plan.rollout_gb}, {"update_gb", plan.update_gb},
        {"runtime_gb", plan.runtime_gb},   {"peak_gb", plan.peak_gb()},     {"parts", parts},
        {"precision", plan.precision}};
    if (a.gpu_memory_gb > 0) j["fits"] = plan.peak_gb() <= a.gpu_memory_gb;
    if (a.gpu_memory_gb > 0 && plan.peak_gb() > a.gpu_memory_gb) {
      const std::optional<Remedy> r = remedy(cfg, model, a.opt, a.gpu_memory_gb);
      j["fits_with"] = r ? nlohmann::json{{"sets", r->sets}, {"peak_gb", r->peak_gb}} : nlohmann::json();
    }
    std::printf("%s\n", j.dump().c_str());
    return;
  }
  std::printf("memory plan: %s, %s, %lld rank(s); %.2f B parameters (%.2f B in the vision tower), %.1f M trainable\n",
              a.config_path.c_str(), a.preset.empty() ? cfg.model.path.c_str() : ("preset " + a.preset).c_str(),
              static_cast<long long>(a.opt.world_size), static_cast<double>(plan.params) / 1e9,
              static_cast<double>(plan.vision_params) / 1e9, static_cast<double>(plan.trainable) / 1e6);
  std::printf("per rank, %s (%s):\n\n%s", a.opt.cuda ? "on a GPU" : "on the CPU", plan.precision.c_str(),
              plan.table(a.gpu_memory_gb).c_str());
  if (a.gpu_memory_gb <= 0 || plan.peak_gb() <= a.gpu_memory_gb) return;
  if (const std::optional<Remedy> r = remedy(cfg, model, a.opt, a.gpu_memory_gb)) {
    std::string sets;
    for (const std::string& s : r->sets) sets += " --set '" + s + "'";
    std::printf("would fit with%s: %.2f GB per rank\n", sets.c_str(), r->peak_gb);
  } else {
    std::printf(
        "gradient checkpointing, ZeRO-2 (distributed.shard: gradients) or LoRA r 64 do not make it fit: "
        "more ranks, smaller micro-batches or shorter answers\n");
  }
}

}  // namespace

void add_plan_command(CLI::App& app) {
  auto* plan = app.add_subcommand("plan", "Per-GPU memory of a training run, part by part, and whether it fits");
  static PlanArgs a;
  plan->add_option("--config", a.config_path, "Run config (YAML)")->required();
  plan->add_option("--set", a.sets, "Override a key: section.key=value (repeatable)");
  plan->add_option("--world-size", a.opt.world_size, "Ranks (GPUs) of the run")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  plan->add_option("--gpu-memory-gb", a.gpu_memory_gb, "Memory of one GPU: say whether the run fits");
  plan->add_option("--model-preset", a.preset, "Plan for this shape instead of model.path's config.json")
      ->check(CLI::IsMember({"tiny", "demo", "100m", "2b", "7b"}));
  plan->add_option("--device", a.device, "cuda (bf16 autocast and rollouts by default) or cpu (float32 by default)")
      ->check(CLI::IsMember({"cuda", "cpu"}))
      ->capture_default_str();
  plan->add_option("--prompt-tokens", a.opt.prompt_tokens,
                   "Tokens per prompt; default: the image tokens at data.max_pixels + 96 text tokens");
  plan->add_option("--runtime-gb", a.opt.runtime_gb,
                   "The process or CUDA context; default 0.75 GB on CUDA, this process's own size on the CPU");
  plan->add_flag("--json", a.as_json, "Print one JSON object");
  plan->callback([] { run_plan(a); });
}

}  // namespace vrft::cli
