// src/train/grpo_trainer.cpp: the GRPO training loop (see the header). train_grpo reads like
// the flow of one step: prompts -> rollouts -> rewards -> advantages -> frozen log-probs
// (reference, old policy) -> policy update (num_iterations optimizer steps) -> metrics and
// samples -> checkpoint. Each stage is a function below with its contract and shapes; the
// set-up and the end of a step are shared with SFT (train/training_run.h).
//
// Data parallel (train/distributed.h): rank r takes prompts [r*P/W, (r+1)*P/W) of the step,
// generates, scores and trains on them; what spans the step is reduced where it is needed
// (rewards gathered for advantages and metrics, loss normalisers and gradients summed), so
// W ranks compute what one process computes. With W = 1 every collective is a no-op.
// Shapes: B prompts of this rank, G completions each, N = B * G rows, T completion tokens,
// K rewards; N_all = the step's rows over all ranks.
#include "visual_rft/train/grpo_trainer.h"

#include <algorithm>
#include <cmath>
#include <optional>

#include "visual_rft/core/fs.h"
#include "visual_rft/core/log.h"
#include "visual_rft/core/random.h"
#include "visual_rft/model/lora.h"
#include "visual_rft/reward/rewards.h"
#include "visual_rft/rollout/generator.h"
#include "visual_rft/rollout/rollout_rewards.h"
#include "visual_rft/train/grpo.h"
#include "visual_rft/train/logprobs.h"
#include "visual_rft/train/optim.h"
#include "visual_rft/train/training_run.h"

namespace vrft {
namespace {

nlohmann::json mean_std(const torch::Tensor& x) {
  if (x.numel() == 0) return {{"mean", nullptr}, {"std", nullptr}};
  return {{"mean", x.mean().item<double>()}, {"std", x.numel() > 1 ? x.std().item<double>() : 0.0}};
}

// ---- the config as runtime settings, built once, by field name ----

GenerateConfig rollout_settings(const Config& cfg, int64_t pad_token_id) {
  GenerateConfig g;
  g.num_samples = cfg.rollout.num_generations;
  g.max_new_tokens = cfg.rollout.max_new_tokens;
  g.sampling = sampling_settings(cfg.rollout.temperature, cfg.rollout.top_k, cfg.rollout.top_p, cfg.rollout.min_p,
                                 cfg.rollout.repetition_penalty);
  g.pad_token_id = pad_token_id;
  g.decode = cfg.rollout.decode;
  return g;
}

GrpoLossOptions loss_settings(const Config& cfg) {
  GrpoLossOptions lo;
  lo.loss_type = cfg.grpo.loss_type;
  lo.beta = cfg.grpo.beta;
  lo.epsilon_low = cfg.grpo.epsilon_low;
  lo.epsilon_high = cfg.grpo.epsilon_high;
  lo.max_completion_length = cfg.rollout.max_new_tokens;
  return lo;
}

// ---- prompts ----

struct StepPrompts {
  std::vector<const Sample*> rows;  // [B] the rows kept
  std::vector<uint64_t> keys;       // [B] their positions in the run: the keys of their random streams
  EncodedPrompt encoded;            // [B, L]
  int64_t too_long = 0;             // rows skipped: longer than data.max_prompt_length
};

// This rank's consecutive share of the step's P prompts. Each prompt is keyed by its position
// in the run (step * P + its place in the step), not by its row: a row drawn twice in one step
// (fewer rows than P, an epoch boundary) gets two independent groups, as in TRL. The key does
// not depend on the number of ranks. A prompt too long is skipped and counted, never
// truncated through its image tokens.
StepPrompts draw_prompts(TrainingRun& run, int64_t step) {
  const Config& cfg = run.cfg;
  StepPrompts sp;
  std::vector<PromptInput> inputs;
  for (int64_t i = 0; i < run.P_rank; ++i) {
    const int64_t position = step * run.P + run.dp.rank() * run.P_rank + i;
    const Sample& s = run.row_at(position);
    inputs.push_back(sample_prompt(s, cfg.data));
    sp.rows.push_back(&s);
    sp.keys.push_back(static_cast<uint64_t>(position));
  }
  sp.encoded = run.enc.encode(inputs);
  std::vector<PromptInput> keep_in;
  std::vector<const Sample*> keep;
  std::vector<uint64_t> keep_keys;
  for (size_t i = 0; i < sp.rows.size(); ++i) {
    if (sp.encoded.lengths[i] <= cfg.data.max_prompt_length) {
      keep_in.push_back(inputs[i]);
      keep.push_back(sp.rows[i]);
      keep_keys.push_back(sp.keys[i]);
    }
  }
  sp.too_long = static_cast<int64_t>(sp.rows.size() - keep.size());
  if (sp.too_long > 0) {
    log_warn("step {}: {} prompt(s) longer than data.max_prompt_length = {} skipped", step + 1, sp.too_long,
             cfg.data.max_prompt_length);
    sp.rows = keep;
    sp.keys = keep_keys;
    if (!keep.empty()) sp.encoded = run.enc.encode(keep_in);
  }
  return sp;
}

// ---- rollouts ----

// G completions of each prompt [N rows], generated rollout.batch_size prompts at a time
// (bounds the KV cache); none for a rank whose prompts were all skipped this step.
RolloutBatch generate_rollouts(Generator& gen, const StepPrompts& sp, GenerateConfig g, int64_t chunk) {
  const int64_t B = static_cast<int64_t>(sp.rows.size());
  if (B == 0) {
    RolloutBatch none;
    none.completion_ids = torch::zeros({0, 1}, torch::kLong);
    none.completion_mask = torch::zeros({0, 1}, torch::kLong);
    none.logprobs = torch::zeros({0, 1});
    return none;
  }
  g.prompt_keys = sp.keys;
  if (chunk <= 0 || chunk >= B) return gen.generate(sp.encoded, g);
  std::vector<RolloutBatch> parts;
  for (int64_t b = 0; b < B; b += chunk) {
    const int64_t n = std::min(chunk, B - b);
    GenerateConfig gc = g;
    gc.prompt_keys.assign(sp.keys.begin() + b, sp.keys.begin() + b + n);
    parts.push_back(gen.generate(sp.encoded.rows(b, n), gc));
  }
  return concat_rollouts(parts, g.pad_token_id);
}

// ---- rewards ----

struct RewardTable {
  torch::Tensor values;  // [N, K] float64: each reward of each completion
  torch::Tensor totals;  // [N] float64: their weighted sum
};

// The rewards of a run from one source: the task's RewardSet (rewards.*) or a CustomReward.
class RewardSource {
 public:
  RewardSource(const Config& cfg, const CustomReward* custom) : custom_(custom) {
    if (!custom) set_.emplace(cfg.data.task, cfg.rewards);
  }
  const std::vector<std::string>& names() const { return custom_ ? custom_->names : set_->names(); }

  // Completion i answers rows[i / G].
  RewardTable score(const std::vector<const Sample*>& rows, const RolloutBatch& roll, int64_t G) const {
    const int64_t N = static_cast<int64_t>(rows.size()) * G, K = static_cast<int64_t>(names().size());
    RewardTable t{torch::zeros({N, K}, torch::kDouble), torch::zeros({N}, torch::kDouble)};
    std::vector<RewardScores> r(static_cast<size_t>(N));
    if (custom_) {
      for (int64_t i = 0; i < N; ++i) {
        const CompletionRewards c = custom_->score(roll.texts[static_cast<size_t>(i)], completion_token_ids(roll, i),
                                                   *rows[static_cast<size_t>(i / G)]);
        r[static_cast<size_t>(i)] = {c.values, c.total};
      }
    } else {                            // the whole step at once: each external reward process gets one request
      std::vector<Solution> solutions;  // parsed once per prompt
      for (const Sample* s : rows) solutions.push_back(parse_solution(set_->task(), s->solution));
      std::vector<const Solution*> sols;
      for (const Solution& s : solutions) sols.push_back(&s);
      r = score_rollouts(*set_, rows, sols, roll, G);
    }
    for (int64_t i = 0; i < N; ++i) {
      for (int64_t k = 0; k < K; ++k) t.values[i][k] = r[static_cast<size_t>(i)].values[static_cast<size_t>(k)];
      t.totals[i] = r[static_cast<size_t>(i)].total;
    }
    return t;
  }

 private:
  const CustomReward* custom_;
  std::optional<RewardSet> set_;
};

// ---- advantages and the loss mask ----

struct Advantages {
  torch::Tensor all_totals;  // [N_all] the step's rewards, every rank's in one-process order
  torch::Tensor all_adv;     // [N_all] float32 group advantages
  torch::Tensor adv;         // [N] this rank's rows of all_adv
  int64_t zero_std = 0;      // groups of equal rewards (no learning signal)
  torch::Tensor mask;        // [N, T] float32: the completion tokens that enter the loss
  torch::Tensor truncated;   // [N] bool: stopped by max_new_tokens
};

// Advantages are per group, but scale_rewards: batch divides by the std of the whole step:
// every rank gathers the step's rewards and takes its rows [first, first + N). The mask drops
// truncated completions (grpo.mask_truncated_completions) and equal-reward groups
// (grpo.filter_zero_std) when asked.
Advantages advantages_and_mask(DataParallel& dp, const Config& cfg, const RewardTable& rewards,
                               const RolloutBatch& roll, int64_t B, int64_t G) {
  const int64_t N = B * G;
  Advantages a;
  int64_t first = 0;
  a.all_totals = dp.gather_rows(rewards.totals, &first);
  a.all_adv = group_advantages(a.all_totals, G, cfg.grpo.scale_rewards, cfg.grpo.advantage_eps).to(torch::kFloat);
  a.adv = a.all_adv.narrow(0, first, N);
  a.zero_std = zero_std_groups(a.all_totals, G);
  a.mask = roll.completion_mask.to(torch::kFloat);
  a.truncated = torch::zeros({N}, torch::kBool);
  for (int64_t i = 0; i < N; ++i) a.truncated[i] = roll.finish_reasons[static_cast<size_t>(i)] == "length";
  if (cfg.grpo.mask_truncated_completions) a.mask = a.mask * (~a.truncated).to(torch::kFloat).unsqueeze(1);
  if (cfg.grpo.filter_zero_std) {
    torch::Tensor r = rewards.totals.view({B, G});
    torch::Tensor flat = (r.amax(1) == r.amin(1)).repeat_interleave(G);
    a.mask = a.mask * (~flat).to(torch::kFloat).unsqueeze(1);
  }
  return a;
}

// ---- log-probs ----

using MicroBatches = std::vector<std::pair<int64_t, int64_t>>;  // (first prompt, prompts)

MicroBatches micro_batches(int64_t B, int64_t prompts_per_micro) {
  MicroBatches m;
  for (int64_t b = 0; b < B; b += prompts_per_micro) m.emplace_back(b, std::min(prompts_per_micro, B - b));
  return m;
}

torch::Tensor group_rows(const torch::Tensor& t, int64_t b, int64_t n, int64_t G) { return t.narrow(0, b * G, n * G); }

// [N, T] float32 on the CPU: the completions' token log-probs under a model that does not
// learn this step (the reference; the policy before its update, for num_iterations > 1), per
// micro-batch, without gradient, under the policy's autocast.
torch::Tensor frozen_logprobs(Qwen2VLForConditionalGeneration& model, const EncodedPrompt& prompts,
                              const torch::Tensor& comp, const MicroBatches& micro, int64_t G, double temperature,
                              const torch::Device& dev, std::optional<torch::ScalarType> autocast) {
  torch::NoGradGuard ng;
  AutocastScope ac(dev, autocast);
  torch::Tensor out = torch::empty({comp.size(0), comp.size(1)});
  for (auto [b, n] : micro) {
    group_rows(out, b, n, G)
        .copy_(completion_logprobs(model, prompts.rows(b, n), group_rows(comp, b, n, G), G, temperature).logp.cpu());
  }
  return out;
}

// ---- policy update ----

struct PolicyUpdate {
  double loss_sum = 0;   // the iterations' losses (all ranks), summed
  double grad_norm = 0;  // of the last iteration, before clipping
  double lr = 0;         // of the last applied update (0 when none was)
  GrpoLossStats first;   // token-weighted sums of the first iteration: tokens, kl, clip_low, clip_high
  double entropy_sum = 0;
};

// grpo.num_iterations optimizer steps on the step's rollouts: per iteration, per micro-batch
// the policy's log-probs, the GRPO loss and its backward; the gradients summed over the ranks,
// clipped, and AdamW at the schedule's rate. Each iteration is judged on its own loss: a
// non-finite one skips its update only (counted in skipped_updates). The reference follows
// the policy every grpo.ref_sync_steps optimizer steps (TRL's SyncRefModelCallback counts
// optimizer steps: num_iterations of them per GRPO step).
// `lo` is the run's loss settings (loss_settings); `temperature` the rollouts' sampling
// temperature, which the log-probs divide by.
PolicyUpdate update_policy(TrainingRun& run, Qwen2VLForConditionalGeneration& ref, GrpoLossOptions lo,
                           double temperature, const EncodedPrompt& prompts, const torch::Tensor& comp,
                           const torch::Tensor& old_logp, const torch::Tensor& ref_logp, const Advantages& a,
                           const MicroBatches& micro, int64_t step, PhaseTimer& timer, int64_t& skipped_updates) {
  const Config& cfg = run.cfg;
  const int64_t G = cfg.rollout.num_generations, mu = cfg.grpo.num_iterations;
  // Normalisers of the whole step: micro-batches and completion tokens of all ranks, so that
  // the ranks' losses add up to the one-process loss (gradients are summed).
  struct {
    double micro_batches, tokens;
  } norm;
  const std::vector<double> sums = run.dp.sum({static_cast<double>(micro.size()), a.mask.sum().item<double>()});
  norm = {sums[0], sums[1]};
  lo.grad_accum = static_cast<int64_t>(norm.micro_batches);
  lo.num_items = std::max(1.0, norm.tokens);
  PolicyUpdate u;
  run.policy->train();
  for (int64_t it = 0; it < mu; ++it) {
    double it_loss = 0;
    {
      auto t = timer.phase("backward_s");
      // The step's gradient, identical on every rank (or with shard: gradients its owners' slices).
      run.adam->accumulate_gradients(static_cast<int64_t>(micro.size()), [&](int64_t k) {
        const auto [b, n] = micro[static_cast<size_t>(k)];
        seed_micro_batch(cfg.train.seed, {step, it, run.dp.rank(), k});  // dropout: the same draws after a resume
        TokenLogprobs lp;
        torch::Tensor m = group_rows(a.mask, b, n, G).to(run.dev), loss;
        GrpoLossStats st;
        {
          AutocastScope ac(run.dev, run.prec.autocast);  // forward only; backward keeps the forward's dtypes
          lp = completion_logprobs(run.policy, prompts.rows(b, n), group_rows(comp, b, n, G), G, temperature, it == 0);
          loss = grpo_loss(lp.logp, old_logp.defined() ? group_rows(old_logp, b, n, G).to(run.dev) : torch::Tensor(),
                           ref_logp.defined() ? group_rows(ref_logp, b, n, G).to(run.dev) : torch::Tensor(),
                           group_rows(a.adv, b, n, G).to(run.dev), m, lo, &st);
        }
        loss.backward();
        it_loss += loss.item<double>();
        if (it == 0) {
          u.first.tokens += st.tokens;
          u.first.kl += st.kl * st.tokens;
          u.first.clip_low += st.clip_low * st.tokens;
          u.first.clip_high += st.clip_high * st.tokens;
          u.entropy_sum += (lp.entropy * m).sum().item<double>();
        }
      });
    }
    double it_total = run.dp.sum(it_loss);
    if (inject_nonfinite(step + 1, it + 1)) it_total = std::nan("");
    u.loss_sum += it_total;
    auto t = timer.phase("optim_s");
    u.grad_norm = run.adam->clip_grad_norm(cfg.optim.max_grad_norm);
    if (!std::isfinite(u.grad_norm) || !std::isfinite(it_total)) {
      ++skipped_updates;
      log_warn("step {}: non-finite loss ({}) or gradient norm ({}) in iteration {}: update skipped, weights unchanged",
               step + 1, it_total, u.grad_norm, it + 1);
    } else {
      u.lr =
          cfg.optim.lr * lr_multiplier(cfg.optim.lr_schedule, step * mu + it, cfg.optim.warmup_steps, run.total * mu);
      run.adam->step(u.lr);
    }
    run.adam->zero_grad();
    const int64_t opt_step = step * mu + it + 1;
    if (ref && cfg.grpo.ref_sync_steps > 0 && opt_step % cfg.grpo.ref_sync_steps == 0) {
      torch::NoGradGuard ng;
      auto rp = ref->parameters();
      auto pp = run.policy->parameters();
      const double alpha = cfg.grpo.ref_sync_alpha;
      // Mixed in float32 and rounded once (bf16 weights with shard: gradients); for float32
      // weights to() is the tensor itself, so this is the in-place update.
      for (size_t i = 0; i < rp.size(); ++i)
        rp[i].copy_(rp[i].to(torch::kFloat).mul_(1 - alpha).add_(pp[i].to(torch::kFloat), alpha));
    }
  }
  return u;
}

// ---- metrics and samples ----

// The step's metrics.jsonl record: per-completion values gathered in one-process order, sums
// reduced over the ranks.
nlohmann::json step_record(TrainingRun& run, int64_t step, const RewardSource& source, const RewardTable& rewards,
                           const RolloutBatch& roll, const Advantages& a, const PolicyUpdate& u, bool has_ref,
                           int64_t skipped_updates, int64_t skipped_prompts, const PhaseTimer& timer) {
  const double step_s = timer.step_s();
  const int64_t K = static_cast<int64_t>(source.names().size());
  torch::Tensor lengths = roll.completion_mask.sum(1).to(torch::kDouble);
  const torch::Tensor cols =  // [N_all, K + 2]: the rewards, completion length, truncated
      run.dp.gather_rows(
          torch::cat({rewards.values, lengths.view({-1, 1}), a.truncated.to(torch::kDouble).view({-1, 1})}, 1));
  const torch::Tensor all_lengths = cols.select(1, K), all_truncated = cols.select(1, K + 1);
  struct {
    double tokens, kl, clip_low, clip_high, entropy, processed_tokens;
  } s;
  const std::vector<double> v =
      run.dp.sum({u.first.tokens, u.first.kl, u.first.clip_low, u.first.clip_high, u.entropy_sum,
                  static_cast<double>(roll.timing.generated_tokens + roll.timing.prompt_tokens)});
  s = {v[0], v[1], v[2], v[3], v[4], v[5]};
  struct {
    double rss_gb, gpu_gb;
  } peak;
  const std::vector<double> p = run.dp.max({peak_rss_gb(), peak_gpu_gb(run.dev)});
  peak = {p[0], p[1]};
  const double tok = std::max(s.tokens, 1.0);
  nlohmann::json rec{
      {"step", step + 1},
      {"epoch", run.epoch_after(step)},
      {"reward", mean_std(a.all_totals)},
      {"advantage_abs_mean", a.all_adv.abs().mean().item<double>()},
      {"kl", has_ref ? nlohmann::json(s.kl / tok) : nlohmann::json(nullptr)},
      {"loss", u.loss_sum / static_cast<double>(run.cfg.grpo.num_iterations)},
      {"clip_ratio",
       {{"low", s.clip_low / tok}, {"high", s.clip_high / tok}, {"region", (s.clip_low + s.clip_high) / tok}}},
      {"entropy", s.entropy / tok},
      {"completion_length", {{"mean", all_lengths.mean().item<double>()}, {"max", all_lengths.max().item<double>()}}},
      {"truncated_fraction", all_truncated.mean().item<double>()},
      {"zero_std_groups", a.zero_std},
      {"lr", u.lr},
      {"grad_norm", u.grad_norm},
      {"skipped_updates", skipped_updates},
      {"skipped_prompts", skipped_prompts},
      {"time", timer.json(step_s)},
      {"tokens_per_s", s.processed_tokens / step_s},
      {"optimizer_state_gb", run.optimizer_gb},
      {"peak_rss_gb", peak.rss_gb},
      {"peak_gpu_gb", peak.gpu_gb}};
  for (int64_t k = 0; k < K; ++k) rec["rewards"][source.names()[static_cast<size_t>(k)]] = mean_std(cols.select(1, k));
  return rec;
}

// The samples of a step (write_samples' JSON lines) as a Markdown table for TensorBoard's Text
// tab: one row per completion. Cells are escaped: '|' would end the cell, '<' would start HTML
// that TensorBoard strips (<think> and <answer> would vanish), newlines would end the row.
std::string samples_markdown(const std::string& jsonl) {
  auto cell = [](const std::string& s) {
    std::string out;
    for (char c : s) {
      if (c == '|')
        out += "\\|";
      else if (c == '<')
        out += "&lt;";
      else if (c == '>')
        out += "&gt;";
      else if (c == '\n')
        out += "<br>";
      else
        out += c;
    }
    return out;
  };
  std::string md = "| sample | completion | text | reward | advantage |\n|---|---|---|---|---|\n";
  size_t begin = 0;
  for (size_t end; (end = jsonl.find('\n', begin)) != std::string::npos; begin = end + 1) {
    const nlohmann::json s = nlohmann::json::parse(jsonl.substr(begin, end - begin));
    md += "| " + std::to_string(s["sample"].get<int64_t>()) + " | " + std::to_string(s["completion"].get<int64_t>()) +
          " | " + cell(s["text"].get<std::string>()) + " | " + fmt::format("{:.3f}", s["reward"].get<double>()) +
          " | " + fmt::format("{:.3f}", s["advantage"].get<double>()) + " |\n";
  }
  return md;
}

// OUT/rollouts/step_N.jsonl: the completions of rank 0's first logging.num_samples prompts
// (the step's first prompts), with their rewards and advantages.
void write_samples(TrainingRun& run, int64_t step, const StepPrompts& sp, const RolloutBatch& roll,
                   const RewardSource& source, const RewardTable& rewards, const Advantages& a) {
  const int64_t G = run.cfg.rollout.num_generations, B = static_cast<int64_t>(sp.rows.size());
  char name[64];
  std::snprintf(name, sizeof name, "/rollouts/step_%06lld.jsonl", static_cast<long long>(step + 1));
  std::string text;
  for (int64_t b = 0; b < std::min<int64_t>(B, run.cfg.logging.num_samples); ++b) {
    const Sample& row = *sp.rows[static_cast<size_t>(b)];
    for (int64_t j = 0; j < G; ++j) {
      const int64_t i = b * G + j;
      nlohmann::json s{{"step", step + 1},
                       {"sample", row.index},
                       {"completion", j},
                       {"problem", row.problem},
                       {"solution", row.solution},
                       {"text", roll.texts[static_cast<size_t>(i)]},
                       {"reward", rewards.totals[i].item<double>()},
                       {"advantage", a.adv[i].item<double>()},
                       {"finish_reason", roll.finish_reasons[static_cast<size_t>(i)]}};
      for (size_t k = 0; k < source.names().size(); ++k)
        s["rewards"][source.names()[k]] = rewards.values[i][static_cast<int64_t>(k)].item<double>();
      text += s.dump() + "\n";
    }
  }
  write_file_atomic(run.cfg.train.output_dir + name, text);
  if (run.tb) run.tb->text("train/samples", step + 1, samples_markdown(text));
}

// The reference model (grpo.beta != 0): the start model in the policy's dtype, used under the
// policy's autocast, so that its log-probs equal the policy's at step 0 and the KL holds no
// rounding noise (the cost: an fp32 reference is twice a bf16 one; 2B: 8.8 instead of 4.4 GB).
// A resumed run takes the synced reference its checkpoint saved.
Qwen2VLForConditionalGeneration reference_model(TrainingRun& run) {
  // With LoRA the reference is the policy with its adapters off (reference_logprobs): no copy.
  if (run.cfg.grpo.beta == 0.0 || run.cfg.lora.enabled()) return Qwen2VLForConditionalGeneration{nullptr};
  auto ref = load_qwen2vl(run.cfg.model.path, run.prec.weights, run.dev);
  for (auto& p : ref->parameters()) p.set_requires_grad(false);
  if (!run.resumed_ref_model.empty()) {
    torch::NoGradGuard ng;
    std::map<std::string, torch::Tensor> m(run.resumed_ref_model.begin(), run.resumed_ref_model.end());
    for (auto& p : ref->named_parameters(true)) p.value().copy_(m.at(p.key()));
    run.resumed_ref_model.clear();
  }
  return ref;
}

// The weights that generate: the policy itself, or with mixed precision a copy in the rollout
// dtype that takes the policy's weights before each step's rollouts.
Qwen2VLForConditionalGeneration rollout_model(TrainingRun& run) {
  // With LoRA the policy's base already has the rollout dtype (TrainingRun::open_lora_policy).
  if (!run.prec.separate_rollout() || run.cfg.lora.enabled()) return run.policy;
  auto m =
      load_qwen2vl(run.start_checkpoint.empty() ? run.cfg.model.path : run.start_checkpoint, run.prec.rollout, run.dev);
  for (auto& p : m->parameters()) p.set_requires_grad(false);
  return m;
}

}  // namespace

TrainResult train_grpo(const Config& cfg, const std::string& resume, const CustomReward* custom, bool overwrite) {
  TrainingRun run(cfg, resume, overwrite, {"grpo", /*check_solutions=*/!custom, "rollouts"});
  const RewardSource source(cfg, custom);
  auto ref = reference_model(run);
  const bool with_ref = cfg.grpo.beta != 0.0;  // a reference model, or the LoRA policy's base
  auto roller = rollout_model(run);
  log_info("precision: weights and reference {}{}, autocast {}, rollout {}", c10::toString(run.prec.weights),
           run.prec.sharded_masters ? " (float32 masters in the optimizer, sharded)" : "",
           run.prec.autocast ? c10::toString(*run.prec.autocast) : "off", c10::toString(run.prec.rollout));
  Generator gen(roller, &run.enc.tokenizer());
  const GenerateConfig gen_settings = rollout_settings(cfg, run.enc.tokens().pad);
  const GrpoLossOptions loss = loss_settings(cfg);
  const double temperature = gen_settings.sampling.temperature;  // the log-probs' too
  const int64_t G = cfg.rollout.num_generations, mu = cfg.grpo.num_iterations;
  const int64_t prompts_per_micro = std::max<int64_t>(1, cfg.train.micro_batch_size / G);
  int64_t skipped_updates = run.resumed_state.is_null() ? 0 : run.resumed_state.value("skipped_updates", int64_t{0});
  int64_t skipped_prompts = run.resumed_state.is_null() ? 0 : run.resumed_state.value("skipped_prompts", int64_t{0});
  auto save_grpo_state = [&](CheckpointData& d) {
    d.state["skipped_prompts"] = skipped_prompts;
    if (ref && cfg.grpo.ref_sync_steps > 0) {
      for (const auto& p : ref->named_parameters(true)) d.ref_model.emplace_back(p.key(), p.value().detach());
    }
  };
  StopOnSignal stop;  // SIGINT/SIGTERM: finish the step, checkpoint it, stop (stop_signal.h)

  for (int64_t step = run.start; step < run.total; ++step) {
    StepProfile profile(step);  // bench train --profile
    PhaseTimer timer;
    const StepPrompts sp = draw_prompts(run, step);
    const int64_t B = static_cast<int64_t>(sp.rows.size());
    // The step goes on while any rank has a prompt; a rank with none takes part with zeros.
    const std::vector<double> kept = run.dp.sum({static_cast<double>(B), static_cast<double>(sp.too_long)});
    skipped_prompts += static_cast<int64_t>(kept[1]);
    if (kept[0] == 0) {  // nothing to train on: the step still counts, is logged and saved
      log_warn("step {}: every prompt was skipped; no update", step + 1);
      run.log_metrics(step, {{"step", step + 1},
                             {"epoch", run.epoch_after(step)},
                             {"skipped_updates", skipped_updates},
                             {"skipped_prompts", skipped_prompts}});
      run.end_step(step, stop, skipped_updates, save_grpo_state);
      continue;
    }

    RolloutBatch roll;
    {
      auto t = timer.phase("rollout_s");
      GenerateConfig g = gen_settings;
      g.seed = sample_stream(static_cast<uint64_t>(cfg.train.seed), salt::rollout, static_cast<uint64_t>(step));
      run.policy->eval();
      if (roller.ptr() != run.policy.ptr()) copy_parameters(*roller, *run.policy);
      roll = generate_rollouts(gen, sp, g, cfg.rollout.batch_size > 0 ? cfg.rollout.batch_size : B);
    }
    RewardTable rewards;
    Advantages adv;
    {
      auto t = timer.phase("reward_s");
      rewards = source.score(sp.rows, roll, G);
      adv = advantages_and_mask(run.dp, cfg, rewards, roll, B, G);
    }
    const MicroBatches micro = micro_batches(B, prompts_per_micro);
    torch::Tensor ref_logp, old_logp;
    {
      auto t = timer.phase("logprob_s");
      if (ref) {
        ref_logp =
            frozen_logprobs(ref, sp.encoded, roll.completion_ids, micro, G, temperature, run.dev, run.prec.autocast);
      } else if (with_ref) {  // LoRA: the base model is the policy without its adapters
        LoraDisabled base(run.policy);
        ref_logp = frozen_logprobs(run.policy, sp.encoded, roll.completion_ids, micro, G, temperature, run.dev,
                                   run.prec.autocast);
      }
      if (mu > 1)
        old_logp = frozen_logprobs(run.policy, sp.encoded, roll.completion_ids, micro, G, temperature, run.dev,
                                   run.prec.autocast);
    }
    const PolicyUpdate u = update_policy(run, ref, loss, temperature, sp.encoded, roll.completion_ids, old_logp,
                                         ref_logp, adv, micro, step, timer, skipped_updates);

    const nlohmann::json rec =
        step_record(run, step, source, rewards, roll, adv, u, with_ref, skipped_updates, skipped_prompts, timer);
    run.log_metrics(step, rec);
    const int64_t every = cfg.logging.sample_steps;
    if (run.dp.is_main() && every > 0 && (step + 1) % every == 0)
      write_samples(run, step, sp, roll, source, rewards, adv);
    log_progress(
        cfg.logging.progress,
        fmt::format("step {}/{}  reward {:.3f}  kl {:.4f}  len {:.1f}  {:.0f} tok/s  {:.1f} s/step  ETA {:.0f} s",
                    step + 1, run.total, rec["reward"]["mean"].get<double>(), with_ref ? rec["kl"].get<double>() : 0.0,
                    rec["completion_length"]["mean"].get<double>(), rec["tokens_per_s"].get<double>(),
                    rec["time"]["step_s"].get<double>(), run.eta_s(step)));
    profile.finish();  // before the checkpoint
    run.end_step(step, stop, skipped_updates, save_grpo_state);
  }
  return run.finish();
}

}  // namespace vrft
