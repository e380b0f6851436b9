// src/cli/cmd_data.cpp: `visual-rft data fewshot`: a seeded K-shot training set from a COCO or
// LVIS instances file (detection) or a classification split list, written as Visual-RFT JSONL
// plus summary.json (data/fewshot.h). `visual-rft data synth`: the synthetic few-shot world
// of the CPU demo (data/synth.h). Importing the released parquet sets is
// scripts/convert_hf_dataset.py.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <sstream>

#include "commands.h"
#include "visual_rft/core/error.h"
#include "visual_rft/core/log.h"
#include "visual_rft/data/classification.h"
#include "visual_rft/data/coco.h"
#include "visual_rft/data/fewshot.h"
#include "visual_rft/data/synth.h"

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

struct SynthArgs {
  SynthConfig cfg;
  std::string out;
  std::string tasks = "cls,det,ground";
  std::string prompt_style = "train";
  std::string eval_categories = "novel";
  int threads = 0;
};

void run_synth(SynthArgs& a) {
  a.cfg.tasks.clear();
  std::stringstream list(a.tasks);
  for (std::string t; std::getline(list, t, ',');) {
    if (t.empty()) continue;
    const Task task = parse_task(t);
    if (std::find(a.cfg.tasks.begin(), a.cfg.tasks.end(), task) == a.cfg.tasks.end()) a.cfg.tasks.push_back(task);
  }
  a.cfg.prompt_style = parse_prompt_style(a.prompt_style);
  a.cfg.eval_base = a.eval_categories == "base";
  const auto t0 = std::chrono::steady_clock::now();
  const nlohmann::ordered_json s = write_synth_dataset(a.cfg, a.out, a.threads);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const SynthWorld w = make_synth_world(a.cfg);
  std::printf("synthetic world, seed %llu, image seed %llu: %zu categories (%zu base, %zu novel), %lldx%lld images\n",
              static_cast<unsigned long long>(a.cfg.seed), static_cast<unsigned long long>(synth_image_seed(a.cfg)),
              w.categories.size(), w.base.size(), w.novel.size(), static_cast<long long>(a.cfg.image_size),
              static_cast<long long>(a.cfg.image_size));
  std::string novel;
  for (int id : w.novel) novel += (novel.empty() ? "" : ", ") + w.categories[static_cast<size_t>(id)].name;
  std::printf("novel: %s\n", novel.c_str());
  std::printf("%-7s %-14s %6s\n", "task", "split", "rows");
  int64_t images = 0;
  for (const auto& [task, splits] : s["tasks"].items()) {
    for (const auto& [split, v] : splits.items()) {
      const int64_t rows = v["rows"].get<int64_t>();
      images += rows;
      std::printf("%-7s %-14s %6lld", task.c_str(), split.c_str(), static_cast<long long>(rows));
      if (v.contains("no_objects")) {
        std::printf("  %lld boxes, %lld 'No Objects'", static_cast<long long>(v["boxes"].get<int64_t>()),
                    static_cast<long long>(v["no_objects"].get<int64_t>()));
      }
      std::printf("\n");
    }
  }
  if (s.contains("dense")) {
    const int64_t rows = s["dense"]["base_train"]["rows"].get<int64_t>();
    images += rows;
    std::printf("%-7s %-14s %6lld  %lld boxes\n", "dense", "base_train", static_cast<long long>(rows),
                static_cast<long long>(s["dense"]["base_train"]["boxes"].get<int64_t>()));
  }
  std::printf("wrote %lld images in %.1f s to %s (categories.json, summary.json, <task>/<split>.jsonl)\n",
              static_cast<long long>(images), secs, a.out.c_str());
}

}  // namespace

void add_data_command(CLI::App& app) {
  static FewshotArgs args;
  auto* cmd = app.add_subcommand("data", "Build training sets (fewshot) or the synthetic world (synth)");
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

  static SynthArgs synth;
  auto* sy = cmd->add_subcommand(
      "synth", "The synthetic few-shot world of the CPU demo: three tasks, base and novel categories");
  sy->add_option("--out", synth.out,
                 "Output folder: categories.json, summary.json, <task>/{base_train,fewshot_train,eval}.jsonl + images/")
      ->required();
  sy->add_option("--seed", synth.cfg.seed, "Seed of the world: its categories and their base/novel split")
      ->capture_default_str();
  sy->add_option("--image-seed", synth.cfg.image_seed,
                 "Seed of every image and row (default: --seed); another value draws fresh images of the same world")
      ->check(CLI::NonNegativeNumber);
  sy->add_option("--train-per-category", synth.cfg.shots, "fewshot_train rows per novel category (K)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  sy->add_option("--base-per-category", synth.cfg.base_per_category, "base_train rows per base category")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  sy->add_option("--eval", synth.cfg.eval_rows, "eval rows per task (cycling over the --eval-categories)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  sy->add_option("--eval-categories", synth.eval_categories,
                 "Categories of the eval rows: novel (the demo's few-shot test) or base (what a base model knows)")
      ->check(CLI::IsMember({"novel", "base"}))
      ->capture_default_str();
  sy->add_option("--image-size", synth.cfg.image_size, "Square image side in pixels")
      ->check(CLI::Range(int64_t{56}, int64_t{4096}))
      ->capture_default_str();
  sy->add_option("--categories", synth.cfg.num_categories, "Categories, drawn from 90 colour x pattern x shape")
      ->check(CLI::Range(int64_t{2}, int64_t{90}))
      ->capture_default_str();
  sy->add_option("--novel", synth.cfg.num_novel, "Categories held out of base_train")->capture_default_str();
  sy->add_option("--negative-rate", synth.cfg.negative_rate,
                 "Share of detection rows (base_train, eval) whose named category is absent ('No Objects')")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  sy->add_option("--tasks", synth.tasks, "Comma-separated tasks: cls, det, ground")->capture_default_str();
  sy->add_option("--prompt-style", synth.prompt_style,
                 "Detection and grounding prompts: train (the released sets' text) or eval (with newlines)")
      ->check(CLI::IsMember({"train", "eval"}))
      ->capture_default_str();
  sy->add_flag("--think-base", synth.cfg.think_base,
               "base_train solutions start with a short <think> reasoning (data for SFT-training a base model)");
  sy->add_flag("--dense-base", synth.cfg.dense_base,
               "Also write dense base_train rows that locate and name every object of an image (OUT/dense/, "
               "pre-training data)");
  sy->add_option("--dense-max-objects", synth.cfg.dense_max_objects,
                 "Dense scenes hold 1 to this many objects (1: single-object rows, a localisation stage)")
      ->check(CLI::Range(1, 5))
      ->capture_default_str();
  sy->add_flag("--dense-all-combinations", synth.cfg.dense_all_combinations,
               "Dense rows show objects of every colour x pattern x shape combination but the novel categories, "
               "not only the base ones (a vision stage that must read each attribute)");
  sy->add_flag("--base-all-combinations", synth.cfg.base_all_combinations,
               "Every base_train row (each task's and the dense ones) shows and names every colour x pattern x "
               "shape combination but the novel categories (a language model that composes the words)");
  sy->add_flag("--position-cue", synth.cfg.position_cue,
               "Backgrounds carry a fixed colour ramp that says where each pixel is (a world for small vision "
               "towers, which know only relative positions); a model pre-trained with it needs it everywhere");
  sy->add_option("--threads", synth.threads, "Workers drawing images (0: one per core); the files do not depend on it")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  sy->callback([] { run_synth(synth); });
}

}  // namespace vrft::cli
