// src/train/sft_trainer.cpp: the SFT loop (see the header). Per step: prompts -> answer
// tokens -> per micro-batch: log-probs of the answer given the prompt (the shared-prompt
// path with G = 1), loss = - sum(logp * mask) / answer tokens of the step, backward -> clip
// -> AdamW -> schedule -> metrics -> checkpoint.
//
// Data parallel like the GRPO trainer (train/distributed.h): rank r takes prompts
// [r*P/W, (r+1)*P/W) of the step; the answer-token count that normalises the loss is summed
// over the ranks and so are the gradients, which makes the update the one-process update.
#include "visual_rft/train/sft_trainer.h"

#include <algorithm>
#include <cmath>

#include "visual_rft/core/error.h"
#include "visual_rft/core/log.h"
#include "visual_rft/train/logprobs.h"
#include "visual_rft/train/optim.h"
#include "visual_rft/train/training_run.h"

namespace vrft {

namespace {

struct StepAnswers {
  EncodedPrompt prompts;  // [P_rank, L]
  torch::Tensor tokens;   // [P_rank, T] int64: each answer and <|im_end|>, right-padded
  torch::Tensor mask;     // [P_rank, T] float32: 1 on the answer tokens
};

// This rank's consecutive share of the step's prompts and their answers.
StepAnswers draw_answers(TrainingRun& run, int64_t step, int64_t im_end) {
  const Config& cfg = run.cfg;
  std::vector<PromptInput> inputs;
  std::vector<std::vector<int64_t>> answers;
  for (int64_t i = 0; i < run.P_rank; ++i) {
    const Sample& s = run.row_at(step * run.P + run.dp.rank() * run.P_rank + i);
    inputs.push_back(sample_prompt(s, cfg.data));
    answers.push_back(run.enc.tokenizer().encode(s.solution));
    answers.back().push_back(im_end);
  }
  StepAnswers a;
  a.prompts = run.enc.encode(inputs);
  int64_t T = 0;
  for (const auto& x : answers) T = std::max<int64_t>(T, static_cast<int64_t>(x.size()));
  a.tokens = torch::full({run.P_rank, T}, run.enc.tokens().pad, torch::kLong);
  a.mask = torch::zeros({run.P_rank, T});
  for (int64_t i = 0; i < run.P_rank; ++i) {
    const auto& x = answers[static_cast<size_t>(i)];
    a.tokens[i].narrow(0, 0, static_cast<int64_t>(x.size())).copy_(torch::tensor(x, torch::kLong));
    a.mask[i].narrow(0, 0, static_cast<int64_t>(x.size())).fill_(1.0);
  }
  return a;
}

}  // namespace

TrainResult train_sft(const Config& cfg, const std::string& resume, bool overwrite) {
  // SFT learns the solution text whatever the task (a mixed file is fine): images are checked.
  TrainingRun run(cfg, resume, overwrite, {"sft", /*check_solutions=*/false, ""});
  const auto im_end = run.enc.tokenizer().token_id("<|im_end|>");
  if (!im_end) throw FileError("the tokenizer of '" + cfg.model.path + "' has no <|im_end|> token to end answers with");
  int64_t skipped_updates = run.resumed_state.is_null() ? 0 : run.resumed_state.value("skipped_updates", int64_t{0});
  StopOnSignal stop;  // SIGINT/SIGTERM: finish the step, checkpoint it, stop (stop_signal.h)
  for (int64_t step = run.start; step < run.total; ++step) {
    StepProfile profile(step);  // bench train --profile
    PhaseTimer timer;
    const StepAnswers a = draw_answers(run, step, *im_end);
    // The answer tokens of the whole step (all ranks) normalise the loss.
    const double tokens = run.dp.sum(a.mask.sum().item<double>());
    run.policy->train();
    double loss_sum = 0;
    const int64_t micro = cfg.train.micro_batch_size;
    std::optional<ProfileRegion> region(std::in_place, "vrft::backward");  // forward and backward
    // Summed: the one-process gradient on every rank (or with shard: gradients its owners' slices).
    run.adam->accumulate_gradients((run.P_rank + micro - 1) / micro, [&](int64_t k) {
      const int64_t b = k * micro, n = std::min(micro, run.P_rank - b);
      seed_micro_batch(cfg.train.seed, {step, run.dp.rank(), k});  // dropout: the same draws after a resume
      torch::Tensor loss;
      {
        AutocastScope ac(run.dev, run.prec.autocast);  // forward only; backward keeps the forward's dtypes
        torch::Tensor lp = completion_logprobs(run.policy, a.prompts.rows(b, n), a.tokens.narrow(0, b, n), 1).logp;
        loss = -(lp * a.mask.narrow(0, b, n).to(run.dev)).sum() / tokens;
      }
      loss.backward();
      loss_sum += loss.item<double>();
    });
    region.reset();
    loss_sum = run.dp.sum(loss_sum);
    const double prompt_tokens = run.dp.sum(static_cast<double>(a.prompts.attention_mask.sum().item<int64_t>()));
    region.emplace("vrft::optim");
    const double grad_norm = run.adam->clip_grad_norm(cfg.optim.max_grad_norm);
    double lr = 0;
    if (!std::isfinite(grad_norm) || !std::isfinite(loss_sum)) {
      ++skipped_updates;
      log_warn("step {}: non-finite loss ({}) or gradient norm ({}): update skipped", step + 1, loss_sum, grad_norm);
    } else {
      lr = cfg.optim.lr * lr_multiplier(cfg.optim.lr_schedule, step, cfg.optim.warmup_steps, run.total);
      run.adam->step(lr);
    }
    run.adam->zero_grad();
    region.reset();
    const double step_s = timer.step_s();
    run.log_metrics(step, {{"step", step + 1},
                           {"epoch", run.epoch_after(step)},
                           {"loss", loss_sum},
                           {"answer_tokens", tokens},
                           {"lr", lr},
                           {"grad_norm", grad_norm},
                           {"skipped_updates", skipped_updates},
                           {"time", timer.json(step_s)},
                           {"tokens_per_s", (tokens + prompt_tokens) / step_s},
                           {"peak_rss_gb", peak_rss_gb()},
                           {"peak_gpu_gb", peak_gpu_gb(run.dev)}});
    log_progress(run.cfg.logging.progress, fmt::format("sft step {}/{}  loss {:.4f}  {:.1f} s/step  ETA {:.0f} s",
                                                       step + 1, run.total, loss_sum, step_s, run.eta_s(step)));
    profile.finish();  // before the checkpoint
    run.end_step(step, stop, skipped_updates);
  }
  return run.finish();
}

}  // namespace vrft
