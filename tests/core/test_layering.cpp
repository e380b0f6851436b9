// tests/core/test_layering.cpp: who may include whom. The modules are layered (docs/
// architecture.md, "Modules"): a module includes only itself and the modules before it in
// kLayers, so there are no include cycles and a type lives below everything that uses it.
// The test reads every `#include "visual_rft/<module>/..."` of include/ and src/ and fails on
// an edge the order does not allow, naming the file and line.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <regex>
#include <string>
#include <vector>

#include "test_util.h"

namespace {

namespace fs = std::filesystem;

// eval is below train: the trainers evaluate during training (train.eval_steps).
const std::vector<std::string> kLayers = {"core",    "image", "text",  "model", "data", "reward",
                                          "rollout", "eval",  "train", "demo",  "cli"};

int layer(const std::string& module) {
  auto it = std::find(kLayers.begin(), kLayers.end(), module);
  return it == kLayers.end() ? -1 : static_cast<int>(it - kLayers.begin());
}

// The forbidden includes of `text`, a file of module `module`: "LINE: module -> included".
std::vector<std::string> forbidden_includes(const std::string& module, const std::string& text) {
  static const std::regex include_re(R"re(^\s*#\s*include\s+"visual_rft/([a-z_]+)/)re");
  std::vector<std::string> bad;
  std::istringstream in(text);
  int n = 0;
  for (std::string line; std::getline(in, line);) {
    ++n;
    std::smatch m;
    if (!std::regex_search(line, m, include_re)) continue;
    const std::string used = m[1];
    if (layer(used) < 0 || layer(used) > layer(module))
      bad.push_back(std::to_string(n) + ": " + module + " -> " + used);
  }
  return bad;
}

// The module of a library file: include/visual_rft/<module>/... or src/<module>/...
std::string module_of(const fs::path& rel) {
  auto it = rel.begin();
  if (*it == "include") ++it;
  return (++it)->string();
}

}  // namespace

TEST(Layering, EveryIncludeGoesUpTheLayers) {
  const fs::path root = vrft::test::source_dir();
  int files = 0;
  std::vector<std::string> bad;
  for (const char* top : {"include/visual_rft", "src"}) {
    ASSERT_TRUE(fs::is_directory(root / top)) << root / top;
    for (const auto& e : fs::recursive_directory_iterator(root / top)) {
      const std::string ext = e.path().extension().string();
      if (!e.is_regular_file() || (ext != ".h" && ext != ".cpp" && ext != ".cu")) continue;
      const fs::path rel = fs::relative(e.path(), root);
      const std::string module = module_of(rel);
      if (rel.parent_path() == "src" || rel.parent_path() == "include/visual_rft") continue;  // no module
      ASSERT_GE(layer(module), 0) << rel << ": module '" << module << "' is not in the layering";
      std::ifstream in(e.path());
      const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      for (const std::string& b : forbidden_includes(module, text)) bad.push_back(rel.string() + ":" + b);
      ++files;
    }
  }
  EXPECT_GT(files, 100);
  std::string all;
  for (const auto& b : bad) all += "\n  " + b;
  EXPECT_TRUE(bad.empty()) << "includes against the layering (" << kLayers.front() << " ... " << kLayers.back()
                           << ", docs/architecture.md):" << all;
}

TEST(Layering, TheCheckCatchesAnIncludeDownTheLayers) {
  const std::string file =
      "#include \"visual_rft/core/error.h\"\n"
      "#include \"visual_rft/image/image_header.h\"\n"
      "  #include \"visual_rft/reward/rewards.h\"  // data may not use reward\n";
  const auto bad = forbidden_includes("data", file);
  ASSERT_EQ(bad.size(), 1u);
  EXPECT_EQ(bad[0], "3: data -> reward");
  EXPECT_TRUE(forbidden_includes("train", file).empty());
  EXPECT_EQ(forbidden_includes("core", "#include \"visual_rft/nowhere/x.h\"\n").size(), 1u);
}
