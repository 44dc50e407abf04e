#pragma once
// A child process for integration tests: argv, environment additions, output to a log file.
// The destructor kills (SIGKILL) and reaps it.

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <string>
#include <vector>

namespace pullcache::testing {

class Process {
 public:
  Process(std::vector<std::string> argv, std::string log_path,
          std::vector<std::string> extra_env = {});
  ~Process();
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  [[nodiscard]] pid_t pid() const { return pid_; }
  [[nodiscard]] bool running();
  void kill(int signal);
  // Waits for exit; returns the exit status (or 128+signal), or -1 on timeout.
  int wait(std::chrono::milliseconds timeout);
  [[nodiscard]] std::string log() const;
  [[nodiscard]] const std::string& logPath() const { return log_path_; }

 private:
  pid_t pid_ = -1;
  int status_ = -1;
  std::string log_path_;
};

// Runs a command to completion; returns its exit code and captures its output.
struct CommandResult {
  int code = -1;
  std::string output;
};
CommandResult runCommand(const std::vector<std::string>& argv,
                         std::chrono::milliseconds timeout = std::chrono::seconds(120),
                         std::vector<std::string> extra_env = {});

// Polls `condition` until it holds or the deadline passes (no sleeping for synchronisation:
// this is waiting on a condition with a deadline).
bool waitFor(const std::function<bool()>& condition, std::chrono::milliseconds timeout,
             std::chrono::milliseconds poll = std::chrono::milliseconds(20));

// A TCP port that was free a moment ago on 127.0.0.1.
int freePort();
bool portOpen(int port);
bool haveCommand(const std::string& name);

}  // namespace pullcache::testing
