// src/core/line_process.cpp: a child process spoken to in lines (see the header).
#include "visual_rft/core/line_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>

#include "visual_rft/core/error.h"

namespace vrft {

LineProcess::LineProcess(const std::vector<std::string>& argv, std::string what) : what_(std::move(what)) {
  int in[2], out[2];  // in: we write, the child reads; out: the child writes, we read
  if (::pipe2(in, O_CLOEXEC) != 0 || ::pipe2(out, O_CLOEXEC) != 0)
    throw Error("cannot start " + what_ + ": pipe: " + std::strerror(errno));
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_ = ::fork();
  if (pid_ < 0) throw Error("cannot start " + what_ + ": fork: " + std::strerror(errno));
  if (pid_ == 0) {  // the child: only async-signal-safe calls until exec
    ::dup2(in[0], STDIN_FILENO);
    ::dup2(out[1], STDOUT_FILENO);
    ::execvp(args[0], args.data());
    const char msg[] = "visual-rft: cannot run the reward process's program\n";
    (void)!::write(STDERR_FILENO, msg, sizeof msg - 1);
    ::_exit(127);
  }
  ::close(in[0]);
  ::close(out[1]);
  to_child_ = in[1];
  from_child_ = out[0];
  ::signal(SIGPIPE, SIG_IGN);  // a dead child must give EPIPE (an error we name), not kill us
}

LineProcess::~LineProcess() {
  if (to_child_ >= 0) ::close(to_child_);
  if (from_child_ >= 0) ::close(from_child_);
  if (pid_ <= 0) return;
  int status = 0;
  for (int i = 0; i < 500; ++i) {  // 5 s to end by itself
    if (::waitpid(pid_, &status, WNOHANG) != 0) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ::kill(pid_, SIGKILL);
  ::waitpid(pid_, &status, 0);
}

void LineProcess::fail(const std::string& doing) {
  // A child that closed its output is usually exiting: wait up to 2 s for its exit status (it
  // may not be there yet at the moment the pipe reports the end).
  int status = 0;
  std::string how = "closed its output";
  for (int i = 0; i < 200 && pid_ > 0; ++i) {
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      how = WIFEXITED(status) ? "exited with status " + std::to_string(WEXITSTATUS(status))
                              : "was killed by signal " + std::to_string(WTERMSIG(status));
      pid_ = -1;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  throw Error(what_ + " " + how + " while " + doing + " (its error, if any, is printed above)");
}

void LineProcess::send(const std::string& line) {
  const std::string msg = line + "\n";
  for (size_t done = 0; done < msg.size();) {
    const ssize_t n = ::write(to_child_, msg.data() + done, msg.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) fail("a request was sent to it");
    done += static_cast<size_t>(n);
  }
}

std::string LineProcess::read_line(double timeout_s) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
  for (;;) {
    const size_t nl = buffer_.find('\n');
    if (nl != std::string::npos) {
      std::string answer = buffer_.substr(0, nl);
      buffer_.erase(0, nl + 1);
      return answer;
    }
    if (timeout_s > 0) {  // wait for bytes until the deadline
      const double left = std::chrono::duration<double>(deadline - std::chrono::steady_clock::now()).count();
      pollfd p{from_child_, POLLIN, 0};
      const int ready = left > 0 ? ::poll(&p, 1, static_cast<int>(left * 1000) + 1) : 0;
      if (ready < 0 && errno == EINTR) continue;
      if (ready == 0) {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, nullptr, 0);
        pid_ = -1;
        throw Error(what_ + " did not answer within " + std::to_string(static_cast<int>(timeout_s)) +
                    " s, and was stopped");
      }
    }
    char chunk[65536];
    const ssize_t n = ::read(from_child_, chunk, sizeof chunk);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) fail("its answer was awaited");
    buffer_.append(chunk, static_cast<size_t>(n));
  }
}

}  // namespace vrft
