#include "support/child_process.hpp"

#include <cerrno>
#include <condition_variable>
#include <csignal>
#include <cstring>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace testing {

struct child_process::impl {
  pid_t pid = -1;
  int out_fd = -1;
  std::thread reader;
  mutable std::mutex mutex;
  std::condition_variable cv;
  std::string output;
  bool exited = false;
  bool eof = false; // the reader has seen the end of the output
  int status = 0;
};

child_process::child_process(std::vector<std::string> argv, std::map<std::string, std::string> env,
                             std::string cwd)
  : impl_(std::make_unique<impl>()) {
  std::map<std::string, std::string> merged;
  for (char** e = environ; *e; ++e) {
    std::string kv = *e;
    auto eq = kv.find('=');
    if (eq != std::string::npos)
      merged[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  for (auto& [k, v] : env)
    merged[k] = v;
  std::vector<std::string> env_strings;
  for (auto& [k, v] : merged)
    env_strings.push_back(k + "=" + v);
  std::vector<char*> envp, args;
  for (auto& s : env_strings)
    envp.push_back(s.data());
  envp.push_back(nullptr);
  for (auto& s : argv)
    args.push_back(s.data());
  args.push_back(nullptr);

  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0)
    throw std::runtime_error("pipe failed");
  pid_t pid = fork();
  if (pid < 0)
    throw std::runtime_error("fork failed");
  if (pid == 0) {
    dup2(fds[1], 1);
    dup2(fds[1], 2);
    if (!cwd.empty() && chdir(cwd.c_str()) != 0)
      _exit(126);
    execve(args[0], args.data(), envp.data());
    _exit(127);
  }
  close(fds[1]);
  impl_->pid = pid;
  impl_->out_fd = fds[0];
  impl_->reader = std::thread([m = impl_.get()] {
    char buf[4096];
    for (;;) {
      auto n = ::read(m->out_fd, buf, sizeof buf);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        break;
      std::lock_guard<std::mutex> g{m->mutex};
      m->output.append(buf, static_cast<std::size_t>(n));
      m->cv.notify_all();
    }
    std::lock_guard<std::mutex> g{m->mutex};
    m->eof = true;
    m->cv.notify_all();
  });
}

child_process::~child_process() {
  if (!impl_->exited && impl_->pid > 0) {
    ::kill(impl_->pid, SIGKILL);
    waitpid(impl_->pid, nullptr, 0);
  }
  if (impl_->reader.joinable())
    impl_->reader.join();
  close(impl_->out_fd);
}

int child_process::pid() const {
  return impl_->pid;
}

void child_process::signal(int sig) {
  ::kill(impl_->pid, sig);
}

std::optional<int> child_process::wait_exit(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!impl_->exited) {
    int status = 0;
    auto r = waitpid(impl_->pid, &status, WNOHANG);
    if (r == impl_->pid) {
      impl_->exited = true;
      impl_->status = status;
      break;
    }
    if (std::chrono::steady_clock::now() >= deadline)
      return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  // What the child wrote just before it exited may still be in the pipe:
  // let the reader drain it (bounded: a grandchild may hold the pipe open).
  {
    std::unique_lock<std::mutex> lock{impl_->mutex};
    impl_->cv.wait_for(lock, std::chrono::seconds(1), [&] { return impl_->eof; });
  }
  if (!WIFEXITED(impl_->status))
    return std::nullopt;
  return WEXITSTATUS(impl_->status);
}

std::optional<std::string> child_process::wait_for_line(const std::string& needle, std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock{impl_->mutex};
  std::optional<std::string> found;
  impl_->cv.wait_for(lock, timeout, [&] {
    auto pos = impl_->output.find(needle);
    if (pos == std::string::npos)
      return false;
    auto b = impl_->output.rfind('\n', pos);
    b = b == std::string::npos ? 0 : b + 1;
    auto e = impl_->output.find('\n', pos);
    if (e == std::string::npos)
      return false; // wait for the whole line
    found = impl_->output.substr(b, e - b);
    return true;
  });
  return found;
}

std::string child_process::output() const {
  std::lock_guard<std::mutex> g{impl_->mutex};
  return impl_->output;
}

std::optional<std::uint16_t> wait_for_port(child_process& p, std::chrono::milliseconds timeout) {
  auto line = p.wait_for_line("event=listening", timeout);
  if (!line)
    return std::nullopt;
  auto pos = line->find(" port=");
  if (pos == std::string::npos)
    return std::nullopt;
  return static_cast<std::uint16_t>(std::stoi(line->substr(pos + 6)));
}

} // namespace testing
