// signal-bench's own WebSocket client (tools/bench/wire.hpp, client.cpp)
// against a real signal-node process: each single-node scenario once, small,
// and what it reports checked. The figures themselves are not looked at (no
// timing is asserted); what matters is that the client completes every
// exchange, delivers the flood exactly once and in order, and keeps idle
// connections alive through its own pings.
#include "support/child_process.hpp"

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <string>
#include <vector>

using namespace testing;
using json = nlohmann::json;
using namespace std::chrono_literals;

namespace {

struct node_under_test {
  child_process proc{{SIGNAL_NODE_BIN},
                     {{"WS_PORT", "0"}, {"BIND_ADDRESS", "127.0.0.1"}, {"ENV_FILE", "/nonexistent"},
                      {"LOG_LEVEL", "info"}, {"ADMIN_PORT", "0"}, {"RATE_LIMIT_PER_SEC", "1000000"},
                      {"RATE_LIMIT_BURST", "1000000"}, {"IDLE_TIMEOUT_MS", "2000"}}};
  std::string url;
  node_under_test() {
    auto port = wait_for_port(proc, 20s);
    REQUIRE(port);
    url = "ws://127.0.0.1:" + std::to_string(*port) + "/";
  }
};

json run_bench(std::vector<std::string> args) {
  args.insert(args.begin(), SIGNAL_BENCH_BIN);
  args.push_back("--json");
  child_process bench{args};
  auto status = bench.wait_exit(120s);
  auto out = bench.output();
  INFO("signal-bench printed: ", out);
  REQUIRE(status);
  CHECK(*status == 0);
  // The JSON report is the last line that parses as an object.
  auto end = out.rfind('}');
  REQUIRE(end != std::string::npos);
  for (auto start = out.rfind("\n{", end); ; start = out.rfind("\n{", start - 1)) {
    auto from = start == std::string::npos ? 0 : start + 1;
    auto j = json::parse(out.substr(from, end - from + 1), nullptr, false);
    if (!j.is_discarded())
      return j;
    REQUIRE(start != std::string::npos);
    REQUIRE(start != 0);
  }
}

} // namespace

TEST_CASE("the bench client floods a real node: every frame exactly once and in order") {
  node_under_test node;
  auto r = run_bench({"flood", "--url", node.url, "--rooms", "50", "--messages", "40", "--size", "600",
                      "--senders", "both", "--warmup-rounds", "1", "--server-pid", std::to_string(node.proc.pid())});
  INFO(r.dump());
  CHECK(r["ok"] == true);
  CHECK(r["delivery"]["clean"] == true);
  CHECK(r["delivery"]["received"] == 2 * 50 * 40 * 2); // both senders, measured round and warm-up
  CHECK(r["delivery"]["lost"] == 0);
}

TEST_CASE("the bench client relays paced offers and answers through a real node") {
  node_under_test node;
  auto r = run_bench({"relay", "--url", node.url, "--rooms", "20", "--rate", "2000", "--duration", "2", "--warmup",
                      "1", "--size", "3000", "--server-pid", std::to_string(node.proc.pid())});
  INFO(r.dump());
  CHECK(r["ok"] == true);
  CHECK(r["rtt_us"]["count"].get<std::uint64_t>() > 1000);
  CHECK(r["misrouted"] == 0);
}

TEST_CASE("the bench client's storm pairs every client and its idle connections survive on its pings") {
  node_under_test node;
  auto storm = run_bench({"storm", "--url", node.url, "--clients", "400", "--timeout", "30", "--server-pid",
                          std::to_string(node.proc.pid())});
  INFO(storm.dump());
  CHECK(storm["ok"] == true);
  CHECK(storm["failed_pairs"] == 0);
  CHECK(storm["completed_pairs"] == 200);
  // Held twice the node's idle timeout (2 s, pinging at 1 s) with the
  // client's own pings every second of silence: a client that did not
  // answer the node's pings, or whose pings went unanswered, would drop.
  auto idle = run_bench({"idle", "--url", node.url, "--connections", "200", "--hold", "4", "--keepalive", "1",
                         "--server-pid", std::to_string(node.proc.pid())});
  INFO(idle.dump());
  CHECK(idle["ok"] == true);
  CHECK(idle["dropped_during_hold"] == 0);
  CHECK(idle["pairs_verified"] == 100);
}
