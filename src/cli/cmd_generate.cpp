// src/cli/cmd_generate.cpp: `visual-rft generate`: sampled answers to one image prompt.
//   visual-rft generate --model DIR --image X.jpg --prompt "..." [--num-samples 8
//       --temperature 1.0 --top-p 1.0 --max-new-tokens 256 --seed 1] [--json]
#include <iostream>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "visual_rft/core/config.h"
#include "visual_rft/core/device.h"
#include "visual_rft/core/error.h"
#include "visual_rft/core/hub.h"
#include "visual_rft/core/log.h"
#include "visual_rft/data/prompt.h"
#include "visual_rft/model/lora.h"
#include "visual_rft/rollout/generator.h"
#include "visual_rft/rollout/rollout_rewards.h"
#include "visual_rft/rollout/sampling.h"

namespace vrft::cli {

namespace {

struct GenerateArgs {
  std::string model_dir, prompt, system, device = "cpu", dtype = "auto", decode = "auto";
  std::vector<std::string> images;
  GenerateConfig g;
  double temperature = 1.0;
  bool greedy = false, as_json = false, ignore_eos = false, image_after_text = false;
  bool repetition_penalty_given = false;
  int64_t max_pixels = 0;
  GenerateArgs() { g.num_samples = 1; }
};

void print_samples(const RolloutBatch& r, bool as_json) {
  for (int64_t s = 0; s < r.completion_ids.size(0); ++s) {
    const int64_t n = r.completion_mask[s].sum().item<int64_t>();
    const double logp = (r.logprobs[s] * r.completion_mask[s]).sum().item<double>();
    const auto i = static_cast<size_t>(s);
    if (as_json) {
      const std::vector<int64_t> ids = completion_token_ids(r, s);
      std::cout << nlohmann::json{{"sample", s},     {"text", r.texts[i]},
                                  {"tokens", n},     {"finish_reason", r.finish_reasons[i]},
                                  {"logprob", logp}, {"ids", ids}}
                       .dump()
                << "\n";
    } else {
      std::cout << "--- sample " << s << " (" << r.finish_reasons[i] << ", " << n << " tokens, log-prob " << logp
                << ")\n"
                << r.texts[i] << "\n";
    }
  }
}

void run_generate(const GenerateArgs& a) {
  const std::string model_dir = resolve_model_dir(a.model_dir, "--model");
  require_model_folder("--model", model_dir);
  const torch::Device dev = resolve_device(a.device);
  const torch::Dtype dt = resolve_dtype(a.dtype, dev);
  PromptEncoder enc = PromptEncoder::from_model_dir(model_dir);
  if (a.max_pixels) enc.processor().max_pixels = a.max_pixels;
  EncodedPrompt p = enc.encode({user_turn(a.system, a.images, a.prompt, a.image_after_text)});
  auto model = load_model(model_dir, dt, dev);
  model->eval();
  GenerateConfig g = a.g;
  // As transformers' generate(): the folder's repetition_penalty applies unless given here.
  g.sampling =
      sampling_settings(a.greedy ? 0.0 : a.temperature, g.sampling.top_k, g.sampling.top_p, g.sampling.min_p,
                        a.repetition_penalty_given ? g.sampling.repetition_penalty : model->cfg.repetition_penalty);
  g.decode = *parse_choice<DecodeMode>(a.decode);  // a word of --decode's list
  g.ignore_eos = a.ignore_eos;
  g.pad_token_id = enc.tokens().pad;
  Generator generator(model, &enc.tokenizer());
  RolloutBatch r = generator.generate(p, g);
  print_samples(r, a.as_json);
  const auto& t = r.timing;
  log_info("prompt {} tokens; vision {:.2f} s, prefill {:.2f} s, decode {:.2f} s ({:.1f} tokens/s)", t.prompt_tokens,
           t.vision_s, t.prefill_s, t.decode_s, static_cast<double>(t.generated_tokens) / std::max(t.decode_s, 1e-9));
}

}  // namespace

void add_generate_command(CLI::App& app) {
  auto* gen = app.add_subcommand("generate", "Sample answers of a model to an image prompt");
  static GenerateArgs a;
  GenerateConfig& g = a.g;
  gen->add_option("--model", a.model_dir,
                  "HF model folder (weights, config, tokenizer, preprocessor_config.json) or hub id (org/name, from "
                  "the local cache)")
      ->required();
  gen->add_option("--image", a.images, "An image file; repeat for several (they come first, in order)");
  gen->add_flag("--image-after-text", a.image_after_text,
                "The text first, then the images (a model trained with data.image_position: after_text)");
  gen->add_option("--prompt", a.prompt, "The user's text")->required();
  gen->add_option("--system", a.system, "A system prompt instead of the template's default");
  gen->add_option("--num-samples,-n", g.num_samples, "Answers to sample (G)")->capture_default_str();
  gen->add_option("--max-new-tokens", g.max_new_tokens, "Longest answer, in tokens")->capture_default_str();
  gen->add_option("--temperature", a.temperature, "Sampling temperature; 0 = greedy")->capture_default_str();
  gen->add_option("--top-k", g.sampling.top_k, "Keep the k most likely tokens; 0 = off")->capture_default_str();
  gen->add_option("--top-p", g.sampling.top_p, "Nucleus sampling mass; 1 = off")->capture_default_str();
  gen->add_option("--min-p", g.sampling.min_p, "Drop tokens below min_p x the top probability")->capture_default_str();
  auto* rep = gen->add_option("--repetition-penalty", g.sampling.repetition_penalty,
                              "1 = off; default: the model folder's generation_config.json (1 when it names none)");
  gen->add_flag("--greedy", a.greedy, "Argmax decoding (same as --temperature 0)");
  gen->add_flag("--ignore-eos", a.ignore_eos, "Always generate --max-new-tokens");
  gen->add_option("--seed", g.seed, "Seed of the sampling streams")->capture_default_str();
  gen->add_option("--max-pixels", a.max_pixels, "Override preprocessor_config.json's max_pixels");
  gen->add_option("--device", a.device, "cpu, cuda or cuda:N")->capture_default_str();
  gen->add_option("--dtype", a.dtype, "auto (float32 on the CPU, bfloat16 on CUDA), float32, bfloat16")
      ->check(CLI::IsMember({"auto", "float32", "bfloat16"}))
      ->capture_default_str();
  gen->add_option("--decode", a.decode, "Decode steps: auto (CUDA graphs on CUDA), eager, fixed, graph")
      ->check(CLI::IsMember(choice_words<DecodeMode>()))
      ->capture_default_str();
  gen->add_flag("--json", a.as_json, "One JSON object per sample");
  gen->callback([rep] {
    a.repetition_penalty_given = rep->count() > 0;
    run_generate(a);
  });
}

}  // namespace vrft::cli
