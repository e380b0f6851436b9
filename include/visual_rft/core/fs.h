// visual_rft/core/fs.h: reading files with clear errors, crash-safe (atomic) writing, private
// temporary folders and running a child process without a shell.
//
// Atomic writing: data goes to a temporary file beside the target, is fsync'ed, renamed over
// the target, and the folder is fsync'ed. A crash or kill at any moment leaves either the old
// file or the complete new one, never a half-written file (checkpoints rely on this).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

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
  void commit();  // fsync, rename over the target, fsync the folder

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

// A new, empty folder under the system's temporary folder, named PREFIX-XXXXXX by mkdtemp
// (unpredictable, created exclusively, mode 0700). Throws FileError.
std::string make_temp_dir(const std::string& prefix);

// Runs argv[0] with exactly these arguments (fork + execv: no shell, so no quoting to get
// wrong and nothing in an argument is ever run as a command) and waits for it. Returns its
// exit status, or 128 + the signal that ended it; throws Error when it cannot be started.
int run_process(const std::vector<std::string>& argv);

}  // namespace vrft
