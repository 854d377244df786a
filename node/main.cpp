// signal-node: the WebRTC signaling server. Configuration: see --help.
#include "telemetry/log.hpp"
#include "node/config.hpp"
#include "node/node.hpp"

#include <cstdio>
#include <iostream>
#include <sys/resource.h>

extern char** environ;

namespace {

// A node holds one descriptor per connection: use all the kernel allows.
void raise_fd_limit() {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
}

} // namespace

int main(int argc, char** argv) {
  using namespace signaling;
  config cfg;
  try {
    auto res = load_config(argc, argv, environ);
    if (res.help) {
      std::cout << usage();
      return 0;
    }
    cfg = std::move(res.cfg);
  } catch (const config_error& e) {
    std::cerr << "signal-node: " << e.what() << "\n";
    return 2;
  }
  log::init(cfg.log_level);
  raise_fd_limit();
  for (const auto& line : describe(cfg))
    log::info("event=config {}", line);
  try {
    node n{cfg};
    n.handle_signals();
    n.start();
    n.wait();
  } catch (const std::exception& e) {
    log::error("event=fatal error={}", log::q(e.what()));
    return 1;
  }
  log::info("event=exit code=0");
  return 0;
}
