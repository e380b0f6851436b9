// visual_rft/core/hub.h: models named by their Hugging Face hub id. `model.path:
// Qwen/Qwen2-VL-2B-Instruct` (or `--model` with such an id) names the snapshot that
// `hf download Qwen/Qwen2-VL-2B-Instruct` left in the local cache, as transformers'
// from_pretrained finds it offline:
//   CACHE/models--Qwen--Qwen2-VL-2B-Instruct/refs/main          the revision
//   CACHE/models--Qwen--Qwen2-VL-2B-Instruct/snapshots/<rev>/    the files
// CACHE is $HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub. Nothing is
// downloaded: the machines that train are often offline.
#pragma once

#include <string>

namespace vrft {

// "org/name": one slash, each part letters, digits, '-', '_' or '.', not starting with '.'.
bool looks_like_hub_id(const std::string& s);

std::string hf_hub_cache_dir();

// The model folder `path_or_id` names: the cached snapshot when it is a hub id the cache
// holds (and not an existing path), else `path_or_id` unchanged, for the caller's check that
// the folder exists (whose message missing_model_hint completes). Throws ConfigError naming
// `key` when the cache names a revision whose snapshot is incomplete.
std::string resolve_model_dir(const std::string& path_or_id, const std::string& key);

// What to say about a model folder that does not exist: for a hub id, the cache looked in and
// the command that downloads it; "" for other paths.
std::string missing_model_hint(const std::string& path);

}  // namespace vrft
