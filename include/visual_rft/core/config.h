// visual_rft/core/config.h: the run configuration as plain structs, one per YAML section.
//
// Every field is declared exactly once, in its section's visit(v) list, as
//     v(field, "key", "help")                    bool, int64_t, double, string, lists
//     v(field, "key", "help", {"a", "b", ...})   a string restricted to the listed choices
//     v(field, "key", "help") of an enum          a choice: its words from core/choice.h
//     v(field, "key", "help", at_least(1))       a number restricted to a range (validate())
// and that one list drives YAML parsing, --set overrides, `config show` (the resolved YAML),
// `config schema` and the README's config reference (as gemma.cpp's VisitFields).
// Defaults follow the Visual-RFT reference run (its training scripts); a comment
// marks each place where they depart from TRL's GRPOConfig.
//
// Parsing is strict: an unknown key, a wrong type or a value outside its choices is an error
// that names the file, line and key (and the nearest valid key for a misspelling).
#pragma once

#include <cstdint>
#include <initializer_list>
#include <limits>
#include <string>
#include <vector>

#include "visual_rft/core/choice.h"
#include "visual_rft/core/task.h"

namespace vrft {

// ---- the choices of the config (core/choice.h): enums with their words ----
enum class LossType { grpo, bnpo, dr_grpo, dapo };  // TRL's GRPOTrainer loss types
template <>
struct Choice<LossType> {
  static constexpr const char* names[] = {"grpo", "bnpo", "dr_grpo", "dapo"};
};
enum class ScaleRewards {
  group,
  batch,
  none
};  // what divides the advantages: the std of a group, of the step, nothing
template <>
struct Choice<ScaleRewards> {
  static constexpr const char* names[] = {"group", "batch", "none"};
};
enum class LrSchedule { constant, linear, cosine };
template <>
struct Choice<LrSchedule> {
  static constexpr const char* names[] = {"constant", "linear", "cosine"};
};
enum class DecodeMode { automatic, eager, fixed, graph };  // rollout/generator.h
template <>
struct Choice<DecodeMode> {
  static constexpr const char* names[] = {"auto", "eager", "fixed", "graph"};
};
enum class TrainerKind { grpo, sft };
template <>
struct Choice<TrainerKind> {
  static constexpr const char* names[] = {"grpo", "sft"};
};
// data.missing_images. Not data/'s MissingImages: a training row must have its image, so
// training has no "keep" (which `data convert` offers for images copied in later).
enum class OnMissingImage { error, skip };
template <>
struct Choice<OnMissingImage> {
  static constexpr const char* names[] = {"error", "skip"};
};
// data.image_position: where the image goes in the user's turn.
enum class ImagePosition { before_text, after_text };
template <>
struct Choice<ImagePosition> {
  static constexpr const char* names[] = {"before_text", "after_text"};
};
enum class DtypeChoice { automatic, float32, bfloat16, float16 };  // model.dtype, rollout.dtype
template <>
struct Choice<DtypeChoice> {
  static constexpr const char* names[] = {"auto", "float32", "bfloat16", "float16"};
};
enum class AutocastChoice { automatic, off, bfloat16, float16 };  // model.autocast
template <>
struct Choice<AutocastChoice> {
  static constexpr const char* names[] = {"auto", "off", "bfloat16", "float16"};
};
enum class Compat { strict, visual_rft };  // rewards.compat (reward/rewards.h)
template <>
struct Choice<Compat> {
  static constexpr const char* names[] = {"strict", "visual_rft"};
};
enum class EvalPixels { config, model };  // eval.pixels
template <>
struct Choice<EvalPixels> {
  static constexpr const char* names[] = {"config", "model"};
};
enum class ClsSubject { automatic, aircraft, plant, flower, pet, car };  // eval.subject: the classification prompt's
template <>
struct Choice<ClsSubject> {
  static constexpr const char* names[] = {"auto", "aircraft", "plant", "flower", "pet", "car"};
};
enum class Backend { automatic, nccl, gloo };  // distributed.backend
template <>
struct Choice<Backend> {
  static constexpr const char* names[] = {"auto", "nccl", "gloo"};
};
enum class Shard { none, optimizer, gradients };  // distributed.shard (ZeRO stage 0, 1, 2)
template <>
struct Choice<Shard> {
  static constexpr const char* names[] = {"none", "optimizer", "gradients"};
};

// The values a numeric key allows, declared beside the key; validate() refuses others with
// "config key 'section.key': must be >= 0 (0 = off)".
struct Range {
  double lo = -std::numeric_limits<double>::infinity(), hi = std::numeric_limits<double>::infinity();
  bool lo_open = false, hi_open = false;
  const char* note = nullptr;  // what a special value means, said after the range
  bool contains(double x) const { return (lo_open ? x > lo : x >= lo) && (hi_open ? x < hi : x <= hi); }
  std::string text() const;  // "must be >= 0 (0 = off)", "must be in (0, 1]"
};
inline Range at_least(double lo, const char* note = nullptr) { return {lo, Range{}.hi, false, false, note}; }
inline Range above(double lo, const char* note = nullptr) { return {lo, Range{}.hi, true, false, note}; }
// [lo, hi], with either end open when asked: in_range(0, 1, false, true) is [0, 1).
inline Range in_range(double lo, double hi, bool lo_open = false, bool hi_open = false) {
  return {lo, hi, lo_open, hi_open, nullptr};
}

struct ModelConfig {
  std::string path;                                     // HF model folder
  DtypeChoice dtype = DtypeChoice::automatic;           // weights' dtype
  AutocastChoice autocast = AutocastChoice::automatic;  // compute dtype of the trained model's forward and backward
  std::string device = "auto";                          // auto | cpu | cuda | cuda:N
  bool gradient_checkpointing = false;

  template <class V>
  void visit(V& v) {
    v(path, "path", "Hugging Face model folder (config.json, *.safetensors, tokenizer.json).");
    v(dtype, "dtype",
      "Dtype of the trained weights (and the optimiser's master copy): auto = float32. "
      "Generation and evaluation alone: auto = bfloat16 on CUDA, float32 on the CPU.");
    v(autocast, "autocast",
      "Autocast of the trained model's forward/backward: auto = bfloat16 on CUDA with float32 "
      "weights, off on the CPU.");
    v(device, "device", "Where to run: auto (CUDA when present), cpu, cuda or cuda:N.");
    v(gradient_checkpointing, "gradient_checkpointing",
      "Recompute each decoder and vision block in backward to save activation memory.");
  }
};

struct DataConfig {
  Task task = Task::det;
  std::string train;
  std::string image_root;
  int64_t min_pixels = 3136;    // 4 * 28 * 28
  int64_t max_pixels = 401408;  // 512 * 28 * 28, the reference scripts' setting
  int64_t max_prompt_length = 1024;
  std::string system_prompt;
  ImagePosition image_position = ImagePosition::before_text;
  bool shuffle = true;
  OnMissingImage missing_images = OnMissingImage::error;
  int64_t max_image_pixels = 178956970;  // Pillow's MAX_IMAGE_PIXELS (image/image_header.h)

  template <class V>
  void visit(V& v) {
    v(task, "task", "Task of the data: cls (classification), det (detection), ground (grounding).");
    v(train, "train", "Training data: a Visual-RFT JSONL file ({image, problem, solution} per line).");
    v(image_root, "image_root", "Folder that relative image paths start from; empty = the JSONL's folder.");
    v(min_pixels, "min_pixels", "Smallest image area after smart_resize, in pixels.", above(0));
    v(max_pixels, "max_pixels", "Largest image area after smart_resize, in pixels.");
    v(max_prompt_length, "max_prompt_length",
      "Prompts longer than this many tokens (image tokens included) are skipped and counted.", above(0));
    v(system_prompt, "system_prompt", "System prompt; empty = the chat template's default.");
    v(image_position, "image_position",
      "Where the image goes in the user's turn: before_text (the reference's prompts) or after_text (the "
      "question first, so that the image's tokens can attend to it; a model answers best in the layout "
      "it was trained in).");
    v(shuffle, "shuffle", "Shuffle the training data each epoch (seeded by train.seed).");
    v(missing_images, "missing_images",
      "A missing or unreadable training image: error (stop before step 1, naming FILE:LINE) or skip (count and "
      "go on).");
    v(max_image_pixels, "max_image_pixels",
      "Images with more pixels (width x height, read from the file's header) are refused before decoding: "
      "decompression bombs. Pillow's limit by default.",
      above(0));
  }
};

struct RolloutConfig {
  int64_t num_generations = 8;   // G
  int64_t max_new_tokens = 256;  // TRL HEAD: 512; the reference ran TRL <= 0.19 (256)
  double temperature = 1.0;
  int64_t top_k = 0;
  double top_p = 1.0;
  double min_p = 0.0;
  double repetition_penalty = 1.0;
  int64_t batch_size = 0;
  DtypeChoice dtype = DtypeChoice::automatic;
  DecodeMode decode = DecodeMode::automatic;

  template <class V>
  void visit(V& v) {
    v(num_generations, "num_generations", "Completions sampled per prompt (G).", at_least(1));
    v(max_new_tokens, "max_new_tokens", "Longest completion, in tokens (TRL's max_completion_length).", at_least(1));
    v(temperature, "temperature", "Sampling temperature; 0 = greedy.", at_least(0, "0 = greedy"));
    v(top_k, "top_k", "Keep the k most likely tokens; 0 = off.", at_least(0, "0 = off"));
    v(top_p, "top_p", "Nucleus sampling: keep the smallest set with this much probability; 1 = off.",
      in_range(0, 1, true, false));
    v(min_p, "min_p", "Drop tokens below min_p times the top probability; 0 = off.", in_range(0, 1, false, true));
    v(repetition_penalty, "repetition_penalty", "CTRL-style penalty on tokens already present; 1 = off.",
      above(0, "1 = off"));
    v(batch_size, "batch_size", "Prompts generated together; 0 = all prompts of a step at once.", at_least(0));
    v(dtype, "dtype",
      "Weights that generate: auto = bfloat16 on CUDA (a copy of the policy refreshed before each step), "
      "the policy's dtype on the CPU. The reference model keeps the policy's dtype and autocast, so that "
      "its log-probs equal the policy's at step 0.");
    v(decode, "decode",
      "Decode steps: auto (CUDA graphs on CUDA, else eager), eager, fixed (whole-cache shapes), graph.");
  }
};

struct RewardsConfig {
  Compat compat = Compat::strict;
  std::vector<std::string> functions;
  std::vector<double> weights;
  std::string synonyms;
  std::string python;
  std::string python_exe = "python3";
  double python_timeout_s = 600;
  std::vector<std::string> external;

  template <class V>
  void visit(V& v) {
    v(compat, "compat", "strict closes the reference's reward holes; visual_rft reproduces its code exactly.");
    v(functions, "functions",
      "Rewards summed into the total, by name; empty = the task's: cls [accuracy_cls, format], "
      "det [iou, confidence, format], ground [iou_grounding, format]. Names not built in are rewards.external "
      "commands or functions of rewards.python.");
    v(weights, "weights", "One weight per reward in functions; empty = all 1.");
    v(synonyms, "synonyms", "Optional file of class-name synonyms for accuracy_cls (strict mode).");
    v(python, "python",
      "A Python file of reward functions with TRL's signature (f(completions, **kwargs) -> list[float]; "
      "docs/rewards.md), named in functions; one process serves the run.");
    v(python_exe, "python_exe", "The Python that runs rewards.python.");
    v(python_timeout_s, "python_timeout_s",
      "Longest wait for the Python rewards of one step (or their start-up), and for an external reward's "
      "answer, in seconds; longer stops the run.",
      above(0));
    v(external, "external",
      "Rewards computed by commands, as name=command (run by /bin/sh, one process per reward for the run): "
      "JSON lines in ({completion, completion_ids, solution, problem, image, task}), one number per line out; "
      "named in functions.");
  }
};

struct GrpoConfig {
  double beta = 0.04;  // TRL HEAD: 0.0; the reference ran TRL <= 0.18 (0.04)
  double epsilon_low = 0.2;
  double epsilon_high = 0.2;
  LossType loss_type = LossType::grpo;  // TRL HEAD: dapo; the reference's TRL computed grpo
  ScaleRewards scale_rewards = ScaleRewards::group;
  double advantage_eps = 1e-4;
  int64_t num_iterations = 1;
  bool mask_truncated_completions = false;
  bool filter_zero_std = false;
  int64_t ref_sync_steps = 0;
  double ref_sync_alpha = 0.6;

  template <class V>
  void visit(V& v) {
    v(beta, "beta", "Weight of the k3 KL penalty against the reference model; 0 = no reference model.", at_least(0));
    v(epsilon_low, "epsilon_low", "Lower clip range of the importance ratio: 1 - epsilon_low.",
      in_range(0, 1, false, true));
    v(epsilon_high, "epsilon_high", "Upper clip range of the importance ratio: 1 + epsilon_high.", at_least(0));
    v(loss_type, "loss_type", "How token losses are aggregated (TRL's GRPOTrainer loss types).");
    v(scale_rewards, "scale_rewards", "Divide advantages by the reward std of the group, batch, or not.");
    v(advantage_eps, "advantage_eps", "Added to the std before dividing (the reference: 1e-4).", at_least(0));
    v(num_iterations, "num_iterations", "Optimisation passes over each generation batch (mu).", at_least(1));
    v(mask_truncated_completions, "mask_truncated_completions",
      "Exclude completions cut at max_new_tokens from the loss.");
    v(filter_zero_std, "filter_zero_std", "Drop groups whose rewards are all equal (no signal).");
    v(ref_sync_steps, "ref_sync_steps",
      "Every this many optimizer steps (num_iterations per step, as TRL counts) mix the policy into the reference; 0 = "
      "never.",
      at_least(0));
    v(ref_sync_alpha, "ref_sync_alpha", "ref <- alpha * policy + (1 - alpha) * ref at each sync.", in_range(0, 1));
  }
};

struct OptimConfig {
  double lr = 1e-6;  // TRL's GRPO default, as in the reference
  double weight_decay = 0.0;
  double adam_beta1 = 0.9;
  double adam_beta2 = 0.999;
  double adam_eps = 1e-8;
  LrSchedule lr_schedule = LrSchedule::linear;
  int64_t warmup_steps = 0;
  double max_grad_norm = 1.0;

  template <class V>
  void visit(V& v) {
    v(lr, "lr", "Peak learning rate of AdamW.", at_least(0));
    v(weight_decay, "weight_decay", "Decoupled weight decay of AdamW.", at_least(0));
    v(adam_beta1, "adam_beta1", "AdamW beta1.", in_range(0, 1, false, true));
    v(adam_beta2, "adam_beta2", "AdamW beta2.", in_range(0, 1, false, true));
    v(adam_eps, "adam_eps", "AdamW epsilon.", above(0));
    v(lr_schedule, "lr_schedule", "Learning-rate schedule after warm-up.");
    v(warmup_steps, "warmup_steps", "Steps of linear warm-up from 0 to lr.", at_least(0));
    v(max_grad_norm, "max_grad_norm", "Clip the global gradient norm to this; 0 = no clipping.",
      at_least(0, "0 = no clipping"));
  }
};

struct TrainConfig {
  TrainerKind trainer = TrainerKind::grpo;
  std::string output_dir = "runs/visual-rft";
  int64_t max_steps = 0;
  int64_t epochs = 1;
  int64_t prompts_per_step = 16;  // 8 GPUs x 1 prompt x 2 accumulation in the reference
  int64_t micro_batch_size = 8;
  int64_t seed = 42;
  bool deterministic = false;
  bool freeze_vision = false;
  int64_t save_steps = 100;
  int64_t keep_last = 2;
  bool save_only_model = false;
  DtypeChoice save_dtype = DtypeChoice::automatic;
  bool resume_strict = true;
  int64_t eval_steps = 0;
  bool eval_before_train = false;
  bool save_best = false;

  template <class V>
  void visit(V& v) {
    v(trainer, "trainer", "grpo (Visual-RFT) or sft (supervised baseline on the same data).");
    v(output_dir, "output_dir", "Run folder: metrics, rollouts, checkpoints.");
    v(max_steps, "max_steps", "Optimiser steps to run; 0 = as many as epochs take.", at_least(0));
    v(epochs, "epochs", "Passes over the training data (when max_steps is 0).");
    v(prompts_per_step, "prompts_per_step", "Prompts per optimiser step (each gives G completions).", at_least(1));
    v(micro_batch_size, "micro_batch_size", "Sequences per forward/backward pass; bounds memory.", at_least(1));
    v(seed, "seed", "Seed of data order, sampling and initialisation.");
    v(deterministic, "deterministic", "Use deterministic kernels (slower) for bit-reproducible runs.");
    v(freeze_vision, "freeze_vision", "Keep the vision tower's weights fixed.");
    v(save_steps, "save_steps", "Write a checkpoint every this many steps; 0 = only at the end.", at_least(0));
    v(keep_last, "keep_last", "Keep this many newest checkpoints; 0 = keep all.", at_least(0));
    v(save_only_model, "save_only_model",
      "Checkpoints hold the model files only, without the optimizer and trainer state: smaller, but a run "
      "cannot resume from them.");
    v(save_dtype, "save_dtype",
      "dtype of the checkpoints' model weights: auto = that of the weights in model.path, or float32, "
      "bfloat16, float16 (config.json says which). A resumable checkpoint in a narrower dtype than training "
      "keeps the exact weights in trainer_state/, so resuming stays exact.");
    v(resume_strict, "resume_strict",
      "--resume refuses a checkpoint whose run differs from this config (trainer, seed, prompts_per_step, "
      "task, training data, model); data and model moved with the same contents are the same run. "
      "false = warn and go on.");
    v(eval_steps, "eval_steps",
      "Evaluate the policy every this many steps on the eval section's input, as visual-rft eval does "
      "(greedy unless eval.temperature), into OUT/eval/step-N/; the headline metric goes to metrics.jsonl "
      "and TensorBoard. 0 = never.",
      at_least(0));
    v(eval_before_train, "eval_before_train", "Also evaluate the start model, before step 1 (OUT/eval/step-0/).");
    v(save_best, "save_best",
      "Keep the model of the best evaluation so far (highest headline metric: accuracy, mAP or mIoU) in "
      "OUT/best/, with best.json naming its step and value.");
  }
};

struct EvalConfig {
  // The evaluation input: exactly one of data, coco, lvis, classification (run_evaluation
  // refuses none; validate() refuses two and every key that does not apply to the one given).
  std::string data;
  std::string coco;
  std::string lvis;
  std::string classification;
  std::string classnames;
  ClsSubject subject = ClsSubject::automatic;
  std::string images;
  std::string categories;
  std::string exist_map;
  std::string output_dir;  // empty: eval/<name of the config file>
  int64_t batch_size = 8;
  int64_t max_new_tokens = 1024;  // the reference's eval scripts (LISA: 128)
  double temperature = 0.0;
  int64_t best_of = 1;
  double repetition_penalty = 0.0;
  EvalPixels pixels = EvalPixels::config;
  int64_t draw_images = 8;

  template <class V>
  void visit(V& v) {
    v(data, "data",
      "Evaluation data: a Visual-RFT JSONL of task data.task. One of eval.data, eval.coco, eval.lvis or "
      "eval.classification is required: there is no fallback to data.train (set it to the same file to score "
      "the training set).");
    v(coco, "coco",
      "det: a COCO instances JSON. Each (image, selected category) pair, or each pair of eval.exist_map, is "
      "asked with the reference's eval prompt; COCOeval scores the answers against the file.");
    v(lvis, "lvis", "det: an LVIS v1 JSON (image files from coco_url), asked as eval.coco and scored by LVISEval.");
    v(classification, "classification",
      "cls: a split list relpath<TAB>label<TAB>classname, asked with the classification prompt of eval.subject.");
    v(classnames, "classnames", "Required with eval.classification: the class names, one a line (line index = label).");
    v(subject, "subject", "With eval.classification: the prompt's subject; auto = from the list's file name.");
    v(images, "images",
      "Image folder of eval.coco/eval.lvis (file_name, or split/name of coco_url) or eval.classification "
      "(relpath); empty = the file's folder. eval.data's images start at data.image_root.");
    v(categories, "categories",
      "Required with eval.coco/eval.lvis: the selected categories, as comma-separated names, a file of "
      "names (one a line, e.g. data/categories/coco_fewshot8.txt) or all.");
    v(exist_map, "exist_map",
      "With eval.coco/eval.lvis: the reference's existence map {image id: [names]}; only its pairs of "
      "selected categories are asked. Empty = every (image, selected category) pair.");
    v(output_dir, "output_dir",
      "Where predictions.jsonl, metrics.json, summary.md and vis/ go; empty = eval/<config file name>.");
    v(batch_size, "batch_size", "Prompts generated together.", at_least(1));
    v(max_new_tokens, "max_new_tokens", "Longest answer, in tokens.", at_least(1));
    v(temperature, "temperature", "0 = greedy (the reference's near-greedy decoding); > 0 samples one answer.",
      at_least(0, "0 = greedy"));
    v(best_of, "best_of",
      "1 = one answer per question. K > 1 samples K answers (eval.temperature > 0) and keeps the one the run's "
      "rewards rank first against the truth: an oracle, as pass@k is, that measures what the model answers in K "
      "tries, the headroom a reinforcement step can sharpen into one answer.",
      at_least(1));
    v(repetition_penalty, "repetition_penalty",
      "0 = the model folder's generation_config.json (1 = off when it names none), which transformers' "
      "generate() applies even when greedy; > 0 overrides it.",
      at_least(0, "0 = the model folder's"));
    v(pixels, "pixels",
      "Image size of the questions: config = data.min_pixels/max_pixels; model = the evaluated folder's "
      "preprocessor_config.json (checkpoints record the size they trained at), as the reference's LISA "
      "evaluation does.");
    v(draw_images, "draw_images",
      "det and ground: the first this many samples drawn into vis/ with predicted and true boxes.", at_least(0));
  }
};

// LoRA as PEFT's LoraConfig names it (r, lora_alpha, lora_dropout, target_modules,
// use_rslora): only the adapters train; the reference model is the base with them off.
struct LoraConfig {
  int64_t r = 0;
  double alpha = 8;
  double dropout = 0;
  std::vector<std::string> target_modules{"q_proj", "v_proj"};
  bool use_rslora = false;

  bool enabled() const { return r > 0; }
  double scale() const;  // alpha / r, or alpha / sqrt(r) with use_rslora

  template <class V>
  void visit(V& v) {
    v(r, "r",
      "LoRA rank; 0 = off (every weight trains). With r > 0 only the adapters train and have optimizer state, "
      "checkpoints hold the adapter in PEFT's format, and the reference model is the base with the adapters off.",
      at_least(0, "0 = off"));
    v(alpha, "alpha", "PEFT's lora_alpha: the adapter's output is scaled by alpha / r.", at_least(0));
    v(dropout, "dropout", "Dropout on the adapter's input while training (PEFT's lora_dropout).",
      in_range(0, 1, false, true));
    v(target_modules, "target_modules",
      "Linear layers to adapt, as PEFT matches them (a module named so, or ending in .NAME): q_proj, k_proj, "
      "v_proj, o_proj, gate_proj, up_proj, down_proj; vision tower: qkv, proj, fc1, fc2. One entry with a "
      "regular expression character must match whole module names instead.");
    v(use_rslora, "use_rslora", "Rank-stabilised LoRA: scale alpha / sqrt(r).");
  }
};

struct DistributedConfig {
  Backend backend = Backend::automatic;
  int64_t timeout_s = 1800;
  Shard shard = Shard::none;
  bool shard_optimizer = false;
  int64_t bucket_mb = 25;

  // What is sharded: `shard`, or `optimizer` when only the older key shard_optimizer says so.
  Shard mode() const { return shard == Shard::none && shard_optimizer ? Shard::optimizer : shard; }

  template <class V>
  void visit(V& v) {
    v(backend, "backend", "Collective backend: auto = nccl on CUDA, gloo on the CPU.");
    v(timeout_s, "timeout_s", "Seconds a collective may wait before the job stops with an error.", at_least(1));
    v(shard, "shard",
      "none: every rank holds the whole AdamW state. optimizer (ZeRO-1): each rank keeps 1/N of the AdamW "
      "state. gradients (ZeRO-2): the weights are held in one working dtype (model.dtype, else rollout.dtype: "
      "bf16 on CUDA) for the forward, the backward and the rollouts, and each rank keeps the float32 master "
      "weights, gradients and AdamW state of its 1/N only; gradients go to their owner after each micro-batch.");
    v(shard_optimizer, "shard_optimizer", "Older name of shard: optimizer.");
    v(bucket_mb, "bucket_mb", "Size of the gradient reduction buckets, in MiB.", at_least(1));
  }
};

struct LoggingConfig {
  std::string level = "info";
  int64_t log_steps = 1;
  int64_t sample_steps = 10;
  int64_t num_samples = 4;
  bool progress = true;
  std::vector<std::string> report_to{"jsonl"};

  template <class V>
  void visit(V& v) {
    v(level, "level", "Console log level.", {"trace", "debug", "info", "warn", "error"});
    v(log_steps, "log_steps", "Write a metrics.jsonl line every this many steps.", at_least(1));
    v(sample_steps, "sample_steps", "Write rollout samples every this many steps; 0 = never.", at_least(0));
    v(num_samples, "num_samples", "Prompts (with all their completions) written per sample step.", at_least(0));
    v(progress, "progress",
      "A progress line per step (train) and per batch (eval) on the console; false = at debug level only.");
    v(report_to, "report_to",
      "Where training metrics go: jsonl (OUT/metrics.jsonl, always written) and tensorboard (event files in "
      "OUT/tb/: every metric under TRL's names, rollout samples as text). W&B: scripts/wandb_sync.py OUT.");
  }
};

// The whole run configuration. Sections appear in this order in every output.
struct Config {
  ModelConfig model;
  DataConfig data;
  RolloutConfig rollout;
  RewardsConfig rewards;
  GrpoConfig grpo;
  OptimConfig optim;
  TrainConfig train;
  EvalConfig eval;
  LoraConfig lora;
  DistributedConfig distributed;
  LoggingConfig logging;

  template <class V>
  void visit(V& v) {
    v.section("model", model, "The policy model and where it runs.");
    v.section("data", data, "Training data and the image processor's limits.");
    v.section("rollout", rollout, "Sampling of G completions per prompt.");
    v.section("rewards", rewards, "Verifiable rewards and their weights.");
    v.section("grpo", grpo, "The GRPO objective.");
    v.section("optim", optim, "AdamW and the learning-rate schedule.");
    v.section("train", train, "The training loop, checkpoints and reproducibility.");
    v.section("eval", eval, "visual-rft eval.");
    v.section("lora", lora, "LoRA adapters (PEFT's format) instead of training every weight.");
    v.section("distributed", distributed, "Data-parallel training under torchrun.");
    v.section("logging", logging, "Console output, metrics and samples.");
  }
};

// The model folder and (when `training`) the training data a run reads, checked before
// anything is loaded: a path that does not exist is a ConfigError naming the key, the path,
// and the `scripts/get.sh` command that fetches it when it is one of the shipped configs'.
void check_run_inputs(const Config& cfg, bool training);

// The same check for one model folder given by `key` (model.path, or a --model flag): for a
// hub id the cache lacks, the error gives the download command (core/hub.h).
void require_model_folder(const std::string& key, const std::string& path);

// Parses a YAML file over the defaults. Throws ConfigError naming file, line and key.
Config load_config(const std::string& path);
// Parses YAML text (`origin` names it in errors) over the defaults.
Config parse_config(const std::string& yaml_text, const std::string& origin);
// Applies one "section.key=value" override; the value is YAML (`[a, b]` for lists).
void apply_override(Config& cfg, const std::string& assignment);
// Checks ranges and cross-field rules; throws ConfigError naming the key.
void validate(const Config& cfg);

// The resolved config as YAML that parse_config reads back to an equal Config.
std::string to_yaml(const Config& cfg);

// One row per key, for `config schema` and the README's reference.
struct FieldInfo {
  std::string key;            // "section.key"
  std::string type;           // bool, int, float, string, list[string], list[float], one of a|b
  std::string default_value;  // as YAML
  std::string help;
};
std::vector<FieldInfo> config_schema();
std::vector<std::string> config_keys();  // every "section.key", in order
// The schema as the markdown table kept in README.md (a test checks they agree).
std::string config_reference_markdown();

}  // namespace vrft
