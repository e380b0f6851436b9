// src/cli/cmd_bench_rollout.cpp: `visual-rft bench rollout`: prefill and decode throughput
// and peak memory of the rollout engine.
//   bench rollout (--model DIR | --random tiny|100m|2b) [--inputs prompts.safetensors]
//                 --prompts B --samples G --new-tokens T [--ignore-eos] [--json] [--profile OUT.json]
// Without --inputs, B synthetic prompts are made: chat-like text around one image of
// --image-size pixels (random pixel values), lengths differing by a few tokens so that rows
// are padded. scripts/bench/rollout_vs_hf.py passes the same prompts to transformers.
// --profile records one more rollout after the timed ones (Kineto trace, core/profile.h) and
// prints where the decode step, the prefill and the vision tower spend their time.

#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "visual_rft/core/device.h"
#include "visual_rft/core/error.h"
#include "visual_rft/core/profile.h"
#include "visual_rft/core/safetensors.h"
#include "visual_rft/model/lora.h"
#include "visual_rft/rollout/decode_bound.h"
#include "visual_rft/rollout/generator.h"
#include "visual_rft/train/run_util.h"

#if __has_include(<c10/cuda/CUDACachingAllocator.h>) && __has_include(<cuda_runtime_api.h>)
#include <c10/cuda/CUDACachingAllocator.h>
#define VRFT_HAVE_CUDA_STATS 1
#endif

namespace vrft::cli {

namespace {

struct RolloutBenchArgs {
  std::string model_dir, preset, inputs, device = "cpu", dtype = "auto", profile;
  std::vector<std::string> decodes{"auto"};
  std::vector<int64_t> Bs{4}, Ts{64};
  int64_t G = 8, text_tokens = 48, image_size = 224, repeats = 2;
  bool ignore_eos = false, as_json = false;
  double temperature = 1.0, hbm_tbs = 0;
};

Qwen2VLForConditionalGeneration bench_model(const RolloutBenchArgs& a, torch::Dtype dt, torch::Device dev) {
  if (a.preset.empty()) return load_model(a.model_dir, dt, dev);
  auto saved = torch::get_default_dtype();
  torch::set_default_dtype(caffe2::TypeMeta::fromScalarType(dt));
  torch::manual_seed(0);
  Qwen2VLForConditionalGeneration model(preset_model_config(a.preset));
  torch::set_default_dtype(saved);
  model->to(dev);
  return model;
}

// The prompts of --inputs, or B synthetic ones.
EncodedPrompt bench_prompts(const RolloutBenchArgs& a, const Qwen2VLConfig& cfg, int64_t B, torch::Dtype dt) {
  EncodedPrompt p;
  if (!a.inputs.empty()) {
    SafetensorsFile f(a.inputs);
    p.input_ids = f.get("input_ids").clone();
    p.attention_mask = f.get("attention_mask").clone();
    if (f.contains("pixel_values")) {
      p.pixel_values = f.get("pixel_values").clone();
      p.image_grid_thw = f.get("image_grid_thw").clone();
    }
  } else {
    p = synthetic_prompts(cfg, B, a.text_tokens, a.image_size);
  }
  if (p.pixel_values.defined()) p.pixel_values = p.pixel_values.to(dt);
  return p;
}

void reset_peak_gpu(torch::Device dev) {
#ifdef VRFT_HAVE_CUDA_STATS
  if (dev.is_cuda()) c10::cuda::CUDACachingAllocator::resetPeakStats(dev.index() < 0 ? 0 : dev.index());
#else
  (void)dev;
#endif
}

double peak_gpu_gb(torch::Device dev) {
#ifdef VRFT_HAVE_CUDA_STATS
  if (dev.is_cuda()) {
    auto st = c10::cuda::CUDACachingAllocator::getDeviceStats(dev.index() < 0 ? 0 : dev.index());
    return static_cast<double>(st.allocated_bytes[0].peak) / 1e9;
  }
#else
  (void)dev;
#endif
  return 0;
}

void print_run(const RolloutBenchArgs& a, const nlohmann::json& j, const RolloutTiming& best, double best_total,
               const DecodeStepBytes& bytes, bool cuda) {
  std::printf("bench rollout: B=%lld G=%lld new tokens %lld, %s %s, decode %s\n", j["prompts"].get<long long>(),
              static_cast<long long>(a.G), j["new_tokens"].get<long long>(), a.device.c_str(),
              j["dtype"].get<std::string>().c_str(), j["decode"].get<std::string>().c_str());
  std::printf("  prefill  %lld prompt tokens in %.3f s (vision %.3f s): %.0f tokens/s\n",
              static_cast<long long>(best.prompt_tokens), best.vision_s + best.prefill_s, best.vision_s,
              j["prefill_tokens_per_s"].get<double>());
  std::printf("  decode   %lld tokens in %lld steps, %.3f s: %.0f tokens/s, %.2f ms/step\n",
              static_cast<long long>(best.generated_tokens), static_cast<long long>(best.decode_steps), best.decode_s,
              j["decode_tokens_per_s"].get<double>(), j["decode_step_ms"].get<double>());
  std::printf("  a step reads >= %.2f GB of weights + %.2f GB of KV cache on average", bytes.weights / 1e9,
              bytes.kv_cache / 1e9);
  if (a.hbm_tbs > 0) std::printf(": bound %.2f ms/step at %.2f TB/s", bytes.bound_ms(a.hbm_tbs), a.hbm_tbs);
  std::printf("\n");
  std::printf("  end to end %.3f s: %.0f generated tokens/s; peak RSS %.2f GB%s\n", best_total,
              j["tokens_per_s"].get<double>(), j["peak_rss_gb"].get<double>(),
              cuda ? (", peak GPU " + std::to_string(j["peak_gpu_gb"].get<double>()) + " GB").c_str() : "");
}

// One more rollout, recorded: the trace at a.profile, its summary beside it, tables printed.
void profile_rollout(const RolloutBenchArgs& a, Generator& gen, const EncodedPrompt& p, const GenerateConfig& g,
                     bool cuda) {
  TraceProfiler prof(cuda);
  gen.generate(p, g);
  prof.stop();
  const auto summaries = write_profile(prof, a.profile, {"vrft::decode_step", "vrft::prefill", "vrft::vision", ""});
  std::printf("\nprofile: %s\n", a.profile.c_str());
  for (const auto& s : summaries) std::printf("\n%s", s.table(12).c_str());
}

void run_rollout_bench(const RolloutBenchArgs& a) {
  if (a.model_dir.empty() == a.preset.empty())
    throw Error("bench rollout needs exactly one of --model DIR and --random PRESET");
  if (!a.profile.empty() && a.Bs.size() * a.Ts.size() * a.decodes.size() != 1)
    throw Error("bench rollout --profile records one run: give one value of --prompts, --new-tokens and --decode");
  const torch::Device dev = resolve_device(a.device);
  const torch::Dtype dt = resolve_dtype(a.dtype, dev);
  Qwen2VLForConditionalGeneration model = bench_model(a, dt, dev);
  model->eval();
  for (int64_t B : a.Bs) {
    for (int64_t T : a.Ts) {
      for (const std::string& decode : a.decodes) {
        const EncodedPrompt p = bench_prompts(a, model->cfg, B, dt);
        Generator gen(model, nullptr);
        GenerateConfig g;
        g.num_samples = a.G;
        g.max_new_tokens = T;
        g.ignore_eos = a.ignore_eos;
        g.sampling.temperature = a.temperature;
        g.seed = 1;
        g.decode = *parse_choice<DecodeMode>(decode);  // checked by --decode's IsMember
        reset_peak_gpu(dev);
        RolloutTiming best;
        double best_total = 1e300;
        for (int64_t i = 0; i <= a.repeats; ++i) {
          RolloutBatch r = gen.generate(p, g);
          const double total = r.timing.vision_s + r.timing.prefill_s + r.timing.decode_s;
          if (i > 0 && total < best_total) best_total = total, best = r.timing;  // run 0 warms up
        }
        const DecodeStepBytes bytes = decode_step_bytes(model, dt, p.input_ids.size(1), best);
        nlohmann::json j{
            {"prompts", p.input_ids.size(0)},
            {"samples", a.G},
            {"new_tokens", T},
            {"device", a.device},
            {"dtype", config_dtype_name(dt)},
            {"decode", decode},
            {"prompt_tokens", best.prompt_tokens},
            {"generated_tokens", best.generated_tokens},
            {"decode_steps", best.decode_steps},
            {"vision_s", best.vision_s},
            {"prefill_s", best.prefill_s},
            {"decode_s", best.decode_s},
            {"total_s", best_total},
            {"prefill_tokens_per_s", static_cast<double>(best.prompt_tokens) / (best.vision_s + best.prefill_s)},
            {"decode_tokens_per_s", static_cast<double>(best.generated_tokens) / best.decode_s},
            {"tokens_per_s", static_cast<double>(best.generated_tokens) / best_total},
            {"decode_step_ms", 1e3 * best.decode_s / std::max<int64_t>(best.decode_steps, 1)},
            {"peak_rss_gb", peak_rss_gb()},
            {"peak_gpu_gb", peak_gpu_gb(dev)},
            {"weight_bytes_per_step", bytes.weights},
            {"kv_bytes_per_step", bytes.kv_cache}};
        if (a.hbm_tbs > 0) j["bound_step_ms"] = bytes.bound_ms(a.hbm_tbs);
        if (a.as_json) {
          std::printf("%s\n", j.dump().c_str());
        } else {
          print_run(a, j, best, best_total, bytes, dev.is_cuda());
        }
        if (!a.profile.empty()) profile_rollout(a, gen, p, g, dev.is_cuda());
      }
    }
  }
}

}  // namespace

void add_bench_rollout(CLI::App* bench) {
  auto* roll = bench->add_subcommand("rollout", "Prefill and decode tokens/s and peak memory of the rollout engine");
  static RolloutBenchArgs a;
  roll->add_option("--model", a.model_dir, "HF model folder");
  roll->add_option("--random", a.preset, "A randomly initialised model of this shape instead (tiny, 100m, 2b)");
  roll->add_option("--inputs", a.inputs,
                   "Prompts as safetensors (input_ids, attention_mask, pixel_values, image_grid_thw)");
  roll->add_option("--prompts", a.Bs, "Prompts (B), for synthetic prompts; a list (8,16) runs each")
      ->delimiter(',')
      ->capture_default_str();
  roll->add_option("--samples", a.G, "Samples per prompt (G)")->capture_default_str();
  roll->add_option("--new-tokens", a.Ts, "max_new_tokens; a list runs each")->delimiter(',')->capture_default_str();
  roll->add_option("--text-tokens", a.text_tokens, "Text tokens per synthetic prompt (besides the image)")
      ->capture_default_str();
  roll->add_option("--image-size", a.image_size, "Side of the synthetic square image, in pixels")
      ->capture_default_str();
  roll->add_option("--temperature", a.temperature, "Sampling temperature")->capture_default_str();
  roll->add_flag("--ignore-eos", a.ignore_eos, "Generate exactly --new-tokens per sample");
  roll->add_option("--repeats", a.repeats, "Timed runs after one warm-up; the best is reported")->capture_default_str();
  roll->add_option("--device", a.device, "cpu, cuda or cuda:N")->capture_default_str();
  roll->add_option("--dtype", a.dtype, "auto (float32 on the CPU, bfloat16 on CUDA), float32, bfloat16")
      ->check(CLI::IsMember({"auto", "float32", "bfloat16"}))
      ->capture_default_str();
  roll->add_option("--decode", a.decodes,
                   "Decode steps: auto (CUDA graphs on CUDA), eager, fixed, graph; a list runs each")
      ->delimiter(',')
      ->check(CLI::IsMember(choice_words<DecodeMode>()))
      ->capture_default_str();
  roll->add_option("--hbm-tbs", a.hbm_tbs, "Memory bandwidth in TB/s: also print the decode step's bandwidth bound");
  roll->add_flag("--json", a.as_json, "Print one JSON object (per run)");
  roll->add_option("--profile", a.profile,
                   "Record one more rollout: a Chrome/Perfetto trace here, per-kernel summary beside it "
                   "(.summary.json) and printed");
  roll->callback([] { run_rollout_bench(a); });
}

}  // namespace vrft::cli
