// visual_rft/core/line_process.h: a child process spoken to in lines, request and answer.
//
//   LineProcess p({"python3", "-u", "-c", code}, "the Python rewards");
//   std::string answer = p.request("{...}", 60);   // writes one line, reads one line back
//
// The child's stdin and stdout are pipes; its stderr is ours, so what it prints for the user
// shows in the run's log. Started with fork + execvp (no shell). A child that exits, or closes
// its stdout, makes request() throw Error naming `what`, the exit status and the line it was
// answering. The destructor closes the child's stdin (its signal to end), waits up to 5 s, then
// kills it, so no child outlives its owner.
#pragma once

#include <sys/types.h>
#include <string>
#include <vector>

namespace vrft {

class LineProcess {
 public:
  LineProcess(const std::vector<std::string>& argv, std::string what);
  ~LineProcess();
  LineProcess(const LineProcess&) = delete;
  LineProcess& operator=(const LineProcess&) = delete;

  // Sends `line` (no newline in it) and returns the next line the child writes, without its
  // newline. An answer that takes longer than `timeout_s` (> 0) kills the child and throws
  // Error saying so.
  std::string request(const std::string& line, double timeout_s = 0) {
    send(line);
    return read_line(timeout_s);
  }
  void send(const std::string& line);           // writes `line` and a newline
  std::string read_line(double timeout_s = 0);  // the next line, as request() reads it

 private:
  [[noreturn]] void fail(const std::string& doing);

  std::string what_;
  pid_t pid_ = -1;
  int to_child_ = -1, from_child_ = -1;
  std::string buffer_;  // bytes read after the last full line
};

}  // namespace vrft
