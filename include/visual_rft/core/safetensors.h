// visual_rft/core/safetensors.h: memory-mapped safetensors reading, sharded models, atomic
// writing.
//
// Reading maps the file (MAP_PRIVATE, copy-on-write) and hands out CPU tensors that point
// into the mapping, so loading a model holds no second copy of the file; each tensor keeps
// the mapping alive. A tensor whose bytes are not aligned to its element size is copied.
// Writing goes through AtomicFile: a crash never leaves a half-written file.
#pragma once

#include <torch/torch.h>

#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "visual_rft/core/safetensors_header.h"

namespace vrft {

torch::Dtype to_torch_dtype(StDtype d);
StDtype to_st_dtype(torch::Dtype d);  // throws Error for dtypes safetensors cannot hold

// One .safetensors file, mapped into memory.
class SafetensorsFile {
 public:
  // Maps and validates `path`; throws FileError naming the path and the problem.
  explicit SafetensorsFile(const std::string& path);

  const std::string& path() const { return path_; }
  const std::vector<StTensorInfo>& tensors() const { return header_.tensors; }  // by offset
  const std::map<std::string, std::string>& metadata() const { return header_.metadata; }
  bool contains(const std::string& name) const { return index_.count(name) != 0; }
  const StTensorInfo& info(const std::string& name) const;  // throws Error for unknown names

  // A CPU tensor viewing the mapped bytes (copied only when misaligned). Writing to it is
  // safe (copy-on-write) and never reaches the file.
  torch::Tensor get(const std::string& name) const;
  // Drops the tensor's pages from this process's memory (madvise DONTNEED): a loader calls
  // it after copying a tensor, so loading never holds the file and the model at once. The
  // bytes stay readable (they are read from the file again if touched).
  void release(const std::string& name) const;

 private:
  struct Mapping;
  std::string path_;
  std::shared_ptr<Mapping> map_;
  StHeader header_;
  std::unordered_map<std::string, size_t> index_;
};

// The tensors of a model folder: `model.safetensors`, or the shards listed by
// `model.safetensors.index.json` (weight_map: tensor name -> shard file).
class SafetensorsDir {
 public:
  // Throws FileError when neither file exists, a shard is missing, or the index names a
  // tensor that its shard does not hold.
  explicit SafetensorsDir(const std::string& dir);

  std::vector<std::string> names() const;  // sorted
  bool contains(const std::string& name) const { return where_.count(name) != 0; }
  const StTensorInfo& info(const std::string& name) const;
  torch::Tensor get(const std::string& name) const;
  void release(const std::string& name) const;
  const std::vector<SafetensorsFile>& files() const { return files_; }

 private:
  std::string dir_;
  std::vector<SafetensorsFile> files_;
  std::map<std::string, size_t> where_;  // tensor name -> index into files_
};

// Named tensors in the order they are written.
using NamedTensors = std::vector<std::pair<std::string, torch::Tensor>>;

// Writes `tensors` (any device; dense) to `path` atomically, with optional string metadata.
// Tensors are stored in the given order; names must be unique.
void save_safetensors(const std::string& path, const NamedTensors& tensors,
                      const std::map<std::string, std::string>& metadata = {});

// Writes `tensors` into `dir` as model.safetensors, or, when they exceed `max_shard_bytes`,
// as model-0000i-of-0000n.safetensors shards plus model.safetensors.index.json (the layout
// of transformers' save_pretrained). Returns the files written.
std::vector<std::string> save_safetensors_sharded(const std::string& dir, const NamedTensors& tensors,
                                                  uint64_t max_shard_bytes,
                                                  const std::map<std::string, std::string>& metadata = {});

}  // namespace vrft
