// visual_rft/core/fs.h: reading files with clear errors, and crash-safe (atomic) writing.
//
// Atomic writing: data goes to a temporary file beside the target, is fsync'ed, renamed over
// the target, and the folder is fsync'ed. A crash or kill at any moment leaves either the old
// file or the complete new one, never a half-written file (checkpoints rely on this).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace vrft {

// The whole file; throws FileError naming the path when it cannot be read.
std::string read_file(const std::string& path);

// A file written under a temporary name and made visible by commit().
// Destroyed without commit(), it removes the temporary file and the target is untouched.
class AtomicFile {
 public:
  explicit AtomicFile(std::string path);
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  void write(const void* data, size_t n);  // throws FileError (disk full, ...)
  void write(std::string_view s) { write(s.data(), s.size()); }
  void commit();                            // fsync, rename over the target, fsync the folder

 private:
  std::string path_;
  std::string tmp_;
  int fd_ = -1;
};

// Writes `content` to `path` atomically.
void write_file_atomic(const std::string& path, std::string_view content);

// Removes a file or a folder with everything in it (no error when it does not exist).
// Why not std::filesystem::remove_all: LibTorch's shared library exports its own copy of
// that symbol, which the dynamic linker may bind first, and that copy crashes.
void remove_tree(const std::string& path);

// fsync of a folder, so that a rename inside it survives a power loss.
void fsync_dir(const std::string& dir);

}  // namespace vrft
