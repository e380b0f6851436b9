// tests/cli/test_cli.cpp: the visual-rft executable as a user runs it: --help, --version,
// config show / schema, and the errors users see for bad configs and overrides.
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>

#include "test_util.h"
#include "visual_rft/core/config.h"
#include "visual_rft/core/fs.h"
#include "visual_rft/core/safetensors.h"

using vrft::test::run;

namespace {
std::string cli() { return "'" + vrft::test::cli() + "'"; }
std::string config(const std::string& name) { return vrft::test::source_dir() + "/configs/" + name; }
}  // namespace

TEST(Cli, HelpAndVersion) {
  auto h = run(cli() + " --help");
  EXPECT_EQ(h.status, 0) << h.output;
  EXPECT_NE(h.output.find("config"), std::string::npos);
  EXPECT_NE(h.output.find("--log-level"), std::string::npos);
  auto v = run(cli() + " --version");
  EXPECT_EQ(v.status, 0);
  EXPECT_NE(v.output.find("visual-rft " VRFT_VERSION), std::string::npos) << v.output;
  auto none = run(cli());
  EXPECT_NE(none.status, 0);  // a subcommand is required
  auto sub = run(cli() + " config show --help");
  EXPECT_EQ(sub.status, 0);
  EXPECT_NE(sub.output.find("--set"), std::string::npos);
}

TEST(Cli, ConfigShowResolvesFileAndOverrides) {
  auto r =
      run(cli() + " config show --config '" + config("cls_flower102.yaml") + "' --set optim.lr=2e-6 --set grpo.beta=0");
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("optim:\n  lr: 2e-06\n"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("  beta: 0.0\n"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("  task: cls\n"), std::string::npos) << r.output;  // from the file
  // The printed YAML is itself a valid config that resolves to the same thing.
  std::string dir = vrft::test::scratch_dir("cli-show");
  vrft::write_file_atomic(dir + "/resolved.yaml", r.output);
  auto again = run(cli() + " config show --config '" + dir + "/resolved.yaml'");
  EXPECT_EQ(again.status, 0);
  EXPECT_EQ(again.output, r.output);
}

// A config named as users type it (the file name, or the name alone) is found in the project's
// configs/, from any working folder; a name found nowhere says where it was looked for.
TEST(Cli, ConfigByNameFromAnyFolder) {
  const std::string elsewhere = vrft::test::scratch_dir("cli-config-name");
  const std::string want = run(cli() + " config show --config '" + config("cls_flower102.yaml") + "'").output;
  for (const char* name : {"cls_flower102.yaml", "cls_flower102"}) {
    auto r = run("cd '" + elsewhere + "' && " + cli() + " --log-level warn config show --config " + name);
    ASSERT_EQ(r.status, 0) << name << ": " << r.output;
    EXPECT_EQ(r.output, want) << name;
  }
  auto bad = run("cd '" + elsewhere + "' && " + cli() + " config show --config cls_flower103.yaml 2>&1");
  EXPECT_NE(bad.status, 0);
  EXPECT_NE(
      bad.output.find("config file 'cls_flower103.yaml' cannot be opened (looked for cls_flower103.yaml, " + elsewhere +
                      "/configs/cls_flower103.yaml, " + vrft::test::source_dir() + "/configs/cls_flower103.yaml)"),
      std::string::npos)
      << bad.output;
}

// A shipped config whose model or data has not been fetched says which key, which path, and
// the command that fetches it.
TEST(Cli, MissingModelOrDataSaysHowToFetchIt) {
  const std::string elsewhere = vrft::test::scratch_dir("cli-fetch-hint");
  auto r = run("cd '" + elsewhere + "' && " + cli() + " train --config cls_flower102.yaml 2>&1");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.output.find("model.path 'models/Qwen2-VL-2B-Instruct' does not exist: fetch it with scripts/get.sh "
                          "qwen2-vl-2b"),
            std::string::npos)
      << r.output;
  std::filesystem::create_directories(elsewhere + "/models/Qwen2-VL-2B-Instruct");
  r = run("cd '" + elsewhere + "' && " + cli() + " train --config cls_flower102.yaml 2>&1");
  EXPECT_NE(r.output.find("data.train 'data/ViRFT_CLS_flower_4_shot/train.jsonl' does not exist: fetch it with "
                          "scripts/get.sh flower"),
            std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("config cls_flower102.yaml: " + vrft::test::source_dir() + "/configs/cls_flower102.yaml"),
            std::string::npos)
      << "the log names the file used: " << r.output;
}

// data.train given as a Hugging Face dataset id says how to turn it into a JSONL file.
TEST(Cli, DataTrainAsADatasetIdSaysHowToConvertIt) {
  const std::string dir = vrft::test::scratch_dir("cli-dataset-id");
  vrft::write_file_atomic(dir + "/c.yaml",
                          "model: {path: '" + dir + "'}\ndata: {task: det, train: laolao77/ViRFT_COCO_base65}\n");
  auto r = run(cli() + " train --config '" + dir + "/c.yaml' 2>&1");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.output.find("data.train 'laolao77/ViRFT_COCO_base65' does not exist: a Hugging Face dataset id is not "
                          "read directly: download it (`hf download --repo-type dataset laolao77/ViRFT_COCO_base65 "
                          "--local-dir DIR`) and convert it (`scripts/convert_hf_dataset.py DIR --out OUT`)"),
            std::string::npos)
      << r.output;
}

TEST(Cli, MisspeltKeyIsRefusedWithSuggestion) {
  std::string dir = vrft::test::scratch_dir("cli-bad");
  vrft::write_file_atomic(dir + "/bad.yaml", "grpo:\n  beta: 0.04\n  num_iteration: 2\n");
  auto r = run(cli() + " config show --config '" + dir + "/bad.yaml'");
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.output.find(dir + "/bad.yaml:3: unknown key 'grpo.num_iteration' (did you mean 'grpo.num_iterations'?)"),
            std::string::npos)
      << r.output;
}

TEST(Cli, WrongTypedSetIsRefused) {
  auto r = run(cli() + " config show --set rollout.num_generations=eight");
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(
      r.output.find("--set rollout.num_generations=eight: key 'rollout.num_generations': expected a int, got 'eight'"),
      std::string::npos)
      << r.output;
  auto v = run(cli() + " config show --set rollout.top_p=1.5");
  EXPECT_EQ(v.status, 1);
  EXPECT_NE(v.output.find("'rollout.top_p': must be in (0, 1]"), std::string::npos) << v.output;
}

TEST(Cli, SchemaFormats) {
  auto md = run(cli() + " config schema --format markdown");
  EXPECT_EQ(md.status, 0);
  EXPECT_NE(md.output.find("| `grpo.beta` | float | `0.04` |"), std::string::npos) << md.output;
  auto js = run(cli() + " config schema --format json");
  EXPECT_EQ(js.status, 0);
  auto j = nlohmann::json::parse(js.output);
  EXPECT_GT(j.size(), 60u);
  auto txt = run(cli() + " config schema");
  EXPECT_NE(txt.output.find("optim.lr (float, default 1e-06)"), std::string::npos) << txt.output;
  EXPECT_NE(run(cli() + " config schema --format yaml").status, 0);
}

TEST(Cli, InspectTensorsAndCorruptFile) {
  std::string dir = vrft::test::scratch_dir("cli-inspect");
  vrft::save_safetensors(dir + "/m.safetensors", {{"a.weight", torch::ones({2, 3})}}, {{"format", "pt"}});
  auto r = run(cli() + " inspect tensors '" + dir + "/m.safetensors'");
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("a.weight  F32  [2, 3]"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("1 tensors, 24 bytes"), std::string::npos) << r.output;
  vrft::write_file_atomic(dir + "/bad.safetensors", std::string("\x05\0\0\0\0\0\0\0{abc}", 13));
  auto b = run(cli() + " inspect tensors '" + dir + "/bad.safetensors'");
  EXPECT_EQ(b.status, 1);
  EXPECT_NE(b.output.find("error: safetensors file '" + dir + "/bad.safetensors': header is not valid JSON"),
            std::string::npos)
      << b.output;
}

TEST(Cli, ScoreWritesOneLinePerInputAndFlagsBadLines) {
  std::string dir = vrft::test::scratch_dir("cli-score");
  const std::string sol = "<answer>[{'Position': [100, 100, 200, 200], 'Confidence': 1}]</answer>";
  nlohmann::json good = {
      {"completion", "<think>x</think><answer>[{'Position': [100, 100, 200, 180], 'Confidence': 0.5}]</answer>"},
      {"solution", sol}};
  nlohmann::json nan_conf = {{"completion", "<answer>[{'Position': [100, 100, 200, 200], 'Confidence': NaN}]</answer>"},
                             {"solution", sol}};
  std::string lines = good.dump() + "\n{not json\n" + nlohmann::json{{"completion", "x"}}.dump() + "\n" +
                      nan_conf.dump() + "\n" +
                      nlohmann::json{{"completion", "x"}, {"solution", "<answer>cat</answer>"}}.dump() + "\n";
  vrft::write_file_atomic(dir + "/in.jsonl", lines);
  for (const char* compat : {"strict", "visual_rft"}) {
    auto r = run("(" + cli() + " score --task det --compat " + compat + " --input '" + dir + "/in.jsonl' 2>/dev/null)");
    EXPECT_EQ(r.status, 1) << r.output;  // some lines are malformed
    std::vector<nlohmann::json> out;
    std::istringstream in(r.output);
    std::string line;
    while (std::getline(in, line)) out.push_back(nlohmann::json::parse(line));
    ASSERT_EQ(out.size(), 5u) << r.output;
    EXPECT_DOUBLE_EQ(out[0]["rewards"]["iou"].get<double>(), 0.8);
    EXPECT_DOUBLE_EQ(out[0]["rewards"]["confidence"].get<double>(), 0.5);
    EXPECT_DOUBLE_EQ(out[0]["rewards"]["format"].get<double>(), 1.0);
    EXPECT_DOUBLE_EQ(out[0]["total"].get<double>(), 2.3);
    EXPECT_NE(out[1]["error"].get<std::string>().find("in.jsonl:2: not valid JSON"), std::string::npos) << out[1];
    EXPECT_NE(out[2]["error"].get<std::string>().find("in.jsonl:3: missing key \"solution\""), std::string::npos)
        << out[2];
    EXPECT_TRUE(out[3]["total"].is_number()) << out[3];  // NaN in, a number out
    EXPECT_NE(out[4]["error"].get<std::string>().find("solution is not a detection list"), std::string::npos) << out[4];
  }
  auto ok = run("head -n 1 '" + dir + "/in.jsonl' | " + cli() + " score --task det --input -");
  EXPECT_EQ(ok.status, 0) << ok.output;
  auto bad = run(cli() + " score --task det --functions iou,accuracy_cls --input '" + dir + "/in.jsonl'");
  EXPECT_EQ(bad.status, 1);
  EXPECT_NE(bad.output.find("reward 'accuracy_cls' does not apply to task det"), std::string::npos) << bad.output;
}

TEST(Cli, BenchRewardsRuns) {
  auto r = run(cli() + " bench rewards --n 2000");
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("visual_rft"), std::string::npos) << r.output;
}

// bench rollout --profile: the trace of one more rollout and a summary per region; the decode
// step's range opens once per generated token.
TEST(Cli, BenchRolloutProfileWritesATraceAndASummary) {
  const std::string dir = vrft::test::scratch_dir("cli-bench-profile");
  auto r = run(cli() + " bench rollout --random tiny --prompts 2 --samples 2 --new-tokens 5 --ignore-eos --repeats 0" +
               " --image-size 56 --profile '" + dir + "/r.json'");
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("vrft::decode_step: 5 occurrence(s)"), std::string::npos) << r.output;
  const auto trace = nlohmann::json::parse(vrft::read_file(dir + "/r.json"));
  EXPECT_GT(trace["traceEvents"].size(), 10u);
  const auto sum = nlohmann::json::parse(vrft::read_file(dir + "/r.summary.json"));
  ASSERT_EQ(sum.size(), 4u);
  EXPECT_EQ(sum[0]["region"], "vrft::decode_step");
  EXPECT_EQ(sum[0]["occurrences"], 5);
  EXPECT_EQ(sum[1]["region"], "vrft::prefill");
  EXPECT_EQ(sum[1]["occurrences"], 1);
  EXPECT_FALSE(sum[0]["kernels"].empty());
  auto twice = run(cli() + " bench rollout --random tiny --new-tokens 4,8 --profile '" + dir + "/x.json'");
  EXPECT_EQ(twice.status, 1);
  EXPECT_NE(twice.output.find("--profile records one run"), std::string::npos) << twice.output;
}

// bench load passes its folder to the measuring process as an argument, not through a shell:
// a folder name holding quotes and a command is only a name. Its temporary folders and
// run_process are private and shell-free.
TEST(Cli, BenchLoadRunsNoShellCommandFromAPath) {
  const std::string scratch = vrft::test::scratch_dir("cli-bench-load");
  const std::string dir = scratch + "/m'; touch '" + scratch + "/pwned'; echo '";
  std::string quoted;  // dir as one single-quoted shell word
  for (char c : dir) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
  auto r = run(cli() + " bench load --random tiny --dtype float32 --dir '" + quoted + "' 2>&1");
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_TRUE(std::filesystem::exists(dir + "/config.json")) << r.output;
  EXPECT_FALSE(std::filesystem::exists(scratch + "/pwned")) << "a command in the path was run";
  EXPECT_EQ(vrft::run_process({"/bin/sh", "-c", "exit 3"}), 3);
  const std::string a = vrft::make_temp_dir("vrft-test"), b = vrft::make_temp_dir("vrft-test");
  EXPECT_NE(a, b);
  EXPECT_TRUE(std::filesystem::is_directory(a));
  EXPECT_EQ(std::filesystem::status(a).permissions() & std::filesystem::perms::all, std::filesystem::perms::owner_all);
  vrft::remove_tree(a);
  vrft::remove_tree(b);
}

// Hostile inputs get an error that names the file or key: a non-finite reward weight, a
// missing synonyms file, a number beyond a double in a results file, a zero patch size in a
// model's config.json.
TEST(Cli, BadInputsNameTheirFileOrKey) {
  const std::string d = vrft::test::scratch_dir("cli-bad-inputs");
  vrft::write_file_atomic(d + "/s.jsonl", R"({"completion": "<answer>a</answer>", "solution": "<answer>a</answer>"})"
                                          "\n");
  auto r = run(cli() + " score --task cls --weights nan,1 --input '" + d + "/s.jsonl' 2>&1");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.output.find("rewards.weights: weight 1 (accuracy_cls) is nan: expected a finite number"),
            std::string::npos)
      << r.output;
  r = run(cli() + " score --task cls --synonyms '" + d + "/none.txt' --input '" + d + "/s.jsonl' 2>&1");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.output.find("rewards.synonyms: cannot open '" + d + "/none.txt'"), std::string::npos) << r.output;

  const std::string fx = vrft::test::fixtures_dir() + "/coco";
  vrft::write_file_atomic(d + "/r.json",
                          R"([{"image_id": 1, "category_id": 1, "bbox": [1, 2, 3, 4], "score": 1e999}])");
  r = run(cli() + " metrics coco --gt '" + fx + "/instances_val2014_100.json' --results '" + d + "/r.json' 2>&1");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.output.find(d + "/r.json: not usable JSON"), std::string::npos) << r.output;

  auto cfg = nlohmann::json::parse(vrft::read_file(vrft::test::source_dir() + "/models/vrft-demo/config.json"));
  cfg["vision_config"]["patch_size"] = 0;
  std::filesystem::create_directories(d + "/m");
  vrft::write_file_atomic(d + "/m/config.json", cfg.dump(2));
  r = run(cli() + " generate --model '" + d + "/m' --image '" + fx + "/../images/apple.jpg' --prompt hi 2>&1");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.output.find(d + "/m/config.json: vision_config.patch_size must be a positive integer, got 0"),
            std::string::npos)
      << r.output;
}

// scripts/get.sh fetches into the folders the shipped configs read: a dry run names every
// download and conversion, and each paper config's data.train is one of its targets.
TEST(Cli, GetScriptFetchesWhereTheConfigsRead) {
  const std::string root = vrft::test::source_dir();
  auto r = run("'" + root +
               "/scripts/get.sh' --dry-run flower aircraft cars pets coco-8cate lvis-fewshot coco-base65 "
               "qwen2-vl-2b 2>&1");
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("+ " + root +
                          "/.venv/bin/hf download laolao77/ViRFT_CLS_flower_4_shot --repo-type dataset "
                          "--local-dir " +
                          root + "/data/hf/ViRFT_CLS_flower_4_shot"),
            std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("+ " + root + "/.venv/bin/hf download Qwen/Qwen2-VL-2B-Instruct --local-dir " + root +
                          "/models/Qwen2-VL-2B-Instruct"),
            std::string::npos)
      << r.output;
  for (const char* name : {"cls_flower102", "cls_aircraft100", "cls_car196", "cls_pets37", "det_coco_8cate_4shot",
                           "det_lvis_fewshot", "det_coco_ov_base65"}) {
    const vrft::Config c = vrft::load_config(config(std::string(name) + ".yaml"));
    const std::string folder = std::filesystem::path(c.data.train).parent_path().string();
    EXPECT_NE(r.output.find("--out " + root + "/" + folder + ".partial"), std::string::npos) << name << ": " << folder;
    EXPECT_EQ(c.model.path, "models/Qwen2-VL-2B-Instruct") << name;
  }
  // Where the hub cannot be reached (here: a download command that fails), one line says what
  // to download by hand and where to put it.
  auto offline = run("HF=/bin/false PY=/bin/true '" + root + "/scripts/get.sh' pets 2>&1");
  EXPECT_EQ(offline.status, 1);
  EXPECT_NE(offline.output.find("get.sh: cannot reach the Hugging Face hub: download "
                                "https://huggingface.co/datasets/laolao77/ViRFT_CLS_pets37_4shot by hand into "
                                "data/hf/ViRFT_CLS_pets37_4shot, then run scripts/get.sh pets again to convert it"),
            std::string::npos)
      << offline.output;
  auto bad = run("'" + root + "/scripts/get.sh' --dry-run flowers 2>&1");
  EXPECT_EQ(bad.status, 2);
  EXPECT_NE(bad.output.find("get.sh: unknown 'flowers'"), std::string::npos) << bad.output;
  EXPECT_NE(bad.output.find("flower, aircraft, cars, pets"), std::string::npos) << bad.output;
}

TEST(Cli, InspectPromptShowsTemplateTokensAndGrid) {
  const std::string fx = vrft::test::fixtures_dir();
  if (!std::filesystem::exists(fx + "/qwen2_5/tokenizer.json"))
    GTEST_FAIL() << "fixtures missing: " << vrft::test::fixtures_dir() << " (tests/fixtures, part of the repository)";
  std::string dir = vrft::test::scratch_dir("cli-prompt");
  auto mk = run(cli() + " inspect prompt --help");
  ASSERT_EQ(mk.status, 0) << mk.output;
  // A model folder needs no weights for this: config, tokenizer, processor settings.
  vrft::write_file_atomic(
      dir + "/config.json",
      R"({"model_type": "qwen2_vl", "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
                              "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 151936,
                              "rope_scaling": {"type": "mrope", "mrope_section": [2, 3, 3]},
                              "vision_config": {"depth": 2, "embed_dim": 32, "num_heads": 2, "hidden_size": 64}})");
  vrft::write_file_atomic(dir + "/tokenizer.json", vrft::read_file(fx + "/qwen2_5/tokenizer.json"));
  vrft::write_file_atomic(dir + "/preprocessor_config.json", R"({"min_pixels": 3136, "max_pixels": 401408})");
  auto r = run(cli() + " inspect prompt --model '" + dir + "' --image '" + fx +
               "/images/HappyFish.jpg' --prompt 'What fish?' --json");
  ASSERT_EQ(r.status, 0) << r.output;
  auto j = nlohmann::json::parse(r.output);
  EXPECT_NE(j["text"].get<std::string>().find("<|vision_start|><|image_pad|><|vision_end|>What fish?<|im_end|>"),
            std::string::npos);
  const auto& im = j["images"][0];
  EXPECT_EQ(im["tokens"].get<int64_t>(), j["image_tokens"].get<int64_t>());
  EXPECT_EQ(im["grid_thw"][1].get<int64_t>() * 14, im["resized"][0].get<int64_t>());
  // The documented 26 tokens hold "Describe this image." (4) and one pad; "What fish?" is 3.
  EXPECT_EQ(j["num_tokens"].get<int64_t>(), 26 - 4 + 3 - 1 + j["image_tokens"].get<int64_t>());
  // Text form, and a corrupt image: one line naming the file.
  auto t = run(cli() + " inspect prompt --model '" + dir + "' --image '" + fx +
               "/images/HappyFish.jpg' --prompt hi --max-pixels 50176");
  EXPECT_EQ(t.status, 0) << t.output;
  EXPECT_NE(t.output.find("HappyFish.jpg"), std::string::npos) << t.output;
  EXPECT_NE(t.output.find("grid t=1"), std::string::npos) << t.output;
  vrft::write_file_atomic(dir + "/broken.jpg", std::string("\xff\xd8\xff\xe0 truncated", 14));
  auto b = run(cli() + " inspect prompt --model '" + dir + "' --image '" + dir + "/broken.jpg' --prompt hi 2>&1");
  EXPECT_NE(b.status, 0);
  EXPECT_NE(b.output.find("broken.jpg"), std::string::npos) << b.output;
}
