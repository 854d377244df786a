// doctest's main, with the node's logs kept to warnings so test output stays
// readable (LOG_LEVEL=info in the environment shows everything).
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include "common/log.hpp"

#include <cstdio>
#include <cstdlib>
#include <sys/resource.h>

namespace {

// ctest runs one TEST_CASE per test with --test-case=NAME. A name doctest
// cannot match (doctest_discover_tests splits names at ';', for one) would
// otherwise run nothing and pass; this listener lets main fail such a run.
unsigned matched_cases = 0;

struct match_counter : doctest::IReporter {
  explicit match_counter(const doctest::ContextOptions&) {}
  void report_query(const doctest::QueryData&) override {}
  void test_run_start() override {}
  void test_run_end(const doctest::TestRunStats& s) override { matched_cases = s.numTestCasesPassingFilters; }
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

} // namespace

DOCTEST_REGISTER_LISTENER("match_counter", 1, match_counter);

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
  int rc = ctx.run();
  if (rc == 0 && !ctx.shouldExit() && matched_cases == 0) {
    std::fprintf(stderr, "no test case matches the filter\n");
    return 2;
  }
  return rc;
}
