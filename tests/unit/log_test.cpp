// Log values (telemetry/log.hpp): whatever a value holds, a log line stays
// one line of `key=value` pairs.
#include "telemetry/log.hpp"

#include <doctest/doctest.h>

using signaling::log::logfmt_value;

TEST_CASE("a plain value is written bare, anything else quoted with quotes, backslashes and controls escaped") {
  CHECK(logfmt_value("node-a") == "node-a");
  CHECK(logfmt_value("") == R"("")");
  CHECK(logfmt_value("connection reset by peer") == R"("connection reset by peer")");
  CHECK(logfmt_value("a=b") == R"("a=b")");
  CHECK(logfmt_value(R"(say "hi" \ bye)") == R"("say \"hi\" \\ bye")");
  CHECK(logfmt_value("line1\nline2\r\t") == R"("line1\nline2\r\t")");
  CHECK(logfmt_value(std::string_view("nul\0bell\x07", 9)) == R"("nul\u0000bell\u0007")");
}

TEST_CASE("q() formats through the same escaping inside a log line") {
  CHECK(fmt::format("event=x error={}", signaling::log::q("bad \"thing\"\nhere")) ==
        R"(event=x error="bad \"thing\"\nhere")");
}
