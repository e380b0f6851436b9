// src/core/tensorboard.cpp: TensorBoard event records, encoded by hand (tensorboard.h says why).
//
// The protocol-buffer messages written, with their field numbers (tensorflow/core/util/event.proto,
// framework/summary.proto, tensor.proto, tensor_shape.proto):
//   Event        1 wall_time (double)  2 step (int64)  3 file_version (string)
//                5 summary (Summary)   7 session_log (SessionLog)
//   Summary      1 value (repeated Value)
//   Value        1 tag  2 simple_value (float)  4 image (Image)  8 tensor (TensorProto)
//                9 metadata (SummaryMetadata)
//   Image        1 height  2 width  3 colorspace  4 encoded_image_string
//   SessionLog   1 status (enum, START = 1)
//   TensorProto  1 dtype (enum, DT_STRING = 7)  2 tensor_shape (empty: a scalar)  8 string_val
//   SummaryMetadata 1 plugin_data (PluginData: 1 plugin_name)
#include "visual_rft/core/tensorboard.h"

#include <unistd.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>

#include "visual_rft/core/error.h"

namespace vrft {

namespace {

// ---- CRC-32C, table-driven (reflected polynomial 0x82F63B78) ----

std::array<uint32_t, 256> crc32c_table() {
  std::array<uint32_t, 256> t{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
    t[i] = c;
  }
  return t;
}

// ---- protocol-buffer wire format: what the messages above need ----

enum Wire : uint32_t { wire_varint = 0, wire_fixed64 = 1, wire_bytes = 2, wire_fixed32 = 5 };

void put_varint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7F) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}
void put_key(std::string& out, uint32_t field, Wire w) { put_varint(out, (uint64_t{field} << 3) | w); }
void put_uint(std::string& out, uint32_t field, uint64_t v) {
  put_key(out, field, wire_varint);
  put_varint(out, v);
}
void put_bytes(std::string& out, uint32_t field, std::string_view v) {
  put_key(out, field, wire_bytes);
  put_varint(out, v.size());
  out.append(v.data(), v.size());
}
template <class T>  // little-endian, as the wire format and every machine we build for
void put_le(std::string& out, T v) {
  char b[sizeof(T)];
  std::memcpy(b, &v, sizeof(T));
  out.append(b, sizeof(T));
}
template <class T>
void put_fixed(std::string& out, uint32_t field, T v) {
  static_assert(sizeof(T) == 4 || sizeof(T) == 8);
  put_key(out, field, sizeof(T) == 8 ? wire_fixed64 : wire_fixed32);
  put_le(out, v);
}

double tb_wall_time() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// An Event with its time and step; `body` holds the remaining fields, already encoded.
std::string tb_event(int64_t step, const std::string& body) {
  std::string e;
  put_fixed(e, 1, tb_wall_time());
  put_uint(e, 2, static_cast<uint64_t>(step));
  return e + body;
}

std::string tb_summary_event(int64_t step, const std::string& values) {
  std::string body;
  put_bytes(body, 5, values);
  return tb_event(step, body);
}

}  // namespace

uint32_t crc32c(std::string_view bytes) {
  static const std::array<uint32_t, 256> table = crc32c_table();
  uint32_t c = 0xFFFFFFFFu;
  for (unsigned char b : bytes) c = table[(c ^ b) & 0xFF] ^ (c >> 8);
  return c ^ 0xFFFFFFFFu;
}

uint32_t masked_crc32c(std::string_view bytes) {
  const uint32_t c = crc32c(bytes);
  return ((c >> 15) | (c << 17)) + 0xA282EAD8u;
}

TensorBoardWriter::TensorBoardWriter(const std::string& dir, int64_t start_step) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) throw FileError("cannot create the TensorBoard folder '" + dir + "': " + ec.message());
  char host[256] = "localhost";
  gethostname(host, sizeof host - 1);
  const auto seconds = static_cast<long long>(tb_wall_time());
  // A new file every time (mode "x": never another run's, even within the same second and
  // process); TensorBoard reads a folder's files in name order, which is their time order.
  const std::string stem =
      dir + "/events.out.tfevents." + std::to_string(seconds) + "." + host + "." + std::to_string(getpid()) + ".";
  for (int n = 0; !file_ && n < 1000; ++n) {
    path_ = stem + std::to_string(n);
    file_ = std::fopen(path_.c_str(), "wbx");
    if (!file_ && errno != EEXIST) break;
  }
  if (!file_) throw FileError("cannot create TensorBoard event file '" + path_ + "': " + std::strerror(errno));

  std::string version;
  put_bytes(version, 3, "brain.Event:2");
  write_event(tb_event(start_step, version));
  // SessionLog START at the first step this run logs. TensorBoard takes the first START of a
  // folder as the session's beginning and every later one as a restart: it then drops the
  // events it read with that step or later, i.e. what a resumed run logs again.
  std::string session_log, body;
  put_uint(session_log, 1, 1);  // status: START
  put_bytes(body, 7, session_log);
  write_event(tb_event(start_step + 1, body));
}

TensorBoardWriter::~TensorBoardWriter() {
  if (file_) std::fclose(file_);
}

void TensorBoardWriter::scalars(int64_t step, const std::vector<std::pair<std::string, double>>& values) {
  std::string summary;
  for (const auto& [tag, v] : values) {
    std::string value;
    put_bytes(value, 1, tag);
    put_fixed(value, 2, static_cast<float>(v));
    put_bytes(summary, 1, value);
  }
  write_event(tb_summary_event(step, summary));
}

void TensorBoardWriter::text(const std::string& tag, int64_t step, const std::string& markdown) {
  std::string tensor, plugin, metadata, value, summary;
  put_uint(tensor, 1, 7);    // DT_STRING
  put_bytes(tensor, 2, "");  // a scalar
  put_bytes(tensor, 8, markdown);
  put_bytes(plugin, 1, "text");
  put_bytes(metadata, 1, plugin);
  put_bytes(value, 1, tag);
  put_bytes(value, 8, tensor);
  put_bytes(value, 9, metadata);
  put_bytes(summary, 1, value);
  write_event(tb_summary_event(step, summary));
}

void TensorBoardWriter::image(const std::string& tag, int64_t step, const std::string& encoded, int height, int width) {
  std::string image, value, summary;
  put_uint(image, 1, static_cast<uint64_t>(height));
  put_uint(image, 2, static_cast<uint64_t>(width));
  put_uint(image, 3, 3);  // RGB
  put_bytes(image, 4, encoded);
  put_bytes(value, 1, tag);
  put_bytes(value, 4, image);
  put_bytes(summary, 1, value);
  write_event(tb_summary_event(step, summary));
}

void TensorBoardWriter::write_event(const std::string& ev) {
  std::string record, length;
  put_le(length, static_cast<uint64_t>(ev.size()));
  record = length;
  put_le(record, masked_crc32c(length));
  record += ev;
  put_le(record, masked_crc32c(ev));
  if (std::fwrite(record.data(), 1, record.size(), file_) != record.size() || std::fflush(file_) != 0) {
    throw FileError("cannot write TensorBoard event file '" + path_ + "': " + std::strerror(errno));
  }
}

}  // namespace vrft
