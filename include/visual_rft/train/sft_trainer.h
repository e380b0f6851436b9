// visual_rft/train/sft_trainer.h: `visual-rft train` with trainer: sft, the supervised
// baseline of the paper's tables: on the same Visual-RFT JSONL, the model learns the
// solution text (followed by <|im_end|>) after the reference's prompt, with the loss (mean
// negative log-likelihood) on the answer tokens only. Same data order, optimiser, schedule,
// metrics, checkpoints, resume and data parallelism (train/distributed.h) as the GRPO trainer.
#pragma once

#include <string>

#include "visual_rft/core/config.h"
#include "visual_rft/train/grpo_trainer.h"

namespace vrft {

// The SFT baseline; `resume` and `overwrite` as train_grpo.
TrainResult train_sft(const Config& cfg, const std::string& resume, bool overwrite = false);

}  // namespace vrft
