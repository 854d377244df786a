// doctest's main, with the node's logs kept to warnings so test output stays
// readable (LOG_LEVEL=info in the environment shows everything).
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include "common/log.hpp"

#include <cstdlib>
#include <sys/resource.h>

int main(int argc, char** argv) {
  const char* level = std::getenv("LOG_LEVEL");
  signaling::log::init(level ? level : "warn");
  // Tests open a thousand sockets and more: use the hard limit.
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  doctest::Context ctx;
  ctx.applyCommandLine(argc, argv);
  return ctx.run();
}
