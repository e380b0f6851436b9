// src/train/training_run.cpp: a training run's set-up and end of step (see the header).
#include "visual_rft/train/training_run.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <limits>
#include <map>

#include "visual_rft/core/device.h"
#include "visual_rft/core/error.h"
#include "visual_rft/core/fs.h"
#include "visual_rft/core/log.h"
#include "visual_rft/eval/evaluator.h"
#include "visual_rft/image/image_header.h"
#include "visual_rft/model/lora.h"

namespace vrft {

namespace fs = std::filesystem;

nlohmann::json PhaseTimer::json(double step_s) const {
  nlohmann::json j{{"step_s", step_s}};
  for (const auto& [name, s] : seconds_) j[name] = s;
  return j;
}

namespace {

const Config& validated(const Config& cfg) {
  validate(cfg);
  return cfg;
}

DistEnv checked_env(const Config& cfg) {
  DistEnv env = dist_env_from_environment();
  check_world(cfg, env.world_size);
  return env;
}

// Rank 0 owns the run folder; the others hold no lock.
std::optional<RunFolderLock> lock_on_main(const DataParallel& dp, const std::string& dir) {
  if (!dp.is_main()) return std::nullopt;
  return std::optional<RunFolderLock>(std::in_place, dir);
}

// The training rows, each checked before anything is written (see load_training_rows).
std::vector<Sample> checked_rows(const Config& cfg, const RunKind& kind) {
  LoadReport rep;
  const auto t0 = PhaseTimer::Clock::now();
  std::vector<Sample> rows = load_training_rows(cfg, kind.check_solutions, &rep);
  log_info("data: {} samples from {}, checked in {:.1f} s ({} missing and {} unreadable images skipped)", rep.kept,
           cfg.data.train, std::chrono::duration<double>(PhaseTimer::Clock::now() - t0).count(), rep.missing_images,
           rep.unreadable_images);
  return rows;
}

}  // namespace

TrainingRun::TrainingRun(const Config& config, const std::string& resume, bool overwrite, RunKind run_kind)
    : cfg(validated(config)),
      kind(std::move(run_kind)),
      env(checked_env(cfg)),
      dev(rank_device(cfg.model.device, env)),
      dp(env, cfg.distributed, dev),
      lock(lock_on_main(dp, cfg.train.output_dir)),
      prec(resolve_precision(cfg, dev)),
      P(cfg.train.prompts_per_step),
      P_rank(P / dp.world()),
      samples(checked_rows(cfg, kind)),
      enc(PromptEncoder::from_model_dir(cfg.model.path)),
      order(static_cast<int64_t>(samples.size()), static_cast<uint64_t>(cfg.train.seed), cfg.data.shuffle) {
  if (cfg.train.deterministic) at::globalContext().setDeterministicAlgorithms(true, false);

  // ---- the prompts' image size ----
  enc.processor().min_pixels = cfg.data.min_pixels;
  enc.processor().max_pixels = cfg.data.max_pixels;

  // ---- the policy from the start checkpoint, and its optimiser ----
  start_checkpoint = run_start_checkpoint(cfg.train.output_dir, resume, overwrite, dp.is_main());
  if (cfg.lora.enabled()) {
    open_lora_policy();
  } else {
    if (!start_checkpoint.empty() && is_adapter_dir(start_checkpoint))
      throw ConfigError("'" + start_checkpoint +
                        "' holds a LoRA adapter: resume it with the run's lora section (lora.r " +
                        std::to_string(read_adapter_config(start_checkpoint).r) + ")");
    // With shard: gradients the model is read in float32 first: the optimizer takes its slice of
    // the masters, then the model becomes the working copy (below).
    policy = load_qwen2vl(start_checkpoint.empty() ? cfg.model.path : start_checkpoint,
                          prec.sharded_masters ? torch::kFloat : prec.weights, dev);
    if (!start_checkpoint.empty()) restore_master_weights(policy, start_checkpoint);  // narrower model files
  }
  if (cfg.train.freeze_vision) {
    for (auto& p : policy->visual->parameters()) p.set_requires_grad(false);
  }
  policy->model->gradient_checkpointing = cfg.model.gradient_checkpointing;
  policy->visual->gradient_checkpointing = cfg.model.gradient_checkpointing;
  for (const auto& p : policy->named_parameters(true)) named.emplace_back(p.key(), p.value());
  adam.emplace(dp, named,
               AdamWOptions{cfg.optim.lr, cfg.optim.adam_beta1, cfg.optim.adam_beta2, cfg.optim.adam_eps,
                            cfg.optim.weight_decay},
               cfg.distributed.mode());
  if (prec.sharded_masters) {  // the working copy: every parameter in prec.weights (same tensors, new data)
    torch::NoGradGuard ng;
    policy->to(prec.weights);
    release_cached_gpu_memory(dev);  // the float32 load's blocks, kept by the caching allocator
  }
  optimizer_gb = adam->report_memory();
  total = total_steps(cfg, static_cast<int64_t>(samples.size()));
  // Checksums the data and the model once, not at every save; only where it is used: rank 0
  // saves it in each checkpoint, and every rank checks a resume against it.
  if (dp.is_main() || !start_checkpoint.empty()) identity = run_identity(cfg);
  if (!start_checkpoint.empty()) {
    CheckpointData st = load_checkpoint_state(start_checkpoint);
    check_resume_identity(identity, cfg.train.resume_strict, st.state, start_checkpoint);
    adam->load_state(st.optimizer);
    start = st.state.at("step").get<int64_t>();
    resumed_state = std::move(st.state);
    resumed_ref_model = std::move(st.ref_model);
    log_info("resumed from {} at step {}", start_checkpoint, start);
  }

  // ---- the checkpoints' weights: dtype, and whether they are all there is ----
  save_dtype = cfg.train.save_dtype == DtypeChoice::automatic ? stored_weights_dtype(cfg.model.path)
                                                              : resolve_dtype(cfg.train.save_dtype, dev);
  if (cfg.train.save_only_model)
    log_warn("train.save_only_model: checkpoints hold the model files only; this run cannot be resumed");

  // ---- the run folder (rank 0): config, metrics, samples, checkpoints ----
  if (dp.is_main()) {
    open_run_folder(cfg, cfg.train.output_dir, start, kind.samples_subdir, metrics);
    const auto& to = cfg.logging.report_to;
    if (std::find(to.begin(), to.end(), "tensorboard") != to.end()) tb.emplace(cfg.train.output_dir + "/tb", start);
  }
  // train.save_best: a resumed run goes on from the best its evaluations reached (every rank
  // reads it, so that they agree on what is better).
  const std::string best_json = cfg.train.output_dir + "/best/best.json";
  if (cfg.train.save_best && start > 0 && fs::exists(best_json))
    best_eval = nlohmann::json::parse(read_file(best_json)).value("value", -1.0);
  if (cfg.train.eval_before_train && start == 0) {
    write_record(0, {{"step", 0}, {"eval", evaluate(0)}});
  }
  result.final_step = start;  // a resumed run that is already done reports where it is
}

void TrainingRun::open_lora_policy() {
  // The base does not train: it is held in the dtype the forward computes in (bf16 on CUDA,
  // which autocast would cast float32 weights to anyway; float32 on the CPU), so neither a
  // float32 master copy nor a separate rollout copy exists. The adapters are float32.
  policy = load_qwen2vl(cfg.model.path, prec.rollout, dev);
  if (start_checkpoint.empty()) {
    torch::manual_seed(static_cast<uint64_t>(cfg.train.seed));  // the adapters' A: the same on every rank
    add_lora(policy, cfg.lora);
  } else {
    if (!is_adapter_dir(start_checkpoint))
      throw ConfigError("'" + start_checkpoint +
                        "' is a whole model, not a LoRA adapter: lora.r must be 0 to resume it");
    const LoraConfig saved = read_adapter_config(start_checkpoint);
    if (saved.r != cfg.lora.r || saved.alpha != cfg.lora.alpha || saved.target_modules != cfg.lora.target_modules ||
        saved.use_rslora != cfg.lora.use_rslora)
      throw ConfigError("'" + start_checkpoint +
                        "/adapter_config.json' differs from the lora section (r, alpha, target_modules, use_rslora): "
                        "resume with the checkpoint's LoRA settings");
    load_peft_adapter(policy, start_checkpoint);
  }
  for (auto& p : policy->parameters()) p.set_requires_grad(false);
  int64_t n = 0, all = 0;
  for (auto& [name, t] : lora_parameters(policy)) {
    t.set_requires_grad(true);
    n += t.numel();
  }
  for (const auto& p : policy->parameters()) all += p.numel();
  log_info("LoRA: r {}, alpha {}, {} trainable parameters ({:.2f} % of {})", cfg.lora.r, cfg.lora.alpha, n,
           100.0 * static_cast<double>(n) / static_cast<double>(all), all);
}

double TrainingRun::eta_s(int64_t step) const {
  const double elapsed = std::chrono::duration<double>(PhaseTimer::Clock::now() - t0).count();
  return elapsed / static_cast<double>(step + 1 - start) * static_cast<double>(total - step - 1);
}

void TrainingRun::log_metrics(int64_t step, nlohmann::json record) {
  const bool eval_due = cfg.train.eval_steps > 0 && (step + 1) % cfg.train.eval_steps == 0;
  if (eval_due) record["eval"] = evaluate(step + 1);
  const bool log_due = cfg.logging.log_steps > 0 && (step + 1) % cfg.logging.log_steps == 0;
  if (log_due || eval_due) write_record(step + 1, record);
}

void TrainingRun::write_record(int64_t steps_done, const nlohmann::json& record) {
  if (metrics) metrics->write(record);
  if (tb) tb->scalars(steps_done, tensorboard_tags(record));
}

void TrainingRun::save_best(int64_t steps_done, const std::string& metric, double value,
                            std::vector<std::pair<std::string, torch::Tensor>> master_weights) {
  const std::string dir = cfg.train.output_dir + "/best";
  CheckpointData d;
  d.master_weights = std::move(master_weights);
  d.min_pixels = cfg.data.min_pixels;
  d.max_pixels = cfg.data.max_pixels;
  d.weights_dtype = save_dtype;
  d.weights_only = true;
  if (cfg.lora.enabled()) d.lora = &cfg.lora;
  const std::string saved = save_checkpoint(dir, steps_done, policy, cfg.model.path, d, /*keep_last=*/1);
  write_file_atomic(
      dir + "/best.json",
      nlohmann::json{{"step", steps_done}, {"metric", metric}, {"value", value}, {"model", saved}}.dump(1) + "\n");
  log_info("best {} so far ({:.4f}): model saved to {}", metric, value, saved);
}

nlohmann::json TrainingRun::evaluate(int64_t steps_done) {
  EvalRunOptions opt;
  opt.model_dir = cfg.model.path;  // the tokenizer and image processor
  opt.output_dir = cfg.train.output_dir + "/eval/step-" + std::to_string(steps_done);
  opt.model = policy;
  opt.shard = {dp.rank(), dp.world(), [this](const std::vector<std::string>& s) { return dp.gather_strings(s); }};
  // The images at the size the policy trains at, which its checkpoints record (eval.pixels:
  // model would otherwise mean model.path's processor, not the checkpoint's).
  Config ecfg = cfg;
  ecfg.eval.pixels = EvalPixels::config;
  log_info("evaluating the policy after step {} into {}", steps_done, opt.output_dir);
  const EvalOutcome outcome = run_evaluation(ecfg, opt);
  const char* key = headline_metric(cfg.data.task);
  const double value = outcome.metrics.value(key, std::numeric_limits<double>::quiet_NaN());
  log_info("eval after step {}: {} {:.4f} ({} questions)", steps_done, key, value,
           outcome.metrics.value("samples", int64_t{0}));
  if (tb) {  // the drawn answers (eval.draw_images of them), in TensorBoard's Images tab
    std::vector<std::string> drawn;
    if (fs::is_directory(opt.output_dir + "/vis"))
      for (const auto& e : fs::directory_iterator(opt.output_dir + "/vis")) drawn.push_back(e.path().string());
    std::sort(drawn.begin(), drawn.end());
    for (const std::string& path : drawn) {
      const std::optional<ImageHeader> h = read_image_header(path);
      if (h)
        tb->image("eval/boxes/" + fs::path(path).stem().string(), steps_done, read_file(path),
                  static_cast<int>(h->height), static_cast<int>(h->width));
    }
  }
  // A new best, as rank 0 judges it (each rank read best.json for itself; the decision leads
  // to a collective, so all must agree).
  const bool better = cfg.train.save_best && std::isfinite(value) && value > best_eval;
  if (cfg.train.save_best && dp.max({dp.is_main() && better ? 1.0 : 0.0})[0] > 0) {
    best_eval = value;
    std::vector<std::pair<std::string, torch::Tensor>> masters = adam->master_weights();  // collective
    if (dp.is_main()) save_best(steps_done, key, value, std::move(masters));
  }
  return {{key, value}, {"samples", outcome.metrics.value("samples", int64_t{0})}};
}

namespace {
// The record paths whose TRL name differs from "train/" + the path.
const std::map<std::string, std::string>& trl_names() {
  static const std::map<std::string, std::string> names = {{"reward/mean", "reward"},
                                                           {"reward/std", "reward_std"},
                                                           {"completion_length/mean", "completions/mean_length"},
                                                           {"completion_length/max", "completions/max_length"},
                                                           {"truncated_fraction", "completions/clipped_ratio"},
                                                           {"clip_ratio/low", "clip_ratio/low_mean"},
                                                           {"clip_ratio/high", "clip_ratio/high_mean"},
                                                           {"clip_ratio/region", "clip_ratio/region_mean"},
                                                           {"lr", "learning_rate"}};
  return names;
}

void flatten_metrics(const nlohmann::json& j, const std::string& path,
                     std::vector<std::pair<std::string, double>>& out) {
  if (j.is_object()) {
    for (const auto& [k, v] : j.items()) flatten_metrics(v, path.empty() ? k : path + "/" + k, out);
  } else if (j.is_number() && path != "step") {
    const auto it = trl_names().find(path);
    if (path.rfind("eval/", 0) == 0)  // evaluations: "eval/map", as HF's Trainer names them
      out.emplace_back(path, j.get<double>());
    else
      out.emplace_back("train/" + (it == trl_names().end() ? path : it->second), j.get<double>());
  }
}
}  // namespace

std::vector<std::pair<std::string, double>> tensorboard_tags(const nlohmann::json& record) {
  std::vector<std::pair<std::string, double>> out;
  flatten_metrics(record, "", out);
  return out;
}

void TrainingRun::end_step(int64_t step, const StopOnSignal& stop, int64_t skipped_updates,
                           const std::function<void(CheckpointData&)>& extra) {
  ++result.steps_done;
  result.final_step = step + 1;
  const int sig = static_cast<int>(dp.max({static_cast<double>(stop.signal())})[0]);
  const bool due = step + 1 == total || (cfg.train.save_steps > 0 && (step + 1) % cfg.train.save_steps == 0);
  if (sig != 0 || due) {
    CheckpointData d;
    d.optimizer = adam->state();                // collective when sharded: gathered on rank 0, which writes
    d.master_weights = adam->master_weights();  // shard: gradients: the float32 masters, whole
    d.min_pixels = cfg.data.min_pixels;
    d.max_pixels = cfg.data.max_pixels;
    d.weights_dtype = save_dtype;
    d.weights_only = cfg.train.save_only_model;
    if (cfg.lora.enabled()) d.lora = &cfg.lora;
    if (dp.is_main()) {
      d.state = {{"step", step + 1},
                 {"seed", cfg.train.seed},
                 {"trainer", kind.trainer},
                 {"prompts_per_step", P},
                 {"skipped_updates", skipped_updates},
                 {"world_size", dp.world()},
                 {"run", identity}};
      if (extra) extra(d);
      result.last_checkpoint =
          save_checkpoint(cfg.train.output_dir, step + 1, policy, cfg.model.path, d, cfg.train.keep_last);
      log_info("checkpoint {}", result.last_checkpoint);
    }
  }
  if (sig == 0) return;
  dp.finish();
  throw stopped_by_signal(sig, step + 1, total, result.last_checkpoint, !cfg.train.save_only_model);
}

TrainResult TrainingRun::finish() {
  dp.finish();  // no rank reports success before rank 0 has written the last checkpoint
  return result;
}

}  // namespace vrft
