// src/cli/cmd_bench_rollout.cpp: `visual-rft bench rollout`: prefill and decode throughput
// and peak memory of the rollout engine.
//   bench rollout (--model DIR | --random tiny|100m|2b) [--inputs prompts.safetensors]
//                 --prompts B --samples G --new-tokens T [--ignore-eos] [--json]
// Without --inputs, B synthetic prompts are made: chat-like text around one image of
// --image-size pixels (random pixel values), lengths differing by a few tokens so that rows
// are padded. scripts/bench/rollout_vs_hf.py passes the same prompts to transformers.

#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "visual_rft/core/device.h"
#include "visual_rft/core/error.h"
#include "visual_rft/core/safetensors.h"
#include "visual_rft/rollout/generator.h"
#include "visual_rft/train/run_util.h"

#if __has_include(<c10/cuda/CUDACachingAllocator.h>) && __has_include(<cuda_runtime_api.h>)
#include <c10/cuda/CUDACachingAllocator.h>
#define VRFT_HAVE_CUDA_STATS 1
#endif

namespace vrft::cli {

void add_bench_rollout(CLI::App* bench) {
  auto* roll = bench->add_subcommand("rollout", "Prefill and decode tokens/s and peak memory of the rollout engine");
  static std::string model_dir, preset, inputs, device = "cpu", dtype = "auto";
  static std::vector<std::string> decodes{"auto"};
  static std::vector<int64_t> Bs{4}, Ts{64};
  static int64_t G = 8, text_tokens = 48, image_size = 224, repeats = 2;
  static bool ignore_eos = false, as_json = false;
  static double temperature = 1.0, hbm_tbs = 0;
  roll->add_option("--model", model_dir, "HF model folder");
  roll->add_option("--random", preset, "A randomly initialised model of this shape instead (tiny, 100m, 2b)");
  roll->add_option("--inputs", inputs,
                   "Prompts as safetensors (input_ids, attention_mask, pixel_values, image_grid_thw)");
  roll->add_option("--prompts", Bs, "Prompts (B), for synthetic prompts; a list (8,16) runs each")
      ->delimiter(',')
      ->capture_default_str();
  roll->add_option("--samples", G, "Samples per prompt (G)")->capture_default_str();
  roll->add_option("--new-tokens", Ts, "max_new_tokens; a list runs each")->delimiter(',')->capture_default_str();
  roll->add_option("--text-tokens", text_tokens, "Text tokens per synthetic prompt (besides the image)")
      ->capture_default_str();
  roll->add_option("--image-size", image_size, "Side of the synthetic square image, in pixels")->capture_default_str();
  roll->add_option("--temperature", temperature, "Sampling temperature")->capture_default_str();
  roll->add_flag("--ignore-eos", ignore_eos, "Generate exactly --new-tokens per sample");
  roll->add_option("--repeats", repeats, "Timed runs after one warm-up; the best is reported")->capture_default_str();
  roll->add_option("--device", device, "cpu, cuda or cuda:N")->capture_default_str();
  roll->add_option("--dtype", dtype, "auto (float32 on the CPU, bfloat16 on CUDA), float32, bfloat16")
      ->check(CLI::IsMember({"auto", "float32", "bfloat16"}))
      ->capture_default_str();
  roll->add_option("--decode", decodes,
                   "Decode steps: auto (CUDA graphs on CUDA), eager, fixed, graph; a list runs each")
      ->delimiter(',')
      ->check(CLI::IsMember(choice_words<DecodeMode>()))
      ->capture_default_str();
  roll->add_option("--hbm-tbs", hbm_tbs, "Memory bandwidth in TB/s: also print the decode step's bandwidth bound");
  roll->add_flag("--json", as_json, "Print one JSON object (per run)");
  roll->callback([] {
    if (model_dir.empty() == preset.empty())
      throw Error("bench rollout needs exactly one of --model DIR and --random PRESET");
    const torch::Device dev = resolve_device(device);
    const torch::Dtype dt = resolve_dtype(dtype, dev);
    Qwen2VLForConditionalGeneration model{nullptr};
    if (!preset.empty()) {
      auto saved = torch::get_default_dtype();
      torch::set_default_dtype(caffe2::TypeMeta::fromScalarType(dt));
      torch::manual_seed(0);
      model = Qwen2VLForConditionalGeneration(preset_model_config(preset));
      torch::set_default_dtype(saved);
      model->to(dev);
    } else {
      model = load_qwen2vl(model_dir, dt, dev);
    }
    model->eval();
    for (int64_t B : Bs)
      for (int64_t T : Ts)
        for (const std::string& decode : decodes) {
          EncodedPrompt p;
          if (!inputs.empty()) {
            SafetensorsFile f(inputs);
            p.input_ids = f.get("input_ids").clone();
            p.attention_mask = f.get("attention_mask").clone();
            if (f.contains("pixel_values")) {
              p.pixel_values = f.get("pixel_values").clone();
              p.image_grid_thw = f.get("image_grid_thw").clone();
            }
          } else {
            p = synthetic_prompts(model->cfg, B, text_tokens, image_size);
          }
          if (p.pixel_values.defined()) p.pixel_values = p.pixel_values.to(dt);
          Generator gen(model, nullptr);
          GenerateConfig g;
          g.num_samples = G;
          g.max_new_tokens = T;
          g.ignore_eos = ignore_eos;
          g.sampling.temperature = temperature;
          g.seed = 1;
          g.decode = *parse_choice<DecodeMode>(decode);  // checked by --decode's IsMember
#ifdef VRFT_HAVE_CUDA_STATS
          if (dev.is_cuda()) c10::cuda::CUDACachingAllocator::resetPeakStats(dev.index() < 0 ? 0 : dev.index());
#endif
          RolloutTiming best;
          double best_total = 1e300;
          for (int64_t i = 0; i <= repeats; ++i) {
            RolloutBatch r = gen.generate(p, g);
            const double total = r.timing.vision_s + r.timing.prefill_s + r.timing.decode_s;
            if (i > 0 && total < best_total) best_total = total, best = r.timing;  // run 0 warms up
          }
          double peak_gpu = 0;
#ifdef VRFT_HAVE_CUDA_STATS
          if (dev.is_cuda()) {
            auto st = c10::cuda::CUDACachingAllocator::getDeviceStats(dev.index() < 0 ? 0 : dev.index());
            peak_gpu = static_cast<double>(st.allocated_bytes[0].peak) / 1e9;
          }
#endif
          // Bytes a decode step must read at least: the language model's weights (not the vision
          // tower) and, on average over the steps, the KV cache of the live rows.
          const auto& tc = model->cfg.text;
          const double elt = dt == torch::kFloat ? 4.0 : 2.0;
          double weight_bytes = 0;
          for (const auto& p : model->model->parameters()) weight_bytes += static_cast<double>(p.numel()) * elt;
          if (model->lm_head) weight_bytes += static_cast<double>(model->lm_head->weight.numel()) * elt;
          weight_bytes -= static_cast<double>(tc.vocab_size * tc.hidden_size) * elt;  // embedding: one row per token
          if (!model->lm_head)
            weight_bytes += static_cast<double>(tc.vocab_size * tc.hidden_size) * elt;  // tied lm_head reads it whole
          const double avg_rows =
              static_cast<double>(best.generated_tokens) / static_cast<double>(std::max<int64_t>(best.decode_steps, 1));
          const double avg_len =
              static_cast<double>(p.input_ids.size(1)) + static_cast<double>(best.decode_steps) / 2.0;
          const double kv_bytes =
              avg_rows * avg_len *
              static_cast<double>(tc.num_hidden_layers * 2 * tc.num_key_value_heads * tc.head_dim()) * elt;
          const double gen_tps = static_cast<double>(best.generated_tokens) / best.decode_s;
          const double prefill_tps = static_cast<double>(best.prompt_tokens) / (best.vision_s + best.prefill_s);
          const double e2e = static_cast<double>(best.generated_tokens) / best_total;
          nlohmann::json j{{"prompts", p.input_ids.size(0)},
                           {"samples", G},
                           {"new_tokens", T},
                           {"device", device},
                           {"dtype", dt == torch::kFloat ? "float32" : "bfloat16"},
                           {"decode", decode},
                           {"prompt_tokens", best.prompt_tokens},
                           {"generated_tokens", best.generated_tokens},
                           {"decode_steps", best.decode_steps},
                           {"vision_s", best.vision_s},
                           {"prefill_s", best.prefill_s},
                           {"decode_s", best.decode_s},
                           {"total_s", best_total},
                           {"prefill_tokens_per_s", prefill_tps},
                           {"decode_tokens_per_s", gen_tps},
                           {"tokens_per_s", e2e},
                           {"decode_step_ms", 1e3 * best.decode_s / std::max<int64_t>(best.decode_steps, 1)},
                           {"peak_rss_gb", peak_rss_gb()},
                           {"peak_gpu_gb", peak_gpu},
                           {"weight_bytes_per_step", weight_bytes},
                           {"kv_bytes_per_step", kv_bytes}};
          if (hbm_tbs > 0) j["bound_step_ms"] = 1e3 * (weight_bytes + kv_bytes) / (hbm_tbs * 1e12);
          if (as_json) {
            std::printf("%s\n", j.dump().c_str());
          } else {
            std::printf("bench rollout: B=%lld G=%lld new tokens %lld, %s %s, decode %s\n",
                        static_cast<long long>(p.input_ids.size(0)), static_cast<long long>(G),
                        static_cast<long long>(T), device.c_str(), j["dtype"].get<std::string>().c_str(),
                        decode.c_str());
            std::printf("  prefill  %lld prompt tokens in %.3f s (vision %.3f s): %.0f tokens/s\n",
                        static_cast<long long>(best.prompt_tokens), best.vision_s + best.prefill_s, best.vision_s,
                        prefill_tps);
            std::printf("  decode   %lld tokens in %lld steps, %.3f s: %.0f tokens/s, %.2f ms/step\n",
                        static_cast<long long>(best.generated_tokens), static_cast<long long>(best.decode_steps),
                        best.decode_s, gen_tps, j["decode_step_ms"].get<double>());
            std::printf("  a step reads >= %.2f GB of weights + %.2f GB of KV cache on average", weight_bytes / 1e9,
                        kv_bytes / 1e9);
            if (hbm_tbs > 0)
              std::printf(": bound %.2f ms/step at %.2f TB/s", j["bound_step_ms"].get<double>(), hbm_tbs);
            std::printf("\n");
            std::printf("  end to end %.3f s: %.0f generated tokens/s; peak RSS %.2f GB%s\n", best_total, e2e,
                        peak_rss_gb(), dev.is_cuda() ? (", peak GPU " + std::to_string(peak_gpu) + " GB").c_str() : "");
          }
        }
  });
}

}  // namespace vrft::cli
