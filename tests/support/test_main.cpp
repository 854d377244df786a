// doctest's main, with the node's logs kept to warnings so test output stays
// readable (LOG_LEVEL=info in the environment shows everything).
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include "telemetry/log.hpp"

#include <atomic>
#include <cstdlib>
#include <cstdio>
#include <cstring>
#include <sys/resource.h>

namespace {

// How many test cases passed the command line's filters. ctest runs each case
// as `--test-case=<name>`; a name that does not match (CMake splits names at
// ';') would otherwise run nothing and pass.
std::atomic<unsigned> selected{0};

struct selection_counter : doctest::IReporter {
  explicit selection_counter(const doctest::ContextOptions&) {}
  void report_query(const doctest::QueryData&) override {}
  void test_run_start() override {}
  void test_run_end(const doctest::TestRunStats& stats) override { selected = stats.numTestCasesPassingFilters; }
  void test_case_start(const doctest::TestCaseData&) override {}
  void test_case_reenter(const doctest::TestCaseData&) override {}
  void test_case_end(const doctest::CurrentTestCaseStats&) override {}
  void test_case_exception(const doctest::TestCaseException&) override {}
  void subcase_start(const doctest::SubcaseSignature&) override {}
  void subcase_end() override {}
  void log_assert(const doctest::AssertData&) override {}
  void log_message(const doctest::MessageData&) override {}
  void test_case_skipped(const doctest::TestCaseData&) override {}
};

REGISTER_LISTENER("selection_counter", 1, selection_counter);

} // namespace

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
  int status = ctx.run();
  bool filtered = false;
  for (int i = 1; i < argc; ++i)
    filtered = filtered || std::strncmp(argv[i], "--test-case=", 12) == 0;
  if (status == 0 && filtered && selected == 0 && !ctx.shouldExit()) {
    std::fprintf(stderr, "no test case matches the filter: a test that runs nothing must not pass\n");
    return 1;
  }
  return status;
}
