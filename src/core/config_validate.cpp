// src/core/config_validate.cpp: validate(): every numeric key against its declared range
// (config.h), the rules between keys, and the evaluation input's consistency. A violation is
// a ConfigError naming the key and what it must be.
#include <cmath>
#include <set>
#include <string>
#include <utility>

#include "visual_rft/core/config.h"
#include "visual_rft/core/error.h"

namespace vrft {

namespace {
void require(bool ok, const std::string& key, const std::string& what) {
  if (!ok) throw ConfigError("config key '" + key + "': " + what);
}

// Every numeric key against the range declared beside it (config.h), in declaration order.
struct RangeCheck {
  std::string prefix;
  template <class S>
  void section(const char* name, S& s, const char*) {
    prefix = std::string(name) + ".";
    s.visit(*this);
  }
  template <class T>
  void operator()(T&, const char*, const char*) {}
  void operator()(std::string&, const char*, const char*, std::initializer_list<const char*>) {}
  template <class T>
  void operator()(T& field, const char* key, const char*, const Range& r) {
    require(r.contains(static_cast<double>(field)), prefix + key, r.text());
  }
};
// The evaluation input: at most one source, the task it implies, and no key that the source
// ignores (a key that silently does nothing hides a mistake; run_evaluation requires one source).
// Returns the key of the source given, or nullptr when there is none.
const char* validate_eval_inputs(const Config& c) {
  const auto& e = c.eval;
  const std::pair<const char*, const std::string*> sources[] = {{"eval.data", &e.data},
                                                                {"eval.coco", &e.coco},
                                                                {"eval.lvis", &e.lvis},
                                                                {"eval.classification", &e.classification}};
  const char* first = nullptr;
  for (const auto& [key, value] : sources) {
    if (value->empty()) continue;
    require(first == nullptr, key,
            std::string("is set together with ") + (first ? first : "") +
                ": give one evaluation input (eval.data, eval.coco, eval.lvis or eval.classification)");
    first = key;
  }
  const bool det_file = !e.coco.empty() || !e.lvis.empty();
  const bool cls_list = !e.classification.empty();
  const std::string src = first ? first : "";
  const std::string task = task_name(c.data.task);
  require(!det_file || c.data.task == Task::det, "data.task", "must be det with " + src + " (got " + task + ")");
  require(!cls_list || c.data.task == Task::cls, "data.task",
          "must be cls with eval.classification (got " + task + ")");
  require(!det_file || !e.categories.empty(), "eval.categories",
          "is required with " + src + ": comma-separated names, a file of names, or all");
  require(det_file || e.categories.empty(), "eval.categories", "applies only to eval.coco and eval.lvis");
  require(det_file || e.exist_map.empty(), "eval.exist_map", "applies only to eval.coco and eval.lvis");
  require(!cls_list || !e.classnames.empty(), "eval.classnames",
          "is required with eval.classification: the class names, one a line (line index = label)");
  require(cls_list || e.classnames.empty(), "eval.classnames", "applies only to eval.classification");
  require(cls_list || e.subject == ClsSubject::automatic, "eval.subject", "applies only to eval.classification");
  require(det_file || cls_list || e.images.empty(), "eval.images",
          "applies only to eval.coco, eval.lvis and eval.classification (eval.data's images start at data.image_root)");
  return first;
}

}  // namespace

double LoraConfig::scale() const {
  return use_rslora ? alpha / std::sqrt(static_cast<double>(r)) : alpha / static_cast<double>(r);
}

void validate(const Config& c) {
  RangeCheck ranges;
  Config fields = c;  // visit() hands out mutable fields; the check reads a copy
  fields.visit(ranges);

  // What one key's range cannot say: rules between keys.
  const auto& d = c.data;
  require(d.max_pixels >= d.min_pixels, "data.max_pixels", "must be >= data.min_pixels");
  const auto& r = c.rollout;
  require(c.train.trainer != TrainerKind::grpo || r.num_generations >= 2, "rollout.num_generations",
          "must be >= 2 for GRPO: advantages compare completions within a group");
  const auto& w = c.rewards;
  require(w.weights.empty() || w.weights.size() == w.functions.size(), "rewards.weights",
          "needs one weight per entry of rewards.functions (" + std::to_string(w.functions.size()) + "), got " +
              std::to_string(w.weights.size()));
  std::set<std::string> uniq(w.functions.begin(), w.functions.end());
  require(uniq.size() == w.functions.size(), "rewards.functions", "names a reward twice");
  const auto& t = c.train;
  require(t.epochs >= 1 || t.max_steps > 0, "train.epochs", "must be >= 1 when train.max_steps is 0");
  if (t.trainer == TrainerKind::grpo) {
    require(
        t.micro_batch_size % r.num_generations == 0, "train.micro_batch_size",
        "must be a multiple of rollout.num_generations (a micro-batch holds whole groups, which share their prompt)");
    require((t.prompts_per_step * r.num_generations) % t.micro_batch_size == 0, "train.micro_batch_size",
            "must divide train.prompts_per_step x rollout.num_generations (equal micro-batches per step)");
  }
  require(c.eval.best_of == 1 || c.eval.temperature > 0, "eval.best_of",
          "needs eval.temperature > 0: greedy decoding gives the same answer K times");
  const bool has_eval_input = validate_eval_inputs(c) != nullptr;
  const bool evaluates = t.eval_steps > 0 || t.eval_before_train;
  require(!evaluates || has_eval_input, t.eval_steps > 0 ? "train.eval_steps" : "train.eval_before_train",
          "needs an evaluation input: set eval.data, eval.coco, eval.lvis or eval.classification");
  require(!t.save_best || t.eval_steps > 0, "train.save_best",
          "needs train.eval_steps > 0 (it keeps the best evaluation's model)");
  require(!c.lora.enabled() || !c.lora.target_modules.empty(), "lora.target_modules",
          "must name at least one layer when lora.r > 0");
  require(!c.lora.enabled() || c.grpo.ref_sync_steps == 0, "grpo.ref_sync_steps",
          "must be 0 with LoRA: the reference model is the base model with the adapters switched off");
  const Shard shard = c.distributed.mode();
  require(!(c.distributed.shard_optimizer && c.distributed.shard == Shard::gradients), "distributed.shard_optimizer",
          "contradicts distributed.shard: gradients (which shards the optimizer too): remove shard_optimizer");
  require(!c.lora.enabled() || shard != Shard::gradients, "distributed.shard",
          "gradients does not go with LoRA: the adapters are float32 already and the base does not train; use "
          "shard: optimizer");
  if (shard == Shard::gradients) {
    // One working dtype (model.dtype, else rollout.dtype) for the forward, backward and rollouts.
    require(c.model.dtype == DtypeChoice::automatic || c.rollout.dtype == DtypeChoice::automatic ||
                c.model.dtype == c.rollout.dtype,
            "model.dtype",
            "must equal rollout.dtype (or one of them be auto) with distributed.shard: gradients: one copy of "
            "the weights serves training and rollouts; the float32 masters live in the optimizer");
    for (const auto& [d, key] : {std::pair{c.model.dtype, "model.dtype"}, std::pair{c.rollout.dtype, "rollout.dtype"}})
      require(d != DtypeChoice::float16, key,
              "must not be float16 with distributed.shard: gradients: its gradients underflow without loss "
              "scaling, which visual-rft does not do; use bfloat16");
  }
  for (const std::string& to : c.logging.report_to)
    require(to == "jsonl" || to == "tensorboard", "logging.report_to",
            "holds '" + to + "': expected jsonl or tensorboard (W&B: scripts/wandb_sync.py streams metrics.jsonl)");

  const std::string& dev = c.model.device;
  bool dev_ok = dev == "auto" || dev == "cpu" || dev == "cuda";
  if (!dev_ok && dev.rfind("cuda:", 0) == 0 && dev.size() > 5) {
    dev_ok = dev.find_first_not_of("0123456789", 5) == std::string::npos;
  }
  require(dev_ok, "model.device", "must be auto, cpu, cuda or cuda:N; got '" + dev + "'");
}

}  // namespace vrft
