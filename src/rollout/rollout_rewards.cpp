// src/rollout/rollout_rewards.cpp: the rewards of a batch of sampled answers (rollout_rewards.h).
#include "visual_rft/rollout/rollout_rewards.h"

#include <fmt/format.h>

#include "visual_rft/core/error.h"

namespace vrft {

std::vector<int64_t> completion_token_ids(const RolloutBatch& roll, int64_t i) {
  const int64_t n = roll.completion_mask[i].sum().item<int64_t>();  // the mask is 1 up to the eos
  const torch::Tensor row = roll.completion_ids[i].contiguous();
  const int64_t* p = row.data_ptr<int64_t>();
  return {p, p + n};
}

std::vector<RewardScores> score_rollouts(const RewardSet& rewards, const std::vector<const Sample*>& rows,
                                         const std::vector<const Solution*>& solutions, const RolloutBatch& roll,
                                         int64_t G) {
  const int64_t N = static_cast<int64_t>(rows.size()) * G;
  if (solutions.size() != rows.size() || static_cast<int64_t>(roll.texts.size()) != N)
    throw Error(fmt::format("score_rollouts: {} completions for {} questions ({} solutions) x G = {}",
                            roll.texts.size(), rows.size(), solutions.size(), G));
  // Token ids only for the rewards that read them (those computed outside).
  std::vector<std::vector<int64_t>> ids(static_cast<size_t>(N));
  if (rewards.has_external())
    for (int64_t i = 0; i < N; ++i) ids[static_cast<size_t>(i)] = completion_token_ids(roll, i);
  std::vector<RewardQuery> queries;
  std::vector<const Solution*> sols;
  for (int64_t i = 0; i < N; ++i) {
    const Sample& row = *rows[static_cast<size_t>(i / G)];
    queries.push_back(
        {&roll.texts[static_cast<size_t>(i)], &ids[static_cast<size_t>(i)], &row.problem, &row.solution, &row.image});
    sols.push_back(solutions[static_cast<size_t>(i / G)]);
  }
  return rewards.score_batch(queries, sols);
}

}  // namespace vrft
