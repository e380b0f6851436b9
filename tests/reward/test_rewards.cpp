// tests/reward/test_rewards.cpp: the rewards, table-driven. Every expected value was worked
// out by hand from the rules (Visual-RFT's grpo_*.py reward functions for visual_rft mode, rewards.h and
// answer.h for strict mode); the comment of each row says why.
#include <gtest/gtest.h>

#include <cmath>

#include "test_util.h"
#include "visual_rft/core/config.h"
#include "visual_rft/core/error.h"
#include "visual_rft/core/fs.h"
#include "visual_rft/reward/rewards.h"

using namespace vrft;

namespace {

// A well-formed completion around an answer.
std::string T(const std::string& answer) { return "<think>x</think><answer>" + answer + "</answer>"; }

const std::string kBox = "{'Position': [100, 100, 200, 200], 'Confidence': 0.9}";  // the true box, conf 0.9
const std::string S1 = "<answer>[{'Position': [100, 100, 200, 200], 'Confidence': 1}]</answer>";
const std::string S2 =
    "<answer>[{'Position': [100, 100, 200, 200], 'Confidence': 1}, {'Position': [300, 300, 400, 400], "
    "'Confidence': 1}]</answer>";
const std::string S3 = "<answer>[{'Position': [100, 100, 200, 1000], 'Confidence': 1}]</answer>";
const std::string S_EMPTY = "<answer>[]</answer>";
const std::string SG = "<answer> (100,100),(200,200) </answer>";  // as grpo_lisa builds it

struct Row {
  const char* why;
  const char* reward;
  Task task;
  std::string completion;
  std::string solution;
  double visual_rft;  // expected in visual_rft mode
  double strict;      // expected in strict mode
};

std::vector<Row> rows() {
  const Task D = Task::det, C = Task::cls, G = Task::ground;
  return {
      // ---- detection: iou and confidence ----
      {"exact box", "iou", D, T("[" + kBox + "]"), S1, 1, 1},
      {"exact box: confidence of a match is conf", "confidence", D, T("[" + kBox + "]"), S1, 0.9, 0.9},
      {"IoU 0.8: 100x80 inside 100x100", "iou", D, T("[{'Position': [100, 100, 200, 180], 'Confidence': 0.5}]"), S1,
       0.8, 0.8},
      {"IoU 0.8 match: confidence 0.5", "confidence", D, T("[{'Position': [100, 100, 200, 180], 'Confidence': 0.5}]"),
       S1, 0.5, 0.5},
      {"IoU 1/3 < 0.5: unmatched", "iou", D, T("[{'Position': [150, 100, 250, 200], 'Confidence': 0.3}]"), S1, 0, 0},
      {"unmatched: 1 - conf", "confidence", D, T("[{'Position': [150, 100, 250, 200], 'Confidence': 0.3}]"), S1, 0.7,
       0.7},
      {"IoU exactly 0.5 is not a match (strict >)", "iou", D,
       T("[{'Position': [100, 100, 200, 150], 'Confidence': 0.4}]"), S1, 0, 0},
      {"IoU exactly 0.5: 1 - 0.4", "confidence", D, T("[{'Position': [100, 100, 200, 150], 'Confidence': 0.4}]"), S1,
       0.6, 0.6},
      {"extra box: sum 1 / max(1, 2)", "iou", D,
       T("[" + kBox + ", {'Position': [500, 500, 600, 600], 'Confidence': 0.2}]"), S1, 0.5, 0.5},
      {"extra box: (0.9 + (1 - 0.2)) / 2", "confidence", D,
       T("[" + kBox + ", {'Position': [500, 500, 600, 600], 'Confidence': 0.2}]"), S1, 0.85, 0.85},
      {"missed box: 1 / max(2, 1)", "iou", D, T("[{'Position': [100, 100, 200, 200], 'Confidence': 1}]"), S2, 0.5, 0.5},
      {"missed box does not lower confidence", "confidence", D,
       T("[{'Position': [100, 100, 200, 200], 'Confidence': 1}]"), S2, 1, 1},
      {"duplicate boxes removed, first kept", "iou", D,
       T("[" + kBox + ", {'Position': [100, 100, 200, 200], 'Confidence': 0.8}]"), S1, 1, 1},
      {"duplicate boxes removed: conf of the first", "confidence", D,
       T("[" + kBox + ", {'Position': [100, 100, 200, 200], 'Confidence': 0.8}]"), S1, 0.9, 0.9},
      {"greedy by confidence: the 0.9 box (IoU 0.8) takes the truth; 0.8 / 2", "iou", D,
       T("[{'Position': [100, 100, 200, 180], 'Confidence': 0.9}, {'Position': [100, 100, 200, 200], 'Confidence': "
         "0.5}]"),
       S1, 0.4, 0.4},
      {"greedy: (0.9 + (1 - 0.5)) / 2", "confidence", D,
       T("[{'Position': [100, 100, 200, 180], 'Confidence': 0.9}, {'Position': [100, 100, 200, 200], 'Confidence': "
         "0.5}]"),
       S1, 0.7, 0.7},
      {"[[...]] is repaired by both", "iou", D, T("[[" + kBox + "]]"), S1, 1, 1},
      {"answer over several lines: the reference's regex misses it", "iou", D,
       "<think>x</think><answer>\n[" + kBox + "]\n</answer>", S1, 0, 1},
      {"truncated, no closing tag: the reference wraps the whole text and fails", "iou", D,
       "<think>x</think><answer>[" + kBox + ", {'Position': [1, 2", S1, 0, 1},
      {"truncated inside the tags: both keep the complete objects", "iou", D, T("[" + kBox + ", {'Position': [1, 2"),
       S1, 1, 1},
      {"truncated inside the tags: confidence of the kept object", "confidence", D,
       T("[" + kBox + ", {'Position': [1, 2"), S1, 0.9, 0.9},
      {"NaN confidence: reference json accepts it, taken as 0; strict: malformed", "iou", D,
       T("[{'Position': [100, 100, 200, 200], 'Confidence': NaN}]"), S1, 1, 0},
      {"NaN confidence: conf 0 matched -> 0; strict 0", "confidence", D,
       T("[{'Position': [100, 100, 200, 200], 'Confidence': NaN}]"), S1, 0, 0},
      {"Infinity confidence: taken as 0; strict: malformed", "iou", D,
       T("[{'Position': [100, 100, 200, 200], 'Confidence': Infinity}]"), S1, 1, 0},
      {"-Infinity confidence unmatched: taken as 0 -> 1 - 0", "confidence", D,
       T("[{'Position': [500, 500, 600, 600], 'Confidence': -Infinity}]"), S1, 1, 0},
      {"lowercase nan is not JSON; strict: malformed", "iou", D,
       T("[{'Position': [100, 100, 200, 200], 'Confidence': nan}]"), S1, 0, 0},
      {"No Objects where there are objects", "iou", D, T("No Objects"), S1, 0, 0},
      {"No Objects where there are none: strict rewards it", "iou", D, T("No Objects"), S_EMPTY, 0, 1},
      {"No Objects where there are none: confidence too", "confidence", D, T("No Objects"), S_EMPTY, 0, 1},
      {"empty list where there are none: strict rewards it", "iou", D, T("[]"), S_EMPTY, 0, 1},
      {"empty list: IndexError in the reference", "iou", D, T("[]"), S1, 0, 0},
      {"boxes where there are none: no match, 0 / max(0, 1)", "iou", D, T("[" + kBox + "]"), S_EMPTY, 0, 0},
      {"boxes where there are none: 1 - 0.9", "confidence", D, T("[" + kBox + "]"), S_EMPTY, 0.1, 0.1},
      {"trailing comma: not JSON; strict accepts", "iou", D, T("[" + kBox + ",]"), S1, 0, 1},
      {"double quotes", "iou", D, T("[{\"Position\": [100, 100, 200, 200], \"Confidence\": 0.9}]"), S1, 1, 1},
      {"missing Confidence: KeyError; strict: malformed", "iou", D, T("[{'Position': [100, 100, 200, 200]}]"), S1, 0,
       0},
      {"Position of 3 numbers", "iou", D, T("[{'Position': [100, 100, 200], 'Confidence': 0.9}]"), S1, 0, 0},
      {"reversed corners: reference IoU 0; strict swaps them", "iou", D,
       T("[{'Position': [200, 200, 100, 100], 'Confidence': 0.9}]"), S1, 0, 1},
      {"reversed corners: 1 - 0.9 unmatched; strict matched 0.9", "confidence", D,
       T("[{'Position': [200, 200, 100, 100], 'Confidence': 0.9}]"), S1, 0.1, 0.9},
      {"y2 = 1100 past the image: 900*100 / 100*1000 = 0.9; strict clamps to 1000", "iou", D,
       T("[{'Position': [100, 100, 200, 1100], 'Confidence': 0.9}]"), S3, 0.9, 1},
      {"confidences out of range: (1.5 + 1.5) / 2 -> clamp 1; strict clamps each: (1 + 1) / 2", "confidence", D,
       T("[{'Position': [100, 100, 200, 200], 'Confidence': 1.5}, {'Position': [500, 500, 600, 600], 'Confidence': "
         "-0.5}]"),
       S1, 1, 1},
      {"spam: one hit among four boxes, 1 / 4", "iou", D,
       T("[" + kBox +
         ", {'Position': [500, 500, 600, 600], 'Confidence': 0.1}, {'Position': [600, 600, 700, 700], 'Confidence': "
         "0.1}, "
         "{'Position': [700, 700, 800, 800], 'Confidence': 0.1}]"),
       S1, 0.25, 0.25},
      {"confidence as a string", "iou", D, T("[{'Position': [100, 100, 200, 200], 'Confidence': '0.9'}]"), S1, 0, 0},
      {"one object without brackets: strict accepts", "iou", D, T(kBox), S1, 0, 1},
      {"decimal coordinates", "iou", D, T("[{'Position': [100.0, 100.0, 200.0, 200.0], 'Confidence': 0.9}]"), S1, 1, 1},
      {"lowercase keys: KeyError; strict ignores case", "iou", D,
       T("[{'position': [100, 100, 200, 200], 'confidence': 0.9}]"), S1, 0, 1},
      {"<answer> quoted inside <think> derails both", "iou", D,
       "<think>I will write <answer> tags</think><answer>[" + kBox + "]</answer>", S1, 0, 0},
      {"no answer tag at all", "iou", D, "<think>x</think>[" + kBox + "]", S1, 0, 0},
      {"empty completion", "iou", D, "", S1, 0, 0},
      {"empty completion", "confidence", D, "", S1, 0, 0},

      // ---- classification ----
      {"right class", "accuracy_cls", C, T("daisy"), "<answer>daisy</answer>", 1, 1},
      {"case does not matter", "accuracy_cls", C, T("Daisy"), "<answer>daisy</answer>", 1, 1},
      {"empty answer: '' is in every label (the #176 hack)", "accuracy_cls", C, T(""), "<answer>daisy</answer>", 1, 0},
      {"blank answer", "accuracy_cls", C, T("   "), "<answer>daisy</answer>", 1, 0},
      {"several classes: the label is a substring (#79)", "accuracy_cls", C, T("daisy or rose"),
       "<answer>daisy</answer>", 1, 0},
      {"answer over lines: the whole text contains the label", "accuracy_cls", C,
       "<think>x</think><answer>\ndaisy\n</answer>", "<answer>daisy</answer>", 1, 1},
      {"label only in <think>, answer wrong", "accuracy_cls", C, "<think>maybe daisy</think><answer>rose</answer>",
       "<answer>daisy</answer>", 0, 0},
      {"no answer tag: the label anywhere counts for the reference", "accuracy_cls", C, "<think>it is a daisy</think>",
       "<answer>daisy</answer>", 1, 0},
      {"hyphen vs underscore", "accuracy_cls", C, T("Black-eyed Susan"), "<answer>black_eyed susan</answer>", 0, 1},
      {"a longer name containing the label", "accuracy_cls", C, T("desert-rose"), "<answer>rose</answer>", 1, 0},
      {"trailing full stop", "accuracy_cls", C, T("daisy."), "<answer>daisy</answer>", 1, 1},
      {"surrounding spaces", "accuracy_cls", C, T("  daisy  "), "<answer>daisy</answer>", 1, 1},
      {"non-ASCII case", "accuracy_cls", C,
       T("\xc3\xa9"
         "clair"),
       "<answer>\xc3\x89"
       "clair</answer>",
       1, 1},
      {"space removed by the reference, kept by strict", "accuracy_cls", C, T("sweetpea"), "<answer>sweet pea</answer>",
       1, 0},
      {"extra words", "accuracy_cls", C, T("the daisy"), "<answer>daisy</answer>", 1, 0},
      {"wrong class", "accuracy_cls", C, T("rose"), "<answer>daisy</answer>", 0, 0},

      // ---- grounding ----
      {"exact box: equal strings, override 2", "giou_grounding", G, T("(100,100),(200,200)"), SG, 2, 2},
      {"exact box", "iou_grounding", G, T("(100,100),(200,200)"), SG, 1, 1},
      {"IoU 0.8, hull = union: GIoU 0.8 + 1", "giou_grounding", G, T("(100,100),(200,180)"), SG, 1.8, 1.8},
      {"IoU 0.8", "iou_grounding", G, T("(100,100),(200,180)"), SG, 0.8, 0.8},
      {"disjoint: 0 - (0.09 - 0.02) / 0.09 + 1 = 2/9", "giou_grounding", G, T("(300,300),(400,400)"), SG, 2.0 / 9,
       2.0 / 9},
      {"disjoint", "iou_grounding", G, T("(300,300),(400,400)"), SG, 0, 0},
      {"[x1,y1,x2,y2]: not the reference's pattern", "giou_grounding", G, T("[100,100,200,200]"), SG, 0, 2},
      {"two boxes: the reference pairs box 1's and box 2's top-left corners: IoU 0.25", "iou_grounding", G,
       T("(100,100),(200,200),(300,300),(400,400)"), SG, 0.25, 1},
      {"two boxes: GIoU 0.25 (hull = union) + 1", "giou_grounding", G, T("(100,100),(200,200),(300,300),(400,400)"), SG,
       1.25, 2},
      {"decimals: not the reference's pattern; strict IoU 99.5*100/10000", "iou_grounding", G,
       T("(100.5,100),(200,200)"), SG, 0, 0.995},
      {"answer over lines: DOTALL in the reference too", "giou_grounding", G,
       "<think>x</think><answer>\n(100,100),(200,200)\n</answer>", SG, 2, 2},
      {"no answer tag: the reference reads the whole text", "giou_grounding", G, "<think>x</think> (100,100),(200,200)",
       SG, 2, 0},
      {"reversed corners: the reference's GIoU gives 0 - (0.01 - 0.02) / 0.01 + 1 = 2 (a hack)", "giou_grounding", G,
       T("(200,200),(100,100)"), SG, 2, 2},
      {"reversed corners: IoU 0 in the reference; strict swaps", "iou_grounding", G, T("(200,200),(100,100)"), SG, 0,
       1},
      {"no box", "giou_grounding", G, T("left side"), SG, 0, 0},
      {"negative x1: not the reference's pattern; strict clamps to 0: IoU 0.5, hull = union", "giou_grounding", G,
       T("(-10,100),(200,200)"), SG, 0, 1.5},

      // ---- format (the same rule in both modes) ----
      {"think then answer", "format", D, "<think>a</think><answer>b</answer>", S1, 1, 1},
      {"blank lines between", "format", D, "<think>a</think>\n\n<answer>b</answer>", S1, 1, 1},
      {"leading space", "format", D, " <think>a</think><answer>b</answer>", S1, 0, 0},
      {"trailing newline", "format", D, "<think>a</think><answer>b</answer>\n", S1, 0, 0},
      {"answer only", "format", D, "<answer>b</answer>", S1, 0, 0},
      {"text between", "format", D, "<think>a</think> so <answer>b</answer>", S1, 0, 0},
      {"empty think and answer pass", "format", D, "<think></think><answer></answer>", S1, 1, 1},
      {"several lines inside", "format", D, "<think>a\nb</think><answer>c\nd</answer>", S1, 1, 1},
      {"two answers: .*? stretches over both", "format", D, "<think>a</think><answer>b</answer><answer>c</answer>", S1,
       1, 1},
      {"no-break space counts as \\s", "format", D, "<think>a</think>\xc2\xa0<answer>b</answer>", S1, 1, 1},
      {"missing </think>", "format", D, "<think>a<answer>b</answer>", S1, 0, 0},
      {"missing </answer>", "format", D, "<think>a</think><answer>b", S1, 0, 0},
  };
}

}  // namespace

TEST(Rewards, TableInBothModes) {
  int checked = 0;
  for (const Row& r : rows()) {
    Solution sol = parse_solution(r.task, r.solution);
    const RewardSpec* spec = find_reward(r.reward);
    ASSERT_NE(spec, nullptr) << r.reward;
    for (Compat mode : {Compat::visual_rft, Compat::strict}) {
      RewardContext ctx;
      ctx.compat = mode;
      double got = spec->fn(r.completion, sol, ctx);
      double want = mode == Compat::visual_rft ? r.visual_rft : r.strict;
      EXPECT_TRUE(std::isfinite(got));
      EXPECT_NEAR(got, want, 1e-12) << r.why << "\n  reward " << r.reward << ", mode "
                                    << (mode == Compat::visual_rft ? "visual_rft" : "strict")
                                    << "\n  completion: " << r.completion;
      ++checked;
    }
  }
  EXPECT_GE(checked, 160);
}

TEST(Rewards, SynonymsInStrictMode) {
  std::string dir = test::scratch_dir("synonyms");
  write_file_atomic(dir + "/syn.txt", "# dog breeds\ngerman shepherd | alsatian\nrose|Rosa\n");
  Synonyms syn = load_synonyms(dir + "/syn.txt");
  Solution sol = parse_solution(Task::cls, "<answer>alsatian</answer>");
  RewardContext ctx;
  EXPECT_EQ(accuracy_cls_reward(T("German_Shepherd"), sol, ctx), 0.0);
  ctx.synonyms = &syn;
  EXPECT_EQ(accuracy_cls_reward(T("German_Shepherd"), sol, ctx), 1.0);
  EXPECT_EQ(accuracy_cls_reward(T("rosa"), sol, ctx), 0.0);
  write_file_atomic(dir + "/bad.txt", "a | b\nb | c\n");
  try {
    load_synonyms(dir + "/bad.txt");
    FAIL();
  } catch (const FileError& e) {
    EXPECT_NE(std::string(e.what()).find("bad.txt:2"), std::string::npos) << e.what();
  }
}

TEST(Rewards, MalformedSolutionsAreErrors) {
  EXPECT_THROW(parse_solution(Task::det, "<answer>a cat</answer>"), Error);
  EXPECT_THROW(parse_solution(Task::ground, "<answer>somewhere</answer>"), Error);
  EXPECT_THROW(parse_solution(Task::cls, "<answer> </answer>"), Error);
  EXPECT_EQ(parse_solution(Task::det, S2).boxes.size(), 2u);
  EXPECT_EQ(parse_solution(Task::cls, "<answer> daisy </answer>").label, "daisy");
}

TEST(Rewards, SetUsesTaskDefaultsAndWeights) {
  RewardsConfig cfg;
  RewardSet det(Task::det, cfg);
  EXPECT_EQ(det.names(), (std::vector<std::string>{"iou", "confidence", "format"}));
  RewardScores s = det.score(T("[" + kBox + "]"), parse_solution(Task::det, S1));
  EXPECT_EQ(s.values, (std::vector<double>{1, 0.9, 1}));
  EXPECT_DOUBLE_EQ(s.total, 2.9);

  cfg.functions = {"format", "accuracy_cls"};
  cfg.weights = {0.5, 2};
  RewardSet cls(Task::cls, cfg);
  EXPECT_DOUBLE_EQ(cls.score(T("daisy"), parse_solution(Task::cls, "<answer>daisy</answer>")).total, 2.5);
}

TEST(Rewards, SetRefusesBadConfigNamingTheKey) {
  auto message = [](Task task, RewardsConfig cfg) -> std::string {
    try {
      RewardSet s(task, cfg);
    } catch (const ConfigError& e) {
      return e.what();
    }
    return "";
  };
  RewardsConfig c;
  c.functions = {"iuo"};
  EXPECT_NE(message(Task::det, c).find("rewards.functions: unknown reward 'iuo' (did you mean 'iou'?)"),
            std::string::npos);
  c.functions = {"iou"};
  EXPECT_NE(message(Task::cls, c).find("reward 'iou' does not apply to task cls"), std::string::npos);
  c.functions = {"iou", "format"};
  c.weights = {1};
  EXPECT_NE(message(Task::det, c).find("rewards.weights"), std::string::npos);
}

// Python-exact helpers, against what CPython does.
TEST(Answer, PythonTextSemantics) {
  EXPECT_EQ(py_strip(" \t\n\xc2\xa0"
                     "ab c\xe3\x80\x80\r "),
            "ab c");
  EXPECT_EQ(py_replace("[[[a]]]", "[[", "["), "[[a]]]");  // non-overlapping, left to right
  EXPECT_EQ(*py_answer_group("<answer>a\n</answer><answer>b</answer>", false), "b");
  EXPECT_EQ(*py_answer_group("<answer>a\n</answer><answer>b</answer>", true), "a\n");
  EXPECT_FALSE(py_answer_group("<answer>a", false));
  // json.loads
  EXPECT_TRUE(std::isnan(py_json_loads("NaN")->number));
  EXPECT_FALSE(py_json_loads("nan"));
  EXPECT_FALSE(py_json_loads("[1,]"));
  EXPECT_FALSE(py_json_loads("01"));
  EXPECT_FALSE(py_json_loads("[1] x"));
  EXPECT_EQ(py_json_loads(" [1, 2.5e1, -0] ")->items[1].number, 25);
  EXPECT_EQ(py_json_loads("{\"a\": 1, \"a\": 2}")->get("a")->number, 2);  // last key wins
  EXPECT_EQ(py_json_loads("\"\\u00e9\"")->text, "\xc3\xa9");
  EXPECT_FALSE(py_json_loads(std::string(100000, '[')));  // deep nesting: refused, no crash
}
