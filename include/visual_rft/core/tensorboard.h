// visual_rft/core/tensorboard.h: TensorBoard event files, written without TensorFlow.
//
//   TensorBoardWriter tb(out_dir + "/tb", start_step);
//   tb.scalars(step, {{"train/reward", 0.42}, {"train/kl", 0.001}});
//   tb.text("train/samples", step, "| prompt | completion |\n|---|---|\n...");
//   tb.image("eval/boxes/0", step, png_bytes, height, width);
//
// An event file is a sequence of TFRecords (length, masked CRC-32C of the length, the bytes,
// masked CRC-32C of the bytes), each holding one `Event` protocol buffer. Only four messages
// are needed (Event, Summary with its Value and Image, SessionLog, and a string TensorProto for
// text), so they are encoded by hand here instead of taking a protobuf dependency; the tests
// read the files back with the tensorboard package's own reader.
//
// Every event is flushed as it is written, so TensorBoard follows a run live and a killed run
// loses at most the event being written (the reader stops at a truncated last record). Every
// file starts with SessionLog START at the first step it will log; for a resumed run's file that
// is a restart, and the reader drops what older files hold from that step on, as it does for
// TensorFlow's own restarts, so curves have no duplicate steps.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace vrft {

// CRC-32C (Castagnoli) and TFRecord's masked form of it.
uint32_t crc32c(std::string_view bytes);
uint32_t masked_crc32c(std::string_view bytes);

class TensorBoardWriter {
 public:
  // Creates `dir` and a new events.out.tfevents.<time>.<host>.<pid> file in it; throws
  // FileError naming the path. start_step: the steps done before (a resumed run's checkpoint; 0 for a fresh run).
  TensorBoardWriter(const std::string& dir, int64_t start_step);
  ~TensorBoardWriter();
  TensorBoardWriter(const TensorBoardWriter&) = delete;
  TensorBoardWriter& operator=(const TensorBoardWriter&) = delete;

  // One event holding every value (TensorBoard stores scalars as float32).
  void scalars(int64_t step, const std::vector<std::pair<std::string, double>>& values);
  // Markdown text, shown by TensorBoard's Text tab.
  void text(const std::string& tag, int64_t step, const std::string& markdown);
  // An encoded PNG or JPEG image of the given size, shown by the Images tab.
  void image(const std::string& tag, int64_t step, const std::string& encoded, int height, int width);
  const std::string& path() const { return path_; }

 private:
  void write_event(const std::string& event);  // one TFRecord, flushed

  std::string path_;
  std::FILE* file_ = nullptr;
};

}  // namespace vrft
