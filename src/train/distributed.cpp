// src/train/distributed.cpp: torchrun's environment, the c10d process group (TCPStore +
// ProcessGroupGloo / ProcessGroupNCCL), bucketed collectives (see the header).
//
// Gloo: the wheel's libtorch_cpu contains Gloo and ProcessGroupGloo, but the wheel does not
// ship Gloo's headers, which ProcessGroupGloo.hpp includes. Debian's libgloo-dev provides
// them; only declarations are used (ProcessGroupGloo holds Gloo objects through pointers, so
// its layout does not depend on Gloo's version), and libgloo itself is not linked.
// NCCL: ProcessGroupNCCL.hpp needs nccl.h and the CUDA headers (the CUDA toolkit). Either
// backend is compiled only where the wheel was built with it (it defines USE_C10D_GLOO /
// USE_C10D_NCCL on its CMake targets) and its headers exist; otherwise asking for it is an
// error at run time that says so.
#include "visual_rft/train/distributed.h"

#include <torch/csrc/distributed/c10d/Backend.hpp>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#if defined(USE_C10D_GLOO) && __has_include(<gloo/rendezvous/store.h>)
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#define VRFT_HAVE_GLOO 1
#endif
#if defined(USE_C10D_NCCL) && __has_include(<nccl.h>) && __has_include(<cuda_runtime_api.h>)
#include <c10/cuda/CUDAFunctions.h>
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#define VRFT_HAVE_NCCL 1
#endif

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <deque>
#include <functional>
#include <map>
#include <optional>

#include "visual_rft/core/error.h"
#include "visual_rft/core/log.h"
#include "visual_rft/train/run_util.h"

namespace vrft {
namespace {

std::optional<std::string> getenv_str(const char* key) {
  const char* v = std::getenv(key);
  if (!v || !*v) return std::nullopt;
  return std::string(v);
}

int env_int(const char* key, const std::string& value, int64_t lo, int64_t hi) {
  size_t used = 0;
  int64_t v = 0;
  try {
    v = std::stoll(value, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != value.size() || used == 0 || v < lo || v > hi) {
    throw ConfigError(
        fmt::format("environment variable {} = '{}': expected an integer in [{}, {}]", key, value, lo, hi));
  }
  return static_cast<int>(v);
}

}  // namespace

DistEnv dist_env_from_environment() {
  DistEnv e;
  const auto ws = getenv_str("WORLD_SIZE");
  if (!ws) return e;
  e.world_size = env_int("WORLD_SIZE", *ws, 1, 1 << 20);
  if (e.world_size == 1) return e;
  auto need = [&](const char* key) {
    auto v = getenv_str(key);
    if (!v) {
      throw ConfigError(fmt::format(
          "WORLD_SIZE = {} but the environment variable {} is not set: launch with torchrun (README, \"Many GPUs and "
          "nodes\"), or set RANK, LOCAL_RANK, MASTER_ADDR and MASTER_PORT for every process",
          e.world_size, key));
    }
    return *v;
  };
  e.rank = env_int("RANK", need("RANK"), 0, e.world_size - 1);
  const auto local = getenv_str("LOCAL_RANK");  // unset: one node, local rank = rank
  e.local_rank = local ? env_int("LOCAL_RANK", *local, 0, e.world_size - 1) : e.rank;
  e.master_addr = need("MASTER_ADDR");
  e.master_port = env_int("MASTER_PORT", need("MASTER_PORT"), 1, 65535);
  e.agent_store = getenv_str("TORCHELASTIC_USE_AGENT_STORE").value_or("") == "True";
  return e;
}

torch::Device rank_device(const std::string& device, const DistEnv& env) {
  torch::Device d = resolve_device(device);
  if (env.world_size > 1 && d.is_cuda() && !d.has_index()) {  // auto or cuda: one GPU per local rank
    const int64_t n = static_cast<int64_t>(torch::cuda::device_count());
    if (env.local_rank >= n) {
      throw ConfigError(fmt::format(
          "LOCAL_RANK = {} but this node has {} CUDA device(s): start at most one rank per GPU", env.local_rank, n));
    }
    return torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(env.local_rank));
  }
  return d;
}

void check_world(const Config& c, int world) {
  if (world <= 1) return;
  const int64_t P = c.train.prompts_per_step;
  if (P % world != 0) {
    throw ConfigError(fmt::format(
        "train.prompts_per_step = {} does not split among WORLD_SIZE = {} ranks: each rank takes prompts_per_step / "
        "world whole prompts (with all their completions) per step; use a multiple of {}",
        P, world, world));
  }
  if (c.train.trainer == TrainerKind::grpo) {
    const int64_t rows = P / world * c.rollout.num_generations;
    if (rows % c.train.micro_batch_size != 0) {
      throw ConfigError(fmt::format(
          "train.micro_batch_size = {} must divide each rank's completions per step, prompts_per_step / world x "
          "rollout.num_generations = {} / {} x {} = {} (equal micro-batches on every rank keep the loss normalisation "
          "of one process)",
          c.train.micro_batch_size, P, world, c.rollout.num_generations, rows));
    }
  }
}

// ---- the process group -------------------------------------------------------------------

struct DataParallel::Impl {
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<c10d::Backend> pg;  // declared after the store: destroyed before it
  torch::Device comm = torch::kCPU;      // where collectives run: the GPU for NCCL, the CPU for Gloo
  torch::Device dev = torch::kCPU;       // the training device
  int64_t bucket_bytes = 25 << 20;
  int64_t timeout_s = 1800;
  std::string who;  // "rank r of W"

  // Runs f; a failure of the transport (a peer that died or timed out) becomes an Error
  // that says so, instead of a LibTorch backtrace.
  template <class F>
  auto guarded(const std::string& what, F&& f) -> decltype(f()) {
    try {
      return f();
    } catch (const Error&) {
      throw;
    } catch (const c10::Error& e) {
      throw Error(
          fmt::format("{}: {} failed: another rank stopped, or none answered within distributed.timeout_s = {} s ({})",
                      who, what, timeout_s, e.what_without_backtrace()));
    } catch (const std::exception& e) {
      throw Error(
          fmt::format("{}: {} failed: another rank stopped, or none answered within distributed.timeout_s = {} s ({})",
                      who, what, timeout_s, e.what()));
    }
  }

  using Op = std::function<c10::intrusive_ptr<c10d::Work>(std::vector<at::Tensor>&)>;

  // Runs `op` on flat buckets of `ts`: consecutive tensors of one dtype, up to bucket_bytes
  // (a larger tensor is a bucket of its own and, when contiguous on the comm device, is used
  // in place). At most two buckets are in flight, so the copies of one overlap the transfer
  // of the other and the extra memory stays at two buckets. `fill`: the bucket must start
  // with the local values (all-reduce, broadcast root, send); `write_back`: the result is
  // copied back into `ts` (all-reduce, broadcast receivers, recv).
  void bucketed(const std::string& what, const std::vector<torch::Tensor>& ts, bool fill, bool write_back,
                const Op& op) {
    torch::NoGradGuard ng;
    struct Flight {
      c10::intrusive_ptr<c10d::Work> work;
      torch::Tensor flat;
      size_t first, last;
      bool in_place;
    };
    std::deque<Flight> flights;
    auto finish = [&](Flight& f) {
      guarded(what, [&] { f.work->wait(); });
      if (!write_back || f.in_place) return;
      int64_t off = 0;
      for (size_t i = f.first; i < f.last; ++i) {
        const int64_t n = ts[i].numel();
        ts[i].detach().copy_(f.flat.narrow(0, off, n).view(ts[i].sizes()));
        off += n;
      }
    };
    size_t i = 0;
    while (i < ts.size()) {
      if (ts[i].numel() == 0) {
        ++i;
        continue;
      }
      size_t j = i;
      int64_t bytes = 0, elems = 0;
      while (j < ts.size() && ts[j].scalar_type() == ts[i].scalar_type() &&
             (j == i || bytes + static_cast<int64_t>(ts[j].nbytes()) <= bucket_bytes)) {
        bytes += static_cast<int64_t>(ts[j].nbytes());
        elems += ts[j].numel();
        ++j;
      }
      Flight f{{}, {}, i, j, false};
      if (j == i + 1 && ts[i].is_contiguous() && ts[i].device() == comm) {
        f.flat = ts[i].detach().view({-1});
        f.in_place = true;
      } else if (fill) {
        std::vector<torch::Tensor> views;
        for (size_t k = i; k < j; ++k) views.push_back(ts[k].detach().reshape({-1}).to(comm));
        f.flat = torch::cat(views);
      } else {
        f.flat = torch::empty({elems}, ts[i].options().device(comm));
      }
      std::vector<at::Tensor> arg{f.flat};
      f.work = guarded(what, [&] { return op(arg); });
      flights.push_back(std::move(f));
      if (flights.size() > 2) {
        finish(flights.front());
        flights.pop_front();
      }
      i = j;
    }
    for (auto& f : flights) finish(f);
  }
};

DataParallel::DataParallel(const DistEnv& env, const DistributedConfig& cfg, const torch::Device& dev)
    : env_(env), impl_(std::make_unique<Impl>()) {
  impl_->dev = dev;
  impl_->bucket_bytes = cfg.bucket_mb << 20;
  impl_->timeout_s = cfg.timeout_s;
  impl_->who = fmt::format("rank {} of {}", env.rank, env.world_size);
  if (!active()) return;
  const Backend backend =
      cfg.backend == Backend::automatic ? (dev.is_cuda() ? Backend::nccl : Backend::gloo) : cfg.backend;
  backend_ = choice_name(backend);
  if (backend == Backend::nccl && !dev.is_cuda()) {
    throw ConfigError("distributed.backend = nccl needs a CUDA device, but model.device is " + dev.str() +
                      " (use gloo, or auto, on the CPU)");
  }
  const std::chrono::milliseconds timeout(cfg.timeout_s * 1000);
  const std::string endpoint = fmt::format("{}:{}", env.master_addr, env.master_port);

  // Rendezvous: torchrun's agent hosts the store when it says so; otherwise rank 0 does.
  impl_->guarded("joining the store at MASTER_ADDR:MASTER_PORT = " + endpoint, [&] {
    c10d::TCPStoreOptions so;
    so.port = static_cast<uint16_t>(env.master_port);
    so.isServer = !env.agent_store && env.rank == 0;
    so.numWorkers = static_cast<size_t>(env.world_size);
    so.timeout = timeout;
    so.multiTenant = true;
    auto tcp = c10::make_intrusive<c10d::TCPStore>(env.master_addr, so);
    // The agent's store also holds torchrun's own keys: ours live under a prefix.
    impl_->store = c10::make_intrusive<c10d::PrefixStore>("visual-rft", tcp);
  });

  if (backend == Backend::gloo) {
#ifdef VRFT_HAVE_GLOO
    impl_->guarded("creating the Gloo process group", [&] {
      auto o = c10d::ProcessGroupGloo::Options::create(timeout);
      // As torch.distributed: GLOO_SOCKET_IFNAME names the interfaces, else the host name's address.
      if (auto ifs = getenv_str("GLOO_SOCKET_IFNAME")) {
        std::string s = *ifs;
        for (size_t a = 0; a <= s.size();) {
          size_t b = s.find(',', a);
          if (b == std::string::npos) b = s.size();
          if (b > a) o->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(s.substr(a, b - a)));
          a = b + 1;
        }
      } else {
        o->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
      }
      impl_->pg = c10::make_intrusive<c10d::ProcessGroupGloo>(impl_->store, env.rank, env.world_size, o);
    });
    impl_->comm = torch::kCPU;
#else
    throw Error(
        "distributed.backend = gloo: this visual-rft was built without Gloo (the LibTorch wheel lacks it, or "
        "Gloo's headers, Debian's libgloo-dev, were missing at build time)");
#endif
  } else {  // nccl
#ifdef VRFT_HAVE_NCCL
    impl_->guarded("creating the NCCL process group", [&] {
      c10::cuda::set_device(dev.index());
      auto o = c10d::ProcessGroupNCCL::Options::create();
      o->timeout = timeout;
      impl_->pg = c10::make_intrusive<c10d::ProcessGroupNCCL>(impl_->store, env.rank, env.world_size, o);
    });
    impl_->comm = dev;
#else
    throw Error(
        "distributed.backend = nccl: this visual-rft was built without NCCL (a LibTorch without CUDA, or no "
        "nccl.h at build time)");
#endif
  }
  barrier();  // every rank is in; NCCL makes its communicator here
  log_info("data parallel: {} ranks, {} over {}, this is rank {} (local rank {}) on {}", env.world_size, backend_,
           endpoint, env.rank, env.local_rank, dev.str());
  // One voice: the other ranks keep warnings and errors (unless debugging).
  if (env.rank != 0 && log_enabled(LogLevel::info) && !log_enabled(LogLevel::debug)) init_logging("warn");
}

DataParallel::~DataParallel() {
  if (!impl_->pg) return;
  try {
    if (finished_) {
      impl_->pg->shutdown();
    } else {
      impl_->pg->abort();
    }
  } catch (const std::exception& e) {  // a destructor must not throw; the run's outcome is decided
    log_warn("{}: closing the process group: {}", impl_->who, e.what());
  }
}

void DataParallel::finish() {
  barrier();
  finished_ = true;
}

std::vector<double> DataParallel::sum(std::vector<double> v) {
  if (!active() || v.empty()) return v;
  torch::Tensor t = torch::tensor(v, torch::kDouble).to(impl_->comm);
  impl_->guarded("a sum over ranks", [&] {
    std::vector<at::Tensor> a{t};
    impl_->pg->allreduce(a)->wait();
  });
  t = t.cpu();
  for (size_t i = 0; i < v.size(); ++i) v[i] = t[static_cast<int64_t>(i)].item<double>();
  return v;
}

std::vector<double> DataParallel::max(std::vector<double> v) {
  if (!active() || v.empty()) return v;
  torch::Tensor t = torch::tensor(v, torch::kDouble).to(impl_->comm);
  impl_->guarded("a max over ranks", [&] {
    std::vector<at::Tensor> a{t};
    c10d::AllreduceOptions o;
    o.reduceOp = c10d::ReduceOp::MAX;
    impl_->pg->allreduce(a, o)->wait();
  });
  t = t.cpu();
  for (size_t i = 0; i < v.size(); ++i) v[i] = t[static_cast<int64_t>(i)].item<double>();
  return v;
}

std::vector<std::string> DataParallel::gather_strings(const std::vector<std::string>& mine) {
  if (!active()) return mine;
  std::vector<double> lengths;
  std::vector<double> bytes;  // 0..255, exact in float64
  for (const std::string& s : mine) {
    lengths.push_back(static_cast<double>(s.size()));
    for (unsigned char c : s) bytes.push_back(c);
  }
  auto as_tensor = [](const std::vector<double>& v) {
    if (v.empty()) return torch::zeros({0}, torch::kDouble);
    return torch::from_blob(const_cast<double*>(v.data()), {static_cast<int64_t>(v.size())}, torch::kDouble).clone();
  };
  const torch::Tensor all_lengths = gather_rows(as_tensor(lengths)).contiguous();
  const torch::Tensor all_bytes = gather_rows(as_tensor(bytes)).contiguous();
  const double* len = all_lengths.data_ptr<double>();
  const double* b = all_bytes.data_ptr<double>();
  std::vector<std::string> out;
  int64_t at = 0;
  for (int64_t i = 0; i < all_lengths.numel(); ++i) {
    const auto n = static_cast<int64_t>(len[i]);
    std::string s(static_cast<size_t>(n), '\0');
    for (int64_t k = 0; k < n; ++k)
      s[static_cast<size_t>(k)] = static_cast<char>(static_cast<unsigned char>(b[at + k]));
    at += n;
    out.push_back(std::move(s));
  }
  return out;
}

torch::Tensor DataParallel::gather_rows(const torch::Tensor& x, int64_t* offset) {
  if (offset) *offset = 0;
  if (!active()) return x;
  std::vector<double> counts(static_cast<size_t>(world()), 0.0);
  counts[static_cast<size_t>(rank())] = static_cast<double>(x.size(0));
  counts = sum(counts);
  int64_t most = 0, before = 0;
  for (int r = 0; r < world(); ++r) {
    const auto n = static_cast<int64_t>(counts[static_cast<size_t>(r)]);
    most = std::max(most, n);
    if (r < rank()) before += n;
  }
  if (offset) *offset = before;
  std::vector<int64_t> shape = x.sizes().vec();
  shape[0] = most;
  auto opts = torch::TensorOptions().dtype(torch::kDouble).device(impl_->comm);
  if (most == 0) return torch::empty(shape, x.options());
  // The collective needs equal shapes: every rank sends `most` rows, padded with zeros.
  torch::Tensor mine = torch::zeros(shape, opts);
  mine.narrow(0, 0, x.size(0)).copy_(x.detach().to(opts));
  std::vector<std::vector<at::Tensor>> out(1);
  for (int r = 0; r < world(); ++r) out[0].push_back(torch::empty(shape, opts));
  impl_->guarded("gathering rows", [&] {
    std::vector<at::Tensor> in{mine};
    impl_->pg->allgather(out, in)->wait();
  });
  std::vector<torch::Tensor> parts;
  for (int r = 0; r < world(); ++r) {
    parts.push_back(out[0][static_cast<size_t>(r)].narrow(0, 0, static_cast<int64_t>(counts[static_cast<size_t>(r)])));
  }
  return torch::cat(parts).to(x.options());
}

std::vector<bool> DataParallel::grads_defined_anywhere(const std::vector<torch::Tensor>& params) {
  std::vector<double> has(params.size());
  for (size_t i = 0; i < params.size(); ++i) has[i] = params[i].grad().defined() ? 1.0 : 0.0;
  has = max(has);
  return std::vector<bool>(has.begin(), has.end());
}

void DataParallel::all_reduce_grads(const std::vector<torch::Tensor>& params) {
  if (!active()) return;
  torch::NoGradGuard ng;
  const std::vector<bool> has = grads_defined_anywhere(params);
  std::vector<torch::Tensor> grads;
  for (size_t i = 0; i < params.size(); ++i) {
    if (!has[i]) continue;
    torch::Tensor p = params[i];
    if (!p.grad().defined()) p.mutable_grad() = torch::zeros_like(p);
    grads.push_back(p.grad());
  }
  impl_->bucketed("the gradient all-reduce", grads, /*fill=*/true, /*write_back=*/true,
                  [&](std::vector<at::Tensor>& t) { return impl_->pg->allreduce(t); });
}

void DataParallel::all_to_all(torch::Tensor& output, torch::Tensor& input, std::vector<int64_t> out_splits,
                              std::vector<int64_t> in_splits) {
  if (!active()) {
    output.copy_(input);
    return;
  }
  torch::NoGradGuard ng;
  impl_->guarded("an all-to-all exchange", [&] {
    torch::Tensor out = output.device() == impl_->comm ? output : torch::empty_like(output, impl_->comm);
    torch::Tensor in = input.to(impl_->comm);
    impl_->pg->alltoall_base(out, in, out_splits, in_splits)->wait();
    if (!out.is_same(output)) output.copy_(out);
  });
}

int64_t DataParallel::bucket_bytes() const { return impl_->bucket_bytes; }

void DataParallel::broadcast(const std::vector<torch::Tensor>& tensors, int root) {
  if (!active()) return;
  const bool is_root = rank() == root;
  impl_->bucketed("a broadcast from rank " + std::to_string(root), tensors, is_root, !is_root,
                  [&](std::vector<at::Tensor>& t) {
                    c10d::BroadcastOptions o;
                    o.rootRank = root;
                    return impl_->pg->broadcast(t, o);
                  });
}

void DataParallel::send(const std::vector<torch::Tensor>& tensors, int dst) {
  if (!active()) return;
  impl_->bucketed("sending to rank " + std::to_string(dst), tensors, true, false,
                  [&](std::vector<at::Tensor>& t) { return impl_->pg->send(t, dst, 0); });
}

void DataParallel::recv(const std::vector<torch::Tensor>& tensors, int src) {
  if (!active()) return;
  impl_->bucketed("receiving from rank " + std::to_string(src), tensors, false, true,
                  [&](std::vector<at::Tensor>& t) { return impl_->pg->recv(t, src, 0); });
}

void DataParallel::barrier() {
  if (!active()) return;
  impl_->guarded("a barrier", [&] {
    c10d::BarrierOptions o;
    if (impl_->comm.is_cuda()) o.device_ids = {impl_->comm.index()};
    impl_->pg->barrier(o)->wait();
  });
}

}  // namespace vrft
