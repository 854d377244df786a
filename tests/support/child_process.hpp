// A child process for tests: started with extra environment variables, its
// stdout+stderr collected line by line, waited for with deadlines.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace testing {

class child_process {
public:
  // Starts `argv[0]` with `env` added to (and overriding) this process's environment.
  child_process(std::vector<std::string> argv, std::map<std::string, std::string> env = {},
                std::string cwd = {});
  ~child_process(); // kills (SIGKILL) if still running

  int pid() const;
  void signal(int sig);
  // Waits for the exit; returns the exit status, or nullopt on timeout or death by signal.
  std::optional<int> wait_exit(std::chrono::milliseconds timeout);
  // Waits until some output line contains `needle`; returns that line.
  std::optional<std::string> wait_for_line(const std::string& needle, std::chrono::milliseconds timeout);
  // Everything printed so far.
  std::string output() const;

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

// The port a signal-node reports in its `event=listening ... port=N` line.
std::optional<std::uint16_t> wait_for_port(child_process& p, std::chrono::milliseconds timeout);

} // namespace testing
