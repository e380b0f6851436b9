// src/core/safetensors.cpp: mmap reader, sharded folders and atomic writer for safetensors.
#include "visual_rft/core/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>

#include "visual_rft/core/error.h"
#include "visual_rft/core/fs.h"

namespace vrft {

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "safetensors data is little-endian");

torch::Dtype to_torch_dtype(StDtype d) {
  switch (d) {
    case StDtype::BOOL: return torch::kBool;
    case StDtype::U8: return torch::kUInt8;
    case StDtype::I8: return torch::kInt8;
    case StDtype::I16: return torch::kInt16;
    case StDtype::I32: return torch::kInt32;
    case StDtype::I64: return torch::kInt64;
    case StDtype::F16: return torch::kFloat16;
    case StDtype::BF16: return torch::kBFloat16;
    case StDtype::F32: return torch::kFloat32;
    case StDtype::F64: return torch::kFloat64;
  }
  throw Error("unknown safetensors dtype");
}

StDtype to_st_dtype(torch::Dtype d) {
  switch (d) {
    case torch::kBool: return StDtype::BOOL;
    case torch::kUInt8: return StDtype::U8;
    case torch::kInt8: return StDtype::I8;
    case torch::kInt16: return StDtype::I16;
    case torch::kInt32: return StDtype::I32;
    case torch::kInt64: return StDtype::I64;
    case torch::kFloat16: return StDtype::F16;
    case torch::kBFloat16: return StDtype::BF16;
    case torch::kFloat32: return StDtype::F32;
    case torch::kFloat64: return StDtype::F64;
    default: throw Error(std::string("safetensors cannot store dtype ") + c10::toString(d));
  }
}

// ---- reading ----------------------------------------------------------------------------------

struct SafetensorsFile::Mapping {
  void* addr = nullptr;
  size_t size = 0;
  ~Mapping() {
    if (addr) ::munmap(addr, size);
  }
};

SafetensorsFile::SafetensorsFile(const std::string& path) : path_(path), map_(std::make_shared<Mapping>()) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw FileError("cannot open safetensors file '" + path + "': " + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    throw FileError("'" + path + "' is not a regular file");
  }
  map_->size = static_cast<size_t>(st.st_size);
  if (map_->size < 8) {
    ::close(fd);
    throw FileError("safetensors file '" + path + "': is " + std::to_string(map_->size) +
                    " bytes, too short for a header");
  }
  // Private and writable: tensors may be modified in place without touching the file.
  void* addr = ::mmap(nullptr, map_->size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
  ::close(fd);
  if (addr == MAP_FAILED) throw FileError("cannot map '" + path + "': " + std::strerror(errno));
  map_->addr = addr;
  header_ = parse_safetensors_header(static_cast<const uint8_t*>(addr), map_->size, path);
  for (size_t i = 0; i < header_.tensors.size(); ++i) index_[header_.tensors[i].name] = i;
}

const StTensorInfo& SafetensorsFile::info(const std::string& name) const {
  auto it = index_.find(name);
  if (it == index_.end()) throw Error("tensor '" + name + "' is not in '" + path_ + "'");
  return header_.tensors[it->second];
}

torch::Tensor SafetensorsFile::get(const std::string& name) const {
  const StTensorInfo& t = info(name);
  auto opts = torch::TensorOptions().dtype(to_torch_dtype(t.dtype)).device(torch::kCPU);
  uint8_t* p = static_cast<uint8_t*>(map_->addr) + header_.data_start + t.begin;
  size_t nbytes = t.end - t.begin;
  if (reinterpret_cast<uintptr_t>(p) % st_dtype_size(t.dtype) != 0) {
    torch::Tensor out = torch::empty(t.shape, opts);
    if (nbytes > 0) std::memcpy(out.data_ptr(), p, nbytes);  // an empty tensor has no storage
    return out;
  }
  auto keep = map_;  // the tensor's deleter keeps the mapping alive
  return torch::from_blob(
      p, t.shape, [keep](void*) {}, opts);
}

void SafetensorsFile::release(const std::string& name) const {
  const StTensorInfo& t = info(name);
  const uintptr_t page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
  uintptr_t base = reinterpret_cast<uintptr_t>(map_->addr);
  uintptr_t b = base + header_.data_start + t.begin, e = base + header_.data_start + t.end;
  b = (b + page - 1) / page * page;  // whole pages inside the tensor only
  e = e / page * page;
  if (e > b) ::madvise(reinterpret_cast<void*>(b), e - b, MADV_DONTNEED);
}

SafetensorsDir::SafetensorsDir(const std::string& dir) : dir_(dir) {
  namespace fs = std::filesystem;
  fs::path index = fs::path(dir) / "model.safetensors.index.json";
  fs::path single = fs::path(dir) / "model.safetensors";
  if (fs::exists(index)) {
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(read_file(index.string()));
    } catch (const nlohmann::json::exception& e) {
      throw FileError("'" + index.string() + "' is not valid JSON: " + e.what());
    }
    if (!j.contains("weight_map") || !j["weight_map"].is_object()) {
      throw FileError("'" + index.string() + "' has no weight_map object");
    }
    std::map<std::string, size_t> shard_ids;
    for (auto it = j["weight_map"].begin(); it != j["weight_map"].end(); ++it) {
      if (!it.value().is_string())
        throw FileError("'" + index.string() + "': weight_map['" + it.key() + "'] is not a file name");
      std::string shard = it.value().get<std::string>();
      if (!shard_ids.count(shard)) {
        shard_ids[shard] = files_.size();
        files_.emplace_back((fs::path(dir) / shard).string());
      }
      size_t f = shard_ids[shard];
      if (!files_[f].contains(it.key())) {
        throw FileError("'" + index.string() + "' maps tensor '" + it.key() + "' to '" + shard +
                        "', which does not hold it");
      }
      where_[it.key()] = f;
    }
  } else if (fs::exists(single)) {
    files_.emplace_back(single.string());
    for (const auto& t : files_[0].tensors()) where_[t.name] = 0;
  } else {
    throw FileError("model folder '" + dir + "' has neither model.safetensors nor model.safetensors.index.json");
  }
}

std::vector<std::string> SafetensorsDir::names() const {
  std::vector<std::string> out;
  for (const auto& kv : where_) out.push_back(kv.first);
  return out;
}

const StTensorInfo& SafetensorsDir::info(const std::string& name) const {
  auto it = where_.find(name);
  if (it == where_.end()) throw Error("tensor '" + name + "' is not in model folder '" + dir_ + "'");
  return files_[it->second].info(name);
}

void SafetensorsDir::release(const std::string& name) const {
  auto it = where_.find(name);
  if (it != where_.end()) files_[it->second].release(name);
}

torch::Tensor SafetensorsDir::get(const std::string& name) const {
  auto it = where_.find(name);
  if (it == where_.end()) throw Error("tensor '" + name + "' is not in model folder '" + dir_ + "'");
  return files_[it->second].get(name);
}

// ---- writing ----------------------------------------------------------------------------------

void save_safetensors(const std::string& path, const NamedTensors& tensors,
                      const std::map<std::string, std::string>& metadata) {
  // Header first: offsets follow the given order, back to back.
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::vector<torch::Tensor> host;
  std::set<std::string> seen;
  uint64_t offset = 0;
  for (const auto& [name, t] : tensors) {
    if (!seen.insert(name).second) throw Error("save_safetensors('" + path + "'): tensor name '" + name + "' repeats");
    if (name == "__metadata__") throw Error("save_safetensors: '__metadata__' is reserved");
    TORCH_CHECK(t.layout() == torch::kStrided, "save_safetensors: tensor '", name, "' is not dense");
    torch::Tensor c = t.detach().to(torch::kCPU).contiguous();
    uint64_t nbytes = c.numel() * c.element_size();
    header[name] = {{"dtype", st_dtype_name(to_st_dtype(c.scalar_type()))},
                    {"shape", c.sizes().vec()},
                    {"data_offsets", {offset, offset + nbytes}}};
    offset += nbytes;
    host.push_back(std::move(c));
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');  // pad so the data buffer is 8-byte aligned
  uint8_t len[8];
  for (int i = 0; i < 8; ++i) len[i] = static_cast<uint8_t>(uint64_t(text.size()) >> (8 * i));

  AtomicFile f(path);
  f.write(len, 8);
  f.write(text);
  for (const auto& c : host) f.write(c.data_ptr(), c.numel() * c.element_size());
  f.commit();
}

std::vector<std::string> save_safetensors_sharded(const std::string& dir, const NamedTensors& tensors,
                                                  uint64_t max_shard_bytes,
                                                  const std::map<std::string, std::string>& metadata) {
  namespace fs = std::filesystem;
  // Greedy packing in order, as transformers does: a new shard starts when the next tensor
  // would push the current one past the limit (a single huge tensor gets a shard of its own).
  std::vector<NamedTensors> shards(1);
  uint64_t cur = 0, total = 0;
  for (const auto& nt : tensors) {
    uint64_t n = nt.second.numel() * nt.second.element_size();
    if (cur > 0 && cur + n > max_shard_bytes) {
      shards.emplace_back();
      cur = 0;
    }
    shards.back().push_back(nt);
    cur += n;
    total += n;
  }
  std::vector<std::string> written;
  if (shards.size() == 1) {
    std::string p = (fs::path(dir) / "model.safetensors").string();
    save_safetensors(p, tensors, metadata);
    written.push_back(p);
    return written;
  }
  nlohmann::ordered_json index;
  index["metadata"] = {{"total_size", total}};
  nlohmann::ordered_json weight_map = nlohmann::ordered_json::object();
  for (size_t i = 0; i < shards.size(); ++i) {
    char name[64];
    std::snprintf(name, sizeof name, "model-%05zu-of-%05zu.safetensors", i + 1, shards.size());
    save_safetensors((fs::path(dir) / name).string(), shards[i], metadata);
    written.push_back((fs::path(dir) / name).string());
    for (const auto& nt : shards[i]) weight_map[nt.first] = name;
  }
  index["weight_map"] = weight_map;
  std::string p = (fs::path(dir) / "model.safetensors.index.json").string();
  write_file_atomic(p, index.dump(2) + "\n");  // written last: it makes the shards visible
  written.push_back(p);
  return written;
}

}  // namespace vrft
