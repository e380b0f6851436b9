// visual_rft/rollout/rollout_rewards.h: the rewards of a batch of sampled answers, G per
// question, as GRPO scores a step's rollouts and `visual-rft eval --best-of` its samples. Both
// go through here, so every reward sees the same inputs in both: completion i of the batch
// answers question i / G, its text and token ids go to every reward, and each external reward
// process (rewards.python, rewards.external) is asked once for the whole batch.
#pragma once
#include <cstdint>
#include <vector>

#include "visual_rft/data/visual_rft_jsonl.h"
#include "visual_rft/reward/rewards.h"
#include "visual_rft/rollout/generator.h"

namespace vrft {

// The token ids of completion i of `roll`: up to and including its eos, without padding.
std::vector<int64_t> completion_token_ids(const RolloutBatch& roll, int64_t i);

// The scores of every completion of `roll` ([rows.size() * G], completion-major as `roll`):
// completion i answers rows[i / G], whose parsed truth is solutions[i / G].
std::vector<RewardScores> score_rollouts(const RewardSet& rewards, const std::vector<const Sample*>& rows,
                                         const std::vector<const Solution*>& solutions, const RolloutBatch& roll,
                                         int64_t G);

}  // namespace vrft
