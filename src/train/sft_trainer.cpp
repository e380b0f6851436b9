// src/train/sft_trainer.cpp: the SFT loop (see the header). Per step: prompts -> answer
// tokens -> per micro-batch: log-probs of the answer given the prompt (the shared-prompt
// path with G = 1), loss = - sum(logp * mask) / answer tokens of the step, backward -> clip
// -> AdamW -> schedule -> metrics -> checkpoint.
//
// Data parallel like the GRPO trainer (train/distributed.h): rank r takes prompts
// [r*P/W, (r+1)*P/W) of the step; the answer-token count that normalises the loss is summed
// over the ranks and so are the gradients, which makes the update the one-process update.
#include "visual_rft/train/sft_trainer.h"

#include <chrono>
#include <cmath>
#include <filesystem>
#include <optional>

#include "visual_rft/core/error.h"
#include "visual_rft/core/fs.h"
#include "visual_rft/core/log.h"
#include "visual_rft/train/checkpoint.h"
#include "visual_rft/train/data_order.h"
#include "visual_rft/train/distributed.h"
#include "visual_rft/train/logprobs.h"
#include "visual_rft/train/optim.h"
#include "visual_rft/train/run_util.h"
#include "visual_rft/train/stop_signal.h"

namespace vrft {

TrainResult train_sft(const Config& cfg, const std::string& resume, bool overwrite) {
  using Clock = std::chrono::steady_clock;
  auto since = [](Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); };
  validate(cfg);
  const DistEnv env = dist_env_from_environment();
  check_world(cfg, env.world_size);
  const torch::Device dev = rank_device(cfg.model.device, env);
  DataParallel dp(env, cfg.distributed, dev);
  std::optional<RunFolderLock> lock;  // rank 0 owns the run folder until the run ends
  if (dp.is_main()) lock.emplace(cfg.train.output_dir);
  const Precision prec = resolve_precision(cfg.model.dtype, cfg.model.autocast, cfg.rollout.dtype, dev);
  const int64_t P = cfg.train.prompts_per_step, P_rank = P / dp.world();
  const std::string out_dir = cfg.train.output_dir;
  if (cfg.train.deterministic) at::globalContext().setDeterministicAlgorithms(true, false);

  LoadReport rep;
  // SFT learns the solution text whatever the task (a mixed file is fine): images are checked.
  const auto t_rows = Clock::now();
  std::vector<Sample> samples = load_training_rows(cfg, /*solutions=*/false, &rep);
  log_info("data: {} samples from {}, checked in {:.1f} s ({} missing and {} unreadable images skipped)", rep.kept,
           cfg.data.train, since(t_rows), rep.missing_images, rep.unreadable_images);
  PromptEncoder enc = PromptEncoder::from_model_dir(cfg.model.path);
  enc.processor().min_pixels = cfg.data.min_pixels;
  enc.processor().max_pixels = cfg.data.max_pixels;
  const auto im_end = enc.tokenizer().token_id("<|im_end|>");
  if (!im_end) throw FileError("the tokenizer of '" + cfg.model.path + "' has no <|im_end|> token to end answers with");

  const std::string ckpt = run_start_checkpoint(out_dir, resume, overwrite, dp.is_main());
  auto policy = load_qwen2vl(ckpt.empty() ? cfg.model.path : ckpt, prec.weights, dev);
  if (cfg.train.freeze_vision) {
    for (auto& p : policy->visual->parameters()) p.set_requires_grad(false);
  }
  policy->model->gradient_checkpointing = cfg.model.gradient_checkpointing;
  policy->visual->gradient_checkpointing = cfg.model.gradient_checkpointing;
  std::vector<std::pair<std::string, torch::Tensor>> named;
  std::vector<torch::Tensor> trainable;
  for (const auto& p : policy->named_parameters(true)) {
    named.emplace_back(p.key(), p.value());
    if (p.value().requires_grad()) trainable.push_back(p.value());
  }
  DataParallelAdamW adam(
      dp, named, {cfg.optim.lr, cfg.optim.adam_beta1, cfg.optim.adam_beta2, cfg.optim.adam_eps, cfg.optim.weight_decay},
      cfg.distributed.shard_optimizer);
  adam.report_memory();
  const int64_t total = total_steps(cfg, static_cast<int64_t>(samples.size()));
  int64_t start = 0;
  if (!ckpt.empty()) {
    CheckpointData st = load_checkpoint_state(ckpt);
    check_resume_identity(cfg, st.state, ckpt);
    adam.load_state(st.optimizer);
    start = st.state.at("step").get<int64_t>();
    log_info("resumed from {} at step {}", ckpt, start);
  }
  std::optional<MetricsWriter> metrics;  // rank 0 writes the run folder
  if (dp.is_main()) open_run_folder(cfg, out_dir, start, "", metrics);

  DataOrder order(static_cast<int64_t>(samples.size()), static_cast<uint64_t>(cfg.train.seed), cfg.data.shuffle);
  TrainResult result;
  result.final_step = start;  // a resumed run that is already done reports where it is
  int64_t skipped_updates = 0;
  const auto run_t0 = Clock::now();
  StopOnSignal stop;  // SIGINT/SIGTERM: finish the step, checkpoint it, stop (stop_signal.h)
  for (int64_t step = start; step < total; ++step) {
    const auto t_step = Clock::now();
    std::vector<PromptInput> inputs;
    std::vector<std::vector<int64_t>> answers;
    for (int64_t i = 0; i < P_rank; ++i) {  // this rank's consecutive share of the step
      const Sample& s = samples[static_cast<size_t>(order.at(step * P + dp.rank() * P_rank + i))];
      inputs.push_back(sample_prompt(s, cfg.data.system_prompt, cfg.data.max_image_pixels));
      answers.push_back(enc.tokenizer().encode(s.solution));
      answers.back().push_back(*im_end);
    }
    EncodedPrompt prompts = enc.encode(inputs);
    int64_t T = 0;
    for (const auto& a : answers) T = std::max<int64_t>(T, static_cast<int64_t>(a.size()));
    torch::Tensor comp = torch::full({P_rank, T}, enc.tokens().pad, torch::kLong), mask = torch::zeros({P_rank, T});
    for (int64_t i = 0; i < P_rank; ++i) {
      const auto& a = answers[static_cast<size_t>(i)];
      comp[i].narrow(0, 0, static_cast<int64_t>(a.size())).copy_(torch::tensor(a, torch::kLong));
      mask[i].narrow(0, 0, static_cast<int64_t>(a.size())).fill_(1.0);
    }
    // The answer tokens of the whole step (all ranks) normalise the loss.
    const double tokens = dp.sum(mask.sum().item<double>());
    policy->train();
    double loss_sum = 0;
    const int64_t micro = cfg.train.micro_batch_size;
    for (int64_t b = 0; b < P_rank; b += micro) {
      const int64_t n = std::min(micro, P_rank - b);
      torch::Tensor loss;
      {
        AutocastScope ac(dev, prec.autocast);  // forward only; backward keeps the forward's dtypes
        torch::Tensor lp = completion_logprobs(policy, prompts.rows(b, n), comp.narrow(0, b, n), 1).logp;
        loss = -(lp * mask.narrow(0, b, n).to(dev)).sum() / tokens;
      }
      loss.backward();
      loss_sum += loss.item<double>();
    }
    dp.all_reduce_grads(trainable);  // summed: the one-process gradient on every rank
    loss_sum = dp.sum(loss_sum);
    const double prompt_tokens = dp.sum(static_cast<double>(prompts.attention_mask.sum().item<int64_t>()));
    const double grad_norm = clip_grad_norm(trainable, cfg.optim.max_grad_norm);
    double lr = 0;
    if (!std::isfinite(grad_norm) || !std::isfinite(loss_sum)) {
      ++skipped_updates;
      log_warn("step {}: non-finite loss ({}) or gradient norm ({}): update skipped", step + 1, loss_sum, grad_norm);
    } else {
      lr = cfg.optim.lr * lr_multiplier(cfg.optim.lr_schedule, step, cfg.optim.warmup_steps, total);
      adam.step(lr);
    }
    adam.zero_grad();
    const double step_s = since(t_step);
    nlohmann::json rec{{"step", step + 1},
                       {"epoch", static_cast<double>((step + 1) * P) / static_cast<double>(samples.size())},
                       {"loss", loss_sum},
                       {"answer_tokens", tokens},
                       {"lr", lr},
                       {"grad_norm", grad_norm},
                       {"skipped_updates", skipped_updates},
                       {"time", {{"step_s", step_s}}},
                       {"tokens_per_s", (tokens + prompt_tokens) / step_s},
                       {"peak_rss_gb", peak_rss_gb()},
                       {"peak_gpu_gb", peak_gpu_gb(dev)}};
    if (metrics && (step + 1) % cfg.logging.log_steps == 0) metrics->write(rec);
    const double done = static_cast<double>(step + 1 - start);
    log_info("sft step {}/{}  loss {:.4f}  {:.1f} s/step  ETA {:.0f} s", step + 1, total, loss_sum, step_s,
             since(run_t0) / done * static_cast<double>(total - step - 1));
    ++result.steps_done;
    result.final_step = step + 1;
    // A SIGINT/SIGTERM on any rank: all ranks stop after this step, with its checkpoint.
    const int sig = static_cast<int>(dp.max({static_cast<double>(stop.signal())})[0]);
    if (sig != 0 || step + 1 == total || (cfg.train.save_steps > 0 && (step + 1) % cfg.train.save_steps == 0)) {
      CheckpointData d;
      d.optimizer = adam.state();  // collective with ZeRO-1: gathered on rank 0, which writes
      d.min_pixels = cfg.data.min_pixels;
      d.max_pixels = cfg.data.max_pixels;
      if (dp.is_main()) {
        d.state = {{"step", step + 1},
                   {"seed", cfg.train.seed},
                   {"trainer", "sft"},
                   {"world_size", dp.world()},
                   {"run", run_identity(cfg)}};
        result.last_checkpoint = save_checkpoint(out_dir, step + 1, policy, cfg.model.path, d, cfg.train.keep_last);
        log_info("checkpoint {}", result.last_checkpoint);
      }
    }
    if (sig != 0) {
      dp.finish();
      throw stopped_by_signal(sig, step + 1, total, result.last_checkpoint);
    }
  }
  dp.finish();  // no rank reports success before rank 0 has written the last checkpoint
  return result;
}

}  // namespace vrft
