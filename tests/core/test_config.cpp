// tests/core/test_config.cpp: YAML parsing, overrides, errors, round trip, schema, docs/config.md;
// hub ids resolved to the local Hugging Face cache (core/hub.h).
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "test_util.h"
#include "visual_rft/core/config.h"
#include "visual_rft/core/error.h"
#include "visual_rft/core/hub.h"

using namespace vrft;

namespace {

// The message of the ConfigError that `f` throws ("" when it throws none).
template <class F>
std::string error_of(F f) {
  try {
    f();
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST(Config, DefaultsAreTheReferenceRun) {
  Config c;
  EXPECT_EQ(c.rollout.num_generations, 8);
  EXPECT_DOUBLE_EQ(c.grpo.beta, 0.04);
  EXPECT_DOUBLE_EQ(c.optim.lr, 1e-6);
  EXPECT_EQ(c.optim.lr_schedule, LrSchedule::linear);
  EXPECT_EQ(c.rollout.max_new_tokens, 256);
  EXPECT_EQ(c.data.max_pixels, 401408);
  EXPECT_EQ(c.train.prompts_per_step, 16);
  EXPECT_NO_THROW(validate(c));
}

TEST(Config, ParsesEveryType) {
  Config c = parse_config(R"(
model: {path: /models/qwen, device: "cuda:1"}
rollout:
  temperature: 0.7
  top_k: 50
rewards:
  functions: [iou, format]
  weights: [1, 0.5]
grpo: {beta: 0, loss_type: dapo, mask_truncated_completions: true}
optim: {lr: 1e-5}
)",
                          "test.yaml");
  EXPECT_EQ(c.model.path, "/models/qwen");
  EXPECT_EQ(c.model.device, "cuda:1");
  EXPECT_DOUBLE_EQ(c.rollout.temperature, 0.7);
  EXPECT_EQ(c.rollout.top_k, 50);
  EXPECT_EQ(c.rewards.functions, (std::vector<std::string>{"iou", "format"}));
  EXPECT_EQ(c.rewards.weights, (std::vector<double>{1.0, 0.5}));
  EXPECT_DOUBLE_EQ(c.grpo.beta, 0.0);
  EXPECT_EQ(c.grpo.loss_type, LossType::dapo);
  EXPECT_TRUE(c.grpo.mask_truncated_completions);
  EXPECT_DOUBLE_EQ(c.optim.lr, 1e-5);
  EXPECT_EQ(c.rollout.num_generations, 8);  // untouched keys keep their defaults
  EXPECT_NO_THROW(validate(c));
}

TEST(Config, EmptyFileAndEmptySectionKeepDefaults) {
  EXPECT_EQ(to_yaml(parse_config("", "e.yaml")), to_yaml(Config{}));
  EXPECT_EQ(to_yaml(parse_config("grpo:\n", "e.yaml")), to_yaml(Config{}));
  EXPECT_EQ(to_yaml(parse_config("# only a comment\n", "e.yaml")), to_yaml(Config{}));
}

TEST(Config, MisspeltKeyNamesFileLineKeyAndSuggestion) {
  std::string e = error_of([] { parse_config("optim:\n  lr: 1e-6\ngrpo:\n  betta: 0.1\n", "my.yaml"); });
  EXPECT_NE(e.find("my.yaml:4"), std::string::npos) << e;
  EXPECT_NE(e.find("'grpo.betta'"), std::string::npos) << e;
  EXPECT_NE(e.find("did you mean 'grpo.beta'"), std::string::npos) << e;
}

TEST(Config, KeyInTheWrongSectionPointsToTheRightOne) {
  std::string e = error_of([] { parse_config("grpo:\n  temperature: 0.5\n", "x.yaml"); });
  EXPECT_NE(e.find("did you mean 'rollout.temperature'"), std::string::npos) << e;
}

TEST(Config, UnknownSection) {
  std::string e = error_of([] { parse_config("optimizer:\n  lr: 1e-6\n", "x.yaml"); });
  EXPECT_NE(e.find("x.yaml:1"), std::string::npos) << e;
  EXPECT_NE(e.find("unknown section 'optimizer'"), std::string::npos) << e;
  EXPECT_NE(e.find("did you mean 'optim'"), std::string::npos) << e;
}

TEST(Config, WrongTypesNameTheExpectedType) {
  struct Case {
    const char* yaml;
    const char* expect;
  };
  const Case cases[] = {
      {"optim:\n  lr: fast\n", "key 'optim.lr': expected a finite float, got 'fast'"},
      {"optim:\n  lr: \"1e-6\"\n", "expected a finite float, got the quoted string"},  // quoted = string
      {"optim:\n  lr: .nan\n", "expected a finite float"},
      {"optim:\n  lr: nan\n", "expected a finite float"},
      {"optim:\n  lr: inf\n", "expected a finite float"},
      {"rollout:\n  top_k: 2.5\n", "key 'rollout.top_k': expected a int, got '2.5'"},
      {"rollout:\n  top_k: [1]\n", "expected a int, got a list"},
      {"rollout:\n  top_k:\n", "expected a int, got null"},
      {"train:\n  deterministic: yes\n", "key 'train.deterministic': expected a bool, got 'yes'"},
      {"rewards:\n  functions: iou\n", "key 'rewards.functions': expected a list[string]"},
      {"rewards:\n  weights: [1, x]\n", "key 'rewards.weights': expected a list[float]"},
      {"model:\n  path: {a: 1}\n", "key 'model.path': expected a string, got a map"},
      {"grpo: 3\n", "section 'grpo' must be a map"},
      {"- a\n- b\n", "a config is a map of sections"},
      {"grpo:\n  loss_type: gpro\n", "must be one of grpo, bnpo, dr_grpo, dapo; got 'gpro' (did you mean 'grpo'?)"},
  };
  for (const auto& c : cases) {
    std::string e = error_of([&] { parse_config(c.yaml, "t.yaml"); });
    EXPECT_NE(e.find(c.expect), std::string::npos) << "yaml:\n" << c.yaml << "error: " << e;
    EXPECT_EQ(e.rfind("t.yaml", 0), 0u) << e;  // every message starts with the file
  }
}

TEST(Config, YamlSyntaxErrorHasLineAndColumn) {
  std::string e = error_of([] { parse_config("grpo:\n  beta: [1, 2\n", "bad.yaml"); });
  EXPECT_NE(e.find("bad.yaml:"), std::string::npos) << e;
  EXPECT_NE(e.find("YAML syntax error"), std::string::npos) << e;
}

TEST(Config, MissingFile) {
  std::string e = error_of([] { load_config("/nonexistent/cfg.yaml"); });
  EXPECT_NE(e.find("'/nonexistent/cfg.yaml' cannot be opened"), std::string::npos) << e;
  e = error_of([] { load_config(test::source_dir() + "/configs"); });
  EXPECT_NE(e.find("configs' is a folder, not a YAML file"), std::string::npos) << e;
}

// A key or section given twice is refused with both lines (yaml-cpp would read the first
// and silently drop the second).
TEST(Config, DuplicateKeysAndSectionsAreRefused) {
  std::string e = error_of([] { parse_config("optim:\n  lr: 1e-6\n  warmup_steps: 3\n  lr: 2e-6\n", "dup.yaml"); });
  EXPECT_NE(e.find("dup.yaml:4: duplicate key 'optim.lr' (first given at line 2)"), std::string::npos) << e;
  e = error_of([] { parse_config("optim:\n  lr: 1e-6\ngrpo:\n  beta: 0.1\noptim:\n  lr: 2e-6\n", "dup.yaml"); });
  EXPECT_NE(e.find("dup.yaml:5: duplicate key 'optim' (first given at line 1)"), std::string::npos) << e;
}

TEST(Config, OverridesAreTypedLikeTheFile) {
  Config c;
  apply_override(c, "optim.lr=2e-6");
  apply_override(c, "rewards.functions=[iou, format]");
  apply_override(c, "data.system_prompt=You are: a helpful # assistant");  // verbatim string
  apply_override(c, "train.deterministic=true");
  apply_override(c, "model.path=");
  EXPECT_DOUBLE_EQ(c.optim.lr, 2e-6);
  EXPECT_EQ(c.rewards.functions, (std::vector<std::string>{"iou", "format"}));
  EXPECT_EQ(c.data.system_prompt, "You are: a helpful # assistant");
  EXPECT_TRUE(c.train.deterministic);
  EXPECT_EQ(c.model.path, "");

  EXPECT_NE(error_of([&] {
              apply_override(c, "optim.lr=abc");
            }).find("--set optim.lr=abc: key 'optim.lr': expected a finite float"),
            std::string::npos);
  EXPECT_NE(error_of([&] { apply_override(c, "optim.lrr=1"); }).find("did you mean 'optim.lr'"), std::string::npos);
  EXPECT_NE(error_of([&] { apply_override(c, "lr=1"); }).find("expected section.key=value"), std::string::npos);
  EXPECT_NE(error_of([&] { apply_override(c, "optim.lr"); }).find("expected section.key=value"), std::string::npos);
  EXPECT_NE(error_of([&] { apply_override(c, "grpo.loss_type=ppo"); }).find("must be one of"), std::string::npos);
  EXPECT_NE(error_of([&] { apply_override(c, "rewards.weights=[1, 2"); }).find("not valid YAML"), std::string::npos);
  apply_override(c, "model.path=\"a: b\"");  // quoted values are YAML scalars
  EXPECT_EQ(c.model.path, "a: b");
}

TEST(Config, ValidationNamesTheKey) {
  struct Case {
    const char* set;
    const char* expect;
  };
  const Case cases[] = {
      {"rollout.num_generations=1", "'rollout.num_generations': must be >= 2 for GRPO"},
      {"rollout.top_p=0", "'rollout.top_p': must be in (0, 1]"},
      {"data.max_pixels=100", "'data.max_pixels': must be >= data.min_pixels"},
      {"rewards.weights=[1, 2]", "'rewards.weights': needs one weight per entry"},
      {"optim.adam_beta2=1", "'optim.adam_beta2'"},
      {"model.device=gpu", "'model.device': must be auto, cpu, cuda or cuda:N; got 'gpu'"},
      {"model.device=cuda:x", "'model.device'"},
      {"grpo.num_iterations=0", "'grpo.num_iterations': must be >= 1"},
      // Ranges declared beside their keys (config.h), with what a special value means.
      {"rollout.temperature=-1", "'rollout.temperature': must be >= 0 (0 = greedy)"},
      {"optim.max_grad_norm=-0.5", "'optim.max_grad_norm': must be >= 0 (0 = no clipping)"},
      {"grpo.ref_sync_alpha=1.5", "'grpo.ref_sync_alpha': must be in [0, 1]"},
      {"rollout.min_p=1", "'rollout.min_p': must be in [0, 1)"},
      {"optim.adam_eps=0", "'optim.adam_eps': must be > 0"},
      {"eval.repetition_penalty=-1", "'eval.repetition_penalty': must be >= 0 (0 = the model folder's)"},
  };
  for (const auto& c : cases) {
    Config cfg;
    apply_override(cfg, c.set);
    std::string e = error_of([&] { validate(cfg); });
    EXPECT_NE(e.find(c.expect), std::string::npos) << c.set << " -> " << e;
  }
  Config sft;
  apply_override(sft, "train.trainer=sft");
  apply_override(sft, "rollout.num_generations=1");
  EXPECT_NO_THROW(validate(sft));  // SFT samples nothing; G = 1 is fine there
  Config edges;                    // the closed ends of the ranges are allowed
  for (const char* set : {"rollout.top_p=1", "rollout.min_p=0", "grpo.ref_sync_alpha=1", "rollout.temperature=0",
                          "optim.adam_beta1=0", "train.save_steps=0"})
    apply_override(edges, set);
  EXPECT_NO_THROW(validate(edges));
}

TEST(Config, ResolvedYamlRoundTrips) {
  Config c;
  apply_override(c, "data.system_prompt=He said \"hi\": a\\b\n");
  apply_override(c, "model.path=123");   // a string that looks like a number
  apply_override(c, "data.train=true");  // ... like a bool
  apply_override(c, "rewards.functions=[\"a, b\", c]");
  apply_override(c, "rewards.weights=[0.1, 1e-300]");
  apply_override(c, "optim.lr=0.30000000000000004");
  std::string y = to_yaml(c);
  Config back = parse_config(y, "resolved.yaml");
  EXPECT_EQ(to_yaml(back), y);
  EXPECT_EQ(back.data.system_prompt, c.data.system_prompt);
  EXPECT_EQ(back.model.path, "123");
  EXPECT_EQ(back.data.train, "true");
  EXPECT_EQ(back.rewards.functions, c.rewards.functions);
  EXPECT_EQ(back.rewards.weights, c.rewards.weights);  // shortest round-trip floats: exact
  EXPECT_EQ(back.optim.lr, c.optim.lr);
}

TEST(Config, SchemaListsEveryKeyOnceWithHelp) {
  auto rows = config_schema();
  std::set<std::string> keys;
  for (const auto& r : rows) {
    EXPECT_TRUE(keys.insert(r.key).second) << "duplicate key " << r.key;
    EXPECT_FALSE(r.help.empty()) << r.key;
    EXPECT_FALSE(r.type.empty()) << r.key;
    EXPECT_EQ(std::count(r.key.begin(), r.key.end(), '.'), 1) << r.key;
  }
  EXPECT_GT(rows.size(), 60u);
  // Every default printed by the schema parses back to the default.
  for (const auto& r : rows) {
    Config c;
    EXPECT_NO_THROW(apply_override(c, r.key + "=" + r.default_value)) << r.key;
    EXPECT_EQ(to_yaml(c), to_yaml(Config{})) << r.key;
  }
}

// docs/config.md carries the config reference; it must equal what the code declares.
TEST(Config, ConfigDocIsCurrent) {
  std::ifstream in(test::source_dir() + "/docs/config.md");
  ASSERT_TRUE(in) << "docs/config.md not found";
  std::stringstream ss;
  ss << in.rdbuf();
  std::string doc = ss.str();
  const std::string begin = "<!-- config-reference:begin -->\n", end = "<!-- config-reference:end -->";
  size_t b = doc.find(begin), e = doc.find(end);
  ASSERT_NE(b, std::string::npos) << "docs/config.md lacks the " << begin;
  ASSERT_NE(e, std::string::npos);
  EXPECT_EQ(doc.substr(b + begin.size(), e - b - begin.size()), config_reference_markdown())
      << "docs/config.md is stale: regenerate it with scripts/update_config_doc.sh";
}

// Every shipped config parses and validates.
TEST(Config, ShippedConfigsAreValid) {
  int n = 0;
  for (const auto& f : std::filesystem::directory_iterator(test::source_dir() + "/configs")) {
    if (f.path().extension() != ".yaml") continue;
    SCOPED_TRACE(f.path().string());
    EXPECT_NO_THROW(validate(load_config(f.path().string())));
    ++n;
  }
  EXPECT_GT(n, 0);
}

TEST(Config, NearestSuggestsOnlyCloseWords) {
  std::vector<std::string> c = {"beta", "epsilon_low", "loss_type"};
  EXPECT_EQ(nearest("betta", c), "beta");
  EXPECT_EQ(nearest("loss_typ", c), "loss_type");
  EXPECT_EQ(nearest("zzzzzz", c), "");
  EXPECT_EQ(edit_distance("kitten", "sitting"), 3u);
}

// Hub ids (core/hub.h): what looks like one, and the snapshot of a fake cache laid out as
// `hf download` leaves it; a missing id or snapshot is an error naming the key, the cache and
// the download command.
TEST(HubIds, ResolveToTheCachedSnapshot) {
  EXPECT_TRUE(looks_like_hub_id("Qwen/Qwen2-VL-2B-Instruct"));
  EXPECT_TRUE(looks_like_hub_id("org_1/name.v2"));
  for (const char* no : {"name", "a/b/c", "/abs", "./x", "org/", "/name", "org/na me", ".hidden/x"})
    EXPECT_FALSE(looks_like_hub_id(no)) << no;

  const std::string cache = test::scratch_dir("hub-cache");
  const std::string repo = cache + "/models--acme--tiny-vl";
  std::filesystem::create_directories(repo + "/refs");
  std::filesystem::create_directories(repo + "/snapshots/0123abcd");
  std::ofstream(repo + "/refs/main") << "0123abcd\n";
  std::ofstream(repo + "/snapshots/0123abcd/config.json") << "{}";
  ::setenv("HF_HUB_CACHE", cache.c_str(), 1);
  EXPECT_EQ(hf_hub_cache_dir(), cache);
  EXPECT_EQ(resolve_model_dir("acme/tiny-vl", "model.path"), repo + "/snapshots/0123abcd");
  // A folder that exists is itself, whatever it looks like; a path that is no id is left to
  // the check that names the missing folder.
  EXPECT_EQ(resolve_model_dir(cache, "model.path"), cache);
  EXPECT_EQ(resolve_model_dir("no/such/folder", "model.path"), "no/such/folder");
  // An id the cache lacks is left for the caller's check, whose message says how to get it.
  EXPECT_EQ(resolve_model_dir("acme/other", "model.path"), "acme/other");
  EXPECT_EQ(missing_model_hint("acme/other"), "neither a folder nor a model in the Hugging Face cache (" + cache +
                                                  " has no models--acme--other): download it with `hf download "
                                                  "acme/other`");
  EXPECT_EQ(missing_model_hint("/abs/folder"), "");
  std::ofstream(repo + "/refs/main") << "fedcba98\n";  // a revision whose download never finished
  try {
    resolve_model_dir("acme/tiny-vl", "--model");
    ADD_FAILURE() << "no error";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("--model 'acme/tiny-vl': the Hugging Face cache names revision 'fedcba98', "
                                         "but " +
                                         repo + "/snapshots/fedcba98/config.json does not exist"),
              std::string::npos)
        << e.what();
  }
  ::unsetenv("HF_HUB_CACHE");
  ::setenv("HF_HOME", "/somewhere", 1);
  EXPECT_EQ(hf_hub_cache_dir(), "/somewhere/hub");
  ::unsetenv("HF_HOME");
}
