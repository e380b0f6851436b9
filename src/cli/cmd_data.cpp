// src/cli/cmd_data.cpp: `visual-rft data fewshot`: a seeded K-shot training set from a COCO or
// LVIS instances file (detection) or a classification split list, written as Visual-RFT JSONL
// plus summary.json (data/fewshot.h). Importing the released parquet sets is
// scripts/convert_hf_dataset.py.
#include <cstdio>
#include <filesystem>

#include "commands.h"
#include "visual_rft/core/error.h"
#include "visual_rft/core/log.h"
#include "visual_rft/data/classification.h"
#include "visual_rft/data/coco.h"
#include "visual_rft/data/fewshot.h"

namespace vrft::cli {

namespace {

struct FewshotArgs {
  std::string coco, lvis, classification;  // exactly one
  std::string images;
  std::string categories;  // detection: names, a file, or all
  std::string classnames;  // classification
  std::string subject;     // classification: aircraft, plant, flower, pet, car (default: from the file name)
  int64_t shots = 0;
  uint64_t seed = 0;
  std::string out;
  std::string missing_images = "error";
  std::string prompt_style = "train";
  bool relative_paths = false;
};

std::string absolute(const std::string& p) { return std::filesystem::absolute(p).lexically_normal().string(); }

void print_counts(const FewShotSet& set, int64_t shots, bool boxes) {
  std::printf("%-32s %9s %6s%s\n", boxes ? "category" : "class", "available", "chosen", boxes ? "  boxes" : "");
  for (const auto& c : set.classes) {
    std::printf("%-32s %9lld %6lld", c.name.c_str(), static_cast<long long>(c.available),
                static_cast<long long>(c.chosen));
    if (boxes) std::printf(" %6lld", static_cast<long long>(c.boxes));
    std::printf("\n");
    if (c.chosen < shots) log_warn("'{}' has {} candidate images, fewer than {} shots", c.name, c.available, shots);
  }
  // An empty train.jsonl would only fail later, in the JSONL reader.
  if (set.rows.empty()) throw Error("data fewshot: no category has a candidate image; nothing written");
}

void run_fewshot(const FewshotArgs& a) {
  const int sources = !a.coco.empty() + !a.lvis.empty() + !a.classification.empty();
  if (sources != 1) throw Error("data fewshot: give exactly one of --coco, --lvis, --classification");
  const MissingImages missing = parse_missing_images(a.missing_images);
  nlohmann::ordered_json meta;
  FewShotSet set;
  if (a.classification.empty()) {
    if (a.images.empty()) throw Error("data fewshot: --images DIR is required with --coco/--lvis");
    if (a.categories.empty())
      throw Error("data fewshot: --categories is required with --coco/--lvis (names, a file, or all)");
    const bool lvis = !a.lvis.empty();
    const std::string& path = lvis ? a.lvis : a.coco;
    const PromptStyle style = parse_prompt_style(a.prompt_style);
    DetLoadReport rep;
    DetDataset ds = load_detection_dataset(path, a.images, lvis ? DetFormat::lvis : DetFormat::coco, missing, &rep);
    log_info("{}: {} images ({} kept, {} without a file), {} annotations ({} crowd), {} categories", path,
             rep.images.lines, rep.images.kept, rep.images.missing_images, rep.annotations, rep.crowd,
             ds.categories.size());
    set = build_detection_fewshot(ds, read_category_names(a.categories), a.shots, a.seed, style);
    meta = {{"task", "det"},
            {"format", lvis ? "lvis" : "coco"},
            {"source", absolute(path)},
            {"images", absolute(a.images)},
            {"categories_arg", a.categories},
            {"shots", a.shots},
            {"seed", a.seed},
            {"prompt_style", a.prompt_style},
            {"missing_images", rep.images.missing_images}};
  } else {
    if (a.classnames.empty()) throw Error("data fewshot: --classnames FILE is required with --classification");
    const std::string subject = a.subject.empty() ? guess_classification_subject(a.classification) : a.subject;
    if (subject.empty()) {
      throw Error(
          "data fewshot: --subject is needed (the list's name suggests none): aircraft, plant, flower, pet or car");
    }
    LoadReport rep;
    ClassificationList list = load_classification_list(a.classification, a.classnames, a.images, missing, &rep);
    log_info("{}: {} images ({} kept, {} without a file), {} classes", a.classification, rep.lines, rep.kept,
             rep.missing_images, list.classnames.size());
    set = build_classification_fewshot(list, a.shots, a.seed, subject);
    meta = {{"task", "cls"},
            {"format", "classification"},
            {"source", absolute(a.classification)},
            {"classnames", absolute(a.classnames)},
            {"images", a.images.empty() ? "" : absolute(a.images)},
            {"subject", subject},
            {"shots", a.shots},
            {"seed", a.seed},
            {"missing_images", rep.missing_images}};
  }
  print_counts(set, a.shots, a.classification.empty());
  write_fewshot_set(set, a.out, a.relative_paths, meta);
  std::printf("wrote %zu rows to %s/train.jsonl (summary: %s/summary.json)\n", set.rows.size(), a.out.c_str(),
              a.out.c_str());
}

}  // namespace

void add_data_command(CLI::App& app) {
  static FewshotArgs args;
  auto* cmd = app.add_subcommand("data", "Build training sets");
  cmd->require_subcommand(1);
  auto* fs = cmd->add_subcommand("fewshot", "K images per category (detection) or class (classification), seeded");
  fs->add_option("--coco", args.coco, "COCO instances JSON (detection)");
  fs->add_option("--lvis", args.lvis, "LVIS JSON (detection; image = DIR/<split>/<name> from coco_url)");
  fs->add_option("--classification", args.classification, "Split list: relpath<TAB>label<TAB>classname lines");
  fs->add_option("--images", args.images,
                 "Image folder (classification: the root of relpath; default the list's folder)");
  fs->add_option("--categories", args.categories,
                 "Detection: comma-separated names, a file of names (one a line, # comments), or all");
  fs->add_option("--classnames", args.classnames, "Classification: class names, one a line (line index = label)");
  fs->add_option("--subject", args.subject,
                 "Classification prompt subject: aircraft, plant, flower, pet, car (default: from the list's name)")
      ->check(CLI::IsMember(classification_subjects()));
  fs->add_option("--shots", args.shots, "Images per category or class (K)")->required()->check(CLI::PositiveNumber);
  fs->add_option("--seed", args.seed, "Seed of the draw")->capture_default_str();
  fs->add_option("--out", args.out, "Output folder: train.jsonl and summary.json")->required();
  fs->add_option("--missing-images", args.missing_images, "A missing image file: error, skip (drop it) or keep")
      ->check(CLI::IsMember({"error", "skip", "keep"}))
      ->capture_default_str();
  fs->add_option("--prompt-style", args.prompt_style,
                 "Detection prompt: train (the released sets' text) or eval (the evaluation scripts', with newlines)")
      ->check(CLI::IsMember({"train", "eval"}))
      ->capture_default_str();
  fs->add_flag("--relative-paths", args.relative_paths, "Write image paths relative to --out (default: absolute)");
  fs->callback([] { run_fewshot(args); });
}

}  // namespace vrft::cli
