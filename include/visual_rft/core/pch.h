// visual_rft/core/pch.h: headers precompiled once for every target (LibTorch is large:
// parsing torch/torch.h costs ~10 s per translation unit without this).
#pragma once

#include <torch/torch.h>

#include <map>
#include <memory>
#include <string>
#include <vector>
