// src/train/grpo_trainer.cpp: the GRPO training loop (see the header), top to bottom like
// the flow of one step: prompts, rollouts, rewards, advantages, reference/old log-probs,
// policy passes, optimiser, metrics, checkpoint.
//
// Data parallel (train/distributed.h): rank r takes prompts [r*P/W, (r+1)*P/W) of the step,
// generates, scores and trains on them; what spans the step is reduced where it is needed
// (rewards gathered for advantages and metrics, loss normalisers and gradients summed), so
// W ranks compute what one process computes. With W = 1 every collective is a no-op.
#include "visual_rft/train/grpo_trainer.h"

#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <random>

#include "visual_rft/core/error.h"
#include "visual_rft/core/fs.h"
#include "visual_rft/core/log.h"
#include "visual_rft/reward/rewards.h"
#include "visual_rft/rollout/generator.h"
#include "visual_rft/train/checkpoint.h"
#include "visual_rft/train/data_order.h"
#include "visual_rft/train/distributed.h"
#include "visual_rft/train/logprobs.h"
#include "visual_rft/train/optim.h"
#include "visual_rft/train/run_util.h"
#include "visual_rft/train/stop_signal.h"

namespace vrft {
namespace {

using Clock = std::chrono::steady_clock;
namespace fs = std::filesystem;

double since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

nlohmann::json mean_std(const torch::Tensor& x) {
  if (x.numel() == 0) return {{"mean", nullptr}, {"std", nullptr}};
  return {{"mean", x.mean().item<double>()}, {"std", x.numel() > 1 ? x.std().item<double>() : 0.0}};
}

// The rollouts of B prompts, generated rollout.batch_size prompts at a time (bounds the KV
// cache); none for a rank whose prompts were all skipped this step.
RolloutBatch rollouts(Generator& gen, const EncodedPrompt& prompts, const GenerateConfig& g, int64_t B, int64_t chunk) {
  if (B == 0) {
    RolloutBatch none;
    none.completion_ids = torch::zeros({0, 1}, torch::kLong);
    none.completion_mask = torch::zeros({0, 1}, torch::kLong);
    none.logprobs = torch::zeros({0, 1});
    return none;
  }
  if (chunk >= B) return gen.generate(prompts, g);
  std::vector<RolloutBatch> parts;
  for (int64_t b = 0; b < B; b += chunk) {
    const int64_t n = std::min(chunk, B - b);
    GenerateConfig gc = g;
    gc.prompt_keys.assign(g.prompt_keys.begin() + b, g.prompt_keys.begin() + b + n);
    parts.push_back(gen.generate(prompts.rows(b, n), gc));
  }
  return concat_rollouts(parts, g.pad_token_id);
}

}  // namespace

TrainResult train_grpo(const Config& cfg, const std::string& resume, const CustomReward* custom, bool overwrite) {
  validate(cfg);
  const DistEnv env = dist_env_from_environment();
  check_world(cfg, env.world_size);
  const torch::Device dev = rank_device(cfg.model.device, env);
  DataParallel dp(env, cfg.distributed, dev);
  std::optional<RunFolderLock> lock;  // rank 0 owns the run folder until the run ends
  if (dp.is_main()) lock.emplace(cfg.train.output_dir);
  const Precision prec = resolve_precision(cfg.model.dtype, cfg.model.autocast, cfg.rollout.dtype, dev);
  const int64_t G = cfg.rollout.num_generations, P = cfg.train.prompts_per_step;
  const int64_t P_rank = P / dp.world();  // this rank's prompts per step (check_world: divides)
  const uint64_t seed = static_cast<uint64_t>(cfg.train.seed);
  const std::string out_dir = cfg.train.output_dir;
  if (cfg.train.deterministic) at::globalContext().setDeterministicAlgorithms(true, false);

  // ---- data, prompts, rewards ----
  LoadReport rep;
  const auto t_rows = Clock::now();
  std::vector<Sample> samples = load_training_rows(cfg, /*solutions=*/!custom, &rep);
  log_info("data: {} samples from {}, checked in {:.1f} s ({} missing and {} unreadable images skipped)", rep.kept,
           cfg.data.train, since(t_rows), rep.missing_images, rep.unreadable_images);
  PromptEncoder enc = PromptEncoder::from_model_dir(cfg.model.path);
  enc.processor().min_pixels = cfg.data.min_pixels;
  enc.processor().max_pixels = cfg.data.max_pixels;
  std::optional<RewardSet> reward_set;
  std::vector<std::string> reward_names;
  if (custom) {
    reward_names = custom->names;
  } else {
    reward_set.emplace(parse_task(cfg.data.task), cfg.rewards);
    reward_names = reward_set->names();
  }

  // ---- resume point, models, optimiser ----
  const std::string ckpt = run_start_checkpoint(out_dir, resume, overwrite, dp.is_main());
  auto policy = load_qwen2vl(ckpt.empty() ? cfg.model.path : ckpt, prec.weights, dev);
  if (cfg.train.freeze_vision) {
    for (auto& p : policy->visual->parameters()) p.set_requires_grad(false);
  }
  policy->model->gradient_checkpointing = cfg.model.gradient_checkpointing;
  policy->visual->gradient_checkpointing = cfg.model.gradient_checkpointing;
  Qwen2VLForConditionalGeneration ref{nullptr};
  if (cfg.grpo.beta != 0.0) {
    // In the policy's dtype and (below) under its autocast: the same arithmetic, so that its
    // log-probs equal the policy's at step 0 and the KL holds no rounding noise. The cost: an
    // fp32 reference is twice a bf16 one (2B: 8.8 instead of 4.4 GB).
    ref = load_qwen2vl(cfg.model.path, prec.weights, dev);
    for (auto& p : ref->parameters()) p.set_requires_grad(false);
  }
  // Mixed precision: a copy in the rollout dtype generates; it takes the policy's weights
  // before each step's rollouts.
  Qwen2VLForConditionalGeneration rollout_model = policy;
  if (prec.separate_rollout()) {
    rollout_model = load_qwen2vl(ckpt.empty() ? cfg.model.path : ckpt, prec.rollout, dev);
    for (auto& p : rollout_model->parameters()) p.set_requires_grad(false);
  }
  log_info("precision: weights and reference {}, autocast {}, rollout {}", c10::toString(prec.weights),
           prec.autocast ? c10::toString(*prec.autocast) : "off", c10::toString(prec.rollout));
  std::vector<std::pair<std::string, torch::Tensor>> named;
  std::vector<torch::Tensor> trainable;
  for (const auto& p : policy->named_parameters(true)) {
    named.emplace_back(p.key(), p.value());
    if (p.value().requires_grad()) trainable.push_back(p.value());
  }
  DataParallelAdamW adam(
      dp, named, {cfg.optim.lr, cfg.optim.adam_beta1, cfg.optim.adam_beta2, cfg.optim.adam_eps, cfg.optim.weight_decay},
      cfg.distributed.shard_optimizer);
  const double optim_gb = adam.report_memory();  // the largest rank's share
  const int64_t total = total_steps(cfg, static_cast<int64_t>(samples.size()));
  const int64_t mu = cfg.grpo.num_iterations, total_opt = total * mu;
  int64_t start = 0;
  int64_t skipped_updates = 0, skipped_prompts = 0;  // run totals, carried across a resume
  if (!ckpt.empty()) {
    CheckpointData st = load_checkpoint_state(ckpt);
    check_resume_identity(cfg, st.state, ckpt);
    adam.load_state(st.optimizer);
    start = st.state.at("step").get<int64_t>();
    skipped_updates = st.state.value("skipped_updates", int64_t{0});
    skipped_prompts = st.state.value("skipped_prompts", int64_t{0});
    if (ref && !st.ref_model.empty()) {
      torch::NoGradGuard ng;
      std::map<std::string, torch::Tensor> m(st.ref_model.begin(), st.ref_model.end());
      for (auto& p : ref->named_parameters(true)) p.value().copy_(m.at(p.key()));
    }
    log_info("resumed from {} at step {}", ckpt, start);
  }

  // ---- run folder: rank 0 writes it (config, metrics, rollout samples, checkpoints) ----
  std::optional<MetricsWriter> metrics;
  if (dp.is_main()) open_run_folder(cfg, out_dir, start, "rollouts", metrics);

  Generator gen(rollout_model, &enc.tokenizer());
  DataOrder order(static_cast<int64_t>(samples.size()), seed, cfg.data.shuffle);
  GrpoLossOptions lo;
  lo.loss_type = cfg.grpo.loss_type;
  lo.beta = cfg.grpo.beta;
  lo.epsilon_low = cfg.grpo.epsilon_low;
  lo.epsilon_high = cfg.grpo.epsilon_high;
  lo.max_completion_length = cfg.rollout.max_new_tokens;
  const double temperature = cfg.rollout.temperature > 0 ? cfg.rollout.temperature : 1.0;
  const int64_t prompts_per_micro = std::max<int64_t>(1, cfg.train.micro_batch_size / G);
  TrainResult result;
  result.final_step = start;  // a resumed run that is already done reports where it is
  const auto run_t0 = Clock::now();

  // ---- checkpoint: the optimizer state is collected on rank 0 (ZeRO-1: from its owners),
  // which writes; the format does not depend on the world size. At save_steps and always at
  // the last step, also when that step had nothing to train on ----
  auto checkpoint_if_due = [&](int64_t step, bool stopping) {
    if (!stopping && step + 1 != total && (cfg.train.save_steps <= 0 || (step + 1) % cfg.train.save_steps != 0)) return;
    CheckpointData d;
    d.optimizer = adam.state();
    d.min_pixels = cfg.data.min_pixels;
    d.max_pixels = cfg.data.max_pixels;
    if (dp.is_main()) {
      d.state = {{"step", step + 1},
                 {"seed", cfg.train.seed},
                 {"prompts_per_step", P},
                 {"skipped_updates", skipped_updates},
                 {"skipped_prompts", skipped_prompts},
                 {"world_size", dp.world()},
                 {"run", run_identity(cfg)}};
      if (ref && cfg.grpo.ref_sync_steps > 0) {
        for (const auto& p : ref->named_parameters(true)) d.ref_model.emplace_back(p.key(), p.value().detach());
      }
      result.last_checkpoint = save_checkpoint(out_dir, step + 1, policy, cfg.model.path, d, cfg.train.keep_last);
      log_info("checkpoint {}", result.last_checkpoint);
    }
  };

  // ---- end of a step: a checkpoint when due; after a SIGINT/SIGTERM on any rank (one
  // max-reduction, so that all ranks stop after the same step) a checkpoint of this step, then
  // the run ends with Interrupted ----
  StopOnSignal stop;
  auto end_step = [&](int64_t step) {
    const int sig = static_cast<int>(dp.max({static_cast<double>(stop.signal())})[0]);
    checkpoint_if_due(step, sig != 0);
    if (sig == 0) return;
    dp.finish();
    throw stopped_by_signal(sig, step + 1, total, result.last_checkpoint);
  };

  for (int64_t step = start; step < total; ++step) {
    const auto t_step = Clock::now();
    // ---- prompts: this rank's consecutive share of the step's P ----
    // Each prompt is keyed by its position in the run (step * P + its place in the step), not
    // by its row: a row drawn twice in one step (fewer rows than P, an epoch boundary) gets
    // two independent groups, as in TRL. The key does not depend on the number of ranks.
    std::vector<const Sample*> batch;
    std::vector<PromptInput> inputs;
    std::vector<uint64_t> keys;
    for (int64_t i = 0; i < P_rank; ++i) {
      const int64_t position = step * P + dp.rank() * P_rank + i;
      const Sample& s = samples[static_cast<size_t>(order.at(position))];
      inputs.push_back(sample_prompt(s, cfg.data.system_prompt, cfg.data.max_image_pixels));
      batch.push_back(&s);
      keys.push_back(static_cast<uint64_t>(position));
    }
    EncodedPrompt prompts = enc.encode(inputs);
    {  // too long: skipped and counted, never truncated through the image tokens
      std::vector<PromptInput> keep_in;
      std::vector<const Sample*> keep;
      std::vector<uint64_t> keep_keys;
      for (size_t i = 0; i < batch.size(); ++i) {
        if (prompts.lengths[i] <= cfg.data.max_prompt_length) {
          keep_in.push_back(inputs[i]);
          keep.push_back(batch[i]);
          keep_keys.push_back(keys[i]);
        }
      }
      if (keep.size() != batch.size()) {
        log_warn("step {}: {} prompt(s) longer than data.max_prompt_length = {} skipped", step + 1,
                 batch.size() - keep.size(), cfg.data.max_prompt_length);
        batch = keep;
        keys = keep_keys;
        if (!keep.empty()) prompts = enc.encode(keep_in);
      }
    }
    const int64_t B = static_cast<int64_t>(batch.size()), N = B * G;
    // The step goes on while any rank has a prompt; a rank with none takes part with zeros.
    const std::vector<double> kept = dp.sum({static_cast<double>(B), static_cast<double>(P_rank - B)});
    skipped_prompts += static_cast<int64_t>(kept[1]);
    if (kept[0] == 0) {  // nothing to train on: the step still counts, is logged and saved
      log_warn("step {}: every prompt was skipped; no update", step + 1);
      if (metrics && cfg.logging.log_steps > 0 && (step + 1) % cfg.logging.log_steps == 0) {
        metrics->write({{"step", step + 1},
                        {"epoch", static_cast<double>((step + 1) * P) / static_cast<double>(samples.size())},
                        {"skipped_updates", skipped_updates},
                        {"skipped_prompts", skipped_prompts}});
      }
      ++result.steps_done;
      result.final_step = step + 1;
      end_step(step);
      continue;
    }

    // ---- rollouts ----
    auto t0 = Clock::now();
    GenerateConfig g;
    g.num_samples = G;
    g.max_new_tokens = cfg.rollout.max_new_tokens;
    g.sampling = {cfg.rollout.temperature == 0,  temperature, cfg.rollout.top_k, cfg.rollout.top_p, cfg.rollout.min_p,
                  cfg.rollout.repetition_penalty};
    g.seed = sample_stream(seed, 0x7011, static_cast<uint64_t>(step));
    g.prompt_keys = keys;
    g.pad_token_id = enc.tokens().pad;
    g.decode = cfg.rollout.decode;
    policy->eval();
    if (prec.separate_rollout()) copy_parameters(*rollout_model, *policy);
    const RolloutBatch roll = rollouts(gen, prompts, g, B, cfg.rollout.batch_size > 0 ? cfg.rollout.batch_size : B);
    const double rollout_s = since(t0);

    // ---- rewards and advantages ----
    t0 = Clock::now();
    const int64_t K = static_cast<int64_t>(reward_names.size());
    torch::Tensor per_reward = torch::zeros({N, K}, torch::kDouble), totals = torch::zeros({N}, torch::kDouble);
    std::vector<Solution> sols;
    if (reward_set) {
      for (const Sample* s : batch) sols.push_back(parse_solution(reward_set->task(), s->solution));
    }
    for (int64_t i = 0; i < N; ++i) {
      const int64_t n = roll.completion_mask[i].sum().item<int64_t>();
      std::vector<int64_t> ids(roll.completion_ids[i].data_ptr<int64_t>(),
                               roll.completion_ids[i].data_ptr<int64_t>() + n);
      CompletionRewards r;
      if (custom) {
        r = custom->score(roll.texts[static_cast<size_t>(i)], ids, *batch[static_cast<size_t>(i / G)]);
      } else {
        RewardScores sc = reward_set->score(roll.texts[static_cast<size_t>(i)], sols[static_cast<size_t>(i / G)]);
        r = {sc.values, sc.total};
      }
      for (int64_t k = 0; k < K; ++k) per_reward[i][k] = r.values[static_cast<size_t>(k)];
      totals[i] = r.total;
    }
    // Advantages are per group, but scale_rewards: batch divides by the std of the whole
    // step: every rank gets the step's rewards [N_all] (rank order = one-process order) and
    // takes its rows [first, first + N) of the advantages.
    int64_t first = 0;
    const torch::Tensor all_totals = dp.gather_rows(totals, &first);
    const torch::Tensor all_adv =
        group_advantages(all_totals, G, cfg.grpo.scale_rewards, cfg.grpo.advantage_eps).to(torch::kFloat);
    torch::Tensor adv = all_adv.narrow(0, first, N);
    const int64_t zero_std = zero_std_groups(all_totals, G);
    torch::Tensor mask = roll.completion_mask.to(torch::kFloat);
    torch::Tensor truncated = torch::zeros({N}, torch::kBool);
    for (int64_t i = 0; i < N; ++i) truncated[i] = roll.finish_reasons[static_cast<size_t>(i)] == "length";
    if (cfg.grpo.mask_truncated_completions) mask = mask * (~truncated).to(torch::kFloat).unsqueeze(1);
    if (cfg.grpo.filter_zero_std) {
      torch::Tensor r = totals.view({B, G});
      torch::Tensor flat = (r.amax(1) == r.amin(1)).repeat_interleave(G);
      mask = mask * (~flat).to(torch::kFloat).unsqueeze(1);
    }
    const double reward_s = since(t0);

    // ---- reference and old log-probs (no gradient), per micro-batch of prompts ----
    t0 = Clock::now();
    const int64_t T = roll.completion_ids.size(1);
    torch::Tensor comp = roll.completion_ids;
    std::vector<std::pair<int64_t, int64_t>> micro;  // (first prompt, prompts)
    for (int64_t b = 0; b < B; b += prompts_per_micro) micro.emplace_back(b, std::min(prompts_per_micro, B - b));
    auto rows = [&](const torch::Tensor& t, int64_t b, int64_t n) { return t.narrow(0, b * G, n * G); };
    torch::Tensor ref_logp, old_logp;
    {
      torch::NoGradGuard ng;
      AutocastScope ac(dev, prec.autocast);
      if (ref) {
        ref_logp = torch::empty({N, T});
        for (auto [b, n] : micro) {
          rows(ref_logp, b, n)
              .copy_(completion_logprobs(ref, prompts.rows(b, n), rows(comp, b, n), G, temperature).logp.cpu());
        }
      }
      if (mu > 1) {
        old_logp = torch::empty({N, T});
        for (auto [b, n] : micro) {
          rows(old_logp, b, n)
              .copy_(completion_logprobs(policy, prompts.rows(b, n), rows(comp, b, n), G, temperature).logp.cpu());
        }
      }
    }
    const double logprob_s = since(t0);

    // ---- policy passes: loss, backward, clip, AdamW ----
    double backward_s = 0, optim_s = 0, grad_norm = 0, loss_sum = 0, lr = 0;
    GrpoLossStats agg;
    double entropy_sum = 0;
    // Normalisers of the whole step: micro-batches and completion tokens of all ranks, so
    // that the ranks' losses add up to the one-process loss (gradients are summed).
    const std::vector<double> norm = dp.sum({static_cast<double>(micro.size()), mask.sum().item<double>()});
    lo.grad_accum = static_cast<int64_t>(norm[0]);
    lo.num_items = std::max(1.0, norm[1]);
    policy->train();
    for (int64_t it = 0; it < mu; ++it) {
      t0 = Clock::now();
      double it_loss = 0;
      for (auto [b, n] : micro) {
        TokenLogprobs lp;
        torch::Tensor m = rows(mask, b, n).to(dev), loss;
        GrpoLossStats st;
        {
          AutocastScope ac(dev, prec.autocast);  // forward only; backward keeps the forward's dtypes
          lp = completion_logprobs(policy, prompts.rows(b, n), rows(comp, b, n), G, temperature, it == 0);
          loss = grpo_loss(lp.logp, old_logp.defined() ? rows(old_logp, b, n).to(dev) : torch::Tensor(),
                           ref_logp.defined() ? rows(ref_logp, b, n).to(dev) : torch::Tensor(), rows(adv, b, n).to(dev),
                           m, lo, &st);
        }
        loss.backward();
        it_loss += loss.item<double>();
        if (it == 0) {
          agg.tokens += st.tokens;
          agg.kl += st.kl * st.tokens;
          agg.clip_low += st.clip_low * st.tokens;
          agg.clip_high += st.clip_high * st.tokens;
          entropy_sum += (lp.entropy * m).sum().item<double>();
        }
      }
      dp.all_reduce_grads(trainable);  // the step's gradient, identical on every rank
      double it_total = dp.sum(it_loss);
      if (inject_nonfinite(step + 1, it + 1)) it_total = std::nan("");
      loss_sum += it_total;
      backward_s += since(t0);
      t0 = Clock::now();
      grad_norm = clip_grad_norm(trainable, cfg.optim.max_grad_norm);
      // Each iteration is judged on its own loss: one non-finite iteration skips its update only.
      if (!std::isfinite(grad_norm) || !std::isfinite(it_total)) {
        ++skipped_updates;
        log_warn(
            "step {}: non-finite loss ({}) or gradient norm ({}) in iteration {}: update skipped, weights unchanged",
            step + 1, it_total, grad_norm, it + 1);
      } else {
        lr = cfg.optim.lr * lr_multiplier(cfg.optim.lr_schedule, step * mu + it, cfg.optim.warmup_steps, total_opt);
        adam.step(lr);
      }
      adam.zero_grad();
      // The reference follows the policy every ref_sync_steps optimizer steps (TRL's
      // SyncRefModelCallback counts optimizer steps: num_iterations of them per GRPO step).
      const int64_t opt_step = step * mu + it + 1;
      if (ref && cfg.grpo.ref_sync_steps > 0 && opt_step % cfg.grpo.ref_sync_steps == 0) {
        torch::NoGradGuard ng;
        auto rp = ref->parameters();
        auto pp = policy->parameters();
        for (size_t i = 0; i < rp.size(); ++i)
          rp[i].mul_(1 - cfg.grpo.ref_sync_alpha).add_(pp[i], cfg.grpo.ref_sync_alpha);
      }
      optim_s += since(t0);
    }

    // ---- metrics of the whole step (per-completion values gathered in one-process order,
    // sums reduced), rank 0's rollout samples, progress ----
    const double step_s = since(t_step);
    torch::Tensor lengths = roll.completion_mask.sum(1).to(torch::kDouble);
    const torch::Tensor cols =  // [N_all, K + 2]: the rewards, completion length, truncated
        dp.gather_rows(torch::cat({per_reward, lengths.view({-1, 1}), truncated.to(torch::kDouble).view({-1, 1})}, 1));
    const torch::Tensor all_lengths = cols.select(1, K), all_truncated = cols.select(1, K + 1);
    const std::vector<double> sums =
        dp.sum({agg.tokens, agg.kl, agg.clip_low, agg.clip_high, entropy_sum,
                static_cast<double>(roll.timing.generated_tokens + roll.timing.prompt_tokens)});
    const std::vector<double> peak = dp.max({peak_rss_gb(), peak_gpu_gb(dev)});
    const double tok = std::max(sums[0], 1.0), kl = sums[1] / tok;
    nlohmann::json rec{
        {"step", step + 1},
        {"epoch", static_cast<double>((step + 1) * P) / static_cast<double>(samples.size())},
        {"reward", mean_std(all_totals)},
        {"advantage_abs_mean", all_adv.abs().mean().item<double>()},
        {"kl", ref ? nlohmann::json(kl) : nlohmann::json(nullptr)},
        {"loss", loss_sum / static_cast<double>(mu)},
        {"clip_ratio", {{"low", sums[2] / tok}, {"high", sums[3] / tok}, {"region", (sums[2] + sums[3]) / tok}}},
        {"entropy", sums[4] / tok},
        {"completion_length", {{"mean", all_lengths.mean().item<double>()}, {"max", all_lengths.max().item<double>()}}},
        {"truncated_fraction", all_truncated.mean().item<double>()},
        {"zero_std_groups", zero_std},
        {"lr", lr},
        {"grad_norm", grad_norm},
        {"skipped_updates", skipped_updates},
        {"skipped_prompts", skipped_prompts},
        {"time",
         {{"step_s", step_s},
          {"rollout_s", rollout_s},
          {"reward_s", reward_s},
          {"logprob_s", logprob_s},
          {"backward_s", backward_s},
          {"optim_s", optim_s}}},
        {"tokens_per_s", sums[5] / step_s},
        {"optimizer_state_gb", optim_gb},
        {"peak_rss_gb", peak[0]},
        {"peak_gpu_gb", peak[1]}};
    for (int64_t k = 0; k < K; ++k) rec["rewards"][reward_names[static_cast<size_t>(k)]] = mean_std(cols.select(1, k));
    if (metrics && cfg.logging.log_steps > 0 && (step + 1) % cfg.logging.log_steps == 0) metrics->write(rec);
    // Samples: rank 0's prompts, which are the step's first P / world.
    if (dp.is_main() && cfg.logging.sample_steps > 0 && (step + 1) % cfg.logging.sample_steps == 0) {
      char name[64];
      std::snprintf(name, sizeof name, "/rollouts/step_%06lld.jsonl", static_cast<long long>(step + 1));
      std::string text;
      for (int64_t b = 0; b < std::min<int64_t>(B, cfg.logging.num_samples); ++b) {
        for (int64_t j = 0; j < G; ++j) {
          const int64_t i = b * G + j;
          nlohmann::json s{{"step", step + 1},
                           {"sample", batch[static_cast<size_t>(b)]->index},
                           {"completion", j},
                           {"problem", batch[static_cast<size_t>(b)]->problem},
                           {"solution", batch[static_cast<size_t>(b)]->solution},
                           {"text", roll.texts[static_cast<size_t>(i)]},
                           {"reward", totals[i].item<double>()},
                           {"advantage", adv[i].item<double>()},
                           {"finish_reason", roll.finish_reasons[static_cast<size_t>(i)]}};
          for (int64_t k = 0; k < K; ++k)
            s["rewards"][reward_names[static_cast<size_t>(k)]] = per_reward[i][k].item<double>();
          text += s.dump() + "\n";
        }
      }
      write_file_atomic(out_dir + name, text);
    }
    const double elapsed = since(run_t0), done = static_cast<double>(step + 1 - start);
    log_info("step {}/{}  reward {:.3f}  kl {:.4f}  len {:.1f}  {:.0f} tok/s  {:.1f} s/step  ETA {:.0f} s", step + 1,
             total, all_totals.mean().item<double>(), ref ? kl : 0.0, all_lengths.mean().item<double>(),
             rec["tokens_per_s"].get<double>(), step_s, elapsed / done * static_cast<double>(total - step - 1));
    ++result.steps_done;
    result.final_step = step + 1;

    end_step(step);
  }
  dp.finish();  // no rank reports success before rank 0 has written the last checkpoint
  return result;
}

}  // namespace vrft
